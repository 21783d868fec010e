// Rows of the control plane's durable ledger: tenants, tokens, hosts, VMs, images, networks,
// idempotency keys and audit records. JSON-valued fields hold documents the server owns (inventory,
// spec, allocation); the store keeps them opaque. Thread-safety: plain value types; no internal
// synchronisation.
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
  std::string role;  // "admin" | "member" | "reader" | "agent"
  int64_t created_unix_ms = 0;
  std::string host;  // role "agent": the host it is scoped to (need not exist yet); else empty
};

struct HostRecord {
  std::string name;
  std::string inventory_json;  // the body of PUT /v1/hosts/{name}, normalised
  uint64_t generation = 0;     // bumped by every change of the host or of an allocation on it
  int64_t updated_unix_ms = 0;
  std::string schedule = "open";  // "open" | "cordoned" | "draining"; placement uses open only
  bool managed = false;           // an agent registered it or heartbeated (it can be unreachable)
};

struct VmRecord {
  std::string id;  // "vm-<hex>"
  std::string tenant_id;
  std::string name;
  std::string host;             // host name it is allocated on
  std::string spec_json;        // the request as accepted (normalised)
  std::string allocation_json;  // concrete devices: {"cpu_milli":..,"gpus":[..]}
  // Observed state, written when the host's agent reports a change: "allocated" (host without
  // agent) | "creating" | "running" | "stopped" | "failed".
  std::string state;
  int64_t created_unix_ms = 0;
  int64_t updated_unix_ms = 0;
  std::string power = "running";  // desired power: "running" | "stopped"
  int64_t reboot_seq = 0;         // bumped by each reboot request
  std::string state_detail;       // why the observed state is what it is (the libvirt reason)
};

// A boot image in the server's catalogue. Paths are absolute on the agents' machines.
struct ImageRecord {
  std::string name;  // unique
  std::string kind;  // "disk" (qcow2 base `file`) | "kernel" (direct boot of kernel + initrd)
  std::string file;
  std::string kernel;
  std::string initrd;
  std::string cmdline;
  int64_t created_unix_ms = 0;
};

// A tenant's network: an isolated L2 segment on every host with a VM on it. The ledger gives it
// a segment id (VLAN / VXLAN id, unique among the networks that exist) and each NIC on it an
// address of `cidr`.
struct NetworkRecord {
  std::string id;  // "net-<hex>"
  std::string tenant_id;
  std::string name;              // unique within the tenant
  std::string cidr;              // "10.1.0.0/24", normalised (host bits zero)
  int64_t segment_id = 0;        // 1..4094
  std::string physical_network;  // the host NICs' network it is carried on ("default")
  int64_t created_unix_ms = 0;
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
// One row of the change feed: the committed Txn numbered `seq` (1, 2, 3, ... in commit order,
// without gaps; one number per Txn that wrote anything) changed the row `key` of `kind`:
// "tenant" (id), "token" (id), "host" (name), "vm" (id), "image" (name), "network" (id) or
// "idempotency" (tenant_id + "/" + key). Replicas sharing one database read it to refresh just
// what another replica changed. The audit log is not in it (it has its own seq).
struct ChangeRecord {
  int64_t seq = 0;
  std::string kind;
  std::string key;
};

// The change-feed key of an idempotency record (tenant ids hold no '/').
inline std::string IdempotencyChangeKey(const std::string& tenant_id, const std::string& key) {
  return tenant_id + "/" + key;
}

struct StoreSnapshot {
  std::vector<TenantRecord> tenants;
  std::vector<TokenRecord> tokens;
  std::vector<HostRecord> hosts;
  std::vector<VmRecord> vms;
  std::vector<IdempotencyRecord> idempotency;
  int64_t audit_records = 0;
  std::vector<ImageRecord> images;      // by name
  std::vector<NetworkRecord> networks;  // by id
  int64_t change_seq = 0;               // the change feed's head this snapshot includes
};

// What changed after a seq, read in one snapshot: the change feed's rows after it and the
// current version of (at least) every row they name; a named row absent from `rows` was
// deleted. rows.change_seq is the feed's head in that snapshot (the last seq of `changes`).
struct ChangedRows {
  std::vector<ChangeRecord> changes;
  StoreSnapshot rows;
};

}  // namespace devshare::store

#endif  // DEVSHARE_STORE_RECORDS_H_
