// One libpq connection of the `postgresql` Store backend: connects from a libpq URL, runs the
// backend's statements (prepared once per connection, text parameters), and maps PostgreSQL
// errors (SQLSTATE) to Status codes. Internal to src/store.
// Thread-safety: not thread-safe; its owner serialises all use (postgres_store.cc).
#ifndef DEVSHARE_STORE_POSTGRES_CONNECTION_H_
#define DEVSHARE_STORE_POSTGRES_CONNECTION_H_

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/result.h"
#include "devshare/core/status.h"

namespace devshare::store {

// A query's result; frees it on scope exit.
class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r) {}
  PgResult(PgResult&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  PgResult& operator=(PgResult&& o) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult() {
    if (r_ != nullptr) PQclear(r_);
  }

  int rows() const { return PQntuples(r_); }
  int64_t affected() const;  // rows an INSERT/UPDATE/DELETE changed
  std::string Text(int row, int col) const;
  int64_t Int(int row, int col) const;  // 0 for NULL
  bool IsNull(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string_view command() const { return PQcmdStatus(r_); }

 private:
  PGresult* r_;
};

// Text parameters of one statement ($1, $2, ...).
class PgParams {
 public:
  PgParams& Add(std::string_view v);
  PgParams& Add(int64_t v);
  PgParams& AddBool(bool v) { return Add(std::string_view(v ? "true" : "false")); }
  PgParams& AddNull();
  int size() const { return static_cast<int>(values_.size()); }
  // Pointers into this object (valid while it lives and is not changed).
  std::vector<const char*> Pointers() const;

 private:
  std::vector<std::optional<std::string>> values_;
};

class PgConnection {
 public:
  // Connects; Unavailable (naming `display`, never the password) when the server cannot be
  // reached or refuses. `statements` are the texts of the statements Run prepares by index.
  static Result<std::unique_ptr<PgConnection>> Connect(const std::string& url,
                                                       const std::string& display,
                                                       const std::vector<const char*>* statements);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs statement `index` of the table with `params`. Errors name `what`.
  Result<PgResult> Run(size_t index, const PgParams& params, const std::string& what);
  // Runs one or more statements without parameters (simple query protocol: migrations,
  // transaction control).
  Result<PgResult> Exec(const std::string& sql, const std::string& what);

  // The connection was lost (server restart, network): Reset reconnects (statements are
  // prepared again on first use). Unavailable when it cannot.
  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }
  Status Reset();
  // Inside a transaction block (idle in it, or failed in it).
  bool in_transaction() const;
  const std::string& display() const { return display_; }

 private:
  PgConnection(PGconn* conn, std::string display, const std::vector<const char*>* statements);
  Result<PgResult> Check(PGresult* r, const std::string& what);

  PGconn* conn_;
  std::string display_;
  const std::vector<const char*>* statements_;
  std::vector<bool> prepared_;
};

// The URL without its password (for messages and Describe).
std::string PgDisplayUrl(std::string_view url);

}  // namespace devshare::store

#endif  // DEVSHARE_STORE_POSTGRES_CONNECTION_H_
