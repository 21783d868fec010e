// The volume lifecycle of a VM through a real server on loopback (issue 15): list, hot-plug
// (attach), unplug (detach), tier migration and IOPS changes through resize, each endpoint with
// its 2xx and its 400 / 404 / 409 answers and their exact reasons; another tenant sees 404;
// every change and refusal is audited; a restart keeps the attached and migrated volumes, and
// the host's desired state shows the new disks. The CLI's `volume` verbs drive the same server.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/server/server_process.h"
#include "tests/integration/server/test_util.h"

namespace devshare::it {
namespace {

// node1: 100 GiB NVMe (1000 IOPS) and 500 GiB SSD (5000 IOPS); no HDD.
nlohmann::json Node1() {
  return {{"cpu_milli", 64000},
          {"memory_mib", 262144},
          {"disks",
           {{{"id", "nvme0"}, {"tier", "nvme"}, {"capacity_gib", 100}, {"iops", 1000}},
            {{"id", "ssd0"}, {"tier", "ssd"}, {"capacity_gib", 500}, {"iops", 5000}}}}};
}

// The volume named `name` in a {"volumes": [...]} answer (null when absent).
nlohmann::json Find(const nlohmann::json& answer, const std::string& name) {
  for (const auto& v : answer.value("volumes", nlohmann::json::array())) {
    if (v.value("name", std::string()) == name) return v;
  }
  return nullptr;
}

class ServerVolumes : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = std::make_unique<TempFolder>("volumes");
    server_ = std::make_unique<ServerProcess>(tmp_->path());
    ASSERT_TRUE(server_->Start());
    Api admin(server_->url(), server_->AdminToken());
    ASSERT_EQ(PutHost(admin, "node1", Node1()), 201);
    const std::string acme = CreateTenant(admin, "acme");
    member_ = CreateToken(admin, acme, "member");
    reader_ = CreateToken(admin, acme, "reader");
    other_ = CreateToken(admin, CreateTenant(admin, "other"), "member");
    ASSERT_FALSE(member_.empty() || reader_.empty() || other_.empty());
    Api api(server_->url(), member_);
    Reply vm = api.Post("/v1/vms", R"({"name": "db", "cpu_milli": 1000, "memory_mib": 1024,
        "volumes": [{"name": "data", "size_gib": 50, "tier": "nvme",
                     "iops": {"reservation": 400, "weight": 2, "limit": 800}}]})");
    ASSERT_EQ(vm.status, 201) << vm.Describe();
    id_ = vm.body["id"];
    path_ = "/v1/vms/" + id_ + "/volumes";
  }

  // Expects `r` to be an error answer with `status`, `code` and exactly `message`.
  static void ExpectError(const Reply& r, int status, const std::string& code,
                          const std::string& message) {
    EXPECT_EQ(r.status, status) << r.Describe();
    EXPECT_EQ(r.body.value("code", std::string()), code) << r.Describe();
    if (!message.empty()) {
      EXPECT_EQ(r.body.value("message", std::string()), message) << r.Describe();
    }
  }

  std::unique_ptr<TempFolder> tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::string member_, reader_, other_;
  std::string id_, path_;
};

