// `devshare bench io`: storage QoS measured inside real guests. For each scheduler asked
// (mclock: devshare's mClock over NBD; fifo: the same data path and pacing in arrival order; none:
// plain files opened by QEMU, no devshare in the path) it starts the control plane on loopback and
// one host agent with one storage pool in this process, boots --guests real Linux guests (the
// guest of tools/build_guest.sh) with one volume each carrying its reservation / weight / limit,
// starts fio in all of them at once (a go mark written into each volume) and reads each guest's
// per-second IOPS from its serial console. Prints a table and, with --out, the JSON.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/agent_run.h"
#include "cli/bench_client.h"
#include "cli/bench_fleet.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/core/atomic_file.h"
#include "devshare/host/domain_xml.h"
#include "devshare/host/storage_pool.h"
#include "server/control_plane.h"

namespace devshare::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: devshare bench io [--guests 3] [--pool-iops 400] [--pool-mbps 100]\n"
    "                         [--reservations 200,0,0] [--weights 1,1,2] [--limits 0,0,0]\n"
    "                         [--schedulers mclock,fifo,none] [--seconds 20]\n"
    "                         [--mode randread] [--bs 4k] [--iodepth 8] [--memory-mib 512]\n"
    "                         [--hypervisor qemu:///system] [--guest-dir build/guest]\n"
    "                         [--out FILE.json]\n"
    "  For each scheduler: the control plane on 127.0.0.1 (temp SQLite) and one host agent in\n"
    "  this process with one ssd pool of --pool-iops / --pool-mbps (declared, so that every\n"
    "  scheduler is measured against the same capacity C), --guests real Linux guests "
    "(--memory-mib,\n"
    "  100 milli) with a 1 GiB volume each (volume i: reservations[i], weights[i], limits[i]\n"
    "  IOPS), fio --rw=MODE --bs=BS --iodepth=N for --seconds in all guests at once. Prints,\n"
    "  per guest, the mean IOPS over the full windows, the lowest window and the share of\n"
    "  windows at or above the reservation; mclock rows should meet reservations and split the\n"
    "  spare by weight, fifo and none rows show the same load without devshare's QoS.\n"
    "  Needs libvirtd (tools/libvirt_up.sh), nbdkit, and the guest (make guest).\n";

struct IoOptions {
  int guests = 3;
  int64_t pool_iops = 400, pool_mbps = 100;
  std::vector<int64_t> reservations, weights, limits;
  int64_t seconds = 20;
  std::string mode = "randread", bs = "4k";
  int64_t iodepth = 8;
  int64_t memory_mib = 512;  // fio's shared memory faults (SIGBUS) in 256 MiB next to the initramfs
  std::string hypervisor = "qemu:///system";
  std::string guest_dir;
  fs::path dir;
};

struct GuestRun {
  std::string vm, console;
  std::vector<double> windows;  // IOPS of each full 1 s window
  int rc = -1;
};

// "devshare-io: iops <ms> <value>" lines of a console -> per-window IOPS, without the first and
// the last window (partial: fio's ramp and its end).
std::vector<double> Windows(const std::string& console) {
  std::vector<double> w;
  std::istringstream in(console);
  std::string line;
  while (std::getline(in, line)) {
    const size_t at = line.find("devshare-io: iops ");
    if (at == std::string::npos) continue;
    std::istringstream f(line.substr(at + 18));
    double ms = 0, v = 0;
    if (f >> ms >> v) w.push_back(v);
  }
  if (w.size() >= 3) return std::vector<double>(w.begin() + 1, w.end() - 1);
  return {};
}

// The guest's devshare-io lines other than the per-second figures (readiness, fio's summary and
// errors), for the report.
std::string FioSaid(const std::string& console) {
  std::string out;
  std::istringstream in(console);
  std::string line;
  while (std::getline(in, line)) {
    const size_t at = line.find("devshare-io: ");
    if (at == std::string::npos || line.find("devshare-io: iops ") != std::string::npos) continue;
    out += line.substr(at + 13) + "\n";
  }
  return out;
}

