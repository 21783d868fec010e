// Test 5: tamper detection through the CLI. A database is built through the API; each case
// copies it, tampers with the audit table through the sqlite3 C API (schema of
// src/store/sqlite_store.cc: audit(seq, time_unix_ms, tenant_id, actor, operation, object,
// outcome, detail_json, prev_hash_hex, hash_hex) and audit_head(id=1, seq, hash_hex)), and
// `devshare audit verify` must exit 1 printing BAD and naming the record; the untouched copy
// verifies OK. The same copies also show that the invariant checker of the other tests fails
// on broken state (capacity, exclusive GPU, orphan, lost row), so its silence means something.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "devshare/store/audit_chain.h"
#include "devshare/store/store.h"
#include "tests/integration/server/server_process.h"
#include "tests/integration/server/test_util.h"

namespace devshare::it {
namespace {

// Runs `sql` on the database file at `path` with text/integer parameters bound in order.
// Returns "" on success, else the SQLite error.
struct Param {
  bool is_text;
  std::string text;
  int64_t number;
  Param(const std::string& s) : is_text(true), text(s), number(0) {}  // NOLINT
  Param(const char* s) : is_text(true), text(s), number(0) {}         // NOLINT
  Param(int64_t n) : is_text(false), number(n) {}                     // NOLINT
  Param(int n) : is_text(false), number(n) {}                         // NOLINT
};

std::string Sql(const std::string& path, const std::string& sql,
                const std::vector<Param>& params = {}) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::string e = db ? sqlite3_errmsg(db) : "open failed";
    sqlite3_close(db);
    return e;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  std::string err;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    err = sqlite3_errmsg(db);
  } else {
    for (size_t i = 0; i < params.size(); ++i) {
      const int at = static_cast<int>(i) + 1;
      if (params[i].is_text) {
        sqlite3_bind_text(st, at, params[i].text.data(), static_cast<int>(params[i].text.size()),
                          SQLITE_TRANSIENT);
      } else {
        sqlite3_bind_int64(st, at, params[i].number);
      }
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) err = sqlite3_errmsg(db);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return err;
}

// One text value of the first row of `sql`.
std::string SqlText(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

void CopyDb(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  for (const char* suffix : {"-wal", "-shm"}) {
    if (fs::exists(from + suffix)) {
      fs::copy_file(from + suffix, to + suffix, fs::copy_options::overwrite_existing);
    }
  }
}

// Flips one byte (the middle one) of `s`: the smallest possible edit.
std::string FlipByte(std::string s) {
  s[s.size() / 2] ^= 0x01;
  return s;
}

class AuditTamper : public ::testing::Test {
 protected:
  // Tenants, hosts, 16 VMs (CPU-only, shared and whole GPUs), 4 deletes and 2 refusals.
  void BuildThroughApi(ServerProcess& server) {
    Api admin(server.url(), server.AdminToken());
    ASSERT_EQ(PutHost(admin, "h1", TightHost()), 201);
    ASSERT_EQ(PutHost(admin, "h2", TightHost()), 201);
    const std::string tenant = CreateTenant(admin, "acme");
    Api member(server.url(), CreateToken(admin, tenant, "member"));
    Api reader(server.url(), CreateToken(admin, tenant, "reader"));
    std::vector<std::string> ids;
    for (int i = 0; i < 16; ++i) {
      nlohmann::json vm = {
          {"name", "vm" + std::to_string(i)}, {"cpu_milli", 500 + 100 * i}, {"memory_mib", 1024}};
      if (i % 4 == 1) vm["gpu"] = {{"count", 1}, {"milli", 250}};
      if (i == 3 || i == 7) vm["gpu"] = {{"count", 1}, {"milli", 1000}};
      Reply r = member.Post("/v1/vms", vm);
      ASSERT_EQ(r.status, 201) << r.Describe();
      ids.push_back(r.body["id"]);
    }
    for (int i = 0; i < 4; ++i) ASSERT_EQ(member.Delete("/v1/vms/" + ids[3 * i]).status, 200);
    EXPECT_EQ(
        reader.Post("/v1/vms", nlohmann::json{{"name", "no"}, {"cpu_milli", 1}, {"memory_mib", 1}})
            .status,
        403);
    Api anonymous(server.url(), "");
    EXPECT_EQ(anonymous.Get("/v1/vms").status, 401);
  }

  void SetUp() override {
    ServerProcess server(tmp_.path());
    ASSERT_TRUE(server.Start());
    BuildThroughApi(server);
    if (HasFatalFailure()) return;
    // The clients are gone (their keep-alive connections closed) before the graceful stop.
    ASSERT_TRUE(server.Stop());
    db_ = server.db_path();
    // Fold the WAL into the main file so one file holds everything.
    ASSERT_EQ(Sql(db_, "PRAGMA wal_checkpoint(TRUNCATE)"), "");
    n_ = std::stoll(SqlText(db_, "SELECT CAST(count(*) AS TEXT) FROM audit"));
    ASSERT_GE(n_, 25);
    ASSERT_EQ(SqlText(db_, "SELECT CAST(seq AS TEXT) FROM audit_head WHERE id = 1"),
              std::to_string(n_));
  }

  // A fresh copy of the database, named after the case.
  std::string Copy(const std::string& name) {
    const std::string path = tmp_.path() + "/" + name + ".db";
    CopyDb(db_, path);
    return path;
  }

  ProcessResult Verify(const std::string& path) {
    return RunProcess({DevshareBinary(), "audit", "verify", "--db", "sqlite:" + path});
  }

  TempFolder tmp_{"tamper"};
  std::string db_;
  int64_t n_ = 0;  // audit records in the pristine database
};

TEST_F(AuditTamper, VerifyNamesTheTamperedRecord) {
  const std::string pristine = Copy("pristine");
  {
    ProcessResult ok = Verify(pristine);
    EXPECT_EQ(ok.exit_code, 0) << ok.output;
    EXPECT_EQ(ok.output.rfind("OK", 0), 0u) << ok.output;
  }
  const int64_t n = n_;
  auto text = [&](const std::string& col, int64_t seq) {
    return SqlText(db_, "SELECT " + col + " FROM audit WHERE seq = " + std::to_string(seq));
  };
  // The records as the store reads them, to forge well-chained ones.
  std::vector<store::AuditRecord> records;
  {
    auto st = store::OpenStore("sqlite:" + Copy("reader"));
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    auto r = (*st)->ReadAudit(0, 0);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    records = *r;
    ASSERT_EQ(static_cast<int64_t>(records.size()), n);
  }

  struct Case {
    std::string name;
    std::function<std::string(const std::string&)> tamper;  // returns "" or an SQL error
    std::string expect;                                     // substring of the BAD line
  };
  const std::vector<Case> cases = {
      {"flip a byte of detail_json",
       [&](const std::string& p) {
         return Sql(p, "UPDATE audit SET detail_json = ?1 WHERE seq = 10",
                    {FlipByte(text("detail_json", 10))});
       },
       "audit record 10: hash mismatch"},
      {"flip a byte of outcome",
       [&](const std::string& p) {
         return Sql(p, "UPDATE audit SET outcome = ?1 WHERE seq = 12",
                    {FlipByte(text("outcome", 12))});
       },
       "audit record 12: hash mismatch"},
      {"change a record's tenant",
       [&](const std::string& p) {
         return Sql(p, "UPDATE audit SET tenant_id = 'system' WHERE seq = ?1", {n - 1});
       },
       "audit record " + std::to_string(n - 1) + ": hash mismatch"},
      {"change a record's time",
       [&](const std::string& p) {
         return Sql(p, "UPDATE audit SET time_unix_ms = time_unix_ms + 1 WHERE seq = 3");
       },
       "audit record 3: hash mismatch"},
      {"delete a middle record",
       [&](const std::string& p) { return Sql(p, "DELETE FROM audit WHERE seq = 15"); },
       "audit record 16: out of sequence"},
      {"delete the first record",
       [&](const std::string& p) { return Sql(p, "DELETE FROM audit WHERE seq = 1"); },
       "audit record 2: out of sequence"},
      {"swap two records' seq",
       [&](const std::string& p) {
         std::string e = Sql(p, "UPDATE audit SET seq = 1000000 WHERE seq = 5");
         if (e.empty()) e = Sql(p, "UPDATE audit SET seq = 5 WHERE seq = 6");
         if (e.empty()) e = Sql(p, "UPDATE audit SET seq = 6 WHERE seq = 1000000");
         return e;
       },
       "audit record 5: prev-hash mismatch"},
      {"truncate the last 3 records",
       [&](const std::string& p) { return Sql(p, "DELETE FROM audit WHERE seq > ?1", {n - 3}); },
       "ends at audit record " + std::to_string(n - 3)},
      {"append a forged record with a well-chained hash",
       [&](const std::string& p) {
         store::AuditRecord f = records.back();
         f.seq = n + 1;
         f.operation = "vm.delete";
         f.object = "vm/vm-forged";
         f.outcome = "ok";
         f.detail_json = R"({"host":"h1"})";
         f.prev_hash_hex = records.back().hash_hex;
         f.hash_hex = store::AuditHash(f.prev_hash_hex, f);
         return Sql(p,
                    "INSERT INTO audit (seq, time_unix_ms, tenant_id, actor, operation, object, "
                    "outcome, detail_json, prev_hash_hex, hash_hex) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    {f.seq, f.time_unix_ms, f.tenant_id, f.actor, f.operation, f.object, f.outcome,
                     f.detail_json, f.prev_hash_hex, f.hash_hex});
       },
       "audit record " + std::to_string(n + 1) + ": beyond the audit head"},
      {"append a forged record with a made-up hash",
       [&](const std::string& p) {
         return Sql(p,
                    "INSERT INTO audit (seq, time_unix_ms, tenant_id, actor, operation, object, "
                    "outcome, detail_json, prev_hash_hex, hash_hex) "
                    "VALUES (?1, 0, 'system', 'nobody', 'tenant.create', 'tenant/x', 'ok', '{}', "
                    "?2, ?3)",
                    {n + 1, records.back().hash_hex, std::string(64, 'a')});
       },
       "audit record " + std::to_string(n + 1) + ": hash mismatch"},
      {"rewrite a record and re-hash it alone",
       [&](const std::string& p) {
         store::AuditRecord r = records[7];  // seq 8
         r.detail_json = R"({"rewritten":true})";
         r.hash_hex = store::AuditHash(r.prev_hash_hex, r);
         return Sql(p, "UPDATE audit SET detail_json = ?1, hash_hex = ?2 WHERE seq = 8",
                    {r.detail_json, r.hash_hex});
       },
       "audit record 9: prev-hash mismatch"},
      {"move the head's hash",
       [&](const std::string& p) {
         return Sql(p, "UPDATE audit_head SET hash_hex = ?1 WHERE id = 1", {std::string(64, 'b')});
       },
       "audit record " + std::to_string(n) + ": hash"},
      {"truncate the whole log", [&](const std::string& p) { return Sql(p, "DELETE FROM audit"); },
       "audit record " + std::to_string(n)},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const std::string path = Copy("case" + std::to_string(i));
    ASSERT_EQ(c.tamper(path), "") << c.name;
    ProcessResult r = Verify(path);
    EXPECT_EQ(r.exit_code, 1) << c.name << ": " << r.output;
    EXPECT_NE(r.output.find("BAD"), std::string::npos) << c.name << ": " << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos)
        << c.name << ": expected the report to contain '" << c.expect << "', got: " << r.output;
  }
  // The pristine copy is still fine (the cases touched only their own copies).
  ProcessResult again = Verify(pristine);
  EXPECT_EQ(again.exit_code, 0) << again.output;
}

