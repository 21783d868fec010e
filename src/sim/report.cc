// Report writer of a simulator experiment (see devshare/sim/report.h): standalone SVG plots and a
// self-contained HTML page following the FGD protocol (Weng et al., "Beware of Fragmentation",
// USENIX ATC'23): x = arrived GPU demand in % of cluster GPU capacity, y = GPU allocation %.
// Besides the three plots of report.h the page carries a 4th SVG, the allocation plot zoomed to
// arrived demand 75..120 % (report_internal::RenderAllocationZoomPlot). Output is ASCII only,
// numbers use fixed precision, and the same input always gives the same bytes.
// Thread-safety: pure functions; WriteReportHtml writes the target path atomically
// (WriteFileAtomically).
#include "devshare/sim/report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "devshare/core/atomic_file.h"
#include "devshare/core/xml_escape.h"
#include "sim/report_stats.h"
#include "sim/svg_plot.h"

namespace devshare::sim {
namespace report_internal {

std::vector<BandPoint> ComputeBand(const std::vector<std::vector<double>>& curves) {
  std::size_t bins = 0;
  for (const auto& curve : curves) bins = std::max(bins, curve.size());
  std::vector<BandPoint> out;
  std::vector<double> at_bin;
  for (std::size_t bin = 0; bin < bins; ++bin) {
    at_bin.clear();
    for (const auto& curve : curves) {
      if (bin < curve.size()) at_bin.push_back(curve[bin]);
    }
    const double median = Quantile(at_bin, 0.5);
    if (std::isnan(median)) continue;  // no finite value in this bin
    out.push_back(
        BandPoint{static_cast<int>(bin), Quantile(at_bin, 0.25), median, Quantile(at_bin, 0.75)});
  }
  return out;
}

std::string FormatFixed(double value, int precision) {
  if (!std::isfinite(value)) return "n/a";
  // Fixed notation of the largest double needs 309 integer digits.
  char buf[400];
  const auto [end, ec] =
      std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::fixed, precision);
  if (ec != std::errc()) return "n/a";
  std::string out(buf, end);
  if (!out.empty() && out[0] == '-' && out.find_first_not_of("0.", 1) == std::string::npos) {
    out.erase(0, 1);  // "-0.00" -> "0.00"
  }
  return out;
}

namespace {
constexpr double kIdealKnee = 100;  // y = min(x, 100)

void AppendNoData(const Frame& f, std::string* out) {
  *out += "<text class=\"no-data\" x=\"" + Px(f.left + f.width / 2) + "\" y=\"" +
          Px(f.top + f.height / 2) + "\" text-anchor=\"middle\" fill=\"#777777\">no data</text>\n";
}

// Consecutive-bin runs of band points that fall inside the x range.
std::vector<std::vector<BandPoint>> Segments(const std::vector<BandPoint>& band, const Axis& x) {
  std::vector<std::vector<BandPoint>> out;
  for (const BandPoint& p : band) {
    if (p.bin < x.min - 1e-9 || p.bin > x.max + 1e-9) continue;
    if (out.empty() || out.back().back().bin + 1 != p.bin) out.emplace_back();
    out.back().push_back(p);
  }
  return out;
}

// Median line: one subpath per segment; a lone point becomes a zero-length subpath that the
// round line cap draws as a dot.
std::string LinePath(const Frame& f, const std::vector<std::vector<BandPoint>>& segments) {
  std::string d;
  for (const auto& seg : segments) {
    if (!d.empty()) d += ' ';
    d += "M" + Px(f.X(seg[0].bin)) + " " + Px(f.Y(seg[0].median));
    if (seg.size() == 1) d += " h0";
    for (std::size_t i = 1; i < seg.size(); ++i) {
      d += " L" + Px(f.X(seg[i].bin)) + " " + Px(f.Y(seg[i].median));
    }
  }
  return d;
}

// 25-75 % band: one closed polygon per segment of two or more points; empty when the band has
// no width anywhere (e.g. a single seed).
std::string BandPath(const Frame& f, const std::vector<std::vector<BandPoint>>& segments) {
  std::string d;
  for (const auto& seg : segments) {
    if (seg.size() < 2) continue;
    bool has_width = false;
    for (const BandPoint& p : seg) has_width = has_width || p.q75 > p.q25;
    if (!has_width) continue;
    if (!d.empty()) d += ' ';
    d += "M" + Px(f.X(seg[0].bin)) + " " + Px(f.Y(seg[0].q75));
    for (std::size_t i = 1; i < seg.size(); ++i) {
      d += " L" + Px(f.X(seg[i].bin)) + " " + Px(f.Y(seg[i].q75));
    }
    for (std::size_t i = seg.size(); i-- > 0;) {
      d += " L" + Px(f.X(seg[i].bin)) + " " + Px(f.Y(seg[i].q25));
    }
    d += " Z";
  }
  return d;
}

struct LinePlotSpec {
  std::string id;  // unique per page; prefixes element ids
  std::string title;
  std::string y_label;
  std::vector<std::vector<double>> PolicyCurves::*curves = nullptr;
  bool ideal = false;    // draw y = min(x, 100)
  bool zoom = false;     // x in [75, 120] and y fitted to the data; else x from 0
  double min_y_top = 1;  // the y axis reaches at least this value (full plots)
};

constexpr double kZoomMin = 75;
constexpr double kZoomMax = 120;
constexpr double kFullMaxBin = 130;

std::string RenderLinePlot(const ReportInput& in, const LinePlotSpec& spec) {
  std::vector<std::vector<BandPoint>> bands;
  bands.reserve(in.policies.size());
  double max_bin = 0;
  for (const PolicyCurves& p : in.policies) {
    bands.push_back(ComputeBand(p.*spec.curves));
    if (!bands.back().empty()) max_bin = std::max<double>(max_bin, bands.back().back().bin);
  }

  Frame f;
  if (spec.zoom) {
    f.x = Axis{kZoomMin, kZoomMax, 5};
  } else {
    f.x = Axis{0, std::max(kFullMaxBin, std::ceil(max_bin / 10) * 10), 10};
  }
  // y range: everything drawn inside the x range (band edges and the ideal line).
  double lo = spec.zoom ? std::numeric_limits<double>::infinity() : 0;
  double hi = spec.zoom ? -std::numeric_limits<double>::infinity() : spec.min_y_top;
  bool any_point = false;
  for (const auto& band : bands) {
    for (const BandPoint& p : band) {
      if (p.bin < f.x.min || p.bin > f.x.max) continue;
      any_point = true;
      lo = std::min(lo, p.q25);
      hi = std::max(hi, p.q75);
    }
  }
  if (spec.ideal) {
    lo = std::min(lo, std::min(f.x.min, kIdealKnee));
    hi = std::max(hi, std::min(f.x.max, kIdealKnee));
  }
  if (!std::isfinite(lo) || !std::isfinite(hi)) {
    lo = 0;
    hi = spec.min_y_top;
  }
  f.y = NiceAxis(lo, hi, spec.zoom ? 8 : 10);

  // Legend: one row per policy, the ideal line, then two notes.
  std::size_t label_chars = 26;  // width of the notes
  for (const PolicyCurves& p : in.policies) {
    label_chars = std::max(label_chars, std::min(CodePoints(p.policy), kMaxLabelChars));
  }
  const double legend_x = f.Right() + kLegendGap;
  const double legend_width = 30 + kCharPx * static_cast<double>(label_chars) + 10;
  const std::size_t rows = in.policies.size() + (spec.ideal ? 1 : 0);
  const double notes_y = f.top + 8 + kLegendRow * static_cast<double>(rows) + 8;
  const double width = legend_x + legend_width;
  const double height = std::max(f.Bottom() + kMarginBottom, notes_y + 2 * 16 + 8);

  std::string out;
  AppendSvgOpen(width, height, spec.id, spec.title, &out);
  AppendAxes(f, "Arrived GPU demand (% of cluster GPU capacity)", spec.y_label, true, &out);

  std::vector<std::vector<std::vector<BandPoint>>> segments;
  segments.reserve(bands.size());
  for (const auto& band : bands) segments.push_back(Segments(band, f.x));

  out += "<g class=\"bands\">\n";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string d = BandPath(f, segments[i]);
    if (d.empty()) continue;
    out += "<path class=\"band\" data-policy=\"" + EscapeXml(in.policies[i].policy) + "\" d=\"" +
           d + "\" fill=\"" + Colour(i) + "\" fill-opacity=\"0.18\" stroke=\"none\"/>\n";
  }
  out += "</g>\n";