Status WriteGoMark(const std::string& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable("cannot open volume file " + file);
  static constexpr char kMark[] = "DEVSHARE-GO";
  const bool ok =
      ::pwrite(fd, kMark, sizeof(kMark) - 1, 0) == sizeof(kMark) - 1 && ::fdatasync(fd) == 0;
  ::close(fd);
  return ok ? Status::Ok() : Status::Unavailable("cannot write the go mark into " + file);
}

Result<nlohmann::json> RunScheduler(const IoOptions& o, const std::string& scheduler) {
  const fs::path dir = o.dir / scheduler;
  const std::string pool_dir = (dir / "pool").string();
  AgentConfig a;
  a.hypervisor = o.hypervisor;
  a.domain_prefix = "devshare-bio" + std::to_string(::getpid()) + scheduler.substr(0, 1) + "-";
  a.pools = {"bench:ssd:" + pool_dir + ",iops=" + std::to_string(o.pool_iops) +
             ",mbps=" + std::to_string(o.pool_mbps) +
             ",capacity_gib=" + std::to_string(o.guests + 1) + ",scheduler=" + scheduler};
  a.stop_volume_server = true;
  DS_ASSIGN_OR_RETURN(
      std::unique_ptr<BenchFleet> fleet,
      BenchFleet::Start(dir, "bench-io-" + std::to_string(::getpid()), std::move(a)));
  BenchClient& b = fleet->client();
  const std::string cmdline = "quiet devshare.io=" + o.mode + ":" + o.bs + ":" +
                              std::to_string(o.iodepth) + ":" + std::to_string(o.seconds);
  std::string failure;
  Result<nlohmann::json> im = b.Call("POST", "/v1/images",
                                     nlohmann::json{{"name", "linux-io"},
                                                    {"kind", "kernel"},
                                                    {"kernel", o.guest_dir + "/vmlinuz"},
                                                    {"initrd", o.guest_dir + "/initramfs.img"},
                                                    {"cmdline", cmdline}}
                                         .dump());
  if (!im.ok()) failure = im.status().message();
  for (int i = 0; i < o.guests && failure.empty(); ++i) {
    nlohmann::json volume = {
        {"name", "data"},
        {"size_gib", 1},
        {"tier", "ssd"},
        {"iops",
         {{"reservation", o.reservations[i]}, {"weight", o.weights[i]}, {"limit", o.limits[i]}}}};
    Result<std::string> vm = fleet->CreateVm({{"name", "io" + std::to_string(i)},
                                              {"cpu_milli", 100},
                                              {"memory_mib", o.memory_mib},
                                              {"image", "linux-io"},
                                              {"volumes", nlohmann::json::array({volume})}});
    if (!vm.ok()) failure = vm.status().message();
  }
  const std::vector<std::string> ids = fleet->vms();
  std::vector<std::string> consoles;
  if (failure.empty()) {
    Status ready = fleet->PollConsoles("devshare-io: ready", 180'000, consoles);
    if (!ready.ok()) failure = ready.message();
  }
  for (size_t i = 0; i < ids.size() && failure.empty(); ++i) {
    Status go = WriteGoMark(host::VolumeFilePath(
        pool_dir, host::DomainNameForVm(fleet->domain_prefix(), ids[i]), "data"));
    if (!go.ok()) failure = go.message();
  }
  if (failure.empty()) {
    Status done = fleet->PollConsoles("devshare-io: done",
                                      static_cast<double>(o.seconds) * 1000 + 120'000, consoles);
    if (!done.ok()) failure = done.message();
  }
  consoles.resize(ids.size());
  nlohmann::json out = {{"scheduler", scheduler}, {"guests", nlohmann::json::array()}};
  for (size_t i = 0; i < ids.size(); ++i) {
    GuestRun r;
    r.vm = ids[i];
    r.console = consoles[i];
    r.windows = Windows(r.console);
    const size_t done = r.console.find("devshare-io: done rc=");
    if (done != std::string::npos) r.rc = std::atoi(r.console.c_str() + done + 21);
    double sum = 0, low = r.windows.empty() ? 0 : r.windows[0];
    int meeting = 0;
    for (double w : r.windows) {
      sum += w;
      low = std::min(low, w);
      if (w >= static_cast<double>(o.reservations[i])) ++meeting;
    }
    const double mean = r.windows.empty() ? 0 : sum / static_cast<double>(r.windows.size());
    out["guests"].push_back(
        {{"vm", r.vm},
         {"reservation_iops", o.reservations[i]},
         {"weight", o.weights[i]},
         {"limit_iops", o.limits[i]},
         {"iops_mean", mean},
         {"iops_min_window", low},
         {"windows", r.windows},
         {"windows_meeting_reservation",
          r.windows.empty() ? 0.0 : static_cast<double>(meeting) / r.windows.size()},
         {"fio_rc", r.rc},
         {"fio_said", FioSaid(r.console)}});
  }
  const std::string tail = fleet->AgentLogTail(8);
  fleet->Stop();
  if (!failure.empty()) return Status::Unavailable(scheduler + ": " + failure + tail);
  return out;
}

}  // namespace

int RunBenchIoCommand(const std::vector<std::string>& args) {
  const std::string cmd = "bench io";
  auto flags = Flags::Parse(
      args,
      {"guests", "pool-iops", "pool-mbps", "reservations", "weights", "limits", "schedulers",
       "seconds", "mode", "bs", "iodepth", "memory-mib", "hypervisor", "guest-dir", "out"},
      {"help"});
  if (!flags.ok()) return Fail(cmd, flags.status());
  if (flags->Has("help")) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  IoOptions o;
  auto guests = flags->GetInt("guests", 3, 1, 16);
  if (!guests.ok()) return Fail(cmd, guests.status());
  o.guests = static_cast<int>(*guests);
  auto iops = flags->GetInt("pool-iops", o.pool_iops, 1, 10'000'000);
  if (!iops.ok()) return Fail(cmd, iops.status());
  o.pool_iops = *iops;
  auto mbps = flags->GetInt("pool-mbps", o.pool_mbps, 1, 1'000'000);
  if (!mbps.ok()) return Fail(cmd, mbps.status());
  o.pool_mbps = *mbps;
  const bool defaults = o.guests == 3 && !flags->Has("reservations") && !flags->Has("weights");
  auto res = BenchIntList(
      flags->Get("reservations", defaults ? std::to_string(o.pool_iops / 2) + ",0,0" : ""),
      "reservations", o.guests, 0, 0);
  if (!res.ok()) return Fail(cmd, res.status());
  auto wts =
      BenchIntList(flags->Get("weights", defaults ? "1,1,2" : ""), "weights", o.guests, 1, 1);
  if (!wts.ok()) return Fail(cmd, wts.status());
  auto lim = BenchIntList(flags->Get("limits", ""), "limits", o.guests, 0, 0);
  if (!lim.ok()) return Fail(cmd, lim.status());
  o.reservations = *res;
  o.weights = *wts;
  o.limits = *lim;
  auto secs = flags->GetInt("seconds", o.seconds, 3, 3600);
  if (!secs.ok()) return Fail(cmd, secs.status());
  o.seconds = *secs;
  auto qd = flags->GetInt("iodepth", o.iodepth, 1, 256);
  if (!qd.ok()) return Fail(cmd, qd.status());
  o.iodepth = *qd;
  auto mem = flags->GetInt("memory-mib", o.memory_mib, 256, 16384);
  if (!mem.ok()) return Fail(cmd, mem.status());
  o.memory_mib = *mem;
  o.mode = flags->Get("mode", o.mode);
  o.bs = flags->Get("bs", o.bs);
  for (const std::string& v : {o.mode, o.bs}) {
    if (v.empty() || v.find_first_of(": \t\"'") != std::string::npos) {
      return Fail(cmd,
                  Status::InvalidArgument("--mode/--bs '" + v + "': no spaces, quotes or ':'"));
    }
  }
  o.hypervisor = flags->Get("hypervisor", o.hypervisor);
  o.guest_dir = fs::absolute(flags->Get("guest-dir", "build/guest")).lexically_normal().string();
  if (!fs::exists(o.guest_dir + "/vmlinuz") || !fs::exists(o.guest_dir + "/initramfs.img")) {
    return Fail(cmd, Status::InvalidArgument("--guest-dir " + o.guest_dir +
                                             ": no vmlinuz + initramfs.img (run `make guest`)"));
  }
  auto schedulers = ParseList(flags->Get("schedulers", "mclock,fifo,none"), "schedulers");
  if (!schedulers.ok()) return Fail(cmd, schedulers.status());
  for (const std::string& s : *schedulers) {
    if (s != "mclock" && s != "fifo" && s != "none") {
      return Fail(cmd, Status::InvalidArgument("--schedulers: unknown '" + s +
                                               "' (known: mclock, fifo, none)"));
    }
  }
  std::error_code ec;
  o.dir = fs::temp_directory_path() / ("devshare-bench-io-" + std::to_string(::getpid()));
  fs::create_directories(o.dir, ec);
  nlohmann::json report = {
      {"pool", {{"capacity_iops", o.pool_iops}, {"capacity_mbps", o.pool_mbps}}},
      {"fio", {{"mode", o.mode}, {"bs", o.bs}, {"iodepth", o.iodepth}, {"seconds", o.seconds}}},
      {"hypervisor", o.hypervisor},
      {"runs", nlohmann::json::array()}};
  std::printf(
      "bench io: %d guests, pool capacity %lld IOPS / %lld MB/s, fio %s bs=%s iodepth=%lld "
      "for %lld s\n",
      o.guests, static_cast<long long>(o.pool_iops), static_cast<long long>(o.pool_mbps),
      o.mode.c_str(), o.bs.c_str(), static_cast<long long>(o.iodepth),
      static_cast<long long>(o.seconds));
  std::printf("%-9s %-5s %8s %6s %8s %10s %10s %12s %4s\n", "scheduler", "guest", "reserve",
              "weight", "limit", "iops_mean", "min_window", "meets_res", "rc");
  int exit_code = kExitOk;
  for (const std::string& s : *schedulers) {
    Result<nlohmann::json> run = RunScheduler(o, s);
    if (!run.ok()) {
      std::fflush(stdout);
      exit_code = Fail(cmd, run.status());
      break;
    }
    int i = 0;
    for (const nlohmann::json& g : (*run)["guests"]) {
      std::printf("%-9s %-5d %8lld %6lld %8lld %10.1f %10.1f %11.0f%% %4d\n", s.c_str(), i++,
                  static_cast<long long>(g.value("reservation_iops", 0LL)),
                  static_cast<long long>(g.value("weight", 0LL)),
                  static_cast<long long>(g.value("limit_iops", 0LL)), g.value("iops_mean", 0.0),
                  g.value("iops_min_window", 0.0),
                  100 * g.value("windows_meeting_reservation", 0.0), g.value("fio_rc", -1));
      if (g.value("fio_rc", -1) != 0) {
        std::fprintf(stderr, "bench io: guest %d (%s): fio said:\n%s", i - 1,
                     g.value("vm", "").c_str(), g.value("fio_said", "").c_str());
      }
    }
    std::fflush(stdout);
    report["runs"].push_back(std::move(*run));
  }
  if (flags->Has("out")) {
    Status w = WriteFileAtomically(flags->Get("out"), report.dump(2) + "\n");
    if (!w.ok()) return Fail(cmd, w);
  }
  fs::remove_all(o.dir, ec);
  return exit_code;
}

}  // namespace devshare::cli
