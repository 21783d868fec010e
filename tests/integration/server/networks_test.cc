// Tenant networks through the real server on loopback: networks per tenant with segment ids
// and overlapping CIDRs across (not within) tenants; NICs bound to an address of the network
// (asked or the lowest free) and a MAC, none twice, also after kill -9; a network in use is not
// deleted; bad input answers 400 / 404 / 409 naming the field and the reason; another tenant
// sees nothing; the CLI's network verbs print and exit accordingly. Every state is checked in
// the SQLite file (CheckStore I4, I6).
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/server/server_process.h"
#include "tests/integration/server/test_util.h"

namespace devshare::it {
namespace {

// One host: an SR-IOV NIC on "default" (4 VFs, 10 Gbit/s) and one on "storage" (1 Gbit/s).
nlohmann::json Node() {
  return {{"cpu_milli", 64000},
          {"memory_mib", 262144},
          {"nics",
           {{{"id", "nic0"}, {"vfs", 4}, {"line_rate_mbps", 10000}},
            {{"id", "nic1"}, {"network", "storage"}, {"line_rate_mbps", 1000}}}}};
}

nlohmann::json NicVm(const std::string& name, nlohmann::json nics) {
  return {{"name", name}, {"cpu_milli", 500}, {"memory_mib", 512}, {"nics", std::move(nics)}};
}

nlohmann::json NicsOf(const Reply& vm) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : vm.body["devices"]) {
    if (d.value("kind", std::string()) == "nic") out.push_back(d);
  }
  return out;
}

class ServerNetworks : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = std::make_unique<TempFolder>("networks");
    server_ = std::make_unique<ServerProcess>(tmp_->path());
    ASSERT_TRUE(server_->Start());
    Api admin(server_->url(), server_->AdminToken());
    ASSERT_EQ(PutHost(admin, "node1", Node()), 201);
    const std::string acme = CreateTenant(admin, "acme");
    member_ = CreateToken(admin, acme, "member");
    reader_ = CreateToken(admin, acme, "reader");
    other_ = CreateToken(admin, CreateTenant(admin, "other"), "member");
    ASSERT_FALSE(member_.empty() || reader_.empty() || other_.empty());
  }

  void ExpectStoreConsistent() {
    ASSERT_TRUE(server_->Stop());
    StoreCheck check = CheckStore(server_->db_path());
    EXPECT_TRUE(check.violations.empty()) << check.Summary();
  }

  std::unique_ptr<TempFolder> tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::string member_, reader_, other_;
};

TEST_F(ServerNetworks, SegmentsPerNetworkAndCidrsOverlapOnlyAcrossTenants) {
  Api api(server_->url(), member_);
  Api other(server_->url(), other_);
  Reply blue = api.Post("/v1/networks", nlohmann::json{{"name", "blue"}, {"cidr", "10.1.0.0/24"}});
  ASSERT_EQ(blue.status, 201) << blue.Describe();
  EXPECT_EQ(blue.body["cidr"], "10.1.0.0/24");
  EXPECT_EQ(blue.body["physical_network"], "default");
  Reply red = api.Post("/v1/networks", nlohmann::json{{"name", "red"}, {"cidr", "10.2.0.0/16"}});
  ASSERT_EQ(red.status, 201) << red.Describe();
  // Another tenant may use the same name and CIDR: a network of its own, on its own segment.
  Reply theirs =
      other.Post("/v1/networks", nlohmann::json{{"name", "blue"}, {"cidr", "10.1.0.0/24"}});
  ASSERT_EQ(theirs.status, 201) << theirs.Describe();
  const std::set<int64_t> segments = {blue.body["segment_id"].get<int64_t>(),
                                      red.body["segment_id"].get<int64_t>(),
                                      theirs.body["segment_id"].get<int64_t>()};
  EXPECT_EQ(segments.size(), 3u);
  for (int64_t s : segments) {
    EXPECT_GE(s, 100);
    EXPECT_LE(s, 4094);
  }
  // Within the tenant: an overlapping CIDR, a taken name.
  Reply overlap =
      api.Post("/v1/networks", nlohmann::json{{"name", "green"}, {"cidr", "10.1.0.128/25"}});
  EXPECT_EQ(overlap.status, 409) << overlap.Describe();
  EXPECT_EQ(overlap.body.value("code", std::string()), "network_overlap") << overlap.Describe();
  EXPECT_NE(overlap.body.value("message", std::string()).find("10.1.0.0/24"), std::string::npos);
  Reply wide = api.Post("/v1/networks", nlohmann::json{{"name", "wide"}, {"cidr", "10.0.0.0/8"}});
  EXPECT_EQ(wide.status, 409) << "10.0.0.0/8 holds 10.1.0.0/24: " << wide.Describe();
  Reply name = api.Post("/v1/networks", nlohmann::json{{"name", "blue"}, {"cidr", "10.9.0.0/24"}});
  EXPECT_EQ(name.status, 409) << name.Describe();

  // Lists: each tenant its own; another tenant's network answers 404.
  EXPECT_EQ(api.Get("/v1/networks").body["networks"].size(), 2u);
  EXPECT_EQ(other.Get("/v1/networks").body["networks"].size(), 1u);
  const std::string blue_id = blue.body["id"];
  EXPECT_EQ(other.Get("/v1/networks/" + blue_id).status, 404);
  EXPECT_EQ(other.Delete("/v1/networks/" + blue_id).status, 404);
  EXPECT_EQ(api.Get("/v1/networks/" + blue_id).status, 200);
  Api reader(server_->url(), reader_);
  EXPECT_EQ(
      reader.Post("/v1/networks", nlohmann::json{{"name", "x"}, {"cidr", "10.8.0.0/24"}}).status,
      403);
  EXPECT_EQ(reader.Get("/v1/networks").body["networks"].size(), 2u);
  ExpectStoreConsistent();
}

