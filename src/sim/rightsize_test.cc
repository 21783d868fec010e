// Usage-series reader and the right-sizing experiment on series with known answers.
#include "devshare/sim/rightsize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "devshare/predict/forecaster.h"
#include "devshare/sim/usage_trace.h"
#include "tests/testutil/openb_traces.h"

namespace devshare::sim {
namespace {

namespace fs = std::filesystem;

class UsageDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ds_usage_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  fs::path dir_;
};

TEST_F(UsageDir, PutsSamplesOnAMinuteGridByHeaderName) {
  // Column orders differ between files, as in the trace.
  Write("pod_gpu_memory_used_bytes_anon.csv",
        "timestamp_anon,value,container_ip\n"
        "1000.0,1073741824.0,a\n"
        "1057.0,2147483648.0,a\n"
        "1058.0,3221225472.0,a\n"  // same minute: the max counts
        "1180.0,1073741824.0,a\n"  // minute 3; minute 2 is missing
        "1060.0,524288.0,b\n");
  Write("pod_gpu_duty_cycle_anon.csv", "value,timestamp_anon,container_ip\n50.0,1000.0,a\n");
  Result<UsageTrace> t = ReadGenAiUsage(dir_.string());
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->start_unix_s, 1000);
  EXPECT_EQ(t->periods, 4);
  ASSERT_EQ(t->pods.size(), 2u);
  const UsageSeries& a = t->pods[0].Of(UsageResource::kGpuMemory);
  EXPECT_EQ(t->pods[0].pod, "a");
  EXPECT_EQ(a.first, 0);
  ASSERT_EQ(a.values.size(), 4u);
  EXPECT_DOUBLE_EQ(a.values[0], 1024);
  EXPECT_DOUBLE_EQ(a.values[1], 3072);
  EXPECT_TRUE(std::isnan(a.values[2]));
  EXPECT_DOUBLE_EQ(a.values[3], 1024);
  EXPECT_EQ(a.Samples(), 3);
  EXPECT_DOUBLE_EQ(t->pods[0].Of(UsageResource::kGpuBusy).values[0], 50);
  EXPECT_TRUE(t->pods[0].Of(UsageResource::kMemory).values.empty());  // file absent
  EXPECT_EQ(t->pods[1].Of(UsageResource::kGpuMemory).first, 1);
}

TEST_F(UsageDir, BadInputNamesFileLineAndColumn) {
  Write("pod_gpu_duty_cycle_anon.csv", "value,timestamp_anon,container_ip\n");
  Write("pod_gpu_memory_used_bytes_anon.csv",
        "timestamp_anon,value,container_ip\n1000,5,a\n1060,abc,a\n");
  Result<UsageTrace> t = ReadGenAiUsage(dir_.string());
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("pod_gpu_memory_used_bytes_anon.csv:3: column 'value'"),
            std::string::npos)
      << t.status().message();
  Write("pod_gpu_duty_cycle_anon.csv", "value,timestamp_anon,container_ip\n120,1000,a\n");
  Write("pod_gpu_memory_used_bytes_anon.csv", "timestamp_anon,value,container_ip\n");
  t = ReadGenAiUsage(dir_.string());
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("pod_gpu_duty_cycle_anon.csv:2: column 'value': 120"),
            std::string::npos)
      << t.status().message();
  fs::remove(dir_ / "pod_gpu_duty_cycle_anon.csv");
  t = ReadGenAiUsage(dir_.string());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
}

// A pod whose GPU memory (MiB) follows `values` from period `first`.
PodUsage Pod(const std::string& id, std::vector<double> values, int64_t first = 0) {
  PodUsage p;
  p.pod = id;
  p.series[0].first = first;
  p.series[0].values = std::move(values);
  return p;
}

RightsizePolicy Controller(const std::string& forecaster, double margin) {
  RightsizePolicy p;
  p.name = "devshare-" + forecaster;
  p.forecaster = forecaster;
  p.margin = margin;
  p.shrink_interval_s = 0;
  p.hysteresis = 0;
  return p;
}

const RightsizePolicyResult& Row(const RightsizeResult& r, const std::string& name) {
  for (const RightsizePolicyResult& p : r.policies) {
    if (p.policy == name) return p;
  }
  ADD_FAILURE() << "no row " << name;
  return r.policies.front();
}

class RightsizeRun : public ::testing::Test {
 protected:
  RightsizeRun() { predict::RegisterBuiltinForecasters(registry_); }
  RightsizeResult Run(const std::vector<PodUsage>& pods, std::vector<RightsizePolicy> policies,
                      int64_t periods) {
    RightsizeOptions o;
    o.policies = std::move(policies);
    o.horizon_s = 60;
    o.jobs = 1;
    o.gpu_count_after_s = 0;
    Result<RightsizeResult> r = RunRightsize(pods, periods, 60, o, registry_);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : RightsizeResult{};
  }
  predict::ForecasterRegistry registry_;
};

