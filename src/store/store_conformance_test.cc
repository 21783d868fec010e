// Store conformance: one parameterised suite run against every backend (memory, sqlite, and
// postgresql on a throwaway server, tests/testutil/postgres_server.h, one fresh database per
// test; skipped with the reason when no server can be started). The sqlite backend's file-level
// behaviour (durability, migrations, foreign files) is in sqlite_store_test.cc, the postgresql
// backend's own (replicas on one database, restarts, foreign databases) in
// postgres_store_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "devshare/store/audit_chain.h"
#include "devshare/store/store.h"
#include "store/store_test_util.h"
#ifdef DEVSHARE_WITH_POSTGRES
#include "store/postgres_test_env.h"
#endif

namespace devshare::store {
namespace {

using ::testing::HasSubstr;

class StoreConformanceTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_path_ = (folder_.path() / "nested" / "ledger.db").string();  // parents do not exist yet
#ifdef DEVSHARE_WITH_POSTGRES
    if (GetParam() == "postgresql") {
      Result<std::string> url = FreshPostgresDatabase();
      if (!url.ok()) GTEST_SKIP() << url.status().ToString();
      db_path_ = *url;
    }
#endif
    store_ = Open();
    ASSERT_NE(store_, nullptr);
  }

  std::unique_ptr<Store> Open() {
    if (GetParam() == "memory") return NewMemoryStore();
    Result<std::unique_ptr<Store>> s =
        GetParam() == "postgresql" ? OpenPostgresStore(db_path_) : OpenSqliteStore(db_path_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok()) return nullptr;
    return std::move(s).value();
  }

  std::unique_ptr<Txn> Begin() {
    Result<std::unique_ptr<Txn>> txn = store_->Begin();
    EXPECT_TRUE(txn.ok()) << txn.status().ToString();
    if (!txn.ok()) return nullptr;
    return std::move(txn).value();
  }

  StoreSnapshot Load() {
    Result<StoreSnapshot> snap = store_->Load();
    EXPECT_TRUE(snap.ok()) << snap.status().ToString();
    return snap.ok() ? *snap : StoreSnapshot{};
  }

  std::vector<AuditRecord> ReadAudit(int64_t after_seq = 0, int64_t limit = 0) {
    Result<std::vector<AuditRecord>> r = store_->ReadAudit(after_seq, limit);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<AuditRecord>{};
  }

  AuditHead Head() {
    Result<AuditHead> h = store_->ReadAuditHead();
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return h.ok() ? *h : AuditHead{};
  }

