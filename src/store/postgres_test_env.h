// The store tests' PostgreSQL: one throwaway server (tests/testutil/postgres_server.h) per test
// binary, started on first use and stopped by a GoogleTest environment at the end; each test
// takes a fresh database from it. When no server can be started, every use answers the same
// Unavailable status, for the tests to skip with.
// Thread-safety: SharedPostgres and FreshPostgresDatabase are thread-safe.
#ifndef DEVSHARE_STORE_POSTGRES_TEST_ENV_H_
#define DEVSHARE_STORE_POSTGRES_TEST_ENV_H_

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "devshare/core/result.h"
#include "tests/testutil/postgres_server.h"

namespace devshare::store {

struct SharedPostgresState {
  std::mutex mu;
  bool tried = false;
  Status why;
  std::unique_ptr<testutil::PostgresServer> server;
  std::atomic<int> next_db{0};
};

inline SharedPostgresState& SharedPostgresInstance() {
  static SharedPostgresState s;
  return s;
}

// The server, or the reason there is none.
inline Result<testutil::PostgresServer*> SharedPostgres() {
  SharedPostgresState& s = SharedPostgresInstance();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.tried) {
    s.tried = true;
    Result<std::unique_ptr<testutil::PostgresServer>> started = testutil::PostgresServer::Start();
    if (started.ok()) {
      s.server = std::move(started).value();
    } else {
      s.why = started.status();
    }
  }
  if (s.server == nullptr) return s.why;
  return s.server.get();
}

// A new empty database on the shared server; its libpq URL (and its name in `name`).
inline Result<std::string> FreshPostgresDatabase(std::string* name = nullptr) {
  DS_ASSIGN_OR_RETURN(testutil::PostgresServer * server, SharedPostgres());
  const std::string db = "t" + std::to_string(SharedPostgresInstance().next_db++);
  DS_RETURN_IF_ERROR(server->CreateDatabase(db));
  if (name != nullptr) *name = db;
  return server->Url(db);
}

// Stops the shared server when the binary's tests are done.
class SharedPostgresEnvironment : public testing::Environment {
 public:
  void TearDown() override {
    SharedPostgresState& s = SharedPostgresInstance();
    std::lock_guard<std::mutex> lock(s.mu);
    s.server.reset();
  }
};

inline const bool kSharedPostgresEnvironmentRegistered =
    (testing::AddGlobalTestEnvironment(new SharedPostgresEnvironment), true);

}  // namespace devshare::store

#endif  // DEVSHARE_STORE_POSTGRES_TEST_ENV_H_