TEST_F(ServerNetworks, BadNetworkBodiesNameTheField) {
  Api api(server_->url(), member_);
  struct Case {
    std::string body;
    std::string field;
  } cases[] = {
      {R"({"name": "n", "cidr": "10.1.0.5/24"})", "cidr"},  // host bits
      {R"({"name": "n", "cidr": "10.1.0.0/30"})", "cidr"},  // too narrow
      {R"({"name": "n", "cidr": "10.1.0.0/4"})", "cidr"},   // too wide
      {R"({"name": "n", "cidr": "10.1.0.256/24"})", "cidr"},
      {R"({"name": "n", "cidr": "fe80::/64"})", "cidr"},
      {R"({"name": "n"})", "cidr"},
      {R"({"cidr": "10.1.0.0/24"})", "name"},
      {R"({"name": "n", "cidr": "10.1.0.0/24", "vlan": 5})", "vlan"},
      {R"({"name": "n/../x", "cidr": "10.1.0.0/24"})", "name"},
      {R"({"name": "n", "cidr": "10.1.0.0/24")", ""},  // malformed JSON
  };
  for (const Case& c : cases) {
    Reply r = api.Post("/v1/networks", c.body);
    EXPECT_EQ(r.status, 400) << c.body << " -> " << r.Describe();
    EXPECT_NE(r.body.value("message", std::string()).find(c.field), std::string::npos)
        << c.body << " -> " << r.Describe();
  }
  EXPECT_EQ(api.Get("/v1/networks").body["networks"].size(), 0u);
  ExpectStoreConsistent();
}

