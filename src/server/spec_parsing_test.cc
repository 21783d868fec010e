// Host and VM body parsing: defaults, normalisation, and errors that name the field.
#include <gtest/gtest.h>

#include "server/host_spec.h"
#include "server/json_fields.h"
#include "server/vm_spec.h"

namespace devshare::server {
namespace {

nlohmann::json J(const char* s) { return nlohmann::json::parse(s); }

TEST(HostSpecTest, IssueExampleParsesWithDevicesOfEachKind) {
  Result<HostSpec> h = ParseHostSpec(
      "h1", J(R"({"cpu_milli": 64000, "memory_mib": 262144, "gpus": [{"id": "gpu0", "model":
      "A100", "sharing": "fractional"}, {"id": "gpu1", "model": "A100", "sharing": "exclusive"}],
      "nics": [{"id": "nic0", "vfs": 8}], "disks": [{"id": "nvme0", "tier": "nvme",
      "capacity_gib": 1000}]})"));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->host.devices.size(), 4u);
  EXPECT_EQ(h->host.devices[0].mode, SharingMode::kFractional);
  EXPECT_EQ(h->host.devices[1].mode, SharingMode::kExclusive);
  EXPECT_EQ(h->host.devices[2].kind, DeviceKind::kNic);
  EXPECT_EQ(h->host.devices[2].inventory.total, 8);
  EXPECT_EQ(h->host.devices[3].kind, DeviceKind::kDisk);
  EXPECT_EQ(h->host.devices[3].attributes.at("tier"), "nvme");
  EXPECT_EQ(h->host.cpu_milli.Capacity(), 64000);
  EXPECT_EQ(h->normalized["gpus"][0]["isolation"], "mps");
  // The normalised form parses to the same host (what the ledger stores and reloads).
  Result<HostSpec> again = ParseHostSpec("h1", h->normalized);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->normalized, h->normalized);
}

TEST(HostSpecTest, ErrorsNameTheField) {
  struct Case {
    const char* body;
    const char* expect;
  } cases[] = {
      {R"({"memory_mib": 1})", "field 'cpu_milli' is required"},
      {R"({"cpu_milli": -1, "memory_mib": 1})", "field 'cpu_milli': -1 is outside"},
      {R"({"cpu_milli": "8", "memory_mib": 1})", "field 'cpu_milli': expected an integer"},
      {R"({"cpu_milli": 8, "memory_mib": 1, "color": "red"})", "unknown field 'color'"},
      {R"({"cpu_milli": 8, "memory_mib": 1, "gpus": [{"id": "g", "sharing": "magic"}]})",
       "field 'gpus[0].sharing': unknown sharing 'magic'"},
      {R"({"cpu_milli": 8, "memory_mib": 1, "gpus": [{"id": "g", "bogus": 1}]})",
       "unknown field 'gpus[0].bogus'"},
      {R"({"cpu_milli": 8, "memory_mib": 1, "gpus": [{"id": "g"}, {"id": "g"}]})",
       "device id 'g' is used twice"},
      {R"({"cpu_milli": 8, "memory_mib": 1, "disks": [{"id": "d", "tier": "tape",
          "capacity_gib": 1}]})",
       "field 'disks[0].tier': unknown tier 'tape'"},
      {R"({"cpu_milli": 8, "memory_mib": 1, "cpu_allocation_ratio": 0})",
       "field 'cpu_allocation_ratio'"},
  };
  for (const Case& c : cases) {
    Result<HostSpec> h = ParseHostSpec("h1", J(c.body));
    ASSERT_FALSE(h.ok()) << c.body;
    EXPECT_TRUE(h.status().IsInvalidArgument());
    EXPECT_NE(h.status().message().find(c.expect), std::string::npos)
        << c.body << " -> " << h.status().message();
  }
  EXPECT_FALSE(ParseHostSpec("bad name", J(R"({"cpu_milli": 8, "memory_mib": 1})")).ok());
}