  if (spec.ideal) {
    std::string d = "M" + Px(f.X(f.x.min)) + " " + Px(f.Y(std::min(f.x.min, kIdealKnee)));
    if (f.x.min < kIdealKnee && kIdealKnee < f.x.max) {
      d += " L" + Px(f.X(kIdealKnee)) + " " + Px(f.Y(kIdealKnee));
    }
    d += " L" + Px(f.X(f.x.max)) + " " + Px(f.Y(std::min(f.x.max, kIdealKnee)));
    out += "<path class=\"ideal\" d=\"" + d +
           "\" fill=\"none\" stroke=\"#555555\" stroke-width=\"1.5\" "
           "stroke-dasharray=\"6 4\"/>\n";
  }

  out += "<g class=\"lines\">\n";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string name = EscapeXml(in.policies[i].policy);
    out += "<path class=\"line\" data-policy=\"" + name + "\" d=\"" + LinePath(f, segments[i]) +
           "\" fill=\"none\" stroke=\"" + Colour(i) +
           "\" stroke-width=\"2\" stroke-linejoin=\"round\" stroke-linecap=\"round\"" +
           DashAttr(Dash(i)) + "><title>" + name + "</title></path>\n";
  }
  out += "</g>\n";
  if (!any_point) AppendNoData(f, &out);

