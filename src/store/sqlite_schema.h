// The sqlite backend's schema: an ordered list of migrations (versions 1, 2, ... without gaps),
// each applied once in its own transaction and recorded in `schema_migrations`. Internal to
// src/store (the backend and its tests, which build databases of earlier versions from it).
// Thread-safety: constant data.
#ifndef DEVSHARE_STORE_SQLITE_SCHEMA_H_
#define DEVSHARE_STORE_SQLITE_SCHEMA_H_

#include <span>

namespace devshare::store {

struct SqliteMigration {
  int version;
  const char* sql;  // one or more statements
};

// Every migration, oldest first. Append new steps; never edit a released one.
std::span<const SqliteMigration> SqliteMigrations();

// The version of the last migration: the schema this build reads and writes.
int SqliteLatestSchemaVersion();

}  // namespace devshare::store

#endif  // DEVSHARE_STORE_SQLITE_SCHEMA_H_
