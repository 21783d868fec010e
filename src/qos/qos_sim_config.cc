// qos-sim config: strict JSON reading (every field named in errors, unknown fields rejected),
// validation and warnings. The format is documented in docs/qos.md.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "devshare/core/json_writer.h"
#include "devshare/qos/mclock.h"
#include "devshare/qos/qos_sim.h"

namespace devshare::qos {
namespace {

Duration FromSeconds(double s) { return Duration(static_cast<int64_t>(std::llround(s * 1e9))); }

constexpr double kMaxSeconds = 1e6;  // about 11.6 days of simulated time

// Reads one JSON object; remembers which keys were asked for so Finish() can reject the rest.
class ObjectReader {
 public:
  ObjectReader(const nlohmann::json& j, std::string path) : j_(j), path_(std::move(path)) {}

  std::string Path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  Result<double> Number(const char* key, bool required, double def, double min, double max) {
    DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, required));
    if (v == nullptr) return def;
    if (!v->is_number()) return Error(key, "expected a number");
    double x = v->get<double>();
    if (!std::isfinite(x) || x < min || x > max) {
      return Error(key, Num(x) + " is outside " + Num(min) + ".." + Num(max));
    }
    return x;
  }

  Result<int64_t> Integer(const char* key, bool required, int64_t def, int64_t min, int64_t max) {
    DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, required));
    if (v == nullptr) return def;
    double d = v->is_number() ? v->get<double>() : NAN;
    if (!std::isfinite(d) || std::floor(d) != d) return Error(key, "expected an integer");
    if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
      return Error(key, Num(d) + " is outside " + std::to_string(min) + ".." + std::to_string(max));
    }
    return v->is_number_unsigned() ? static_cast<int64_t>(v->get<uint64_t>()) : v->get<int64_t>();
  }

  Result<std::string> String(const char* key, bool required, const std::string& def) {
    DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, required));
    if (v == nullptr) return def;
    if (!v->is_string()) return Error(key, "expected a string");
    return v->get<std::string>();
  }

  // One of `choices`.
  Result<std::string> Choice(const char* key, const std::string& def,
                             const std::vector<std::string>& choices) {
    DS_ASSIGN_OR_RETURN(std::string s, String(key, false, def));
    if (std::find(choices.begin(), choices.end(), s) == choices.end()) {
      std::string list;
      for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + c;
      return Error(key, "'" + s + "' is not one of " + list);
    }
    return s;
  }

  Result<bool> Bool(const char* key, bool def) {
    DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, false));
    if (v == nullptr) return def;
    if (!v->is_boolean()) return Error(key, "expected true or false");
    return v->get<bool>();
  }

  // nullptr when absent and not required.
  Result<const nlohmann::json*> Array(const char* key, bool required, size_t max_items) {
    DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, required));
    if (v == nullptr) return v;
    if (!v->is_array()) return Error(key, "expected an array");
    if (required && v->empty()) return Error(key, "must not be empty");
    if (v->size() > max_items) {
      return Error(key, "more than " + std::to_string(max_items) + " items");
    }
    return v;
  }

  // InvalidArgument naming the first key nobody asked for.
  Status Finish() const {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (seen_.count(it.key()) == 0) {
        return Status::InvalidArgument(Path(it.key()) + ": unknown field");
      }
    }
    return Status::Ok();
  }

  Status Error(const char* key, const std::string& msg) const {
    return Status::InvalidArgument(Path(key) + ": " + msg);
  }

 private:
  static std::string Num(double x) { return FormatDecimal(x, 6); }

  Result<const nlohmann::json*> Get(const char* key, bool required) {
    seen_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      if (required) return Status::InvalidArgument(Path(key) + ": required field is missing");
      return static_cast<const nlohmann::json*>(nullptr);
    }
    return &*it;
  }

  const nlohmann::json& j_;
  std::string path_;
  std::set<std::string> seen_;
};

Status RequireObject(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) return Status::InvalidArgument(path + ": expected an object");
  return Status::Ok();
}

