#include "devshare/host/vf_settings.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "devshare/host/inventory_json.h"
#include "host/host_test_util.h"

namespace devshare::host {
namespace {

namespace fs = std::filesystem;

DeviceSlice VfSlice(const std::string& device_id, int vf, int64_t min_mbps, int64_t max_mbps,
                    const std::string& network_id = "") {
  DeviceSlice s;
  s.kind = DeviceKind::kNic;
  s.device_id = device_id;
  s.units = 1;
  s.unit_index = vf;
  s.rate = min_mbps;
  s.rate_limit = max_mbps;
  s.network_id = network_id;
  if (!network_id.empty()) {
    s.segment_id = 120;
    s.mac = "52:54:00:0a:00:05";
  }
  return s;
}

// The committed gpu8 tree: nic0 is the ConnectX-6 Dx PF 0000:3b:00.0 (ens1f0np0, 64 VFs; VF k
// at function 2 + k).
TEST(PlanVfSettingsTest, Gpu8FixtureCommands) {
  Result<Host> host = testutil::RegisteredFixtureHost("gpu8");
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  const std::string sys = testutil::kSysfsFixtures + "/gpu8/sys";
  DeviceSlice virtio = VfSlice("nic0", -1, 100, 0);
  virtio.units = 0;
  const std::vector<DeviceSlice> nics = {VfSlice("nic0", 3, 1000, 5000, "net-0a1b"), virtio,
                                         VfSlice("nic0", 63, 0, 0)};
  Result<std::vector<VfPfSettings>> plan = PlanVfSettings(nics, *host, sys);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->size(), 2u);  // the virtio share is no VF

  struct Want {
    int vf;
    std::string vf_address;
    std::vector<Argv> commands;
    Argv reset;
  } want[] = {
      {3,
       "0000:3b:00.5",
       {{"ip", "link", "set", "ens1f0np0", "vf", "3", "max_tx_rate", "5000", "min_tx_rate", "1000"},
        {"ip", "link", "set", "ens1f0np0", "vf", "3", "spoofchk", "on"}},
       {"ip", "link", "set", "ens1f0np0", "vf", "3", "max_tx_rate", "0", "min_tx_rate", "0"}},
      // No network (legacy slice): rates only; max 0 = no cap, written so a reused VF loses
      // the previous VM's.
      {63,
       "0000:3b:08.1",
       {{"ip", "link", "set", "ens1f0np0", "vf", "63", "max_tx_rate", "0", "min_tx_rate", "0"}},
       {"ip", "link", "set", "ens1f0np0", "vf", "63", "max_tx_rate", "0", "min_tx_rate", "0"}},
  };
  for (size_t i = 0; i < plan->size(); ++i) {
    const VfPfSettings& s = (*plan)[i];
    EXPECT_EQ(s.device_id, "nic0");
    EXPECT_EQ(s.pf_address, "0000:3b:00.0");
    EXPECT_EQ(s.pf_netdev, "ens1f0np0");
    EXPECT_EQ(s.vf_index, want[i].vf);
    EXPECT_EQ(s.vf_address, want[i].vf_address) << s.vf_index;
    EXPECT_EQ(s.commands, want[i].commands) << s.vf_index;
    EXPECT_EQ(VfResetCommands(s), std::vector<Argv>{want[i].reset}) << s.vf_index;
  }
}

// A one-PF sysfs tree in a temporary folder, spoiled per case.
class PlanVfSettingsErrorTest : public ::testing::Test {
 public:  // the cases' lambdas spoil the tree through these
  static constexpr const char* kPf = "0000:5e:00.0";