  out += "<g class=\"legend\">\n";
  double y = f.top + 8;
  for (std::size_t i = 0; i < in.policies.size(); ++i, y += kLegendRow) {
    bool truncated = false;
    const std::string label = LabelMarkup(in.policies[i].policy, &truncated);
    out += "<g class=\"legend-entry\">";
    if (truncated) out += "<title>" + EscapeXml(in.policies[i].policy) + "</title>";
    out += "<rect x=\"" + Px(legend_x) + "\" y=\"" + Px(y - 6) +
           "\" width=\"24\" height=\"12\" fill=\"" + Colour(i) + "\" fill-opacity=\"0.18\"/>";
    out += "<line x1=\"" + Px(legend_x) + "\" y1=\"" + Px(y) + "\" x2=\"" + Px(legend_x + 24) +
           "\" y2=\"" + Px(y) + "\" stroke=\"" + Colour(i) + "\" stroke-width=\"2\"" +
           DashAttr(Dash(i)) + "/>";
    out +=
        "<text x=\"" + Px(legend_x + 30) + "\" y=\"" + Px(y + 4) + "\">" + label + "</text></g>\n";
  }
  if (spec.ideal) {
    out += "<g class=\"legend-entry\"><line x1=\"" + Px(legend_x) + "\" y1=\"" + Px(y) +
           "\" x2=\"" + Px(legend_x + 24) + "\" y2=\"" + Px(y) +
           "\" stroke=\"#555555\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/><text x=\"" +
           Px(legend_x + 30) + "\" y=\"" + Px(y + 4) + "\">Ideal: y = min(x, 100)</text></g>\n";
  }
  out += "<text class=\"legend-note\" x=\"" + Px(legend_x) + "\" y=\"" + Px(notes_y + 4) +
         "\" font-size=\"11\" fill=\"#555555\">Line: median over seeds</text>\n";
  out += "<text class=\"legend-note\" x=\"" + Px(legend_x) + "\" y=\"" + Px(notes_y + 20) +
         "\" font-size=\"11\" fill=\"#555555\">Band: 25&#8211;75 % of seeds</text>\n";
  out += "</g>\n</svg>\n";
  return out;
}

}  // namespace

std::string RenderAllocationZoomPlot(const ReportInput& in) {
  LinePlotSpec spec;
  spec.id = "alloc-zoom";
  spec.title =
      "GPU allocation, arrived demand 75\xE2\x80\x93"
      "120 % (zoom)";
  spec.y_label = "GPU allocation (% of capacity)";
  spec.curves = &PolicyCurves::alloc_curves;
  spec.ideal = true;
  spec.zoom = true;
  return RenderLinePlot(in, spec);
}

}  // namespace report_internal