TEST(VmSpecTest, DefaultsAndShapes) {
  Result<VmSpec> v = ParseVmSpec(J(R"({"name": "vm1", "cpu_milli": 4000, "memory_mib": 8192,
      "gpu": {"count": 1, "milli": 500}, "qos": {"cpu_weight": 200}})"));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->request.gpu.IsShare());
  EXPECT_EQ(v->qos["cpu_weight"], 200);
  Result<VmSpec> whole = ParseVmSpec(J(R"({"name": "w", "cpu_milli": 1, "memory_mib": 1,
      "gpu": {"count": 2}})"));
  ASSERT_TRUE(whole.ok());
  EXPECT_TRUE(whole->request.gpu.IsWhole());
  EXPECT_EQ(whole->request.gpu.count, 2);
  Result<VmSpec> part = ParseVmSpec(J(R"({"name": "p", "cpu_milli": 1, "memory_mib": 1,
      "gpu": {"profile": "3g.20gb"}})"));
  ASSERT_TRUE(part.ok());
  EXPECT_TRUE(part->request.gpu.IsPartition());
  Result<VmSpec> cpu_only = ParseVmSpec(J(R"({"name": "c", "cpu_milli": 1, "memory_mib": 1})"));
  ASSERT_TRUE(cpu_only.ok());
  EXPECT_FALSE(cpu_only->request.gpu.Any());
  EXPECT_EQ(cpu_only->qos["cpu_weight"], 100);
  // Stored form round-trips.
  Result<VmSpec> again = VmSpecFromStored(v->normalized.dump());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->normalized, v->normalized);
}

TEST(VmSpecTest, ErrorsNameTheField) {
  struct Case {
    const char* body;
    const char* expect;
  } cases[] = {
      {R"({"cpu_milli": 1, "memory_mib": 1})", "field 'name' is required"},
      {R"({"name": "", "cpu_milli": 1, "memory_mib": 1})", "field 'name'"},
      {R"({"name": "a", "cpu_milli": 0, "memory_mib": 1})", "field 'cpu_milli'"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": -5})", "field 'memory_mib'"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "gpu": {"count": 1, "milli": 0}})",
       "field 'gpu.milli'"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "gpu": {"count": 1, "milli": 1001}})",
       "field 'gpu.milli'"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "gpu": {"count": 2, "milli": 500}})",
       "field 'gpu.milli'"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "gpu": {"bogus": 1}})",
       "unknown field 'gpu.bogus'"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "qos": {"cpu_weight": 0}})",
       "field 'qos.cpu_weight'"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "isolation_floor": "iron"})",
       "field 'isolation_floor'"},
      {R"({"name": "a", "cpu_milli": 1.5, "memory_mib": 1})", "expected an integer"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "volumes": [{"name": "d",
          "size_gib": 5, "tier": "tape"}]})",
       "field 'volumes[0].tier': unknown tier 'tape' (known: nvme, ssd, hdd)"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "volumes": [{"name": "d",
          "size_gib": -5, "tier": "ssd"}]})",
       "field 'volumes[0].size_gib'"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "volumes": [{"name": "d",
          "size_gib": 5, "tier": "ssd"}, {"name": "d", "size_gib": 5, "tier": "ssd"}]})",
       "field 'volumes[1].name': volume 'd' is named twice"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "volumes": [{"name": "d",
          "size_gib": 5, "tier": "ssd", "iops": {"reservation": 900, "limit": 100}}]})",
       "field 'volumes[0].iops.reservation': 900 > limit 100"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "volumes": [{"name": "d",
          "size_gib": 5, "tier": "ssd", "iops": {"burst": 1}}]})",
       "unknown field 'volumes[0].iops.burst'"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "nics": [{"bandwidth_mbps":
          {"min": 6000, "max": 5000}}]})",
       "field 'nics[0].bandwidth_mbps.min': 6000 > max 5000"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "nics": [{"vf": "yes"}]})",
       "field 'nics[0].vf': expected true or false"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "nics": [{"speed": 1}]})",
       "unknown field 'nics[0].speed'"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "nics": {"network": "x"}})",
       "field 'nics'"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "image": "no/slash"})", "field 'image'"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "ssh_key": "rsa AAAA"})",
       "field 'ssh_key': unknown key type 'rsa'"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "ssh_key": "ssh-ed25519 !!"})",
       "field 'ssh_key': the key is not base64"},
      {R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "ssh_key": "ssh-ed25519"})",
       "field 'ssh_key': expected"},
  };
  for (const Case& c : cases) {
    Result<VmSpec> v = ParseVmSpec(J(c.body));
    ASSERT_FALSE(v.ok()) << c.body;
    EXPECT_NE(v.status().message().find(c.expect), std::string::npos)
        << c.body << " -> " << v.status().message();
  }
}

