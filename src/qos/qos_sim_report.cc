// qos-sim output: text tables (dmc_sim style) and JSON.
#include <algorithm>
#include <cstdio>
#include <string>

#include "devshare/core/json_writer.h"
#include "devshare/qos/qos_sim.h"

namespace devshare::qos {
namespace {

double Secs(Duration d) { return std::chrono::duration<double>(d).count(); }

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

std::string Pad(const std::string& s, size_t width, bool left = false) {
  if (s.size() >= width) return s;
  return left ? s + std::string(width - s.size(), ' ') : std::string(width - s.size(), ' ') + s;
}

std::string QosText(const ClientQos& q) {
  auto v = [](double x) { return x > 0 ? FormatDecimal(x, 3) : std::string("-"); };
  return "r=" + v(q.reservation_per_s) + " w=" + v(q.weight) + " l=" + v(q.limit_per_s);
}

void AppendRun(std::string& out, const SimRunResult& run, const SimConfig& c) {
  size_t width = 10;
  for (const SimClientResult& r : run.clients) width = std::max(width, r.id.size() + 2);
  const size_t label = 12;
  out += "==== " + run.scheduler + ": ops/s per " + FormatDecimal(Secs(c.bucket), 3) +
         " s bucket ====\n";
  out += Pad("t_s", label, true);
  for (const SimClientResult& r : run.clients) out += Pad(r.id, width);
  out += Pad("total", width) + "\n";
  const size_t buckets = run.clients.empty() ? 0 : run.clients.front().ops_per_s.size();
  for (size_t b = 0; b < buckets; ++b) {
    out += Pad(FormatDecimal(Secs(c.bucket) * static_cast<double>(b), 3), label, true);
    double total = 0;
    for (const SimClientResult& r : run.clients) {
      out += Pad(Fixed(r.ops_per_s[b], 1), width);
      total += r.ops_per_s[b];
    }
    out += Pad(Fixed(total, 1), width) + "\n";
  }
  auto row = [&](const char* name, double SimClientResult::*field, int decimals) {
    out += Pad(name, label, true);
    double total = 0;
    for (const SimClientResult& r : run.clients) {
      total += r.*field;
      out += Pad(Fixed(r.*field, decimals), width);
    }
    out += (decimals == 0 ? Pad(Fixed(total, 0), width) : "") + "\n";
  };
  auto count_row = [&](const char* name, uint64_t SimClientResult::*field) {
    out += Pad(name, label, true);
    uint64_t total = 0;
    for (const SimClientResult& r : run.clients) {
      total += r.*field;
      out += Pad(std::to_string(r.*field), width);
    }
    out += Pad(std::to_string(total), width) + "\n";
  };
  count_row("total_ops:", &SimClientResult::total_ops);
  count_row("res_ops:", &SimClientResult::res_ops);
  count_row("prop_ops:", &SimClientResult::prop_ops);
  if (std::any_of(run.clients.begin(), run.clients.end(),
                  [](const SimClientResult& r) { return r.rejected_ops > 0; })) {
    count_row("rejected:", &SimClientResult::rejected_ops);
  }
  row("mean_ms:", &SimClientResult::mean_latency_ms, 2);
  row("p99_ms:", &SimClientResult::p99_latency_ms, 2);
  for (const SimServerResult& s : run.servers) {
    out += "server " + s.id + ": total_ops " + std::to_string(s.total_ops) + ", res_ops " +
           std::to_string(s.res_ops) + ", prop_ops " + std::to_string(s.prop_ops) + "\n";
  }
}

void WriteRunClients(JsonWriter& w, const SimRunResult& run) {
  w.Key("clients").BeginArray();
  for (const SimClientResult& r : run.clients) {
    w.BeginObject();
    w.Key("id").String(r.id);
    w.Key("total_ops").Uint(r.total_ops);
    w.Key("res_ops").Uint(r.res_ops);
    w.Key("prop_ops").Uint(r.prop_ops);
    w.Key("rejected_ops").Uint(r.rejected_ops);
    w.Key("ops_per_s").DoubleArray(r.ops_per_s, 3);
    w.Key("mean_latency_ms").Double(r.mean_latency_ms, 3);
    w.Key("p99_latency_ms").Double(r.p99_latency_ms, 3);
    w.EndObject();
  }
  w.EndArray();
  w.Key("servers").BeginArray();
  for (const SimServerResult& s : run.servers) {
    w.BeginObject();
    w.Key("id").String(s.id);
    w.Key("total_ops").Uint(s.total_ops);
    w.Key("res_ops").Uint(s.res_ops);
    w.Key("prop_ops").Uint(s.prop_ops);
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace

std::string FormatSimReportText(const SimReport& report) {
  const SimConfig& c = report.config;
  std::string out;
  out += "qos-sim: " + report.primary.scheduler + " (at_limit " +
         std::string(AtLimitName(c.at_limit)) + ") vs fifo; " + FormatDecimal(Secs(c.duration), 3) +
         " s, seed " + std::to_string(c.seed) + ", server iops count " +
         (c.capacity_unit == CapacityUnit::kCost ? "cost units" : "requests") + "\n";
  for (const SimServer& s : c.servers) {
    out += "  server " + s.id + ": " + FormatDecimal(s.iops, 3) + " iops";
    for (const SimCapacityChange& ch : s.changes) {
      out += ", " + FormatDecimal(ch.iops, 3) + " from " + FormatDecimal(Secs(ch.at), 3) + " s";
    }
    out += "\n";
  }
  for (const SimClient& cl : c.clients) {
    out += "  client " + cl.id + ": " + QosText(cl.qos) + " cost " + std::to_string(cl.cost) +
           ", from " + FormatDecimal(Secs(cl.start), 3) + " s";
    if (cl.stop) out += " to " + FormatDecimal(Secs(*cl.stop), 3) + " s";
    out +=
        cl.iops_goal > 0 ? ", " + FormatDecimal(cl.iops_goal, 3) + " req/s goal" : ", backlogged";
    out += ", outstanding " + std::to_string(cl.outstanding);
    for (const SimQosChange& ch : cl.changes) {
      out += "; " + QosText(ch.qos) + " from " + FormatDecimal(Secs(ch.at), 3) + " s";
    }
    out += "\n";
  }
  for (const std::string& w : report.warnings) out += "warning: " + w + "\n";
  out += "\n";
  AppendRun(out, report.primary, c);
  out += "\n";
  AppendRun(out, report.fifo, c);
  return out;
}

std::string FormatSimReportJson(const SimReport& report) {
  const SimConfig& c = report.config;
  JsonWriter w;
  w.BeginObject();
  w.Key("scheduler").String(report.primary.scheduler);
  w.Key("at_limit").String(AtLimitName(c.at_limit));
  w.Key("seed").Uint(c.seed);
  w.Key("duration_s").Double(Secs(c.duration), 6);
  w.Key("bucket_s").Double(Secs(c.bucket), 6);
  w.Key("capacity_unit").String(c.capacity_unit == CapacityUnit::kCost ? "cost" : "requests");
  w.Key("warnings").BeginArray();
  for (const std::string& s : report.warnings) w.String(s);
  w.EndArray();
  WriteRunClients(w, report.primary);
  w.Key("fifo").BeginObject();
  WriteRunClients(w, report.fifo);
  w.EndObject();
  w.EndObject();
  return w.str() + "\n";
}

}  // namespace devshare::qos
