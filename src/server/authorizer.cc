// The access table and its checks.
#include "server/authorizer.h"

namespace devshare::server {
namespace {

constexpr AccessRule kRules[] = {
    {"tenant.create", Access::kOperatorAdmin, false,
     "only an admin of the system tenant creates tenants"},
    {"tenant.list", Access::kOperatorAdmin, false,
     "only an admin of the system tenant lists tenants"},
    {"token.create", Access::kAdmin, true, "only an admin of the tenant creates its tokens"},
    {"host.put", Access::kOperatorAdmin, false,
     "only an admin of the system tenant registers hosts"},
    {"host.list", Access::kAnyToken, false, ""},
    {"host.get", Access::kAnyToken, false, ""},
    {"vm.create", Access::kWriter, false, "a reader cannot create VMs"},
    {"vm.list", Access::kAnyToken, true, ""},
    {"vm.get", Access::kAnyToken, true, ""},
    {"vm.delete", Access::kWriter, true, "a reader cannot delete VMs"},
    {"vm.resize", Access::kWriter, true, "a reader cannot resize VMs"},
    // Tenant admins read their tenant's records, system admins all (filtered by tenant).
    {"audit.list", Access::kAdmin, true, "only admins read the audit log"},
};

bool HasAccess(const Principal& p, Access a) {
  switch (a) {
    case Access::kAnyToken:
      return p.authenticated();
    case Access::kWriter:
      return p.can_write();
    case Access::kAdmin:
      return p.authenticated() && p.role == "admin";
    case Access::kOperatorAdmin:
      return p.operator_admin();
  }
  return false;
}

Status CheckRole(const Principal& p, const AccessRule& rule) {
  if (HasAccess(p, rule.access)) return Status::Ok();
  if (rule.access == Access::kAnyToken) return Status::Unauthenticated("missing or bad token");
  return Status::PermissionDenied(std::string(rule.denied));
}

Status NoRule(std::string_view operation) {
  return Status::PermissionDenied("no access rule for operation '" + std::string(operation) + "'");
}

}  // namespace

std::span<const AccessRule> AccessRules() { return kRules; }

const AccessRule* FindAccessRule(std::string_view operation) {
  for (const AccessRule& r : kRules) {
    if (r.operation == operation) return &r;
  }
  return nullptr;
}

Status Authorize(const Principal& p, std::string_view operation) {
  const AccessRule* rule = FindAccessRule(operation);
  if (rule == nullptr) return NoRule(operation);
  return CheckRole(p, *rule);
}

Status AuthorizeOn(const Principal& p, std::string_view operation, const std::string& owner_tenant,
                   const Status& hidden) {
  const AccessRule* rule = FindAccessRule(operation);
  if (rule == nullptr) return NoRule(operation);
  if (rule->access == Access::kAnyToken && !p.authenticated()) return CheckRole(p, *rule);
  if (rule->tenant_scoped && !p.Sees(owner_tenant)) return hidden;
  return CheckRole(p, *rule);
}

}  // namespace devshare::server
