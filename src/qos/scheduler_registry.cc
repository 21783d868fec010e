// SchedulerRegistry and the built-in list; PhaseName / AtLimitName.
#include <utility>

#include "devshare/qos/fifo.h"
#include "devshare/qos/mclock.h"
#include "devshare/qos/scheduler.h"

namespace devshare::qos {

std::string_view PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kReservation:
      return "reservation";
    case Phase::kPriority:
      return "priority";
    case Phase::kNone:
      break;
  }
  return "none";
}

std::string_view AtLimitName(AtLimit mode) {
  switch (mode) {
    case AtLimit::kWait:
      return "wait";
    case AtLimit::kAllow:
      return "allow";
    case AtLimit::kReject:
      break;
  }
  return "reject";
}

Status SchedulerRegistry::Register(std::string name, SchedulerFactory factory) {
  if (factories_.count(name) > 0) {
    return Status::AlreadyExists("scheduler '" + name + "' is already registered");
  }
  factories_.emplace(std::move(name), std::move(factory));
  return Status::Ok();
}

Result<std::unique_ptr<Scheduler>> SchedulerRegistry::Create(std::string_view name,
                                                             const SchedulerArgs& args) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [n, f] : factories_) known += (known.empty() ? "" : ", ") + n;
    return Status::NotFound("unknown scheduler '" + std::string(name) + "' (known: " + known + ")");
  }
  return it->second(args);
}

std::vector<std::string> SchedulerRegistry::Names() const {
  std::vector<std::string> out;
  for (const auto& [n, f] : factories_) out.push_back(n);
  return out;
}

void RegisterBuiltinSchedulers(SchedulerRegistry& registry) {
  (void)registry.Register("mclock",
                          [](const SchedulerArgs& a) -> Result<std::unique_ptr<Scheduler>> {
                            DS_ASSIGN_OR_RETURN(std::unique_ptr<MClockQueue> q,
                                                MClockQueue::Create(a.qos_fn, a.mclock));
                            return std::unique_ptr<Scheduler>(std::move(q));
                          });
  (void)registry.Register("fifo", [](const SchedulerArgs&) -> Result<std::unique_ptr<Scheduler>> {
    return std::unique_ptr<Scheduler>(std::make_unique<FifoQueue>());
  });
}

}  // namespace devshare::qos
