#include "devshare/host/qos_check.h"

#include <gtest/gtest.h>

#include <map>

namespace devshare::host {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

QosSample Sample(const std::string& name, int64_t shares, std::vector<int> pinned,
                 Duration cpu_time, int64_t quota_us = -1, int vcpus = 1) {
  QosSample s;
  s.name = name;
  s.info.vcpus = vcpus;
  s.info.tune = {shares, 100000, quota_us};
  s.info.pinned = std::move(pinned);
  s.cpu_time = cpu_time;
  return s;
}

TEST(EvaluateQosTest, SharesOnOneCpu) {
  const std::vector<QosSample> a = {Sample("d-100", 1024, {1}, seconds(0)),
                                    Sample("d-200", 2048, {1}, seconds(10)),
                                    Sample("d-400", 4096, {1}, seconds(20))};
  // Over 7 s: 1 s, 2 s, 4 s of CPU = exactly 1:2:4.
  const std::vector<QosSample> b = {Sample("d-100", 1024, {1}, seconds(1)),
                                    Sample("d-200", 2048, {1}, seconds(12)),
                                    Sample("d-400", 4096, {1}, seconds(24))};
  std::vector<QosRow> rows = EvaluateQos(a, b, seconds(7));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_NEAR(rows[0].promised_pct, 100.0 / 7, 1e-9);
  EXPECT_NEAR(rows[1].promised_pct, 200.0 / 7, 1e-9);
  EXPECT_NEAR(rows[2].promised_pct, 400.0 / 7, 1e-9);
  EXPECT_NEAR(rows[2].promised_group_share, 4.0 / 7, 1e-9);
  for (const QosRow& r : rows) {
    EXPECT_NEAR(r.achieved_pct, r.promised_pct, 1e-9) << r.name;
    EXPECT_NEAR(r.achieved_group_share, r.promised_group_share, 1e-9) << r.name;
    EXPECT_EQ(r.group, 0);
    EXPECT_EQ(r.group_cpus, 1);
  }
  const std::string table = FormatQosTable(rows);
  EXPECT_NE(table.find("ACHIEVED/PROMISED"), std::string::npos);
  EXPECT_NE(table.find("1.000"), std::string::npos) << table;
}

TEST(EvaluateQosTest, CapsAndWaterFilling) {
  // Equal shares on one CPU, one capped at 20 %: it gets 20, the other the remaining 80.
  const std::vector<QosSample> a = {Sample("capped", 1024, {0}, seconds(0), 20000),
                                    Sample("free", 1024, {0}, seconds(0))};
  const std::vector<QosSample> b = {Sample("capped", 1024, {0}, milliseconds(200), 20000),
                                    Sample("free", 1024, {0}, milliseconds(800))};
  std::vector<QosRow> rows = EvaluateQos(a, b, seconds(1));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NEAR(rows[0].cap_pct, 20.0, 1e-9);
  EXPECT_NEAR(rows[0].promised_pct, 20.0, 1e-9);
  EXPECT_NEAR(rows[1].promised_pct, 80.0, 1e-9);
}

TEST(EvaluateQosTest, GroupsIdleAndVcpuLimits) {
  // "solo" alone on CPU 2 with one vCPU: promised 100. "x" and "y" overlap on CPU 0 and 1:
  // x has 1 vCPU (limit 100), y 2 vCPUs with 9x the shares: y fills 2 CPUs minus x's share
  // first by weight: fair x = 200*1/10 = 20, y = 180. "idle" is idle: no promise.
  const std::vector<QosSample> a = {
      Sample("solo", 1024, {2}, seconds(0)), Sample("x", 1024, {0, 1}, seconds(0)),
      Sample("y", 9216, {0, 1}, seconds(0), -1, 2), Sample("idle", 1024, {0}, seconds(0))};
  const std::vector<QosSample> b = {Sample("solo", 1024, {2}, seconds(1)),
                                    Sample("x", 1024, {0, 1}, milliseconds(200)),
                                    Sample("y", 9216, {0, 1}, milliseconds(1800), -1, 2),
                                    Sample("idle", 1024, {0}, milliseconds(5))};
  std::vector<QosRow> rows = EvaluateQos(a, b, seconds(1));
  ASSERT_EQ(rows.size(), 4u);
  std::map<std::string, QosRow> by;
  for (const QosRow& r : rows) by[r.name] = r;
  EXPECT_NE(by["solo"].group, by["x"].group);
  EXPECT_EQ(by["x"].group, by["y"].group);
  EXPECT_EQ(by["x"].group, by["idle"].group);
  EXPECT_NEAR(by["solo"].promised_pct, 100.0, 1e-9);
  EXPECT_TRUE(by["idle"].idle);
  EXPECT_EQ(by["idle"].promised_pct, 0.0);
  EXPECT_NEAR(by["x"].promised_pct, 20.0, 1e-9);
  EXPECT_NEAR(by["y"].promised_pct, 180.0, 1e-9);
  EXPECT_NEAR(by["y"].promised_group_share, 0.9, 1e-9);
  EXPECT_EQ(by["idle"].achieved_group_share, 0.0);

  // Two CPUs, x with 1 vCPU (limit 100), y with 2 (limit 200). Shares 1:1: 100 each.
  std::vector<QosSample> a2 = {Sample("x", 1024, {0, 1}, seconds(0)),
                               Sample("y", 1024, {0, 1}, seconds(0), -1, 2)};
  std::vector<QosSample> b2 = {Sample("x", 1024, {0, 1}, seconds(1)),
                               Sample("y", 1024, {0, 1}, seconds(1), -1, 2)};
  rows = EvaluateQos(a2, b2, seconds(1));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NEAR(rows[0].promised_pct, 100.0, 1e-9);
  EXPECT_NEAR(rows[1].promised_pct, 100.0, 1e-9);
  // Shares 1:3: x 50, y 150 (both under their limits).
  b2[1].info.tune.shares = a2[1].info.tune.shares = 3072;
  rows = EvaluateQos(a2, b2, seconds(1));
  EXPECT_NEAR(rows[0].promised_pct, 50.0, 1e-9);
  EXPECT_NEAR(rows[1].promised_pct, 150.0, 1e-9);
}

TEST(EvaluateQosTest, UnmatchedAndZeroWindow) {
  EXPECT_TRUE(EvaluateQos({Sample("a", 1024, {0}, seconds(0))},
                          {Sample("b", 1024, {0}, seconds(1))}, seconds(1))
                  .empty());
  EXPECT_TRUE(EvaluateQos({Sample("a", 1024, {0}, seconds(0))},
                          {Sample("a", 1024, {0}, seconds(1))}, seconds(0))
                  .empty());
}

}  // namespace
}  // namespace devshare::host
