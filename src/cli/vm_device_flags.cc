// Parsers of the --nic / --volume values: see vm_device_flags.h.
#include "cli/vm_device_flags.h"

#include <cctype>
#include <charconv>
#include <climits>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "devshare/core/ipv4.h"

namespace devshare::cli {
namespace {

using nlohmann::json;

// The items of one flag value, by key; a bare item (no '=') maps to nullopt.
struct Items {
  std::string flag;  // "--nic" / "--volume", for messages
  std::map<std::string, std::optional<std::string>> values;

  bool Has(const std::string& key) const { return values.count(key) > 0; }

  Status Error(const std::string& key, const std::string& problem) const {
    return Status::InvalidArgument(flag + ": key '" + key + "': " + problem);
  }

  // The key's value as an integer >= 0; `def` when absent.
  Result<int64_t> Int(const std::string& key, int64_t def) const {
    auto it = values.find(key);
    if (it == values.end()) return def;
    const std::string& v = it->second.value_or("");
    int64_t n = -1;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n < 0) {
      return Error(key, "expected a non-negative integer, got '" + v + "'");
    }
    return n;
  }

  // The key's value as a non-empty name; `def` when absent.
  Result<std::string> Name(const std::string& key, const std::string& def) const {
    auto it = values.find(key);
    if (it == values.end()) return def;
    const std::string v = it->second.value_or("");
    if (v.empty()) return Error(key, "expected a name, got ''");
    return v;
  }

