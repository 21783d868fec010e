// Tests of the IPv4 helpers: parsing (good and bad texts), formatting, containment, overlap.
#include "devshare/core/ipv4.h"

#include <gtest/gtest.h>

#include <string>

namespace devshare {
namespace {

TEST(Ipv4Test, ParsesAndFormatsAddresses) {
  for (const char* text : {"0.0.0.0", "10.1.0.5", "255.255.255.255", "192.168.100.1"}) {
    Result<uint32_t> a = ParseIpv4(text);
    ASSERT_TRUE(a.ok()) << text << ": " << a.status().ToString();
    EXPECT_EQ(FormatIpv4(*a), text);
  }
  EXPECT_EQ(*ParseIpv4("10.1.2.3"), (10u << 24) | (1u << 16) | (2u << 8) | 3u);
  for (const char* bad : {"", "10.1.2", "10.1.2.3.4", "10.1.2.256", "10.01.2.3", "a.b.c.d",
                          "10.1.2.3 ", "10..2.3", "-1.2.3.4", "1.2.3.4/24"}) {
    Result<uint32_t> a = ParseIpv4(bad);
    EXPECT_FALSE(a.ok()) << "'" << bad << "' parsed as " << (a.ok() ? FormatIpv4(*a) : "");
    if (!a.ok())
      EXPECT_NE(a.status().message().find(std::string("'") + bad + "'"), std::string::npos);
  }
}

TEST(Ipv4Test, ParsesCidrBlocksAndRefusesHostBits) {
  Result<Ipv4Cidr> c = ParseCidr("10.1.0.0/24");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->ToString(), "10.1.0.0/24");
  EXPECT_EQ(c->size(), 256u);
  EXPECT_EQ(FormatIpv4(c->last()), "10.1.0.255");
  EXPECT_TRUE(c->Contains(*ParseIpv4("10.1.0.77")));
  EXPECT_FALSE(c->Contains(*ParseIpv4("10.1.1.0")));

  Result<Ipv4Cidr> host_bits = ParseCidr("10.1.0.5/24");
  ASSERT_FALSE(host_bits.ok());
  EXPECT_NE(host_bits.status().message().find("10.1.0.0/24"), std::string::npos)
      << host_bits.status().message();
  Result<Ipv4Cidr> narrow = ParseCidr("10.1.0.0/31", 8, 30);
  ASSERT_FALSE(narrow.ok());
  EXPECT_NE(narrow.status().message().find("8..30"), std::string::npos);
  for (const char* bad : {"10.1.0.0", "10.1.0.0/", "10.1.0.0/33", "10.1.0.0/024", "x/24"}) {
    EXPECT_FALSE(ParseCidr(bad).ok()) << bad;
  }
  EXPECT_TRUE(ParseCidr("0.0.0.0/0").ok());
  EXPECT_EQ(ParseCidr("0.0.0.0/0")->size(), uint64_t{1} << 32);
}

// Interface addresses (a VM NIC's "10.1.0.5/24"): host bits are the point; same syntax as CIDR.
TEST(Ipv4Test, ParsesInterfaceAddresses) {
  struct Case {
    const char* in;
    bool ok;
    const char* ip;
    int prefix_len;
  } cases[] = {{"10.1.0.5/24", true, "10.1.0.5", 24},
               {"192.168.255.1/32", true, "192.168.255.1", 32},
               {"10.1.0.5", false, "", 0},
               {"10.1.0/24", false, "", 0},
               {"10.1.0.256/24", false, "", 0},
               {"10.1.0.5/0", false, "", 0},
               {"10.1.0.5/33", false, "", 0},
               {"a.b.c.d/8", false, "", 0},
               {"010.1.0.5/24", false, "", 0},
               {"10.1.0.5/24 ", false, "", 0}};
  for (const Case& c : cases) {
    Result<Ipv4Interface> r = ParseIpv4Interface(c.in, 1, 32);
    EXPECT_EQ(r.ok(), c.ok) << c.in;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find(c.in), std::string::npos) << r.status().message();
      continue;
    }
    EXPECT_EQ(FormatIpv4(r->address), c.ip);
    EXPECT_EQ(r->prefix_len, c.prefix_len);
  }
  EXPECT_TRUE(ParseIpv4Interface("10.1.0.5/0").ok()) << "prefix 0 allowed by default";
}

TEST(Ipv4Test, OverlapIsSymmetricAndExact) {
  struct Case {
    const char* a;
    const char* b;
    bool overlap;
  } cases[] = {
      {"10.1.0.0/24", "10.1.0.0/24", true},   {"10.1.0.0/16", "10.1.7.0/24", true},
      {"10.1.0.0/24", "10.1.1.0/24", false},  {"10.1.0.0/25", "10.1.0.128/25", false},
      {"10.1.0.0/23", "10.1.1.128/25", true}, {"0.0.0.0/0", "192.168.0.0/16", true},
  };
  for (const Case& c : cases) {
    const Ipv4Cidr a = *ParseCidr(c.a), b = *ParseCidr(c.b);
    EXPECT_EQ(a.Overlaps(b), c.overlap) << c.a << " vs " << c.b;
    EXPECT_EQ(b.Overlaps(a), c.overlap) << c.b << " vs " << c.a;
  }
}

}  // namespace
}  // namespace devshare