TEST(VmSpecTest, NicsAndVolumesParseWithDefaultsAndRoundTrip) {
  Result<VmSpec> v = ParseVmSpec(J(R"({"name": "a", "cpu_milli": 1000, "memory_mib": 512,
      "nics": [{"network": "default", "bandwidth_mbps": {"min": 1000, "max": 5000}, "vf": true},
               {}],
      "volumes": [{"name": "data", "size_gib": 50, "tier": "nvme",
                   "iops": {"reservation": 500, "weight": 2}}],
      "image": "linux", "ssh_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== me@host"})"));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->image, "linux");
  EXPECT_EQ(v->ssh_key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== me@host");
  const VmRequest& r = v->request;
  ASSERT_EQ(r.nics.size(), 2u);
  EXPECT_TRUE(r.nics[0].vf);
  EXPECT_EQ(r.nics[0].bandwidth_min_mbps, 1000);
  EXPECT_EQ(r.nics[0].bandwidth_max_mbps, 5000);
  EXPECT_FALSE(r.nics[1].vf);
  EXPECT_EQ(r.nics[1].network, "default");
  EXPECT_EQ(r.nics[1].bandwidth_max_mbps, 0);
  ASSERT_EQ(r.volumes.size(), 1u);
  EXPECT_EQ(r.volumes[0].size_gib, 50);
  EXPECT_EQ(r.volumes[0].iops_reservation, 500);
  EXPECT_EQ(r.volumes[0].iops_weight, 2);
  EXPECT_EQ(r.volumes[0].iops_limit, 0);
  Result<VmSpec> again = ParseVmSpec(v->normalized);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->normalized, v->normalized);
}

