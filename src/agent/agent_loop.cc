// AgentLoop: start-up, the three threads and their steps (heartbeat, watch, console).
// Reconciliation is in agent_reconcile.cc.
#include "devshare/agent/agent_loop.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace devshare::agent {
namespace {

Duration Ms(std::chrono::milliseconds ms) { return std::chrono::duration_cast<Duration>(ms); }

// Errors no retry can fix at start: a bad request, a refused token, a server without the
// agent endpoints.
bool Permanent(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
    case StatusCode::kNotFound:
    case StatusCode::kUnimplemented:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string ReconcileCounts::Summary() const {
  std::string s = std::to_string(adopted) + " adopted / " + std::to_string(removed) +
                  " removed / " + std::to_string(created) + " created";
  for (const auto& [n, what] :
       {std::pair{updated, "updated"}, std::pair{started, "started"}, std::pair{stopped, "stopped"},
        std::pair{rebooted, "rebooted"}, std::pair{failed, "failed"}}) {
    if (n > 0) s += " / " + std::to_string(n) + " " + what;
  }
  return s;
}

AgentLoop::AgentLoop(ControlLink& link, GuestDriver& driver, const Clock& clock, Waiter& waiter,
                     AgentOptions options)
    : link_(link),
      driver_(driver),
      clock_(clock),
      waiter_(waiter),
      options_(std::move(options)),
      heartbeat_interval_(Ms(options_.heartbeat_interval)),
      watch_backoff_(Ms(options_.backoff_initial), Ms(options_.backoff_max), options_.seed),
      watch_errors_("watching the desired state", [this](const std::string& l) { Log(l); }),
      list_errors_("listing this agent's domains", [this](const std::string& l) { Log(l); }),
      heartbeat_backoff_(Ms(options_.backoff_initial), Ms(options_.backoff_max), options_.seed + 1),
      heartbeat_errors_("heartbeat", [this](const std::string& l) { Log(l); }),
      usage_errors_("reading guest usage", [this](const std::string& l) { Log(l); }),
      console_backoff_(Ms(options_.backoff_initial), Ms(options_.backoff_max), options_.seed + 2),
      console_errors_("pushing console output", [this](const std::string& l) { Log(l); }),
      console_read_errors_("reading console logs", [this](const std::string& l) { Log(l); }) {}

AgentLoop::~AgentLoop() { Stop(); }

void AgentLoop::Log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

void AgentLoop::Kick(std::atomic<bool>& flag) {
  flag = true;
  waiter_.Notify();
}

Status AgentLoop::Retry(const std::string& what, const std::function<Status()>& call) {
  Backoff backoff(Ms(options_.backoff_initial), Ms(options_.backoff_max), options_.seed + 3);
  ErrorLog errors(what, [this](const std::string& l) { Log(l + " (retrying)"); });
  while (true) {
    if (stopping_) return Status::Aborted(what + ": the agent is stopping");
    Status s = call();
    if (s.ok()) {
      errors.Succeeded();
      return s;
    }
    if (stopping_) return Status::Aborted(what + ": the agent is stopping");
    if (Permanent(s)) return Status(s.code(), what + ": " + s.message());
    errors.Failed(s);
    waiter_.WaitFor(backoff.Next(), [this] { return stopping_.load(); });
  }
}

Status AgentLoop::Start() {
  DS_RETURN_IF_ERROR(
      Retry("registering the host", [this] { return link_.Register(options_.inventory); }));
  Log("registered");
  DesiredState desired;
  DS_RETURN_IF_ERROR(Retry("reading the desired state", [this, &desired] {
    Result<DesiredState> d = link_.WatchDesired(std::nullopt, std::chrono::milliseconds(0));
    if (!d.ok()) return d.status();
    desired = std::move(*d);
    return Status::Ok();
  }));
  std::atomic<bool> reconciling{true};
  std::thread keepalive;
  if (options_.keepalive_during_start) {
    keepalive = std::thread([this, &reconciling] {
      for (;;) {
        waiter_.WaitFor(options_.heartbeat_interval,
                        [&] { return stopping_.load() || !reconciling.load(); });
        if (stopping_ || !reconciling) return;
        Result<HeartbeatReply> r = link_.KeepAlive(options_.info);
        if (!r.ok() && !stopping_)
          Log("keep-alive during the first reconcile: " + r.status().ToString());
      }
    });
  }
  start_counts_ = Reconcile(desired);
  reconciling = false;
  if (keepalive.joinable()) {
    waiter_.Notify();
    keepalive.join();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    revision_ = desired.revision;
  }
  Log("reconciled: " + start_counts_.Summary());
  heartbeat_kick_ = true;  // report the states at once
  return Status::Ok();
}

void AgentLoop::ThreadMain(const std::function<Duration()>& step, const std::atomic<bool>* kick) {
  while (!stopping_) {
    const Duration wait = step();
    waiter_.WaitFor(wait, [this, kick] { return stopping_.load() || (kick && kick->load()); });
  }
}

void AgentLoop::RunThreads() {
  std::lock_guard<std::mutex> lock(threads_mu_);
  if (!threads_.empty() || stopping_) return;
  threads_.emplace_back(
      [this] { ThreadMain([this] { return HeartbeatStep(); }, &heartbeat_kick_); });
  threads_.emplace_back([this] { ThreadMain([this] { return WatchStep(); }, &watch_kick_); });
  threads_.emplace_back([this] { ThreadMain([this] { return ConsoleStep(); }, nullptr); });
}

void AgentLoop::Stop() {
  if (stopping_.exchange(true)) {
    // Another caller is stopping (or stopped) the loop; still wait for the threads.
  } else {
    link_.Interrupt();
  }
  waiter_.Notify();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(threads_mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

std::vector<ObservedVm> AgentLoop::Observed() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ObservedVm> out;
  for (const auto& [id, vm] : observed_) out.push_back(vm);
  return out;
}

int64_t AgentLoop::revision() const {
  std::lock_guard<std::mutex> lock(mu_);
  return revision_;
}

Duration AgentLoop::heartbeat_interval() const {
  std::lock_guard<std::mutex> lock(mu_);
  return heartbeat_interval_;
}

// ---- heartbeat thread

void AgentLoop::RefreshObserved() {
  std::vector<std::string> ids;
  uint64_t gen = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, vm] : observed_) {
      if (!busy_.count(id) && vm.state != kStateCreating) ids.push_back(id);
    }
    gen = observed_gen_;
  }
  std::vector<ObservedVm> now;
  for (const std::string& id : ids) now.push_back(ObserveNow(id, ""));
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A reconcile wrote meanwhile: its states are newer than ours; re-read next time.
    if (gen != observed_gen_) return;
    for (const ObservedVm& vm : now) {
      auto it = observed_.find(vm.id);
      if (it == observed_.end() || busy_.count(vm.id) || it->second == vm) continue;
      it->second = vm;
      changed = true;
    }
  }
  if (changed) heartbeat_kick_ = true;
}

