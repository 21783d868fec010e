// CommandRunner: runs one host command given as an argv vector (ip, tc, nft, and later the VF
// plan's `ip link set PF vf N ...`), so plans stay data and tests can record instead of run.
// Thread-safety: PosixCommandRunner is thread-safe; RecordingCommandRunner is not.
#ifndef DEVSHARE_HOST_COMMAND_RUNNER_H_
#define DEVSHARE_HOST_COMMAND_RUNNER_H_

#include <string>
#include <vector>

#include "devshare/core/result.h"

namespace devshare::host {

using Argv = std::vector<std::string>;

// "ip link add x" -> the words joined by spaces, words holding a space or quote single-quoted
// (for messages and logs; the runner never goes through a shell).
std::string ArgvText(const Argv& argv);

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs argv (argv[0] looked up in PATH) and waits for it. OK on exit 0; otherwise Unavailable
  // whose message holds ArgvText(argv), the exit status and the command's output (stderr and
  // stdout, trimmed). InvalidArgument for an empty argv.
  virtual Status Run(const Argv& argv) = 0;
};

// posix_spawnp through RunCommand (guest_disks.h): stdin /dev/null, output captured.
class PosixCommandRunner : public CommandRunner {
 public:
  Status Run(const Argv& argv) override;
};

// Records every argv; fails those whose text (ArgvText) starts with one of failing_prefixes
// with Unavailable and the given stderr.
class RecordingCommandRunner : public CommandRunner {
 public:
  Status Run(const Argv& argv) override;
  void FailWhenStartsWith(std::string prefix, std::string stderr_text = "failed");
  const std::vector<Argv>& calls() const { return calls_; }
  std::vector<std::string> CallTexts() const;  // ArgvText of each call
  void Clear() { calls_.clear(); }

 private:
  std::vector<Argv> calls_;
  std::vector<std::pair<std::string, std::string>> failing_;
};

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_COMMAND_RUNNER_H_