Result<SimServer> ParseServer(const nlohmann::json& j, const std::string& path, double duration_s) {
  DS_RETURN_IF_ERROR(RequireObject(j, path));
  ObjectReader r(j, path);
  SimServer s;
  DS_ASSIGN_OR_RETURN(s.id, r.String("id", true, ""));
  DS_ASSIGN_OR_RETURN(s.iops, r.Number("iops", true, 0, 1e-3, 1e9));
  DS_ASSIGN_OR_RETURN(const nlohmann::json* changes, r.Array("changes", false, 10000));
  if (changes != nullptr) {
    for (size_t i = 0; i < changes->size(); ++i) {
      const std::string cp = path + ".changes[" + std::to_string(i) + "]";
      DS_RETURN_IF_ERROR(RequireObject((*changes)[i], cp));
      ObjectReader c((*changes)[i], cp);
      SimCapacityChange ch;
      DS_ASSIGN_OR_RETURN(double at_s, c.Number("at_s", true, 0, 0, duration_s));
      ch.at = FromSeconds(at_s);
      DS_ASSIGN_OR_RETURN(ch.iops, c.Number("iops", true, 0, 1e-3, 1e9));
      DS_RETURN_IF_ERROR(c.Finish());
      s.changes.push_back(ch);
    }
    std::stable_sort(
        s.changes.begin(), s.changes.end(),
        [](const SimCapacityChange& a, const SimCapacityChange& b) { return a.at < b.at; });
  }
  DS_RETURN_IF_ERROR(r.Finish());
  return s;
}

Result<ClientQos> ParseQos(ObjectReader& r, const ClientQos& base) {
  ClientQos q;
  DS_ASSIGN_OR_RETURN(q.reservation_per_s,
                      r.Number("reservation", false, base.reservation_per_s, 0, 1e12));
  DS_ASSIGN_OR_RETURN(q.weight, r.Number("weight", false, base.weight, 0, 1e12));
  DS_ASSIGN_OR_RETURN(q.limit_per_s, r.Number("limit", false, base.limit_per_s, 0, 1e12));
  return q;
}

Result<SimClient> ParseClient(const nlohmann::json& j, const std::string& path, double duration_s) {
  DS_RETURN_IF_ERROR(RequireObject(j, path));
  ObjectReader r(j, path);
  SimClient c;
  DS_ASSIGN_OR_RETURN(c.id, r.String("id", true, ""));
  DS_ASSIGN_OR_RETURN(double start_s, r.Number("start_s", false, 0, 0, kMaxSeconds));
  c.start = FromSeconds(start_s);
  DS_ASSIGN_OR_RETURN(double stop_s, r.Number("stop_s", false, -1, 0, kMaxSeconds));
  if (stop_s >= 0) {
    if (stop_s <= start_s) return r.Error("stop_s", "must be after start_s");
    c.stop = FromSeconds(stop_s);
  }
  DS_ASSIGN_OR_RETURN(c.qos, ParseQos(r, ClientQos{}));
  DS_ASSIGN_OR_RETURN(int64_t cost, r.Integer("cost", false, 1, 1, 1000000));
  c.cost = static_cast<uint32_t>(cost);
  DS_ASSIGN_OR_RETURN(int64_t outstanding, r.Integer("outstanding", false, 32, 1, 1000000));
  c.outstanding = static_cast<int>(outstanding);
  DS_ASSIGN_OR_RETURN(c.iops_goal, r.Number("iops_goal", false, 0, 0, 1e9));
  DS_ASSIGN_OR_RETURN(c.total_ops, r.Integer("total_ops", false, 0, 0, int64_t{1} << 50));
  DS_ASSIGN_OR_RETURN(const nlohmann::json* servers, r.Array("servers", false, 1000));
  if (servers != nullptr) {
    for (size_t i = 0; i < servers->size(); ++i) {
      if (!(*servers)[i].is_string()) {
        return Status::InvalidArgument(path + ".servers[" + std::to_string(i) +
                                       "]: expected a server id (string)");
      }
      c.servers.push_back((*servers)[i].get<std::string>());
    }
  }
  DS_ASSIGN_OR_RETURN(const nlohmann::json* changes, r.Array("changes", false, 10000));
  if (changes != nullptr) {
    ClientQos current = c.qos;
    std::vector<std::pair<double, const nlohmann::json*>> sorted;
    for (size_t i = 0; i < changes->size(); ++i) {
      const std::string cp = path + ".changes[" + std::to_string(i) + "]";
      DS_RETURN_IF_ERROR(RequireObject((*changes)[i], cp));
      ObjectReader ch((*changes)[i], cp);
      DS_ASSIGN_OR_RETURN(double at_s, ch.Number("at_s", true, 0, 0, duration_s));
      DS_ASSIGN_OR_RETURN(ClientQos q, ParseQos(ch, current));
      DS_RETURN_IF_ERROR(ch.Finish());
      DS_RETURN_IF_ERROR(ValidateClientQos(q, cp));
      if (!c.changes.empty() && FromSeconds(at_s) < c.changes.back().at) {
        return ch.Error("at_s", "changes must be in time order");
      }
      c.changes.push_back(SimQosChange{FromSeconds(at_s), q});
      current = q;
    }
  }
  DS_RETURN_IF_ERROR(r.Finish());
  return c;
}

}  // namespace

