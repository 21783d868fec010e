// CreditSim: Xen credit1 as a discrete-event model. Credits are kept in nanoseconds of run time
// (one credit = 1 ms / credits_per_ms), so burning is exact (Xen's "accurate accounting").
#include "devshare/qos/credit_scheduler.h"

#include <algorithm>
#include <deque>

#include "qos/event_queue.h"

namespace devshare::qos {
namespace {

constexpr int kPriBoost = static_cast<int>(CreditPriority::kBoost);
constexpr int kPriUnder = static_cast<int>(CreditPriority::kUnder);
constexpr int kPriOver = static_cast<int>(CreditPriority::kOver);
constexpr int kPriIdle = -64;

enum class Ev : uint8_t { kTick, kAccount, kResched, kBlock, kWake };

struct Event {
  TimePoint at;
  Ev type;
  uint32_t a;
  uint64_t b;
};

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

class CreditSim::Impl {
 public:
  Impl(CreditOptions options, std::vector<CreditVmSpec> vms) : opt_(options), vms_(std::move(vms)) {
    ns_per_credit_ = 1000000 / opt_.credits_per_ms;
    credits_per_tslice_ = opt_.credits_per_ms * (opt_.tslice / std::chrono::milliseconds(1));
    pcpus_.resize(static_cast<size_t>(opt_.pcpus));
    vm_first_vcpu_.resize(vms_.size(), 0);
    for (uint32_t vm = 0; vm < vms_.size(); ++vm) order_.push_back(vm);
    for (uint32_t vm = 0; vm < vms_.size(); ++vm) {
      for (int64_t k = 0; k < vms_[vm].vcpus; ++k) {
        Vcpu v;
        v.vm = vm;
        v.home = static_cast<int>(vcpus_.size() % pcpus_.size());
        v.burst_left = vms_[vm].workload.burst;
        if (k == 0) vm_first_vcpu_[vm] = static_cast<uint32_t>(vcpus_.size());
        vcpus_.push_back(v);
      }
    }
    for (uint32_t i = 0; i < vcpus_.size(); ++i) RunqInsert(vcpus_[i].home, i);
    for (size_t p = 0; p < pcpus_.size(); ++p) Schedule(static_cast<int>(p));
    Push(now_ + opt_.tick, Ev::kTick, 0, 0);
    Push(now_ + opt_.accounting_phase, Ev::kAccount, 0, 0);
  }

  void RunFor(Duration d) {
    const TimePoint end = now_ + d;
    while (!events_.empty() && events_.top().at <= end) {
      const Event e = events_.Pop();
      now_ = e.at;
      Handle(e);
    }
    now_ = end;
    for (Pcpu& p : pcpus_) {
      if (p.current >= 0) Burn(vcpus_[static_cast<size_t>(p.current)]);
    }
  }

  void ResetStats() {
    window_start_ = now_;
    for (Vcpu& v : vcpus_) {
      v.run_time = Duration(0);
      v.wakes = 0;
      v.latency_sum = Duration(0);
      v.latency_max = Duration(0);
    }
  }

  std::vector<CreditVmStats> Stats() const {
    std::vector<CreditVmStats> out(vms_.size());
    const double elapsed = static_cast<double>((now_ - window_start_).count());
    for (size_t vm = 0; vm < vms_.size(); ++vm) out[vm].name = vms_[vm].name;
    std::vector<Duration> latency_sum(vms_.size(), Duration(0));
    for (const Vcpu& v : vcpus_) {
      CreditVmStats& s = out[v.vm];
      s.run_time += v.run_time;
      s.wakes += v.wakes;
      s.max_wake_latency = std::max(s.max_wake_latency, v.latency_max);
      latency_sum[v.vm] += v.latency_sum;
    }
    for (size_t vm = 0; vm < vms_.size(); ++vm) {
      if (elapsed > 0)
        out[vm].share_of_pcpu = static_cast<double>(out[vm].run_time.count()) / elapsed;
      if (out[vm].wakes > 0) {
        out[vm].mean_wake_latency = latency_sum[vm] / static_cast<int64_t>(out[vm].wakes);
      }
    }
    return out;
  }

