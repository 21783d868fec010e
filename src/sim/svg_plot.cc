// SVG plot primitives of the simulator's reports.
#include "sim/svg_plot.h"

#include "devshare/core/xml_escape.h"
#include "sim/report_stats.h"

namespace devshare::sim::report_internal {

std::string Px(double v) { return FormatFixed(v, 2); }

std::size_t CodePoints(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

// Shortens to kMaxLabelChars code points with an ellipsis; never splits a UTF-8 sequence.
std::string ShortLabel(const std::string& name, bool* truncated) {
  *truncated = false;
  if (CodePoints(name) <= kMaxLabelChars) return name;
  *truncated = true;
  std::size_t points = 0;
  std::size_t cut = 0;
  for (; cut < name.size(); ++cut) {
    if ((static_cast<unsigned char>(name[cut]) & 0xC0) != 0x80) {
      if (points == kMaxLabelChars - 1) break;
      ++points;
    }
  }
  return name.substr(0, cut);
}

// Escaped label text, plus the ellipsis entity when shortened.
std::string LabelMarkup(const std::string& name, bool* truncated) {
  std::string out = EscapeXml(ShortLabel(name, truncated));
  if (*truncated) out += "&#8230;";
  return out;
}

// Smallest step in {1, 2, 2.5, 5} x 10^k that cuts `range` into at most `max_intervals`.
double NiceStep(double range, int max_intervals) {
  if (!(range > 0)) return 1;
  const double raw = range / max_intervals;
  double base = std::pow(10.0, std::floor(std::log10(raw)));
  for (int guard = 0; guard < 4; ++guard, base *= 10) {
    for (double m : {1.0, 2.0, 2.5, 5.0}) {
      if (range / (m * base) <= max_intervals + 1e-9) return m * base;
    }
  }
  return raw;
}

// Decimals needed to print multiples of `step` exactly (0..3).
int StepDecimals(double step) {
  for (int p = 0; p < 3; ++p) {
    const double scaled = step * std::pow(10.0, p);
    if (std::fabs(scaled - std::round(scaled)) < 1e-6) return p;
  }
  return 3;
}

// Extends [lo, hi] outwards to multiples of a nice step.
Axis NiceAxis(double lo, double hi, int max_intervals) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || !std::isfinite(hi - lo)) {
    lo = 0;  // absurd data: fall back to a percent scale and clamp the points into the frame
    hi = 100;
  }
  if (!(hi > lo)) hi = lo + 1;
  Axis a;
  a.step = NiceStep(hi - lo, max_intervals);
  a.min = std::floor(lo / a.step + 1e-9) * a.step;
  a.max = std::ceil(hi / a.step - 1e-9) * a.step;
  if (!(a.max > a.min)) a.max = a.min + a.step;
  return a;
}

std::vector<double> Ticks(const Axis& a) {
  std::vector<double> out;
  for (int i = 0;; ++i) {
    const double t = a.min + i * a.step;
    if (t > a.max + a.step * 1e-6 || i > 1000) break;
    out.push_back(t);
  }
  return out;
}

void AppendSvgOpen(double width, double height, const std::string& id, const std::string& title,
                   std::string* out) {
  const std::string w = FormatFixed(std::ceil(width), 0);
  const std::string h = FormatFixed(std::ceil(height), 0);
  *out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" + h +
          "\" viewBox=\"0 0 " + w + " " + h + "\" role=\"img\" aria-labelledby=\"" + id +
          "-title\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
  *out += "<title id=\"" + id + "-title\">" + EscapeXml(title) + "</title>\n";
  *out +=
      "<rect class=\"background\" width=\"" + w + "\" height=\"" + h + "\" fill=\"#ffffff\"/>\n";
  *out += "<text class=\"plot-title\" x=\"" + Px(kMarginLeft) +
          "\" y=\"24\" font-size=\"14\" font-weight=\"bold\">" + EscapeXml(title) + "</text>\n";
}

void AppendLine(double x1, double y1, double x2, double y2, const char* attrs, std::string* out) {
  *out += "<line x1=\"" + Px(x1) + "\" y1=\"" + Px(y1) + "\" x2=\"" + Px(x2) + "\" y2=\"" + Px(y2) +
          "\" " + attrs + "/>\n";
}

// Grid, frame, ticks with labels and the axis titles. x ticks are skipped when `x_ticks` is false
// (the bar chart labels its categories itself); so is an empty x label.
void AppendAxes(const Frame& f, const std::string& x_label, const std::string& y_label,
                bool x_ticks, std::string* out) {
  *out += "<g class=\"axes\">\n";
  const int y_decimals = StepDecimals(f.y.step);
  for (double t : Ticks(f.y)) {
    const double y = f.Y(t);
    AppendLine(f.left, y, f.Right(), y, "stroke=\"#e6e6e6\"", out);
    AppendLine(f.left - 5, y, f.left, y, "stroke=\"#333333\"", out);
    *out += "<text x=\"" + Px(f.left - 8) + "\" y=\"" + Px(y + 4) + "\" text-anchor=\"end\">" +
            FormatFixed(t, y_decimals) + "</text>\n";
  }
  if (x_ticks) {
    const int x_decimals = StepDecimals(f.x.step);
    for (double t : Ticks(f.x)) {
      const double x = f.X(t);
      AppendLine(x, f.top, x, f.Bottom(), "stroke=\"#e6e6e6\"", out);
      AppendLine(x, f.Bottom(), x, f.Bottom() + 5, "stroke=\"#333333\"", out);
      *out += "<text x=\"" + Px(x) + "\" y=\"" + Px(f.Bottom() + 18) +
              "\" text-anchor=\"middle\">" + FormatFixed(t, x_decimals) + "</text>\n";
    }
  }
  *out += "<rect class=\"frame\" x=\"" + Px(f.left) + "\" y=\"" + Px(f.top) + "\" width=\"" +
          Px(f.width) + "\" height=\"" + Px(f.height) + "\" fill=\"none\" stroke=\"#333333\"/>\n";
  if (!x_label.empty()) {
    *out += "<text class=\"x-label\" x=\"" + Px(f.left + f.width / 2) + "\" y=\"" +
            Px(f.Bottom() + 40) + "\" text-anchor=\"middle\">" + EscapeXml(x_label) + "</text>\n";
  }
  *out += "<text class=\"y-label\" transform=\"translate(" + Px(18) + " " +
          Px(f.top + f.height / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
          EscapeXml(y_label) + "</text>\n";
  *out += "</g>\n";
}

std::string DashAttr(const char* dash) {
  if (dash[0] == '\0') return "";
  return std::string(" stroke-dasharray=\"") + dash + "\"";
}

}  // namespace devshare::sim::report_internal