namespace {

using report_internal::ComputeMeanSd;
using report_internal::FormatFixed;
using report_internal::MeanSd;

// Per-policy figures of the summary table and the bar chart.
struct PolicySummary {
  MeanSd unallocated;
  double unallocated_median = 0;
  MeanSd frag;
  MeanSd decision_p99_us;
  std::size_t seeds = 0;
};

PolicySummary Summarize(const PolicyCurves& p) {
  PolicySummary s;
  s.unallocated = ComputeMeanSd(p.unallocated_at_100);
  s.unallocated_median = report_internal::Median(p.unallocated_at_100);
  s.frag = ComputeMeanSd(p.frag_at_100);
  s.decision_p99_us = ComputeMeanSd(p.decision_us_p99);
  s.seeds = std::max({p.alloc_curves.size(), p.frag_curves.size(), p.unallocated_at_100.size(),
                      p.frag_at_100.size(), p.decision_us_p99.size()});
  return s;
}

}  // namespace

std::string RenderAllocationPlot(const ReportInput& in) {
  report_internal::LinePlotSpec spec;
  spec.id = "alloc";
  spec.title = "GPU allocation vs arrived GPU demand";
  spec.y_label = "GPU allocation (% of capacity)";
  spec.curves = &PolicyCurves::alloc_curves;
  spec.ideal = true;
  spec.min_y_top = 100;
  return report_internal::RenderLinePlot(in, spec);
}

std::string RenderFragmentationPlot(const ReportInput& in) {
  report_internal::LinePlotSpec spec;
  spec.id = "frag";
  spec.title = "GPU fragmentation vs arrived GPU demand";
  spec.y_label = "Fragmented GPU (% of capacity)";
  spec.curves = &PolicyCurves::frag_curves;
  spec.min_y_top = 1;
  return report_internal::RenderLinePlot(in, spec);
}