  TimePoint now() const { return now_; }
  const CreditOptions& options() const { return opt_; }

  CreditPriority PriorityOf(size_t vm, size_t k) const {
    return static_cast<CreditPriority>(vcpus_[vm_first_vcpu_[vm] + k].pri);
  }
  int64_t CreditOf(size_t vm, size_t k) const {
    return vcpus_[vm_first_vcpu_[vm] + k].credit_ns / ns_per_credit_;
  }

 private:
  struct Vcpu {
    uint32_t vm = 0;
    int64_t credit_ns = 0;  // credits in ns of run time
    int pri = kPriUnder;
    bool runnable = true;
    bool parked = false;
    bool active = true;  // earns credit at accounting (Xen's active list)
    bool queued = false;
    int home = 0;
    int running_on = -1;
    TimePoint last_burn{};
    Duration burst_left{0};
    uint64_t block_gen = 0;
    bool waiting_since_wake = false;
    TimePoint woke_at{};
    // Statistics.
    Duration run_time{0};
    uint64_t wakes = 0;
    Duration latency_sum{0};
    Duration latency_max{0};
  };

  struct Pcpu {
    std::deque<uint32_t> runq;  // by priority, FIFO within one
    int current = -1;
    TimePoint dispatched_at{};
    uint64_t resched_gen = 0;
  };

  bool Periodic(const Vcpu& v) const {
    return vms_[v.vm].workload.kind == CpuWorkload::Kind::kPeriodic;
  }

  void Push(TimePoint at, Ev type, uint32_t a, uint64_t b) { events_.Push(Event{at, type, a, b}); }

  // Charges the running vCPU for the time since it was last charged.
  void Burn(Vcpu& v) {
    if (v.running_on < 0) return;
    const Duration dt = now_ - v.last_burn;
    v.last_burn = now_;
    v.credit_ns -= dt.count();
    v.run_time += dt;
    if (Periodic(v)) v.burst_left -= dt;
  }

  void RunqInsert(int p, uint32_t id) {
    Vcpu& v = vcpus_[id];
    std::deque<uint32_t>& q = pcpus_[static_cast<size_t>(p)].runq;
    auto it = std::find_if(q.begin(), q.end(), [&](uint32_t o) { return vcpus_[o].pri < v.pri; });
    q.insert(it, id);
    v.queued = true;
  }

  void RunqRemove(uint32_t id) {
    for (Pcpu& p : pcpus_) {
      auto it = std::find(p.runq.begin(), p.runq.end(), id);
      if (it != p.runq.end()) {
        p.runq.erase(it);
        break;
      }
    }
    vcpus_[id].queued = false;
  }

  // Picks what pCPU p runs next: the head of its run queue, unless another pCPU has queued work
  // of a higher priority than that (Xen's load balancing: only when the local best is OVER or
  // the pCPU would idle).
  void Schedule(int p) {
    Pcpu& pc = pcpus_[static_cast<size_t>(p)];
    if (pc.current >= 0) {
      const auto cur = static_cast<uint32_t>(pc.current);
      Vcpu& v = vcpus_[cur];
      Burn(v);
      v.running_on = -1;
      pc.current = -1;
      if (v.runnable && !v.parked) RunqInsert(p, cur);
    }
    int best_pri = pc.runq.empty() ? kPriIdle : vcpus_[pc.runq.front()].pri;
    int pick = pc.runq.empty() ? -1 : static_cast<int>(pc.runq.front());
    if (best_pri <= kPriOver) {
      for (size_t k = 1; k < pcpus_.size(); ++k) {
        const Pcpu& other = pcpus_[(static_cast<size_t>(p) + k) % pcpus_.size()];
        if (!other.runq.empty() && vcpus_[other.runq.front()].pri > best_pri) {
          best_pri = vcpus_[other.runq.front()].pri;
          pick = static_cast<int>(other.runq.front());
        }
      }
    }
    ++pc.resched_gen;  // cancels a pending slice end or preemption
    if (pick < 0) return;
    const auto id = static_cast<uint32_t>(pick);
    RunqRemove(id);
    Dispatch(p, id);
  }