  void ExpectChainValid() {
    Status s = VerifyAuditChain(ReadAudit(), Head());
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

  // Commits tenant t-1 and host h1 (generation 1).
  void Seed() {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_TRUE(txn->InsertTenant(Tenant("t-1", "acme")).ok());
    Result<uint64_t> gen = txn->PutHost("h1", R"({"cpus":64})", 0, 500);
    ASSERT_TRUE(gen.ok()) << gen.status().ToString();
    ASSERT_TRUE(txn->Commit().ok());
  }

  // A state with one row of each kind (an admin and an agent token) and two audit records,
  // committed; host h1 is at generation 2.
  void Populate() {
    Seed();
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_TRUE(txn->InsertToken({"k-1", Sha256Hex("secret"), "t-1", "admin", 1100}).ok());
    ASSERT_TRUE(txn->InsertToken(AgentToken("k-agent", "h1")).ok());
    ASSERT_TRUE(txn->InsertImage(DiskImage("debian")).ok());
    ASSERT_TRUE(txn->InsertNetwork(Network("net-1", "t-1", "blue", 100)).ok());
    ASSERT_TRUE(txn->InsertVm(Vm("vm-1", "h1")).ok());
    ASSERT_TRUE(txn->GuardHost("h1", 1).ok());
    ASSERT_TRUE(txn->InsertIdempotency({"t-1", "key-1", Sha256Hex("POST /v1/vms {}"), 201,
                                        R"({"id":"vm-1"})", 1200})
                    .ok());
    ASSERT_TRUE(txn->AppendAudit(Audit("vm.create", "vm/vm-1")).ok());
    ASSERT_TRUE(txn->AppendAudit(Audit("host.put", "host/h1")).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }

  static TokenRecord AgentToken(const std::string& id, const std::string& host) {
    return {id, Sha256Hex("secret-" + id), "t-1", "agent", 1150, host};
  }

  TempFolder folder_;
  std::string db_path_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreConformanceTest, DescribeNamesTheBackend) {
  if (GetParam() == "memory") {
    EXPECT_EQ(store_->Describe(), "memory:");
  } else if (GetParam() == "postgresql") {
    EXPECT_EQ(store_->Describe(), db_path_);  // the URL (it holds no password here)
  } else {
    EXPECT_EQ(store_->Describe(), "sqlite:" + db_path_);
  }
}

TEST_P(StoreConformanceTest, FreshStoreIsEmpty) {
  StoreSnapshot snap = Load();
  EXPECT_TRUE(snap.tenants.empty());
  EXPECT_TRUE(snap.hosts.empty());
  EXPECT_EQ(snap.audit_records, 0);
  AuditHead head = Head();
  EXPECT_EQ(head.seq, 0);
  EXPECT_EQ(head.hash_hex, kAuditGenesisHash);
  EXPECT_TRUE(ReadAudit().empty());
  ExpectChainValid();
}

TEST_P(StoreConformanceTest, TenantInsertAndDuplicates) {
  auto txn = Begin();
  ASSERT_TRUE(txn->InsertTenant(Tenant("t-1", "acme")).ok());
  ASSERT_TRUE(txn->InsertTenant(Tenant("system", "operators")).ok());
  Status dup_id = txn->InsertTenant(Tenant("t-1", "other"));
  EXPECT_EQ(dup_id.code(), StatusCode::kAlreadyExists) << dup_id.ToString();
  Status dup_name = txn->InsertTenant(Tenant("t-2", "acme"));
  EXPECT_EQ(dup_name.code(), StatusCode::kAlreadyExists) << dup_name.ToString();
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameRecords(Load().tenants, {Tenant("system", "operators"), Tenant("t-1", "acme")});
}

TEST_P(StoreConformanceTest, TokenInsertDuplicatesAndUnknownTenant) {
  Seed();
  auto txn = Begin();
  const TokenRecord tok{"k-1", Sha256Hex("s1"), "t-1", "member", 7};
  ASSERT_TRUE(txn->InsertToken(tok).ok());
  EXPECT_EQ(txn->InsertToken({"k-1", Sha256Hex("s2"), "t-1", "reader", 8}).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(txn->InsertToken({"k-2", Sha256Hex("s1"), "t-1", "reader", 8}).code(),
            StatusCode::kAlreadyExists);
  Status unknown = txn->InsertToken({"k-3", Sha256Hex("s3"), "t-nope", "reader", 8});
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound) << unknown.ToString();
  EXPECT_THAT(unknown.message(), HasSubstr("t-nope"));
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameRecords(Load().tokens, {tok});
}

TEST_P(StoreConformanceTest, PutHostCreatesReplacesAndRefusesStaleGenerations) {
  auto txn = Begin();
  Result<uint64_t> created = txn->PutHost("h1", "{\"v\":1}", 0, 10);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(*created, 1u);
  EXPECT_EQ(txn->PutHost("h1", "{\"v\":9}", 0, 11).status().code(), StatusCode::kAborted);
  Result<uint64_t> replaced = txn->PutHost("h1", "{\"v\":2}", 1, 12);
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  EXPECT_EQ(*replaced, 2u);
  Status stale = txn->PutHost("h1", "{\"v\":9}", 1, 13).status();
  EXPECT_EQ(stale.code(), StatusCode::kAborted) << stale.ToString();
  EXPECT_THAT(stale.message(), HasSubstr("h1"));
  Status absent = txn->PutHost("h2", "{}", 3, 14).status();
  EXPECT_EQ(absent.code(), StatusCode::kAborted) << absent.ToString();
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameRecords(Load().hosts, {HostRecord{"h1", "{\"v\":2}", 2, 12}});
}

TEST_P(StoreConformanceTest, GuardHostIsACompareAndSwap) {
  Seed();
  auto txn = Begin();
  Result<uint64_t> g = txn->GuardHost("h1", 1);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(*g, 2u);
  EXPECT_EQ(txn->GuardHost("h1", 1).status().code(), StatusCode::kAborted);
  EXPECT_EQ(txn->GuardHost("h1", 3).status().code(), StatusCode::kAborted);
  EXPECT_EQ(txn->GuardHost("h1", 0).status().code(), StatusCode::kAborted);
  Status unknown = txn->GuardHost("nope", 1).status();
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound) << unknown.ToString();
  Result<uint64_t> g3 = txn->GuardHost("h1", 2);
  ASSERT_TRUE(g3.ok());
  EXPECT_EQ(*g3, 3u);
  // PutHost continues from the guarded generation.
  Result<uint64_t> put = txn->PutHost("h1", "{}", 3, 99);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(*put, 4u);
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(Load().hosts.at(0).generation, 4u);
}

TEST_P(StoreConformanceTest, VmInsertUpdateDeleteAndReferences) {
  Seed();
  auto txn = Begin();
  ASSERT_TRUE(txn->PutHost("h2", "{}", 0, 1).ok());
  ASSERT_TRUE(txn->InsertVm(Vm("vm-1", "h1")).ok());
  EXPECT_EQ(txn->InsertVm(Vm("vm-1", "h2")).code(), StatusCode::kAlreadyExists);
  Status no_host = txn->InsertVm(Vm("vm-2", "h-nope"));
  EXPECT_EQ(no_host.code(), StatusCode::kNotFound) << no_host.ToString();
  EXPECT_THAT(no_host.message(), HasSubstr("h-nope"));
  Status no_tenant = txn->InsertVm(Vm("vm-3", "h1", "t-nope"));
  EXPECT_EQ(no_tenant.code(), StatusCode::kNotFound) << no_tenant.ToString();
  EXPECT_THAT(no_tenant.message(), HasSubstr("t-nope"));

  VmRecord moved = Vm("vm-1", "h2");
  moved.tenant_id = "t-ignored";  // not replaced
  moved.created_unix_ms = 1;      // not replaced
  moved.name = "renamed";
  moved.allocation_json = R"({"cpu_milli":1000})";
  moved.state = "running";
  moved.updated_unix_ms = 5000;
  moved.power = "stopped";
  moved.reboot_seq = 7;
  moved.state_detail = "shutoff: shutdown";
  ASSERT_TRUE(txn->UpdateVm(moved).ok());
  EXPECT_EQ(txn->UpdateVm(Vm("vm-nope", "h1")).code(), StatusCode::kNotFound);
  Status bad_host = txn->UpdateVm(Vm("vm-1", "h-nope"));
  EXPECT_EQ(bad_host.code(), StatusCode::kNotFound) << bad_host.ToString();

  ASSERT_TRUE(txn->InsertVm(Vm("vm-4", "h1")).ok());
  ASSERT_TRUE(txn->DeleteVm("vm-4").ok());
  EXPECT_EQ(txn->DeleteVm("vm-4").code(), StatusCode::kNotFound);
  EXPECT_EQ(txn->DeleteVm("vm-nope").code(), StatusCode::kNotFound);
  ASSERT_TRUE(txn->Commit().ok());

  VmRecord want = moved;
  want.tenant_id = "t-1";
  want.created_unix_ms = 2000;
  ExpectSameRecords(Load().vms, {want});
}

TEST_P(StoreConformanceTest, AgentTokensCarryTheirHost) {
  Seed();
  auto txn = Begin();
  const TokenRecord agent = AgentToken("k-a", "h1");
  const TokenRecord early = AgentToken("k-b", "h-not-yet");  // issued before the host registers
  ASSERT_TRUE(txn->InsertToken(agent).ok());
  ASSERT_TRUE(txn->InsertToken(early).ok());
  EXPECT_EQ(txn->InsertToken(AgentToken("k-a", "h2")).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameRecords(Load().tokens, {agent, early});
}

TEST_P(StoreConformanceTest, HostStatusStartsOpenAndSurvivesInventoryChanges) {
  auto txn = Begin();
  ASSERT_TRUE(txn->PutHost("h1", "{\"v\":1}", 0, 10).ok());
  Result<uint64_t> g = txn->UpdateHostStatus("h1", "cordoned", true, 1, 20);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(*g, 2u);
  Result<uint64_t> put = txn->PutHost("h1", "{\"v\":2}", 2, 30);  // inventory only
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(*put, 3u);
  ASSERT_TRUE(txn->PutHost("h2", "{}", 0, 40).ok());
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameRecords(Load().hosts, {HostRecord{"h1", "{\"v\":2}", 3, 30, "cordoned", true},
                                   HostRecord{"h2", "{}", 1, 40, "open", false}});
}

TEST_P(StoreConformanceTest, UpdateHostStatusIsACompareAndSwap) {
  Seed();
  auto txn = Begin();
  Status stale = txn->UpdateHostStatus("h1", "draining", true, 2, 7).status();
  EXPECT_EQ(stale.code(), StatusCode::kAborted) << stale.ToString();
  EXPECT_THAT(stale.message(), HasSubstr("h1"));
  EXPECT_EQ(txn->UpdateHostStatus("h1", "draining", true, 0, 7).status().code(),
            StatusCode::kAborted);
  Status unknown = txn->UpdateHostStatus("nope", "open", false, 1, 7).status();
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound) << unknown.ToString();
  ASSERT_TRUE(txn->GuardHost("h1", 1).ok());
  Result<uint64_t> g = txn->UpdateHostStatus("h1", "draining", true, 2, 700);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(*g, 3u);
  Result<uint64_t> back = txn->UpdateHostStatus("h1", "open", false, 3, 800);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, 4u);
  EXPECT_EQ(txn->GuardHost("h1", 3).status().code(), StatusCode::kAborted);
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameRecords(Load().hosts, {HostRecord{"h1", R"({"cpus":64})", 4, 800, "open", false}});
}

