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
  };
  for (const Case& c : cases) {
    Result<VmSpec> v = ParseVmSpec(J(c.body));
    ASSERT_FALSE(v.ok()) << c.body;
    EXPECT_NE(v.status().message().find(c.expect), std::string::npos)
        << c.body << " -> " << v.status().message();
  }
}

TEST(JsonFieldsTest, MalformedBodiesAreInvalidArgument) {
  for (const char* body : {"", "{", "[1,2]", "42", "{\"a\":}", "nul"}) {
    Result<nlohmann::json> j = ParseJsonObject(body);
    ASSERT_FALSE(j.ok()) << body;
    EXPECT_TRUE(j.status().IsInvalidArgument());
  }
  EXPECT_TRUE(ParseJsonObject("{\"a\": 1}").ok());
}

}  // namespace
}  // namespace devshare::server