TEST(VmSpecTest, ResizeTakesVolumesAndNics) {
  Result<ResizeSpec> r = ParseResizeSpec(J(R"({"volumes": [{"name": "data", "size_gib": 80}],
      "nics": [{"index": 0, "bandwidth_mbps": {"min": 2000, "max": 8000}}]})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->volumes.size(), 1u);
  EXPECT_EQ(r->volumes[0].size_gib, 80);
  ASSERT_EQ(r->nics.size(), 1u);
  EXPECT_EQ(r->nics[0].bandwidth_min_mbps, 2000);
  Result<ResizeSpec> bad = ParseResizeSpec(
      J(R"({"nics": [{"index": 0, "bandwidth_mbps": {"min": 9000, "max": 8000}}]})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("field 'nics[0].bandwidth_mbps.min'"), std::string::npos);
}

// The bodies of the volume endpoints: one volume object as in a VM spec (no "volumes[i]."
// prefix in messages), {"tier"} of a migration, and resize's per-volume IOPS terms.
TEST(VmSpecTest, VolumeBodiesNameTheField) {
  Result<VolumeRequest> v = ParseVolumeSpec(J(R"({"name": "logs", "size_gib": 20, "tier": "ssd",
      "iops": {"reservation": 100, "limit": 500}})"));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->iops_weight, 1);
  EXPECT_EQ(VolumeJson(*v), J(R"({"name": "logs", "size_gib": 20, "tier": "ssd",
      "iops": {"reservation": 100, "weight": 1, "limit": 500}})"));
  struct Case {
    const char* body;
    const char* message;
  } cases[] = {
      {R"({"name": "d", "size_gib": 1, "tier": "ssd", "bus": "scsi"})", "unknown field 'bus'"},
      {R"({"name": "d", "size_gib": 0, "tier": "ssd"})", "field 'size_gib'"},
      {R"({"name": "d", "size_gib": 1, "tier": "tape"})",
       "field 'tier': unknown tier 'tape' (known: nvme, ssd, hdd)"},
      {R"({"name": "d", "size_gib": 1, "tier": "ssd", "iops": {"reservation": 9, "limit": 5}})",
       "field 'iops.reservation': 9 > limit 5"},
      {R"({"size_gib": 1, "tier": "ssd"})", "field 'name' is required"},
  };
  for (const Case& c : cases) {
    Result<VolumeRequest> bad = ParseVolumeSpec(J(c.body));
    ASSERT_FALSE(bad.ok()) << c.body;
    EXPECT_TRUE(bad.status().IsInvalidArgument());
    EXPECT_NE(bad.status().message().find(c.message), std::string::npos)
        << c.body << " -> " << bad.status().message();
  }
  EXPECT_EQ(*ParseVolumeMigrateSpec(J(R"({"tier": "hdd"})")), "hdd");
  EXPECT_EQ(ParseVolumeMigrateSpec(J(R"({"tier": "ram"})")).status().message(),
            "field 'tier': unknown tier 'ram' (known: nvme, ssd, hdd)");
  EXPECT_EQ(ParseVolumeMigrateSpec(J(R"({"tier": "ssd", "live": true})")).status().message(),
            "unknown field 'live'");

  Result<ResizeSpec> r =
      ParseResizeSpec(J(R"({"volumes": [{"name": "data", "iops": {"reservation": 300}}]})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->volumes[0].size_gib, -1) << "unchanged";
  EXPECT_EQ(r->volumes[0].iops_reservation, 300);
  EXPECT_EQ(r->volumes[0].iops_weight, -1);
  EXPECT_EQ(r->volumes[0].iops_limit, -1);
  for (const auto& [body, message] : std::vector<std::pair<const char*, const char*>>{
           {R"({"volumes": [{"name": "data"}]})",
            "field 'volumes[0]': give size_gib, iops or both"},
           {R"({"volumes": [{"name": "data", "iops": {}}]})",
            "field 'volumes[0].iops': give reservation, weight, limit or several"},
           {R"({"volumes": [{"name": "data", "iops": {"weight": 0}}]})",
            "field 'volumes[0].iops.weight'"},
           {R"({"volumes": [{"name": "data", "iops": {"burst": 1}}]})",
            "unknown field 'volumes[0].iops.burst'"}}) {
    Result<ResizeSpec> bad = ParseResizeSpec(J(body));
    ASSERT_FALSE(bad.ok()) << body;
    EXPECT_NE(bad.status().message().find(message), std::string::npos)
        << body << " -> " << bad.status().message();
  }
}

TEST(HostSpecTest, NicsAndDisksDeclareRatesAndNetworks) {
  Result<HostSpec> h = ParseHostSpec("h1", J(R"({"cpu_milli": 8000, "memory_mib": 8192,
      "nics": [{"id": "nic0", "vfs": 8, "line_rate_mbps": 25000, "network": "storage"},
               {"id": "nic1", "bandwidth_gbps": 10}],
      "disks": [{"id": "nvme0", "tier": "nvme", "capacity_gib": 1000, "iops": 200000}]})"));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->host.devices[0].rate_capacity, 25000);
  EXPECT_EQ(h->host.devices[0].network, "storage");
  EXPECT_EQ(h->host.devices[1].rate_capacity, 10000);
  EXPECT_EQ(h->host.devices[1].network, "default");
  EXPECT_EQ(h->host.devices[1].inventory.Capacity(), 0) << "no SR-IOV: no VFs";
  EXPECT_EQ(h->host.devices[2].rate_capacity, 200000);
  EXPECT_EQ(h->host.devices[2].tier, "nvme");
  Result<HostSpec> again = ParseHostSpec("h1", h->normalized);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->normalized, h->normalized);
  Result<HostSpec> both = ParseHostSpec("h1", J(R"({"cpu_milli": 8, "memory_mib": 8,
      "nics": [{"id": "n", "line_rate_mbps": 1, "bandwidth_gbps": 1}]})"));
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("field 'nics[0].bandwidth_gbps'"), std::string::npos);
}

TEST(JsonFieldsTest, MalformedBodiesAreInvalidArgument) {
  for (const char* body : {"", "{", "[1,2]", "42", "{\"a\":}", "nul"}) {
    Result<nlohmann::json> j = ParseJsonObject(body);
    ASSERT_FALSE(j.ok()) << body;
    EXPECT_TRUE(j.status().IsInvalidArgument());
  }
  EXPECT_TRUE(ParseJsonObject("{\"a\": 1}").ok());
}

TEST(HostSpecTest, GpuMemoryAndGeometryFollowTheModel) {
  Result<HostSpec> h = ParseHostSpec("h1", J(R"({"cpu_milli": 8000, "memory_mib": 8192, "gpus": [
      {"id": "g0", "model": "T4"}, {"id": "g1", "model": "H100", "sharing": "partitioned"},
      {"id": "g2", "model": "generic"}, {"id": "g3", "model": "A100", "memory_mib": 40536},
      {"id": "g4", "model": "T4", "memory_mib": 0, "sharing": "time_sliced",
       "vgpu_mixed_sizes": true}]})"));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->host.devices[0].memory_mib, 16384);
  EXPECT_EQ(h->host.devices[1].memory_mib, 81920);
  EXPECT_EQ(h->host.devices[1].geometry, PartitionGeometry::H100_80GB());
  EXPECT_EQ(h->normalized["gpus"][1]["geometry"], "H100_80GB");
  EXPECT_EQ(h->host.devices[2].memory_mib, 0);  // unknown: not constrained
  EXPECT_EQ(h->host.devices[3].memory_mib, 40536);
  EXPECT_EQ(h->host.devices[4].memory_mib, 0);  // an explicit 0 stays 0 ...
  EXPECT_TRUE(h->host.devices[4].vgpu_mixed_sizes);
  Result<HostSpec> again = ParseHostSpec("h1", h->normalized);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->normalized, h->normalized);  // ... across a re-read
  EXPECT_EQ(again->host.devices[4].memory_mib, 0);
  Result<HostSpec> bad = ParseHostSpec(
      "h1", J(R"({"cpu_milli": 8, "memory_mib": 8, "gpus": [{"id": "g", "memory_mib": -1}]})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("gpus[0].memory_mib"), std::string::npos)
      << bad.status().message();
  bad = ParseHostSpec("h1", J(R"({"cpu_milli": 8, "memory_mib": 8, "gpus": [{"id": "g",
      "sharing": "partitioned", "geometry": "A30"}]})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("A100_40GB, A100_80GB, H100_80GB"), std::string::npos);
}

