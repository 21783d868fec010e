// The devshare subcommands. Each takes its arguments (after the subcommand name) and returns
// the process exit code; messages go to stdout (results) and stderr (errors, progress).
// Thread-safety: call from main() only.
#ifndef DEVSHARE_CLI_COMMANDS_H_
#define DEVSHARE_CLI_COMMANDS_H_

#include <string>
#include <vector>

#include "devshare/core/status.h"

namespace devshare::cli {

int RunSimCommand(const std::vector<std::string>& args);
int RunGenCommand(const std::vector<std::string>& args);
int RunDemoCommand(const std::vector<std::string>& args);
int RunBenchCommand(const std::vector<std::string>& args);

// Prints "devshare <cmd>: <status message>" to stderr and returns the mapped exit code.
int Fail(const std::string& command, const Status& status);

}  // namespace devshare::cli

#endif  // DEVSHARE_CLI_COMMANDS_H_
