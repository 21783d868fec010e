// HttpControlLink: the agent endpoints over cpp-httplib.
#include "devshare/agent/http_control_link.h"

#include <httplib.h>

#include <cctype>
#include <cstdlib>
#include <utility>

namespace devshare::agent {

using nlohmann::json;

struct HttpControlLink::Channel {
  std::mutex mu;  // one request at a time on this connection
  std::unique_ptr<httplib::Client> client;
};

namespace {

StatusCode CodeForHttp(int status) {
  switch (status) {
    case 400:
    case 413:
    case 422:
      return StatusCode::kInvalidArgument;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 409:
      return StatusCode::kAborted;
    default:
      return status >= 500 ? StatusCode::kUnavailable : StatusCode::kInternal;
  }
}

json ParseBody(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  return j.is_discarded() ? json() : j;
}

}  // namespace

std::string PathSegment(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string DescribeTransportError(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
    case httplib::Error::ConnectionTimeout:
      return "connection refused or timed out";
    case httplib::Error::Read:
      return "no answer (connection closed or read timed out)";
    case httplib::Error::Write:
      return "could not send the request";
    default:
      return httplib::to_string(error);
  }
}

Result<ServerAddress> ParseServerUrl(const std::string& url) {
  ServerAddress a;
  a.url = url;
  while (!a.url.empty() && a.url.back() == '/') a.url.pop_back();
  std::string rest = a.url;
  if (rest.rfind("https://", 0) == 0) {
    return Status::InvalidArgument("--server " + a.url +
                                   ": https is not supported; use http:// on a trusted network "
                                   "or a TLS proxy");
  }
  if (rest.rfind("http://", 0) == 0) {
    rest = rest.substr(7);
  } else if (rest.find("://") != std::string::npos) {
    return Status::InvalidArgument("--server " + a.url + ": expected http://HOST:PORT");
  } else {
    a.url = "http://" + a.url;
  }
  if (rest.empty() || rest.find('/') != std::string::npos) {
    return Status::InvalidArgument("--server " + a.url + ": expected http://HOST:PORT");
  }
  a.host = rest;
  const size_t colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']', colon) == std::string::npos) {
    a.host = rest.substr(0, colon);
    const std::string port = rest.substr(colon + 1);
    char* end = nullptr;
    const long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p < 1 || p > 65535) {
      return Status::InvalidArgument("--server " + a.url + ": bad port '" + port + "'");
    }
    a.port = static_cast<int>(p);
  }
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  if (a.host.empty()) return Status::InvalidArgument("--server " + a.url + ": no host");
  return a;
}

HttpControlLink::HttpControlLink(ServerAddress address, std::string token, std::string host_name,
                                 HttpLinkOptions options)
    : address_(std::move(address)),
      token_(std::move(token)),
      host_name_(std::move(host_name)),
      options_(options) {
  for (std::unique_ptr<Channel>* ch : {&control_, &watch_, &console_}) {
    *ch = std::make_unique<Channel>();
    (*ch)->client = std::make_unique<httplib::Client>(address_.host, address_.port);
    (*ch)->client->set_connection_timeout(options_.connect_timeout);
    (*ch)->client->set_read_timeout(options_.io_timeout);
    (*ch)->client->set_write_timeout(options_.io_timeout);
    (*ch)->client->set_keep_alive(true);
    (*ch)->client->set_tcp_nodelay(true);
  }
}

HttpControlLink::~HttpControlLink() = default;

Result<std::unique_ptr<HttpControlLink>> HttpControlLink::Create(const std::string& server_url,
                                                                 std::string token,
                                                                 std::string host_name,
                                                                 HttpLinkOptions options) {
  DS_ASSIGN_OR_RETURN(ServerAddress address, ParseServerUrl(server_url));
  if (host_name.empty()) return Status::InvalidArgument("the host name is empty");
  return std::unique_ptr<HttpControlLink>(
      new HttpControlLink(std::move(address), std::move(token), std::move(host_name), options));
}

void HttpControlLink::Interrupt() {
  interrupted_ = true;
  // httplib's stop() is the one call that is safe during a request on another thread: it shuts
  // the socket down so that the blocked read returns.
  for (Channel* ch : {control_.get(), watch_.get(), console_.get()}) ch->client->stop();
}