  Status Require(const std::string& key) const {
    if (!Has(key)) return Status::InvalidArgument(flag + ": key '" + key + "' is required");
    return Status::Ok();
  }
};

std::string KnownList(const std::vector<std::string>& known) {
  std::string s;
  for (size_t i = 0; i < known.size(); ++i) s += (i ? ", " : "") + known[i];
  return s;
}

// Splits "k=v,k2=v2,bare" into Items; `bare_keys` may appear without '='.
Result<Items> Split(const std::string& flag, const std::string& value,
                    const std::vector<std::string>& known, const std::set<std::string>& bare_keys) {
  Items items;
  items.flag = flag;
  if (value.empty()) {
    return Status::InvalidArgument(flag + ": expected key=value items separated by ',', got ''");
  }
  size_t start = 0;
  while (true) {
    const size_t comma = value.find(',', start);
    const std::string item =
        value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) {
      return Status::InvalidArgument(flag + ": empty item in '" + value + "'");
    }
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    bool is_known = false;
    for (const std::string& k : known) is_known = is_known || k == key;
    if (!is_known) {
      return Status::InvalidArgument(flag + ": unknown key '" + key +
                                     "' (known: " + KnownList(known) + ")");
    }
    if (items.Has(key)) return items.Error(key, "given twice");
    if (eq == std::string::npos) {
      if (!bare_keys.count(key)) return items.Error(key, "expected " + key + "=VALUE");
      items.values[key] = std::nullopt;
    } else {
      items.values[key] = item.substr(eq + 1);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

}  // namespace

Result<json> ParseCreateNicFlag(const std::string& value) {
  DS_ASSIGN_OR_RETURN(Items items,
                      Split("--nic", value, {"network", "address", "min", "max", "vf"}, {"vf"}));
  DS_ASSIGN_OR_RETURN(std::string network, items.Name("network", "default"));
  std::string address;
  if (items.Has("address")) {
    // Only the form: whether it is inside the network and free is the server's to say.
    address = items.values.at("address").value_or("");
    if (!ParseIpv4(address).ok()) {
      return items.Error("address",
                         "expected an IPv4 address such as 10.1.0.50, got '" + address + "'");
    }
  }
  DS_ASSIGN_OR_RETURN(int64_t min, items.Int("min", 0));
  DS_ASSIGN_OR_RETURN(int64_t max, items.Int("max", 0));
  bool vf = false;
  if (items.Has("vf")) {
    const std::optional<std::string>& v = items.values.at("vf");
    if (!v.has_value() || *v == "true") {
      vf = true;
    } else if (*v != "false") {
      return items.Error("vf", "expected true or false, got '" + *v + "'");
    }
  }
  json nic = {{"network", network}, {"bandwidth_mbps", {{"min", min}, {"max", max}}}, {"vf", vf}};
  if (!address.empty()) nic["address"] = address;
  return nic;
}

Result<json> ParseCreateVolumeFlag(const std::string& value) {
  DS_ASSIGN_OR_RETURN(Items items, Split("--volume", value,
                                         {"name", "size", "tier", "iops", "weight", "limit"}, {}));
  DS_RETURN_IF_ERROR(items.Require("name"));
  DS_RETURN_IF_ERROR(items.Require("size"));
  DS_ASSIGN_OR_RETURN(std::string name, items.Name("name", ""));
  DS_ASSIGN_OR_RETURN(int64_t size, items.Int("size", 0));
  json volume = {{"name", name}, {"size_gib", size}};
  if (items.Has("tier")) {
    DS_ASSIGN_OR_RETURN(std::string tier, items.Name("tier", ""));
    volume["tier"] = tier;
  }
  if (items.Has("iops") || items.Has("weight") || items.Has("limit")) {
    DS_ASSIGN_OR_RETURN(int64_t reservation, items.Int("iops", 0));
    DS_ASSIGN_OR_RETURN(int64_t weight, items.Int("weight", 1));
    DS_ASSIGN_OR_RETURN(int64_t limit, items.Int("limit", 0));
    volume["iops"] = {{"reservation", reservation}, {"weight", weight}, {"limit", limit}};
  }
  return volume;
}

Result<json> ParseResizeNicFlag(const std::string& value) {
  DS_ASSIGN_OR_RETURN(Items items, Split("--nic", value, {"index", "min", "max"}, {}));
  DS_RETURN_IF_ERROR(items.Require("index"));
  DS_ASSIGN_OR_RETURN(int64_t index, items.Int("index", 0));
  if (!items.Has("min") && !items.Has("max")) {
    return Status::InvalidArgument("--nic: give key 'min' or 'max' (or both)");
  }
  json bandwidth = json::object();
  for (const char* key : {"min", "max"}) {
    if (!items.Has(key)) continue;
    DS_ASSIGN_OR_RETURN(int64_t v, items.Int(key, 0));
    bandwidth[key] = v;
  }
  return json{{"index", index}, {"bandwidth_mbps", bandwidth}};
}

Result<json> ParseResizeVolumeFlag(const std::string& value) {
  DS_ASSIGN_OR_RETURN(Items items,
                      Split("--volume", value, {"name", "size", "iops", "weight", "limit"}, {}));
  DS_RETURN_IF_ERROR(items.Require("name"));
  DS_ASSIGN_OR_RETURN(std::string name, items.Name("name", ""));
  json volume = {{"name", name}};
  if (items.Has("size")) {
    DS_ASSIGN_OR_RETURN(int64_t size, items.Int("size", 0));
    volume["size_gib"] = size;
  }
  json iops = json::object();
  for (const auto& [key, field] : {std::pair{"iops", "reservation"}, std::pair{"weight", "weight"},
                                   std::pair{"limit", "limit"}}) {
    if (!items.Has(key)) continue;
    DS_ASSIGN_OR_RETURN(int64_t v, items.Int(key, 0));
    iops[field] = v;
  }
  if (!items.Has("size") && iops.empty()) {
    return Status::InvalidArgument("--volume: give key 'size', 'iops', 'weight' or 'limit'");
  }
  if (!iops.empty()) volume["iops"] = iops;
  return volume;
}

Result<int64_t> ParseMemoryMib(const std::string& value, const std::string& what) {
  // <N>[M|MiB|G|GiB] (case-insensitive unit); a bare number is MiB.
  size_t digits = 0;
  while (digits < value.size() && value[digits] >= '0' && value[digits] <= '9') ++digits;
  std::string unit = value.substr(digits);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int64_t n = -1;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + digits, n);
  int64_t scale = 0;
  if (unit.empty() || unit == "m" || unit == "mib") scale = 1;
  if (unit == "g" || unit == "gib") scale = 1024;
  if (digits == 0 || ec != std::errc() || end != value.data() + digits || scale == 0 ||
      n > INT64_MAX / 1024) {
    return Status::InvalidArgument(
        what + ": expected a size such as 12G, 12GiB, 512M or 512 (MiB), got '" + value + "'");
  }
  return n * scale;
}

Result<json> ParseCreateGpuFlag(const std::string& value) {
  DS_ASSIGN_OR_RETURN(
      Items items,
      Split("--gpu", value, {"count", "milli", "memory", "profile", "vgpu", "model"}, {}));
  json gpu = json::object();
  for (const char* key : {"count", "milli"}) {
    if (!items.Has(key)) continue;
    DS_ASSIGN_OR_RETURN(int64_t v, items.Int(key, 0));
    gpu[key] = v;
  }
  if (items.Has("memory")) {
    DS_ASSIGN_OR_RETURN(
        int64_t mib, ParseMemoryMib(items.values.at("memory").value_or(""), "--gpu: key 'memory'"));
    gpu["memory_mib"] = mib;
  }
  for (const char* key : {"profile", "vgpu"}) {
    if (!items.Has(key)) continue;
    DS_ASSIGN_OR_RETURN(std::string v, items.Name(key, ""));
    gpu[key] = v;
  }
  if (items.Has("model")) {
    // One or several models, '|'-separated (',' separates the flag's items).
    DS_ASSIGN_OR_RETURN(std::string models, items.Name("model", ""));
    json list = json::array();
    size_t start = 0;
    while (true) {
      const size_t bar = models.find('|', start);
      const std::string m = models.substr(start, bar == std::string::npos ? bar : bar - start);
      if (m.empty()) return items.Error("model", "empty model in '" + models + "'");
      list.push_back(m);
      if (bar == std::string::npos) break;
      start = bar + 1;
    }
    gpu["models"] = list;
  }
  if (gpu.empty()) return Status::InvalidArgument("--gpu: give at least one key");
  return gpu;
}

}  // namespace devshare::cli
