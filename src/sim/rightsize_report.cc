// Outputs of the right-sizing experiment: text tables, JSON, and a self-contained report.html
// with SVG plots (GPU memory allocated over time per policy against usage, slack vs violations,
// GPUs needed).
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <filesystem>

#include "devshare/core/atomic_file.h"
#include "devshare/core/json_writer.h"
#include "devshare/core/xml_escape.h"
#include "devshare/sim/rightsize.h"
#include "sim/report_stats.h"
#include "sim/svg_plot.h"

namespace devshare::sim {
namespace {

using namespace report_internal;  // NOLINT: the SVG primitives

std::string Num(double v, int decimals) { return FormatFixed(v, decimals); }

std::string Line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Line(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

const RightsizePolicyResult* Find(const RightsizeResult& r, const std::string& name) {
  for (const RightsizePolicyResult& p : r.policies) {
    if (p.policy == name) return &p;
  }
  return nullptr;
}

// "-31.6 %" fewer GPUs than static-peak ("" without a static-peak row).
std::string VsPeak(const RightsizeResult& r, const RightsizePolicyResult& p) {
  const RightsizePolicyResult* peak = Find(r, "static-peak");
  if (peak == nullptr || peak->gpus_needed == 0) return "";
  return Num(100.0 * (p.gpus_needed - peak->gpus_needed) / peak->gpus_needed, 1);
}

// Allocated GPU memory (sum over pods) per policy and the used memory, over hours.
std::string TimelinePlot(const RightsizeResult& r) {
  std::string out;
  const double w = kMarginLeft + kPlotWidth + 220;
  const double h = kMarginTop + kPlotHeight + kMarginBottom;
  AppendSvgOpen(w, h, "timeline", "GPU memory allocated vs used (all pods)", &out);
  double top = 1;
  for (double v : r.used_gib) top = std::max(top, v);
  for (const RightsizePolicyResult& p : r.policies) {
    for (double v : p.allocated_gib) top = std::max(top, v);
  }
  Frame f;
  const double hours = r.periods * r.period_s / 3600.0;
  f.x = NiceAxis(0, std::max(hours, 1.0), 8);
  f.y = NiceAxis(0, top, 6);
  AppendAxes(f, "hours", "GiB", true, &out);
  auto path = [&](const std::vector<double>& v) {
    std::string d;
    const size_t step = std::max<size_t>(1, v.size() / 600);
    for (size_t i = 0; i < v.size(); i += step) {
      d += (d.empty() ? "M" : " L") + Px(f.X(i * r.period_s / 3600.0)) + " " + Px(f.Y(v[i]));
    }
    return d;
  };
  std::vector<std::pair<std::string, std::string>> legend;  // name, colour
  out += "<path d=\"" + path(r.used_gib) +
         "\" fill=\"none\" stroke=\"#000000\" stroke-width=\"2\"><title>used</title></path>\n";
  legend.push_back({"used", "#000000"});
  for (size_t i = 0; i < r.policies.size(); ++i) {
    const RightsizePolicyResult& p = r.policies[i];
    out += "<path d=\"" + path(p.allocated_gib) + "\" fill=\"none\" stroke=\"" + Colour(i) +
           "\" stroke-width=\"1.5\"" + DashAttr(Dash(i)) + "><title>" + EscapeXml(p.policy) +
           "</title></path>\n";
    legend.push_back({p.policy, Colour(i)});
  }
  for (size_t i = 0; i < legend.size(); ++i) {
    const double y = f.top + 10 + i * kLegendRow;
    AppendLine(f.Right() + kLegendGap, y, f.Right() + kLegendGap + 24, y,
               ("stroke=\"" + legend[i].second + "\" stroke-width=\"2\"").c_str(), &out);
    bool cut = false;
    out += "<text x=\"" + Px(f.Right() + kLegendGap + 30) + "\" y=\"" + Px(y + 4) + "\">" +
           LabelMarkup(legend[i].first, &cut) + "</text>\n";
  }
  out += "</svg>\n";
  return out;
}

// GPU memory slack vs violations, one point per policy.
std::string TradeoffPlot(const RightsizeResult& r) {
  std::string out;
  const double w = kMarginLeft + kPlotWidth + 220;
  const double h = kMarginTop + kPlotHeight + kMarginBottom;
  AppendSvgOpen(w, h, "tradeoff", "GPU memory: slack vs violations", &out);
  double max_v = 1, max_s = 10;
  for (const RightsizePolicyResult& p : r.policies) {
    const ResourceMetrics& m = p.Of(UsageResource::kGpuMemory);
    if (std::isfinite(m.violation_pct)) max_v = std::max(max_v, m.violation_pct);
    if (std::isfinite(m.slack_pct)) max_s = std::max(max_s, m.slack_pct);
  }
  Frame f;
  f.x = NiceAxis(0, max_v, 8);
  f.y = NiceAxis(0, max_s, 6);
  AppendAxes(f, "violations, % of pod-minutes", "slack, % of allocated", true, &out);
  for (size_t i = 0; i < r.policies.size(); ++i) {
    const RightsizePolicyResult& p = r.policies[i];
    const ResourceMetrics& m = p.Of(UsageResource::kGpuMemory);
    if (!std::isfinite(m.violation_pct) || !std::isfinite(m.slack_pct)) continue;
    const double x = f.X(m.violation_pct), y = f.Y(m.slack_pct);
    out += "<circle cx=\"" + Px(x) + "\" cy=\"" + Px(y) + "\" r=\"5\" fill=\"" + Colour(i) +
           "\"><title>" + EscapeXml(p.policy) + ": slack " + Num(m.slack_pct, 1) +
           " %, violations " + Num(m.violation_pct, 2) + " %</title></circle>\n";
    const double ly = f.top + 10 + i * kLegendRow;
    out += "<circle cx=\"" + Px(f.Right() + kLegendGap + 12) + "\" cy=\"" + Px(ly) +
           "\" r=\"5\" fill=\"" + Colour(i) + "\"/>";
    bool cut = false;
    out += "<text x=\"" + Px(f.Right() + kLegendGap + 30) + "\" y=\"" + Px(ly + 4) + "\">" +
           LabelMarkup(p.policy, &cut) + "</text>\n";
  }
  // The acceptance box: slack <= 15 %, violations <= 0.5 %.
  out += "<rect x=\"" + Px(f.X(0)) + "\" y=\"" + Px(f.Y(15)) + "\" width=\"" +
         Px(f.X(0.5) - f.X(0)) + "\" height=\"" + Px(f.Y(0) - f.Y(15)) +
         "\" fill=\"#117733\" fill-opacity=\"0.12\" stroke=\"#117733\" stroke-dasharray=\"4 3\">"
         "<title>slack &lt;= 15 %, violations &lt;= 0.5 %</title></rect>\n";
  out += "</svg>\n";
  return out;
}

std::string GpuBars(const RightsizeResult& r) {
  std::string out;
  const double w = kMarginLeft + kPlotWidth + 40;
  const double h = kMarginTop + kPlotHeight + kMarginBottom + 60;
  AppendSvgOpen(w, h, "gpus", "GPUs needed to host every pod", &out);
  int top = 1;
  for (const RightsizePolicyResult& p : r.policies) top = std::max(top, p.gpus_needed);
  Frame f;
  f.x = Axis{0, static_cast<double>(std::max<size_t>(1, r.policies.size())), 1};
  f.y = NiceAxis(0, top, 6);
  AppendAxes(f, "", "GPUs", false, &out);
  const double slot = f.width / std::max<size_t>(1, r.policies.size());
  for (size_t i = 0; i < r.policies.size(); ++i) {
    const RightsizePolicyResult& p = r.policies[i];
    const double x = f.left + slot * i + slot * 0.15;
    const double y = f.Y(p.gpus_needed);
    out += "<rect x=\"" + Px(x) + "\" y=\"" + Px(y) + "\" width=\"" + Px(slot * 0.7) +
           "\" height=\"" + Px(f.Bottom() - y) + "\" fill=\"" + Colour(i) + "\"><title>" +
           EscapeXml(p.policy) + ": " + std::to_string(p.gpus_needed) + " GPUs (bound " +
           std::to_string(p.gpus_lower_bound) + ")</title></rect>\n";
    out += "<text x=\"" + Px(x + slot * 0.35) + "\" y=\"" + Px(y - 4) +
           "\" text-anchor=\"middle\">" + std::to_string(p.gpus_needed) + "</text>\n";
    bool cut = false;
    out += "<text transform=\"translate(" + Px(x + slot * 0.35) + " " + Px(f.Bottom() + 12) +
           ") rotate(30)\">" + LabelMarkup(p.policy, &cut) + "</text>\n";
  }
  out += "</svg>\n";
  return out;
}

}  // namespace

std::string RightsizeTable(const RightsizeResult& r) {
  std::string out;
  out += Line(
      "%d pods (%d with GPU memory), %lld periods of %lld s; GPU memory (the packed "
      "resource):\n",
      r.pods, r.gpu_pods, static_cast<long long>(r.periods), static_cast<long long>(r.period_s));
  out += Line("%-22s %9s %11s %14s %6s %8s %6s %7s %6s %8s\n", "policy", "slack %", "violation %",
              "resizes/pod-h", "GPUs", "vs peak", "bound", "online", "moves", "wall s");
  for (const RightsizePolicyResult& p : r.policies) {
    const ResourceMetrics& m = p.Of(UsageResource::kGpuMemory);
    const std::string vs = VsPeak(r, p);
    out += Line("%-22s %9s %11s %14s %6d %8s %6d %7d %6lld %8s\n", p.policy.c_str(),
                Num(m.slack_pct, 1).c_str(), Num(m.violation_pct, 2).c_str(),
                Num(m.resizes_per_pod_hour, 2).c_str(), p.gpus_needed,
                vs.empty() ? "-" : (vs + "%").c_str(), p.gpus_lower_bound, p.gpus_online,
                static_cast<long long>(p.moves), Num(p.wall_s, 2).c_str());
  }
  out +=
      "\nforecast accuracy per resource: pinball loss (% of mean peak; lower is better) / "
      "windows covered within 25 % slack (%); then slack % / violation %\n";
  out += Line("%-22s %-30s %-30s %-30s\n", "policy", "gpu_memory", "gpu_busy", "memory");
  for (const RightsizePolicyResult& p : r.policies) {
    std::string cells[kUsageResources];
    for (int k = 0; k < kUsageResources; ++k) {
      const ResourceMetrics& m = p.metrics[k];
      cells[k] = Num(m.pinball_pct, 2) + " / " + Num(m.covered_25_pct, 1) + "; " +
                 Num(m.slack_pct, 1) + " / " + Num(m.violation_pct, 2);
    }
    out += Line("%-22s %-30s %-30s %-30s\n", p.policy.c_str(), cells[0].c_str(), cells[1].c_str(),
                cells[2].c_str());
  }
  return out;
}

std::string RightsizeJson(const RightsizeResult& r) {
  JsonWriter j;
  j.BeginObject()
      .Key("pods")
      .Int(r.pods)
      .Key("periods")
      .Int(r.periods)
      .Key("period_s")
      .Int(r.period_s);
  j.Key("policies").BeginArray();
  for (const RightsizePolicyResult& p : r.policies) {
    j.BeginObject().Key("policy").String(p.policy).Key("description").String(p.description);
    j.Key("gpus_needed").Int(p.gpus_needed).Key("gpus_lower_bound").Int(p.gpus_lower_bound);
    j.Key("gpus_online")
        .Int(p.gpus_online)
        .Key("moves")
        .Int(p.moves)
        .Key("wall_s")
        .Double(p.wall_s, 3);
    for (int k = 0; k < kUsageResources; ++k) {
      const ResourceMetrics& m = p.metrics[k];
      j.Key(UsageResourceName(static_cast<UsageResource>(k))).BeginObject();
      j.Key("pod_periods").Int(m.pod_periods).Key("slack_pct").Double(m.slack_pct, 3);
      j.Key("violation_pct").Double(m.violation_pct, 4);
      j.Key("resizes_per_pod_hour").Double(m.resizes_per_pod_hour, 3);
      j.Key("pinball_pct")
          .Double(m.pinball_pct, 3)
          .Key("covered_25_pct")
          .Double(m.covered_25_pct, 2);
      j.EndObject();
    }
    j.EndObject();
  }
  j.EndArray().EndObject();
  return j.str() + "\n";
}

Status WriteRightsizeOutputs(const RightsizeResult& r, const std::string& title,
                             const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Unavailable(dir + ": cannot create folder: " + ec.message());
  DS_RETURN_IF_ERROR(WriteFileAtomically(dir + "/summary.json", RightsizeJson(r)));
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
                     EscapeXml(title) +
                     "</title><style>body{font-family:Helvetica,Arial,sans-serif;margin:24px}"
                     "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
                     "text-align:right}td:first-child,th:first-child,td:last-child{text-align:left}"
                     "td:last-child{font-size:"
                     "small;max-width:28em}</style>"
                     "</head><body>\n<h1>" +
                     EscapeXml(title) + "</h1>\n";
  html += "<p>" + std::to_string(r.pods) + " pods (" + std::to_string(r.gpu_pods) +
          " with GPU memory), " + std::to_string(r.periods) + " periods of " +
          std::to_string(r.period_s) +
          " s; every pod starts at its peak (its user's ask). Slack = unused allocation, % of "
          "allocation, over pod-minutes; a violation is a "
          "pod-minute whose usage is above its allocation. GPUs: the most GPUs a first-fit-"
          "decreasing packing of one minute's GPU-memory allocations needs, after the first hour "
          "(shares "
          "re-placed as they change); GPUs online: packing as pods come and grow, without "
          "re-placing (a grow that does not fit in place moves the pod).</p>\n";
  html +=
      "<table><tr><th>policy</th><th>GPU memory slack %</th><th>violations %</th>"
      "<th>resizes / pod-hour</th><th>GPUs</th><th>vs static-peak %</th><th>GPUs online</th>"
      "<th>moves</th>"
      "<th>pinball % (mem / busy / memory)</th><th>covered within 25 % slack</th>"
      "<th>what it is</th></tr>\n";
  for (const RightsizePolicyResult& p : r.policies) {
    const ResourceMetrics& m = p.Of(UsageResource::kGpuMemory);
    html += "<tr><td>" + EscapeXml(p.policy) + "</td><td>" + Num(m.slack_pct, 1) + "</td><td>" +
            Num(m.violation_pct, 2) + "</td><td>" + Num(m.resizes_per_pod_hour, 2) + "</td><td>" +
            std::to_string(p.gpus_needed) + "</td><td>" + VsPeak(r, p) + "</td><td>" +
            std::to_string(p.gpus_online) + "</td><td>" + std::to_string(p.moves) + "</td><td>" +
            Num(p.metrics[0].pinball_pct, 2) + " / " + Num(p.metrics[1].pinball_pct, 2) + " / " +
            Num(p.metrics[2].pinball_pct, 2) + "</td><td>" + Num(m.covered_25_pct, 1) +
            "</td><td>" + EscapeXml(p.description) + "</td></tr>\n";
  }
  html += "</table>\n";
  html += "<figure>" + TimelinePlot(r) + "</figure>\n";
  html += "<figure>" + TradeoffPlot(r) + "</figure>\n";
  html += "<figure>" + GpuBars(r) + "</figure>\n";
  html += "</body></html>\n";
  return WriteFileAtomically(dir + "/report.html", html);
}

}  // namespace devshare::sim