TEST_F(ServerNetworks, NicsGetDistinctAddressesAndMacsThatSurviveKill9) {
  Api api(server_->url(), member_);
  Reply blue = api.Post("/v1/networks", nlohmann::json{{"name", "blue"}, {"cidr", "10.1.0.0/29"}});
  ASSERT_EQ(blue.status, 201) << blue.Describe();
  const std::string blue_id = blue.body["id"];
  const int64_t segment = blue.body["segment_id"];
  // /29: 10.1.0.0 (network), .1 (kept for a gateway), .2 ... .6, .7 (broadcast).
  Reply a = api.Post("/v1/vms", NicVm("a", {{{"network", "blue"}}}));
  ASSERT_EQ(a.status, 201) << a.Describe();
  nlohmann::json nic = NicsOf(a).at(0);
  EXPECT_EQ(nic["address"], "10.1.0.2/29");
  EXPECT_EQ(nic["network_id"], blue_id);
  EXPECT_EQ(nic["network"], "blue");
  EXPECT_EQ(nic["segment"], segment);
  EXPECT_EQ(nic["id"], "nic0") << "placed on a NIC of the network's physical network";
  // Asked by id, with an address; two NICs of one VM on one network get two addresses.
  Reply b = api.Post("/v1/vms", NicVm("b", {{{"network", blue_id}, {"address", "10.1.0.5"}},
                                            {{"network", "blue"}}}));
  ASSERT_EQ(b.status, 201) << b.Describe();
  EXPECT_EQ(NicsOf(b).at(0)["address"], "10.1.0.5/29");
  EXPECT_EQ(NicsOf(b).at(1)["address"], "10.1.0.3/29");
  std::set<std::string> macs = {nic["mac"], NicsOf(b)[0]["mac"], NicsOf(b)[1]["mac"]};
  EXPECT_EQ(macs.size(), 3u);

  // Taken, outside, the network's own and broadcast addresses.
  for (const char* ip : {"10.1.0.5", "10.1.0.9", "10.1.0.0", "10.1.0.1", "10.1.0.7"}) {
    Reply r = api.Post("/v1/vms", NicVm("c", {{{"network", "blue"}, {"address", ip}}}));
    EXPECT_EQ(r.status, std::string(ip) == "10.1.0.5" ? 409 : 400) << ip << ": " << r.Describe();
    EXPECT_NE(r.body.value("message", std::string()).find("nics[0].address"), std::string::npos)
        << r.Describe();
    if (r.status == 409) EXPECT_EQ(r.body.value("code", std::string()), "address_in_use");
  }
  // Kill -9: the bindings are durable; the next VM gets the next free address, not a live one.
  server_->Kill();
  ASSERT_TRUE(server_->Start());
  Api api2(server_->url(), member_);
  Reply again = api2.Get("/v1/vms/" + a.body["id"].get<std::string>());
  ASSERT_EQ(again.status, 200) << again.Describe();
  EXPECT_EQ(NicsOf(again).at(0)["mac"], nic["mac"]);
  Reply c = api2.Post("/v1/vms", NicVm("c", {{{"network", "blue"}}}));
  ASSERT_EQ(c.status, 201) << c.Describe();
  EXPECT_EQ(NicsOf(c).at(0)["address"], "10.1.0.4/29");
  Reply d = api2.Post("/v1/vms", NicVm("d", {{{"network", "blue"}}}));
  ASSERT_EQ(d.status, 201) << d.Describe();
  EXPECT_EQ(NicsOf(d).at(0)["address"], "10.1.0.6/29");
  Reply full = api2.Post("/v1/vms", NicVm("e", {{{"network", "blue"}}}));
  EXPECT_EQ(full.status, 409) << full.Describe();
  EXPECT_EQ(full.body.value("code", std::string()), "network_full") << full.Describe();

  // The network lists its NICs; in use it is not deleted; a deleted VM's address comes free.
  Reply listed = api2.Get("/v1/networks/" + blue_id);
  EXPECT_EQ(listed.body["nics"].size(), 5u) << listed.Describe();
  Reply in_use = api2.Delete("/v1/networks/" + blue_id);
  EXPECT_EQ(in_use.status, 409) << in_use.Describe();
  EXPECT_EQ(in_use.body.value("code", std::string()), "network_in_use");
  ASSERT_EQ(api2.Delete("/v1/vms/" + a.body["id"].get<std::string>()).status, 200);
  Reply reuse = api2.Post("/v1/vms", NicVm("f", {{{"network", "blue"}}}));
  ASSERT_EQ(reuse.status, 201) << reuse.Describe();
  EXPECT_EQ(NicsOf(reuse).at(0)["address"], "10.1.0.2/29");
  ExpectStoreConsistent();
}