std::string RenderUnallocatedBarChart(const ReportInput& in) {
  using report_internal::Frame;
  using report_internal::Px;
  const std::size_t n = in.policies.size();
  std::vector<MeanSd> stats;
  stats.reserve(n);
  double lo = 0;
  double hi = 0;
  bool any_mean = false;
  std::size_t label_chars = 6;
  for (const PolicyCurves& p : in.policies) {
    stats.push_back(ComputeMeanSd(p.unallocated_at_100));
    const MeanSd& s = stats.back();
    if (std::isfinite(s.mean)) {
      any_mean = true;
      const double sd = std::isfinite(s.sd) ? s.sd : 0;
      lo = std::min({lo, s.mean, s.mean - sd});
      hi = std::max({hi, s.mean, s.mean + sd});
    }
    label_chars = std::max(label_chars, std::min(report_internal::CodePoints(p.policy),
                                                 report_internal::kMaxLabelChars));
  }
  // Head room for the value labels above the bars; a fixed range when there is nothing to span.
  Frame f;
  if (hi > lo) {
    const double span = hi - lo;
    f.y = report_internal::NiceAxis(lo < 0 ? lo - 0.08 * span : lo, hi + 0.08 * span, 8);
  } else {
    f.y = report_internal::NiceAxis(0, any_mean ? 1 : 10, 8);
  }
  const double slot = 64;
  f.width = std::max(360.0, slot * static_cast<double>(n));  // room for the title
  f.x = report_internal::Axis{0, static_cast<double>(std::max<std::size_t>(n, 1)), 1};
  // Category labels are rotated by -35 degrees: sin(35) ~ 0.57.
  const double label_drop = 0.6 * report_internal::kCharPx * static_cast<double>(label_chars);
  const double width = f.Right() + 24;
  const double height = f.Bottom() + 16 + label_drop + 36;

  std::string out;
  report_internal::AppendSvgOpen(width, height, "unalloc",
                                 "Unallocated GPU at 100 % arrived demand", &out);
  report_internal::AppendAxes(f, "", "Unallocated GPU (% of capacity), mean \xC2\xB1 sd", false,
                              &out);
  out += "<g class=\"bars\">\n";
  const double bar_width = 36;
  const double zero_y = f.Y(0);
  for (std::size_t i = 0; i < n; ++i) {
    const MeanSd& s = stats[i];
    const std::string name = EscapeXml(in.policies[i].policy);
    const double cx = f.left + slot * (static_cast<double>(i) + 0.5);
    const bool has_mean = std::isfinite(s.mean);
    const double top_y = has_mean ? f.Y(s.mean) : zero_y;
    out += "<rect class=\"bar\" data-policy=\"" + name + "\" x=\"" + Px(cx - bar_width / 2) +
           "\" y=\"" + Px(std::min(top_y, zero_y)) + "\" width=\"" + Px(bar_width) +
           "\" height=\"" + Px(std::fabs(zero_y - top_y)) + "\" fill=\"" +
           report_internal::Colour(i) + "\"><title>" + name + ": mean " + FormatFixed(s.mean, 2) +
           ", sd " + FormatFixed(s.sd, 2) + ", " + std::to_string(s.count) +
           " seed(s)</title></rect>\n";
    const bool has_sd = has_mean && std::isfinite(s.sd) && s.sd > 0;
    if (has_sd) {
      const double y1 = f.Y(s.mean - s.sd);
      const double y2 = f.Y(s.mean + s.sd);
      out += "<g class=\"errorbar\" stroke=\"#222222\" stroke-width=\"1.2\">";
      out += "<line x1=\"" + Px(cx) + "\" y1=\"" + Px(y1) + "\" x2=\"" + Px(cx) + "\" y2=\"" +
             Px(y2) + "\"/>";
      out += "<line x1=\"" + Px(cx - 6) + "\" y1=\"" + Px(y1) + "\" x2=\"" + Px(cx + 6) +
             "\" y2=\"" + Px(y1) + "\"/>";
      out += "<line x1=\"" + Px(cx - 6) + "\" y1=\"" + Px(y2) + "\" x2=\"" + Px(cx + 6) +
             "\" y2=\"" + Px(y2) + "\"/></g>\n";
    }
    // Value label just beyond the bar end (or its whisker), on the side away from zero.
    const double sd = has_sd ? s.sd : 0;
    const double label_y = !has_mean     ? zero_y - 5
                           : s.mean >= 0 ? f.Y(s.mean + sd) - 5
                                         : f.Y(s.mean - sd) + 14;
    out += "<text class=\"value\" x=\"" + Px(cx) + "\" y=\"" + Px(label_y) +
           "\" text-anchor=\"middle\" font-size=\"11\">" + FormatFixed(s.mean, 2) + "</text>\n";
    bool truncated = false;
    const std::string label = report_internal::LabelMarkup(in.policies[i].policy, &truncated);
    out += "<text class=\"category\" transform=\"translate(" + Px(cx + 4) + " " +
           Px(f.Bottom() + 14) + ") rotate(-35)\" text-anchor=\"end\">" + label + "</text>\n";
  }
  out += "</g>\n";
  if (n == 0) report_internal::AppendNoData(f, &out);
  out += "</svg>\n";
  return out;
}

