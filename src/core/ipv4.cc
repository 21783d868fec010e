// IPv4 parsing and formatting; see ipv4.h.
#include "devshare/core/ipv4.h"

#include <charconv>

namespace devshare {
namespace {

Status Bad(std::string_view text, const std::string& why) {
  return Status::InvalidArgument("'" + std::string(text) + "' is not " + why);
}

// A decimal number of 1..3 digits without a leading zero (except "0"), else -1.
int ParsePart(std::string_view part) {
  if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return -1;
  int v = 0;
  auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
  if (ec != std::errc() || end != part.data() + part.size()) return -1;
  return v;
}

}  // namespace

Result<uint32_t> ParseIpv4(std::string_view text) {
  uint32_t address = 0;
  std::string_view rest = text;
  for (int i = 0; i < 4; ++i) {
    const size_t dot = rest.find('.');
    if ((i < 3) == (dot == std::string_view::npos)) {
      return Bad(text, "an IPv4 address (four numbers 0..255 separated by dots)");
    }
    const int v = ParsePart(rest.substr(0, dot));
    if (v < 0 || v > 255) {
      return Bad(text, "an IPv4 address (four numbers 0..255 separated by dots)");
    }
    address = (address << 8) | static_cast<uint32_t>(v);
    rest = i < 3 ? rest.substr(dot + 1) : std::string_view();
  }
  return address;
}

std::string FormatIpv4(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

std::string Ipv4Cidr::ToString() const {
  return FormatIpv4(base) + "/" + std::to_string(prefix_len);
}

namespace {

// "a.b.c.d/n" split and checked; `what` names the kind of text in messages ("a CIDR block").
Result<Ipv4Interface> ParseWithPrefix(std::string_view text, const std::string& what,
                                      int min_prefix_len, int max_prefix_len) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return Bad(text, what + " (a.b.c.d/n)");
  Result<uint32_t> address = ParseIpv4(text.substr(0, slash));
  if (!address.ok()) return Bad(text, what + " (a.b.c.d/n)");
  const int n = ParsePart(text.substr(slash + 1));
  if (n < 0 || n > 32) return Bad(text, what + " (a.b.c.d/n, n 0..32)");
  if (n < min_prefix_len || n > max_prefix_len) {
    return Bad(text, what + " with a prefix length of " + std::to_string(min_prefix_len) + ".." +
                         std::to_string(max_prefix_len));
  }
  return Ipv4Interface{*address, n};
}

}  // namespace

Result<Ipv4Interface> ParseIpv4Interface(std::string_view text, int min_prefix_len,
                                         int max_prefix_len) {
  return ParseWithPrefix(text, "an IPv4 interface address", min_prefix_len, max_prefix_len);
}

Result<Ipv4Cidr> ParseCidr(std::string_view text, int min_prefix_len, int max_prefix_len) {
  DS_ASSIGN_OR_RETURN(const Ipv4Interface parsed,
                      ParseWithPrefix(text, "a CIDR block", min_prefix_len, max_prefix_len));
  const int n = parsed.prefix_len;
  Ipv4Cidr c{parsed.address, n};
  const uint32_t host_mask = n == 32 ? 0 : (uint32_t{0xffffffff} >> n);
  if ((parsed.address & host_mask) != 0) {
    c.base = parsed.address & ~host_mask;
    return Bad(text, "a CIDR block: host bits are set (the block is " + c.ToString() + ")");
  }
  return c;
}

}  // namespace devshare