Result<SimConfig> ParseSimConfig(std::string_view json, const std::string& source,
                                 const std::vector<std::string>& known_schedulers) {
  auto prefixed = [&source](const Status& s) {
    return Status(s.code(), source + ": " + s.message());
  };
  nlohmann::json j = nlohmann::json::parse(json.begin(), json.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Status::InvalidArgument(source + ": not valid JSON");
  }
  if (!j.is_object()) return Status::InvalidArgument(source + ": expected a JSON object");

  auto parse = [&]() -> Result<SimConfig> {
    ObjectReader r(j, "");
    SimConfig c;
    DS_ASSIGN_OR_RETURN(double duration_s, r.Number("duration_s", true, 0, 1e-3, kMaxSeconds));
    c.duration = FromSeconds(duration_s);
    DS_ASSIGN_OR_RETURN(int64_t seed, r.Integer("seed", false, 1, 0, INT64_MAX));
    c.seed = static_cast<uint64_t>(seed);
    DS_ASSIGN_OR_RETURN(c.scheduler, r.Choice("scheduler", "mclock", known_schedulers));
    DS_ASSIGN_OR_RETURN(std::string at_limit,
                        r.Choice("at_limit", "wait", {"wait", "allow", "reject"}));
    c.at_limit = at_limit == "wait"    ? AtLimit::kWait
                 : at_limit == "allow" ? AtLimit::kAllow
                                       : AtLimit::kReject;
    DS_ASSIGN_OR_RETURN(double reject_s, r.Number("reject_threshold_s", false, 0, 0, 3600));
    c.reject_threshold = FromSeconds(reject_s);
    DS_ASSIGN_OR_RETURN(double anticipation_s,
                        r.Number("anticipation_timeout_s", false, 0, 0, 3600));
    c.anticipation_timeout = FromSeconds(anticipation_s);
    DS_ASSIGN_OR_RETURN(double bucket_s, r.Number("bucket_s", false, 1, 1e-3, duration_s));
    c.bucket = FromSeconds(bucket_s);
    if (c.duration / c.bucket > 1000000) {
      return r.Error("bucket_s", "more than 1000000 buckets; use a longer bucket");
    }
    DS_ASSIGN_OR_RETURN(std::string unit, r.Choice("capacity_unit", "cost", {"cost", "requests"}));
    c.capacity_unit = unit == "cost" ? CapacityUnit::kCost : CapacityUnit::kRequests;
    DS_ASSIGN_OR_RETURN(std::string select,
                        r.Choice("server_select", "round_robin", {"round_robin", "random"}));
    c.server_select = select == "random" ? ServerSelect::kRandom : ServerSelect::kRoundRobin;
    DS_ASSIGN_OR_RETURN(c.dmclock, r.Bool("dmclock", true));

    DS_ASSIGN_OR_RETURN(const nlohmann::json* servers, r.Array("servers", true, 1000));
    for (size_t i = 0; i < servers->size(); ++i) {
      DS_ASSIGN_OR_RETURN(
          SimServer s,
          ParseServer((*servers)[i], "servers[" + std::to_string(i) + "]", duration_s));
      c.servers.push_back(std::move(s));
    }
    DS_ASSIGN_OR_RETURN(const nlohmann::json* clients, r.Array("clients", true, 100000));
    for (size_t i = 0; i < clients->size(); ++i) {
      DS_ASSIGN_OR_RETURN(
          SimClient cl,
          ParseClient((*clients)[i], "clients[" + std::to_string(i) + "]", duration_s));
      c.clients.push_back(std::move(cl));
    }
    DS_RETURN_IF_ERROR(r.Finish());
    return c;
  };
  Result<SimConfig> c = parse();
  if (!c.ok()) return prefixed(c.status());
  DS_RETURN_IF_ERROR(ValidateSimConfig(*c, source));
  return c;
}