TEST_P(StoreConformanceTest, DeleteHostIsRefusedWhileAVmIsOnIt) {
  Populate();  // vm-1 on h1 (generation 2)
  const StoreSnapshot before = Load();
  auto txn = Begin();
  Status in_use = txn->DeleteHost("h1", 2);
  EXPECT_EQ(in_use.code(), StatusCode::kFailedPrecondition) << in_use.ToString();
  EXPECT_THAT(in_use.message(), HasSubstr("vm-1"));
  Status stale = txn->DeleteHost("h1", 1);
  EXPECT_EQ(stale.code(), StatusCode::kAborted) << stale.ToString();
  Status unknown = txn->DeleteHost("nope", 1);
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound) << unknown.ToString();
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameSnapshot(Load(), before);  // the refusals wrote nothing
}

TEST_P(StoreConformanceTest, DeleteHostDeletesTheTokensScopedToIt) {
  Populate();  // k-1 (admin) and k-agent (agent of h1)
  auto txn = Begin();
  ASSERT_TRUE(txn->PutHost("h2", "{}", 0, 1).ok());
  const TokenRecord other = AgentToken("k-agent-h2", "h2");
  ASSERT_TRUE(txn->InsertToken(other).ok());
  ASSERT_TRUE(txn->InsertToken(AgentToken("k-agent-b", "h1")).ok());
  ASSERT_TRUE(txn->DeleteVm("vm-1").ok());
  Status deleted = txn->DeleteHost("h1", 2);
  ASSERT_TRUE(deleted.ok()) << deleted.ToString();
  EXPECT_EQ(txn->DeleteHost("h1", 2).code(), StatusCode::kNotFound);
  EXPECT_EQ(txn->GuardHost("h1", 2).status().code(), StatusCode::kNotFound);
  // The deleted tokens' ids and hashes are free again; the host can come back, unmanaged.
  ASSERT_TRUE(txn->InsertToken(AgentToken("k-agent", "h1")).ok());
  Result<uint64_t> back = txn->PutHost("h1", "{}", 0, 3);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, 1u);
  ASSERT_TRUE(txn->Commit().ok());
  StoreSnapshot snap = Load();
  ExpectSameRecords(
      snap.tokens,
      {{"k-1", Sha256Hex("secret"), "t-1", "admin", 1100}, AgentToken("k-agent", "h1"), other});
  ExpectSameRecords(snap.hosts,
                    {HostRecord{"h1", "{}", 1, 3, "open", false}, HostRecord{"h2", "{}", 1, 1}});
  EXPECT_TRUE(snap.vms.empty());
}

