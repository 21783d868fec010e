// ApiClient: the typed client of the control plane's REST API (docs/api.md) used by the
// `vm|host|tenant` commands and `bench api`. It owns the server address, the bearer token, the
// timeouts and the HTTP connection, and turns every answer into a Result in one place.
// Thread-safety: not thread-safe (one connection and one last_error()); use one per thread.
#ifndef DEVSHARE_CLI_API_CLIENT_H_
#define DEVSHARE_CLI_API_CLIENT_H_

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "devshare/core/result.h"
#include "devshare/core/status.h"

namespace httplib {
class Client;
}  // namespace httplib

namespace devshare::cli {

// A 2xx answer: the body as sent and, when it is JSON, parsed (else null).
struct ApiReply {
  int http_status = 0;
  std::string body;
  nlohmann::json doc;
};

// Why the last call failed: the server's error answer, or no answer at all (http_status 0).
struct ApiError {
  int http_status = 0;  // 0: the server could not be reached
  std::string code;     // the body's "code", else "http_<status>"; "unavailable" without answer
  std::string message;  // the body's "message", else the start of the body, else "HTTP <status>"
  nlohmann::json details = nlohmann::json::object();  // the body's "details" (unschedulable ...)
  std::string body;                                   // the raw error body
  bool structured = false;                            // the body was {"code": ...}
};

struct ApiClientOptions {
  int connect_timeout_s = 5;
  int read_timeout_s = 60;
  int write_timeout_s = 60;
  bool keep_alive = false;  // keep one connection open across calls (bench api)
};

class ApiClient {
 public:
  // `server_url` is http://HOST:PORT (a bare HOST:PORT means the same; trailing '/' ignored).
  // InvalidArgument naming --server for https, a path, a bad port or no host.
  static Result<ApiClient> Create(const std::string& server_url, std::string token,
                                  ApiClientOptions options = {});
  ApiClient(ApiClient&&) noexcept;
  ApiClient& operator=(ApiClient&&) noexcept;
  ~ApiClient();

  const std::string& url() const { return url_; }  // http://HOST:PORT, no trailing '/'
  const std::string& token() const { return token_; }

  // One request. A 2xx answer is the reply. Otherwise the Status is:
  //   Unavailable "cannot reach the server at URL (METHOD PATH): why" without an answer;
  //   for an answer, the code of StatusCodeForHttp(status) and the message "<code>: <message>";
  // and last_error() describes it (ExitCodeForHttpStatus(last_error().http_status) is the exit
  // code of a client command).
  Result<ApiReply> Call(const std::string& method, const std::string& path,
                        const std::string& body = "", const std::string& idempotency_key = "");
  const ApiError& last_error() const { return last_error_; }

  // The endpoints (docs/api.md#endpoints); `key` is an optional Idempotency-Key.
  Result<ApiReply> CreateTenant(const std::string& name, const std::string& key = "");
  Result<ApiReply> ListTenants();
  Result<ApiReply> CreateToken(const std::string& tenant_id, const std::string& role,
                               const std::string& key = "");
  Result<ApiReply> PutHost(const std::string& name, const std::string& inventory_json);
  Result<ApiReply> ListHosts();
  Result<ApiReply> GetHost(const std::string& name);
  Result<ApiReply> CreateVm(const nlohmann::json& body, const std::string& key = "");
  Result<ApiReply> ListVms();
  Result<ApiReply> GetVm(const std::string& id);
  Result<ApiReply> DeleteVm(const std::string& id, bool force = false);
  // start | stop | reboot.
  Result<ApiReply> VmAction(const std::string& id, const std::string& action);
  // The serial console from byte `offset`, waiting up to wait_ms for new output.
  Result<ApiReply> ReadConsole(const std::string& id, int64_t offset, int64_t wait_ms);
  // cordon | uncordon | drain (`replace`: re-place the host's VMs elsewhere).
  Result<ApiReply> HostAction(const std::string& name, const std::string& action,
                              bool replace = false);
  Result<ApiReply> DeleteHost(const std::string& name);
  Result<ApiReply> CreateAgentToken(const std::string& host, const std::string& key = "");
  Result<ApiReply> CreateImage(const nlohmann::json& body);
  Result<ApiReply> ListImages();
  Result<ApiReply> DeleteImage(const std::string& name);
  Result<ApiReply> ResizeVm(const std::string& id, const nlohmann::json& body,
                            const std::string& key = "");
  Result<ApiReply> ListAudit(int64_t after, int64_t limit);
  // The volumes of VM `id`: list, attach `body` (a VM spec's volume object), detach `name`,
  // migrate `name` to `tier`.
  Result<ApiReply> ListVolumes(const std::string& id);
  Result<ApiReply> AttachVolume(const std::string& id, const nlohmann::json& body,
                                const std::string& key = "");
  Result<ApiReply> DetachVolume(const std::string& id, const std::string& name);
  Result<ApiReply> MigrateVolume(const std::string& id, const std::string& name,
                                 const std::string& tier, const std::string& key = "");
  // Tenant networks (docs/api.md#networks): create from `body` ({"name", "cidr",
  // "physical_network"}), list, get and delete by id.
  Result<ApiReply> CreateNetwork(const nlohmann::json& body, const std::string& key = "");
  Result<ApiReply> ListNetworks();
  Result<ApiReply> GetNetwork(const std::string& id);
  Result<ApiReply> DeleteNetwork(const std::string& id);

 private:
  ApiClient() = default;

  std::string url_;
  std::string host_;
  int port_ = 80;
  std::string token_;
  ApiClientOptions options_;
  std::unique_ptr<httplib::Client> http_;
  ApiError last_error_;
};

// The Status code of a non-2xx HTTP answer: 400, 413, 422 InvalidArgument; 401, 403
// FailedPrecondition; 404 NotFound; 409 Aborted; 503 Unavailable; anything else Internal.
StatusCode StatusCodeForHttp(int http_status);

// Percent-encodes one path segment (ids and names are [A-Za-z0-9._-], but users type anything).
std::string PathSegment(const std::string& s);

}  // namespace devshare::cli

#endif  // DEVSHARE_CLI_API_CLIENT_H_
