// HttpApi: routes, authentication header, limits and metrics around ControlPlane.
#include "server/http_api.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <climits>
#include <optional>

#include "server/json_fields.h"

namespace devshare::server {
namespace {

std::string BearerToken(const httplib::Request& req) {
  const std::string h = req.get_header_value("Authorization");
  if (h.empty()) return "";
  constexpr std::string_view kPrefix = "Bearer ";
  if (h.size() <= kPrefix.size() || h.compare(0, kPrefix.size(), kPrefix) != 0) {
    return "\x01malformed";  // never a valid token, so it authenticates as a bad token
  }
  return h.substr(kPrefix.size());
}

bool ValidIdempotencyKey(const std::string& k) {
  if (k.size() > 255) return false;
  for (char c : k) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// An optional integer query parameter in [min, max].
Result<int64_t> IntParam(const httplib::Request& req, const char* name, int64_t default_value,
                         int64_t min, int64_t max) {
  if (!req.has_param(name)) return default_value;
  const std::string text = req.get_param_value(name);
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < min || v > max) {
    return Status::InvalidArgument("query parameter '" + std::string(name) +
                                   "': expected an integer in " + std::to_string(min) + ".." +
                                   std::to_string(max) + ", got '" + text + "'");
  }
  return v;
}

bool TrueParam(const httplib::Request& req, const char* name) {
  return req.has_param(name) && req.get_param_value(name) != "false" &&
         req.get_param_value(name) != "0";
}

void Send(httplib::Response& res, const ApiResponse& r) {
  res.status = r.status;
  res.set_content(JsonText(r.body) + "\n", "application/json");
}

}  // namespace

HttpApi::HttpApi(ControlPlane* control_plane) : cp_(control_plane) {}

HttpApi::~HttpApi() { Stop(); }

void HttpApi::Routes() {
  httplib::Server& s = *server_;
  // Every route: authenticate, run, answer JSON, observe latency. `open` routes skip the token.
  Handle handle = [this](const char* route, const char* operation, Fn fn) -> Handler {
    return [this, route, operation, fn](const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      Principal p = cp_->Authenticate(BearerToken(req));
      ApiResponse r;
      if (!p.authenticated()) {
        r = cp_->AuditRefusal(p, operation, req.path,
                              ErrorFromStatus(Status::Unauthenticated(
                                  p.kind == Principal::Kind::kAnonymous
                                      ? "missing 'Authorization: Bearer <token>' header"
                                      : "unknown or malformed bearer token")));
      } else if (const std::string k = req.get_header_value("Idempotency-Key");
                 !k.empty() && !ValidIdempotencyKey(k)) {
        r = cp_->AuditRefusal(p, operation, req.path,
                              ErrorFromStatus(Status::InvalidArgument(
                                  "header 'Idempotency-Key': 1-255 printable ASCII characters")));
      } else {
        r = fn(req, p);
      }
      Send(res, r);
      metrics_.Observe(
          route, r.status,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    };
  };
  auto key = [](const httplib::Request& req) { return req.get_header_value("Idempotency-Key"); };

  s.Post("/v1/tenants", handle("tenant.create", "tenant.create",
                               [this, key](const httplib::Request& req, const Principal& p) {
                                 return cp_->CreateTenant(p, req.body, key(req));
                               }));
  s.Get("/v1/tenants",
        handle("tenant.list", "tenant.list", [this](const httplib::Request&, const Principal& p) {
          return cp_->ListTenants(p);
        }));
  s.Post(R"(/v1/tenants/([^/]+)/tokens)",
         handle("token.create", "token.create",
                [this, key](const httplib::Request& req, const Principal& p) {
                  return cp_->CreateToken(p, req.matches[1], req.body, key(req));
                }));
  s.Put(R"(/v1/hosts/([^/]+))",
        handle("host.put", "host.put", [this](const httplib::Request& req, const Principal& p) {
          return cp_->PutHost(p, req.matches[1], req.body);
        }));
  s.Get("/v1/hosts",
        handle("host.list", "host.list",
               [this](const httplib::Request&, const Principal& p) { return cp_->ListHosts(p); }));
  s.Get(R"(/v1/hosts/([^/]+))",
        handle("host.get", "host.get", [this](const httplib::Request& req, const Principal& p) {
          return cp_->GetHost(p, req.matches[1]);
        }));
  s.Post("/v1/vms", handle("vm.create", "vm.create",
                           [this, key](const httplib::Request& req, const Principal& p) {
                             return cp_->CreateVm(p, req.body, key(req));
                           }));
  s.Get("/v1/vms",
        handle("vm.list", "vm.list",
               [this](const httplib::Request&, const Principal& p) { return cp_->ListVms(p); }));
  s.Get(R"(/v1/vms/([^/]+))",
        handle("vm.get", "vm.get", [this](const httplib::Request& req, const Principal& p) {
          return cp_->GetVm(p, req.matches[1]);
        }));
  s.Delete(
      R"(/v1/vms/([^/]+))",
      handle("vm.delete", "vm.delete", [this](const httplib::Request& req, const Principal& p) {
        return cp_->DeleteVm(p, req.matches[1], TrueParam(req, "force"));
      }));
  s.Post(R"(/v1/vms/([^/]+)/resize)",
         handle("vm.resize", "vm.resize",
                [this, key](const httplib::Request& req, const Principal& p) {
                  return cp_->ResizeVm(p, req.matches[1], req.body, key(req));
                }));
  FleetRoutes(handle);
  s.Get("/v1/audit",
        handle("audit.list", "audit.list", [this](const httplib::Request& req, const Principal& p) {
          int64_t after = 0, limit = 100;
          try {
            if (req.has_param("after")) {
              after = std::stoll(req.get_param_value("after"));
            }
            if (req.has_param("limit")) {
              limit = std::stoll(req.get_param_value("limit"));
            }
          } catch (...) {
            return ErrorFromStatus(Status::InvalidArgument("'after' and 'limit' must be integers"));
          }
          if (after < 0 || limit < 1 || limit > 10000) {
            return ErrorFromStatus(Status::InvalidArgument("after >= 0 and limit in 1..10000"));
          }
          return cp_->ListAudit(p, after, limit);
        }));
  s.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\",\"store\":\"" + cp_->store().Describe() + "\"}\n",
                    "application/json");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.Render(cp_->Stats()), "text/plain; version=0.0.4");
  });
  // Unmatched routes, bodies over the limit and library-level errors answer JSON too.
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    Send(res, TransportErrorResponse(res.status, req.method, req.path,
                                     req.get_header_value("Content-Type")));
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    Send(res, ErrorFromStatus(Status::Internal("internal error")));
  });
}

