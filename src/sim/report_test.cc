// Unit tests of the report writer: order statistics over seeds, number formatting, escaping,
// well-formed standalone SVG plots under edge cases, the HTML page and the atomic file write.
#include "devshare/sim/report.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <fstream>
#include <functional>
#include <limits>
#include <ostream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "devshare/core/xml_escape.h"
#include "sim/report_stats.h"

namespace devshare::sim {
namespace {

using report_internal::BandPoint;
using report_internal::ComputeBand;
using report_internal::ComputeMeanSd;
using report_internal::FormatFixed;
using report_internal::MeanSd;
using report_internal::Median;
using report_internal::Quantile;
using report_internal::RenderAllocationZoomPlot;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ---------------------------------------------------------------------------------------------
// A tiny tag-balance checker. XML mode (standalone SVG): every element closes, attribute values
// are quoted without '<', only the five predefined named entities. HTML mode additionally knows
// the doctype, void elements and the raw-text <style> element. Returns "" when balanced.

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' ||
         c == '.';
}

// Checks the entity reference starting at text[i] == '&'; advances i past it.
std::string CheckEntity(std::string_view text, std::size_t& i, bool html) {
  const std::size_t semi = text.find(';', i);
  if (semi == std::string_view::npos || semi - i > 12) return "bare '&' at " + std::to_string(i);
  const std::string_view ref = text.substr(i + 1, semi - i - 1);
  i = semi + 1;
  if (ref.size() > 1 && ref[0] == '#') {
    for (char c : ref.substr(1)) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return "bad reference &" + std::string(ref);
    }
    return "";
  }
  static const std::set<std::string_view> kXmlNamed = {"amp", "lt", "gt", "quot", "apos"};
  if (kXmlNamed.count(ref) > 0) return "";
  if (html && !ref.empty()) return "";  // HTML knows many more; we only emit the five above
  return "unknown entity &" + std::string(ref) + ";";
}

