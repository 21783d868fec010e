// Issue 15 on this machine, with real guests on qemu:///system (the Linux guest of
// tools/build_guest.sh, whose devshare-io runs fio or fsync'd writes on its first volume):
//  - QoS in guests (`devshare bench io`): three guests on a pool of C IOPS with reservations
//    0.5C/0/0 and weights 1:1:2 under mclock: the first meets its reservation in >= 99 % of 1 s
//    windows, the others split the rest 1:2 within 10 %; under fifo (same path and capacity, no
//    per-volume QoS) the first falls below its reservation; a limit holds within 5 %.
//  - kill -9 of nbdkit, and of QEMU, while a guest writes blocks with fsync: every block the
//    guest reported synced reads back (through the restarted nbdkit).
//  - a volume moved live from the hdd pool to the nvme pool while fio writes and verifies in
//    the guest: no I/O error, verify clean, the file in the new pool only; hot-plug of a second
//    volume and its detach.
// One `devshare serve --local-host` process with two pools; skips with the reason when
// libvirtd, the built guest or the nbdkit plugin is missing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "storage/storage_it_util.h"
#include "tests/integration/host/fleet_it_util.h"
#include "tests/integration/server/server_process.h"
#include "tests/integration/server/test_util.h"

namespace devshare::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
namespace fs = std::filesystem;

// fio's verdict on a guest console: "done rc=0", and in its terse line (v3) field 5, the job's
// error, is 0 and field 6, KiB read, is not (verify_backlog read every written block back).
void ExpectFioClean(const std::string& console) {
  EXPECT_NE(console.find("devshare-io: done rc=0"), std::string::npos) << console;
  const size_t t = console.find("devshare-io: terse ");
  ASSERT_NE(t, std::string::npos) << console;
  std::vector<std::string> fields;
  std::stringstream terse(console.substr(t + 19, console.find('\n', t) - t - 19));
  for (std::string f; std::getline(terse, f, ';');) fields.push_back(f);
  ASSERT_GT(fields.size(), 5u) << console;
  EXPECT_EQ(fields[4], "0") << "fio reported an error: " << console;
  EXPECT_NE(fields[5], "0") << "fio read nothing back (no verify): " << console;
}

std::string SkipReason() {
  const std::string guest = DEVSHARE_GUEST_DIR;
  const std::string status = ReadAll(guest + "/status");
  if (status.rfind("ok", 0) != 0) {
    return "the real guest is not built in " + guest + (status.empty() ? "" : ": " + status);
  }
  ProcessResult v = RunProcess({"/usr/bin/virsh", "-c", "qemu:///system", "uri"}, seconds(20));
  if (v.exit_code != 0) {
    return "libvirtd cannot be had (" + v.output + "); tools/libvirt_up.sh said: " +
           ReadAll(std::string(DEVSHARE_LIBVIRT_STATE) + "/status");
  }
  if (!fs::exists(DEVSHARE_NBDKIT_PLUGIN)) {
    return std::string("devshare's nbdkit plugin is not built (") + DEVSHARE_NBDKIT_PLUGIN +
           "; needs nbdkit-plugin-dev)";
  }
  ProcessResult n = RunProcess({"/bin/sh", "-c", "command -v nbdkit"}, seconds(10));
  if (n.exit_code != 0) return "nbdkit is not installed (Debian package nbdkit)";
  return "";
}

// The highest i of the "devshare-io: synced <i>" lines, or -1.
int LastSynced(const std::string& console) {
  int last = -1;
  std::istringstream in(console);
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find("devshare-io: synced ");
    if (at != std::string::npos) last = std::max(last, std::atoi(line.c_str() + at + 20));
  }
  return last;
}

class KvmStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    skip_ = SkipReason();
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    tmp_ = std::make_unique<TempFolder>("kvm-storage");
    // QEMU (user libvirt-qemu) must reach the guests' files and the pools through this folder.
    fs::permissions(tmp_->path(), fs::perms::owner_all | fs::perms::group_read |
                                      fs::perms::group_exec | fs::perms::others_read |
                                      fs::perms::others_exec);
    runtime_ = tmp_->path() + "/run";
    server_ = std::make_unique<ServerProcess>(tmp_->path());
    server_->set_extra_args({"--local-host", "store1", "--hypervisor", "qemu:///system",
                             "--runtime-dir", runtime_, "--pool",
                             "fast:nvme:" + tmp_->path() +
                                 "/fast,iops=2000,mbps=200,capacity_gib=6;slow:hdd:" +
                                 tmp_->path() + "/slow,iops=400,mbps=50,capacity_gib=6",
                             "--migration-mbps", "200", "--tiering-period-s", TieringPeriodS()});
    ASSERT_TRUE(server_->Start());
    api_ = std::make_unique<Api>(server_->url(), server_->AdminToken());
    ASSERT_TRUE(
        WaitFor([&] { return api_->Get("/v1/hosts/store1").body.value("status", "") == "ready"; },
                seconds(120)))
        << server_->StderrLog();
  }

  // The tiering controller is off where the test moves volumes by hand.
  virtual std::string TieringPeriodS() const { return "0"; }

  void TearDown() override {
    if (!skip_.empty()) return;
    if (server_->running()) {
      for (const std::string& id : vms_) (void)api_->Delete("/v1/vms/" + id + "?force=true");
      WaitFor(
          [&] {
            Reply r = api_->Get("/v1/vms");
            return r.is_json() && r.body.value("vms", nlohmann::json::array()).empty();
          },
          seconds(60));
      (void)server_->Stop();
    }
    // serve leaves nbdkit running for its guests: this test stops every nbdkit serving from its
    // folder (the pid file names the last one only), and any domain left.
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator("/proc", ec)) {
      const std::string pid = e.path().filename().string();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string cmd = ReadAll("/proc/" + pid + "/cmdline");
      std::replace(cmd.begin(), cmd.end(), '\0', ' ');
      if (cmd.rfind("nbdkit ", 0) == 0 && cmd.find(tmp_->path()) != std::string::npos) {
        ::kill(static_cast<pid_t>(std::atol(pid.c_str())), SIGKILL);
      }
    }
    for (const std::string& id : vms_) {
      RunProcess({"/usr/bin/virsh", "-c", "qemu:///system", "destroy", "devshare-" + id});
      RunProcess({"/usr/bin/virsh", "-c", "qemu:///system", "undefine", "devshare-" + id});
    }
  }

  std::string NbdkitPidFile() const { return runtime_ + "/storage/nbdkit.pid"; }
  std::string Socket() const { return runtime_ + "/storage/nbd.sock"; }

  void AddImage(const std::string& name, const std::string& io) {
    const std::string guest = DEVSHARE_GUEST_DIR;
    Reply r =
        api_->Post("/v1/images",
                   nlohmann::json{{"name", name},
                                  {"kind", "kernel"},
                                  {"kernel", guest + "/vmlinuz"},
                                  {"initrd", guest + "/initramfs.img"},
                                  {"cmdline", io.empty() ? "quiet" : "quiet devshare.io=" + io}});
    ASSERT_EQ(r.status, 201) << r.Describe();
  }

  // A VM of `image` with one 1 GiB volume "data" on `tier`; its id.
  std::string CreateVm(const std::string& name, const std::string& image, const std::string& tier) {
    Reply r = api_->Post(
        "/v1/vms",
        nlohmann::json{{"name", name},
                       {"cpu_milli", 100},
                       {"memory_mib", 512},
                       {"image", image},
                       {"volumes", {{{"name", "data"}, {"size_gib", 1}, {"tier", tier}}}}});
    EXPECT_EQ(r.status, 201) << r.Describe();
    const std::string id = r.body.value("id", "");
    if (!id.empty()) vms_.push_back(id);
    return id;
  }

  // The guest's whole serial log as the agent writes it (the server keeps only its newest MiB).
  std::string Console(const std::string& id) {
    return ReadAll(runtime_ + "/console/devshare-" + id + ".log");
  }

  ::testing::AssertionResult WaitConsole(const std::string& id, const std::string& marker,
                                         milliseconds limit) {
    auto seen = [&] {
      return Console(id).find(marker) != std::string::npos ||
             api_->Get("/v1/vms/" + id).body.value("state", "") == "failed";
    };
    if (WaitFor(seen, limit) && Console(id).find(marker) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "no '" << marker << "' on the console of " << id
           << "; VM: " << api_->Get("/v1/vms/" + id).raw << "\nconsole:\n"
           << Console(id).substr(Console(id).size() > 3000 ? Console(id).size() - 3000 : 0)
           << "\nserver:\n"
           << server_->StderrLog();
  }

  std::string VolumeFile(const std::string& pool, const std::string& id) const {
    return tmp_->path() + "/" + pool + "/devshare-" + id + "-data.raw";
  }

  // Every block 0..last reads "devshare-blk <i>" through the (restarted) volume server.
  void ExpectSyncedBlocks(const std::string& id, int last) {
    storage::it::NbdClient c;
    ASSERT_TRUE(WaitFor([&] { return c.Connect(Socket(), "devshare-" + id + "-data").empty(); },
                        seconds(30)))
        << "the volume server did not come back on " << Socket();
    std::vector<char> buf(4096);
    for (int i = 0; i <= last; ++i) {
      ASSERT_EQ(c.Read(buf.data(), buf.size(), static_cast<uint64_t>(i) * 4096), "");
      char want[32];
      std::snprintf(want, sizeof want, "devshare-blk %08d\n", i);
      ASSERT_EQ(std::string(buf.data(), std::strlen(want)), want) << "block " << i;
    }
  }

  std::string skip_;
  std::unique_ptr<TempFolder> tmp_;
  std::string runtime_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Api> api_;
  std::vector<std::string> vms_;
};

