// Rows of the control plane's durable ledger: tenants, tokens, hosts, VMs, idempotency keys and
// audit records. JSON-valued fields hold documents the server owns (inventory, spec, allocation);
// the store keeps them opaque.
// Thread-safety: plain value types; no internal synchronisation.
#ifndef DEVSHARE_STORE_RECORDS_H_
#define DEVSHARE_STORE_RECORDS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace devshare::store {

struct TenantRecord {
  std::string id;    // "t-<hex>", or "system" for the operators' built-in tenant
  std::string name;  // unique
  int64_t created_unix_ms = 0;
};

// A bearer token is never stored: only the hex SHA-256 of it.
struct TokenRecord {
  std::string id;          // "k-<hex>", shown in audit records instead of the secret
  std::string sha256_hex;  // unique
  std::string tenant_id;
  std::string role;  // "admin" | "member" | "reader"
  int64_t created_unix_ms = 0;
};

struct HostRecord {
  std::string name;
  std::string inventory_json;  // the body of PUT /v1/hosts/{name}, normalised
  uint64_t generation = 0;     // bumped by every change of the host or of an allocation on it
  int64_t updated_unix_ms = 0;
};

struct VmRecord {
  std::string id;  // "vm-<hex>"
  std::string tenant_id;
  std::string name;
  std::string host;             // host name it is allocated on
  std::string spec_json;        // the request as accepted (normalised)
  std::string allocation_json;  // concrete devices: {"cpu_milli":..,"gpus":[..]}
  std::string state;            // "allocated" (host agent states come later)
  int64_t created_unix_ms = 0;
  int64_t updated_unix_ms = 0;
};

// The answer given to a POST carrying an Idempotency-Key, replayed for a repeat of the key.
struct IdempotencyRecord {
  std::string tenant_id;
  std::string key;
  std::string request_sha256_hex;  // of method + path + body: a reuse with another body is refused
  int http_status = 0;
  std::string response_json;
  int64_t created_unix_ms = 0;
};

// One audit record; `hash` = SHA-256(prev_hash || canonical text of the other fields), see
// audit_chain.h.
struct AuditRecord {
  int64_t seq = 0;  // 1, 2, 3, ... without gaps
  int64_t time_unix_ms = 0;
  std::string tenant_id;
  std::string actor;        // token id, "admin-bootstrap", or "anonymous"
  std::string operation;    // e.g. "vm.create", "host.put", "auth.denied"
  std::string object;       // e.g. "vm/vm-1a2b", "host/h1"
  std::string outcome;      // "ok" or the error code, e.g. "forbidden", "unschedulable"
  std::string detail_json;  // operation-specific facts, e.g. the allocation of a vm.create
  std::string prev_hash_hex;
  std::string hash_hex;
};

// The newest audit record's seq and hash, kept beside the log (seq 0 and the genesis hash when
// the log is empty).
struct AuditHead {
  int64_t seq = 0;
  std::string hash_hex;
};

// Everything but the audit log, as loaded at server start.
struct StoreSnapshot {
  std::vector<TenantRecord> tenants;
  std::vector<TokenRecord> tokens;
  std::vector<HostRecord> hosts;
  std::vector<VmRecord> vms;
  std::vector<IdempotencyRecord> idempotency;
  int64_t audit_records = 0;
};

}  // namespace devshare::store

#endif  // DEVSHARE_STORE_RECORDS_H_