TEST(VmSpecTest, GpuMemoryAndVgpuProfiles) {
  Result<VmSpec> v = ParseVmSpec(J(R"({"name": "a", "cpu_milli": 1, "memory_mib": 1,
      "gpu": {"milli": 500, "memory_mib": 8192}})"));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->request.gpu.memory_mib, 8192);
  EXPECT_EQ(v->normalized["gpu"]["memory_mib"], 8192);
  Result<VmSpec> vgpu = ParseVmSpec(J(R"({"name": "a", "cpu_milli": 1, "memory_mib": 1,
      "gpu": {"vgpu": "vgpu-8g"}})"));
  ASSERT_TRUE(vgpu.ok()) << vgpu.status().ToString();
  EXPECT_EQ(vgpu->request.gpu.memory_mib, 8192);
  EXPECT_EQ(vgpu->request.gpu.milli, 0);
  EXPECT_TRUE(vgpu->request.gpu.IsShare());
  Result<VmSpec> again = ParseVmSpec(vgpu->normalized);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->normalized, vgpu->normalized);
  const struct {
    const char* gpu;
    const char* field;
  } bad[] = {
      {R"({"milli": 500, "memory_mib": -1})", "gpu.memory_mib"},
      {R"({"profile": "3g.20gb", "memory_mib": 1024})", "gpu.memory_mib"},
      {R"({"vgpu": "vgpu-8g", "memory_mib": 4096})", "gpu.memory_mib"},
      {R"({"vgpu": "vgpu-8g", "milli": 500})", "gpu.vgpu"},
      {R"({"vgpu": "big"})", "gpu.vgpu"},
      {R"({"count": 0, "memory_mib": 1024})", "gpu.memory_mib"},
  };
  for (const auto& c : bad) {
    std::string body =
        std::string(R"({"name": "a", "cpu_milli": 1, "memory_mib": 1, "gpu": )") + c.gpu + "}";
    Result<VmSpec> got = ParseVmSpec(nlohmann::json::parse(body));
    ASSERT_FALSE(got.ok()) << c.gpu;
    EXPECT_NE(got.status().message().find(c.field), std::string::npos)
        << c.gpu << ": " << got.status().message();
  }
  Result<ResizeSpec> r = ParseResizeSpec(J(R"({"gpu_memory_mib": 12288, "move": true})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->gpu_memory_mib, 12288);
  EXPECT_TRUE(r->move);
  Result<ResizeSpec> lone_move = ParseResizeSpec(J(R"({"cpu_milli": 2, "move": true})"));
  ASSERT_FALSE(lone_move.ok());
  EXPECT_NE(lone_move.status().message().find("move"), std::string::npos);
}

}  // namespace
}  // namespace devshare::server
