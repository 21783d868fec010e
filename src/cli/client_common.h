// Shared pieces of the `vm|host|tenant` client commands (vm_commands.cc, host_commands.cc,
// tenant_commands.cc): argument parsing with the common flags, the ApiClient they configure,
// printing of tables, key: value blocks and server errors, and the exit code of an answer.
// Thread-safety: call from main() only (prints to stdout/stderr).
#ifndef DEVSHARE_CLI_CLIENT_COMMON_H_
#define DEVSHARE_CLI_CLIENT_COMMON_H_

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cli/api_client.h"
#include "cli/flags.h"
#include "devshare/core/result.h"

namespace devshare::cli::client {

using nlohmann::json;

// A usage error: "devshare <command>: <message> (see 'devshare <noun> --help')"; returns 2.
int Usage(const std::string& command, const std::string& message);

// Field access that tolerates missing or mistyped fields.
std::string Str(const json& j, const char* key, const std::string& def = "");
int64_t Int(const json& j, const char* key, int64_t def = 0);
std::string TimeOf(const json& j, const char* key);  // *_unix_ms as 2026-01-02T03:04:05Z, or "-"
std::string Join(const std::vector<std::string>& items, const std::string& sep);

// Columns aligned on the widest cell; `right` marks right-aligned (numeric) columns.
void PrintTable(const std::vector<std::string>& header, const std::vector<bool>& right,
                const std::vector<std::vector<std::string>>& rows);
// "key:  value" lines with the values aligned.
void PrintBlock(const std::vector<std::pair<std::string, std::string>>& kv);

// The verb's flags plus the common ones (--server, --token-file, --json) and its positionals.
struct Parsed {
  Flags flags;
  std::vector<std::string> positionals;
  ApiClient api;
  bool json_output = false;
};
// InvalidArgument (a usage error) for a wrong number of positionals, a bad flag, a bad --server
// or an unreadable --token-file.
Result<Parsed> ParseArgs(std::vector<std::string> args, std::set<std::string> value_flags,
                         std::set<std::string> bool_flags, size_t positionals,
                         const std::string& positional_name);

// Takes every `--name V` / `--name=V` out of `args` (for flags that may repeat).
std::vector<std::string> TakeRepeated(std::vector<std::string>& args, const std::string& name);

// The exit code of a failed call, after printing it: without an answer the Status message
// (exit 3); else the server's error (with --json its body on stdout), for unschedulable the
// reasons and closest hosts, and the exit code of its HTTP status.
int ReportFailure(const std::string& command, const Parsed& p, const Status& status);

// Prints a successful reply with `print` (or its raw body with --json) and returns 0; a failure
// goes to ReportFailure.
int Finish(const std::string& command, const Parsed& p, const Result<ApiReply>& reply,
           const std::function<void(const json&)>& print);

// Dispatches `devshare <noun> <verb> ...`: --help / help print `help` and the common flags;
// no or an unknown verb is a usage error.
using Verbs =
    std::vector<std::pair<std::string, std::function<int(const std::vector<std::string>&)>>>;
int Dispatch(const std::string& noun, const char* help, const Verbs& verbs,
             const std::vector<std::string>& args);

// The nouns (vm_commands.cc, host_commands.cc, tenant_commands.cc).
int RunVm(const std::vector<std::string>& args);
int RunHost(const std::vector<std::string>& args);
int RunTenant(const std::vector<std::string>& args);
int RunImage(const std::vector<std::string>& args);
int RunVolume(const std::vector<std::string>& args);   // volume_commands.cc
int RunNetwork(const std::vector<std::string>& args);  // network_commands.cc
// Verbs in their own files: host_admin_commands.cc, vm_console_commands.cc.
int HostToken(const std::vector<std::string>& args);
int HostSchedule(const std::string& verb, const std::vector<std::string>& args);  // cordon...
int HostDelete(const std::vector<std::string>& args);
int VmPower(const std::string& verb, const std::vector<std::string>& args);  // start|stop|reboot
int VmConsole(const std::vector<std::string>& args);

}  // namespace devshare::cli::client

#endif  // DEVSHARE_CLI_CLIENT_COMMON_H_
