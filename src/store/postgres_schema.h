// The postgresql backend's schema: the migrations of src/store/postgres/NNNN_what.sql, embedded
// at build time (postgres_migrations.cc.in), oldest first; version = the file's number. Each
// is applied once, recorded in `schema_migrations`. Internal to src/store.
// Thread-safety: constant data.
#ifndef DEVSHARE_STORE_POSTGRES_SCHEMA_H_
#define DEVSHARE_STORE_POSTGRES_SCHEMA_H_

#include <span>

namespace devshare::store {

struct PostgresMigration {
  int version;
  const char* file;  // "0001_schema.sql"
  const char* sql;   // one or more statements
};

// Every migration, oldest first (versions 1, 2, ... without gaps). Add a file; never edit an
// applied one.
std::span<const PostgresMigration> PostgresMigrations();

// The version of the last migration: the schema this build reads and writes.
int PostgresLatestSchemaVersion();

}  // namespace devshare::store

#endif  // DEVSHARE_STORE_POSTGRES_SCHEMA_H_
