// devshare: one binary for the control plane, the host agent and the benchmark platform.
// This file only dispatches subcommands; each lives in its own *_command.cc.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_codes.h"

namespace {

constexpr const char* kUsage =
    "usage: devshare <command> [flags]\n"
    "\n"
    "commands:\n"
    "  sim    replay a GPU trace through every placement policy (FGD protocol)\n"
    "         devshare sim --nodes NODES.csv --pods PODS.csv [--policies a,b] [--seeds 42-51]\n"
    "                      [--tune 1.3] [--jobs 2] [--json] [--out DIR] [--bound]\n"
    "                      [--peer FILE [--check-peer]] [--mode inflate|replay]\n"
    "  gen    write a synthetic openb-like cluster and workload: --nodes N --seed S --out DIR\n"
    "  demo   generate a cluster and workload, run all policies side by side, print the table\n"
    "  bench  placement speed benchmarks (devshare bench --help)\n"
    "  serve  the control plane: REST API over the durable ledger (devshare serve --help)\n"
    "  audit  devshare audit verify --db URL: check the audit hash chain\n"
    "  vm     vm create|list|show|delete|resize|start|stop|reboot|console (client; --server URL,\n"
    "         DEVSHARE_TOKEN)\n"
    "  host   host list|show|put|token|cordon|uncordon|drain|delete (client);\n"
    "         host discover|register|qos-check (this machine)\n"
    "  image  image add|list|delete: the server's boot images (client)\n"
    "  volume volume list|attach|detach|migrate: the volumes of a VM (client)\n"
    "  network network create|list|show|delete: the tenant's networks (client)\n"
    "  tenant tenant create|list, tenant token NAME|ID --role R (client)\n"
    "  agent  the host agent of a fleet: --server URL --token-file F --name NAME ...\n"
    "  qos-sim  QoS simulator, a scheduler next to fifo: --config FILE [--json]\n"
    "\n"
    "Run 'devshare <command> --help' for a command's flags.\n";

int Dispatch(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? devshare::cli::kExitBadInput : devshare::cli::kExitOk;
  }
  const std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "sim") return devshare::cli::RunSimCommand(args);
  if (cmd == "gen") return devshare::cli::RunGenCommand(args);
  if (cmd == "demo") return devshare::cli::RunDemoCommand(args);
  if (cmd == "bench") return devshare::cli::RunBenchCommand(args);
  if (cmd == "serve") return devshare::cli::RunServeCommand(args);
  if (cmd == "audit") return devshare::cli::RunAuditCommand(args);
  if (cmd == "qos-sim") return devshare::cli::RunQosSimCommand(args);
  if (cmd == "agent") return devshare::cli::RunAgentCommand(args);
  if (cmd == "vm" || cmd == "host" || cmd == "tenant" || cmd == "image" || cmd == "volume" ||
      cmd == "network") {
    return devshare::cli::RunClientCommand(cmd, args);
  }
  std::fprintf(stderr, "devshare: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
  return devshare::cli::kExitBadInput;
}

}  // namespace

int main(int argc, char** argv) {
  // Our code returns Status; this is the one last-resort catch for what the standard library may
  // throw (allocation failure, say), so the process still exits with a message and a code.
  try {
    return Dispatch(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "devshare: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "devshare: internal error\n");
  }
  return devshare::cli::kExitFailure;
}