TEST_F(ServerVolumes, AttachDetachMigrateResizeWithTheirAnswers) {
  ServerProcess& server = *server_;
  Api api(server.url(), member_);
  Api admin(server.url(), server.AdminToken());
  const int64_t audit_before = AuditHeadSeq(admin);

  // GET: the VM's volumes with their disks and IOPS terms.
  Reply list = api.Get(path_);
  ASSERT_EQ(list.status, 200) << list.Describe();
  EXPECT_EQ(list.body, nlohmann::json::parse(R"({"volumes": [{"name": "data", "tier": "nvme",
      "size_gib": 50, "device": "nvme0",
      "iops": {"reservation": 400, "weight": 2, "limit": 800}}]})"));

  // Attach: 201 with the list; the spec follows.
  Reply attached = api.Post(path_, R"({"name": "logs", "size_gib": 20, "tier": "ssd",
      "iops": {"reservation": 300}})");
  ASSERT_EQ(attached.status, 201) << attached.Describe();
  ASSERT_EQ(attached.body["volumes"].size(), 2u);
  EXPECT_EQ(Find(attached.body, "logs")["device"], "ssd0");
  EXPECT_EQ(Find(attached.body, "logs")["iops"]["weight"], 1);
  Reply vm = api.Get("/v1/vms/" + id_);
  EXPECT_EQ(vm.body["volumes"][1]["name"], "logs");
  EXPECT_EQ(vm.body["volumes"][1]["tier"], "ssd");

  // Attach refusals: 400 naming the field, 409 for the name, the tier and the room.
  struct Bad {
    std::string body;
    int status;
    std::string code, message;
  } bad[] = {
      {R"({"name": "x", "size_gib": 1, "tier": "ssd", "bus": "scsi"})", 400, "invalid_argument",
       "unknown field 'bus'"},
      {R"({"name": "x", "size_gib": 0, "tier": "ssd"})", 400, "invalid_argument", ""},
      {R"({"name": "x", "size_gib": 1, "tier": "tape"})", 400, "invalid_argument",
       "field 'tier': unknown tier 'tape' (known: nvme, ssd, hdd)"},
      {R"({"name": "x", "size_gib": 1, "tier": "ssd", "iops": {"reservation": 9, "limit": 5}})",
       400, "invalid_argument", "field 'iops.reservation': 9 > limit 5"},
      {R"({"name": "data", "size_gib": 1, "tier": "ssd"})", 409, "already_exists",
       "vm " + id_ + " already has a volume 'data'"},
      {R"({"name": "cold", "size_gib": 10, "tier": "hdd"})", 409, "unschedulable",
       "volume 'cold': host node1 has no hdd pool"},
      {R"({"name": "big", "size_gib": 60, "tier": "nvme"})", 409, "unschedulable",
       "volume 'big' does not fit on host node1: tier nvme requested 60 GiB, free 50 GiB"},
      {R"({"name": "fast", "size_gib": 10, "tier": "nvme", "iops": {"reservation": 700}})", 409,
       "unschedulable",
       "volume 'fast' does not fit on host node1: tier nvme requested 700 IOPS reserved, free 600 "
       "of 1000 on nvme0"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.body);
    ExpectError(api.Post(path_, b.body), b.status, b.code, b.message);
  }
  Reply size0 = api.Post(path_, R"({"name": "x", "size_gib": 0, "tier": "ssd"})");
  EXPECT_NE(size0.body.value("message", std::string()).find("field 'size_gib'"), std::string::npos)
      << size0.Describe();
  Reply iops = api.Post(path_, R"({"name": "fast", "size_gib": 10, "tier": "nvme",
      "iops": {"reservation": 700}})");
  const nlohmann::json why = iops.body["details"]["reasons"][0];
  EXPECT_EQ(why["resource"], "disk_iops") << iops.Describe();
  EXPECT_EQ(why["requested"], 700);
  EXPECT_EQ(why["free"], 600);
  EXPECT_EQ(why["capacity"], 1000);
  EXPECT_EQ(why["device"], "nvme0");
  Reply gib = api.Post(path_, R"({"name": "big", "size_gib": 60, "tier": "nvme"})");
  EXPECT_EQ(gib.body["details"]["reasons"][0]["resource"], "disk_gib") << gib.Describe();
  EXPECT_EQ(gib.body["details"]["reasons"][0]["free"], 50);

  // QoS through resize: reservation <= limit (400), against the disk's free IOPS (409), weight.
  const std::string resize = "/v1/vms/" + id_ + "/resize";
  ExpectError(api.Post(resize, R"({"volumes": [{"name": "data", "iops": {"reservation": 900}}]})"),
              400, "invalid_argument",
              "field 'volumes[0].iops.reservation': 900 > limit 800 (limit 0 = none)");
  Reply over = api.Post(
      resize, R"({"volumes": [{"name": "data", "iops": {"reservation": 1100, "limit": 0}}]})");
  ExpectError(over, 409, "no_room",
              "host node1 has no room on disk nvme0: requested 1100 IOPS reserved, free 1000 of "
              "1000");
  EXPECT_EQ(over.body["details"]["reasons"][0]["resource"], "disk_iops") << over.Describe();
  ExpectError(api.Post(resize, R"({"volumes": [{"name": "data", "iops": {"weight": 0}}]})"), 400,
              "invalid_argument", "");
  Reply qos = api.Post(
      resize, R"({"volumes": [{"name": "data", "iops": {"reservation": 600, "weight": 3}}]})");
  ASSERT_EQ(qos.status, 200) << qos.Describe();
  EXPECT_EQ(qos.body["volumes"][0]["iops"],
            nlohmann::json::parse(R"({"reservation": 600, "weight": 3, "limit": 800})"));
  EXPECT_EQ(Find(api.Get(path_).body, "data")["iops"]["reservation"], 600);

  // Migrate: same tier and missing pool are 409 with the reason, unknown name 404; then data
  // moves to the SSD and the NVMe disk is free again.
  ExpectError(api.Post(path_ + "/data/migrate", R"({"tier": "nvme"})"), 409, "conflict",
              "already on tier nvme");
  ExpectError(api.Post(path_ + "/data/migrate", R"({"tier": "hdd"})"), 409, "unschedulable",
              "volume 'data': host node1 has no hdd pool");
  ExpectError(api.Post(path_ + "/data/migrate", R"({"tier": "tape"})"), 400, "invalid_argument",
              "field 'tier': unknown tier 'tape' (known: nvme, ssd, hdd)");
  ExpectError(api.Post(path_ + "/nope/migrate", R"({"tier": "ssd"})"), 404, "not_found",
              "vm " + id_ + " has no volume 'nope'");
  Reply moved = api.Post(path_ + "/data/migrate", R"({"tier": "ssd"})");
  ASSERT_EQ(moved.status, 200) << moved.Describe();
  EXPECT_EQ(Find(moved.body, "data")["device"], "ssd0");
  EXPECT_EQ(Find(moved.body, "data")["tier"], "ssd");
  EXPECT_EQ(Find(moved.body, "data")["size_gib"], 50);
  EXPECT_EQ(Find(moved.body, "data")["iops"]["reservation"], 600);
  Reply host = api.Get("/v1/hosts/node1");
  EXPECT_EQ(host.body["usage"]["disk_gib"]["nvme"]["used"], 0) << host.Describe();
  EXPECT_EQ(host.body["usage"]["disk_gib"]["ssd"]["used"], 70);
  EXPECT_EQ(host.body["usage"]["disk_iops"]["ssd"]["used"], 900);

  // The desired state host agents read carries the new disk and tier.
  Reply desired = admin.Get("/v1/hosts/node1/desired?wait_ms=0");
  ASSERT_EQ(desired.status, 200) << desired.Describe();
  ASSERT_EQ(desired.body["vms"].size(), 1u);
  const nlohmann::json& d = desired.body["vms"][0];
  EXPECT_EQ(d["spec"]["volumes"][0]["tier"], "ssd");
  EXPECT_EQ(d["allocation"]["devices"][0]["id"], "ssd0");
  EXPECT_EQ(d["allocation"]["devices"][0]["volume"], "data");

  // Detach: 404 for an unknown name, 200 with the list; the capacity is free for the next.
  ExpectError(api.Delete(path_ + "/nope"), 404, "not_found", "vm " + id_ + " has no volume 'nope'");
  Reply detached = api.Delete(path_ + "/logs");
  ASSERT_EQ(detached.status, 200) << detached.Describe();
  EXPECT_EQ(detached.body["volumes"].size(), 1u);
  EXPECT_TRUE(Find(detached.body, "logs").is_null());
  Reply big = api.Post(path_, R"({"name": "big", "size_gib": 100, "tier": "nvme",
      "iops": {"reservation": 1000}})");
  ASSERT_EQ(big.status, 201) << big.Describe();
  EXPECT_EQ(Find(big.body, "big")["device"], "nvme0");

  // Unknown VM: 404.
  ExpectError(api.Get("/v1/vms/vm-nope/volumes"), 404, "not_found", "vm 'vm-nope' not found");

  // Audit: one record per change and per refusal, with the operation's outcome.
  Reply audit = admin.Get("/v1/audit?after=" + std::to_string(audit_before) + "&limit=1000");
  ASSERT_EQ(audit.status, 200) << audit.Describe();
  std::map<std::string, int> outcomes;
  for (const auto& r : audit.body["records"]) {
    outcomes[r["operation"].get<std::string>() + " " + r["outcome"].get<std::string>()]++;
    if (r["operation"] == "volume.migrate" && r["outcome"] == "ok") {
      EXPECT_EQ(r["object"], "vm/" + id_);
      EXPECT_EQ(r["detail"]["volume"], "data") << r.dump();
      EXPECT_EQ(r["detail"]["tier"], "ssd") << r.dump();
    }
  }
  EXPECT_EQ(outcomes["volume.attach ok"], 2);
  EXPECT_EQ(outcomes["volume.attach invalid_argument"], 5);
  EXPECT_EQ(outcomes["volume.attach already_exists"], 1);
  EXPECT_EQ(outcomes["volume.attach unschedulable"], 5);
  EXPECT_EQ(outcomes["volume.migrate ok"], 1);
  EXPECT_EQ(outcomes["volume.migrate conflict"], 1);
  EXPECT_EQ(outcomes["volume.migrate unschedulable"], 1);
  EXPECT_EQ(outcomes["volume.migrate invalid_argument"], 1);
  EXPECT_EQ(outcomes["volume.migrate not_found"], 1);
  EXPECT_EQ(outcomes["volume.detach ok"], 1);
  EXPECT_EQ(outcomes["volume.detach not_found"], 1);
  EXPECT_EQ(outcomes["vm.resize ok"], 1);
  EXPECT_EQ(outcomes["vm.resize no_room"], 1);

  // Restart (SQLite): the attached and migrated volumes come back as they were.
  const nlohmann::json before = api.Get(path_).body;
  const nlohmann::json vm_before = api.Get("/v1/vms/" + id_).body;
  ASSERT_TRUE(server.Stop());
  StoreCheck check = CheckStore(server.db_path());
  EXPECT_TRUE(check.violations.empty()) << check.Summary();
  ASSERT_TRUE(server.Start());
  Api again(server.url(), member_);
  Reply after = again.Get(path_);
  ASSERT_EQ(after.status, 200) << after.Describe();
  EXPECT_EQ(after.body, before);
  EXPECT_EQ(Find(after.body, "data")["device"], "ssd0");
  EXPECT_EQ(Find(after.body, "big")["device"], "nvme0");
  const nlohmann::json vm_after = again.Get("/v1/vms/" + id_).body;
  EXPECT_EQ(vm_after["volumes"], vm_before["volumes"]);
  EXPECT_EQ(vm_after["devices"], vm_before["devices"]);
  // The capacity held after the restart is the same: no room for one more NVMe GiB.
  ExpectError(again.Post(path_, R"({"name": "more", "size_gib": 1, "tier": "nvme"})"), 409,
              "unschedulable",
              "volume 'more' does not fit on host node1: tier nvme requested 1 GiB, free 0 GiB");
  ASSERT_TRUE(server.Stop());
}