  void Dispatch(int p, uint32_t id) {
    Pcpu& pc = pcpus_[static_cast<size_t>(p)];
    Vcpu& v = vcpus_[id];
    v.home = p;
    v.running_on = p;
    v.last_burn = now_;
    v.active = true;  // it burns credit, so it earns again
    if (v.waiting_since_wake) {
      const Duration lat = now_ - v.woke_at;
      v.latency_sum += lat;
      v.latency_max = std::max(v.latency_max, lat);
      v.waiting_since_wake = false;
    }
    pc.current = static_cast<int>(id);
    pc.dispatched_at = now_;
    Push(now_ + opt_.tslice, Ev::kResched, static_cast<uint32_t>(p), pc.resched_gen);
    if (Periodic(v)) {
      ++v.block_gen;
      Push(now_ + std::max(Duration(1), v.burst_left), Ev::kBlock, id, v.block_gen);
    }
  }

  // Asks pCPU p to reschedule now, but not before its current vCPU has run `ratelimit`.
  void Preempt(int p) {
    Pcpu& pc = pcpus_[static_cast<size_t>(p)];
    const TimePoint at = std::max(now_, pc.dispatched_at + opt_.ratelimit);
    ++pc.resched_gen;
    Push(at, Ev::kResched, static_cast<uint32_t>(p), pc.resched_gen);
  }

  // A vCPU became runnable on its home pCPU: run it there if idle, preempt a lower priority,
  // or wake an idle pCPU that will steal it.
  void Tickle(uint32_t id) {
    const Vcpu& v = vcpus_[id];
    Pcpu& home = pcpus_[static_cast<size_t>(v.home)];
    if (home.current < 0) {
      Schedule(v.home);
      return;
    }
    if (v.pri > vcpus_[static_cast<size_t>(home.current)].pri) {
      Preempt(v.home);
      return;
    }
    for (size_t p = 0; p < pcpus_.size(); ++p) {
      if (pcpus_[p].current < 0) {
        Schedule(static_cast<int>(p));
        return;
      }
    }
  }

  void Handle(const Event& e) {
    switch (e.type) {
      case Ev::kTick:
        Tick();
        Push(now_ + opt_.tick, Ev::kTick, 0, 0);
        break;
      case Ev::kAccount:
        Account();
        Push(now_ + opt_.tslice, Ev::kAccount, 0, 0);
        break;
      case Ev::kResched:
        if (pcpus_[e.a].resched_gen == e.b) Schedule(static_cast<int>(e.a));
        break;
      case Ev::kBlock: {
        Vcpu& v = vcpus_[e.a];
        if (v.block_gen != e.b || v.running_on < 0) break;
        const int p = v.running_on;
        Burn(v);
        v.runnable = false;
        v.burst_left = vms_[v.vm].workload.burst;
        Schedule(p);
        Push(now_ + vms_[v.vm].workload.sleep, Ev::kWake, e.a, 0);
        break;
      }
      case Ev::kWake: {
        Vcpu& v = vcpus_[e.a];
        v.runnable = true;
        ++v.wakes;
        v.woke_at = now_;
        v.waiting_since_wake = true;
        if (v.parked) break;  // runs again when unparked
        // Xen csched_vcpu_wake: an UNDER vCPU that wakes is boosted so it can preempt.
        if (opt_.boost && v.pri == kPriUnder) v.pri = kPriBoost;
        RunqInsert(v.home, e.a);
        Tickle(e.a);
        break;
      }
    }
  }

  // Every tick the running vCPUs are charged; one that was boosted and is still running has
  // used more than a blip of CPU and loses its boost (Xen csched_vcpu_acct).
  void Tick() {
    for (Pcpu& p : pcpus_) {
      if (p.current < 0) continue;
      Vcpu& v = vcpus_[static_cast<size_t>(p.current)];
      Burn(v);
      if (v.pri == kPriBoost) v.pri = kPriUnder;
      v.active = true;
    }
  }

