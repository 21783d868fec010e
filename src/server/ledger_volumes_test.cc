// The volume operations of the ledger on a placed VM, table-driven: hot-plug on the VM's host
// (no room, wrong tier, name taken, IOPS reservation above the disk's free), unplug (unknown
// name, capacity freed for the next attach), tier migration (same tier, no pool, moved with the
// old disk freed) and IOPS changes through Resize; spec and allocation stay in one order.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "devshare/placement/registry.h"
#include "server/host_spec.h"
#include "server/json_fields.h"
#include "server/ledger.h"

namespace devshare::server {
namespace {

// node1: 100 GiB NVMe (1000 IOPS) and 500 GiB SSD (5000 IOPS), no HDD.
constexpr const char* kHost = R"({"cpu_milli": 64000, "memory_mib": 262144, "disks": [
    {"id": "nvme0", "tier": "nvme", "capacity_gib": 100, "iops": 1000},
    {"id": "ssd0", "tier": "ssd", "capacity_gib": 500, "iops": 5000}]})";

// vm-a holds "data": 50 GiB of NVMe with 400 IOPS reserved, limit 800.
constexpr const char* kVm = R"({"name": "a", "cpu_milli": 1000, "memory_mib": 1024,
    "volumes": [{"name": "data", "size_gib": 50, "tier": "nvme",
                 "iops": {"reservation": 400, "weight": 2, "limit": 800}}]})";

VolumeRequest Volume(const std::string& name, int64_t gib, const std::string& tier,
                     int64_t reservation = 0) {
  VolumeRequest v;
  v.name = name;
  v.size_gib = gib;
  v.tier = tier;
  v.iops_reservation = reservation;
  return v;
}

ResizeSpec Iops(const std::string& name, int64_t reservation, int64_t limit = -1) {
  ResizeSpec r;
  ResizeSpec::Volume v;
  v.name = name;
  v.iops_reservation = reservation;
  v.iops_limit = limit;
  r.volumes.push_back(v);
  return r;
}

class LedgerVolumesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    placement::RegisterBuiltinPlacementPlugins(registry_);
    ledger_ = std::make_unique<Ledger>(&registry_, "first_fit");
    const nlohmann::json inv = nlohmann::json::parse(kHost);
    Result<HostSpec> host = ParseHostSpec("node1", inv);
    ASSERT_TRUE(host.ok()) << host.status().ToString();
    store::HostRecord rec;
    rec.name = "node1";
    rec.inventory_json = JsonText(host->normalized);
    ASSERT_TRUE(ledger_->PutHost(rec, host->host, host->normalized).ok());
    Result<VmSpec> spec = ParseVmSpec(nlohmann::json::parse(kVm));
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    Result<placement::PlacementOutcome> placed = ledger_->Place("vm-a", "t1", *spec);
    ASSERT_TRUE(placed.ok() && placed->placed());
    VmEntry vm{store::VmRecord{}, *spec, placed->allocation};
    vm.record.id = "vm-a";
    vm.record.tenant_id = "t1";
    vm.record.host = "node1";
    ledger_->AddVm(vm);
  }

  const VmEntry& Vm() const { return *ledger_->FindVm("vm-a"); }
  int Disk(const std::string& id) const {
    const Host& h = ledger_->cluster().hosts[0];
    for (size_t i = 0; i < h.devices.size(); ++i) {
      if (h.devices[i].id == id) return static_cast<int>(i);
    }
    return -1;
  }
  int64_t FreeGib(const std::string& disk) const {
    return ledger_->host_state(0).device_free_units(Disk(disk));
  }
  int64_t FreeIops(const std::string& disk) const {
    return ledger_->host_state(0).device_free_rate(Disk(disk));
  }

  placement::PluginRegistry registry_;
  std::unique_ptr<Ledger> ledger_;
};

using Op = std::function<Status(Ledger&)>;

Op Attach(VolumeRequest v) {
  return [v](Ledger& l) { return l.AttachVolume("vm-a", v).status(); };
}
Op Detach(std::string name, std::string vm = "vm-a") {
  return [name, vm](Ledger& l) { return l.DetachVolume(vm, name).status(); };
}
Op Migrate(std::string name, std::string tier) {
  return [name, tier](Ledger& l) { return l.MigrateVolume("vm-a", name, tier).status(); };
}
Op Resize(ResizeSpec r) {
  return [r](Ledger& l) { return l.Resize("vm-a", r).status(); };
}

