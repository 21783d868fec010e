// `devshare qos-sim`: the deterministic QoS simulator (mClock or another registered scheduler
// next to fifo) on a JSON config; docs/qos.md describes the format.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/qos/qos_sim.h"
#include "devshare/qos/scheduler.h"

namespace devshare::cli {
namespace {

constexpr const char* kQosSimHelp =
    "usage: devshare qos-sim --config FILE [--json]\n"
    "  --config FILE  JSON scenario: duration_s, seed, scheduler, at_limit, bucket_s, servers,\n"
    "                 clients (format in docs/qos.md)\n"
    "  --json         print one JSON document instead of the tables\n"
    "Runs the configured scheduler and fifo on the same scenario, on a virtual clock.\n";

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::NotFound("cannot read config " + path + ": " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int RunQosSimCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"config"}, {"json", "help"});
  if (!flags.ok()) return Fail("qos-sim", flags.status());
  if (flags->Has("help")) {
    std::fputs(kQosSimHelp, stdout);
    return kExitOk;
  }
  if (!flags->Has("config")) {
    std::fputs(kQosSimHelp, stderr);
    return Fail("qos-sim", Status::InvalidArgument("--config is required"));
  }
  const std::string path = flags->Get("config");
  auto text = ReadFile(path);
  if (!text.ok()) return Fail("qos-sim", text.status());

  qos::SchedulerRegistry registry;
  qos::RegisterBuiltinSchedulers(registry);
  auto config = qos::ParseSimConfig(*text, path, registry.Names());
  if (!config.ok()) return Fail("qos-sim", config.status());
  auto report = qos::RunQosSim(*config, registry);
  if (!report.ok()) return Fail("qos-sim", report.status());
  for (const std::string& w : report->warnings) {
    std::fprintf(stderr, "devshare qos-sim: warning: %s\n", w.c_str());
  }
  const std::string out =
      flags->Has("json") ? qos::FormatSimReportJson(*report) : qos::FormatSimReportText(*report);
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

}  // namespace devshare::cli
