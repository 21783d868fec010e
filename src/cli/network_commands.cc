// `devshare network create|list|show|delete`: a tenant's networks through the control plane's
// REST API (docs/api.md#networks), printed as key: value blocks and tables. show and delete take
// a network's id or its name (looked up in the caller's list).
#include <cstdio>
#include <string>
#include <vector>

#include "cli/client_common.h"

namespace devshare::cli::client {
namespace {

constexpr const char* kNetworkHelp =
    "usage: devshare network create NAME --cidr CIDR [--physical-network NET]\n"
    "                               [--idempotency-key K]\n"
    "       devshare network list\n"
    "       devshare network show ID|NAME\n"
    "       devshare network delete ID|NAME\n"
    "  A network is one isolated L2 segment of the tenant: CIDR an IPv4 block (prefix 8..29, no\n"
    "  host bits set) disjoint from the tenant's other networks; NET (default 'default') the\n"
    "  network of the host NICs that carry it. VMs join with 'devshare vm create --nic\n"
    "  network=NAME[,address=IP]'; a network with NICs is not deleted (exit 5).\n";

std::vector<std::pair<std::string, std::string>> NetworkFields(const json& n) {
  return {{"id", Str(n, "id")},
          {"name", Str(n, "name")},
          {"tenant", Str(n, "tenant_id")},
          {"cidr", Str(n, "cidr")},
          {"segment", std::to_string(Int(n, "segment_id"))},
          {"physical_network", Str(n, "physical_network")},
          {"created", TimeOf(n, "created_unix_ms")}};
}

void PrintNetwork(const json& n) { PrintBlock(NetworkFields(n)); }

// The block, then its NICs as a table (GET /v1/networks/{id} lists them).
void PrintNetworkDetail(const json& n) {
  std::vector<std::pair<std::string, std::string>> kv = NetworkFields(n);
  const json nics = n.value("nics", json::array());
  kv.emplace_back("nics", std::to_string(nics.is_array() ? nics.size() : 0));
  PrintBlock(kv);
  if (!nics.is_array() || nics.empty()) return;
  std::printf("\n");
  std::vector<std::vector<std::string>> rows;
  for (const json& nic : nics) {
    rows.push_back({Str(nic, "vm"), Str(nic, "address"), Str(nic, "mac"), Str(nic, "host")});
  }
  PrintTable({"VM", "ADDRESS", "MAC", "HOST"}, {false, false, false, false}, rows);
}

// The id of the network `ref` names: the id of the one network in the caller's list whose id or
// name is `ref`; `ref` itself when none is (the server then answers 404). InvalidArgument when
// the name is ambiguous (a system admin sees the networks of every tenant); the list's failure
// otherwise (p.api.last_error() describes it).
Result<std::string> ResolveNetwork(Parsed& p, const std::string& ref) {
  DS_ASSIGN_OR_RETURN(ApiReply list, p.api.ListNetworks());
  std::vector<std::string> by_name;
  for (const json& n : list.doc.value("networks", json::array())) {
    if (Str(n, "id") == ref) return ref;
    if (Str(n, "name") == ref) by_name.push_back(Str(n, "id"));
  }
  if (by_name.size() > 1) {
    return Status::InvalidArgument("network name '" + ref + "' is ambiguous (" +
                                   Join(by_name, ", ") + "): give the id");
  }
  return by_name.empty() ? ref : by_name[0];
}

int NetworkCreate(const std::vector<std::string>& args) {
  const std::string cmd = "network create";
  Result<Parsed> p =
      ParseArgs(args, {"cidr", "physical-network", "idempotency-key"}, {}, 1, "the network name");
  if (!p.ok()) return Usage(cmd, p.status().message());
  const Flags& f = p->flags;
  if (!f.Has("cidr")) return Usage(cmd, "--cidr is required (e.g. --cidr 10.1.0.0/24)");
  // The CIDR's form and range are the server's to check (its messages name the field).
  json body = {{"name", p->positionals[0]}, {"cidr", f.Get("cidr")}};
  if (f.Has("physical-network")) body["physical_network"] = f.Get("physical-network");
  return Finish(cmd, *p, p->api.CreateNetwork(body, f.Get("idempotency-key")), PrintNetwork);
}

int NetworkList(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {}, {}, 0, "");
  if (!p.ok()) return Usage("network list", p.status().message());
  return Finish("network list", *p, p->api.ListNetworks(), [](const json& doc) {
    std::vector<std::vector<std::string>> rows;
    for (const json& n : doc.value("networks", json::array())) {
      rows.push_back({Str(n, "id"), Str(n, "name"), Str(n, "tenant_id"), Str(n, "cidr"),
                      std::to_string(Int(n, "segment_id")), Str(n, "physical_network"),
                      std::to_string(Int(n, "nics")), TimeOf(n, "created_unix_ms")});
    }
    PrintTable({"ID", "NAME", "TENANT", "CIDR", "SEGMENT", "PHYSICAL", "NICS", "CREATED"},
               {false, false, false, false, true, false, true, false}, rows);
  });
}

int NetworkShowOrDelete(const std::string& verb, const std::vector<std::string>& args) {
  const std::string cmd = "network " + verb;
  Result<Parsed> p = ParseArgs(args, {}, {}, 1, "the network (id or name)");
  if (!p.ok()) return Usage(cmd, p.status().message());
  Result<std::string> id = ResolveNetwork(*p, p->positionals[0]);
  if (!id.ok()) return ReportFailure(cmd, *p, id.status());
  if (verb == "show") return Finish(cmd, *p, p->api.GetNetwork(*id), PrintNetworkDetail);
  return Finish(cmd, *p, p->api.DeleteNetwork(*id), [&](const json& doc) {
    const std::string& ref = p->positionals[0];
    std::string line = "deleted network " + Str(doc, "id", *id);
    if (ref != *id) line += " (" + ref + ")";
    std::printf("%s\n", line.c_str());
  });
}

}  // namespace

int RunNetwork(const std::vector<std::string>& args) {
  auto show_or_delete = [](const std::string& verb) {
    return [verb](const std::vector<std::string>& rest) { return NetworkShowOrDelete(verb, rest); };
  };
  return Dispatch("network", kNetworkHelp,
                  {{"create", NetworkCreate},
                   {"list", NetworkList},
                   {"show", show_or_delete("show")},
                   {"delete", show_or_delete("delete")}},
                  args);
}

}  // namespace devshare::cli::client
