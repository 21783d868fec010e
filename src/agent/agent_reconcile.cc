// AgentLoop::Reconcile: the guests of this host brought in line with the desired state.
//
// Per desired VM (in the server's order):
//   no domain (or its last realization failed)  -> Realize (then Stop when power is stopped);
//   a domain the agent has not seen yet         -> adopt: Update once (a resize may have happened
//                                                  while no agent ran), keep its reboot_seq;
//   allocation/spec hash differs from applied   -> Update;
//   power running but stopped/failed            -> Start; power stopped but running -> Stop;
//   reboot_seq differs from applied             -> Reboot (when it runs; else just recorded).
// Every domain of the agent (ListVmIds, plus VMs it created or adopted) that is not desired is
// removed. A failed action is logged once per distinct message and retried next time.
#include <set>
#include <utility>

#include "devshare/agent/agent_loop.h"

namespace devshare::agent {

void AgentLoop::SetBusy(const std::string& vm_id, bool busy) {
  std::lock_guard<std::mutex> lock(mu_);
  if (busy) {
    busy_.insert(vm_id);
  } else {
    busy_.erase(vm_id);
  }
  ++observed_gen_;
}

void AgentLoop::SetObserved(const ObservedVm& vm) {
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++observed_gen_;
    auto it = observed_.find(vm.id);
    if (it == observed_.end() || !(it->second == vm)) {
      observed_[vm.id] = vm;
      changed = true;
    }
  }
  if (changed) Kick(heartbeat_kick_);
}

ObservedVm AgentLoop::ObserveNow(const std::string& vm_id, const std::string& failure) {
  Result<GuestState> st = driver_.State(vm_id);
  if (st.ok()) {
    std::string detail = st->detail;
    if (st->state == kStateFailed && detail.empty()) detail = failure;
    return ObservedVm{vm_id, st->state, detail, st->domain};
  }
  if (!failure.empty()) return ObservedVm{vm_id, kStateFailed, failure, ""};
  if (st.status().code() == StatusCode::kNotFound) {
    return ObservedVm{vm_id, kStateFailed,
                      "no domain on this host (recreated at the next reconcile)", ""};
  }
  return ObservedVm{vm_id, kStateFailed, "cannot read the state: " + st.status().ToString(), ""};
}

bool AgentLoop::Act(const std::string& vm_id, const std::string& what, const Status& s,
                    int& counter, ReconcileCounts& c) {
  Applied& a = applied_[vm_id];
  if (s.ok()) {
    ++counter;
    a.last_error.clear();
    Log("vm " + vm_id + ": " + what);
    return true;
  }
  ++c.failed;
  const std::string message = what + ": " + s.ToString();
  if (message != a.last_error) Log("vm " + vm_id + ": " + message);
  a.last_error = message;
  return false;
}

void AgentLoop::CreateGuest(const DesiredVm& vm, ReconcileCounts& c) {
  SetBusy(vm.id, true);
  SetObserved(ObservedVm{vm.id, kStateCreating, "", ""});
  Result<GuestState> made = driver_.Realize(vm);
  Applied& a = applied_[vm.id];
  a.spec_hash = vm.SpecHash();
  a.reboot_seq = vm.reboot_seq;
  std::string failure;
  if (made.ok() || made.status().code() == StatusCode::kAlreadyExists) {
    a.realize_failed = false;
    if (made.ok()) {
      Act(vm.id, "created", Status::Ok(), c.created, c);
    } else {
      // Defined meanwhile (by an earlier agent run): adopt it.
      Act(vm.id, "adopted (its domain exists)", driver_.Update(vm), c.adopted, c);
    }
    if (vm.power == kStateStopped) Act(vm.id, "stopped", driver_.Stop(vm.id), c.stopped, c);
  } else {
    a.realize_failed = true;
    failure = made.status().message();
    Act(vm.id, "creating", made.status(), c.created, c);
  }
  SetBusy(vm.id, false);
  SetObserved(ObserveNow(vm.id, failure));
}

