// ApiClient: URL parsing, one HTTP request through cpp-httplib, and the mapping of answers to
// Result / ApiError.
#include "cli/api_client.h"

#include <httplib.h>

#include <cctype>
#include <cstdlib>
#include <utility>

#include "devshare/agent/http_control_link.h"

namespace devshare::cli {
namespace {

using nlohmann::json;

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string StringField(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

}  // namespace

StatusCode StatusCodeForHttp(int http_status) {
  switch (http_status) {
    case 400:
    case 413:
    case 422:
      return StatusCode::kInvalidArgument;
    case 401:
    case 403:
      return StatusCode::kFailedPrecondition;
    case 404:
      return StatusCode::kNotFound;
    case 409:
      return StatusCode::kAborted;
    case 503:
      return StatusCode::kUnavailable;
    default:
      return StatusCode::kInternal;
  }
}

Result<ApiClient> ApiClient::Create(const std::string& server_url, std::string token,
                                    ApiClientOptions options) {
  ApiClient c;
  // One set of --server rules for every client (agents use the same parser).
  DS_ASSIGN_OR_RETURN(const agent::ServerAddress address, agent::ParseServerUrl(server_url));
  c.url_ = address.url;
  c.host_ = address.host;
  c.port_ = address.port;
  c.token_ = std::move(token);
  c.options_ = options;
  c.http_ = std::make_unique<httplib::Client>(c.host_, c.port_);
  c.http_->set_connection_timeout(options.connect_timeout_s, 0);
  c.http_->set_read_timeout(options.read_timeout_s, 0);
  c.http_->set_write_timeout(options.write_timeout_s, 0);
  if (options.keep_alive) {
    c.http_->set_keep_alive(true);
    c.http_->set_tcp_nodelay(true);
  }
  return c;
}

ApiClient::ApiClient(ApiClient&&) noexcept = default;
ApiClient& ApiClient::operator=(ApiClient&&) noexcept = default;
ApiClient::~ApiClient() = default;

Result<ApiReply> ApiClient::Call(const std::string& method, const std::string& path,
                                 const std::string& body, const std::string& idempotency_key) {
  last_error_ = ApiError{};
  httplib::Headers headers = {{"Accept", "application/json"}};
  if (!token_.empty()) headers.emplace("Authorization", "Bearer " + token_);
  if (!idempotency_key.empty()) headers.emplace("Idempotency-Key", idempotency_key);
  httplib::Result res = [&] {
    if (method == "GET") return http_->Get(path, headers);
    if (method == "POST") return http_->Post(path, headers, body, "application/json");
    if (method == "PUT") return http_->Put(path, headers, body, "application/json");
    return http_->Delete(path, headers);
  }();
  if (!res) {
    const std::string why = agent::DescribeTransportError(res.error());
    last_error_.code = "unavailable";
    last_error_.message =
        "cannot reach the server at " + url_ + " (" + method + " " + path + "): " + why;
    return Status::Unavailable(last_error_.message);
  }
  json doc = json::parse(res->body, nullptr, false);
  if (doc.is_discarded()) doc = json();
  if (res->status >= 200 && res->status < 300) {
    return ApiReply{res->status, std::move(res->body), std::move(doc)};
  }
  ApiError& e = last_error_;
  e.http_status = res->status;
  e.structured = doc.is_object() && doc.contains("code");
  e.code = e.structured ? StringField(doc, "code") : "http_" + std::to_string(res->status);
  e.message = e.structured ? StringField(doc, "message") : Trim(res->body).substr(0, 200);
  if (e.message.empty()) e.message = "HTTP " + std::to_string(res->status);
  if (e.structured && doc.contains("details") && doc["details"].is_object()) {
    e.details = doc["details"];
  }
  e.body = std::move(res->body);
  return Status(StatusCodeForHttp(e.http_status), e.code + ": " + e.message);
}

Result<ApiReply> ApiClient::CreateTenant(const std::string& name, const std::string& key) {
  return Call("POST", "/v1/tenants", json({{"name", name}}).dump(), key);
}

Result<ApiReply> ApiClient::ListTenants() { return Call("GET", "/v1/tenants"); }

Result<ApiReply> ApiClient::CreateToken(const std::string& tenant_id, const std::string& role,
                                        const std::string& key) {
  return Call("POST", "/v1/tenants/" + agent::PathSegment(tenant_id) + "/tokens",
              json({{"role", role}}).dump(), key);
}

Result<ApiReply> ApiClient::PutHost(const std::string& name, const std::string& inventory_json) {
  return Call("PUT", "/v1/hosts/" + agent::PathSegment(name), inventory_json);
}

Result<ApiReply> ApiClient::ListHosts() { return Call("GET", "/v1/hosts"); }

Result<ApiReply> ApiClient::GetHost(const std::string& name) {
  return Call("GET", "/v1/hosts/" + agent::PathSegment(name));
}

Result<ApiReply> ApiClient::CreateVm(const json& body, const std::string& key) {
  return Call("POST", "/v1/vms", body.dump(), key);
}

Result<ApiReply> ApiClient::ListVms() { return Call("GET", "/v1/vms"); }

Result<ApiReply> ApiClient::GetVm(const std::string& id) {
  return Call("GET", "/v1/vms/" + agent::PathSegment(id));
}

Result<ApiReply> ApiClient::DeleteVm(const std::string& id, bool force) {
  return Call("DELETE", "/v1/vms/" + agent::PathSegment(id) + (force ? "?force=true" : ""));
}

Result<ApiReply> ApiClient::VmAction(const std::string& id, const std::string& action) {
  return Call("POST", "/v1/vms/" + agent::PathSegment(id) + "/" + agent::PathSegment(action));
}

Result<ApiReply> ApiClient::ReadConsole(const std::string& id, int64_t offset, int64_t wait_ms) {
  return Call("GET", "/v1/vms/" + agent::PathSegment(id) + "/console?offset=" +
                         std::to_string(offset) + "&wait_ms=" + std::to_string(wait_ms));
}

Result<ApiReply> ApiClient::HostAction(const std::string& name, const std::string& action,
                                       bool replace) {
  return Call("POST", "/v1/hosts/" + agent::PathSegment(name) + "/" + agent::PathSegment(action) +
                          (replace ? "?replace=true" : ""));
}

Result<ApiReply> ApiClient::DeleteHost(const std::string& name) {
  return Call("DELETE", "/v1/hosts/" + agent::PathSegment(name));
}

Result<ApiReply> ApiClient::CreateAgentToken(const std::string& host, const std::string& key) {
  return Call("POST", "/v1/hosts/" + agent::PathSegment(host) + "/tokens", "", key);
}

Result<ApiReply> ApiClient::CreateImage(const json& body) {
  return Call("POST", "/v1/images", body.dump());
}

Result<ApiReply> ApiClient::ListImages() { return Call("GET", "/v1/images"); }

Result<ApiReply> ApiClient::DeleteImage(const std::string& name) {
  return Call("DELETE", "/v1/images/" + agent::PathSegment(name));
}

Result<ApiReply> ApiClient::ResizeVm(const std::string& id, const json& body,
                                     const std::string& key) {
  return Call("POST", "/v1/vms/" + agent::PathSegment(id) + "/resize", body.dump(), key);
}

Result<ApiReply> ApiClient::ListAudit(int64_t after, int64_t limit) {
  return Call("GET",
              "/v1/audit?after=" + std::to_string(after) + "&limit=" + std::to_string(limit));
}

Result<ApiReply> ApiClient::ListVolumes(const std::string& id) {
  return Call("GET", "/v1/vms/" + agent::PathSegment(id) + "/volumes");
}

Result<ApiReply> ApiClient::AttachVolume(const std::string& id, const json& body,
                                         const std::string& key) {
  return Call("POST", "/v1/vms/" + agent::PathSegment(id) + "/volumes", body.dump(), key);
}

Result<ApiReply> ApiClient::DetachVolume(const std::string& id, const std::string& name) {
  return Call("DELETE",
              "/v1/vms/" + agent::PathSegment(id) + "/volumes/" + agent::PathSegment(name));
}

Result<ApiReply> ApiClient::MigrateVolume(const std::string& id, const std::string& name,
                                          const std::string& tier, const std::string& key) {
  return Call(
      "POST",
      "/v1/vms/" + agent::PathSegment(id) + "/volumes/" + agent::PathSegment(name) + "/migrate",
      json{{"tier", tier}}.dump(), key);
}

Result<ApiReply> ApiClient::CreateNetwork(const json& body, const std::string& key) {
  return Call("POST", "/v1/networks", body.dump(), key);
}

Result<ApiReply> ApiClient::ListNetworks() { return Call("GET", "/v1/networks"); }

Result<ApiReply> ApiClient::GetNetwork(const std::string& id) {
  return Call("GET", "/v1/networks/" + agent::PathSegment(id));
}

Result<ApiReply> ApiClient::DeleteNetwork(const std::string& id) {
  return Call("DELETE", "/v1/networks/" + agent::PathSegment(id));
}

}  // namespace devshare::cli
