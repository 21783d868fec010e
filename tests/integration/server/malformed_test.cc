// Test 4: malformed requests get a 4xx JSON error ({code, message}) naming the bad field, never
// a 5xx and never a dead server. One table of cases; the server must still answer afterwards
// and its store must still pass the invariant checker.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/integration/server/server_process.h"
#include "tests/integration/server/test_util.h"

namespace devshare::it {
namespace {

enum Who { kAdmin, kMember, kAnonymous };

struct Case {
  std::string what;
  Who who;
  std::string method;  // GET POST PUT DELETE PATCH
  std::string path;
  std::string body;
  int status;
  std::string code;   // expected `code` ("" = any)
  std::string field;  // substring the message must contain ("" = none)
  Headers headers = {};
};

std::string VmBody(const std::string& extra) {
  return R"({"name":"vm-x","cpu_milli":1000,"memory_mib":1024)" +
         (extra.empty() ? std::string() : "," + extra) + "}";
}

std::string HostBody(const std::string& gpus_or_extra) {
  return R"({"cpu_milli":16000,"memory_mib":65536,)" + gpus_or_extra + "}";
}

Reply Perform(Api& api, const Case& c) {
  if (c.method == "GET") return api.Get(c.path);
  if (c.method == "DELETE") return api.Delete(c.path);
  if (c.method == "PUT") return api.Put(c.path, c.body, c.headers);
  if (c.method == "PATCH") return api.Patch(c.path, c.body);
  return api.Post(c.path, c.body, c.headers);
}

// Checks one answer against its case; returns "" when it matches.
std::string Mismatch(const Case& c, const Reply& r) {
  std::string why;
  if (r.status != c.status) why += " status " + std::to_string(r.status);
  if (r.status >= 500 || r.status == 0) why += " (server error or no answer)";
  if (!r.is_json() || !r.body.is_object()) {
    why += " body is not a JSON object";
  } else {
    const auto code = r.body.find("code");
    const auto message = r.body.find("message");
    if (code == r.body.end() || !code->is_string()) why += " no string 'code'";
    if (message == r.body.end() || !message->is_string()) why += " no string 'message'";
    if (!c.code.empty() && code != r.body.end() && *code != c.code) {
      why += " code " + code->dump();
    }
    if (!c.field.empty() && message != r.body.end() && message->is_string() &&
        message->get<std::string>().find(c.field) == std::string::npos) {
      why += " message does not name '" + c.field + "'";
    }
  }
  if (why.empty()) return "";
  return c.what + ": expected " + std::to_string(c.status) + " " + c.code + " naming '" + c.field +
         "';" + why + "\n    " + r.Describe() + "\n";
}

class ServerMalformed : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start());
    admin_ = std::make_unique<Api>(server_.url(), server_.AdminToken());
    ASSERT_EQ(PutHost(*admin_, "h1", TightHost()), 201);
    tenant_ = CreateTenant(*admin_, "acme");
    member_ = std::make_unique<Api>(server_.url(), CreateToken(*admin_, tenant_, "member"));
    anonymous_ = std::make_unique<Api>(server_.url(), "");
    Reply vm = member_->Post("/v1/vms", nlohmann::json{{"name", "base"},
                                                       {"cpu_milli", 500},
                                                       {"memory_mib", 512},
                                                       {"gpu", {{"count", 1}, {"milli", 300}}}});
    ASSERT_EQ(vm.status, 201) << vm.Describe();
    vm_id_ = vm.body["id"];
  }

  Api& As(Who w) { return w == kAdmin ? *admin_ : w == kMember ? *member_ : *anonymous_; }

  // Runs every case; fails with one line per mismatch. Then the server must still be healthy.
  void RunCases(const std::vector<Case>& cases) {
    std::string failures;
    for (const Case& c : cases) failures += Mismatch(c, Perform(As(c.who), c));
    EXPECT_TRUE(failures.empty()) << failures;
    EXPECT_TRUE(server_.Alive()) << server_.StderrLog();
  }

  void ExpectHealthyAfterwards() {
    if (!server_.running()) return;
    Reply hosts = member_->Get("/v1/hosts");
    EXPECT_EQ(hosts.status, 200) << hosts.Describe();
    Reply audit = admin_->Get("/v1/audit?limit=10000");
    EXPECT_EQ(audit.status, 200) << "the audit log must stay readable: " << audit.Describe();
    // Close the keep-alive connections first: the server's graceful stop waits for them.
    admin_.reset();
    member_.reset();
    anonymous_.reset();
    ASSERT_TRUE(server_.Stop());
    StoreCheck check = CheckStore(server_.db_path());
    EXPECT_TRUE(check.violations.empty()) << check.Summary();
  }

  TempFolder tmp_{"malformed"};
  ServerProcess server_{tmp_.path()};
  std::unique_ptr<Api> admin_, member_, anonymous_;
  std::string tenant_, vm_id_;
};

