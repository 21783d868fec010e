// JSON codec of the agent endpoints: heartbeat body, heartbeat / desired / console answers.
#include <cstdlib>
#include <string>

#include "devshare/agent/control_link.h"

namespace devshare::agent {
namespace {

using nlohmann::json;

Status Bad(const std::string& where, const std::string& field, const std::string& expected) {
  return Status::InvalidArgument(where + ": field '" + field + "': expected " + expected);
}

std::string StringOr(const json& j, const char* key, const std::string& def = "") {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : def;
}

// The revision is an integer; a string of digits is accepted too (the contract leaves the JSON
// type open; we only compare revisions and send them back).
Result<int64_t> Revision(const json& j, const std::string& where) {
  auto it = j.find("revision");
  if (it == j.end()) return Bad(where, "revision", "an integer");
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const std::string s = it->get<std::string>();
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && *end == '\0') return static_cast<int64_t>(v);
  }
  return Bad(where, "revision", "an integer");
}

Result<std::chrono::milliseconds> Millis(const json& j, const char* key,
                                         std::chrono::milliseconds def, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_number()) return Bad(where, key, "a number of milliseconds");
  const int64_t v =
      it->is_number_integer() ? it->get<int64_t>() : static_cast<int64_t>(it->get<double>());
  return v > 0 ? std::chrono::milliseconds(v) : def;
}

uint64_t Fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

uint64_t DesiredVm::SpecHash() const {
  // nlohmann objects are ordered maps: the dump is canonical for equal values.
  return Fnv1a(Dump(spec), Fnv1a(Dump(allocation) + "\n"));
}

json KeepAliveBody(const AgentInfo& agent) {
  return {{"agent",
           {{"hypervisor", agent.hypervisor},
            {"domain_prefix", agent.domain_prefix},
            {"notes", agent.notes}}}};
}

json HeartbeatBody(const AgentInfo& agent, const std::vector<ObservedVm>& vms) {
  json out = KeepAliveBody(agent);
  out["vms"] = json::array();
  for (const ObservedVm& v : vms) {
    json vm = {{"id", v.id}, {"state", v.state}, {"detail", v.detail}, {"domain", v.domain}};
    if (v.usage) {
      const VmUsage& u = *v.usage;
      json usage = {{"window_ms", u.window_ms}};
      // Only the figures that are known (-1 = not reported).
      if (u.cpu_milli >= 0) usage["cpu_milli"] = u.cpu_milli;
      if (u.memory_mib >= 0) {
        usage["memory_mib"] = u.memory_mib;
        usage["memory_source"] = u.memory_source;
      }
      if (u.gpu_memory_mib >= 0) usage["gpu_memory_mib"] = u.gpu_memory_mib;
      if (u.gpu_busy_pct >= 0) usage["gpu_busy_pct"] = u.gpu_busy_pct;
      json applied = json::object();
      if (u.applied_memory_mib >= 0) applied["memory_mib"] = u.applied_memory_mib;
      if (u.applied_max_memory_mib >= 0) applied["max_memory_mib"] = u.applied_max_memory_mib;
      if (u.applied_cpu_cap_milli >= 0) applied["cpu_cap_milli"] = u.applied_cpu_cap_milli;
      if (!applied.empty()) usage["applied"] = std::move(applied);
      vm["usage"] = std::move(usage);
    }
    out["vms"].push_back(std::move(vm));
  }
  return out;
}

Result<HeartbeatReply> ParseHeartbeatReply(const json& body) {
  const std::string where = "heartbeat answer";
  if (!body.is_object()) return Status::InvalidArgument(where + ": not a JSON object");
  HeartbeatReply r;
  DS_ASSIGN_OR_RETURN(r.revision, Revision(body, where));
  r.schedule = StringOr(body, "schedule", "open");
  DS_ASSIGN_OR_RETURN(r.heartbeat_interval,
                      Millis(body, "heartbeat_interval_ms", r.heartbeat_interval, where));
  DS_ASSIGN_OR_RETURN(r.timeout, Millis(body, "timeout_ms", r.timeout, where));
  if (auto it = body.find("unknown_vms"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return Bad(where, "unknown_vms", "an array of VM ids");
    for (const json& id : *it) {
      if (!id.is_string()) return Bad(where, "unknown_vms", "an array of VM ids");
      r.unknown_vms.push_back(id.get<std::string>());
    }
  }
  return r;
}

Result<DesiredState> ParseDesiredState(const json& body) {
  const std::string where = "desired state";
  if (!body.is_object()) return Status::InvalidArgument(where + ": not a JSON object");
  DesiredState d;
  DS_ASSIGN_OR_RETURN(d.revision, Revision(body, where));
  d.schedule = StringOr(body, "schedule", "open");
  auto vms = body.find("vms");
  if (vms == body.end() || !vms->is_array()) return Bad(where, "vms", "an array");
  for (size_t i = 0; i < vms->size(); ++i) {
    const json& v = (*vms)[i];
    const std::string item = "vms[" + std::to_string(i) + "]";
    if (!v.is_object()) return Bad(where, item, "an object");
    DesiredVm vm;
    vm.id = StringOr(v, "id");
    if (vm.id.empty()) return Bad(where, item + ".id", "a VM id");
    vm.tenant_id = StringOr(v, "tenant_id");
    vm.name = StringOr(v, "name");
    vm.power = StringOr(v, "power", "running");
    if (vm.power != "running" && vm.power != "stopped") {
      return Bad(where, item + ".power", "running or stopped");
    }
    if (auto it = v.find("reboot_seq"); it != v.end() && !it->is_null()) {
      if (!it->is_number_integer()) return Bad(where, item + ".reboot_seq", "an integer");
      vm.reboot_seq = it->get<int64_t>();
    }
    auto alloc = v.find("allocation");
    if (alloc == v.end() || !alloc->is_object()) {
      return Bad(where, item + ".allocation", "an allocation object");
    }
    vm.allocation = *alloc;
    auto spec = v.find("spec");
    if (spec == v.end() || !spec->is_object()) return Bad(where, item + ".spec", "a VM spec");
    vm.spec = *spec;
    if (auto img = v.find("image"); img != v.end() && !img->is_null()) {
      if (!img->is_object()) return Bad(where, item + ".image", "null or an image object");
      vm.image = DesiredImage{StringOr(*img, "name"),   StringOr(*img, "kind"),
                              StringOr(*img, "file"),   StringOr(*img, "kernel"),
                              StringOr(*img, "initrd"), StringOr(*img, "cmdline")};
    }
    vm.ssh_key = StringOr(v, "ssh_key");
    d.vms.push_back(std::move(vm));
  }
  return d;
}

Result<ConsolePushReply> ParseConsoleReply(int http_status, const json& body) {
  const std::string where = "console answer";
  const char* key = http_status == 409 ? "expected" : "offset";
  auto it = body.is_object() ? body.find(key) : body.end();
  if (!body.is_object() || it == body.end() || !it->is_number_integer() || it->get<int64_t>() < 0) {
    return Bad(where, key, "a byte offset");
  }
  return ConsolePushReply{http_status != 409, it->get<int64_t>()};
}

}  // namespace devshare::agent
