// OpenStore: picks a Store backend by the URL's scheme from one explicit registry table.
// Thread-safety: stateless; the table is constant.
#include <array>
#include <cctype>
#include <memory>
#include <string>
#include <string_view>

#include "devshare/store/store.h"

namespace devshare::store {
namespace {

using StoreFactory = Result<std::unique_ptr<Store>> (*)(std::string_view rest);

Result<std::unique_ptr<Store>> OpenMemory(std::string_view rest) {
  if (!rest.empty()) {
    return Status::InvalidArgument(
        "the memory store takes no path (got 'memory:" + std::string(rest) + "')");
  }
  return NewMemoryStore();
}

Result<std::unique_ptr<Store>> OpenSqlite(std::string_view rest) {
  if (rest.empty()) return Status::InvalidArgument("sqlite store URL without a path ('sqlite:')");
  return OpenSqliteStore(std::string(rest));
}

// libpq takes the whole URI ("postgresql://..."), so the scheme goes back in front.
Result<std::unique_ptr<Store>> OpenPostgres(std::string_view rest) {
  if (rest.rfind("//", 0) != 0) {
    return Status::InvalidArgument(
        "postgresql store URL must be postgresql://[user@]host/db (got 'postgresql:" +
        std::string(rest) + "')");
  }
  return OpenPostgresStore("postgresql:" + std::string(rest));
}

struct SchemeEntry {
  std::string_view scheme;
  StoreFactory open;
};

// The registry: every backend, by its stable scheme name. Add a backend here.
constexpr std::array<SchemeEntry, 4> kSchemes = {{
    {"memory", &OpenMemory},
    {"sqlite", &OpenSqlite},
    {"postgresql", &OpenPostgres},
    {"postgres", &OpenPostgres},
}};

std::string KnownSchemes() {
  std::string out;
  for (const SchemeEntry& e : kSchemes) {
    if (!out.empty()) out += ", ";
    out += e.scheme;
  }
  return out;
}

// RFC 3986 scheme: a letter, then letters, digits, '+', '-', '.'.
bool IsScheme(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (!std::isalnum(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Result<std::unique_ptr<Store>> OpenStore(std::string_view url) {
  if (url.empty()) {
    return Status::InvalidArgument(
        "empty store URL (use memory:, sqlite:PATH, postgresql://... or a path)");
  }
  const size_t colon = url.find(':');
  if (colon != std::string_view::npos) {
    const std::string_view scheme = url.substr(0, colon);
    const std::string_view rest = url.substr(colon + 1);
    // "C:\db" or "C:/db" is a Windows-like path, not a scheme.
    const bool drive_letter =
        scheme.size() == 1 && !rest.empty() && (rest[0] == '\\' || rest[0] == '/');
    if (IsScheme(scheme) && !drive_letter) {
      const std::string name = Lower(scheme);
      for (const SchemeEntry& e : kSchemes) {
        if (e.scheme == name) return e.open(rest);
      }
      return Status::InvalidArgument("unknown store scheme '" + std::string(scheme) +
                                     "' (known: " + KnownSchemes() + ")");
    }
  }
  return OpenSqliteStore(std::string(url));  // a plain path
}

#ifndef DEVSHARE_WITH_POSTGRES
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string&) {
  return Status::Unavailable(
      "this devshare was built without PostgreSQL support (libpq-dev was missing at build "
      "time): it cannot open a postgresql:// store");
}
#endif

}  // namespace devshare::store