void HttpApi::FleetRoutes(const Handle& handle) {
  httplib::Server& s = *server_;
  auto key = [](const httplib::Request& req) { return req.get_header_value("Idempotency-Key"); };
  s.Post(R"(/v1/hosts/([^/]+)/tokens)",
         handle("host.token", "host.token",
                [this, key](const httplib::Request& req, const Principal& p) {
                  return ToResponse(cp_->fleet().CreateAgentToken(p, req.matches[1], key(req)));
                }));
  s.Post(R"(/v1/hosts/([^/]+)/heartbeat)",
         handle("host.heartbeat", "host.heartbeat",
                [this](const httplib::Request& req, const Principal& p) {
                  return ToResponse(cp_->fleet().Heartbeat(p, req.matches[1], req.body));
                }));
  s.Get(R"(/v1/hosts/([^/]+)/desired)",
        handle("host.desired", "host.desired",
               [this](const httplib::Request& req, const Principal& p) {
                 Result<int64_t> wait = IntParam(req, "wait_ms", 25'000, 0, 60'000);
                 Result<int64_t> rev = IntParam(req, "revision", -1, 0, int64_t{1} << 53);
                 if (!wait.ok()) return ErrorFromStatus(wait.status());
                 if (!rev.ok()) return ErrorFromStatus(rev.status());
                 std::optional<uint64_t> revision;
                 if (*rev >= 0) revision = static_cast<uint64_t>(*rev);
                 return ToResponse(cp_->fleet().Desired(p, req.matches[1], revision, *wait));
               }));
  s.Post(
      R"(/v1/hosts/([^/]+)/(cordon|uncordon))",
      handle("host.cordon", "host.cordon", [this](const httplib::Request& req, const Principal& p) {
        return ToResponse(cp_->hosts().SetSchedule(p, req.matches[1], req.matches[2]));
      }));
  s.Post(
      R"(/v1/hosts/([^/]+)/drain)",
      handle("host.drain", "host.drain", [this](const httplib::Request& req, const Principal& p) {
        return ToResponse(cp_->hosts().Drain(p, req.matches[1], TrueParam(req, "replace")));
      }));
  s.Delete(
      R"(/v1/hosts/([^/]+))",
      handle("host.delete", "host.delete", [this](const httplib::Request& req, const Principal& p) {
        return ToResponse(cp_->hosts().Delete(p, req.matches[1]));
      }));
  s.Post("/v1/images", handle("image.create", "image.create",
                              [this](const httplib::Request& req, const Principal& p) {
                                return ToResponse(cp_->images().Create(p, req.body));
                              }));
  s.Get("/v1/images",
        handle("image.list", "image.list", [this](const httplib::Request&, const Principal& p) {
          return ToResponse(cp_->images().List(p));
        }));
  s.Delete(R"(/v1/images/([^/]+))",
           handle("image.delete", "image.delete",
                  [this](const httplib::Request& req, const Principal& p) {
                    return ToResponse(cp_->images().Delete(p, req.matches[1]));
                  }));
  s.Post("/v1/networks", handle("network.create", "network.create",
                                [this, key](const httplib::Request& req, const Principal& p) {
                                  return ToResponse(cp_->networks().Create(p, req.body, key(req)));
                                }));
  s.Get("/v1/networks",
        handle("network.list", "network.list", [this](const httplib::Request&, const Principal& p) {
          return ToResponse(cp_->networks().List(p));
        }));
  s.Get(
      R"(/v1/networks/([^/]+))",
      handle("network.get", "network.get", [this](const httplib::Request& req, const Principal& p) {
        return ToResponse(cp_->networks().Get(p, req.matches[1]));
      }));
  s.Delete(R"(/v1/networks/([^/]+))",
           handle("network.delete", "network.delete",
                  [this](const httplib::Request& req, const Principal& p) {
                    return ToResponse(cp_->networks().Delete(p, req.matches[1]));
                  }));
  s.Get(
      R"(/v1/vms/([^/]+)/volumes)",
      handle("volume.list", "volume.list", [this](const httplib::Request& req, const Principal& p) {
        return ToResponse(cp_->volumes().List(p, req.matches[1]));
      }));
  s.Post(R"(/v1/vms/([^/]+)/volumes)",
         handle("volume.attach", "volume.attach",
                [this, key](const httplib::Request& req, const Principal& p) {
                  return ToResponse(cp_->volumes().Attach(p, req.matches[1], req.body, key(req)));
                }));
  s.Delete(R"(/v1/vms/([^/]+)/volumes/([^/]+))",
           handle("volume.detach", "volume.detach",
                  [this](const httplib::Request& req, const Principal& p) {
                    return ToResponse(cp_->volumes().Detach(p, req.matches[1], req.matches[2]));
                  }));
  s.Post(R"(/v1/vms/([^/]+)/volumes/([^/]+)/migrate)",
         handle("volume.migrate", "volume.migrate",
                [this, key](const httplib::Request& req, const Principal& p) {
                  return ToResponse(cp_->volumes().Migrate(p, req.matches[1], req.matches[2],
                                                           req.body, key(req)));
                }));
  s.Post(R"(/v1/vms/([^/]+)/(start|stop|reboot))",
         handle("vm.power", "vm.power", [this](const httplib::Request& req, const Principal& p) {
           return ToResponse(cp_->vms().Power(p, req.matches[1], req.matches[2]));
         }));
  s.Post(R"(/v1/vms/([^/]+)/console)",
         handle("vm.console_push", "vm.console_push",
                [this](const httplib::Request& req, const Principal& p) {
                  Result<int64_t> offset = IntParam(req, "offset", -1, 0, INT64_MAX);
                  if (!offset.ok()) return ErrorFromStatus(offset.status());
                  if (*offset < 0) {
                    return ErrorFromStatus(
                        Status::InvalidArgument("query parameter 'offset' is required"));
                  }
                  return ToResponse(cp_->fleet().PushConsole(p, req.matches[1], *offset, req.body));
                }));
  s.Get(R"(/v1/vms/([^/]+)/console)",
        handle("vm.console", "vm.console", [this](const httplib::Request& req, const Principal& p) {
          Result<int64_t> offset = IntParam(req, "offset", 0, 0, INT64_MAX);
          Result<int64_t> wait = IntParam(req, "wait_ms", 0, 0, 60'000);
          Result<int64_t> max = IntParam(req, "max_bytes", 65'536, 1, 1 << 20);
          for (const Result<int64_t>* r : {&offset, &wait, &max}) {
            if (!r->ok()) return ErrorFromStatus(r->status());
          }
          return ToResponse(cp_->fleet().ReadConsole(p, req.matches[1], *offset, *wait, *max));
        }));
}

Status HttpApi::Start(const HttpApiOptions& options) {
  server_ = std::make_unique<httplib::Server>();
  const int threads = options.threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(options.max_body_bytes);
  server_->set_keep_alive_max_count(1'000'000);
  server_->set_keep_alive_timeout(30);
  // Responses go out in two writes (headers, body): without TCP_NODELAY, Nagle plus the
  // client's delayed ACK adds about 40 ms to every keep-alive request.
  server_->set_tcp_nodelay(true);
  Routes();
  // The library listens with a backlog of 5: 32 clients connecting at once overflow it and
  // some see their connection reset. Keep the socket's fd and listen again with a deep backlog.
  int listen_fd = -1;
  server_->set_socket_options([&listen_fd](int fd) {
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = fd;
  });
  if (options.port == 0) {
    port_ = server_->bind_to_any_port(options.host);
  } else {
    port_ = server_->bind_to_port(options.host, options.port) ? options.port : -1;
  }
  if (port_ <= 0) {
    return Status::Unavailable("cannot listen on " + options.host + ":" +
                               std::to_string(options.port) + " (address in use or not local)");
  }
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return Status::Ok();
}

void HttpApi::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace devshare::server