  void SetUp() override {
    root_ = fs::temp_directory_path() / ("devshare-vf-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    const fs::path pf = root_ / "devices/pci0000:5e" / kPf;
    fs::create_directories(pf / "net/enp94s0f0");
    fs::create_directories(root_ / "bus/pci/devices");
    fs::create_symlink(fs::path("../../../devices/pci0000:5e") / kPf,
                       root_ / "bus/pci/devices" / kPf);
    std::ofstream(pf / "sriov_totalvfs") << "8\n";
    std::ofstream(pf / "sriov_numvfs") << "4\n";
    for (int k = 0; k < 4; ++k) {
      const std::string vf = "0000:5e:00." + std::to_string(k + 2);
      fs::create_directories(root_ / "devices/pci0000:5e" / vf);
      fs::create_symlink(fs::path("..") / vf, pf / ("virtfn" + std::to_string(k)));
    }
    host_.id = "h1";
    Device nic = Device::Nic("nic0", "default", 4, 25000);
    nic.attributes[kAttrPciAddress] = kPf;
    nic.attributes[kAttrNetdev] = "enp94s0f0";
    nic.attributes[kAttrVfAddresses] = "0000:5e:00.2,0000:5e:00.3,0000:5e:00.4,0000:5e:00.5";
    host_.devices.push_back(nic);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  fs::path PfDir() const { return root_ / "devices/pci0000:5e" / kPf; }

  fs::path root_;
  Host host_;
};

TEST_F(PlanVfSettingsErrorTest, EachCheckNamesThePf) {
  struct Case {
    std::string name;
    std::function<void(PlanVfSettingsErrorTest&, Host&)> spoil;
    DeviceSlice slice;
    StatusCode code;
    std::string message;  // a part of the message
  };
  const Case cases[] = {
      {"sane tree", [](auto&, Host&) {}, VfSlice("nic0", 1, 100, 200), StatusCode::kOk, ""},
      {"PF sysfs entry missing",
       [](auto& t, Host&) { fs::remove(t.root_ / "bus/pci/devices" / kPf); },
       VfSlice("nic0", 1, 0, 0), StatusCode::kFailedPrecondition,
       "nic0 (PF 0000:5e:00.0, netdev enp94s0f0) VF 1: "},
      {"PF without netdev", [](auto& t, Host&) { fs::remove_all(t.PfDir() / "net"); },
       VfSlice("nic0", 1, 0, 0), StatusCode::kFailedPrecondition, "the PF has no netdev"},
      {"VF index beyond sriov_numvfs", [](auto&, Host&) {}, VfSlice("nic0", 4, 0, 0),
       StatusCode::kFailedPrecondition, "sriov_numvfs is 4, so VF 4 does not exist"},
      {"sriov_numvfs lowered since discovery",
       [](auto& t, Host&) { std::ofstream(t.PfDir() / "sriov_numvfs") << "0\n"; },
       VfSlice("nic0", 0, 0, 0), StatusCode::kFailedPrecondition, "sriov_numvfs is 0"},
      {"sriov_numvfs missing", [](auto& t, Host&) { fs::remove(t.PfDir() / "sriov_numvfs"); },
       VfSlice("nic0", 0, 0, 0), StatusCode::kFailedPrecondition, "sriov_numvfs is missing"},
      {"virtfn link missing", [](auto& t, Host&) { fs::remove(t.PfDir() / "virtfn2"); },
       VfSlice("nic0", 2, 0, 0), StatusCode::kFailedPrecondition, "virtfn2 is missing"},
      {"virtfn link moved",
       [](auto& t, Host&) {
         fs::remove(t.PfDir() / "virtfn2");
         fs::create_symlink("../0000:5e:01.0", t.PfDir() / "virtfn2");
       },
       VfSlice("nic0", 2, 0, 0), StatusCode::kFailedPrecondition,
       "virtfn2 is 0000:5e:01.0 but the inventory (and the domain) have 0000:5e:00.4"},
      {"unknown device", [](auto&, Host&) {}, VfSlice("nic9", 0, 0, 0), StatusCode::kNotFound,
       "nic9"},
      {"floor above cap", [](auto&, Host&) {}, VfSlice("nic0", 0, 300, 200),
       StatusCode::kInvalidArgument, "rate min 300 Mbps, max 200 Mbps"},
      {"negative rate", [](auto&, Host&) {}, VfSlice("nic0", 0, -1, 0),
       StatusCode::kInvalidArgument, "rate min -1"},
      {"test host: no PCI address, nothing to set",
       [](auto&, Host& h) { h.devices[0].attributes.clear(); }, VfSlice("nic0", 1, 0, 0),
       StatusCode::kOk, ""},
  };
  for (const Case& c : cases) {
    TearDown();
    SetUp();
    Host h = host_;
    c.spoil(*this, h);
    Result<std::vector<VfPfSettings>> plan = PlanVfSettings({c.slice}, h, root_.string());
    EXPECT_EQ(plan.status().code(), c.code) << c.name << ": " << plan.status().ToString();
    if (!plan.ok()) {
      EXPECT_NE(plan.status().message().find(c.message), std::string::npos)
          << c.name << ": " << plan.status().message();
      if (c.code == StatusCode::kFailedPrecondition) {
        EXPECT_NE(plan.status().message().find("PF 0000:5e:00.0"), std::string::npos) << c.name;
      }
    }
  }
}

}  // namespace
}  // namespace devshare::host
