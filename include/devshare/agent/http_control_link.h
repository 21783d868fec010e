// HttpControlLink: ControlLink over the control plane's REST API (cpp-httplib), with the agent's
// bearer token. One HTTP connection per kind of call (register+heartbeat, watch, console), each
// behind its own mutex, so a long poll never delays a heartbeat. Errors name the endpoint and
// the HTTP status: "POST /v1/hosts/n1/heartbeat: HTTP 403 forbidden: ..." (code from the
// status: 400 InvalidArgument, 401 Unauthenticated, 403 PermissionDenied, 404 NotFound, 409
// Aborted, 5xx / no answer Unavailable).
// Thread-safety: thread-safe (see ControlLink).
#ifndef DEVSHARE_AGENT_HTTP_CONTROL_LINK_H_
#define DEVSHARE_AGENT_HTTP_CONTROL_LINK_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "devshare/agent/control_link.h"

namespace httplib {
class Client;
enum class Error;
}  // namespace httplib

namespace devshare::agent {

struct HttpLinkOptions {
  std::chrono::seconds connect_timeout{5};
  std::chrono::seconds io_timeout{30};  // read/write of every call but the watch
  // The watch's read timeout is its wait plus this margin (the server answers after the wait).
  std::chrono::seconds watch_margin{15};
};

// "http://HOST:PORT" (or "HOST:PORT"; trailing '/' ignored) -> host and port. InvalidArgument
// naming --server for https, a path, a bad port or no host.
struct ServerAddress {
  std::string url;  // normalised http://HOST:PORT
  std::string host;
  int port = 80;
};
Result<ServerAddress> ParseServerUrl(const std::string& url);
// `s` percent-encoded for one path segment (unreserved characters kept).
std::string PathSegment(const std::string& s);
// Why a request got no HTTP answer, in words (connection refused, read timed out, ...).
std::string DescribeTransportError(httplib::Error error);

class HttpControlLink final : public ControlLink {
 public:
  // `host_name` is the host this agent serves (its token is scoped to it).
  static Result<std::unique_ptr<HttpControlLink>> Create(const std::string& server_url,
                                                         std::string token, std::string host_name,
                                                         HttpLinkOptions options = {});
  ~HttpControlLink() override;

  const std::string& url() const { return address_.url; }

  Status Register(const nlohmann::json& inventory) override;
  Result<HeartbeatReply> KeepAlive(const AgentInfo& agent) override;
  Result<HeartbeatReply> Heartbeat(const AgentInfo& agent,
                                   const std::vector<ObservedVm>& vms) override;
  Result<DesiredState> WatchDesired(std::optional<int64_t> revision,
                                    std::chrono::milliseconds wait) override;
  Result<ConsolePushReply> PushConsole(const std::string& vm_id, int64_t offset,
                                       const std::string& bytes) override;
  void Interrupt() override;

 private:
  struct Channel;  // one httplib::Client and its mutex
  struct Answer {
    int status = 0;
    std::string body;
  };

  HttpControlLink(ServerAddress address, std::string token, std::string host_name,
                  HttpLinkOptions options);
  // POST .../heartbeat with `body` ({"agent"[, "vms"]}), answer parsed.
  Result<HeartbeatReply> PostHeartbeat(const nlohmann::json& body);
  // One request on `ch`. Unavailable (naming METHOD PATH) without an answer; the answer as is
  // otherwise (the caller maps statuses).
  Result<Answer> Send(Channel& ch, const std::string& method, const std::string& path,
                      const std::string& body, const std::string& content_type,
                      std::chrono::seconds read_timeout);
  // Status of a non-2xx answer: "<METHOD PATH>: HTTP <status> <code>: <message>".
  static Status AnswerError(const std::string& method, const std::string& path, const Answer& a);

  ServerAddress address_;
  std::string token_;
  std::string host_name_;
  HttpLinkOptions options_;
  std::unique_ptr<Channel> control_, watch_, console_;
  std::atomic<bool> interrupted_{false};
};

}  // namespace devshare::agent

#endif  // DEVSHARE_AGENT_HTTP_CONTROL_LINK_H_