  // Every tslice: hand out credits_per_tslice per pCPU to the active domains by weight (capped
  // domains at most their cap, the excess going to the domains after them), then set
  // priorities, park capped-out vCPUs and unpark the ones back in credit (Xen csched_acct).
  void Account() {
    for (Pcpu& p : pcpus_) {
      if (p.current >= 0) Burn(vcpus_[static_cast<size_t>(p.current)]);
    }
    const size_t n_vms = vms_.size();
    std::vector<int64_t> active(n_vms, 0);
    for (const Vcpu& v : vcpus_) active[v.vm] += v.active ? 1 : 0;
    int64_t weight_total = 0;
    for (size_t d = 0; d < n_vms; ++d) weight_total += vms_[d].weight * active[d];
    if (weight_total == 0) {
      balance_ = 0;
      return;
    }
    // Xen's pass over the active domains: credit_total grows by the system's negative balance
    // and by what capped (or saturated) domains cannot use, which the domains after them get.
    int64_t credit_total = credits_per_tslice_ * static_cast<int64_t>(pcpus_.size());
    if (balance_ < 0) credit_total -= balance_;
    int64_t weight_left = weight_total;
    bool xtra = false;
    std::vector<int64_t> fair(n_vms, 0);
    std::vector<uint32_t> to_front;
    for (uint32_t d : order_) {
      if (active[d] == 0) continue;
      const int64_t w = vms_[d].weight * active[d];
      weight_left -= w;
      int64_t peak = active[d] * credits_per_tslice_;
      if (balance_ < 0) peak += CeilDiv(-balance_ * w, weight_total);
      if (vms_[d].cap_pct > 0) {
        peak = std::min(peak, CeilDiv(vms_[d].cap_pct * credits_per_tslice_, 100));
      }
      fair[d] = CeilDiv(credit_total * w, weight_total);
      if (fair[d] < peak) {
        xtra = true;
      } else {
        if (weight_left != 0) {
          credit_total += CeilDiv((fair[d] - peak) * weight_total, weight_left);
        }
        if (xtra) to_front.push_back(d);  // keep domains with spare credit first next time
        fair[d] = peak;
      }
    }
    for (uint32_t d : to_front) {
      order_.erase(std::find(order_.begin(), order_.end(), d));
      order_.insert(order_.begin(), d);
    }
    int64_t balance = 0;
    std::vector<int> resched;
    for (uint32_t id = 0; id < vcpus_.size(); ++id) {
      Vcpu& v = vcpus_[id];
      if (!v.active) continue;
      const VmSpec& spec = vms_[v.vm];
      v.credit_ns += CeilDiv(fair[v.vm], active[v.vm]) * ns_per_credit_;
      if (v.credit_ns < 0) {
        v.pri = kPriOver;
        if (spec.cap_pct > 0 && !v.parked) {
          const int64_t vm_cap = CeilDiv(spec.cap_pct * credits_per_tslice_, 100);
          const int64_t vcpu_cap = CeilDiv(vm_cap, active[v.vm]);
          if (v.credit_ns < -vcpu_cap * ns_per_credit_) {
            v.parked = true;
            if (v.queued) RunqRemove(id);
            if (v.running_on >= 0) resched.push_back(v.running_on);
          }
        }
        v.credit_ns = std::max(v.credit_ns, -credits_per_tslice_ * ns_per_credit_);
      } else {
        v.pri = kPriUnder;
        if (v.parked) {
          v.parked = false;
          if (v.runnable && v.running_on < 0 && !v.queued) {
            RunqInsert(v.home, id);
            Tickle(id);
          }
        }
        if (v.credit_ns > credits_per_tslice_ * ns_per_credit_) {
          v.active = false;  // stops earning until it runs again
          v.credit_ns /= 2;
        }
      }
      balance += v.credit_ns / ns_per_credit_;
    }
    balance_ = balance;
    // Priorities changed: keep each run queue ordered (Xen csched_runq_sort).
    for (Pcpu& p : pcpus_) {
      std::stable_sort(p.runq.begin(), p.runq.end(),
                       [&](uint32_t a, uint32_t b) { return vcpus_[a].pri > vcpus_[b].pri; });
    }
    for (int p : resched) Schedule(p);
  }