TEST_F(KvmStorageTest, FsyncedBlocksSurviveKillOfNbdkitAndOfQemu) {
  AddImage("fsync", "fsync:4k:1:3000");
  // 1. kill -9 of nbdkit while the guest writes.
  const std::string a = CreateVm("fsync-a", "fsync", "nvme");
  ASSERT_TRUE(WaitConsole(a, "devshare-io: synced 30", seconds(180)));
  const pid_t nbd = static_cast<pid_t>(std::atol(ReadAll(NbdkitPidFile()).c_str()));
  ASSERT_GT(nbd, 0);
  ASSERT_EQ(::kill(nbd, SIGKILL), 0);
  std::this_thread::sleep_for(seconds(2));  // the guest's next write fails; nothing more syncs
  const int last_a = LastSynced(Console(a));
  std::printf("nbdkit %d killed after block %d was reported synced\n", nbd, last_a);
  ASSERT_TRUE(
      WaitFor([&] { return std::atol(ReadAll(NbdkitPidFile()).c_str()) != nbd; }, seconds(30)))
      << "the agent's watchdog did not restart nbdkit";
  ExpectSyncedBlocks(a, last_a);

  // 2. kill -9 of QEMU while another guest writes.
  const std::string b = CreateVm("fsync-b", "fsync", "hdd");
  ASSERT_TRUE(WaitConsole(b, "devshare-io: synced 30", seconds(180)));
  const std::string qemu_pid = ReadAll("/run/libvirt/qemu/devshare-" + b + ".pid");
  ASSERT_GT(std::atol(qemu_pid.c_str()), 0);
  ASSERT_EQ(::kill(static_cast<pid_t>(std::atol(qemu_pid.c_str())), SIGKILL), 0);
  std::this_thread::sleep_for(seconds(1));
  const int last_b = LastSynced(Console(b));
  std::printf("QEMU %ld killed after block %d was reported synced\n", std::atol(qemu_pid.c_str()),
              last_b);
  ExpectSyncedBlocks(b, last_b);
}

TEST_F(KvmStorageTest, VolumeMovesLiveUnderFioAndHotPlugs) {
  AddImage("verify", "randwrite+verify:4k:4:40");
  const std::string id = CreateVm("mover", "verify", "hdd");
  ASSERT_TRUE(WaitConsole(id, "devshare-io: ready", seconds(180)));
  const std::string slow = VolumeFile("slow", id), fast = VolumeFile("fast", id);
  ASSERT_TRUE(fs::exists(slow));
  {
    std::ofstream go(slow, std::ios::in | std::ios::out | std::ios::binary);
    go << "DEVSHARE-GO";
  }
  ASSERT_TRUE(WaitConsole(id, "devshare-io: go", seconds(30)));
  std::this_thread::sleep_for(seconds(5));
  Reply m = api_->Post("/v1/vms/" + id + "/volumes/data/migrate", R"({"tier": "nvme"})");
  ASSERT_EQ(m.status, 200) << m.Describe();
  // The agent sees the new pool in its desired state and the plugin copies the volume live.
  ASSERT_TRUE(WaitFor([&] { return fs::exists(fast) && !fs::exists(slow); }, seconds(120)))
      << "the volume did not move; agent log:\n"
      << server_->StderrLog();
  ASSERT_TRUE(WaitConsole(id, "devshare-io: done", seconds(120)));
  const std::string console = Console(id);
  ExpectFioClean(console);

  // Hot-plug a second volume (hdd), see it in the running domain, then detach it.
  Reply add = api_->Post("/v1/vms/" + id + "/volumes",
                         R"({"name": "extra", "size_gib": 1, "tier": "hdd"})");
  ASSERT_EQ(add.status, 201) << add.Describe();
  auto blk = [&] {
    return RunProcess({"/usr/bin/virsh", "-c", "qemu:///system", "domblklist", "devshare-" + id})
        .output;
  };
  ASSERT_TRUE(WaitFor([&] { return blk().find("vdd") != std::string::npos; }, seconds(60)))
      << blk() << server_->StderrLog();
  const std::string extra = tmp_->path() + "/slow/devshare-" + id + "-extra.raw";
  EXPECT_TRUE(fs::exists(extra));
  Reply del = api_->Delete("/v1/vms/" + id + "/volumes/extra");
  ASSERT_EQ(del.status, 200) << del.Describe();
  EXPECT_TRUE(WaitFor([&] { return blk().find("vdd") == std::string::npos && !fs::exists(extra); },
                      seconds(60)))
      << blk();
}

