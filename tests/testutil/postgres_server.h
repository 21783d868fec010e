// A throwaway PostgreSQL server for tests: Debian's `postgresql` binaries (initdb + pg_ctl) run
// on a cluster in a temporary folder, listening on a unix socket in that folder only (no TCP),
// stopped (and the folder removed) when the object goes. As root (initdb refuses root) the
// server runs as the `postgres` account through runuser. Tests that need one skip with
// PostgresServer::Start's message when it cannot be had.
// Thread-safety: one owner; Url() and CreateDatabase() may be called from any thread.
#ifndef DEVSHARE_TESTS_TESTUTIL_POSTGRES_SERVER_H_
#define DEVSHARE_TESTS_TESTUTIL_POSTGRES_SERVER_H_

#include <memory>
#include <string>

#include "devshare/core/result.h"
#include "devshare/core/status.h"

namespace devshare::testutil {

class PostgresServer {
 public:
  // Creates and starts a cluster (a few seconds). Unavailable with the reason when the binaries
  // are missing (apt-get install postgresql) or the server does not start (its log's tail).
  static Result<std::unique_ptr<PostgresServer>> Start();
  ~PostgresServer();  // stops the server (immediate), removes its folder
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // A libpq URI for database `db` ("postgresql:///db?host=<socket dir>&user=devshare").
  std::string Url(const std::string& db) const;
  // CREATE DATABASE `db` (a name of [a-z0-9_]).
  Status CreateDatabase(const std::string& db) const;
  // Runs one SQL command on `db` and returns the first column of the first row ("" for none).
  Result<std::string> Query(const std::string& db, const std::string& sql) const;

  // Stops the server as a crash would (SIGKILL of the postmaster and its children: pg_ctl
  // stop -m immediate) and starts it again on the same cluster.
  Status Restart();

  const std::string& dir() const { return dir_; }

 private:
  PostgresServer(std::string dir, std::string bin, bool as_postgres)
      : dir_(std::move(dir)), bin_(std::move(bin)), as_postgres_(as_postgres) {}
  Status StartServer();
  Status StopServer();

  std::string dir_;  // the cluster is dir_/data, the socket dir_/.s.PGSQL.5432, the log dir_/log
  std::string bin_;  // /usr/lib/postgresql/<version>/bin
  bool as_postgres_;
  bool running_ = false;
};

}  // namespace devshare::testutil

#endif  // DEVSHARE_TESTS_TESTUTIL_POSTGRES_SERVER_H_