TEST_F(ServerNetworks, NicRequestsOnOtherTenantsOrUnknownNetworksAreRefused) {
  Api api(server_->url(), member_);
  Api other(server_->url(), other_);
  Reply theirs =
      other.Post("/v1/networks", nlohmann::json{{"name", "secret"}, {"cidr", "10.7.0.0/24"}});
  ASSERT_EQ(theirs.status, 201) << theirs.Describe();
  Reply mine = api.Post(
      "/v1/networks",
      nlohmann::json{{"name", "blue"}, {"cidr", "10.1.0.0/24"}, {"physical_network", "nowhere"}});
  ASSERT_EQ(mine.status, 201) << mine.Describe();
  struct Case {
    nlohmann::json nics;
    int status;
    std::string field;
  } cases[] = {
      {{{{"network", theirs.body["id"]}}}, 404, "nics[0].network"},
      {{{{"network", "secret"}}}, 404, "nics[0].network"},
      {{{{"network", "nowhere"}}}, 404, "nics[0].network"},
      {{{{"network", "blue"}}}, 400, "nics[0].network"},  // carried on no host's NIC
      {{{{"network", "default"}, {"address", "10.1.0.9"}}}, 400, "nics[0].address"},
      {{{{"network", "blue"}, {"address", "10.1.0"}}}, 400, "nics[0].address"},
      {{{{"network", "blue"}, {"bandwidth_mbps", {{"min", 600}, {"max", 500}}}}},
       400,
       "nics[0].bandwidth_mbps.min"},
  };
  for (const Case& c : cases) {
    Reply r = api.Post("/v1/vms", NicVm("x", c.nics));
    EXPECT_EQ(r.status, c.status) << c.nics.dump() << " -> " << r.Describe();
    EXPECT_NE(r.body.value("message", std::string()).find(c.field), std::string::npos)
        << c.nics.dump() << " -> " << r.Describe();
  }
  EXPECT_EQ(api.Get("/v1/vms").body["vms"].size(), 0u);
  ExpectStoreConsistent();
}

