// The access table: every API operation has one rule, and Authorize / AuthorizeOn give the
// answers the endpoints promise (401 for no token, 404 for another tenant's object before the
// role, 403 for a role that does not suffice, fail closed for an unknown operation).
#include "server/authorizer.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace devshare::server {
namespace {

Principal Token(const std::string& tenant, const std::string& role) {
  Principal p;
  p.kind = Principal::Kind::kToken;
  p.tenant_id = tenant;
  p.role = role;
  p.actor = "k-" + tenant + "-" + role;
  return p;
}

const Principal kAnonymous = [] {
  Principal p;
  p.actor = "anonymous";
  return p;
}();
const Principal kSystemAdmin = Token("system", "admin");
const Principal kSystemMember = Token("system", "member");
const Principal kAcmeAdmin = Token("t-acme", "admin");
const Principal kAcmeMember = Token("t-acme", "member");
const Principal kAcmeReader = Token("t-acme", "reader");
const Principal kAgentH1 = [] {
  Principal p = Token("system", "agent");
  p.host = "h1";
  return p;
}();

TEST(AuthorizerTest, EveryApiOperationHasExactlyOneRule) {
  const std::vector<std::string> api = {
      "tenant.create", "tenant.list",   "token.create",    "host.put",       "host.list",
      "host.get",      "host.token",    "host.heartbeat",  "host.desired",   "host.cordon",
      "host.drain",    "host.delete",   "image.create",    "image.list",     "image.delete",
      "vm.create",     "vm.list",       "vm.get",          "vm.delete",      "vm.resize",
      "vm.power",      "vm.console",    "vm.console_push", "audit.list",     "volume.list",
      "volume.attach", "volume.detach", "volume.migrate",  "network.create", "network.list",
      "network.get",   "network.delete"};
  for (const std::string& op : api) EXPECT_NE(FindAccessRule(op), nullptr) << op;
  std::set<std::string_view> names;
  for (const AccessRule& r : AccessRules()) {
    EXPECT_TRUE(names.insert(r.operation).second) << "duplicate rule " << r.operation;
    if (r.access != Access::kAnyToken) EXPECT_FALSE(r.denied.empty()) << r.operation;
  }
  EXPECT_EQ(names.size(), api.size());
  EXPECT_EQ(FindAccessRule("vm.explode"), nullptr);
}

struct RoleCase {
  const char* operation;
  Principal who;
  StatusCode want;
  const char* message;  // checked when not empty
};

TEST(AuthorizerTest, RolesPerOperation) {
  const StatusCode ok = StatusCode::kOk, denied = StatusCode::kPermissionDenied,
                   unauth = StatusCode::kUnauthenticated;
  const std::vector<RoleCase> cases = {
      {"tenant.create", kSystemAdmin, ok, ""},
      {"tenant.create", kAcmeAdmin, denied, "only an admin of the system tenant creates tenants"},
      {"tenant.create", kSystemMember, denied, ""},
      {"tenant.create", kAnonymous, denied, ""},
      {"tenant.list", kSystemAdmin, ok, ""},
      {"tenant.list", kAcmeAdmin, denied, "only an admin of the system tenant lists tenants"},
      {"host.put", kSystemAdmin, ok, ""},
      {"host.put", kAcmeReader, denied,
       "only an admin of the system tenant or the host's agent registers hosts"},
      {"host.list", kAcmeReader, ok, ""},
      {"host.list", kAnonymous, unauth, "missing or bad token"},
      {"host.get", kAnonymous, unauth, ""},
      {"vm.create", kAcmeMember, ok, ""},
      {"vm.create", kAcmeAdmin, ok, ""},
      {"vm.create", kAcmeReader, denied, "a reader cannot create VMs"},
      {"vm.create", kAnonymous, denied, ""},
      {"vm.list", kAcmeReader, ok, ""},
      {"vm.list", kAnonymous, unauth, ""},
      {"audit.list", kAcmeAdmin, ok, ""},
      {"audit.list", kSystemAdmin, ok, ""},
      {"audit.list", kAcmeMember, denied, "only admins read the audit log"},
      {"audit.list", kAnonymous, denied, ""},
      {"volume.list", kAcmeReader, ok, ""},
      {"volume.list", kAnonymous, unauth, ""},
      {"volume.attach", kAcmeMember, ok, ""},
      {"volume.attach", kAcmeReader, denied, "a reader cannot attach volumes"},
      {"volume.detach", kAcmeAdmin, ok, ""},
      {"volume.detach", kAcmeReader, denied, "a reader cannot detach volumes"},
      {"volume.migrate", kAcmeMember, ok, ""},
      {"volume.migrate", kAcmeReader, denied, "a reader cannot migrate volumes"},
      {"volume.migrate", kAgentH1, ok, ""},  // its tiering controller (own host's VMs only)
      {"network.create", kAcmeMember, ok, ""},
      {"network.create", kAcmeReader, denied, "a reader cannot create networks"},
      {"network.list", kAcmeReader, ok, ""},
      {"network.delete", kAcmeReader, denied, "a reader cannot delete networks"},
      {"network.delete", kAgentH1, denied, ""},
      {"vm.explode", kSystemAdmin, denied, "no access rule for operation 'vm.explode'"},
  };
  for (const RoleCase& c : cases) {
    SCOPED_TRACE(std::string(c.operation) + " by " + c.who.actor);
    const Status s = Authorize(c.who, c.operation);
    EXPECT_EQ(s.code(), c.want) << s.ToString();
    if (*c.message != '\0') EXPECT_EQ(s.message(), c.message);
  }
}

struct ObjectCase {
  const char* operation;
  Principal who;
  const char* owner;
  StatusCode want;
};

TEST(AuthorizerTest, ObjectsOfOtherTenantsAreHiddenBeforeTheRoleIsChecked) {
  const StatusCode ok = StatusCode::kOk, denied = StatusCode::kPermissionDenied,
                   hidden = StatusCode::kNotFound, unauth = StatusCode::kUnauthenticated;
  const std::vector<ObjectCase> cases = {
      {"vm.delete", kAcmeMember, "t-acme", ok},
      {"vm.delete", kAcmeReader, "t-acme", denied},
      {"vm.delete", kAcmeReader, "t-other", hidden},  // 404 wins over 403
      {"vm.delete", kAcmeMember, "t-other", hidden},
      {"vm.delete", kSystemAdmin, "t-acme", ok},
      {"vm.delete", kSystemMember, "t-acme", hidden},
      {"vm.delete", kAnonymous, "t-acme", hidden},
      {"vm.resize", kAcmeReader, "t-acme", denied},
      {"vm.resize", kAcmeAdmin, "t-acme", ok},
      {"vm.get", kAcmeReader, "t-acme", ok},
      {"vm.get", kAcmeReader, "t-other", hidden},
      {"vm.get", kAnonymous, "t-acme", unauth},  // no token: 401, not 404
      {"vm.list", kSystemAdmin, "t-other", ok},
      {"token.create", kAcmeAdmin, "t-acme", ok},
      {"token.create", kAcmeAdmin, "t-other", hidden},
      {"token.create", kAcmeMember, "t-acme", denied},
      {"token.create", kSystemAdmin, "t-other", ok},
      {"audit.list", kAcmeAdmin, "system", hidden},
      {"audit.list", kSystemAdmin, "t-acme", ok},
      {"volume.list", kAcmeReader, "t-other", hidden},
      {"volume.attach", kAcmeReader, "t-other", hidden},
      {"volume.attach", kAcmeMember, "t-other", hidden},
      {"volume.detach", kAcmeReader, "t-acme", denied},
      {"volume.migrate", kSystemAdmin, "t-acme", ok},
  };
  for (const ObjectCase& c : cases) {
    SCOPED_TRACE(std::string(c.operation) + " by " + c.who.actor + " on " + c.owner);
    const Status s = AuthorizeOn(c.who, c.operation, c.owner, Status::NotFound("gone"));
    EXPECT_EQ(s.code(), c.want) << s.ToString();
    if (c.want == hidden) EXPECT_EQ(s.message(), "gone");
  }
}

// An agent token runs only the rules that admit agents, only for its own host, and sees only
// the VMs of that host (another host's VM is hidden like a missing one).
TEST(AuthorizerTest, AgentTokensActForTheirOwnHostOnly) {
  const Status gone = Status::NotFound("gone");
  EXPECT_TRUE(AuthorizeHost(kAgentH1, "host.heartbeat", "h1").ok());
  EXPECT_TRUE(AuthorizeHost(kAgentH1, "host.desired", "h1").ok());
  EXPECT_TRUE(AuthorizeHost(kAgentH1, "host.put", "h1").ok());
  EXPECT_TRUE(AuthorizeHost(kAgentH1, "host.get", "h1").ok());
  const Status other = AuthorizeHost(kAgentH1, "host.heartbeat", "h2");
  EXPECT_EQ(other.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(other.message(), "an agent token acts only for host h1");
  EXPECT_EQ(AuthorizeHost(kAgentH1, "host.put", "h2").code(), StatusCode::kPermissionDenied);
  for (const char* op :
       {"host.cordon", "host.drain", "host.delete", "host.token", "host.list", "tenant.create",
        "tenant.list", "vm.create", "image.create", "image.list", "audit.list"}) {
    SCOPED_TRACE(op);
    const Status s = AuthorizeHost(kAgentH1, op, "h1");
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
    EXPECT_EQ(s.message(), std::string("an agent token (host h1) may not run ") + op);
  }
  EXPECT_TRUE(AuthorizeOnVm(kAgentH1, "vm.get", "t-acme", "h1", gone).ok());
  EXPECT_TRUE(AuthorizeOnVm(kAgentH1, "vm.console_push", "t-acme", "h1", gone).ok());
  EXPECT_EQ(AuthorizeOnVm(kAgentH1, "vm.get", "t-acme", "h2", gone).code(), StatusCode::kNotFound);
  EXPECT_EQ(AuthorizeOnVm(kAgentH1, "vm.delete", "t-acme", "h1", gone).code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(AuthorizeOnVm(kAgentH1, "vm.power", "t-acme", "h1", gone).code(),
            StatusCode::kPermissionDenied);
  // Tenants' users: the host plays no part; only the VM's host agent pushes its console.
  EXPECT_TRUE(AuthorizeOnVm(kAcmeReader, "vm.console", "t-acme", "h2", gone).ok());
  EXPECT_EQ(AuthorizeOnVm(kAcmeAdmin, "vm.console_push", "t-acme", "h1", gone).code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(AuthorizeOnVm(kAcmeAdmin, "vm.get", "t-other", "h1", gone).code(),
            StatusCode::kNotFound);
  EXPECT_TRUE(AuthorizeHost(kSystemAdmin, "host.cordon", "h1").ok());
  EXPECT_EQ(AuthorizeHost(kAcmeAdmin, "host.cordon", "h1").code(), StatusCode::kPermissionDenied);
}

TEST(AuthorizerTest, UnscopedRulesIgnoreTheOwner) {
  EXPECT_TRUE(AuthorizeOn(kSystemAdmin, "host.put", "t-acme", Status::NotFound("x")).ok());
  EXPECT_TRUE(AuthorizeOn(kAcmeReader, "host.get", "t-other", Status::NotFound("x")).ok());
}

}  // namespace
}  // namespace devshare::server