Status ValidateSimConfig(const SimConfig& c, const std::string& source) {
  auto err = [&source](const std::string& msg) {
    return Status::InvalidArgument(source + ": " + msg);
  };
  if (c.duration <= Duration::zero()) return err("duration_s: must be > 0");
  if (c.bucket <= Duration::zero()) return err("bucket_s: must be > 0");
  if (c.servers.empty()) return err("servers: must not be empty");
  if (c.clients.empty()) return err("clients: must not be empty");
  std::set<std::string> server_ids;
  for (size_t i = 0; i < c.servers.size(); ++i) {
    const SimServer& s = c.servers[i];
    const std::string p = "servers[" + std::to_string(i) + "]";
    if (s.id.empty()) return err(p + ".id: must not be empty");
    if (!server_ids.insert(s.id).second) return err(p + ".id: duplicate id '" + s.id + "'");
    if (!(s.iops > 0)) return err(p + ".iops: must be > 0");
    for (const SimCapacityChange& ch : s.changes) {
      if (!(ch.iops > 0)) return err(p + ".changes: iops must be > 0");
    }
  }
  std::set<std::string> client_ids;
  for (size_t i = 0; i < c.clients.size(); ++i) {
    const SimClient& cl = c.clients[i];
    const std::string p = "clients[" + std::to_string(i) + "]";
    if (cl.id.empty()) return err(p + ".id: must not be empty");
    if (!client_ids.insert(cl.id).second) return err(p + ".id: duplicate id '" + cl.id + "'");
    Status q = ValidateClientQos(cl.qos, p + " ('" + cl.id + "')");
    if (!q.ok()) return err(q.message());
    if (cl.cost == 0) return err(p + ".cost: must be >= 1");
    if (cl.outstanding < 1) return err(p + ".outstanding: must be >= 1");
    for (size_t k = 0; k < cl.servers.size(); ++k) {
      if (server_ids.count(cl.servers[k]) == 0) {
        return err(p + ".servers[" + std::to_string(k) + "]: unknown server '" + cl.servers[k] +
                   "'");
      }
    }
  }
  return Status::Ok();
}

std::vector<std::string> SimConfigWarnings(const SimConfig& c) {
  std::vector<std::string> out;
  // Per server: the weights of the clients that use it, and its largest capacity.
  auto uses = [](const SimClient& cl, const std::string& server) {
    return cl.servers.empty() ||
           std::find(cl.servers.begin(), cl.servers.end(), server) != cl.servers.end();
  };
  for (size_t i = 0; i < c.clients.size(); ++i) {
    const SimClient& cl = c.clients[i];
    if (cl.qos.weight <= 0) continue;
    // The shortest gap between this client's arrivals at any one server it uses.
    Duration gap = Duration::max();
    for (const SimServer& s : c.servers) {
      if (!uses(cl, s.id)) continue;
      double capacity = s.iops;
      for (const SimCapacityChange& ch : s.changes) capacity = std::max(capacity, ch.iops);
      if (c.capacity_unit == CapacityUnit::kRequests) capacity *= cl.cost;
      double arrivals_per_s;
      if (cl.iops_goal > 0) {
        arrivals_per_s = cl.iops_goal;
      } else {
        // Backlogged: it arrives as fast as it is served, at most its weight share.
        double sum_w = 0;
        for (const SimClient& o : c.clients) {
          if (uses(o, s.id)) sum_w += o.qos.weight;
        }
        arrivals_per_s = capacity * cl.qos.weight / sum_w / cl.cost;
      }
      gap = std::min(gap, FromSeconds(1.0 / arrivals_per_s));
    }
    if (gap == Duration::max()) continue;
    auto w = WeightClampWarning(cl.qos, cl.cost, gap,
                                "clients[" + std::to_string(i) + "] ('" + cl.id + "')");
    if (w) out.push_back(*w);
  }
  return out;
}

}  // namespace devshare::qos