std::string CheckBalanced(std::string_view doc, bool html, int* roots = nullptr) {
  static const std::set<std::string> kVoid = {"area",   "base",  "br",    "col",  "embed",
                                              "hr",     "img",   "input", "link", "meta",
                                              "source", "track", "wbr"};
  std::vector<std::string> stack;
  int root_count = 0;
  std::size_t i = 0;
  while (i < doc.size()) {
    const char c = doc[i];
    if (c == '&') {
      const std::string err = CheckEntity(doc, i, html);
      if (!err.empty()) return err;
      continue;
    }
    if (c != '<') {
      if (stack.empty() && !std::isspace(static_cast<unsigned char>(c))) {
        return "text outside the root at " + std::to_string(i);
      }
      ++i;
      continue;
    }
    if (doc.substr(i, 4) == "<!--") {
      const std::size_t end = doc.find("-->", i);
      if (end == std::string_view::npos) return "unterminated comment";
      i = end + 3;
      continue;
    }
    if (doc.substr(i, 2) == "<!" || doc.substr(i, 2) == "<?") {
      if (!html && doc[i + 1] == '!') return "doctype in XML";
      const std::size_t end = doc.find('>', i);
      if (end == std::string_view::npos) return "unterminated declaration";
      i = end + 1;
      continue;
    }
    const bool closing = doc.substr(i, 2) == "</";
    std::size_t j = i + (closing ? 2 : 1);
    const std::size_t name_start = j;
    while (j < doc.size() && IsNameChar(doc[j])) ++j;
    std::string name(doc.substr(name_start, j - name_start));
    if (name.empty()) return "raw '<' at " + std::to_string(i);
    if (html) {
      for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    bool self_closing = false;
    // Attributes: name="value" pairs.
    while (true) {
      while (j < doc.size() && std::isspace(static_cast<unsigned char>(doc[j]))) ++j;
      if (j >= doc.size()) return "unterminated tag <" + name;
      if (doc[j] == '>') {
        ++j;
        break;
      }
      if (doc.substr(j, 2) == "/>") {
        self_closing = true;
        j += 2;
        break;
      }
      if (closing) return "attributes in closing tag </" + name;
      const std::size_t attr_start = j;
      while (j < doc.size() && IsNameChar(doc[j])) ++j;
      if (j == attr_start) return "bad attribute in <" + name + " at " + std::to_string(j);
      if (j >= doc.size() || doc[j] != '=') return "attribute without value in <" + name;
      ++j;
      if (j >= doc.size() || doc[j] != '"') return "unquoted attribute in <" + name;
      const std::size_t value_end = doc.find('"', j + 1);
      if (value_end == std::string_view::npos) return "unterminated attribute in <" + name;
      const std::string_view value = doc.substr(j + 1, value_end - j - 1);
      for (std::size_t k = 0; k < value.size();) {
        if (value[k] == '<') return "'<' in attribute of <" + name;
        if (value[k] == '&') {
          const std::string err = CheckEntity(value, k, html);
          if (!err.empty()) return err;
          continue;
        }
        ++k;
      }
      j = value_end + 1;
    }
    i = j;
    if (closing) {
      if (stack.empty()) return "unexpected </" + name + ">";
      if (stack.back() != name) return "</" + name + "> closes <" + stack.back() + ">";
      stack.pop_back();
      continue;
    }
    if (stack.empty()) ++root_count;
    if (self_closing || (html && kVoid.count(name) > 0)) continue;
    if (html && (name == "style" || name == "script")) {
      const std::size_t end = doc.find("</" + name + ">", i);
      if (end == std::string_view::npos) return "unterminated <" + name + ">";
      i = end + name.size() + 3;
      continue;
    }
    stack.push_back(name);
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  if (roots != nullptr) *roots = root_count;
  return "";
}

// A well-formed standalone SVG document: one <svg> root, balanced, nothing around it.
::testing::AssertionResult IsStandaloneSvg(const std::string& svg) {
  std::string_view s = svg;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  if (s.substr(0, 5) != "<svg ") return ::testing::AssertionFailure() << "does not start <svg";
  if (s.size() < 6 || s.substr(s.size() - 6) != "</svg>") {
    return ::testing::AssertionFailure() << "does not end </svg>";
  }
  if (s.find("xmlns=\"http://www.w3.org/2000/svg\"") == std::string_view::npos) {
    return ::testing::AssertionFailure() << "no SVG namespace";
  }
  int roots = 0;
  const std::string err = CheckBalanced(s, /*html=*/false, &roots);
  if (!err.empty()) return ::testing::AssertionFailure() << err;
  if (roots != 1) return ::testing::AssertionFailure() << roots << " root elements";
  return ::testing::AssertionSuccess();
}

std::size_t Count(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t pos = haystack.find(needle); pos != std::string_view::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

TEST(CheckBalancedTest, AcceptsAndRejects) {
  struct Case {
    const char* doc;
    bool html;
    bool ok;
  };
  const Case cases[] = {
      {"<svg><g><path d=\"M0 0\"/></g></svg>", false, true},
      {"<svg><g></svg>", false, false},
      {"<svg></g></svg>", false, false},
      {"<svg><text>a &lt; b</text></svg>", false, true},
      {"<svg><text>a < b</text></svg>", false, false},
      {"<svg><text>a & b</text></svg>", false, false},
      {"<svg><text>&nbsp;</text></svg>", false, false},
      {"<svg a=\"x<y\"></svg>", false, false},
      {"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>a>b{}</style></head></html>",
       true, true},
      {"<html><p></html>", true, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(CheckBalanced(c.doc, c.html).empty(), c.ok) << c.doc;
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics.

TEST(QuantileTest, Table) {
  struct Case {
    std::vector<double> values;
    double q;
    double want;  // NaN: expect NaN
  };
  const Case cases[] = {
      {{1, 2, 3, 4}, 0.5, 2.5},
      {{4, 1, 3, 2}, 0.25, 1.75},  // unsorted input
      {{1, 2, 3, 4}, 0.75, 3.25},
      {{1, 2, 3, 4}, 0.0, 1},
      {{1, 2, 3, 4}, 1.0, 4},
      {{7}, 0.25, 7},
      {{7}, 0.75, 7},
      {{kNaN, 1, 3, kInf}, 0.5, 2},  // non-finite values are skipped
      {{}, 0.5, kNaN},
      {{kNaN, kNaN}, 0.5, kNaN},
      {{1, 2}, 2.0, 2},  // q is clamped to [0, 1]
  };
  for (const Case& c : cases) {
    const double got = Quantile(c.values, c.q);
    if (std::isnan(c.want)) {
      EXPECT_TRUE(std::isnan(got)) << "q=" << c.q;
    } else {
      EXPECT_DOUBLE_EQ(got, c.want) << "q=" << c.q;
    }
  }
  EXPECT_DOUBLE_EQ(Median({5, 1, 9}), 5);
  EXPECT_DOUBLE_EQ(Median({5, 1, 9, 3}), 4);
}

TEST(MeanSdTest, Table) {
  struct Case {
    std::vector<double> values;
    double mean;  // NaN: expect NaN
    double sd;    // NaN: expect NaN
    std::size_t count;
  };
  const Case cases[] = {
      {{2, 4, 4, 4, 5, 5, 7, 9}, 5, std::sqrt(32.0 / 7.0), 8},
      {{1, 2, 3, 10}, 4, std::sqrt(50.0 / 3.0), 4},
      {{3}, 3, kNaN, 1},
      {{3, kNaN}, 3, kNaN, 1},
      {{}, kNaN, kNaN, 0},
      {{kNaN, -kInf}, kNaN, kNaN, 0},
      {{2, 2}, 2, 0, 2},
  };
  for (const Case& c : cases) {
    const MeanSd got = ComputeMeanSd(c.values);
    EXPECT_EQ(got.count, c.count);
    if (std::isnan(c.mean)) {
      EXPECT_TRUE(std::isnan(got.mean));
    } else {
      EXPECT_DOUBLE_EQ(got.mean, c.mean);
    }
    if (std::isnan(c.sd)) {
      EXPECT_TRUE(std::isnan(got.sd));
    } else {
      EXPECT_DOUBLE_EQ(got.sd, c.sd);
    }
  }
}

TEST(ComputeBandTest, MedianAndQuartilesPerBinWithRaggedCurvesAndNaN) {
  const std::vector<std::vector<double>> curves = {
      {0, 10, 20, kNaN, 40},
      {0, 12, 24, kNaN},
      {0, 14, kNaN, kNaN, 50, 60},
      {0, 16},
  };
  const std::vector<BandPoint> band = ComputeBand(curves);
  struct Want {
    int bin;
    double q25, median, q75;
  };
  const Want want[] = {
      {0, 0, 0, 0},
      {1, 11.5, 13, 14.5},  // {10, 12, 14, 16}
      {2, 21, 22, 23},      // {20, 24}
      // bin 3: all NaN -> left out
      {4, 42.5, 45, 47.5},  // {40, 50}
      {5, 60, 60, 60},      // one seed: the band degenerates
  };
  ASSERT_EQ(band.size(), std::size(want));
  for (std::size_t i = 0; i < band.size(); ++i) {
    EXPECT_EQ(band[i].bin, want[i].bin);
    EXPECT_DOUBLE_EQ(band[i].q25, want[i].q25) << "bin " << want[i].bin;
    EXPECT_DOUBLE_EQ(band[i].median, want[i].median) << "bin " << want[i].bin;
    EXPECT_DOUBLE_EQ(band[i].q75, want[i].q75) << "bin " << want[i].bin;
  }
  EXPECT_TRUE(ComputeBand({}).empty());
  EXPECT_TRUE(ComputeBand({{}, {}}).empty());
}

TEST(FormatFixedTest, Table) {
  struct Case {
    double value;
    int precision;
    const char* want;
  };
  const Case cases[] = {
      {0, 2, "0.00"},         {12.345678, 2, "12.35"}, {-0.001, 2, "0.00"},
      {-0.0, 2, "0.00"},      {-1.5, 1, "-1.5"},       {100, 0, "100"},
      {1e6, 2, "1000000.00"}, {kNaN, 2, "n/a"},        {kInf, 2, "n/a"},
  };
  for (const Case& c : cases) EXPECT_EQ(FormatFixed(c.value, c.precision), c.want) << c.value;
}

// ---------------------------------------------------------------------------------------------
// Plots.

// A curve that follows the ideal line up to `knee` % and then flattens towards 100 %.
std::vector<double> AllocCurve(double knee, int bins = 131) {
  std::vector<double> c;
  for (int x = 0; x < bins; ++x) {
    c.push_back(x < knee ? x : std::min(100.0, knee + (x - knee) * 0.5));
  }
  return c;
}

std::vector<double> FragCurve(double slope, int bins = 131) {
  std::vector<double> c;
  for (int x = 0; x < bins; ++x) c.push_back(slope * x);
  return c;
}

PolicyCurves Named(std::string name) {
  PolicyCurves p;
  p.policy = std::move(name);
  return p;
}

PolicyCurves Policy(std::string name, std::vector<double> knees) {
  PolicyCurves p;
  p.policy = std::move(name);
  for (double k : knees) {
    p.alloc_curves.push_back(AllocCurve(k));
    p.frag_curves.push_back(FragCurve(k / 1000));
    p.unallocated_at_100.push_back(100 - AllocCurve(k)[100]);
    p.frag_at_100.push_back(k / 10);
    p.decision_us_p99.push_back(k);
  }
  return p;
}

ReportInput SampleInput() {
  ReportInput in;
  in.title = "openb_pod_list_default, tune 1.3, seeds 42-44";
  in.subtitle = "devshare sim --seeds 42-44";
  in.facts = {{"GPUs", "6212"}, {"Pods", "8152"}};
  in.policies.push_back(Policy("random", {80, 82, 81}));
  in.policies.push_back(Policy("best_fit", {86, 88, 87}));
  in.policies.push_back(Policy("fgd", {92, 94, 93}));
  in.policies.push_back(Policy("devshare", {95, 96, 97}));
  return in;
}

// Edge-case inputs, each must still give well-formed plots and page.
struct InputCase {
  const char* name;
  std::function<ReportInput()> make;
};

const InputCase kInputCases[] = {
    {"sample", SampleInput},
    {"no_policies", [] { return ReportInput{}; }},
    {"policy_without_data",
     [] {
       ReportInput in;
       in.policies.push_back(Named("empty"));
       return in;
     }},
    {"one_seed",
     [] {
       ReportInput in;
       in.policies.push_back(Policy("only", {90}));
       return in;
     }},
    {"ragged_lengths",
     [] {
       ReportInput in = SampleInput();
       in.policies[0].alloc_curves[1].resize(60);
       in.policies[1].frag_curves[0].resize(10);
       in.policies[2].alloc_curves.push_back(AllocCurve(90, 150));  // beyond 130
       return in;
     }},
    {"nan_values",
     [] {
       ReportInput in = SampleInput();
       for (auto& curve : in.policies[0].alloc_curves) {
         for (int bin = 40; bin < 50; ++bin) curve[bin] = kNaN;
       }
       for (auto& curve : in.policies[1].frag_curves) curve.assign(curve.size(), kNaN);
       in.policies[2].unallocated_at_100 = {kNaN, kNaN};
       in.policies[3].decision_us_p99 = {kNaN, 5, kInf};
       return in;
     }},
    {"empty_vectors",
     [] {
       ReportInput in;
       PolicyCurves p;
       p.policy = "hollow";
       p.alloc_curves = {{}, {}};
       p.frag_curves = {{}};
       in.policies.push_back(p);
       return in;
     }},
    {"nasty_names",
     [] {
       ReportInput in = SampleInput();
       in.title = "<title> & \"quotes\"";
       in.policies[0].policy = "a<&>b";
       in.policies[1].policy = "\"quoted\" 'name'";
       in.policies[2].policy = "a-policy-name-that-is-much-too-long-for-the-legend";
       in.policies[3].policy = "\xC2\xB5-policy\x01";
       in.facts = {{"<k>", "v&v"}};
       return in;
     }},
    {"huge_values",
     [] {
       ReportInput in = SampleInput();
       in.policies[0].alloc_curves[0][100] = 1e308;
       in.policies[0].alloc_curves[1][101] = -1e308;
       in.policies[1].frag_curves[0][50] = -1e308;
       in.policies[1].frag_curves[1][50] = 1e308;
       in.policies[2].unallocated_at_100 = {1e308, 1e308};  // the mean overflows
       in.policies[3].unallocated_at_100 = {-1e308, 1e308};
       return in;
     }},
    {"many_policies",
     [] {
       ReportInput in;
       for (int i = 0; i < 12; ++i) {
         in.policies.push_back(Policy("p" + std::to_string(i), {80.0 + i, 81.0 + i}));
       }
       return in;
     }},
};

struct PlotCase {
  const char* name;
  std::string (*render)(const ReportInput&);
  const char* mark;  // the element that represents one policy
};

const PlotCase kPlotCases[] = {
    {"allocation", RenderAllocationPlot, "<path class=\"line\""},
    {"allocation_zoom", RenderAllocationZoomPlot, "<path class=\"line\""},
    {"fragmentation", RenderFragmentationPlot, "<path class=\"line\""},
    {"unallocated_bars", RenderUnallocatedBarChart, "<rect class=\"bar\""},
};

void PrintTo(const InputCase& c, std::ostream* os) { *os << c.name; }
void PrintTo(const PlotCase& c, std::ostream* os) { *os << c.name; }

class PlotTest : public ::testing::TestWithParam<std::tuple<PlotCase, InputCase>> {};

TEST_P(PlotTest, WellFormedStandaloneSvgWithOneMarkAndLegendEntryPerPolicy) {
  const auto& [plot, input] = GetParam();
  const ReportInput in = input.make();
  const std::string svg = plot.render(in);
  EXPECT_TRUE(IsStandaloneSvg(svg));
  EXPECT_EQ(Count(svg, plot.mark), in.policies.size());
  for (const PolicyCurves& p : in.policies) {
    const std::string escaped = EscapeXml(p.policy);
    EXPECT_NE(svg.find("data-policy=\"" + escaped + "\""), std::string::npos) << p.policy;
    if (p.policy.size() <= 28) {
      EXPECT_NE(svg.find(">" + escaped + "</text>"), std::string::npos) << p.policy;
    }
  }
  EXPECT_EQ(svg, plot.render(in)) << "not deterministic";
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_FALSE(std::regex_search(svg, std::regex("n/a[\" ]"))) << "n/a in an attribute";
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  for (char c : svg) EXPECT_LT(static_cast<unsigned char>(c), 0x80) << "non-ASCII output";
}

INSTANTIATE_TEST_SUITE_P(AllPlotsAllInputs, PlotTest,
                         ::testing::Combine(::testing::ValuesIn(kPlotCases),
                                            ::testing::ValuesIn(kInputCases)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) + "_" +
                                  std::get<1>(info.param).name;
                         });

TEST(PlotEscapingTest, NamesAreEscapedInEveryPlot) {
  ReportInput in = SampleInput();
  in.policies[0].policy = "x<&>y";
  for (const PlotCase& plot : kPlotCases) {
    const std::string svg = plot.render(in);
    EXPECT_EQ(svg.find("x<&>y"), std::string::npos) << plot.name;
    EXPECT_NE(svg.find(">x&lt;&amp;&gt;y</text>"), std::string::npos) << plot.name;
  }
}

TEST(LinePlotTest, IdealLineOnlyOnAllocationPlots) {
  const ReportInput in = SampleInput();
  EXPECT_EQ(Count(RenderAllocationPlot(in), "<path class=\"ideal\""), 1u);
  EXPECT_EQ(Count(RenderAllocationZoomPlot(in), "<path class=\"ideal\""), 1u);
  EXPECT_EQ(Count(RenderFragmentationPlot(in), "<path class=\"ideal\""), 0u);
  EXPECT_NE(RenderAllocationPlot(in).find("Ideal"), std::string::npos);
}

// The d attribute of the median line of `policy`.
std::string LineD(const std::string& svg, const std::string& policy) {
  const std::string key = "<path class=\"line\" data-policy=\"" + policy + "\" d=\"";
  const std::size_t pos = svg.find(key);
  if (pos == std::string::npos) return "<missing>";
  const std::size_t start = pos + key.size();
  return svg.substr(start, svg.find('"', start) - start);
}

TEST(LinePlotTest, OneBandPerPolicyWithSpreadAndNoneForOneSeed) {
  ReportInput in = SampleInput();
  in.policies.push_back(Policy("single", {90}));
  const std::string svg = RenderAllocationPlot(in);
  EXPECT_EQ(Count(svg, "<path class=\"band\""), 4u);
  EXPECT_EQ(svg.find("<path class=\"band\" data-policy=\"single\""), std::string::npos);
  EXPECT_NE(LineD(svg, "single").find('L'), std::string::npos);
}

TEST(LinePlotTest, NaNBinsSplitTheLineIntoSubpaths) {
  ReportInput in;
  in.policies.push_back(Policy("gappy", {90, 91}));
  for (auto& c : in.policies[0].alloc_curves) {
    c[30] = kNaN;
    c[60] = kNaN;
    c[62] = kNaN;  // bin 61 is left alone: a one-point subpath
  }
  const std::string d = LineD(RenderAllocationPlot(in), "gappy");
  EXPECT_EQ(Count(d, "M"), 4u) << d;  // 0-29, 31-59, 61, 63-130
  EXPECT_EQ(Count(d, " h0"), 1u) << d;
  EXPECT_EQ(Count(d, "L"), 29u + 28u + 67u) << d;
}

TEST(LinePlotTest, ZoomShowsOnlyBins75To120) {
  ReportInput in;
  in.policies.push_back(Policy("p", {90, 92}));
  const std::string d = LineD(RenderAllocationZoomPlot(in), "p");
  EXPECT_EQ(Count(d, "M"), 1u);
  EXPECT_EQ(Count(d, "L"), 45u);  // 46 points
}

// ---------------------------------------------------------------------------------------------
// Bar chart.

std::vector<double> BarHeights(const std::string& svg) {
  static const std::regex kBar(
      "<rect class=\"bar\" data-policy=\"[^\"]*\" x=\"[-0-9.]+\" y=\"[-0-9.]+\" "
      "width=\"[0-9.]+\" height=\"([0-9.]+)\"");
  std::vector<double> out;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), kBar); it != std::sregex_iterator();
       ++it) {
    out.push_back(std::stod((*it)[1].str()));
  }
  return out;
}

TEST(BarChartTest, OneBarPerPolicyWithHeightsOrderedLikeTheMeans) {
  ReportInput in;
  const std::vector<std::vector<double>> values = {{10, 12, 14}, {3, 3, 3}, {20},
                                                   {7.5, 8.5},   {0, 0},    {15, 16, 17, 18}};
  for (std::size_t i = 0; i < values.size(); ++i) {
    PolicyCurves p;
    p.policy = "policy" + std::to_string(i);
    p.unallocated_at_100 = values[i];
    in.policies.push_back(p);
  }
  const std::string svg = RenderUnallocatedBarChart(in);
  const std::vector<double> heights = BarHeights(svg);
  ASSERT_EQ(heights.size(), values.size());
  for (std::size_t a = 0; a < values.size(); ++a) {
    for (std::size_t b = 0; b < values.size(); ++b) {
      const double mean_a = ComputeMeanSd(values[a]).mean;
      const double mean_b = ComputeMeanSd(values[b]).mean;
      if (mean_a < mean_b) {
        EXPECT_LT(heights[a], heights[b]) << a << " vs " << b;
      }
    }
  }
  EXPECT_DOUBLE_EQ(heights[4], 0);
  // Error bars only where sd > 0 (two or more seeds that differ).
  EXPECT_EQ(Count(svg, "<g class=\"errorbar\""), 3u);
  // Value labels with the mean.
  for (const char* label : {">12.00<", ">3.00<", ">20.00<", ">8.00<", ">0.00<", ">16.50<"}) {
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  }
}

TEST(BarChartTest, PolicyWithoutValuesGetsAnEmptyBarLabelledNa) {
  ReportInput in;
  in.policies.push_back(Named("none"));
  in.policies.push_back(Policy("some", {90, 95}));
  const std::string svg = RenderUnallocatedBarChart(in);
  const std::vector<double> heights = BarHeights(svg);
  ASSERT_EQ(heights.size(), 2u);
  EXPECT_DOUBLE_EQ(heights[0], 0);
  EXPECT_GT(heights[1], 0);
  EXPECT_NE(svg.find(">n/a</text>"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// HTML page.

class HtmlTest : public ::testing::TestWithParam<InputCase> {};

TEST_P(HtmlTest, SelfContainedBalancedPageWithOneSvgPerPlot) {
  const ReportInput in = GetParam().make();
  const std::string html = RenderReportHtml(in);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  const std::string err = CheckBalanced(html, /*html=*/true);
  EXPECT_TRUE(err.empty()) << err;
  // Exactly one <svg per plot, each identical to the standalone rendering.
  EXPECT_EQ(Count(html, "<svg"), std::size(kPlotCases));
  EXPECT_EQ(Count(html, "</svg>"), std::size(kPlotCases));
  for (const PlotCase& plot : kPlotCases) {
    EXPECT_NE(html.find(plot.render(in)), std::string::npos) << plot.name;
  }
  // No external references: the only URLs are the SVG namespace declarations.
  const std::string xmlns = "xmlns=\"http://www.w3.org/2000/svg\"";
  EXPECT_EQ(Count(html, "http://"), Count(html, xmlns));
  EXPECT_EQ(Count(html, "https://"), 0u);
  EXPECT_EQ(Count(html, "<script"), 0u);
  EXPECT_EQ(Count(html, "<link"), 0u);
  EXPECT_EQ(Count(html, "<img"), 0u);
  EXPECT_EQ(Count(html, "url("), 0u);
  // The summary table has one body row per policy (or one "No policies." row).
  EXPECT_EQ(Count(html, "<table id=\"summary\""), 1u);
  const std::size_t body = html.find("<tbody>");
  ASSERT_NE(body, std::string::npos);
  const std::string tbody = html.substr(body, html.find("</tbody>") - body);
  EXPECT_EQ(Count(tbody, "<tr"), std::max<std::size_t>(in.policies.size(), 1));
  for (const PolicyCurves& p : in.policies) {
    EXPECT_NE(tbody.find(EscapeXml(p.policy) + "</th>"), std::string::npos) << p.policy;
  }
  EXPECT_EQ(html, RenderReportHtml(in)) << "not deterministic";
  for (char c : html) EXPECT_LT(static_cast<unsigned char>(c), 0x80) << "non-ASCII output";
}

INSTANTIATE_TEST_SUITE_P(AllInputs, HtmlTest, ::testing::ValuesIn(kInputCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(HtmlPageTest, TitleSubtitleAndFactsAreEscaped) {
  ReportInput in = SampleInput();
  in.title = "T<&>";
  in.subtitle = "cmd --x='<y>'";
  in.facts = {{"k<1>", "v&1"}};
  in.policies[0].policy = "p<&>";
  const std::string html = RenderReportHtml(in);
  EXPECT_NE(html.find("<title>T&lt;&amp;&gt;</title>"), std::string::npos);
  EXPECT_NE(html.find("<h1>T&lt;&amp;&gt;</h1>"), std::string::npos);
  EXPECT_NE(html.find("cmd --x=&#39;&lt;y&gt;&#39;"), std::string::npos);
  EXPECT_NE(html.find("<dt>k&lt;1&gt;</dt><dd>v&amp;1</dd>"), std::string::npos);
  for (const char* raw : {"T<&>", "<y>", "k<1>", "v&1", "p<&>"}) {
    EXPECT_EQ(html.find(raw), std::string::npos) << raw;
  }
}

TEST(HtmlPageTest, SummaryRowHasMeanMedianSdFragP99AndSeeds) {
  ReportInput in;
  PolicyCurves p;
  p.policy = "fgd";
  p.alloc_curves = {AllocCurve(90), AllocCurve(91), AllocCurve(92), AllocCurve(93)};
  p.unallocated_at_100 = {1, 2, 3, 10};  // mean 4, median 2.5, sd sqrt(50/3) = 4.08
  p.frag_at_100 = {0.5, 1.5};
  p.decision_us_p99 = {10, 20, 30};
  in.policies.push_back(p);
  in.policies.push_back(Policy("worse", {80}));
  const std::string html = RenderReportHtml(in);
  EXPECT_NE(html.find("fgd</th><td>4.00</td><td>2.50</td><td>4.08</td><td>1.00</td>"
                      "<td>20.00</td><td>4</td></tr>"),
            std::string::npos);
  // One seed: sd is not defined.
  EXPECT_NE(html.find("worse</th><td>10.00</td><td>10.00</td><td>n/a</td><td>8.00</td>"
                      "<td>80.00</td><td>1</td></tr>"),
            std::string::npos);
  // The lowest mean unallocated GPU is marked.
  EXPECT_EQ(Count(html, "<tr class=\"best\">"), 1u);
  EXPECT_LT(html.find("<tr class=\"best\">"), html.find("fgd</th>"));
}

TEST(HtmlPageTest, HoleTableAveragesSeedsPerBinAndIsBalanced) {
  ReportInput in;
  in.hole_bins = {"1-99", "100-199", "idle"};
  PolicyCurves p = Policy("fgd", {80});
  p.free_by_hole = {{0.5, 3.0, 1.0}, {0.7, 3.4, 0.0}};
  in.policies.push_back(p);
  in.policies.push_back(Policy("none", {80}));  // no hole data: n/a, not zero
  const std::string html = RenderReportHtml(in);
  EXPECT_EQ(CheckBalanced(html, true), "");
  EXPECT_EQ(Count(html, "<table id=\"holes\""), 1u);
  EXPECT_NE(html.find("<th scope=\"col\">100-199 milli free</th><th scope=\"col\">idle</th>"),
            std::string::npos);
  EXPECT_NE(html.find("fgd</th><td>0.60</td><td>3.20</td><td>0.50</td><td>4.30</td></tr>"),
            std::string::npos);
  EXPECT_NE(html.find("none</th><td>n/a</td><td>n/a</td><td>n/a</td><td>n/a</td></tr>"),
            std::string::npos);
  // Without bin labels there is no such table.
  in.hole_bins.clear();
  EXPECT_EQ(RenderReportHtml(in).find("id=\"holes\""), std::string::npos);
}

TEST(HtmlPageTest, NoPoliciesSaysSo) {
  const std::string html = RenderReportHtml(ReportInput{});
  EXPECT_NE(html.find("No policies."), std::string::npos);
  EXPECT_NE(html.find("devshare simulator report"), std::string::npos);  // default title
}

// ---------------------------------------------------------------------------------------------
// WriteReportHtml.

class WriteReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "report_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& name : List()) ::unlink((dir_ + "/" + name).c_str());
    ::rmdir(dir_.c_str());
  }
  std::vector<std::string> List() const {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(dir_.c_str())) {
      while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") out.push_back(name);
      }
      ::closedir(d);
    }
    return out;
  }
  static std::string Read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

TEST_F(WriteReportTest, WritesThePageAndLeavesNoTempFile) {
  const ReportInput in = SampleInput();
  const std::string path = dir_ + "/report.html";
  ASSERT_TRUE(WriteReportHtml(in, path).ok());
  EXPECT_EQ(Read(path), RenderReportHtml(in));
  EXPECT_EQ(List(), std::vector<std::string>{"report.html"});
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(WriteReportTest, ReplacesAnExistingFile) {
  const std::string path = dir_ + "/report.html";
  {
    std::ofstream f(path);
    f << "old contents that are longer than nothing";
  }
  const ReportInput in;
  ASSERT_TRUE(WriteReportHtml(in, path).ok());
  EXPECT_EQ(Read(path), RenderReportHtml(in));
  EXPECT_EQ(List().size(), 1u);
}

TEST_F(WriteReportTest, FailuresReturnStatusWithThePath) {
  struct Case {
    std::string path;
    StatusCode code;
  };
  ASSERT_EQ(::mkdir((dir_ + "/subdir").c_str(), 0755), 0);
  const Case cases[] = {
      {dir_ + "/missing/report.html", StatusCode::kNotFound},
      {dir_ + "/subdir", StatusCode::kFailedPrecondition},  // rename onto a directory
  };
  for (const Case& c : cases) {
    const Status s = WriteReportHtml(SampleInput(), c.path);
    EXPECT_FALSE(s.ok()) << c.path;
    EXPECT_EQ(s.code(), c.code) << s.ToString();
    EXPECT_NE(s.message().find(c.path), std::string::npos) << s.ToString();
  }
  EXPECT_EQ(List(), std::vector<std::string>{"subdir"});  // no temp file left behind
  ::rmdir((dir_ + "/subdir").c_str());
  const Status empty = WriteReportHtml(SampleInput(), "");
  EXPECT_TRUE(empty.IsInvalidArgument()) << empty.ToString();
}

}  // namespace
}  // namespace devshare::sim