// `devshare network create|list|show|delete` and `vm create --nic ...,address=` against the same
// server: output, names resolved to ids, server errors with their code and exit code.
TEST_F(ServerNetworks, CliVerbs) {
  const std::string member_file = tmp_->path() + "/member.token";
  const std::string reader_file = tmp_->path() + "/reader.token";
  std::ofstream(member_file) << member_ << "\n";
  std::ofstream(reader_file) << reader_ << "\n";
  auto cli = [&](std::vector<std::string> args, const std::string& token_file = "") {
    std::vector<std::string> argv = {DevshareBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--server", server_->url(), "--token-file",
                             token_file.empty() ? member_file : token_file});
    return RunProcess(argv);
  };
  auto has = [](const ProcessResult& r, const std::string& text) {
    return r.output.find(text) != std::string::npos;
  };
  ProcessResult blue = cli({"network", "create", "blue", "--cidr", "10.1.0.0/24"});
  ASSERT_EQ(blue.exit_code, 0) << blue.output;
  EXPECT_TRUE(has(blue, "name:             blue\n")) << blue.output;
  EXPECT_TRUE(has(blue, "cidr:             10.1.0.0/24\n")) << blue.output;
  EXPECT_TRUE(has(blue, "segment:          100\n")) << blue.output;
  EXPECT_TRUE(has(blue, "physical_network: default\n")) << blue.output;
  ProcessResult red =
      cli({"network", "create", "red", "--cidr", "10.2.0.0/16", "--physical-network", "storage"});
  ASSERT_EQ(red.exit_code, 0) << red.output;
  // Refusals: an overlapping CIDR (409), host bits (400), a reader (403), no --cidr (usage).
  ProcessResult overlap = cli({"network", "create", "green", "--cidr", "10.1.0.128/25"});
  EXPECT_EQ(overlap.exit_code, 5) << overlap.output;
  EXPECT_TRUE(has(overlap, "devshare network create: network_overlap: field 'cidr': "))
      << overlap.output;
  ProcessResult host_bits = cli({"network", "create", "green", "--cidr", "10.3.0.5/24"});
  EXPECT_EQ(host_bits.exit_code, 2) << host_bits.output;
  EXPECT_TRUE(has(host_bits, "10.3.0.0/24")) << host_bits.output;
  ProcessResult reader = cli({"network", "create", "green", "--cidr", "10.3.0.0/24"}, reader_file);
  EXPECT_EQ(reader.exit_code, 4) << reader.output;
  ProcessResult no_cidr = cli({"network", "create", "green"});
  EXPECT_EQ(no_cidr.exit_code, 2) << no_cidr.output;
  EXPECT_TRUE(has(no_cidr, "--cidr is required")) << no_cidr.output;

  ProcessResult list = cli({"network", "list"}, reader_file);
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_EQ(list.output.rfind("ID ", 0), 0u) << list.output;
  EXPECT_TRUE(has(list, "  blue  ")) << list.output;
  EXPECT_TRUE(has(list, "10.2.0.0/16")) << list.output;
  EXPECT_FALSE(has(list, "green")) << list.output;

  // A VM with a fixed address on blue: its views show network, address and MAC.
  ProcessResult bad_ip = cli({"vm", "create", "--name", "a", "--cpu-milli", "500", "--memory-mib",
                              "512", "--nic", "network=blue,address=10.1.0.256"});
  EXPECT_EQ(bad_ip.exit_code, 2) << bad_ip.output;
  EXPECT_TRUE(has(bad_ip, "--nic: key 'address': expected an IPv4 address")) << bad_ip.output;
  ProcessResult vm = cli({"vm", "create", "--name", "a", "--cpu-milli", "500", "--memory-mib",
                          "512", "--nic", "network=blue,address=10.1.0.50,min=100"});
  ASSERT_EQ(vm.exit_code, 0) << vm.output;
  EXPECT_TRUE(has(vm, ":virtio:100Mbps@blue(10.1.0.50/24 ")) << vm.output;
  const std::string vm_id = vm.output.substr(vm.output.find("vm-", vm.output.find("id:")), 19);
  ProcessResult vms = cli({"vm", "list"});
  EXPECT_TRUE(has(vms, vm_id)) << vms.output;
  EXPECT_TRUE(has(vms, "@blue(10.1.0.50/24 ")) << vms.output;
  ProcessResult taken = cli({"vm", "create", "--name", "b", "--cpu-milli", "500", "--memory-mib",
                             "512", "--nic", "network=blue,address=10.1.0.50"});
  EXPECT_EQ(taken.exit_code, 5) << taken.output;
  EXPECT_TRUE(has(taken, "address_in_use")) << taken.output;

  // show by name and by id; the NIC table names the VM and its address.
  ProcessResult show = cli({"network", "show", "blue"});
  ASSERT_EQ(show.exit_code, 0) << show.output;
  EXPECT_TRUE(has(show, "nics:             1\n")) << show.output;
  EXPECT_TRUE(has(show, vm_id + "  10.1.0.50/24  ")) << show.output;
  ProcessResult json = cli({"network", "show", "blue", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const nlohmann::json doc = nlohmann::json::parse(json.output, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json.output;
  const std::string blue_id = doc.value("id", std::string());
  ASSERT_EQ(doc["nics"].size(), 1u) << json.output;
  EXPECT_EQ(doc["nics"][0]["vm"], vm_id);
  ProcessResult by_id = cli({"network", "show", blue_id});
  EXPECT_EQ(by_id.exit_code, 0) << by_id.output;
  EXPECT_TRUE(has(by_id, "name:             blue\n")) << by_id.output;

  // Unknown names answer 404; another tenant's network is unknown; in use is 409.
  ProcessResult unknown = cli({"network", "show", "nope"});
  EXPECT_EQ(unknown.exit_code, 6) << unknown.output;
  EXPECT_TRUE(has(unknown, "devshare network show: not_found: ")) << unknown.output;
  EXPECT_EQ(cli({"network", "delete", "nope"}).exit_code, 6);
  const std::string other_file = tmp_->path() + "/other.token";
  std::ofstream(other_file) << other_ << "\n";
  EXPECT_EQ(cli({"network", "show", "blue"}, other_file).exit_code, 6);
  EXPECT_EQ(cli({"network", "delete", blue_id}, other_file).exit_code, 6);
  ProcessResult in_use = cli({"network", "delete", "blue"});
  EXPECT_EQ(in_use.exit_code, 5) << in_use.output;
  EXPECT_TRUE(has(in_use, "devshare network delete: network_in_use: ")) << in_use.output;

  ASSERT_EQ(cli({"vm", "delete", vm_id}).exit_code, 0);
  ProcessResult deleted = cli({"network", "delete", "blue"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_EQ(deleted.output, "deleted network " + blue_id + " (blue)\n");
  ProcessResult after = cli({"network", "list"});
  EXPECT_FALSE(has(after, "blue")) << after.output;
  EXPECT_TRUE(has(after, "red")) << after.output;
  ExpectStoreConsistent();
}

}  // namespace
}  // namespace devshare::it