struct Case {
  const char* name;
  std::vector<Op> before;  // each must succeed
  Op op;
  StatusCode want;
  std::string message;  // the whole message when not empty
  std::string reason;   // Status reason
  // When set: details.reasons[0] must hold these fields.
  nlohmann::json detail = nullptr;
};

TEST_F(LedgerVolumesTest, RefusalsNameTheCauseWithNumbers) {
  const StatusCode ok = StatusCode::kOk, refused = StatusCode::kFailedPrecondition;
  const Case cases[] = {
      {"attach fits", {}, Attach(Volume("logs", 20, "ssd")), ok, "", ""},
      {"no room: GiB",
       {},
       Attach(Volume("big", 60, "nvme")),
       refused,
       "volume 'big' does not fit on host node1: tier nvme requested 60 GiB, free 50 GiB",
       "unschedulable",
       {{"resource", "disk_gib"},
        {"requested", 60},
        {"free", 50},
        {"capacity", 100},
        {"device", "nvme0"}}},
      {"wrong tier",
       {},
       Attach(Volume("cold", 10, "hdd")),
       refused,
       "volume 'cold': host node1 has no hdd pool",
       "unschedulable",
       {{"resource", "disk_tier"}, {"requested", 10}, {"free", 0}, {"capacity", 0}}},
      {"reservation above free",
       {},
       Attach(Volume("fast", 10, "nvme", 700)),
       refused,
       "volume 'fast' does not fit on host node1: tier nvme requested 700 IOPS reserved, free "
       "600 of 1000 on nvme0",
       "unschedulable",
       {{"resource", "disk_iops"}, {"requested", 700}, {"free", 600}, {"capacity", 1000}}},
      {"name taken",
       {},
       Attach(Volume("data", 1, "ssd")),
       StatusCode::kAlreadyExists,
       "vm vm-a already has a volume 'data'",
       ""},
      {"detach unknown name",
       {},
       Detach("nope"),
       StatusCode::kNotFound,
       "vm vm-a has no volume 'nope'",
       ""},
      {"detach unknown vm",
       {},
       Detach("data", "vm-x"),
       StatusCode::kNotFound,
       "vm vm-x not found",
       ""},
      {"migrate same tier", {}, Migrate("data", "nvme"), refused, "already on tier nvme", ""},
      {"migrate to no pool",
       {},
       Migrate("data", "hdd"),
       refused,
       "volume 'data': host node1 has no hdd pool",
       "unschedulable"},
      {"migrate unknown name",
       {},
       Migrate("nope", "ssd"),
       StatusCode::kNotFound,
       "vm vm-a has no volume 'nope'",
       ""},
      {"migrate without room",
       {Attach(Volume("bulk", 490, "ssd"))},
       Migrate("data", "ssd"),
       refused,
       "volume 'data' does not fit on host node1: tier ssd requested 50 GiB, free 10 GiB",
       "unschedulable",
       {{"resource", "disk_gib"}, {"requested", 50}, {"free", 10}, {"capacity", 500}}},
      {"detach frees capacity for the next attach",
       {Detach("data")},
       Attach(Volume("big", 60, "nvme", 1000)),
       ok,
       "",
       ""},
      {"resize reservation above free",
       {Attach(Volume("other", 10, "nvme", 500))},
       Resize(Iops("data", 600, 0)),
       refused,
       "host node1 has no room on disk nvme0: requested 1100 IOPS reserved, free 1000 of 1000",
       "no_room",
       {{"resource", "disk_iops"},
        {"device", "nvme0"},
        {"requested", 1100},
        {"free", 1000},
        {"capacity", 1000}}},
      {"resize reservation above limit",
       {},
       Resize(Iops("data", 900)),
       StatusCode::kInvalidArgument,
       "field 'volumes[0].iops.reservation': 900 > limit 800 (limit 0 = none)",
       ""},
      {"resize reservation within free", {}, Resize(Iops("data", 1000, 0)), ok, "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SetUp();
    for (const Op& op : c.before) ASSERT_TRUE(op(*ledger_).ok()) << op(*ledger_).ToString();
    const std::string vm_before = JsonText(AllocationToJson(Vm().allocation));
    const Status s = c.op(*ledger_);
    EXPECT_EQ(s.code(), c.want) << s.ToString();
    if (!c.message.empty()) EXPECT_EQ(s.message(), c.message);
    EXPECT_EQ(s.reason(), c.reason);
    if (!c.detail.is_null()) {
      const nlohmann::json d = nlohmann::json::parse(std::string(s.details_json()));
      ASSERT_TRUE(d.contains("reasons")) << d.dump();
      for (const auto& [k, v] : c.detail.items()) EXPECT_EQ(d["reasons"][0][k], v) << k;
    }
    if (!s.ok()) {
      EXPECT_EQ(JsonText(AllocationToJson(Vm().allocation)), vm_before) << "refused: unchanged";
    }
    // Spec and allocation stay in step whatever happened.
    const VmEntry& vm = Vm();
    ASSERT_EQ(vm.spec.request.volumes.size(), vm.allocation.volumes.size());
    const nlohmann::json normalized = vm.spec.normalized.value("volumes", nlohmann::json::array());
    ASSERT_EQ(normalized.size(), vm.allocation.volumes.size());
    for (size_t i = 0; i < vm.allocation.volumes.size(); ++i) {
      EXPECT_EQ(vm.spec.request.volumes[i].name, vm.allocation.volumes[i].name);
      EXPECT_EQ(normalized[i]["name"], vm.allocation.volumes[i].name);
      EXPECT_EQ(normalized[i]["size_gib"], vm.allocation.volumes[i].units);
      EXPECT_EQ(normalized[i]["iops"]["reservation"], vm.allocation.volumes[i].rate);
    }
  }
}

TEST_F(LedgerVolumesTest, AttachDetachMigrateMoveCapacity) {
  EXPECT_EQ(FreeGib("nvme0"), 50);
  EXPECT_EQ(FreeIops("nvme0"), 600);
  Result<VmEntry> attached = ledger_->AttachVolume("vm-a", Volume("logs", 20, "ssd", 300));
  ASSERT_TRUE(attached.ok()) << attached.status().ToString();
  EXPECT_EQ(attached->allocation.volumes.size(), 1u) << "the previous entry, for undo";
  ASSERT_EQ(Vm().allocation.volumes.size(), 2u);
  EXPECT_EQ(Vm().allocation.volumes[1].device_id, "ssd0");
  EXPECT_EQ(Vm().spec.normalized["volumes"][1]["tier"], "ssd");
  EXPECT_EQ(FreeGib("ssd0"), 480);
  EXPECT_EQ(FreeIops("ssd0"), 4700);

  // data moves nvme -> ssd with its size and IOPS terms; the NVMe disk is free again.
  ASSERT_TRUE(ledger_->MigrateVolume("vm-a", "data", "ssd").ok());
  const DeviceSlice& data = Vm().allocation.volumes[0];
  EXPECT_EQ(data.name, "data");
  EXPECT_EQ(data.device_id, "ssd0");
  EXPECT_EQ(data.units, 50);
  EXPECT_EQ(data.rate, 400);
  EXPECT_EQ(data.weight, 2);
  EXPECT_EQ(data.rate_limit, 800);
  EXPECT_EQ(Vm().spec.request.volumes[0].tier, "ssd");
  EXPECT_EQ(Vm().spec.normalized["volumes"][0]["tier"], "ssd");
  EXPECT_EQ(FreeGib("nvme0"), 100);
  EXPECT_EQ(FreeIops("nvme0"), 1000);
  EXPECT_EQ(FreeGib("ssd0"), 430);
  EXPECT_EQ(FreeIops("ssd0"), 4300);

  // The spec as stored parses back to the same volumes (a restart rebuilds from it).
  Result<VmSpec> stored = VmSpecFromStored(JsonText(Vm().spec.normalized));
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->normalized["volumes"], Vm().spec.normalized["volumes"]);

  ASSERT_TRUE(ledger_->DetachVolume("vm-a", "data").ok());
  ASSERT_TRUE(ledger_->DetachVolume("vm-a", "logs").ok());
  EXPECT_TRUE(Vm().allocation.volumes.empty());
  EXPECT_FALSE(Vm().spec.normalized.contains("volumes")) << "as a VM created without volumes";
  EXPECT_EQ(FreeGib("ssd0"), 500);
  EXPECT_EQ(FreeIops("ssd0"), 5000);

  // Undo (ReplaceVm with the previous entry) puts the capacity back.
  Result<VmEntry> again = ledger_->AttachVolume("vm-a", Volume("x", 100, "nvme", 1000));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(FreeGib("nvme0"), 0);
  ASSERT_TRUE(ledger_->ReplaceVm(*again).ok());
  EXPECT_EQ(FreeGib("nvme0"), 100);
  EXPECT_TRUE(Vm().allocation.volumes.empty());
}

}  // namespace
}  // namespace devshare::server