// The invariant checker of the other tests must report each kind of broken state.
TEST_F(AuditTamper, InvariantCheckerCatchesBrokenState) {
  {
    StoreCheck ok = CheckStore(Copy("sane"));
    ASSERT_TRUE(ok.violations.empty()) << ok.Summary();
    ASSERT_FALSE(ok.vms.empty());
  }
  const std::string shared = SqlText(
      db_, "SELECT id FROM vms WHERE allocation_json LIKE '%\"whole\":false%' ORDER BY id LIMIT 1");
  const std::string whole = SqlText(
      db_, "SELECT id FROM vms WHERE allocation_json LIKE '%\"whole\":true%' ORDER BY id LIMIT 1");
  const std::string any = SqlText(db_, "SELECT id FROM vms ORDER BY id LIMIT 1");
  ASSERT_FALSE(shared.empty());
  ASSERT_FALSE(whole.empty());
  struct Case {
    std::string name;
    std::string sql;
    std::vector<Param> params;
    std::string expect;  // substring of one violation
  };
  const std::vector<Case> cases = {
      {"over capacity",
       "UPDATE vms SET allocation_json = json_set(allocation_json, '$.cpu_milli', 99999999), "
       "spec_json = json_set(spec_json, '$.cpu_milli', 99999999) WHERE id = ?1",
       {any},
       "> capacity"},
      {"a share on the exclusive GPU",
       "UPDATE vms SET allocation_json = json_set(allocation_json, '$.devices[0].id', 'g2') "
       "WHERE id = ?1",
       {shared},
       "exclusive GPU"},
      {"orphan VM",
       "INSERT INTO vms (id, tenant_id, name, host, spec_json, allocation_json, state, "
       "created_unix_ms, updated_unix_ms) SELECT 'vm-orphan', tenant_id, 'orphan', 'h-gone', "
       "spec_json, allocation_json, state, created_unix_ms, updated_unix_ms FROM vms WHERE id = ?1",
       {any},
       "orphan"},
      {"a second holder of a whole GPU",
       "INSERT INTO vms (id, tenant_id, name, host, spec_json, allocation_json, state, "
       "created_unix_ms, updated_unix_ms) SELECT 'vm-twin', tenant_id, 'twin', host, spec_json, "
       "allocation_json, state, created_unix_ms, updated_unix_ms FROM vms WHERE id = ?1",
       {whole},
       "held whole"},
      {"a lost VM row", "DELETE FROM vms WHERE id = ?1", {any}, "the VM table does not"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const std::string path = Copy("broken" + std::to_string(i));
    ASSERT_EQ(Sql(path, c.sql, c.params), "") << c.name;
    StoreCheck check = CheckStore(path);
    bool found = false;
    for (const std::string& v : check.violations)
      found = found || v.find(c.expect) != std::string::npos;
    EXPECT_TRUE(found) << c.name << ": expected a violation containing '" << c.expect << "', got:\n"
                       << check.Summary();
  }
}

}  // namespace
}  // namespace devshare::it
