// Helpers of the server integration tests: a small JSON-over-HTTP client (keep-alive, bearer
// token), the setup calls every test needs (hosts, tenants, tokens), and the offline invariant
// checker that opens the SQLite store directly after the server has stopped.
// Thread-safety: an Api object belongs to one thread; CheckStore is a pure function of the file.
#ifndef DEVSHARE_TESTS_INTEGRATION_SERVER_TEST_UTIL_H_
#define DEVSHARE_TESTS_INTEGRATION_SERVER_TEST_UTIL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace httplib {
class Client;
}

namespace devshare::it {

struct Reply {
  int status = 0;       // 0: no HTTP answer (connection refused/reset, timeout)
  std::string error;    // transport error when status == 0
  std::string raw;      // the body as received
  nlohmann::json body;  // parsed body; discarded value when it is not JSON
  bool is_json() const { return !body.is_discarded(); }
  // "METHOD path -> status body" for failure messages.
  std::string Describe() const;
  std::string request;  // "METHOD path"
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class Api {
 public:
  // `token` empty: no Authorization header.
  Api(const std::string& url, std::string token = "");
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  void set_token(std::string token) { token_ = std::move(token); }
  // Raw header value instead of "Bearer <token>" (e.g. a malformed scheme); empty = use token.
  void set_authorization(std::string value) { authorization_ = std::move(value); }

  Reply Get(const std::string& path);
  Reply Delete(const std::string& path);
  Reply Post(const std::string& path, const std::string& body, const Headers& extra = {});
  Reply Put(const std::string& path, const std::string& body, const Headers& extra = {});
  Reply Patch(const std::string& path, const std::string& body);
  Reply Post(const std::string& path, const char* body, const Headers& extra = {}) {
    return Post(path, std::string(body), extra);
  }
  Reply Put(const std::string& path, const char* body, const Headers& extra = {}) {
    return Put(path, std::string(body), extra);
  }
  Reply Post(const std::string& path, const nlohmann::json& body, const Headers& extra = {}) {
    return Post(path, body.dump(), extra);
  }
  Reply Put(const std::string& path, const nlohmann::json& body, const Headers& extra = {}) {
    return Put(path, body.dump(), extra);
  }

 private:
  Reply Send(const std::string& method, const std::string& path, const std::string* body,
             const Headers& extra);

  std::unique_ptr<httplib::Client> client_;
  std::string token_;
  std::string authorization_;
};

// --- setup through the API (each fails the current test on an unexpected answer) --------------

// PUT /v1/hosts/{name}; returns the status (201 new, 200 replaced).
int PutHost(Api& admin, const std::string& name, const nlohmann::json& inventory);
// POST /v1/tenants; returns the tenant id ("" on failure).
std::string CreateTenant(Api& admin, const std::string& name);
// POST /v1/tenants/{id}/tokens; returns the secret ("" on failure).
std::string CreateToken(Api& admin, const std::string& tenant_id, const std::string& role);
// Last audit seq visible to `admin` (pages through GET /v1/audit); -1 on failure.
int64_t AuditHeadSeq(Api& admin);

// The host shape of the concurrency tests: 16 cores, 64 GiB, two fractional GPUs and one
// exclusive GPU.
nlohmann::json TightHost(double cpu_ratio = 1.0, int64_t cpu_reserved_milli = 0,
                         int64_t memory_reserved_mib = 0);

// --- the invariant checker -------------------------------------------------------------------

struct StoredVm {
  std::string id, tenant_id, name, host;
  nlohmann::json allocation;  // {"cpu_milli", "memory_mib", "devices": [...]}
};

struct StoreCheck {
  std::vector<std::string> violations;  // empty = every invariant holds
  std::map<std::string, StoredVm> vms;  // by id, as stored
  std::map<std::string, uint64_t> host_generations;
  int64_t audit_records = 0;
  // Counts of audit records by "operation outcome", e.g. "vm.create ok".
  std::map<std::string, int64_t> audit_counts;
  std::string Summary() const;  // the violations, one a line (at most 50)
};

// Opens `db_path` with store::OpenStore + Load (the server must not be running) and checks:
//  I1 per host: sum of its VMs' cpu_milli / memory_mib <= (total - reserved) * ratio;
//  I2 per GPU: sum of milli <= 1000; sum of slices' memory_mib <= the GPU's memory_mib (when
//     known); a whole holder is the only holder; a share (whole=false) never sits on an
//     `exclusive` GPU; every device named exists on the VM's host;
//  I3 every VM's host and tenant exist (no orphan); its allocation matches its spec
//     (cpu, memory, GPU count/milli/memory_mib, distinct devices);
//  I4 NICs and disks: one slice per requested NIC / volume on an existing device of its network /
//     tier; per NIC distinct VFs, VFs <= vfs and bandwidth mins <= line_rate_mbps; per disk
//     GiB <= capacity_gib and IOPS reservations <= iops;
//  I5 the audit chain verifies against the head (VerifyAuditChain), and replaying the audit
//     records (vm.create ok -> add with detail.allocation, vm.resize and volume.attach|detach|
//     migrate ok -> replace, vm.delete ok -> remove) gives exactly the VM table (ids, hosts,
//     allocations);
//  I6 tenant networks: segment ids distinct, one tenant's CIDRs disjoint; a bound NIC is on a
//     network of its VM's tenant, inside its CIDR, with its segment; no address twice in a
//     network and no MAC twice (a tenant network's NIC counts on its physical network for I4).
StoreCheck CheckStore(const std::string& db_path);

}  // namespace devshare::it

#endif  // DEVSHARE_TESTS_INTEGRATION_SERVER_TEST_UTIL_H_