TEST_P(StoreConformanceTest, VmDesiredPowerRebootSeqAndDetailAreStored) {
  Seed();
  auto txn = Begin();
  VmRecord vm = Vm("vm-1", "h1");
  vm.power = "stopped";
  vm.reboot_seq = 4;
  vm.state_detail = "crashed: panicked";
  vm.state = "failed";
  ASSERT_TRUE(txn->InsertVm(vm).ok());
  const VmRecord plain = Vm("vm-2", "h1");  // defaults: running, 0, ""
  ASSERT_TRUE(txn->InsertVm(plain).ok());
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameRecords(Load().vms, {vm, plain});

  txn = Begin();
  vm.power = "running";
  vm.reboot_seq = 5;
  vm.state_detail = "";
  vm.state = "running";
  ASSERT_TRUE(txn->UpdateVm(vm).ok());
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameRecords(Load().vms, {vm, plain});
}

TEST_P(StoreConformanceTest, ImagesInsertDuplicatesAndDelete) {
  auto txn = Begin();
  ASSERT_TRUE(txn->InsertImage(KernelImage("vmlinuz")).ok());
  ASSERT_TRUE(txn->InsertImage(DiskImage("debian")).ok());
  ASSERT_TRUE(txn->InsertImage(DiskImage("alpine")).ok());
  Status dup = txn->InsertImage(KernelImage("debian"));
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists) << dup.ToString();
  EXPECT_THAT(dup.message(), HasSubstr("debian"));
  ASSERT_TRUE(txn->DeleteImage("alpine").ok());
  Status unknown = txn->DeleteImage("alpine");
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound) << unknown.ToString();
  EXPECT_THAT(unknown.message(), HasSubstr("alpine"));
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameRecords(Load().images, {DiskImage("debian"), KernelImage("vmlinuz")});

  txn = Begin();  // a deleted name can be reused
  ASSERT_TRUE(txn->DeleteImage("debian").ok());
  ASSERT_TRUE(txn->InsertImage(KernelImage("debian")).ok());
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameRecords(Load().images, {KernelImage("debian"), KernelImage("vmlinuz")});
}

TEST_P(StoreConformanceTest, NetworksAreUniqueByIdTenantNameAndSegment) {
  Seed();
  auto txn = Begin();
  ASSERT_TRUE(txn->InsertTenant(Tenant("t-2", "beta")).ok());
  ASSERT_TRUE(txn->InsertNetwork(Network("net-1", "t-1", "blue", 100)).ok());
  ASSERT_TRUE(txn->InsertNetwork(Network("net-2", "t-2", "blue", 101)).ok())
      << "another tenant may use the same name";
  for (const NetworkRecord& taken :
       {Network("net-1", "t-2", "red", 102), Network("net-3", "t-1", "blue", 103),
        Network("net-4", "t-1", "red", 101)}) {
    Status s = txn->InsertNetwork(taken);
    EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << taken.id << ": " << s.ToString();
  }
  Status no_tenant = txn->InsertNetwork(Network("net-5", "t-9", "red", 105));
  EXPECT_EQ(no_tenant.code(), StatusCode::kNotFound) << no_tenant.ToString();
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameRecords(Load().networks,
                    {Network("net-1", "t-1", "blue", 100), Network("net-2", "t-2", "blue", 101)});

  txn = Begin();  // a deleted network's segment and name can be reused
  ASSERT_TRUE(txn->DeleteNetwork("net-1").ok());
  Status unknown = txn->DeleteNetwork("net-1");
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound) << unknown.ToString();
  ASSERT_TRUE(txn->InsertNetwork(Network("net-6", "t-1", "blue", 100)).ok());
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameRecords(Load().networks,
                    {Network("net-2", "t-2", "blue", 101), Network("net-6", "t-1", "blue", 100)});
}