TEST_F(ServerMalformed, BadBodiesAndParametersGetFourHundreds) {
  const std::string vms = "/v1/vms";
  const std::string resize = "/v1/vms/" + vm_id_ + "/resize";
  const std::string big_int = "123456789012345678901234567890";
  std::vector<Case> cases = {
      // Not JSON / not an object.
      {"bad JSON", kMember, "POST", vms, R"({"name":"x",)", 400, "invalid_argument", "JSON"},
      {"empty body", kMember, "POST", vms, "", 400, "invalid_argument", "JSON"},
      {"JSON array body", kMember, "POST", vms, "[1,2,3]", 400, "invalid_argument", "object"},
      {"JSON string body", kMember, "POST", vms, R"("vm")", 400, "invalid_argument", "object"},
      {"trailing garbage", kMember, "POST", vms, VmBody("") + "}", 400, "invalid_argument", "JSON"},
      {"deeply nested array", kMember, "POST", vms,
       std::string(100000, '[') + std::string(100000, ']'), 400, "invalid_argument", ""},
      // Wrong types.
      {"cpu_milli as string", kMember, "POST", vms,
       R"({"name":"x","cpu_milli":"1000","memory_mib":1024})", 400, "invalid_argument",
       "cpu_milli"},
      {"memory_mib as bool", kMember, "POST", vms,
       R"({"name":"x","cpu_milli":1000,"memory_mib":true})", 400, "invalid_argument", "memory_mib"},
      {"name as number", kMember, "POST", vms, R"({"name":7,"cpu_milli":1,"memory_mib":1})", 400,
       "invalid_argument", "name"},
      {"gpu as string", kMember, "POST", vms, VmBody(R"("gpu":"a100")"), 400, "invalid_argument",
       "gpu"},
      {"qos as array", kMember, "POST", vms, VmBody(R"("qos":[])"), 400, "invalid_argument", "qos"},
      {"fractional cpu_milli", kMember, "POST", vms,
       R"({"name":"x","cpu_milli":10.5,"memory_mib":1024})", 400, "invalid_argument", "cpu_milli"},
      {"trait not a string", kMember, "POST", vms, VmBody(R"("required_traits":[1])"), 400,
       "invalid_argument", "required_traits[0]"},
      // Negative and huge sizes.
      {"negative cpu_milli", kMember, "POST", vms,
       R"({"name":"x","cpu_milli":-1000,"memory_mib":1024})", 400, "invalid_argument", "cpu_milli"},
      {"zero memory_mib", kMember, "POST", vms, R"({"name":"x","cpu_milli":1000,"memory_mib":0})",
       400, "invalid_argument", "memory_mib"},
      {"huge cpu_milli", kMember, "POST", vms,
       R"({"name":"x","cpu_milli":)" + big_int + R"(,"memory_mib":1024})", 400, "invalid_argument",
       "cpu_milli"},
      {"uint64 max memory_mib", kMember, "POST", vms,
       R"({"name":"x","cpu_milli":1000,"memory_mib":18446744073709551615})", 400,
       "invalid_argument", "memory_mib"},
      {"1e300 memory_mib", kMember, "POST", vms,
       R"({"name":"x","cpu_milli":1000,"memory_mib":1e300})", 400, "invalid_argument",
       "memory_mib"},
      {"valid but larger than any host", kMember, "POST", vms,
       R"({"name":"x","cpu_milli":1000,"memory_mib":1000000000000})", 409, "unschedulable", ""},
      {"negative qos", kMember, "POST", vms, VmBody(R"("qos":{"cpu_weight":-1})"), 400,
       "invalid_argument", "qos.cpu_weight"},
      // Unknown fields, top level and nested.
      {"unknown top-level field", kMember, "POST", vms, VmBody(R"("bogus":1)"), 400,
       "invalid_argument", "bogus"},
      {"unknown gpu field", kMember, "POST", vms, VmBody(R"("gpu":{"count":1,"bogus":1})"), 400,
       "invalid_argument", "gpu.bogus"},
      {"unknown qos field", kMember, "POST", vms, VmBody(R"("qos":{"bogus":1})"), 400,
       "invalid_argument", "qos.bogus"},
      {"unknown host gpu field", kAdmin, "PUT", "/v1/hosts/h9",
       HostBody(R"("gpus":[{"id":"g0","bogus":1}])"), 400, "invalid_argument", "gpus[0].bogus"},
      {"unknown host field", kAdmin, "PUT", "/v1/hosts/h9", HostBody(R"("bogus":1)"), 400,
       "invalid_argument", "bogus"},
      {"unknown numa field", kAdmin, "PUT", "/v1/hosts/h9",
       HostBody(R"("numa":[{"cpu_milli":16000,"memory_mib":65536,"bogus":1}])"), 400,
       "invalid_argument", "numa[0].bogus"},
      {"unknown tenant field", kAdmin, "POST", "/v1/tenants", R"({"name":"t1","bogus":1})", 400,
       "invalid_argument", "bogus"},
      {"unknown token field", kAdmin, "POST", "/v1/tenants/" + tenant_ + "/tokens",
       R"({"role":"reader","bogus":1})", 400, "invalid_argument", "bogus"},
      {"unknown resize field", kMember, "POST", resize, R"({"cpu_milli":600,"bogus":1})", 400,
       "invalid_argument", "bogus"},
      // GPU shapes.
      {"gpu milli 0", kMember, "POST", vms, VmBody(R"("gpu":{"count":1,"milli":0})"), 400,
       "invalid_argument", "gpu.milli"},
      {"gpu milli 1001", kMember, "POST", vms, VmBody(R"("gpu":{"count":1,"milli":1001})"), 400,
       "invalid_argument", "gpu.milli"},
      {"gpu count 2 with milli 500", kMember, "POST", vms,
       VmBody(R"("gpu":{"count":2,"milli":500})"), 400, "invalid_argument", "gpu.milli"},
      {"gpu count -1", kMember, "POST", vms, VmBody(R"("gpu":{"count":-1})"), 400,
       "invalid_argument", "gpu.count"},
      {"gpu count 65", kMember, "POST", vms, VmBody(R"("gpu":{"count":65})"), 400,
       "invalid_argument", "gpu.count"},
      {"gpu profile with milli", kMember, "POST", vms,
       VmBody(R"("gpu":{"profile":"3g.20gb","milli":500})"), 400, "invalid_argument", "gpu"},
      {"resize gpu_milli 0", kMember, "POST", resize, R"({"gpu_milli":0})", 400, "invalid_argument",
       "gpu_milli"},
      {"resize gpu_milli 1001", kMember, "POST", resize, R"({"gpu_milli":1001})", 400,
       "invalid_argument", "gpu_milli"},
      {"resize nothing", kMember, "POST", resize, "{}", 400, "invalid_argument", "cpu_milli"},
      {"resize negative cpu", kMember, "POST", resize, R"({"cpu_milli":-5})", 400,
       "invalid_argument", "cpu_milli"},
      // Unknown enumerations.
      {"unknown sharing", kAdmin, "PUT", "/v1/hosts/h9",
       HostBody(R"("gpus":[{"id":"g0","sharing":"half"}])"), 400, "invalid_argument",
       "gpus[0].sharing"},
      {"unknown isolation", kAdmin, "PUT", "/v1/hosts/h9",
       HostBody(R"("gpus":[{"id":"g0","isolation":"none"}])"), 400, "invalid_argument",
       "gpus[0].isolation"},
      {"unknown tier", kAdmin, "PUT", "/v1/hosts/h9",
       HostBody(R"("disks":[{"id":"d0","tier":"tape","capacity_gib":10}])"), 400,
       "invalid_argument", "disks[0].tier"},
      {"unknown role", kAdmin, "POST", "/v1/tenants/" + tenant_ + "/tokens", R"({"role":"root"})",
       400, "invalid_argument", "role"},
      {"unknown policy", kMember, "POST", vms, VmBody(R"("policy":"fastest")"), 400,
       "invalid_argument", "policy"},
      {"unknown isolation floor", kMember, "POST", vms, VmBody(R"("isolation_floor":"iron")"), 400,
       "invalid_argument", "isolation_floor"},
      // Host inventory consistency.
      {"host without cpu", kAdmin, "PUT", "/v1/hosts/h9", R"({"memory_mib":1024})", 400,
       "invalid_argument", "cpu_milli"},
      {"host ratio 0", kAdmin, "PUT", "/v1/hosts/h9", HostBody(R"("cpu_allocation_ratio":0)"), 400,
       "invalid_argument", "cpu_allocation_ratio"},
      {"host reserved > total", kAdmin, "PUT", "/v1/hosts/h9",
       HostBody(R"("cpu_reserved_milli":16001)"), 400, "invalid_argument", "cpu_reserved_milli"},
      {"numa sums differ", kAdmin, "PUT", "/v1/hosts/h9",
       HostBody(R"("numa":[{"cpu_milli":1000,"memory_mib":1024}])"), 400, "invalid_argument",
       "numa"},
      {"duplicate device id", kAdmin, "PUT", "/v1/hosts/h9",
       HostBody(R"("gpus":[{"id":"g0"},{"id":"g0"}])"), 400, "invalid_argument", "gpus[1].id"},
      {"shrinking a host under its VMs", kAdmin, "PUT", "/v1/hosts/h1",
       R"({"cpu_milli":100,"memory_mib":100})", 409, "inventory_in_use", ""},
      // Names.
      {"empty VM name", kMember, "POST", vms, R"({"name":"","cpu_milli":1,"memory_mib":1})", 400,
       "invalid_argument", "name"},
      {"VM name with a space", kMember, "POST", vms,
       R"({"name":"a b","cpu_milli":1,"memory_mib":1})", 400, "invalid_argument", "name"},
      {"VM name with a slash", kMember, "POST", vms,
       R"({"name":"a/b","cpu_milli":1,"memory_mib":1})", 400, "invalid_argument", "name"},
      {"VM name starting with a dot", kMember, "POST", vms,
       R"({"name":".hidden","cpu_milli":1,"memory_mib":1})", 400, "invalid_argument", "name"},
      {"VM name of 64 chars", kMember, "POST", vms,
       R"({"name":")" + std::string(64, 'a') + R"(","cpu_milli":1,"memory_mib":1})", 400,
       "invalid_argument", "name"},
      {"non-ASCII VM name", kMember, "POST", vms,
       "{\"name\":\"caf\xc3\xa9\",\"cpu_milli\":1,\"memory_mib\":1}", 400, "invalid_argument",
       "name"},
      {"empty tenant name", kAdmin, "POST", "/v1/tenants", R"({"name":""})", 400,
       "invalid_argument", "name"},
      {"tenant name with a space", kAdmin, "POST", "/v1/tenants", R"({"name":"a b"})", 400,
       "invalid_argument", "name"},
      {"tenant name 'system' taken", kAdmin, "POST", "/v1/tenants", R"({"name":"system"})", 409,
       "already_exists", ""},
      {"host name with a space", kAdmin, "PUT", "/v1/hosts/bad%20name", HostBody(R"("traits":[])"),
       400, "invalid_argument", "name"},
      {"anti-affinity group with a slash", kMember, "POST", vms,
       VmBody(R"("anti_affinity_group":"a/b")"), 400, "invalid_argument", "anti_affinity_group"},
      // Audit query parameters.
      {"audit after not a number", kAdmin, "GET", "/v1/audit?after=abc", "", 400,
       "invalid_argument", "after"},
      {"audit negative after", kAdmin, "GET", "/v1/audit?after=-1", "", 400, "invalid_argument",
       "after"},
      {"audit limit 0", kAdmin, "GET", "/v1/audit?limit=0", "", 400, "invalid_argument", "limit"},
      {"audit limit 10001", kAdmin, "GET", "/v1/audit?limit=10001", "", 400, "invalid_argument",
       "limit"},
      {"audit limit overflows int64", kAdmin, "GET", "/v1/audit?limit=" + big_int, "", 400,
       "invalid_argument", "limit"},
      {"audit limit with junk", kAdmin, "GET", "/v1/audit?limit=", "", 400, "invalid_argument",
       "limit"},
      // Routes.
      {"unknown route", kAdmin, "GET", "/v1/nope", "", 404, "not_found", "/v1/nope"},
      {"unknown route, no token", kAnonymous, "GET", "/v2/vms", "", 404, "not_found", "/v2/vms"},
      {"unknown method on a route", kMember, "PATCH", "/v1/vms", "{}", 404, "not_found",
       "PATCH /v1/vms"},
      {"unknown VM", kMember, "GET", "/v1/vms/vm-does-not-exist", "", 404, "not_found",
       "vm-does-not-exist"},
      {"unknown host", kMember, "GET", "/v1/hosts/nope", "", 404, "not_found", "nope"},
      {"unknown tenant's tokens", kAdmin, "POST", "/v1/tenants/t-nope/tokens",
       R"({"role":"reader"})", 404, "not_found", "t-nope"},
      {"resize an unknown VM", kMember, "POST", "/v1/vms/vm-nope/resize", R"({"cpu_milli":1})", 404,
       "not_found", "vm-nope"},
  };
  RunCases(cases);

  // Bodies over the 1 MiB limit: 413 JSON. A fresh connection for each (the server may close it).
  for (size_t size : {size_t{1} << 20 | 1, size_t{2} << 20}) {
    Api big(server_.url(), "");
    big.set_authorization("Bearer " + server_.AdminToken());
    std::string body = R"({"name":"big","cpu_milli":1,"memory_mib":1,"pad":")";
    body += std::string(size - body.size() - 2, 'x');
    body += "\"}";
    ASSERT_EQ(body.size(), size);
    Reply r = big.Post("/v1/vms", body);
    Case c{"body of " + std::to_string(size) + " bytes",
           kAdmin,
           "POST",
           "/v1/vms",
           "",
           413,
           "payload_too_large",
           ""};
    std::string m = Mismatch(c, r);
    EXPECT_TRUE(m.empty()) << m;
  }

  // Idempotency: a repeat replays the first answer; a reuse with another body is 422.
  {
    const Headers key = {{"Idempotency-Key", "create-once-1"}};
    const std::string body = R"({"name":"idem","cpu_milli":100,"memory_mib":64})";
    Reply first = member_->Post("/v1/vms", body, key);
    ASSERT_EQ(first.status, 201) << first.Describe();
    Reply again = member_->Post("/v1/vms", body, key);
    EXPECT_EQ(again.status, 201) << again.Describe();
    EXPECT_EQ(again.body.value("id", ""), first.body.value("id", "")) << again.Describe();
    Reply other =
        member_->Post("/v1/vms", R"({"name":"idem","cpu_milli":200,"memory_mib":64})", key);
    Case c{"Idempotency-Key reused with another body",
           kMember,
           "POST",
           "/v1/vms",
           "",
           422,
           "idempotency_key_reused",
           "create-once-1"};
    std::string m = Mismatch(c, other);
    EXPECT_TRUE(m.empty()) << m;
    Reply list = member_->Get("/v1/vms");
    int idem = 0;
    for (const auto& vm : list.body["vms"]) idem += vm.value("name", "") == "idem";
    EXPECT_EQ(idem, 1) << "the repeat must not create a second VM";
  }
  ExpectHealthyAfterwards();
}

