// Authorizer: the one table of access rules, by operation name (tenant.create, vm.delete, ...),
// that every endpoint checks instead of testing roles itself.
// Thread-safety: the table is immutable; the functions are pure.
#ifndef DEVSHARE_SERVER_AUTHORIZER_H_
#define DEVSHARE_SERVER_AUTHORIZER_H_

#include <span>
#include <string>
#include <string_view>

#include "devshare/core/status.h"
#include "server/api_types.h"

namespace devshare::server {

// Who may run an operation.
enum class Access {
  kAnyToken,       // any valid token (else Unauthenticated)
  kWriter,         // an admin or member of any tenant
  kAdmin,          // an admin of any tenant
  kOperatorAdmin,  // an admin of the "system" tenant
};

struct AccessRule {
  std::string_view operation;  // stable name, also the audit record's operation
  Access access;
  // The operation's object belongs to a tenant: another tenant's object is hidden (answered
  // like a missing one) unless the caller is a system admin; checked before the role.
  bool tenant_scoped;
  std::string_view denied;  // PermissionDenied message when the role does not suffice
  // A host agent's token may run it for its own host and that host's VMs (and nothing else).
  bool agent = false;
};

// Every rule, in the API's order.
std::span<const AccessRule> AccessRules();
// The rule of `operation`, or null.
const AccessRule* FindAccessRule(std::string_view operation);

// May `p` run `operation` at all (its role)? OK; Unauthenticated for a kAnyToken rule without
// a valid token; PermissionDenied with the rule's message otherwise, and for an operation that
// has no rule (fail closed). Does not look at object ownership.
Status Authorize(const Principal& p, std::string_view operation);
// The same for one object owned by `owner_tenant`: for a tenant-scoped rule an object `p` may
// not see answers `hidden` (NotFound, exactly like a missing object) before the role is
// checked. Unauthenticated first for kAnyToken rules.
Status AuthorizeOn(const Principal& p, std::string_view operation, const std::string& owner_tenant,
                   const Status& hidden);
// The same for an operation on host `host` itself (register, heartbeat, watch, cordon...): an
// agent token may act only for its own host and only where the rule admits agents.
Status AuthorizeHost(const Principal& p, std::string_view operation, const std::string& host);
// The same for a VM on `vm_host` owned by `owner_tenant`: an agent token sees exactly the VMs
// of its own host (others are `hidden`); everyone else as AuthorizeOn.
Status AuthorizeOnVm(const Principal& p, std::string_view operation,
                     const std::string& owner_tenant, const std::string& vm_host,
                     const Status& hidden);

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_AUTHORIZER_H_