TEST_F(ServerVolumes, OtherTenantsSee404AndReadersOnlyRead) {
  ServerProcess& server = *server_;
  Api other(server.url(), other_);
  Api reader(server.url(), reader_);
  const std::string hidden = "vm '" + id_ + "' not found";
  ExpectError(other.Get(path_), 404, "not_found", hidden);
  ExpectError(other.Post(path_, R"({"name": "x", "size_gib": 1, "tier": "ssd"})"), 404, "not_found",
              hidden);
  ExpectError(other.Delete(path_ + "/data"), 404, "not_found", hidden);
  ExpectError(other.Post(path_ + "/data/migrate", R"({"tier": "ssd"})"), 404, "not_found", hidden);
  ExpectError(other.Post("/v1/vms/" + id_ + "/resize",
                         R"({"volumes": [{"name": "data", "iops": {"reservation": 1}}]})"),
              404, "not_found", hidden);
  Reply read = reader.Get(path_);
  ASSERT_EQ(read.status, 200) << read.Describe();
  EXPECT_EQ(read.body["volumes"].size(), 1u);
  ExpectError(reader.Post(path_, R"({"name": "x", "size_gib": 1, "tier": "ssd"})"), 403,
              "forbidden", "a reader cannot attach volumes");
  ExpectError(reader.Delete(path_ + "/data"), 403, "forbidden", "a reader cannot detach volumes");
  ExpectError(reader.Post(path_ + "/data/migrate", R"({"tier": "ssd"})"), 403, "forbidden",
              "a reader cannot migrate volumes");
  Api anonymous(server.url());
  EXPECT_EQ(anonymous.Get(path_).status, 401);
  // Nothing changed, and every refusal is in the audit log.
  Api member(server.url(), member_);
  EXPECT_EQ(member.Get(path_).body, read.body);
  ASSERT_TRUE(server.Stop());
  StoreCheck check = CheckStore(server.db_path());
  EXPECT_TRUE(check.violations.empty()) << check.Summary();
  EXPECT_EQ(check.audit_counts["volume.list not_found"], 1);
  EXPECT_EQ(check.audit_counts["volume.attach not_found"], 1);
  EXPECT_EQ(check.audit_counts["volume.detach not_found"], 1);
  EXPECT_EQ(check.audit_counts["volume.migrate not_found"], 1);
  EXPECT_EQ(check.audit_counts["vm.resize not_found"], 1);
  EXPECT_EQ(check.audit_counts["volume.attach forbidden"], 1);
  EXPECT_EQ(check.audit_counts["volume.detach forbidden"], 1);
  EXPECT_EQ(check.audit_counts["volume.migrate forbidden"], 1);
}