// --- Bytes that are not UTF-8 ------------------------------------------------------------
// The server percent-decodes paths and copies request bytes into error messages and audit
// records; nlohmann::json::dump() throws on bytes that are not UTF-8. The expectations below are
// the correct ones (4xx, a live server, a readable audit log).
// KNOWN SERVER BUGS (reported by the integration tests, not fixed here): at the time of writing
// each of the five tests below fails: 500s, a permanently unreadable audit log, and an abort()
// of the whole server.

// KNOWN SERVER BUG: 500 "internal" instead of 404 (the 404 message quotes the id).
TEST_F(ServerMalformed, NonUtf8PathBytesGetFourOhFour) {
  RunCases(
      {{"GET a VM id that is not UTF-8", kMember, "GET", "/v1/vms/%FF", "", 404, "not_found", ""},
       {"GET a host name that is not UTF-8", kMember, "GET", "/v1/hosts/%C3%28", "", 404,
        "not_found", ""}});
  ExpectHealthyAfterwards();
}

// KNOWN SERVER BUG: an unauthenticated request leaves a record whose object (the request path)
// is not UTF-8; from then on GET /v1/audit answers 500 for every admin, across restarts.
TEST_F(ServerMalformed, NonUtf8PathWithoutTokenKeepsTheAuditLogReadable) {
  RunCases({{"no token, path not UTF-8", kAnonymous, "GET", "/v1/vms/%FF", "", 401,
             "unauthenticated", ""}});
  ExpectHealthyAfterwards();
}