namespace {

constexpr const char kCss[] =
    "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,Helvetica,Arial,sans-serif;"
    "color:#222;background:#fff;max-width:1120px;margin:2rem auto;padding:0 1rem;"
    "line-height:1.4}\n"
    "h1{font-size:1.5rem;margin:0 0 .25rem}\n"
    "h2{font-size:1.15rem;margin:1.75rem 0 .6rem;border-bottom:1px solid #ddd}\n"
    ".subtitle{margin:0;color:#555;font-family:ui-monospace,Menlo,Consolas,monospace;"
    "font-size:.85rem;overflow-wrap:anywhere}\n"
    "dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1.2rem;margin:0}\n"
    "dl.facts dt{font-weight:600}\n"
    "dl.facts dd{margin:0;overflow-wrap:anywhere}\n"
    "figure{margin:0 0 1.75rem}\n"
    "figure svg{display:block;max-width:100%;height:auto;border:1px solid #e3e3e3}\n"
    "figcaption{color:#444;font-size:.88rem;margin-top:.4rem;max-width:900px}\n"
    "table.summary{border-collapse:collapse;font-size:.9rem}\n"
    "table.summary th,table.summary td{border:1px solid #ccc;padding:.3rem .6rem}\n"
    "table.summary thead th{background:#f2f2f2;vertical-align:bottom}\n"
    "table.summary tbody th{text-align:left;font-weight:400}\n"
    "table.summary td{text-align:right;font-variant-numeric:tabular-nums}\n"
    "table.summary tr.best th,table.summary tr.best td{font-weight:700}\n"
    "table.summary caption{caption-side:bottom;text-align:left;color:#555;font-size:.85rem;"
    "padding-top:.4rem}\n"
    ".swatch{display:inline-block;width:.8em;height:.8em;margin-right:.4em;"
    "vertical-align:-.05em;border-radius:2px}\n"
    "footer{margin-top:2rem;color:#666;font-size:.8rem}\n";

void AppendFigure(const std::string& id, const std::string& svg, const std::string& caption,
                  std::string* out) {
  *out += "<figure id=\"" + id + "\">\n" + svg + "<figcaption>" + caption +
          "</figcaption>\n</figure>\n";
}

void AppendSummaryTable(const ReportInput& in, std::string* out) {
  std::vector<PolicySummary> rows;
  rows.reserve(in.policies.size());
  std::size_t best = in.policies.size();
  for (std::size_t i = 0; i < in.policies.size(); ++i) {
    rows.push_back(Summarize(in.policies[i]));
    const double mean = rows.back().unallocated.mean;
    if (std::isfinite(mean) && (best == in.policies.size() || mean < rows[best].unallocated.mean)) {
      best = i;
    }
  }
  *out +=
      "<table id=\"summary\" class=\"summary\">\n"
      "<caption>Per policy over seeds. Unallocated GPU = 100 &#8722; GPU allocation % at 100 % "
      "arrived demand; fragmentation likewise at 100 %; decision p99 = 99th percentile of the "
      "placement decision time per seed, averaged over seeds. sd = sample standard deviation "
      "(n/a for fewer than two seeds). Bold: lowest mean unallocated GPU.</caption>\n"
      "<thead><tr><th scope=\"col\">Policy</th><th scope=\"col\">Unallocated GPU %<br>mean</th>"
      "<th scope=\"col\">Unallocated GPU %<br>median</th>"
      "<th scope=\"col\">Unallocated GPU %<br>sd</th>"
      "<th scope=\"col\">Fragmentation %<br>mean</th>"
      "<th scope=\"col\">Decision p99 &#181;s<br>mean</th>"
      "<th scope=\"col\">Seeds</th></tr></thead>\n<tbody>\n";
  if (in.policies.empty()) {
    *out += "<tr><td colspan=\"7\" style=\"text-align:left\">No policies.</td></tr>\n";
  }
  for (std::size_t i = 0; i < in.policies.size(); ++i) {
    const PolicySummary& s = rows[i];
    *out += i == best ? "<tr class=\"best\">" : "<tr>";
    *out += "<th scope=\"row\"><span class=\"swatch\" style=\"background:" +
            std::string(report_internal::Colour(i)) + "\"></span>" +
            EscapeXml(in.policies[i].policy) + "</th>";
    for (double v : {s.unallocated.mean, s.unallocated_median, s.unallocated.sd, s.frag.mean,
                     s.decision_p99_us.mean}) {
      *out += "<td>" + FormatFixed(v, 2) + "</td>";
    }
    *out += "<td>" + std::to_string(s.seeds) + "</td></tr>\n";
  }
  *out += "</tbody>\n</table>\n";
}

// Mean over seeds of each hole bin per policy, and the row total.
void AppendHoleTable(const ReportInput& in, std::string* out) {
  const std::size_t bins = in.hole_bins.size();
  *out +=
      "<table id=\"holes\" class=\"summary\">\n"
      "<caption>Where the unallocated GPU capacity lies when arrived demand reaches 100 %: free "
      "GPU milli summed by how much each GPU has free (% of capacity, mean over seeds). Small "
      "holes (e.g. the 190 milli beside an 810-milli task) fit almost no request; idle = GPUs "
      "with nothing placed, left over because their host ran out of CPU or memory or because "
      "no whole-GPU request came.</caption>\n<thead><tr><th scope=\"col\">Policy</th>";
  for (const std::string& label : in.hole_bins) {
    *out +=
        "<th scope=\"col\">" + EscapeXml(label) + (label == "idle" ? "" : " milli free") + "</th>";
  }
  *out += "<th scope=\"col\">Total</th></tr></thead>\n<tbody>\n";
  for (std::size_t i = 0; i < in.policies.size(); ++i) {
    const PolicyCurves& p = in.policies[i];
    std::vector<double> mean(bins, 0.0);
    std::size_t seeds = 0;
    for (const std::vector<double>& run : p.free_by_hole) {
      if (run.size() != bins) continue;
      for (std::size_t b = 0; b < bins; ++b) mean[b] += run[b];
      ++seeds;
    }
    *out += "<tr><th scope=\"row\"><span class=\"swatch\" style=\"background:" +
            std::string(report_internal::Colour(i)) + "\"></span>" + EscapeXml(p.policy) + "</th>";
    double total = 0;
    for (std::size_t b = 0; b < bins; ++b) {
      const double v = seeds > 0 ? mean[b] / static_cast<double>(seeds) : NAN;
      total += v;
      *out += "<td>" + FormatFixed(v, 2) + "</td>";
    }
    *out += "<td>" + FormatFixed(total, 2) + "</td></tr>\n";
  }
  *out += "</tbody>\n</table>\n";
}

}  // namespace