// The CLI's volume verbs against the same server: output and exit codes.
TEST_F(ServerVolumes, CliVerbs) {
  ServerProcess& server = *server_;
  const std::string token_file = tmp_->path() + "/member.token";
  std::ofstream(token_file) << member_ << "\n";
  auto cli = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {DevshareBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--server", server.url(), "--token-file", token_file});
    return RunProcess(argv);
  };
  ProcessResult attach = cli({"volume", "attach", id_, "--name", "logs", "--size-gib", "20",
                              "--tier", "ssd", "--iops-reservation", "100", "--iops-limit", "500"});
  EXPECT_EQ(attach.exit_code, 0) << attach.output;
  EXPECT_NE(attach.output.find("logs"), std::string::npos) << attach.output;
  ProcessResult list = cli({"volume", "list", id_});
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("ssd0"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("nvme0"), std::string::npos) << list.output;
  ProcessResult no_pool = cli({"volume", "migrate", id_, "data", "--tier", "hdd"});
  EXPECT_EQ(no_pool.exit_code, 5) << no_pool.output;
  EXPECT_NE(no_pool.output.find("volume 'data': host node1 has no hdd pool"), std::string::npos)
      << no_pool.output;
  ProcessResult moved = cli({"volume", "migrate", id_, "data", "--tier", "ssd"});
  EXPECT_EQ(moved.exit_code, 0) << moved.output;
  ProcessResult qos = cli({"vm", "resize", id_, "--volume", "name=data,iops=700,weight=4"});
  EXPECT_EQ(qos.exit_code, 0) << qos.output;
  ProcessResult gone = cli({"volume", "detach", id_, "nope"});
  EXPECT_EQ(gone.exit_code, 6) << gone.output;
  ProcessResult detach = cli({"volume", "detach", id_, "logs"});
  EXPECT_EQ(detach.exit_code, 0) << detach.output;
  ProcessResult usage = cli({"volume", "attach", id_, "--name", "x"});
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
  ProcessResult json = cli({"volume", "list", id_, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const nlohmann::json doc = nlohmann::json::parse(json.output, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json.output;
  ASSERT_EQ(doc["volumes"].size(), 1u);
  EXPECT_EQ(doc["volumes"][0]["device"], "ssd0");
  EXPECT_EQ(doc["volumes"][0]["iops"],
            nlohmann::json::parse(R"({"reservation": 700, "weight": 4, "limit": 800})"));
  ASSERT_TRUE(server.Stop());
}

}  // namespace
}  // namespace devshare::it
