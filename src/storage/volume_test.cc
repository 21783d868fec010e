// Volume and VolumeFile on real files in a temp dir (pool scheduler "none", so nothing waits):
// I/O, trim/zero, the crash-recovery rules of RecoverVolumeFile, and a live move while a writer
// keeps writing (the moved copy must hold every write).
#include "devshare/storage/volume.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

namespace devshare::storage {
namespace {

class VolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/devshare_volume_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/a");
    std::filesystem::create_directories(dir_ + "/b");
    PoolConfig p{"a", "nvme", dir_ + "/a", 1000, 100, PoolScheduler::kNone};
    auto d = PoolDispatcher::Start(p, clock_);
    ASSERT_TRUE(d.ok());
    pool_ = std::move(*d);
    ASSERT_TRUE(pool_->SetVolumeQos(1, {0, 1, 0}).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  VolumeConfig Config(uint64_t size = 8 << 20) {
    VolumeConfig v;
    v.export_name = "v";
    v.pool = "a";
    v.file = dir_ + "/a/v.raw";
    v.size_bytes = size;
    return v;
  }

  std::shared_ptr<Volume> OpenVolume(const VolumeConfig& v) {
    auto file = RecoverVolumeFile(v);
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    auto vol = Volume::Open(1, v, *file, "a", pool_);
    EXPECT_TRUE(vol.ok()) << vol.status().ToString();
    return vol.ok() ? *vol : nullptr;
  }

  SystemClock clock_;
  std::string dir_;
  std::shared_ptr<PoolDispatcher> pool_;
};

TEST_F(VolumeTest, WriteReadTrimZero) {
  auto vol = OpenVolume(Config());
  ASSERT_NE(vol, nullptr);
  std::vector<char> w(4096, 'x'), r(4096);
  ASSERT_TRUE(vol->Write(w.data(), 4096, 8192, /*fua=*/true).ok());
  ASSERT_TRUE(vol->Read(r.data(), 4096, 8192).ok());
  EXPECT_EQ(r, w);
  ASSERT_TRUE(vol->Flush().ok());
  ASSERT_TRUE(vol->Trim(4096, 8192, false).ok());
  ASSERT_TRUE(vol->Read(r.data(), 4096, 8192).ok());
  EXPECT_EQ(r, std::vector<char>(4096, 0));
  ASSERT_TRUE(vol->Write(w.data(), 4096, 0, false).ok());
  ASSERT_TRUE(vol->Zero(1000, 100, false, true).ok());
  ASSERT_TRUE(vol->Read(r.data(), 4096, 0).ok());
  EXPECT_EQ(r[99], 'x');
  EXPECT_EQ(r[100], 0);
  EXPECT_EQ(r[1099], 0);
  EXPECT_EQ(r[1100], 'x');
  VolumeSnapshot s = vol->Snapshot();
  EXPECT_EQ(s.counters.ops_write, 3u);  // two writes and one zero
  EXPECT_EQ(s.counters.ops_read, 3u);
  EXPECT_EQ(s.counters.ops_flush, 1u);
  EXPECT_EQ(s.counters.ops_trim, 1u);
  EXPECT_EQ(s.counters.bytes_written, 9192u);
  EXPECT_EQ(s.counters.errors, 0u);
}

TEST_F(VolumeTest, RecoveryRules) {
  VolumeConfig v = Config();
  // Fresh: created.
  ASSERT_TRUE(RecoverVolumeFile(v).ok());
  EXPECT_EQ(std::filesystem::file_size(v.file), v.size_bytes);
  // Both exist: the new file won (the rename is the commit point); the old one goes.
  v.moving_from = dir_ + "/b/v.raw";
  { auto f = VolumeFile::Create(v.moving_from, 512, false); }
  auto r = RecoverVolumeFile(v);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, v.file);
  EXPECT_FALSE(FileExists(v.moving_from));
  // Only the old exists: serve it.
  std::filesystem::rename(v.file, v.moving_from);
  r = RecoverVolumeFile(v);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, v.moving_from);
  // Neither: data loss, not a new empty disk.
  std::filesystem::remove(v.moving_from);
  EXPECT_EQ(RecoverVolumeFile(v).status().code(), StatusCode::kDataLoss);
  // A .part without moving_from: refuse rather than create an empty disk.
  v.moving_from.clear();
  { auto f = VolumeFile::Create(v.file + ".part", 512, false); }
  EXPECT_EQ(RecoverVolumeFile(v).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(VolumeTest, MoveKeepsConcurrentWrites) {
  VolumeConfig v = Config(16 << 20);
  auto vol = OpenVolume(v);
  ASSERT_NE(vol, nullptr);
  const uint32_t block = 4096;
  const uint64_t blocks = v.size_bytes / block;
  std::vector<uint32_t> gen(blocks, 0);
  auto fill = [&](uint64_t b, uint32_t g) {
    std::vector<uint32_t> buf(block / 4, static_cast<uint32_t>(b * 1000003 + g));
    return vol->Write(buf.data(), block, b * block, false);
  };
  for (uint64_t b = 0; b < blocks; ++b) ASSERT_TRUE(fill(b, 0).ok());

  PoolConfig pb{"b", "hdd", dir_ + "/b", 1000, 100, PoolScheduler::kNone};
  std::shared_ptr<PoolDispatcher> to = *PoolDispatcher::Start(pb, clock_);
  ASSERT_TRUE(to->SetVolumeQos(1, {0, 1, 0}).ok());
  MigrationBudget budget(clock_, 64);  // 16 MiB in about 0.26 s
  std::vector<std::string> errors;
  std::string target = dir_ + "/b/v.raw";
  ASSERT_TRUE(vol->StartMove(
                     target, "b", to, budget, [&](const std::string& m) { errors.push_back(m); },
                     [](const std::string&) {})
                  .ok());
  uint64_t x = 12345;
  int writes = 0;
  while (vol->moving()) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t b = (x >> 33) % blocks;
    ASSERT_TRUE(fill(b, ++gen[b]).ok());
    ++writes;
  }
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_GT(writes, 100);
  EXPECT_EQ(vol->file(), target);
  EXPECT_EQ(vol->pool(), to);
  EXPECT_FALSE(FileExists(v.file));
  EXPECT_FALSE(FileExists(target + ".part"));
  // Verify through a fresh open of the new file, not the volume's page of memory.
  auto f = VolumeFile::Open(target);
  ASSERT_TRUE(f.ok());
  std::vector<uint32_t> buf(block / 4);
  for (uint64_t b = 0; b < blocks; ++b) {
    ASSERT_TRUE(f->ReadAt(buf.data(), block, b * block).ok());
    ASSERT_EQ(buf[0], static_cast<uint32_t>(b * 1000003 + gen[b])) << "block " << b;
    ASSERT_EQ(buf.back(), buf[0]);
  }
}

TEST_F(VolumeTest, CancelledMoveLeavesNoPart) {
  auto vol = OpenVolume(Config(64 << 20));
  ASSERT_NE(vol, nullptr);
  MigrationBudget budget(clock_, 1);  // a minute's worth: it will be cancelled first
  std::string target = dir_ + "/b/v.raw";
  ASSERT_TRUE(
      vol->StartMove(
             target, "b", pool_, budget, [](const std::string&) {}, [](const std::string&) {})
          .ok());
  EXPECT_TRUE(vol->moving());
  EXPECT_TRUE(FileExists(target + ".part"));
  vol->CancelMove();
  EXPECT_FALSE(vol->moving());
  EXPECT_FALSE(FileExists(target + ".part"));
  EXPECT_EQ(vol->file(), dir_ + "/a/v.raw");
}

}  // namespace
}  // namespace devshare::storage
