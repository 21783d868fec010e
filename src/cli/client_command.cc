// `devshare vm|host|tenant ...`: the command-line client of the control plane's REST API
// (docs/api.md). Each command makes one or two requests through ApiClient (api_client.h), prints
// the answer as a table or a key: value block (or the server's JSON body as is with --json) and
// maps the HTTP status to an exit code (exit_codes.h). The verbs live in vm_commands.cc,
// host_commands.cc and tenant_commands.cc.
#include <string>
#include <vector>

#include "cli/client_common.h"
#include "cli/commands.h"

namespace devshare::cli {

int RunClientCommand(const std::string& noun, const std::vector<std::string>& args) {
  // The host agent's verbs (host_agent_command.cc) have their own flags and --help.
  if (noun == "host" && !args.empty()) {
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    if (args[0] == "discover") return RunHostDiscoverCommand(rest);
    if (args[0] == "register") return RunHostRegisterCommand(rest);
    if (args[0] == "qos-check") return RunHostQosCheckCommand(rest);
  }
  if (noun == "vm") return client::RunVm(args);
  if (noun == "host") return client::RunHost(args);
  if (noun == "image") return client::RunImage(args);
  if (noun == "volume") return client::RunVolume(args);
  if (noun == "network") return client::RunNetwork(args);
  return client::RunTenant(args);
}

}  // namespace devshare::cli
