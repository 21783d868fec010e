// HttpApi: the REST API (/v1, JSON, HTTP/1.1 keep-alive) over cpp-httplib, plus /metrics and
// /healthz. It only maps HTTP onto ControlPlane calls: bearer token -> Principal, path and
// headers -> arguments, ApiResponse -> status and JSON body; bodies over the limit get 413 JSON.
// Thread-safety: Start/Stop from one owner thread; requests are served by a pool of threads.
#ifndef DEVSHARE_SERVER_HTTP_API_H_
#define DEVSHARE_SERVER_HTTP_API_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "devshare/core/result.h"
#include "server/control_plane.h"
#include "server/metrics.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace devshare::server {

struct HttpApiOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 = any free port (see port())
  size_t max_body_bytes = 1 << 20;
  int threads = 64;  // each keep-alive connection holds one while open
};

class HttpApi {
 public:
  explicit HttpApi(ControlPlane* control_plane);
  ~HttpApi();
  // Binds and starts serving on a background thread. Unavailable when the address is taken.
  Status Start(const HttpApiOptions& options);
  int port() const { return port_; }
  void Stop();

 private:
  using Fn = std::function<ApiResponse(const httplib::Request&, const Principal&)>;
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  // Wraps an endpoint: authentication, JSON answer, metrics.
  using Handle = std::function<Handler(const char* route, const char* operation, Fn fn)>;
  void Routes();
  void FleetRoutes(const Handle& handle);  // agents, host admin, images, power, consoles

  ControlPlane* cp_;
  ApiMetrics metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_HTTP_API_H_
