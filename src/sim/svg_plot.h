// SVG plot primitives shared by the simulator's HTML reports (report.cc, rightsize_report.cc):
// palette, layout, nice axes, a frame mapping data to px, axes with ticks, lines, labels.
// Thread-safety: pure functions of their input.
#ifndef DEVSHARE_SIM_SVG_PLOT_H_
#define DEVSHARE_SIM_SVG_PLOT_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace devshare::sim::report_internal {

// Paul Tol's "muted" qualitative scheme: nine colours distinguishable under common colour-vision
// deficiencies. Policies beyond nine reuse the colours with a dash pattern.
inline constexpr const char* kPalette[] = {"#332288", "#CC6677", "#44AA99", "#999933", "#DDCC77",
                                           "#882255", "#88CCEE", "#117733", "#AA4499"};
inline constexpr std::size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);
inline constexpr const char* kDashes[] = {"", "8 3", "2 3", "8 3 2 3"};
inline constexpr std::size_t kDashesSize = sizeof(kDashes) / sizeof(kDashes[0]);

// Colour and dash pattern of series `index`.
inline const char* Colour(std::size_t index) { return kPalette[index % kPaletteSize]; }
inline const char* Dash(std::size_t index) { return kDashes[(index / kPaletteSize) % kDashesSize]; }

// Layout in px. Text width is estimated at kCharPx per character of a 12 px sans-serif font.
inline constexpr double kMarginLeft = 64;
inline constexpr double kMarginTop = 40;
inline constexpr double kMarginBottom = 52;
inline constexpr double kPlotWidth = 600;
inline constexpr double kPlotHeight = 340;
inline constexpr double kLegendGap = 20;
inline constexpr double kLegendRow = 18;
inline constexpr double kCharPx = 7;
inline constexpr std::size_t kMaxLabelChars = 28;

// " stroke-dasharray=..." for a non-empty dash, else "".
std::string DashAttr(const char* dash);
// A px coordinate: two decimals.
std::string Px(double v);
std::size_t CodePoints(std::string_view s);
// Shortens to kMaxLabelChars code points with an ellipsis; never splits a UTF-8 sequence.
std::string ShortLabel(const std::string& name, bool* truncated);
// Escaped label text, plus the ellipsis entity when shortened.
std::string LabelMarkup(const std::string& name, bool* truncated);
// Smallest step in {1, 2, 2.5, 5} x 10^k that cuts `range` into at most `max_intervals`.
double NiceStep(double range, int max_intervals);
// Decimals needed to print multiples of `step` exactly (0..3).
int StepDecimals(double step);

struct Axis {
  double min = 0;
  double max = 1;
  double step = 1;
};

// Extends [lo, hi] outwards to multiples of a nice step.
Axis NiceAxis(double lo, double hi, int max_intervals);
std::vector<double> Ticks(const Axis& a);

// Plot area in px and the data ranges it maps; points outside are clamped to the frame.
struct Frame {
  double left = kMarginLeft;
  double top = kMarginTop;
  double width = kPlotWidth;
  double height = kPlotHeight;
  Axis x;
  Axis y;
  double X(double v) const {
    const double t = (v - x.min) / (x.max - x.min);
    return left + (std::isnan(t) ? 0.0 : std::clamp(t, 0.0, 1.0)) * width;
  }
  double Y(double v) const {
    const double t = (v - y.min) / (y.max - y.min);
    return top + height - (std::isnan(t) ? 0.0 : std::clamp(t, 0.0, 1.0)) * height;
  }
  double Right() const { return left + width; }
  double Bottom() const { return top + height; }
};

// <svg> with a title element, a white background and the plot title.
void AppendSvgOpen(double width, double height, const std::string& id, const std::string& title,
                   std::string* out);
void AppendLine(double x1, double y1, double x2, double y2, const char* attrs, std::string* out);
// Grid, frame, ticks with labels and the axis titles. x ticks are skipped when `x_ticks` is false
// (a bar chart labels its categories itself); so is an empty x label.
void AppendAxes(const Frame& f, const std::string& x_label, const std::string& y_label,
                bool x_ticks, std::string* out);

}  // namespace devshare::sim::report_internal

#endif  // DEVSHARE_SIM_SVG_PLOT_H_