void AgentLoop::ReconcileVm(const DesiredVm& vm, ReconcileCounts& c) {
  Result<GuestState> st = driver_.State(vm.id);
  auto known = applied_.find(vm.id);
  const bool retry_failed = known != applied_.end() && known->second.realize_failed;
  if ((!st.ok() && st.status().code() == StatusCode::kNotFound) || retry_failed) {
    CreateGuest(vm, c);
    return;
  }
  if (!st.ok()) {
    ++c.failed;
    SetObserved(ObserveNow(vm.id, ""));
    return;
  }
  SetBusy(vm.id, true);
  std::string state = st->state;
  if (known == applied_.end()) {
    Applied& a = applied_[vm.id];
    a.spec_hash = vm.SpecHash();
    a.reboot_seq = vm.reboot_seq;  // a reboot asked for while no agent ran is not replayed
    if (!Act(vm.id, "adopted", driver_.Update(vm), c.adopted, c)) a.spec_hash = 0;
  } else if (known->second.spec_hash != vm.SpecHash()) {
    if (Act(vm.id, "updated (allocation or QoS changed)", driver_.Update(vm), c.updated, c)) {
      known->second.spec_hash = vm.SpecHash();
    }
  }
  Applied& a = applied_[vm.id];
  bool fresh_boot = false;
  if (vm.power == kStateRunning && state != kStateRunning) {
    if (Act(vm.id, "started", driver_.Start(vm.id), c.started, c)) {
      state = kStateRunning;
      fresh_boot = true;
    }
  } else if (vm.power == kStateStopped && state == kStateRunning) {
    if (Act(vm.id, "stopped", driver_.Stop(vm.id), c.stopped, c)) state = kStateStopped;
  }
  if (vm.reboot_seq != a.reboot_seq) {
    if (state != kStateRunning || fresh_boot) {
      a.reboot_seq = vm.reboot_seq;  // not running, or just booted: nothing to reboot
    } else if (Act(vm.id, "rebooted", driver_.Reboot(vm.id), c.rebooted, c)) {
      a.reboot_seq = vm.reboot_seq;
    }
  }
  SetBusy(vm.id, false);
  SetObserved(ObserveNow(vm.id, ""));
}

ReconcileCounts AgentLoop::Reconcile(const DesiredState& desired) {
  ReconcileCounts c;
  if (desired.schedule != schedule_) {
    if (!schedule_.empty() || desired.schedule != "open") {
      Log("host schedule: " + desired.schedule);
    }
    schedule_ = desired.schedule;
  }
  std::set<std::string> want;
  for (const DesiredVm& vm : desired.vms) want.insert(vm.id);

  // Domains that are not desired here: every one the driver lists, and those created or
  // adopted earlier (still known when listing fails).
  std::set<std::string> have;
  for (const auto& [id, a] : applied_) have.insert(id);
  Result<std::vector<std::string>> listed = driver_.ListVmIds();
  if (listed.ok()) {
    list_errors_.Succeeded();
    have.insert(listed->begin(), listed->end());
  } else {
    list_errors_.Failed(Status(listed.status().code(),
                               listed.status().message() + " (other domains are left alone)"));
  }
  for (const std::string& id : have) {
    if (want.count(id) || stopping_) continue;
    SetBusy(id, true);
    const Status s = driver_.Remove(id);
    SetBusy(id, false);
    if (Act(id, "removed (not desired on this host)", s, c.removed, c)) applied_.erase(id);
  }
  bool dropped = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = observed_.begin(); it != observed_.end();) {
      dropped |= !want.count(it->first);
      it = want.count(it->first) ? std::next(it) : observed_.erase(it);
    }
    ++observed_gen_;
  }
  if (dropped) Kick(heartbeat_kick_);
  for (const DesiredVm& vm : desired.vms) {
    if (stopping_) break;
    ReconcileVm(vm, c);
  }
  return c;
}

}  // namespace devshare::agent
