// PostgresServer: initdb + pg_ctl on a temporary cluster, unix socket only.
#include "tests/testutil/postgres_server.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace devshare::testutil {
namespace {

namespace fs = std::filesystem;

// Runs argv with stdout and stderr appended to `log`; returns the exit code (-1: not run).
int Run(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Tail(const std::string& path, size_t max_bytes = 1500) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
  return s;
}

// The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl ("" when none).
std::string FindBinDir() {
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const fs::path bin = e.path() / "bin";
    if (fs::exists(bin / "initdb") && fs::exists(bin / "pg_ctl")) {
      found.emplace_back(std::atoi(e.path().filename().c_str()), bin.string());
    }
  }
  if (found.empty()) return "";
  return std::max_element(found.begin(), found.end())->second;
}

}  // namespace

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  const std::string bin = FindBinDir();
  if (bin.empty()) {
    return Status::Unavailable(
        "no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)");
  }
  const bool root = geteuid() == 0;
  uid_t uid = 0;
  gid_t gid = 0;
  if (root) {
    const passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      return Status::Unavailable(
          "running as root and there is no 'postgres' account to run the server as (initdb "
          "refuses root)");
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  std::string tmpl = (fs::temp_directory_path() / "devshare-pg-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return Status::Unavailable("cannot create a temporary folder for PostgreSQL");
  }
  std::unique_ptr<PostgresServer> s(new PostgresServer(tmpl, bin, root));
  chmod(s->dir_.c_str(), 0755);
  if (root && chown(s->dir_.c_str(), uid, gid) != 0) {
    return Status::Unavailable("cannot give " + s->dir_ + " to the postgres account");
  }
  std::vector<std::string> initdb = {bin + "/initdb", "-D",         s->dir_ + "/data", "-U",
                                     "devshare",      "-A",         "trust",           "-E",
                                     "UTF8",          "--locale=C", "--no-sync"};
  if (root) initdb.insert(initdb.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
  const std::string log = s->dir_ + "/initdb.log";
  if (Run(initdb, log) != 0) {
    return Status::Unavailable("initdb failed: " + Tail(log));
  }
  DS_RETURN_IF_ERROR(s->StartServer());
  return s;
}

PostgresServer::~PostgresServer() {
  (void)StopServer();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

Status PostgresServer::StartServer() {
  std::vector<std::string> argv = {bin_ + "/pg_ctl",
                                   "-D",
                                   dir_ + "/data",
                                   "-l",
                                   dir_ + "/log",
                                   "-w",
                                   "-t",
                                   "60",
                                   "-o",
                                   "-k " + dir_ + " -c listen_addresses=''",
                                   "start"};
  if (as_postgres_) argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
  const std::string log = dir_ + "/pg_ctl.log";
  if (Run(argv, log) != 0) {
    return Status::Unavailable("pg_ctl start failed: " + Tail(log) + "\n" + Tail(dir_ + "/log"));
  }
  running_ = true;
  return Status::Ok();
}

Status PostgresServer::StopServer() {
  if (!running_) return Status::Ok();
  std::vector<std::string> argv = {bin_ + "/pg_ctl", "-D", dir_ + "/data", "-m",
                                   "immediate",      "-w", "stop"};
  if (as_postgres_) argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
  const std::string log = dir_ + "/pg_ctl.log";
  running_ = false;
  if (Run(argv, log) != 0) return Status::Internal("pg_ctl stop failed: " + Tail(log));
  return Status::Ok();
}

Status PostgresServer::Restart() {
  DS_RETURN_IF_ERROR(StopServer());
  return StartServer();
}

std::string PostgresServer::Url(const std::string& db) const {
  return "postgresql:///" + db + "?host=" + dir_ + "&user=devshare";
}

Result<std::string> PostgresServer::Query(const std::string& db, const std::string& sql) const {
  PGconn* c = PQconnectdb(Url(db).c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    PQfinish(c);
    return Status::Unavailable("connecting to " + Url(db) + ": " + msg);
  }
  PGresult* r = PQexec(c, sql.c_str());
  const ExecStatusType st = PQresultStatus(r);
  Result<std::string> out = std::string();
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    out = Status::Internal(sql + ": " + PQresultErrorMessage(r));
  } else if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) {
    out = std::string(PQgetvalue(r, 0, 0));
  }
  PQclear(r);
  PQfinish(c);
  return out;
}

Status PostgresServer::CreateDatabase(const std::string& db) const {
  return Query("postgres", "CREATE DATABASE " + db).status();
}

}  // namespace devshare::testutil
