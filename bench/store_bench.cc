// Throughput of the sqlite Store backend: committed transactions per second with 1 and with 64
// VM writes per transaction (the server's group commit). Each VM write is what a vm.create does:
// a savepoint, InsertVm, GuardHost and AppendAudit, then release; every Commit fsyncs the WAL
// (synchronous=FULL). The database lives in $DEVSHARE_BENCH_DIR or the system temp folder.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "devshare/store/store.h"

namespace devshare::store {
namespace {

namespace fs = std::filesystem;

fs::path BenchDir() {
  const char* env = std::getenv("DEVSHARE_BENCH_DIR");
  fs::path base = env != nullptr ? fs::path(env) : fs::temp_directory_path();
  return base / ("devshare_store_bench_" + std::to_string(::getpid()));
}

void BM_SqliteVmCreateTxn(benchmark::State& state) {
  const int64_t vms_per_txn = state.range(0);
  const fs::path dir = BenchDir();
  fs::remove_all(dir);
  {
    Result<std::unique_ptr<Store>> opened = OpenSqliteStore((dir / "bench.db").string());
    if (!opened.ok()) {
      state.SkipWithError(opened.status().ToString().c_str());
      return;
    }
    std::unique_ptr<Store> store = std::move(opened).value();
    uint64_t generation = 0;
    {
      Result<std::unique_ptr<Txn>> txn = store->Begin();
      Status seeded = txn.status();
      if (txn.ok()) seeded = (*txn)->InsertTenant({"t-1", "bench", 1});
      Result<uint64_t> put = seeded.ok() ? (*txn)->PutHost("h1", "{}", 0, 1) : seeded;
      if (put.ok()) seeded = (*txn)->Commit();
      if (!put.ok() || !seeded.ok()) {
        state.SkipWithError((put.ok() ? seeded : put.status()).ToString().c_str());
        return;
      }
      generation = *put;
    }
    VmRecord vm;
    vm.tenant_id = "t-1";
    vm.host = "h1";
    vm.spec_json = R"({"cpu_milli":2000,"memory_mib":4096,"gpu":{"count":1,"milli":500}})";
    vm.allocation_json = R"({"cpu_milli":2000,"gpus":[{"index":3,"milli":500}]})";
    vm.state = "allocated";
    AuditRecord audit;
    audit.tenant_id = "t-1";
    audit.actor = "k-1";
    audit.operation = "vm.create";
    audit.outcome = "ok";
    audit.detail_json = vm.allocation_json;
    int64_t next_id = 0;
    for (auto _ : state) {
      Result<std::unique_ptr<Txn>> txn = store->Begin();
      if (!txn.ok()) {
        state.SkipWithError(txn.status().ToString().c_str());
        break;
      }
      for (int64_t i = 0; i < vms_per_txn; ++i) {
        vm.id = "vm-" + std::to_string(++next_id);
        vm.name = vm.id;
        audit.object = "vm/" + vm.id;
        bool ok = (*txn)->Savepoint().ok() && (*txn)->InsertVm(vm).ok();
        Result<uint64_t> g = (*txn)->GuardHost("h1", generation);
        ok = ok && g.ok() && (*txn)->AppendAudit(audit).ok() && (*txn)->ReleaseSavepoint().ok();
        if (!ok) {
          state.SkipWithError("write failed");
          break;
        }
        generation = *g;
      }
      if (!(*txn)->Commit().ok()) {
        state.SkipWithError("commit failed");
        break;
      }
    }
    state.SetItemsProcessed(state.iterations());  // items = committed transactions
    state.counters["vms_per_s"] = benchmark::Counter(
        static_cast<double>(state.iterations() * vms_per_txn), benchmark::Counter::kIsRate);
    state.SetLabel(store->Describe());
  }
  fs::remove_all(dir);
}
BENCHMARK(BM_SqliteVmCreateTxn)->Arg(1)->Arg(64)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace devshare::store

BENCHMARK_MAIN();
