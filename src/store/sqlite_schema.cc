// The sqlite schema's migrations; see sqlite_schema.h.
#include "store/sqlite_schema.h"

#include <iterator>

namespace devshare::store {
namespace {

constexpr SqliteMigration kMigrations[] = {
    // 1: tenants, tokens, hosts, VMs, idempotency keys, the audit log and its head.
    {1, R"sql(
CREATE TABLE tenants (
  id              TEXT    NOT NULL PRIMARY KEY,
  name            TEXT    NOT NULL UNIQUE,
  created_unix_ms INTEGER NOT NULL
);
CREATE TABLE tokens (
  id              TEXT    NOT NULL PRIMARY KEY,
  sha256_hex      TEXT    NOT NULL UNIQUE,
  tenant_id       TEXT    NOT NULL REFERENCES tenants(id),
  role            TEXT    NOT NULL,
  created_unix_ms INTEGER NOT NULL
);
CREATE INDEX tokens_by_tenant ON tokens(tenant_id);
CREATE TABLE hosts (
  name            TEXT    NOT NULL PRIMARY KEY,
  inventory_json  TEXT    NOT NULL,
  generation      INTEGER NOT NULL CHECK (generation >= 1),
  updated_unix_ms INTEGER NOT NULL
);
CREATE TABLE vms (
  id              TEXT    NOT NULL PRIMARY KEY,
  tenant_id       TEXT    NOT NULL REFERENCES tenants(id),
  name            TEXT    NOT NULL,
  host            TEXT    NOT NULL REFERENCES hosts(name),
  spec_json       TEXT    NOT NULL,
  allocation_json TEXT    NOT NULL,
  state           TEXT    NOT NULL,
  created_unix_ms INTEGER NOT NULL,
  updated_unix_ms INTEGER NOT NULL
);
CREATE INDEX vms_by_host ON vms(host);
CREATE INDEX vms_by_tenant ON vms(tenant_id);
CREATE TABLE idempotency (
  tenant_id          TEXT    NOT NULL,
  key                TEXT    NOT NULL,
  request_sha256_hex TEXT    NOT NULL,
  http_status        INTEGER NOT NULL,
  response_json      TEXT    NOT NULL,
  created_unix_ms    INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, key)
);
CREATE TABLE audit (
  seq           INTEGER PRIMARY KEY CHECK (seq >= 1),
  time_unix_ms  INTEGER NOT NULL,
  tenant_id     TEXT    NOT NULL,
  actor         TEXT    NOT NULL,
  operation     TEXT    NOT NULL,
  object        TEXT    NOT NULL,
  outcome       TEXT    NOT NULL,
  detail_json   TEXT    NOT NULL,
  prev_hash_hex TEXT    NOT NULL,
  hash_hex      TEXT    NOT NULL
);
CREATE TABLE audit_head (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  seq      INTEGER NOT NULL,
  hash_hex TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash_hex)
  VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
)sql"},
    // 2 (fleet): agent tokens scoped to a host, host schedule + managed flag, VM desired power,
    // reboot sequence and observed-state detail, the image catalogue. Existing rows get the
    // defaults: tokens unscoped, hosts open and unmanaged, VMs running with no reboot asked.
    {2, R"sql(
ALTER TABLE tokens ADD COLUMN host TEXT NOT NULL DEFAULT '';
CREATE INDEX tokens_by_host ON tokens(host);
ALTER TABLE hosts ADD COLUMN schedule TEXT NOT NULL DEFAULT 'open';
ALTER TABLE hosts ADD COLUMN managed INTEGER NOT NULL DEFAULT 0 CHECK (managed IN (0, 1));
ALTER TABLE vms ADD COLUMN power TEXT NOT NULL DEFAULT 'running';
ALTER TABLE vms ADD COLUMN reboot_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vms ADD COLUMN state_detail TEXT NOT NULL DEFAULT '';
CREATE TABLE images (
  name            TEXT    NOT NULL PRIMARY KEY,
  kind            TEXT    NOT NULL,
  file            TEXT    NOT NULL,
  kernel          TEXT    NOT NULL,
  initrd          TEXT    NOT NULL,
  cmdline         TEXT    NOT NULL,
  created_unix_ms INTEGER NOT NULL
);
)sql"},
    // 3 (networks): tenants' networks, each with a segment id unique among the existing ones.
    {3, R"sql(
CREATE TABLE networks (
  id               TEXT    NOT NULL PRIMARY KEY,
  tenant_id        TEXT    NOT NULL REFERENCES tenants(id),
  name             TEXT    NOT NULL,
  cidr             TEXT    NOT NULL,
  segment_id       INTEGER NOT NULL UNIQUE CHECK (segment_id BETWEEN 1 AND 4094),
  physical_network TEXT    NOT NULL,
  created_unix_ms  INTEGER NOT NULL,
  UNIQUE (tenant_id, name)
);
)sql"},
    // 4 (change feed): the rows each committed Txn changed, numbered in commit order, for
    // replicas to refresh what another one changed (records.h ChangeRecord).
    {4, R"sql(
CREATE TABLE changes (
  seq  INTEGER NOT NULL CHECK (seq >= 1),
  kind TEXT    NOT NULL,
  key  TEXT    NOT NULL,
  PRIMARY KEY (seq, kind, key)
);
CREATE TABLE change_head (
  id  INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL
);
INSERT INTO change_head (id, seq) VALUES (1, 0);
)sql"},
};

}  // namespace

std::span<const SqliteMigration> SqliteMigrations() { return kMigrations; }

int SqliteLatestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

}  // namespace devshare::store
