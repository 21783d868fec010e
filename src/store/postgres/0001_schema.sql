-- devshare's PostgreSQL schema, version 1: the same tables and constraints as the sqlite
-- backend's schema after its migrations 1-3 (tenants, tokens, hosts, VMs, idempotency keys, the
-- audit log and its head, images, networks). Applied once, in one transaction, by
-- OpenPostgresStore; schema_migrations records it. New versions go in new files
-- (NNNN_what.sql), never by editing an applied one.
CREATE TABLE tenants (
  id              TEXT   NOT NULL PRIMARY KEY,
  name            TEXT   NOT NULL UNIQUE,
  created_unix_ms BIGINT NOT NULL
);
CREATE TABLE tokens (
  id              TEXT   NOT NULL PRIMARY KEY,
  sha256_hex      TEXT   NOT NULL UNIQUE,
  tenant_id       TEXT   NOT NULL REFERENCES tenants(id),
  role            TEXT   NOT NULL,
  created_unix_ms BIGINT NOT NULL,
  host            TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX tokens_by_tenant ON tokens(tenant_id);
CREATE INDEX tokens_by_host ON tokens(host);
CREATE TABLE hosts (
  name            TEXT    NOT NULL PRIMARY KEY,
  inventory_json  TEXT    NOT NULL,
  generation      BIGINT  NOT NULL CHECK (generation >= 1),
  updated_unix_ms BIGINT  NOT NULL,
  schedule        TEXT    NOT NULL DEFAULT 'open',
  managed         BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE vms (
  id              TEXT   NOT NULL PRIMARY KEY,
  tenant_id       TEXT   NOT NULL REFERENCES tenants(id),
  name            TEXT   NOT NULL,
  host            TEXT   NOT NULL REFERENCES hosts(name),
  spec_json       TEXT   NOT NULL,
  allocation_json TEXT   NOT NULL,
  state           TEXT   NOT NULL,
  created_unix_ms BIGINT NOT NULL,
  updated_unix_ms BIGINT NOT NULL,
  power           TEXT   NOT NULL DEFAULT 'running',
  reboot_seq      BIGINT NOT NULL DEFAULT 0,
  state_detail    TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX vms_by_host ON vms(host);
CREATE INDEX vms_by_tenant ON vms(tenant_id);
CREATE TABLE idempotency (
  tenant_id          TEXT    NOT NULL,
  key                TEXT    NOT NULL,
  request_sha256_hex TEXT    NOT NULL,
  http_status        INTEGER NOT NULL,
  response_json      TEXT    NOT NULL,
  created_unix_ms    BIGINT  NOT NULL,
  PRIMARY KEY (tenant_id, key)
);
CREATE TABLE audit (
  seq           BIGINT NOT NULL PRIMARY KEY CHECK (seq >= 1),
  time_unix_ms  BIGINT NOT NULL,
  tenant_id     TEXT   NOT NULL,
  actor         TEXT   NOT NULL,
  operation     TEXT   NOT NULL,
  object        TEXT   NOT NULL,
  outcome       TEXT   NOT NULL,
  detail_json   TEXT   NOT NULL,
  prev_hash_hex TEXT   NOT NULL,
  hash_hex      TEXT   NOT NULL
);
-- One row: the chain's head. Every append locks it (SELECT ... FOR UPDATE) until its
-- transaction ends, so replicas on one database extend one chain, without forks or gaps.
CREATE TABLE audit_head (
  id       INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
  seq      BIGINT  NOT NULL,
  hash_hex TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash_hex)
  VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE images (
  name            TEXT   NOT NULL PRIMARY KEY,
  kind            TEXT   NOT NULL,
  file            TEXT   NOT NULL,
  kernel          TEXT   NOT NULL,
  initrd          TEXT   NOT NULL,
  cmdline         TEXT   NOT NULL,
  created_unix_ms BIGINT NOT NULL
);
CREATE TABLE networks (
  id               TEXT   NOT NULL PRIMARY KEY,
  tenant_id        TEXT   NOT NULL REFERENCES tenants(id),
  name             TEXT   NOT NULL,
  cidr             TEXT   NOT NULL,
  segment_id       BIGINT NOT NULL UNIQUE CHECK (segment_id BETWEEN 1 AND 4094),
  physical_network TEXT   NOT NULL,
  created_unix_ms  BIGINT NOT NULL,
  UNIQUE (tenant_id, name)
);
