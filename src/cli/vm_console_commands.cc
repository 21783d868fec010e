// `devshare vm start|stop|reboot|console`: a VM's power and serial console through the control
// plane (docs/api.md#vms); the VM's host agent carries them out.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/client_common.h"

namespace devshare::cli::client {
namespace {

volatile std::sig_atomic_t g_console_stop = 0;
void OnConsoleSignal(int) { g_console_stop = 1; }

}  // namespace

int VmPower(const std::string& verb, const std::vector<std::string>& args) {
  const std::string cmd = "vm " + verb;
  Result<Parsed> p = ParseArgs(args, {}, {}, 1, "the VM id");
  if (!p.ok()) return Usage(cmd, p.status().message());
  return Finish(cmd, *p, p->api.VmAction(p->positionals[0], verb), [&verb](const json& vm) {
    std::printf("%s %s: asked (power %s, state %s)\n", verb.c_str(), Str(vm, "id").c_str(),
                Str(vm, "power").c_str(), Str(vm, "state").c_str());
  });
}

// Prints the console from the start (or --from-offset); with --follow keeps long-polling for
// more until Ctrl-C, or until the VM is gone.
int VmConsole(const std::vector<std::string>& args) {
  const std::string cmd = "vm console";
  Result<Parsed> p = ParseArgs(args, {"from-offset"}, {"follow"}, 1, "the VM id");
  if (!p.ok()) return Usage(cmd, p.status().message());
  Result<int64_t> from = p->flags.GetInt("from-offset", 0, 0, INT64_MAX);
  if (!from.ok()) return Usage(cmd, from.status().message());
  const bool follow = p->flags.Has("follow");
  std::signal(SIGINT, OnConsoleSignal);
  std::signal(SIGTERM, OnConsoleSignal);
  int64_t offset = *from;
  for (;;) {
    Result<ApiReply> r = p->api.ReadConsole(p->positionals[0], offset, follow ? 20'000 : 0);
    if (!r.ok()) return ReportFailure(cmd, *p, r.status());
    const std::string data = Str(r->doc, "data");
    std::fwrite(data.data(), 1, data.size(), stdout);
    std::fflush(stdout);
    const int64_t next = Int(r->doc, "next", offset);
    if (!follow && next == offset) return 0;  // nothing more now
    offset = next;
    if (g_console_stop) return 0;
  }
}

}  // namespace devshare::cli::client
