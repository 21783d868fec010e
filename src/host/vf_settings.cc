// PlanVfSettings: the PF's sysfs state checked, then `ip link set <pf> vf N ...` argv lists.
// File access uses the error_code overloads of std::filesystem (nothing throws).
#include "devshare/host/vf_settings.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "devshare/host/inventory_json.h"

namespace devshare::host {
namespace {

namespace fs = std::filesystem;

std::string Attr(const Device& d, const char* key) {
  auto it = d.attributes.find(key);
  return it == d.attributes.end() ? "" : it->second;
}

// The k-th item of a comma list; "" when there are fewer.
std::string CommaItem(const std::string& list, int k) {
  std::istringstream in(list);
  std::string item;
  for (int i = 0; std::getline(in, item, ','); ++i) {
    if (i == k) return item;
  }
  return "";
}

// A decimal integer file (trailing newline allowed); nullopt when missing or not a number.
std::optional<int64_t> ReadInt(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  std::string s;
  in >> s;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// The first entry (by name) of the PF's net/ directory; "" when there is none.
std::string FirstNetdev(const fs::path& pf_dir) {
  std::error_code ec;
  std::vector<std::string> names;
  for (fs::directory_iterator it(pf_dir / "net", ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names.empty() ? "" : names.front();
}

std::string RateArg(int64_t mbps) { return std::to_string(mbps); }

}  // namespace

Result<std::vector<VfPfSettings>> PlanVfSettings(const std::vector<DeviceSlice>& nics,
                                                 const Host& host, const std::string& sysfs_root) {
  std::vector<VfPfSettings> out;
  for (const DeviceSlice& slice : nics) {
    if (slice.unit_index < 0) continue;  // a virtio share: not a VF
    const Device* pf = nullptr;
    for (const Device& d : host.devices) {
      if (d.id == slice.device_id) pf = &d;
    }
    if (pf == nullptr) {
      return Status::NotFound("VF " + std::to_string(slice.unit_index) + " of NIC '" +
                              slice.device_id + "': no such device on host " + host.id);
    }
    VfPfSettings v;
    v.device_id = pf->id;
    v.pf_address = Attr(*pf, kAttrPciAddress);
    v.vf_index = slice.unit_index;
    v.min_mbps = slice.rate;
    v.max_mbps = slice.rate_limit;
    if (v.pf_address.empty()) continue;  // a test host: the VM got no hostdev for this VF
    const std::string vf = "VF " + std::to_string(v.vf_index);
    if (v.min_mbps < 0 || v.max_mbps < 0 || (v.max_mbps > 0 && v.min_mbps > v.max_mbps)) {
      return Status::InvalidArgument(
          pf->id + " " + vf + ": rate min " + std::to_string(v.min_mbps) + " Mbps, max " +
          std::to_string(v.max_mbps) + " Mbps (want 0 <= min <= max, or max 0 = line rate)");
    }

    const fs::path dir = fs::path(sysfs_root) / "bus/pci/devices" / v.pf_address;
    const std::string known_netdev = Attr(*pf, kAttrNetdev);
    auto fail = [&](const std::string& netdev, const std::string& why) {
      return Status::FailedPrecondition(pf->id + " (PF " + v.pf_address + ", netdev " +
                                        (netdev.empty() ? "none" : netdev) + ") " + vf + ": " +
                                        why);
    };
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
      return fail(known_netdev, dir.string() + " is missing (the PF is gone or renumbered)");
    }
    v.pf_netdev = FirstNetdev(dir);
    if (v.pf_netdev.empty()) {
      return fail(known_netdev, "the PF has no netdev (" + (dir / "net").string() +
                                    " is empty or missing): its VFs' rates cannot be set");
    }
    const std::optional<int64_t> numvfs = ReadInt(dir / "sriov_numvfs");
    if (!numvfs) {
      return fail(v.pf_netdev, (dir / "sriov_numvfs").string() + " is missing or not a number");
    }
    if (*numvfs <= v.vf_index) {
      return fail(v.pf_netdev, "sriov_numvfs is " + std::to_string(*numvfs) + ", so VF " +
                                   std::to_string(v.vf_index) + " does not exist");
    }
    const fs::path link = dir / ("virtfn" + std::to_string(v.vf_index));
    if (!fs::is_symlink(fs::symlink_status(link, ec))) {
      return fail(v.pf_netdev, link.string() + " is missing");
    }
    v.vf_address = fs::read_symlink(link, ec).filename().string();
    const std::string inventory_vf = CommaItem(Attr(*pf, kAttrVfAddresses), v.vf_index);
    if (!inventory_vf.empty() && inventory_vf != v.vf_address) {
      return fail(v.pf_netdev, "virtfn" + std::to_string(v.vf_index) + " is " + v.vf_address +
                                   " but the inventory (and the domain) have " + inventory_vf +
                                   ": the VFs were re-created since discovery");
    }

    const Argv vf_set = {"ip", "link", "set", v.pf_netdev, "vf", std::to_string(v.vf_index)};
    Argv rates = vf_set;
    rates.insert(rates.end(),
                 {"max_tx_rate", RateArg(v.max_mbps), "min_tx_rate", RateArg(v.min_mbps)});
    v.commands.push_back(std::move(rates));
    if (!slice.network_id.empty()) {
      Argv spoof = vf_set;
      spoof.insert(spoof.end(), {"spoofchk", "on"});
      v.commands.push_back(std::move(spoof));
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<Argv> VfResetCommands(const VfPfSettings& s) {
  return {{"ip", "link", "set", s.pf_netdev, "vf", std::to_string(s.vf_index), "max_tx_rate", "0",
           "min_tx_rate", "0"}};
}

}  // namespace devshare::host