Duration AgentLoop::HeartbeatStep() {
  RefreshObserved();
  const TimePoint now = clock_.Now();
  const bool kicked = heartbeat_kick_.exchange(false);
  // A state change goes out at once, except while backing off from errors (the next attempt
  // carries it anyway).
  const bool due = now >= next_heartbeat_ || (kicked && !heartbeat_backoff_.active());
  if (due) {
    Result<HeartbeatReply> r = link_.Heartbeat(options_.info, WithUsage(Observed()));
    if (r.ok()) {
      heartbeat_errors_.Succeeded();
      heartbeat_backoff_.Reset();
      const Duration interval = Ms(r->heartbeat_interval);
      int64_t watched = -1;
      {
        std::lock_guard<std::mutex> lock(mu_);
        heartbeat_interval_ = interval;
        watched = revision_;
      }
      next_heartbeat_ = now + interval;
      for (const std::string& id : r->unknown_vms) {
        if (reported_unknown_.insert(id).second) {
          Log("heartbeat: the server does not place vm " + id + " on this host");
        }
      }
      // The server answers again: a watch waiting out an error backoff may retry now.
      if (r->revision != watched && watch_failing_) Kick(watch_kick_);
    } else if (stopping_) {
      return Duration::zero();  // the link was interrupted: not an error worth a line
    } else {
      heartbeat_errors_.Failed(r.status());
      if (r.status().code() == StatusCode::kNotFound) {
        // The server forgot the host (or never had it): register again.
        Status reg = link_.Register(options_.inventory);
        Log(reg.ok() ? "registered again" : "registering again: " + reg.ToString());
      }
      next_heartbeat_ = now + heartbeat_backoff_.Next();
    }
  }
  const Duration until = std::max(next_heartbeat_ - clock_.Now(), Duration::zero());
  return std::min(until, Ms(options_.state_poll_interval));
}