// KNOWN SERVER BUG: DELETE of a missing VM whose id is not UTF-8 answers 500 and also leaves an
// audit record that makes GET /v1/audit answer 500.
TEST_F(ServerMalformed, NonUtf8DeleteGetsFourOhFourAndKeepsTheAuditLogReadable) {
  RunCases({{"DELETE a VM id that is not UTF-8", kMember, "DELETE", "/v1/vms/%FE%FF", "", 404,
             "not_found", ""}});
  ExpectHealthyAfterwards();
}

// KNOWN SERVER BUG: the 404 handler of unknown routes quotes the path and throws outside any
// handler: the server aborts (std::terminate), for a request without a token.
TEST_F(ServerMalformed, NonUtf8UnknownRouteGetsFourOhFour) {
  RunCases({{"unknown route, path not UTF-8", kAnonymous, "GET", "/v1/nope%FF", "", 404,
             "not_found", ""}});
  ExpectHealthyAfterwards();
}

// KNOWN SERVER BUG: a JSON string or key holding a byte that is not UTF-8: the parser refuses it,
// its error message quotes the bytes, and dumping the audit record's detail throws on the writer
// thread: the server aborts (std::terminate), for any member.
TEST_F(ServerMalformed, NonUtf8BodyStringGetsFourHundred) {
  RunCases(
      {{"invalid UTF-8 inside a JSON string", kMember, "POST", "/v1/vms",
        "{\"name\":\"a\xff\",\"cpu_milli\":1,\"memory_mib\":1}", 400, "invalid_argument", "JSON"},
       {"invalid UTF-8 inside a JSON key", kAdmin, "PUT", "/v1/hosts/h9",
        "{\"cpu_milli\":1,\"memory_mib\":1,\"b\xc3\":1}", 400, "invalid_argument", "JSON"}});
  ExpectHealthyAfterwards();
}

// An Idempotency-Key that is not printable ASCII is refused up front (400 naming the header),
// and nothing is created.
TEST_F(ServerMalformed, NonAsciiIdempotencyKeyGetsFourHundred) {
  const Headers key = {{"Idempotency-Key", "k\xff"}};
  RunCases({{"Idempotency-Key not ASCII", kMember, "POST", "/v1/vms",
             R"({"name":"k1","cpu_milli":100,"memory_mib":64})", 400, "invalid_argument",
             "Idempotency-Key", key},
            {"Idempotency-Key of 256 chars",
             kMember,
             "POST",
             "/v1/vms",
             R"({"name":"k2","cpu_milli":100,"memory_mib":64})",
             400,
             "invalid_argument",
             "Idempotency-Key",
             {{"Idempotency-Key", std::string(256, 'k')}}}});
  Reply list = member_->Get("/v1/vms");
  ASSERT_EQ(list.status, 200) << list.Describe();
  for (const auto& vm : list.body["vms"]) EXPECT_EQ(vm.value("name", ""), "base") << vm.dump();
  ExpectHealthyAfterwards();
}

}  // namespace
}  // namespace devshare::it
