// Host links: the --nic flag (good and bad values) and the NICs they add to the inventory.
#include "devshare/host/host_link.h"

#include <gtest/gtest.h>

#include "devshare/host/inventory_json.h"
#include "host/host_test_util.h"

namespace devshare::host {
namespace {

TEST(HostLinkFlagTest, ReadsNameNetworkRateAndNetdev) {
  Result<HostLink> l = ParseHostLinkFlag("uplink0:default:40,netdev=eth0");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->name, "uplink0");
  EXPECT_EQ(l->network, "default");
  EXPECT_EQ(l->line_rate_mbps, 40);
  EXPECT_EQ(l->netdev, "eth0");
  Result<std::vector<HostLink>> two = ParseHostLinkFlags("a:default:1000;b:storage:25000");
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].network, "storage");
  EXPECT_EQ((*two)[1].netdev, "");
}

TEST(HostLinkFlagTest, BadValuesNameWhatIsWrong) {
  struct Case {
    const char* flag;
    const char* says;
  } cases[] = {
      {"uplink0:default", "NAME:NETWORK:MBPS"},
      {"up/0:default:40", "bad NIC name"},
      {"uplink0::40", "bad network name"},
      {"uplink0:default:0", "line rate '0'"},
      {"uplink0:default:4x", "line rate '4x'"},
      {"uplink0:default:40,speed=1", "unknown option 'speed=1'"},
      {"uplink0:default:40,netdev=averyveryverylongname", "is not an interface name"},
      {"a:default:1;;b:default:2", "empty NIC"},
      {"a:default:1;a:default:2", "named twice"},
  };
  for (const Case& c : cases) {
    Result<std::vector<HostLink>> r = ParseHostLinkFlags(c.flag);
    ASSERT_FALSE(r.ok()) << c.flag;
    EXPECT_NE(r.status().message().find(c.says), std::string::npos)
        << c.flag << ": " << r.status().message();
  }
}

TEST(HostLinkInventoryTest, LinksAreNicsOfTheirNetworkWithTheirLineRate) {
  DiscoveredHost d = testutil::DiscoverFixtureOrFail("gpu8");
  InventoryOptions o;
  o.links = {*ParseHostLinkFlag("uplink0:default:40,netdev=eth0")};
  Result<HostInventory> inv = BuildInventory(d, o);
  ASSERT_TRUE(inv.ok()) << inv.status().ToString();
  const nlohmann::json& nics = inv->body["nics"];
  ASSERT_EQ(nics.size(), 2u);  // gpu8's SR-IOV PF, then the link
  EXPECT_EQ(nics[1],
            nlohmann::json({{"id", "uplink0"}, {"network", "default"}, {"line_rate_mbps", 40}}));
  EXPECT_EQ(inv->device_attributes.at("uplink0").at(kAttrNetdev), "eth0");
  o.links = {*ParseHostLinkFlag("nic0:default:40")};
  EXPECT_EQ(BuildInventory(d, o).status().code(), StatusCode::kInvalidArgument)
      << "nic0 is the PF's id";
}

}  // namespace
}  // namespace devshare::host