std::string RenderReportHtml(const ReportInput& in) {
  const std::string title =
      EscapeXml(in.title.empty() ? std::string("devshare simulator report") : in.title);
  std::string out;
  out +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
      title + "</title>\n<style>\n" + kCss + "</style>\n</head>\n<body>\n<header>\n<h1>" + title +
      "</h1>\n";
  if (!in.subtitle.empty()) {
    out += "<p class=\"subtitle\">" + EscapeXml(in.subtitle) + "</p>\n";
  }
  out += "</header>\n";
  if (!in.facts.empty()) {
    out += "<section id=\"facts\">\n<h2>Setup</h2>\n<dl class=\"facts\">\n";
    for (const auto& [key, value] : in.facts) {
      out += "<dt>" + EscapeXml(key) + "</dt><dd>" + EscapeXml(value) + "</dd>\n";
    }
    out += "</dl>\n</section>\n";
  }
  out += "<section id=\"plots\">\n<h2>Plots</h2>\n";
  AppendFigure(
      "fig-alloc", RenderAllocationPlot(in),
      "Figure 1. GPU allocation (% of cluster GPU capacity) against arrived GPU demand (% of "
      "capacity), following the FGD protocol. Lines: median over seeds per 1 % bin; shaded "
      "bands: 25&#8211;75 % of seeds; dashed: ideal allocation y = min(x, 100).",
      &out);
  AppendFigure("fig-alloc-zoom", report_internal::RenderAllocationZoomPlot(in),
               "Figure 2. Figure 1 zoomed to arrived demand 75&#8211;120 %, where the policies "
               "diverge; the y axis is fitted to the data shown.",
               &out);
  AppendFigure("fig-frag", RenderFragmentationPlot(in),
               "Figure 3. Fragmented GPU (% of capacity) against arrived GPU demand. Lines: "
               "median over seeds; bands: 25&#8211;75 % of seeds.",
               &out);
  AppendFigure("fig-unalloc", RenderUnallocatedBarChart(in),
               "Figure 4. Unallocated GPU (% of capacity) when arrived demand reaches 100 %. "
               "Bars: mean over seeds; whiskers: &#177; one sample standard deviation.",
               &out);
  out += "</section>\n<section id=\"table\">\n<h2>Summary</h2>\n";
  AppendSummaryTable(in, &out);
  if (!in.hole_bins.empty()) {
    out += "<h2>Where the unallocated capacity lies</h2>\n";
    AppendHoleTable(in, &out);
  }
  out +=
      "</section>\n<footer>Generated by devshare sim. Protocol: Weng et al., &#8220;Beware of "
      "Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation Gradient "
      "Descent&#8221;, USENIX ATC&#8217;23. Self-contained page: no scripts, no external "
      "resources.</footer>\n</body>\n</html>\n";
  return out;
}

Status WriteReportHtml(const ReportInput& in, const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("write report: empty path");
  const std::string html = RenderReportHtml(in);
  return WriteFileAtomically(path, html, 0644);
}

}  // namespace devshare::sim