Result<HttpControlLink::Answer> HttpControlLink::Send(Channel& ch, const std::string& method,
                                                      const std::string& path,
                                                      const std::string& body,
                                                      const std::string& content_type,
                                                      std::chrono::seconds read_timeout) {
  const std::string what = method + " " + path;
  if (interrupted_) return Status::Unavailable(what + ": the agent is stopping");
  std::lock_guard<std::mutex> lock(ch.mu);
  ch.client->set_read_timeout(read_timeout);
  httplib::Headers headers = {{"Accept", "application/json"},
                              {"Authorization", "Bearer " + token_}};
  httplib::Result res = [&] {
    if (method == "GET") return ch.client->Get(path, headers);
    if (method == "PUT") return ch.client->Put(path, headers, body, content_type);
    return ch.client->Post(path, headers, body, content_type);
  }();
  if (!res) {
    if (interrupted_) return Status::Unavailable(what + ": the agent is stopping");
    const std::string why = DescribeTransportError(res.error());
    return Status::Unavailable(what + ": cannot reach the server at " + address_.url + ": " + why);
  }
  return Answer{res->status, std::move(res->body)};
}

Status HttpControlLink::AnswerError(const std::string& method, const std::string& path,
                                    const Answer& a) {
  const json doc = ParseBody(a.body);
  std::string code = "http_" + std::to_string(a.status);
  std::string message;
  if (doc.is_object()) {
    if (doc.contains("code") && doc["code"].is_string()) code = doc["code"].get<std::string>();
    if (doc.contains("message") && doc["message"].is_string()) {
      message = doc["message"].get<std::string>();
    }
  }
  if (message.empty()) message = a.body.substr(0, 200);
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) {
    message.pop_back();
  }
  return Status(CodeForHttp(a.status), method + " " + path + ": HTTP " + std::to_string(a.status) +
                                           " " + code + (message.empty() ? "" : ": " + message));
}

Status HttpControlLink::Register(const json& inventory) {
  const std::string path = "/v1/hosts/" + PathSegment(host_name_);
  const std::string body = inventory.dump(-1, ' ', false, json::error_handler_t::replace);
  DS_ASSIGN_OR_RETURN(Answer a,
                      Send(*control_, "PUT", path, body, "application/json", options_.io_timeout));
  if (a.status == 200 || a.status == 201) return Status::Ok();
  return AnswerError("PUT", path, a);
}

Result<HeartbeatReply> HttpControlLink::Heartbeat(const AgentInfo& agent,
                                                  const std::vector<ObservedVm>& vms) {
  return PostHeartbeat(HeartbeatBody(agent, vms));
}

Result<HeartbeatReply> HttpControlLink::KeepAlive(const AgentInfo& agent) {
  return PostHeartbeat(KeepAliveBody(agent));
}

Result<HeartbeatReply> HttpControlLink::PostHeartbeat(const json& doc) {
  const std::string path = "/v1/hosts/" + PathSegment(host_name_) + "/heartbeat";
  const std::string body = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  DS_ASSIGN_OR_RETURN(Answer a,
                      Send(*control_, "POST", path, body, "application/json", options_.io_timeout));
  if (a.status != 200) return AnswerError("POST", path, a);
  Result<HeartbeatReply> r = ParseHeartbeatReply(ParseBody(a.body));
  if (!r.ok()) return Status::Internal("POST " + path + ": " + r.status().message());
  return r;
}

Result<DesiredState> HttpControlLink::WatchDesired(std::optional<int64_t> revision,
                                                   std::chrono::milliseconds wait) {
  std::string path =
      "/v1/hosts/" + PathSegment(host_name_) + "/desired?wait_ms=" + std::to_string(wait.count());
  if (revision) path += "&revision=" + std::to_string(*revision);
  const auto read_timeout =
      std::chrono::duration_cast<std::chrono::seconds>(wait) + options_.watch_margin;
  DS_ASSIGN_OR_RETURN(Answer a, Send(*watch_, "GET", path, "", "", read_timeout));
  if (a.status != 200) return AnswerError("GET", path, a);
  Result<DesiredState> d = ParseDesiredState(ParseBody(a.body));
  if (!d.ok()) return Status::Internal("GET " + path + ": " + d.status().message());
  return d;
}

Result<ConsolePushReply> HttpControlLink::PushConsole(const std::string& vm_id, int64_t offset,
                                                      const std::string& bytes) {
  const std::string path =
      "/v1/vms/" + PathSegment(vm_id) + "/console?offset=" + std::to_string(offset);
  DS_ASSIGN_OR_RETURN(Answer a, Send(*console_, "POST", path, bytes, "application/octet-stream",
                                     options_.io_timeout));
  if (a.status != 200 && a.status != 409) return AnswerError("POST", path, a);
  Result<ConsolePushReply> r = ParseConsoleReply(a.status, ParseBody(a.body));
  if (!r.ok()) {
    // A 409 without "expected" is some other conflict: report it as the answer it is.
    if (a.status == 409) return AnswerError("POST", path, a);
    return Status::Internal("POST " + path + ": " + r.status().message());
  }
  return r;
}

}  // namespace devshare::agent