  using VmSpec = CreditVmSpec;

  CreditOptions opt_;
  std::vector<CreditVmSpec> vms_;
  std::vector<Vcpu> vcpus_;
  std::vector<uint32_t> vm_first_vcpu_;
  std::vector<Pcpu> pcpus_;
  EventQueue<Event> events_;
  TimePoint now_{};
  TimePoint window_start_{};
  int64_t ns_per_credit_ = 100000;
  int64_t balance_ = 0;          // sum of active credits after the last accounting
  std::vector<uint32_t> order_;  // Xen's active domain list order
  int64_t credits_per_tslice_ = 300;
};

Result<std::unique_ptr<CreditSim>> CreditSim::Create(CreditOptions options,
                                                     std::vector<CreditVmSpec> vms) {
  if (options.pcpus < 1 || options.pcpus > 4096) {
    return Status::InvalidArgument("pcpus: must be 1..4096");
  }
  if (options.tslice < std::chrono::milliseconds(1) || options.tick <= Duration::zero() ||
      options.tick > options.tslice || options.credits_per_ms < 1 ||
      options.credits_per_ms > 1000000 || options.ratelimit < Duration::zero() ||
      options.accounting_phase < Duration::zero() || options.accounting_phase > options.tslice) {
    return Status::InvalidArgument(
        "credit options: need tslice >= 1 ms, 0 < tick <= tslice, credits_per_ms 1..1e6, "
        "ratelimit >= 0, 0 <= accounting_phase <= tslice");
  }
  if (vms.empty()) return Status::InvalidArgument("vms: at least one VM");
  for (size_t i = 0; i < vms.size(); ++i) {
    const CreditVmSpec& v = vms[i];
    const std::string p = "vms[" + std::to_string(i) + "] ('" + v.name + "')";
    if (v.weight < 1 || v.weight > 65535) {
      return Status::InvalidArgument(p + ".weight: " + std::to_string(v.weight) +
                                     " is outside 1..65535");
    }
    if (v.vcpus < 1 || v.vcpus > 4096) {
      return Status::InvalidArgument(p + ".vcpus: must be 1..4096");
    }
    if (v.cap_pct < 0 || v.cap_pct > 100 * v.vcpus) {
      return Status::InvalidArgument(p + ".cap_pct: " + std::to_string(v.cap_pct) +
                                     " is outside 0..100 x vcpus (0 = uncapped)");
    }
    if (v.workload.kind == CpuWorkload::Kind::kPeriodic &&
        (v.workload.burst <= Duration::zero() || v.workload.sleep <= Duration::zero())) {
      return Status::InvalidArgument(p + ".workload: periodic needs burst > 0 and sleep > 0");
    }
  }
  return std::unique_ptr<CreditSim>(new CreditSim(std::make_unique<Impl>(options, std::move(vms))));
}

CreditSim::CreditSim(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CreditSim::~CreditSim() = default;
void CreditSim::RunFor(Duration d) { impl_->RunFor(d); }
void CreditSim::ResetStats() { impl_->ResetStats(); }
std::vector<CreditVmStats> CreditSim::Stats() const { return impl_->Stats(); }
TimePoint CreditSim::now() const { return impl_->now(); }
CreditPriority CreditSim::PriorityOf(size_t vm, size_t vcpu) const {
  return impl_->PriorityOf(vm, vcpu);
}
int64_t CreditSim::CreditOf(size_t vm, size_t vcpu) const { return impl_->CreditOf(vm, vcpu); }

}  // namespace devshare::qos
