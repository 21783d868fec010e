// `devshare host token|cordon|uncordon|drain|delete`: a fleet operator's verbs on hosts through
// the control plane's REST API (docs/api.md#fleet), for system admins.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/client_common.h"
#include "cli/commands.h"
#include "devshare/core/atomic_file.h"

namespace devshare::cli::client {

namespace {

void PrintSchedule(const json& h) {
  std::printf("%s: schedule %s, status %s, %lld VM(s)\n", Str(h, "name").c_str(),
              Str(h, "schedule").c_str(), Str(h, "status").c_str(),
              static_cast<long long>(Int(h, "vms")));
}

}  // namespace

int HostToken(const std::vector<std::string>& args) {
  const std::string cmd = "host token";
  Result<Parsed> p = ParseArgs(args, {"out", "idempotency-key"}, {}, 1, "the host name");
  if (!p.ok()) return Usage(cmd, p.status().message());
  if (!p->flags.Has("out")) return Usage(cmd, "--out FILE is required (the agent's token file)");
  const std::string out = p->flags.Get("out");
  Result<ApiReply> r = p->api.CreateAgentToken(p->positionals[0], p->flags.Get("idempotency-key"));
  if (!r.ok()) return ReportFailure(cmd, *p, r.status());
  const std::string token = Str(r->doc, "token");
  if (token.empty()) {
    return Fail(cmd, Status::Internal("the answer carries no token (an idempotent replay "
                                      "never repeats the secret: mint a new one)"));
  }
  Status written = WriteFileAtomically(out, token + "\n", 0600);
  if (!written.ok()) return Fail(cmd, written);
  std::printf("agent token %s for host %s written to %s (mode 0600)\n", Str(r->doc, "id").c_str(),
              p->positionals[0].c_str(), out.c_str());
  return 0;
}

int HostSchedule(const std::string& verb, const std::vector<std::string>& args) {
  const std::string cmd = "host " + verb;
  Result<Parsed> p = ParseArgs(args, {}, {"replace"}, 1, "the host name");
  if (!p.ok()) return Usage(cmd, p.status().message());
  const bool replace = p->flags.Has("replace");
  if (replace && verb != "drain") return Usage(cmd, "--replace is a flag of host drain");
  return Finish(cmd, *p, p->api.HostAction(p->positionals[0], verb, replace), [](const json& h) {
    for (const json& m : h.value("moves", json::array())) {
      std::printf("moved %s: %s -> %s\n", Str(m, "vm").c_str(), Str(m, "from").c_str(),
                  Str(m, "to").c_str());
    }
    PrintSchedule(h);
  });
}

int HostDelete(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {}, {}, 1, "the host name");
  if (!p.ok()) return Usage("host delete", p.status().message());
  return Finish("host delete", *p, p->api.DeleteHost(p->positionals[0]), [](const json& doc) {
    std::printf("deleted host %s\n", Str(doc, "name").c_str());
  });
}

}  // namespace devshare::cli::client