TEST_P(StoreConformanceTest, IdempotencyKeysAreUniquePerTenant) {
  Seed();
  auto txn = Begin();
  const IdempotencyRecord a{"t-1", "k", "aa", 201, "{}", 1};
  const IdempotencyRecord b{"t-2", "k", "bb", 202, "{\"x\":1}", 2};
  ASSERT_TRUE(txn->InsertIdempotency(a).ok());
  Status dup = txn->InsertIdempotency({"t-1", "k", "cc", 409, "{}", 3});
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists) << dup.ToString();
  ASSERT_TRUE(txn->InsertIdempotency(b).ok());
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameRecords(Load().idempotency, {a, b});
}

TEST_P(StoreConformanceTest, SavepointRollbackUndoesOnlyLaterWrites) {
  Seed();
  auto txn = Begin();
  ASSERT_TRUE(txn->InsertTenant(Tenant("t-a", "before")).ok());
  ASSERT_TRUE(txn->AppendAudit(Audit("tenant.create", "tenant/t-a")).ok());
  ASSERT_TRUE(txn->GuardHost("h1", 1).ok());  // generation 2, kept

  ASSERT_TRUE(txn->Savepoint().ok());
  ASSERT_TRUE(txn->InsertTenant(Tenant("t-b", "inside")).ok());
  ASSERT_TRUE(txn->PutHost("h2", "{}", 0, 1).ok());
  ASSERT_TRUE(txn->GuardHost("h1", 2).ok());
  ASSERT_TRUE(txn->PutHost("h1", "{\"changed\":true}", 3, 77).ok());
  ASSERT_TRUE(txn->InsertVm(Vm("vm-1", "h1")).ok());
  ASSERT_TRUE(txn->InsertIdempotency({"t-1", "k", "aa", 201, "{}", 1}).ok());
  ASSERT_TRUE(txn->AppendAudit(Audit("vm.create", "vm/vm-1")).ok());
  EXPECT_EQ(txn->InsertVm(Vm("vm-1", "h1")).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(txn->RollbackToSavepoint().ok());

  // The Txn stays open; a second savepoint is kept by Release.
  ASSERT_TRUE(txn->Savepoint().ok());
  ASSERT_TRUE(txn->InsertTenant(Tenant("t-c", "kept")).ok());
  Result<AuditRecord> kept = txn->AppendAudit(Audit("tenant.create", "tenant/t-c"));
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->seq, 2);  // the undone record's seq is reused
  ASSERT_TRUE(txn->ReleaseSavepoint().ok());
  ASSERT_TRUE(txn->Commit().ok());

  StoreSnapshot snap = Load();
  ExpectSameRecords(snap.tenants,
                    {Tenant("t-1", "acme"), Tenant("t-a", "before"), Tenant("t-c", "kept")});
  ExpectSameRecords(snap.hosts, {HostRecord{"h1", R"({"cpus":64})", 2, 500}});
  EXPECT_TRUE(snap.vms.empty());
  EXPECT_TRUE(snap.idempotency.empty());
  EXPECT_EQ(snap.audit_records, 2);
  std::vector<AuditRecord> log = ReadAudit();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].object, "tenant/t-a");
  EXPECT_EQ(log[1].object, "tenant/t-c");
  ExpectChainValid();
}