class KvmTieringTest : public KvmStorageTest {
 protected:
  std::string TieringPeriodS() const override { return "1"; }
};

// The agent's tiering controller on its own: a volume made hot by fio on the hdd pool moves up
// to nvme while fio writes and verifies; an idle volume on nvme moves down to hdd.
TEST_F(KvmTieringTest, HotVolumeMovesUpAndColdOneDownWhileFioRuns) {
  AddImage("hot", "randwrite+verify:4k:4:60");
  AddImage("idle", "");  // no devshare.io: the guest never touches its volume
  const std::string hot = CreateVm("hot", "hot", "hdd");
  const std::string idle = CreateVm("idle", "idle", "nvme");
  ASSERT_TRUE(WaitConsole(hot, "devshare-io: ready", seconds(180)));
  {
    std::ofstream go(VolumeFile("slow", hot), std::ios::in | std::ios::out | std::ios::binary);
    go << "DEVSHARE-GO";
  }
  ASSERT_TRUE(WaitConsole(hot, "devshare-io: go", seconds(30)));
  EXPECT_TRUE(WaitFor(
      [&] { return fs::exists(VolumeFile("slow", idle)) && !fs::exists(VolumeFile("fast", idle)); },
      seconds(120)))
      << "the idle volume did not move down:\n"
      << server_->StderrLog();
  EXPECT_TRUE(WaitFor(
      [&] { return fs::exists(VolumeFile("fast", hot)) && !fs::exists(VolumeFile("slow", hot)); },
      seconds(120)))
      << "the hot volume did not move up:\n"
      << server_->StderrLog();
  ASSERT_TRUE(WaitConsole(hot, "devshare-io: done", seconds(120)));
  const std::string console = Console(hot);
  ExpectFioClean(console);
  // The ledger follows: the API shows the new tiers, and the agent's moves are audited.
  EXPECT_EQ(api_->Get("/v1/vms/" + hot + "/volumes").body["volumes"][0].value("tier", ""), "nvme");
  EXPECT_EQ(api_->Get("/v1/vms/" + idle + "/volumes").body["volumes"][0].value("tier", ""), "hdd");
  const std::string log = server_->StderrLog();
  EXPECT_NE(log.find("tiering: vm " + hot + " volume data slow -> fast (nvme): hot"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("tiering: vm " + idle + " volume data fast -> slow (hdd): cold"),
            std::string::npos)
      << log;
}

// `devshare bench io`: the figures of the issue, measured by fio inside the guests.
TEST_F(KvmStorageTest, BenchIoMeetsReservationsSharesAndLimits) {
  (void)server_->Stop();  // the bench runs its own control plane and agent
  const std::string out = tmp_->path() + "/io.json";
  ProcessResult r =
      RunProcess({DevshareBinary(), "bench", "io", "--guests", "3", "--seconds", "12",
                  "--schedulers", "mclock,fifo", "--guest-dir", DEVSHARE_GUEST_DIR, "--out", out},
                 seconds(600));
  std::printf("%s\n", r.output.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json report = nlohmann::json::parse(ReadAll(out));
  const nlohmann::json& mclock = report["runs"][0]["guests"];
  const nlohmann::json& fifo = report["runs"][1]["guests"];
  EXPECT_GE(mclock[0].value("windows_meeting_reservation", 0.0), 0.99) << mclock[0].dump();
  const double ratio = mclock[2].value("iops_mean", 0.0) / mclock[1].value("iops_mean", 1.0);
  EXPECT_NEAR(ratio, 2.0, 0.2) << "the spare is not split 1:2: " << mclock.dump();
  EXPECT_LT(fifo[0].value("iops_mean", 0.0), fifo[0].value("reservation_iops", 0) * 0.9)
      << "without QoS the first should fall below its reservation: " << fifo.dump();

  ProcessResult l =
      RunProcess({DevshareBinary(), "bench", "io", "--guests", "1", "--reservations", "0",
                  "--weights", "1", "--limits", "100", "--seconds", "8", "--schedulers", "mclock",
                  "--guest-dir", DEVSHARE_GUEST_DIR, "--out", out},
                 seconds(300));
  std::printf("%s\n", l.output.c_str());
  ASSERT_EQ(l.exit_code, 0) << l.output;
  const nlohmann::json limited = nlohmann::json::parse(ReadAll(out))["runs"][0]["guests"][0];
  EXPECT_NEAR(limited.value("iops_mean", 0.0), 100.0, 5.0) << limited.dump();
}

}  // namespace
}  // namespace devshare::it