std::vector<ObservedVm> AgentLoop::WithUsage(std::vector<ObservedVm> vms) {
  const TimePoint now = clock_.Now();
  std::map<std::string, UsageMark> marks;
  bool failed = false;
  for (ObservedVm& vm : vms) {
    if (vm.state != kStateRunning) continue;
    Result<GuestCounters> c = driver_.Usage(vm.id);
    if (!c.ok()) {
      // Not running any more, or a driver without usage: no figures, and nothing to log.
      const StatusCode code = c.status().code();
      if (code != StatusCode::kUnavailable && code != StatusCode::kUnimplemented &&
          code != StatusCode::kNotFound) {
        usage_errors_.Failed(Status(code, "vm " + vm.id + ": " + c.status().message()));
        failed = true;
      }
      continue;
    }
    VmUsage u;
    auto prev = usage_marks_.find(vm.id);
    if (prev != usage_marks_.end() && now > prev->second.at &&
        c->cpu_time_ns >= prev->second.cpu_time_ns) {
      const int64_t wall_ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - prev->second.at).count();
      u.window_ms = wall_ns / 1'000'000;
      u.cpu_milli = (c->cpu_time_ns - prev->second.cpu_time_ns) * 1000 / wall_ns;
    }
    u.memory_mib = c->memory_used_mib;
    u.memory_source = c->memory_source;
    u.gpu_memory_mib = c->gpu_memory_mib;
    u.gpu_busy_pct = c->gpu_busy_pct;
    u.applied_memory_mib = c->balloon_current_mib;
    u.applied_max_memory_mib = c->balloon_maximum_mib;
    u.applied_cpu_cap_milli = c->cpu_cap_milli;
    marks[vm.id] = UsageMark{c->cpu_time_ns, now};
    vm.usage = u;
  }
  if (!failed) usage_errors_.Succeeded();
  usage_marks_ = std::move(marks);
  return vms;
}

// ---- watch thread

Duration AgentLoop::WatchStep() {
  watch_kick_ = false;
  int64_t before = -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    before = revision_;
  }
  Result<DesiredState> d = link_.WatchDesired(
      before >= 0 ? std::optional<int64_t>(before) : std::nullopt, options_.watch_wait);
  if (!d.ok()) {
    if (stopping_) return Duration::zero();
    watch_errors_.Failed(d.status());
    watch_failing_ = true;
    return watch_backoff_.Next();
  }
  watch_errors_.Succeeded();
  watch_failing_ = false;
  watch_backoff_.Reset();
  // Every answer is reconciled, also a timed-out poll with the same revision: that retries
  // failed actions (a realization, a power change) at most once per wait.
  const ReconcileCounts c = Reconcile(*d);
  (void)c;
  {
    std::lock_guard<std::mutex> lock(mu_);
    revision_ = d->revision;
  }
  // An answer with the same revision came early only when the server ignores wait_ms: do not
  // spin on it.
  return d->revision == before ? Ms(options_.watch_min_interval) : Duration::zero();
}

// ---- console thread

Duration AgentLoop::ConsoleStep() {
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, vm] : observed_) {
      if (vm.state == kStateRunning || vm.state == kStateStopped) ids.push_back(id);
    }
  }
  for (auto it = console_offsets_.begin(); it != console_offsets_.end();) {
    it = std::find(ids.begin(), ids.end(), it->first) == ids.end() ? console_offsets_.erase(it)
                                                                   : std::next(it);
  }
  const int64_t chunk = std::max<int64_t>(options_.console_chunk_bytes, 1);
  for (const std::string& id : ids) {
    if (stopping_) break;
    int64_t& offset = console_offsets_[id];
    for (int k = 0; k < options_.console_chunks_per_step; ++k) {
      Result<std::string> bytes = driver_.ReadConsole(id, offset, chunk);
      if (!bytes.ok()) {
        // No log yet (a guest still booting) is normal; anything else is logged once.
        if (bytes.status().code() != StatusCode::kNotFound) {
          console_read_errors_.Failed(bytes.status());
        }
        break;
      }
      console_read_errors_.Succeeded();
      if (bytes->empty()) break;
      Result<ConsolePushReply> pushed = link_.PushConsole(id, offset, *bytes);
      if (!pushed.ok()) {
        if (stopping_) return Duration::zero();
        console_errors_.Failed(pushed.status());
        return console_backoff_.Next();
      }
      console_errors_.Succeeded();
      if (!pushed->accepted) {
        Log("console of vm " + id + ": the server expects offset " +
            std::to_string(pushed->offset) + ", resuming there (had " + std::to_string(offset) +
            ")");
        offset = pushed->offset;
        continue;
      }
      offset = pushed->offset;
      if (static_cast<int64_t>(bytes->size()) < chunk) break;
    }
  }
  console_backoff_.Reset();
  return Ms(options_.console_interval);
}

}  // namespace devshare::agent
