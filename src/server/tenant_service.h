// TenantService: tenants and their bearer tokens (create, list), and the bootstrap of the
// "system" tenant and its admin token. Answers are Results: errors are Status values that
// api_types.cc maps to HTTP.
// Thread-safety: all methods are thread-safe (writes go through the group committer).
#ifndef DEVSHARE_SERVER_TENANT_SERVICE_H_
#define DEVSHARE_SERVER_TENANT_SERVICE_H_

#include <string>

#include "server/service_context.h"

namespace devshare::server {

class TenantService {
 public:
  explicit TenantService(ServiceContext* ctx) : ctx_(*ctx) {}

  // The "system" tenant and the token of `admin_sha256` (if not empty) exist afterwards.
  // Unavailable when they could not be written.
  Status Bootstrap(const std::string& admin_sha256);
  // POST /v1/tenants: 201 {id, name, created_unix_ms}; AlreadyExists for a taken name.
  Result<Reply> Create(const Principal& p, const std::string& body, const std::string& key);
  Result<Reply> List(const Principal& p);
  // POST /v1/tenants/{id}/tokens: 201 with the secret; NotFound for an unknown (or another
  // tenant's) id, PermissionDenied for a non-admin, InvalidArgument for a bad role.
  Result<Reply> CreateToken(const Principal& p, const std::string& tenant_id,
                            const std::string& body, const std::string& key);

 private:
  ServiceContext& ctx_;
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_TENANT_SERVICE_H_