TEST_P(StoreConformanceTest, DeleteUndoneBySavepointRestoresTheRow) {
  Populate();
  const StoreSnapshot before = Load();
  auto txn = Begin();
  ASSERT_TRUE(txn->Savepoint().ok());
  ASSERT_TRUE(txn->DeleteVm("vm-1").ok());
  ASSERT_TRUE(txn->DeleteHost("h1", 2).ok());  // and its agent token
  ASSERT_TRUE(txn->DeleteImage("debian").ok());
  ASSERT_TRUE(txn->RollbackToSavepoint().ok());
  // The restored token still holds its hash.
  TokenRecord same_hash = AgentToken("k-agent", "h1");
  same_hash.id = "k-agent-2";
  EXPECT_EQ(txn->InsertToken(same_hash).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(txn->Commit().ok());
  ExpectSameSnapshot(Load(), before);
}

TEST_P(StoreConformanceTest, SavepointMisuseIsFailedPrecondition) {
  auto txn = Begin();
  EXPECT_EQ(txn->ReleaseSavepoint().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(txn->RollbackToSavepoint().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(txn->Savepoint().ok());
  EXPECT_EQ(txn->Savepoint().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(txn->ReleaseSavepoint().ok());
  EXPECT_EQ(txn->ReleaseSavepoint().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(txn->Commit().ok());
}

TEST_P(StoreConformanceTest, CommitWithAnOpenSavepointKeepsItsWrites) {
  auto txn = Begin();
  ASSERT_TRUE(txn->Savepoint().ok());
  ASSERT_TRUE(txn->InsertTenant(Tenant("t-1", "acme")).ok());
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(Load().tenants.size(), 1u);
}

TEST_P(StoreConformanceTest, RollbackLeavesNothing) {
  Populate();
  const StoreSnapshot before = Load();
  const AuditHead head_before = Head();
  auto txn = Begin();
  ASSERT_TRUE(txn->InsertTenant(Tenant("t-2", "beta")).ok());
  ASSERT_TRUE(txn->InsertToken({"k-2", Sha256Hex("s2"), "t-2", "reader", 1}).ok());
  ASSERT_TRUE(txn->PutHost("h1", "{\"replaced\":1}", 2, 9).ok());
  ASSERT_TRUE(txn->PutHost("h9", "{}", 0, 9).ok());
  ASSERT_TRUE(txn->InsertVm(Vm("vm-2", "h9", "t-2")).ok());
  VmRecord upd = Vm("vm-1", "h9");
  upd.state = "moved";
  upd.power = "stopped";
  ASSERT_TRUE(txn->UpdateVm(upd).ok());
  ASSERT_TRUE(txn->UpdateHostStatus("h1", "draining", true, 3, 9).ok());
  ASSERT_TRUE(txn->DeleteHost("h1", 4).ok());  // its VM moved to h9
  ASSERT_TRUE(txn->InsertToken(AgentToken("k-agent-9", "h9")).ok());
  ASSERT_TRUE(txn->DeleteImage("debian").ok());
  ASSERT_TRUE(txn->InsertImage(KernelImage("debian")).ok());
  ASSERT_TRUE(txn->InsertIdempotency({"t-2", "k", "aa", 201, "{}", 1}).ok());
  ASSERT_TRUE(txn->AppendAudit(Audit("x", "y")).ok());
  txn->Rollback();
  ExpectSameSnapshot(Load(), before);
  EXPECT_EQ(Head().seq, head_before.seq);
  EXPECT_EQ(Head().hash_hex, head_before.hash_hex);
  // The Txn is over: further calls are refused, Rollback is idempotent.
  EXPECT_EQ(txn->InsertTenant(Tenant("t-3", "gamma")).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(txn->Commit().code(), StatusCode::kFailedPrecondition);
  txn->Rollback();
  txn.reset();
  ExpectSameSnapshot(Load(), before);
  ExpectChainValid();
}

TEST_P(StoreConformanceTest, DestroyedTxnLeavesNothing) {
  Populate();
  const StoreSnapshot before = Load();
  {
    auto txn = Begin();
    ASSERT_TRUE(txn->InsertTenant(Tenant("t-2", "beta")).ok());
    ASSERT_TRUE(txn->GuardHost("h1", 2).ok());
    ASSERT_TRUE(txn->DeleteVm("vm-1").ok());
    ASSERT_TRUE(txn->AppendAudit(Audit("vm.delete", "vm/vm-1")).ok());
  }  // destroyed without Commit
  ExpectSameSnapshot(Load(), before);
  // The store is free for the next Txn.
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  ASSERT_TRUE(txn->GuardHost("h1", 2).ok());
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(txn->Commit().code(), StatusCode::kFailedPrecondition);
}

TEST_P(StoreConformanceTest, AuditAppendBuildsAValidChainAndPages) {
  std::vector<AuditRecord> appended;
  for (int t = 0; t < 3; ++t) {
    auto txn = Begin();
    for (int i = 0; i < 3; ++i) {
      AuditRecord in = Audit("op." + std::to_string(t), "obj/" + std::to_string(i));
      in.seq = 999;                 // ignored: the store assigns it
      in.prev_hash_hex = "forged";  // ignored
      Result<AuditRecord> r = txn->AppendAudit(in);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      appended.push_back(*r);
    }
    ASSERT_TRUE(txn->Commit().ok());
  }
  ASSERT_EQ(appended.size(), 9u);
  for (size_t i = 0; i < appended.size(); ++i) {
    EXPECT_EQ(appended[i].seq, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(appended[i].prev_hash_hex,
              i == 0 ? std::string(kAuditGenesisHash) : appended[i - 1].hash_hex);
    EXPECT_EQ(appended[i].hash_hex, AuditHash(appended[i].prev_hash_hex, appended[i]));
  }
  const std::vector<AuditRecord> all = ReadAudit();
  ASSERT_EQ(all.size(), 9u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].seq, appended[i].seq);
    EXPECT_EQ(all[i].operation, appended[i].operation);
    EXPECT_EQ(all[i].detail_json, appended[i].detail_json);
    EXPECT_EQ(all[i].hash_hex, appended[i].hash_hex);
  }
  AuditHead head = Head();
  EXPECT_EQ(head.seq, 9);
  EXPECT_EQ(head.hash_hex, appended.back().hash_hex);
  ExpectChainValid();
  EXPECT_EQ(Load().audit_records, 9);

  struct Page {
    int64_t after_seq, limit;
    std::vector<int64_t> seqs;
  };
  const std::vector<Page> pages = {
      {0, 2, {1, 2}}, {2, 3, {3, 4, 5}}, {7, 0, {8, 9}}, {7, 10, {8, 9}},
      {9, 0, {}},     {50, 5, {}},       {-5, 1, {1}},
  };
  for (const Page& p : pages) {
    SCOPED_TRACE(testing::Message() << "after " << p.after_seq << " limit " << p.limit);
    std::vector<int64_t> seqs;
    for (const AuditRecord& r : ReadAudit(p.after_seq, p.limit)) seqs.push_back(r.seq);
    EXPECT_EQ(seqs, p.seqs);
  }
}

TEST_P(StoreConformanceTest, LoadReturnsWhatWasCommitted) {
  Populate();
  StoreSnapshot want;
  want.tenants = {Tenant("t-1", "acme")};
  want.tokens = {{"k-1", Sha256Hex("secret"), "t-1", "admin", 1100}, AgentToken("k-agent", "h1")};
  want.hosts = {{"h1", R"({"cpus":64})", 2, 500}};
  want.vms = {Vm("vm-1", "h1")};
  want.idempotency = {
      {"t-1", "key-1", Sha256Hex("POST /v1/vms {}"), 201, R"({"id":"vm-1"})", 1200}};
  want.images = {DiskImage("debian")};
  want.networks = {Network("net-1", "t-1", "blue", 100)};
  want.audit_records = 2;
  ExpectSameSnapshot(Load(), want);
  const StoreSnapshot got = Load();
  EXPECT_EQ(got.tokens.at(0).host, "");
  EXPECT_EQ(got.hosts.at(0).schedule, "open");
  EXPECT_FALSE(got.hosts.at(0).managed);
  EXPECT_EQ(got.vms.at(0).power, "running");
  EXPECT_EQ(got.vms.at(0).reboot_seq, 0);
}

TEST_P(StoreConformanceTest, ReadsSeeOnlyCommittedDataWhileATxnIsOpen) {
  Populate();
  const StoreSnapshot before = Load();
  const AuditHead head_before = Head();
  auto txn = Begin();
  ASSERT_TRUE(txn->InsertTenant(Tenant("t-2", "beta")).ok());
  ASSERT_TRUE(txn->GuardHost("h1", 2).ok());
  ASSERT_TRUE(txn->DeleteVm("vm-1").ok());
  ASSERT_TRUE(txn->UpdateHostStatus("h1", "cordoned", true, 3, 9).ok());
  ASSERT_TRUE(txn->DeleteImage("debian").ok());
  ASSERT_TRUE(txn->InsertImage(KernelImage("vmlinuz")).ok());
  ASSERT_TRUE(txn->AppendAudit(Audit("vm.delete", "vm/vm-1")).ok());
  ExpectSameSnapshot(Load(), before);  // same thread: must not block either
  EXPECT_EQ(Head().seq, head_before.seq);
  EXPECT_EQ(ReadAudit().size(), 2u);
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(Load().tenants.size(), 2u);
  EXPECT_EQ(Head().seq, 3);
  ExpectChainValid();
}

TEST_P(StoreConformanceTest, SecondBeginOnTheSameThreadIsRefused) {
  auto txn = Begin();
  Result<std::unique_ptr<Txn>> second = store_->Begin();
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(txn->Commit().ok());
  auto third = Begin();
  EXPECT_NE(third, nullptr);
}

TEST_P(StoreConformanceTest, ConcurrentTxnsAreSerialised) {
  Seed();
  constexpr int kThreads = 4;
  constexpr int kTxnsPerThread = 10;
  std::vector<std::thread> threads;
  std::vector<Status> failures(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTxnsPerThread; ++i) {
        Result<std::unique_ptr<Txn>> txn = store_->Begin();
        if (!txn.ok()) {
          failures[t] = txn.status();
          return;
        }
        const std::string id = "t-" + std::to_string(t) + "-" + std::to_string(i);
        Status s = (*txn)->InsertTenant(Tenant(id, id));
        if (s.ok()) s = (*txn)->AppendAudit(Audit("tenant.create", id)).status();
        if (s.ok()) s = (*txn)->AppendAudit(Audit("tenant.check", id)).status();
        if (s.ok()) s = (*txn)->Commit();
        if (!s.ok()) {
          failures[t] = s;
          return;
        }
        (void)store_->ReadAuditHead();  // concurrent reader
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const Status& s : failures) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Load().tenants.size(), 1u + kThreads * kTxnsPerThread);
  std::vector<AuditRecord> log = ReadAudit();
  ASSERT_EQ(log.size(), 2u * kThreads * kTxnsPerThread);
  for (size_t i = 0; i < log.size(); i += 2) {  // a Txn's two records are adjacent
    EXPECT_EQ(log[i].object, log[i + 1].object);
  }
  ExpectChainValid();
}

// The change feed: one seq per committed Txn that changed a row, in commit order, listing each
// changed row once; audit records, refused writes and rolled-back savepoints are not in it.
TEST_P(StoreConformanceTest, ChangeFeedListsWhatEachCommittedTxnChanged) {
  auto txn = Begin();
  ASSERT_TRUE(txn->InsertTenant(Tenant("t-1", "acme")).ok());
  ASSERT_TRUE(txn->PutHost("h1", "{}", 0, 1).ok());
  ASSERT_TRUE(txn->GuardHost("h1", 1).ok());  // the same row again: listed once
  EXPECT_FALSE(txn->InsertTenant(Tenant("t-1", "again")).ok());
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(txn->change_seq(), 1);

  txn = Begin();
  ASSERT_TRUE(txn->InsertVm(Vm("vm-1", "h1")).ok());
  ASSERT_TRUE(txn->InsertToken(AgentToken("k-agent", "h1")).ok());
  ASSERT_TRUE(txn->AppendAudit(Audit("vm.create", "vm/vm-1")).ok());
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(txn->change_seq(), 2);

  txn = Begin();  // audit only: no change seq
  ASSERT_TRUE(txn->AppendAudit(Audit("auth.denied", "vm/vm-1")).ok());
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(txn->change_seq(), 0);

  txn = Begin();  // rolled back: nothing
  ASSERT_TRUE(txn->InsertImage(DiskImage("gone")).ok());
  txn->Rollback();

  txn = Begin();
  ASSERT_TRUE(txn->Savepoint().ok());
  ASSERT_TRUE(txn->InsertImage(DiskImage("debian")).ok());
  ASSERT_TRUE(txn->ReleaseSavepoint().ok());
  ASSERT_TRUE(txn->Savepoint().ok());
  ASSERT_TRUE(txn->InsertTenant(Tenant("t-2", "beta")).ok());
  ASSERT_TRUE(txn->RollbackToSavepoint().ok());
  ASSERT_TRUE(txn->InsertIdempotency({"t-1", "key-1", Sha256Hex("x"), 201, "{}", 5}).ok());
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(txn->change_seq(), 3);

  txn = Begin();  // deleting a host lists the tokens scoped to it
  ASSERT_TRUE(txn->DeleteVm("vm-1").ok());
  ASSERT_TRUE(txn->DeleteHost("h1", 2).ok());
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(txn->change_seq(), 4);

  auto rows = [](const std::vector<ChangeRecord>& v) {
    std::vector<std::string> out;
    for (const ChangeRecord& c : v)
      out.push_back(std::to_string(c.seq) + " " + c.kind + " " + c.key);
    return out;
  };
  Result<std::vector<ChangeRecord>> all = store_->ReadChanges(0, 0);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(rows(*all),
            (std::vector<std::string>{"1 host h1", "1 tenant t-1", "2 token k-agent", "2 vm vm-1",
                                      "3 idempotency t-1/key-1", "3 image debian", "4 host h1",
                                      "4 token k-agent", "4 vm vm-1"}));
  Result<std::vector<ChangeRecord>> one = store_->ReadChanges(1, 1);  // the Txn after seq 1
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(rows(*one), (std::vector<std::string>{"2 token k-agent", "2 vm vm-1"}));
  EXPECT_TRUE(store_->ReadChanges(4, 0)->empty());
  EXPECT_EQ(Load().change_seq, 4);
  // The changes after seq 2 and the rows they name, in one snapshot: the image and the key are
  // there; the VM, the host and its token were deleted.
  Result<ChangedRows> changed = store_->ReadChangedRows(2);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(rows(changed->changes),
            (std::vector<std::string>{"3 idempotency t-1/key-1", "3 image debian", "4 host h1",
                                      "4 token k-agent", "4 vm vm-1"}));
  EXPECT_EQ(changed->rows.change_seq, 4);
  ASSERT_EQ(changed->rows.images.size(), 1u);
  EXPECT_EQ(changed->rows.images[0].name, "debian");
  ASSERT_EQ(changed->rows.idempotency.size(), 1u);
  EXPECT_EQ(changed->rows.idempotency[0].key, "key-1");
  EXPECT_TRUE(changed->rows.vms.empty());
  EXPECT_TRUE(changed->rows.hosts.empty());
  EXPECT_TRUE(changed->rows.tokens.empty());
  EXPECT_TRUE(store_->ReadChangedRows(4)->changes.empty());
  // Reopened, the feed and its head are still there (memory: nothing to reopen).
  if (GetParam() != "memory") {
    store_.reset();
    store_ = Open();
    ASSERT_NE(store_, nullptr);
    EXPECT_EQ(rows(*store_->ReadChanges(2, 0)).size(), 5u);
    EXPECT_EQ(Load().change_seq, 4);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformanceTest,
                         testing::Values("memory", "sqlite"
#ifdef DEVSHARE_WITH_POSTGRES
                                         ,
                                         "postgresql"
#endif
                                         ),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace devshare::store
