// PgConnection: libpq connection, prepared statements, SQLSTATE -> Status.
#include "store/postgres_connection.h"

#include <charconv>
#include <cstring>
#include <utility>

namespace devshare::store {
namespace {

// The message of a failed result or connection, trimmed of libpq's trailing newline.
std::string Message(const PGresult* r, const PGconn* c) {
  const char* m = r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(c);
  std::string s = m != nullptr ? m : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.empty() && c != nullptr) s = PQerrorMessage(c);
  return s;
}

// SQLSTATE classes (PostgreSQL manual, appendix A) to our codes.
Status FromSqlState(std::string_view state, std::string msg) {
  if (state == "23505") return Status::AlreadyExists(std::move(msg));  // unique_violation
  if (state == "23503") return Status::NotFound(std::move(msg));       // foreign_key_violation
  if (state == "40001" || state == "40P01") {  // serialization_failure, deadlock_detected
    return Status::Aborted(std::move(msg));
  }
  const std::string_view cls = state.substr(0, 2);
  if (cls == "22" || cls == "23" || cls == "42") return Status::InvalidArgument(std::move(msg));
  // connection_exception, operator_intervention (shutdown), insufficient_resources,
  // system_error, lock_not_available.
  if (cls == "08" || cls == "57" || cls == "53" || cls == "58" || state == "55P03") {
    return Status::Unavailable(std::move(msg));
  }
  if (cls == "XX") return Status::DataLoss(std::move(msg));
  return Status::Internal(std::move(msg));
}

}  // namespace

PgResult& PgResult::operator=(PgResult&& o) noexcept {
  if (this != &o) {
    if (r_ != nullptr) PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

int64_t PgResult::affected() const {
  const char* n = PQcmdTuples(r_);
  int64_t v = 0;
  if (n != nullptr) std::from_chars(n, n + std::strlen(n), v);
  return v;
}

std::string PgResult::Text(int row, int col) const {
  return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
}

int64_t PgResult::Int(int row, int col) const {
  const char* p = PQgetvalue(r_, row, col);
  int64_t v = 0;
  std::from_chars(p, p + PQgetlength(r_, row, col), v);
  return v;
}

PgParams& PgParams::Add(std::string_view v) {
  values_.emplace_back(std::string(v));
  return *this;
}

PgParams& PgParams::Add(int64_t v) {
  values_.emplace_back(std::to_string(v));
  return *this;
}

PgParams& PgParams::AddNull() {
  values_.emplace_back(std::nullopt);
  return *this;
}

std::vector<const char*> PgParams::Pointers() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (const std::optional<std::string>& v : values_) out.push_back(v ? v->c_str() : nullptr);
  return out;
}

std::string PgDisplayUrl(std::string_view url) {
  std::string s(url);
  // scheme://user:password@host...: drop ":password".
  const size_t authority = s.find("://");
  if (authority != std::string::npos) {
    const size_t start = authority + 3;
    const size_t end = s.find_first_of("/?", start);
    const size_t at = s.rfind('@', end == std::string::npos ? s.size() : end);
    if (at != std::string::npos && at >= start) {
      const size_t colon = s.find(':', start);
      if (colon != std::string::npos && colon < at) s.erase(colon, at - colon);
    }
  }
  // ...?password=secret&...: drop the parameter's value.
  for (size_t p = s.find("password="); p != std::string::npos; p = s.find("password=", p + 1)) {
    const size_t v = p + std::strlen("password=");
    const size_t e = s.find_first_of("& ", v);
    s.replace(v, (e == std::string::npos ? s.size() : e) - v, "***");
  }
  return s;
}

PgConnection::PgConnection(PGconn* conn, std::string display,
                           const std::vector<const char*>* statements)
    : conn_(conn),
      display_(std::move(display)),
      statements_(statements),
      prepared_(statements->size(), false) {}

PgConnection::~PgConnection() { PQfinish(conn_); }

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(
    const std::string& url, const std::string& display,
    const std::vector<const char*>* statements) {
  PGconn* c = PQconnectdb(url.c_str());
  if (c == nullptr) return Status::Unavailable("cannot connect to " + display + ": out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    Status s = Status::Unavailable("cannot connect to " + display + ": " + Message(nullptr, c));
    PQfinish(c);
    return s;
  }
  std::unique_ptr<PgConnection> conn(new PgConnection(c, display, statements));
  // Notices (e.g. "there is no transaction in progress") are not errors: keep them off stderr.
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  return conn;
}

Status PgConnection::Reset() {
  PQreset(conn_);
  prepared_.assign(prepared_.size(), false);
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Status::Unavailable("lost the connection to " + display_ +
                               " and cannot reconnect: " + Message(nullptr, conn_));
  }
  return Status::Ok();
}

bool PgConnection::in_transaction() const {
  const PGTransactionStatusType t = PQtransactionStatus(conn_);
  return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

Result<PgResult> PgConnection::Check(PGresult* r, const std::string& what) {
  const ExecStatusType st = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return PgResult(r);
  std::string msg = what + " on " + display_ + ": " + Message(r, conn_);
  const char* field = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string state = field != nullptr ? field : "";
  if (r != nullptr) PQclear(r);
  if (state.empty() || PQstatus(conn_) != CONNECTION_OK) {
    return Status::Unavailable(std::move(msg));  // no answer from the server
  }
  return FromSqlState(state, std::move(msg));
}

Result<PgResult> PgConnection::Run(size_t index, const PgParams& params, const std::string& what) {
  const std::string name = "ds" + std::to_string(index);
  if (!prepared_[index]) {
    PGresult* p = PQprepare(conn_, name.c_str(), (*statements_)[index], 0, nullptr);
    DS_RETURN_IF_ERROR(
        Check(p, "preparing \"" + std::string((*statements_)[index]) + "\" for " + what).status());
    prepared_[index] = true;
  }
  const std::vector<const char*> values = params.Pointers();
  PGresult* r = PQexecPrepared(conn_, name.c_str(), params.size(), values.data(), nullptr, nullptr,
                               /*resultFormat=*/0);
  return Check(r, what);
}

Result<PgResult> PgConnection::Exec(const std::string& sql, const std::string& what) {
  return Check(PQexec(conn_, sql.c_str()), what);
}

}  // namespace devshare::store
