// Helpers shared by the store tests: record comparison, sample rows, a temporary folder and raw
// SQL access to a database file (for tampering, inspection and building old schemas).
// Thread-safety: test code; TempFolder and RawDb belong to one test.
#ifndef DEVSHARE_STORE_STORE_TEST_UTIL_H_
#define DEVSHARE_STORE_STORE_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "devshare/store/records.h"

namespace devshare::store {

inline auto Tie(const TenantRecord& r) { return std::tie(r.id, r.name, r.created_unix_ms); }
inline auto Tie(const TokenRecord& r) {
  return std::tie(r.id, r.sha256_hex, r.tenant_id, r.role, r.created_unix_ms, r.host);
}
inline auto Tie(const HostRecord& r) {
  return std::tie(r.name, r.inventory_json, r.generation, r.updated_unix_ms, r.schedule, r.managed);
}
inline auto Tie(const VmRecord& r) {
  return std::tie(r.id, r.tenant_id, r.name, r.host, r.spec_json, r.allocation_json, r.state,
                  r.created_unix_ms, r.updated_unix_ms, r.power, r.reboot_seq, r.state_detail);
}
inline auto Tie(const ImageRecord& r) {
  return std::tie(r.name, r.kind, r.file, r.kernel, r.initrd, r.cmdline, r.created_unix_ms);
}
inline auto Tie(const NetworkRecord& r) {
  return std::tie(r.id, r.tenant_id, r.name, r.cidr, r.segment_id, r.physical_network,
                  r.created_unix_ms);
}
inline auto Tie(const IdempotencyRecord& r) {
  return std::tie(r.tenant_id, r.key, r.request_sha256_hex, r.http_status, r.response_json,
                  r.created_unix_ms);
}

template <typename T>
void ExpectSameRecords(const std::vector<T>& got, const std::vector<T>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(Tie(got[i]), Tie(want[i])) << "row " << i;
}

inline void ExpectSameSnapshot(const StoreSnapshot& got, const StoreSnapshot& want) {
  ExpectSameRecords(got.tenants, want.tenants);
  ExpectSameRecords(got.tokens, want.tokens);
  ExpectSameRecords(got.hosts, want.hosts);
  ExpectSameRecords(got.vms, want.vms);
  ExpectSameRecords(got.idempotency, want.idempotency);
  ExpectSameRecords(got.images, want.images);
  ExpectSameRecords(got.networks, want.networks);
  EXPECT_EQ(got.audit_records, want.audit_records);
}

inline TenantRecord Tenant(const std::string& id, const std::string& name) {
  return {id, name, 1000};
}

inline NetworkRecord Network(const std::string& id, const std::string& tenant,
                             const std::string& name, int64_t segment) {
  return {id, tenant, name, "10.1.0.0/24", segment, "default", 1300};
}

inline VmRecord Vm(const std::string& id, const std::string& host,
                   const std::string& tenant = "t-1") {
  VmRecord vm;
  vm.id = id;
  vm.tenant_id = tenant;
  vm.name = "name-" + id;
  vm.host = host;
  vm.spec_json = R"({"cpu_milli":2000,"memory_mib":4096})";
  vm.allocation_json = R"({"cpu_milli":2000,"gpus":[]})";
  vm.state = "allocated";
  vm.created_unix_ms = 2000;
  vm.updated_unix_ms = 2000;
  return vm;
}

inline AuditRecord Audit(const std::string& op, const std::string& object) {
  AuditRecord r;
  r.time_unix_ms = 3000;
  r.tenant_id = "t-1";
  r.actor = "k-1";
  r.operation = op;
  r.object = object;
  r.outcome = "ok";
  r.detail_json = "{}";
  return r;
}

inline ImageRecord DiskImage(const std::string& name) {
  ImageRecord image;
  image.name = name;
  image.kind = "disk";
  image.file = "/srv/images/" + name + ".qcow2";
  image.created_unix_ms = 4000;
  return image;
}

inline ImageRecord KernelImage(const std::string& name) {
  ImageRecord image;
  image.name = name;
  image.kind = "kernel";
  image.kernel = "/srv/boot/" + name + "/vmlinuz";
  image.initrd = "/srv/boot/" + name + "/initrd.img";
  image.cmdline = "console=ttyS0 root=/dev/vda";
  image.created_unix_ms = 4100;
  return image;
}

// A fresh folder under the test temp dir, removed on destruction.
class TempFolder {
 public:
  TempFolder() {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    path_ = std::filesystem::path(testing::TempDir()) /
            ("devshare_store_" + std::to_string(::getpid()) + "_" + name);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Runs SQL on a file directly, bypassing the store (for tampering and inspection).
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
  }
  ~RawDb() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << sql << ": " << (err ? err : "");
    sqlite3_free(err);
  }
  std::vector<std::vector<std::string>> Query(const std::string& sql) {
    std::vector<std::vector<std::string>> rows;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        const unsigned char* t = sqlite3_column_text(st, i);
        row.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(st);
    return rows;
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace devshare::store

#endif  // DEVSHARE_STORE_STORE_TEST_UTIL_H_
