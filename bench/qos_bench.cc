// Micro-benchmarks of the mClock hot path: one scheduling decision (Dequeue, plus the Enqueue
// that keeps the served client backlogged) with 10, 100 and 1,000 clients, next to fifo.
// Virtual time advances 1 us per decision; QoS mixes weights 1..5, a reservation on every
// fourth client and a (non-binding) limit on every fourth other one.
// Run: ./build/bench/devshare_qos_bench (Google Benchmark flags apply).
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "devshare/qos/fifo.h"
#include "devshare/qos/mclock.h"

namespace devshare::qos {
namespace {

constexpr int kQueuedPerClient = 8;

std::vector<ClientQos> MixedQos(int clients) {
  std::vector<ClientQos> qos(static_cast<size_t>(clients));
  for (int i = 0; i < clients; ++i) {
    ClientQos& q = qos[static_cast<size_t>(i)];
    q.weight = 1 + i % 5;
    if (i % 4 == 0) q.reservation_per_s = 200000.0 / clients;  // 20 % of 1M decisions/s in total
    if (i % 4 == 2) q.limit_per_s = 1e7;
  }
  return qos;
}

void RunDecisions(benchmark::State& state, MClockOptions options) {
  const int clients = static_cast<int>(state.range(0));
  const std::vector<ClientQos> qos = MixedQos(clients);
  auto made = MClockQueue::Create([&qos](ClientId c) -> std::optional<ClientQos> { return qos[c]; },
                                  options);
  if (!made.ok()) {
    state.SkipWithError(made.status().ToString().c_str());
    return;
  }
  MClockQueue& q = **made;
  TimePoint now{};
  RequestId id = 1;
  for (int k = 0; k < kQueuedPerClient; ++k) {
    for (int c = 0; c < clients; ++c) (void)q.Enqueue(static_cast<ClientId>(c), id++, 1, now);
  }
  const Duration step = std::chrono::microseconds(1);
  for (auto _ : state) {
    PullResult pr = q.Dequeue(now);
    if (pr.is_ready()) {
      (void)q.Enqueue(pr.request().client, id++, 1, now);
    } else if (pr.is_future()) {
      now = pr.when();
    }
    now += step;
    benchmark::DoNotOptimize(pr);
  }
  state.counters["decisions_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["res_share"] =
      static_cast<double>(q.counters().reservation) /
      static_cast<double>(q.counters().reservation + q.counters().priority + 1);
}

void BM_MClockDecision(benchmark::State& state) { RunDecisions(state, {}); }
BENCHMARK(BM_MClockDecision)->Arg(10)->Arg(100)->Arg(1000);

// Tags computed when a request reaches the head of its client's queue (dmclock IsDelayed).
void BM_MClockDecisionDelayedTags(benchmark::State& state) {
  MClockOptions opt;
  opt.delayed_tags = true;
  RunDecisions(state, opt);
}
BENCHMARK(BM_MClockDecisionDelayedTags)->Arg(10)->Arg(100)->Arg(1000);

// The QoS callback asked on every tag (run-time QoS changes without UpdateClientQos).
void BM_MClockDecisionDynamicQos(benchmark::State& state) {
  MClockOptions opt;
  opt.dynamic_qos = true;
  RunDecisions(state, opt);
}
BENCHMARK(BM_MClockDecisionDynamicQos)->Arg(100);

void BM_FifoDecision(benchmark::State& state) {
  const int clients = static_cast<int>(state.range(0));
  FifoQueue q;
  TimePoint now{};
  RequestId id = 1;
  for (int k = 0; k < kQueuedPerClient; ++k) {
    for (int c = 0; c < clients; ++c) (void)q.Enqueue(static_cast<ClientId>(c), id++, 1, now);
  }
  for (auto _ : state) {
    PullResult pr = q.Dequeue(now);
    (void)q.Enqueue(pr.request().client, id++, 1, now);
    now += std::chrono::microseconds(1);
    benchmark::DoNotOptimize(pr);
  }
  state.counters["decisions_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FifoDecision)->Arg(100);

}  // namespace
}  // namespace devshare::qos
BENCHMARK_MAIN();
