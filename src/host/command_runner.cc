// CommandRunner implementations: posix_spawnp (through RunCommand) and a recording fake.
#include "devshare/host/command_runner.h"

#include "devshare/host/guest_disks.h"

namespace devshare::host {

std::string ArgvText(const Argv& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    const bool quote = a.empty() || a.find_first_of(" '\"\t\n;{}") != std::string::npos;
    if (!quote) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    out += '\'';
  }
  return out;
}

Status PosixCommandRunner::Run(const Argv& argv) {
  if (argv.empty()) return Status::InvalidArgument("CommandRunner: empty argv");
  Result<CommandResult> r = RunCommand(argv);
  if (!r.ok()) return Status::Unavailable(ArgvText(argv) + ": " + r.status().message());
  if (r->exit_code == 0) return Status::Ok();
  std::string out = r->output;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return Status::Unavailable(ArgvText(argv) + ": exit " + std::to_string(r->exit_code) +
                             (out.empty() ? "" : ": " + out));
}

Status RecordingCommandRunner::Run(const Argv& argv) {
  if (argv.empty()) return Status::InvalidArgument("CommandRunner: empty argv");
  calls_.push_back(argv);
  const std::string text = ArgvText(argv);
  for (const auto& [prefix, err] : failing_) {
    if (text.rfind(prefix, 0) == 0) return Status::Unavailable(text + ": exit 1: " + err);
  }
  return Status::Ok();
}

void RecordingCommandRunner::FailWhenStartsWith(std::string prefix, std::string stderr_text) {
  failing_.emplace_back(std::move(prefix), std::move(stderr_text));
}

std::vector<std::string> RecordingCommandRunner::CallTexts() const {
  std::vector<std::string> out;
  for (const Argv& a : calls_) out.push_back(ArgvText(a));
  return out;
}

}  // namespace devshare::host
