// Test 3: the authorisation matrix. Every endpoint x every persona gets the exact status derived
// from control_plane.cc, and every mutation and every refusal writes exactly one audit record
// (DESIGN.md: "Every mutation and every denial writes one audit record"). Then the
// object-level checks: what each persona can see of another tenant (nothing), and that a
// tenant admin reads only its own tenant's audit records.
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/server/server_process.h"
#include "tests/integration/server/test_util.h"

namespace devshare::it {
namespace {

enum Persona {
  kSystemAdmin,
  kTenantAdmin,
  kMember,
  kReader,
  kOtherMember,
  kNoToken,
  kBadToken,
  kBadScheme,
  kAgent,  // the agent token of host h9 (which it registered itself, too small for any VM)
  kPersonas
};
constexpr const char* kPersonaNames[kPersonas] = {"system-admin", "tenant-admin", "member",
                                                  "reader",       "other-member", "no-token",
                                                  "bad-token",    "basic-auth",   "agent-h9"};

struct Ctx {
  std::array<std::unique_ptr<Api>, kPersonas> as;
  std::string tenant_a, tenant_b;
  nlohmann::json host_inventory;
  // A fresh VM of tenant A (created by A's member) for cells that read or change one.
  std::function<std::string()> fresh_vm;
};

struct Row {
  std::string endpoint;  // "METHOD /path" as documented
  bool mutation;         // POST/PUT/DELETE: audited whatever the answer
  std::function<Reply(Api&, Ctx&, Persona)> call;
  std::array<int, kPersonas> expect;
};

TEST(ServerTenantMatrix, EveryEndpointTimesEveryPersona) {
  TempFolder tmp("matrix");
  ServerProcess server(tmp.path());
  ASSERT_TRUE(server.Start());
  Ctx ctx;
  ctx.as[kSystemAdmin] = std::make_unique<Api>(server.url(), server.AdminToken());
  Api& sys = *ctx.as[kSystemAdmin];
  ctx.host_inventory = TightHost();
  ASSERT_EQ(PutHost(sys, "h1", ctx.host_inventory), 201);
  ASSERT_EQ(PutHost(sys, "h2", ctx.host_inventory), 201);
  ctx.tenant_a = CreateTenant(sys, "alpha");
  ctx.tenant_b = CreateTenant(sys, "beta");
  ASSERT_FALSE(ctx.tenant_a.empty());
  ASSERT_FALSE(ctx.tenant_b.empty());
  ctx.as[kTenantAdmin] =
      std::make_unique<Api>(server.url(), CreateToken(sys, ctx.tenant_a, "admin"));
  ctx.as[kMember] = std::make_unique<Api>(server.url(), CreateToken(sys, ctx.tenant_a, "member"));
  ctx.as[kReader] = std::make_unique<Api>(server.url(), CreateToken(sys, ctx.tenant_a, "reader"));
  ctx.as[kOtherMember] =
      std::make_unique<Api>(server.url(), CreateToken(sys, ctx.tenant_b, "member"));
  ctx.as[kNoToken] = std::make_unique<Api>(server.url(), "");
  ctx.as[kBadToken] = std::make_unique<Api>(server.url(), "dst_" + std::string(48, '0'));
  ctx.as[kBadScheme] = std::make_unique<Api>(server.url(), "");
  ctx.as[kBadScheme]->set_authorization("Basic YWRtaW46YWRtaW4=");
  {
    Reply t = sys.Post("/v1/hosts/h9/tokens", "");
    ASSERT_EQ(t.status, 201) << t.Describe();
    ctx.as[kAgent] = std::make_unique<Api>(server.url(), t.body.value("token", ""));
    // Registered by its agent (so managed) and too small for the matrix's 100-milli VMs.
    Reply put =
        ctx.as[kAgent]->Put("/v1/hosts/h9", nlohmann::json{{"cpu_milli", 50}, {"memory_mib", 32}});
    ASSERT_EQ(put.status, 201) << put.Describe();
  }
  ASSERT_FALSE(HasFailure());
  int vm_counter = 0;
  ctx.fresh_vm = [&] {
    Reply r = ctx.as[kMember]->Post(
        "/v1/vms", nlohmann::json{{"name", "fixture-" + std::to_string(vm_counter++)},
                                  {"cpu_milli", 100},
                                  {"memory_mib", 64}});
    EXPECT_EQ(r.status, 201) << r.Describe();
    return r.body.is_object() ? r.body.value("id", std::string("missing")) : "missing";
  };

  // Columns: system-admin, tenant-admin, member, reader, other-member, no-token, bad-token,
  // basic-auth, agent-h9. "tenant" is alpha (the tenant of tenant-admin/member/reader), "other" is
  // beta.
  const std::vector<Row> rows = {
      {"POST /v1/tenants",
       true,
       [](Api& a, Ctx&, Persona p) {
         return a.Post("/v1/tenants",
                       nlohmann::json{{"name", std::string("new-") + kPersonaNames[p]}});
       },
       {201, 403, 403, 403, 403, 401, 401, 401, 403}},
      {"GET /v1/tenants",
       false,
       [](Api& a, Ctx&, Persona) { return a.Get("/v1/tenants"); },
       {200, 403, 403, 403, 403, 401, 401, 401, 403}},
      {"POST /v1/tenants/{tenant}/tokens",
       true,
       [](Api& a, Ctx& c, Persona) {
         return a.Post("/v1/tenants/" + c.tenant_a + "/tokens", nlohmann::json{{"role", "reader"}});
       },
       {201, 201, 403, 403, 404, 401, 401, 401, 404}},
      {"POST /v1/tenants/{other}/tokens",
       true,
       [](Api& a, Ctx& c, Persona) {
         return a.Post("/v1/tenants/" + c.tenant_b + "/tokens", nlohmann::json{{"role", "reader"}});
       },
       {201, 404, 404, 404, 403, 401, 401, 401, 404}},
      {"PUT /v1/hosts/{name}",
       true,
       [](Api& a, Ctx& c, Persona) { return a.Put("/v1/hosts/h1", c.host_inventory); },
       {200, 403, 403, 403, 403, 401, 401, 401, 403}},
      {"GET /v1/hosts",
       false,
       [](Api& a, Ctx&, Persona) { return a.Get("/v1/hosts"); },
       {200, 200, 200, 200, 200, 401, 401, 401, 403}},
      {"GET /v1/hosts/{name}",
       false,
       [](Api& a, Ctx&, Persona) { return a.Get("/v1/hosts/h1"); },
       {200, 200, 200, 200, 200, 401, 401, 401, 403}},
      {"POST /v1/vms",
       true,
       [](Api& a, Ctx&, Persona p) {
         return a.Post("/v1/vms", nlohmann::json{{"name", std::string("by-") + kPersonaNames[p]},
                                                 {"cpu_milli", 100},
                                                 {"memory_mib", 64}});
       },
       {201, 201, 201, 403, 201, 401, 401, 401, 403}},
      {"GET /v1/vms",
       false,
       [](Api& a, Ctx&, Persona) { return a.Get("/v1/vms"); },
       {200, 200, 200, 200, 200, 401, 401, 401, 200}},
      {"GET /v1/vms/{id}",
       false,
       [](Api& a, Ctx& c, Persona) { return a.Get("/v1/vms/" + c.fresh_vm()); },
       {200, 200, 200, 200, 404, 401, 401, 401, 404}},
      {"DELETE /v1/vms/{id}",
       true,
       [](Api& a, Ctx& c, Persona) { return a.Delete("/v1/vms/" + c.fresh_vm()); },
       {200, 200, 200, 403, 404, 401, 401, 401, 404}},
      {"POST /v1/vms/{id}/resize",
       true,
       [](Api& a, Ctx& c, Persona) {
         return a.Post("/v1/vms/" + c.fresh_vm() + "/resize", nlohmann::json{{"cpu_milli", 200}});
       },
       {200, 200, 200, 403, 404, 401, 401, 401, 404}},
      {"GET /v1/audit",
       false,
       [](Api& a, Ctx&, Persona) { return a.Get("/v1/audit"); },
       {200, 200, 403, 403, 403, 401, 401, 401, 403}},
      // The fleet (issue 14): h9 is the agent's own host; VMs of the matrix sit on h1/h2, whose
      // hosts have no agent.
      {"POST /v1/hosts/{own}/heartbeat (a report: audited only when it changes something)",
       false,
       [](Api& a, Ctx&, Persona) { return a.Post("/v1/hosts/h9/heartbeat", R"({"vms": []})"); },
       {200, 403, 403, 403, 403, 401, 401, 401, 200}},
      {"GET /v1/hosts/{own}/desired",
       false,
       [](Api& a, Ctx&, Persona) { return a.Get("/v1/hosts/h9/desired?wait_ms=0"); },
       {200, 403, 403, 403, 403, 401, 401, 401, 200}},
      {"POST /v1/hosts/{name}/tokens",
       true,
       [](Api& a, Ctx&, Persona) { return a.Post("/v1/hosts/h1/tokens", ""); },
       {201, 403, 403, 403, 403, 401, 401, 401, 403}},
      {"POST /v1/hosts/{name}/cordon",
       true,
       [](Api& a, Ctx&, Persona) { return a.Post("/v1/hosts/h2/cordon", ""); },
       {200, 403, 403, 403, 403, 401, 401, 401, 403}},
      {"POST /v1/hosts/{name}/uncordon",
       true,
       [](Api& a, Ctx&, Persona) { return a.Post("/v1/hosts/h2/uncordon", ""); },
       {200, 403, 403, 403, 403, 401, 401, 401, 403}},
      {"POST /v1/hosts/{own}/drain",
       true,
       [](Api& a, Ctx&, Persona) { return a.Post("/v1/hosts/h9/drain", ""); },
       {200, 403, 403, 403, 403, 401, 401, 401, 403}},
      {"DELETE /v1/hosts/{missing}",
       true,
       [](Api& a, Ctx&, Persona) { return a.Delete("/v1/hosts/h404"); },
       {404, 403, 403, 403, 403, 401, 401, 401, 403}},
      {"POST /v1/images",
       true,
       [](Api& a, Ctx&, Persona p) {
         return a.Post("/v1/images",
                       nlohmann::json{{"name", std::string("img-") + kPersonaNames[p]},
                                      {"kind", "kernel"},
                                      {"kernel", "/k"},
                                      {"initrd", "/i"},
                                      {"verify", false}});
       },
       {201, 403, 403, 403, 403, 401, 401, 401, 403}},
      {"GET /v1/images",
       false,
       [](Api& a, Ctx&, Persona) { return a.Get("/v1/images"); },
       {200, 200, 200, 200, 200, 401, 401, 401, 403}},
      {"POST /v1/vms/{id}/stop (its host has no agent)",
       true,
       [](Api& a, Ctx& c, Persona) { return a.Post("/v1/vms/" + c.fresh_vm() + "/stop", ""); },
       {409, 409, 409, 403, 404, 401, 401, 401, 404}},
      {"GET /v1/vms/{id}/console",
       false,
       [](Api& a, Ctx& c, Persona) { return a.Get("/v1/vms/" + c.fresh_vm() + "/console"); },
       {200, 200, 200, 200, 404, 401, 401, 401, 404}},
      {"POST /v1/vms/{id}/console (pushed by agents: not audited)",
       false,
       [](Api& a, Ctx& c, Persona) {
         return a.Post("/v1/vms/" + c.fresh_vm() + "/console?offset=0", "boot\n");
       },
       {200, 403, 403, 403, 404, 401, 401, 401, 404}},
  };

  std::ostringstream table;
  int mismatches = 0;
  for (const Row& row : rows) {
    for (int p = 0; p < kPersonas; ++p) {
      const Persona persona = static_cast<Persona>(p);
      Api& api = *ctx.as[p];
      // A cell on one VM gets a fresh VM of tenant A, made before the audit head is read, so
      // the audit delta counts the request alone.
      Reply r;
      int64_t before = 0, after = 0;
      if (row.endpoint.find("{id}") != std::string::npos) {
        const std::string id = ctx.fresh_vm();
        before = AuditHeadSeq(sys);
        Ctx one = {};
        one.tenant_a = ctx.tenant_a;
        one.tenant_b = ctx.tenant_b;
        one.host_inventory = ctx.host_inventory;
        one.fresh_vm = [id] { return id; };
        r = row.call(api, one, persona);
      } else {
        before = AuditHeadSeq(sys);
        r = row.call(api, ctx, persona);
      }
      after = AuditHeadSeq(sys);
      const int want = row.expect[p];
      const int64_t want_audit = (row.mutation || want >= 300) ? 1 : 0;
      const bool status_ok = r.status == want;
      const bool audit_ok = after - before == want_audit;
      const bool body_ok = r.is_json() && (r.status < 400 ||
                                           (r.body.contains("code") && r.body.contains("message")));
      if (!status_ok || !audit_ok || !body_ok) {
        ++mismatches;
        table << "  " << row.endpoint << " as " << kPersonaNames[p] << ": expected " << want
              << " (+" << want_audit << " audit), got " << r.status << " (+" << (after - before)
              << " audit)" << (body_ok ? "" : ", body is not a JSON error") << "  "
              << r.raw.substr(0, 200) << "\n";
      }
    }
  }
  EXPECT_EQ(mismatches, 0) << "cells that differ from the expected table:\n" << table.str();

  // --- object-level checks ---------------------------------------------------------------
  Api& member = *ctx.as[kMember];
  Api& reader = *ctx.as[kReader];
  Api& other = *ctx.as[kOtherMember];
  Api& tenant_admin = *ctx.as[kTenantAdmin];
  const std::string vm_a = ctx.fresh_vm();

  // The other tenant's view holds nothing of tenant A: no ids, not even its tenant id.
  {
    Reply mine = member.Get("/v1/vms");
    ASSERT_EQ(mine.status, 200);
    std::set<std::string> a_ids;
    for (const auto& vm : mine.body["vms"]) {
      EXPECT_EQ(vm.value("tenant_id", ""), ctx.tenant_a) << vm.dump();
      a_ids.insert(vm.value("id", ""));
    }
    EXPECT_EQ(a_ids.count(vm_a), 1u);
    Reply theirs = other.Get("/v1/vms");
    ASSERT_EQ(theirs.status, 200);
    for (const auto& vm : theirs.body["vms"]) {
      EXPECT_EQ(vm.value("tenant_id", ""), ctx.tenant_b) << vm.dump();
    }
    for (const std::string& id : a_ids) {
      EXPECT_EQ(theirs.raw.find(id), std::string::npos) << "tenant B sees " << id;
    }
    EXPECT_EQ(theirs.raw.find(ctx.tenant_a), std::string::npos) << theirs.raw;
    Reply as_reader = reader.Get("/v1/vms");
    ASSERT_EQ(as_reader.status, 200);
    EXPECT_NE(as_reader.raw.find(vm_a), std::string::npos);
    Reply as_sys = sys.Get("/v1/vms");
    ASSERT_EQ(as_sys.status, 200);
    EXPECT_NE(as_sys.raw.find(ctx.tenant_a), std::string::npos);
    EXPECT_NE(as_sys.raw.find(ctx.tenant_b), std::string::npos);
  }
  // Another tenant's VM answers exactly like a missing one (no id oracle).
  {
    Reply foreign = other.Get("/v1/vms/" + vm_a);
    const std::string missing_id = "vm-00000000000000000000";
    Reply missing = other.Get("/v1/vms/" + missing_id);
    ASSERT_EQ(foreign.status, 404);
    ASSERT_EQ(missing.status, 404);
    std::string normalised = foreign.raw;
    normalised.replace(normalised.find(vm_a), vm_a.size(), missing_id);
    EXPECT_EQ(normalised, missing.raw);
    Reply del = other.Delete("/v1/vms/" + vm_a);
    EXPECT_EQ(del.status, 404);
    Reply del_missing = other.Delete("/v1/vms/" + missing_id);
    EXPECT_EQ(del_missing.status, 404);
    std::string del_norm = del.raw;
    del_norm.replace(del_norm.find(vm_a), vm_a.size(), missing_id);
    EXPECT_EQ(del_norm, del_missing.raw);
  }
  // Refused changes changed nothing.
  {
    EXPECT_EQ(reader.Delete("/v1/vms/" + vm_a).status, 403);
    EXPECT_EQ(other.Post("/v1/vms/" + vm_a + "/resize", nlohmann::json{{"cpu_milli", 900}}).status,
              404);
    EXPECT_EQ(reader.Post("/v1/vms/" + vm_a + "/resize", nlohmann::json{{"cpu_milli", 900}}).status,
              403);
    Reply still = member.Get("/v1/vms/" + vm_a);
    ASSERT_EQ(still.status, 200) << still.Describe();
    EXPECT_EQ(still.body.value("cpu_milli", int64_t{0}), 100) << still.raw;
  }
  // A VM made by the other tenant's member belongs to the other tenant.
  {
    Reply r = other.Post(
        "/v1/vms", nlohmann::json{{"name", "beta-vm"}, {"cpu_milli", 100}, {"memory_mib", 64}});
    ASSERT_EQ(r.status, 201) << r.Describe();
    EXPECT_EQ(r.body.value("tenant_id", ""), ctx.tenant_b);
    EXPECT_EQ(member.Get("/v1/vms/" + r.body.value("id", "")).status, 404);
  }
  // A token made by the tenant admin is scoped to its tenant and role.
  {
    Reply t = tenant_admin.Post("/v1/tenants/" + ctx.tenant_a + "/tokens",
                                nlohmann::json{{"role", "reader"}});
    ASSERT_EQ(t.status, 201) << t.Describe();
    EXPECT_EQ(t.body.value("tenant_id", ""), ctx.tenant_a);
    Api fresh(server.url(), t.body.value("token", ""));
    EXPECT_EQ(fresh.Get("/v1/vms/" + vm_a).status, 200);
    EXPECT_EQ(
        fresh.Post("/v1/vms", nlohmann::json{{"name", "nope"}, {"cpu_milli", 1}, {"memory_mib", 1}})
            .status,
        403);
    EXPECT_EQ(
        tenant_admin
            .Post("/v1/tenants/" + ctx.tenant_a + "/tokens", nlohmann::json{{"role", "owner"}})
            .status,
        400);
  }
  // The tenant admin reads only its tenant's audit records; the system admin reads them all.
  {
    std::set<std::string> tenants_seen;
    int64_t after = 0, records = 0;
    for (;;) {
      Reply r = tenant_admin.Get("/v1/audit?after=" + std::to_string(after) + "&limit=500");
      ASSERT_EQ(r.status, 200) << r.Describe();
      for (const auto& rec : r.body["records"]) {
        tenants_seen.insert(rec.value("tenant_id", "?"));
        ++records;
      }
      if (r.body["records"].empty()) break;
      after = r.body.value("next_after", after);
    }
    EXPECT_GT(records, 20);
    EXPECT_EQ(tenants_seen, std::set<std::string>{ctx.tenant_a});
    Reply all = sys.Get("/v1/audit?limit=10000");
    ASSERT_EQ(all.status, 200);
    std::set<std::string> all_tenants;
    for (const auto& rec : all.body["records"]) all_tenants.insert(rec.value("tenant_id", "?"));
    EXPECT_TRUE(all_tenants.count(ctx.tenant_a) && all_tenants.count(ctx.tenant_b) &&
                all_tenants.count("system"))
        << all.raw.substr(0, 400);
  }
  // Close the keep-alive connections first: the server's graceful stop waits for them.
  for (auto& api : ctx.as) api.reset();
  ASSERT_TRUE(server.Stop());
  StoreCheck check = CheckStore(server.db_path());
  EXPECT_TRUE(check.violations.empty()) << check.Summary();
}

}  // namespace
}  // namespace devshare::it
