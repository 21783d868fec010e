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
     "only an admin of the system tenant or the host's agent registers hosts", true},
    {"host.list", Access::kAnyToken, false, ""},
    {"host.get", Access::kAnyToken, false, "", true},
    {"host.token", Access::kOperatorAdmin, false,
     "only an admin of the system tenant creates agent tokens"},
    {"host.heartbeat", Access::kOperatorAdmin, false, "only the host's agent reports for it", true},
    {"host.desired", Access::kOperatorAdmin, false, "only the host's agent watches it", true},
    {"host.cordon", Access::kOperatorAdmin, false,
     "only an admin of the system tenant cordons hosts"},
    {"host.drain", Access::kOperatorAdmin, false,
     "only an admin of the system tenant drains hosts"},
    {"host.delete", Access::kOperatorAdmin, false,
     "only an admin of the system tenant deletes hosts"},
    {"image.create", Access::kOperatorAdmin, false,
     "only an admin of the system tenant adds images"},
    {"image.list", Access::kAnyToken, false, ""},
    {"image.delete", Access::kOperatorAdmin, false,
     "only an admin of the system tenant deletes images"},
    {"network.create", Access::kWriter, false, "a reader cannot create networks"},
    {"network.list", Access::kAnyToken, true, ""},
    {"network.get", Access::kAnyToken, true, ""},
    {"network.delete", Access::kWriter, true, "a reader cannot delete networks"},
    {"vm.create", Access::kWriter, false, "a reader cannot create VMs"},
    {"vm.list", Access::kAnyToken, true, "", true},
    {"vm.get", Access::kAnyToken, true, "", true},
    {"vm.delete", Access::kWriter, true, "a reader cannot delete VMs"},
    {"vm.resize", Access::kWriter, true, "a reader cannot resize VMs"},
    {"vm.power", Access::kWriter, true, "a reader cannot start, stop or reboot VMs"},
    {"volume.list", Access::kAnyToken, true, "", true},
    {"volume.attach", Access::kWriter, true, "a reader cannot attach volumes"},
    {"volume.detach", Access::kWriter, true, "a reader cannot detach volumes"},
    // Agents too: their tiering controller moves the volumes of their own host's VMs.
    {"volume.migrate", Access::kWriter, true, "a reader cannot migrate volumes", true},
    {"vm.console", Access::kAnyToken, true, "", true},
    {"vm.console_push", Access::kOperatorAdmin, true, "only the VM's host agent writes its console",
     true},
    // Tenant admins read their tenant's records, system admins all (filtered by tenant).
    {"audit.list", Access::kAdmin, true, "only admins read the audit log"},
};

bool HasAccess(const Principal& p, const AccessRule& rule) {
  // An agent token is not a tenant's user: it may run exactly the rules that admit agents.
  if (p.agent()) return rule.agent;
  switch (rule.access) {
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
  if (HasAccess(p, rule)) return Status::Ok();
  if (rule.access == Access::kAnyToken && !p.authenticated()) {
    return Status::Unauthenticated("missing or bad token");
  }
  if (p.agent()) {
    return Status::PermissionDenied("an agent token (host " + p.host + ") may not run " +
                                    std::string(rule.operation));
  }
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

Status AuthorizeHost(const Principal& p, std::string_view operation, const std::string& host) {
  const AccessRule* rule = FindAccessRule(operation);
  if (rule == nullptr) return NoRule(operation);
  if (p.agent() && rule->agent && p.host != host) {
    return Status::PermissionDenied("an agent token acts only for host " + p.host);
  }
  return CheckRole(p, *rule);
}

Status AuthorizeOnVm(const Principal& p, std::string_view operation,
                     const std::string& owner_tenant, const std::string& vm_host,
                     const Status& hidden) {
  if (!p.agent()) return AuthorizeOn(p, operation, owner_tenant, hidden);
  const AccessRule* rule = FindAccessRule(operation);
  if (rule == nullptr) return NoRule(operation);
  if (vm_host != p.host) return hidden;
  return CheckRole(p, *rule);
}

}  // namespace devshare::server