TEST_F(RightsizeRun, StepSeriesCountsOneViolationForLastValueAndNoneForTheOracle) {
  // 4 GiB for 60 minutes, then 8 GiB for 60.
  std::vector<double> v(120, 4096);
  for (int i = 60; i < 120; ++i) v[i] = 8192;
  RightsizePolicy peak;
  peak.name = "static-peak";
  peak.kind = RightsizePolicy::Kind::kStaticPeak;
  RightsizePolicy oracle;
  oracle.name = "oracle";
  oracle.kind = RightsizePolicy::Kind::kOracle;
  RightsizeResult r = Run({Pod("a", v)}, {peak, Controller("last", 0), oracle}, 120);
  const ResourceMetrics& p = Row(r, "static-peak").Of(UsageResource::kGpuMemory);
  EXPECT_DOUBLE_EQ(p.violation_pct, 0);
  EXPECT_NEAR(p.slack_pct, 25, 1e-9);  // half the time 4 of 8 GiB unused
  EXPECT_DOUBLE_EQ(p.resizes_per_pod_hour, 0);
  const ResourceMetrics& l = Row(r, "devshare-last").Of(UsageResource::kGpuMemory);
  // Starts at the peak (8 GiB), shrinks to 4 GiB after the warm-up, misses the step once.
  EXPECT_NEAR(l.violation_pct, 100.0 / 120, 1e-9);
  EXPECT_LT(l.slack_pct, 5);
  EXPECT_NEAR(l.resizes_per_pod_hour, 1.0, 1e-9);  // one shrink and one grow in 2 h
  const ResourceMetrics& o = Row(r, "oracle").Of(UsageResource::kGpuMemory);
  EXPECT_DOUBLE_EQ(o.violation_pct, 0);
  EXPECT_LT(o.slack_pct, l.slack_pct + 1e-9);
  EXPECT_TRUE(std::isnan(p.pinball_pct));  // no forecast for a static policy
  EXPECT_GE(l.pinball_pct, 0);
}

TEST_F(RightsizeRun, PacksByAllocationAndMovesAGrowThatDoesNotFit) {
  // Three pods of 30 GiB need two 80 GiB GPUs at their peak.
  RightsizePolicy peak;
  peak.name = "static-peak";
  peak.kind = RightsizePolicy::Kind::kStaticPeak;
  std::vector<double> flat(30, 30 * 1024.0);
  RightsizeResult r = Run({Pod("a", flat), Pod("b", flat), Pod("c", flat)}, {peak}, 30);
  EXPECT_EQ(Row(r, "static-peak").gpus_needed, 2);
  EXPECT_EQ(Row(r, "static-peak").gpus_lower_bound, 2);
  // Sized by "last", a starts at its peak (60 GiB), shrinks to 10; b (40 GiB) arrives at
  // minute 10 beside it; a's grow back to 60 GiB at minute 20 does not fit there: it moves.
  std::vector<double> a(30, 10 * 1024.0), b(20, 40 * 1024.0);
  for (int i = 20; i < 30; ++i) a[i] = 60 * 1024.0;
  RightsizeResult g = Run({Pod("a", a), Pod("b", b, 10)}, {Controller("last", 0)}, 30);
  EXPECT_EQ(Row(g, "devshare-last").moves, 1);
  EXPECT_EQ(Row(g, "devshare-last").gpus_needed, 2);
  EXPECT_EQ(Row(g, "devshare-last").allocated_gib.size(), 30u);
  EXPECT_NEAR(Row(g, "devshare-last").allocated_gib[15], 50, 1e-9);
}

TEST_F(RightsizeRun, UnknownForecasterIsAnError) {
  RightsizeOptions o;
  o.policies = {Controller("nope", 0)};
  Result<RightsizeResult> r = RunRightsize({Pod("a", {1, 2})}, 2, 60, o, registry_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nope"), std::string::npos);
}

// The GenAI trace: the properties the policies are built for, on every pod and on each half.
TEST_F(RightsizeRun, GenAiTraceDevshareBeatsAutopilotAndHoldsTheViolationBudget) {
  const fs::path dir = testutil::GenAiUsageDir();
  if (!fs::exists(dir / "pod_gpu_memory_used_bytes_anon.csv")) {
    GTEST_SKIP() << "public trace folder " << dir
                 << " absent; set DEVSHARE_TRACES_DIR to the folder holding alibaba-genai-2026/";
  }
  Result<UsageTrace> t = ReadGenAiUsage(dir.string());
  ASSERT_TRUE(t.ok()) << t.status().message();
  RightsizeOptions o;
  o.policies = DefaultRightsizePolicies({"autopilot", "ewma"}, 0.95, {0.08}, 300);
  for (int half = -1; half <= 1; ++half) {
    SCOPED_TRACE("half " + std::to_string(half));
    const std::vector<PodUsage> pods = half < 0 ? t->pods : PodsOfHalf(*t, half);
    Result<RightsizeResult> r = RunRightsize(pods, t->periods, t->period_s, o, registry_);
    ASSERT_TRUE(r.ok()) << r.status().message();
    const ResourceMetrics& peak = Row(*r, "static-peak").Of(UsageResource::kGpuMemory);
    const ResourceMetrics& ap = Row(*r, "autopilot").Of(UsageResource::kGpuMemory);
    const ResourceMetrics& oracle = Row(*r, "oracle").Of(UsageResource::kGpuMemory);
    EXPECT_DOUBLE_EQ(peak.violation_pct, 0);
    EXPECT_DOUBLE_EQ(oracle.violation_pct, 0);
    for (const char* name : {"devshare-autopilot", "devshare-ewma"}) {
      const RightsizePolicyResult& d = Row(*r, name);
      const ResourceMetrics& m = d.Of(UsageResource::kGpuMemory);
      EXPECT_LE(m.violation_pct, 0.5) << name;
      EXPECT_LT(m.slack_pct, ap.slack_pct - 5) << name;  // at least 5 points under Autopilot
      EXPECT_LT(m.slack_pct, peak.slack_pct - 10) << name;
      EXPECT_GT(m.slack_pct, oracle.slack_pct) << name;  // nothing beats foresight
    }
    // Fewer GPUs than sizing for peak only with the histogram forecaster (ewma's quicker grows
    // fragment more); far from the 25 %: see docs/rightsizing.md.
    EXPECT_LE(Row(*r, "devshare-autopilot").gpus_needed, Row(*r, "static-peak").gpus_needed);
  }
}

}  // namespace
}  // namespace devshare::sim
