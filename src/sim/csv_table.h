// CsvTable: a CSV file read whole with a header of known column names (required and optional;
// an unknown or duplicate column is an error), then rows with their 1-based line numbers and
// typed field readers whose errors name "file:line: column 'x'". Shared by the simulator's trace
// readers (openb node/pod lists, the GenAI usage series).
// Thread-safety: value type; no shared state.
#ifndef DEVSHARE_SIM_CSV_TABLE_H_
#define DEVSHARE_SIM_CSV_TABLE_H_

#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/result.h"

namespace devshare::sim {

// Splits one CSV line on commas; supports double-quoted fields without embedded newlines.
inline bool SplitCsvLine(std::string_view line, std::vector<std::string>& out) {
  out.clear();
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(std::move(cur));
  return !quoted;
}

inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// A parsed CSV file: header name -> index, then rows with their 1-based line numbers.
class CsvTable {
 public:
  static Result<CsvTable> Load(const std::string& path, const std::vector<std::string>& required,
                               const std::vector<std::string>& optional) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::NotFound(path + ": cannot open file");
    CsvTable t;
    t.path_ = path;
    std::string line;
    int line_no = 0;
    bool have_header = false;
    std::vector<std::string> fields;
    while (std::getline(in, line)) {
      ++line_no;
      std::string_view v = Trim(line);
      if (line_no == 1 && v.size() >= 3 && v.substr(0, 3) == "\xEF\xBB\xBF") v.remove_prefix(3);
      if (v.empty()) continue;
      if (!SplitCsvLine(v, fields)) {
        return Status::InvalidArgument(path + ":" + std::to_string(line_no) +
                                       ": unterminated quoted field");
      }
      for (std::string& f : fields) f = std::string(Trim(f));
      if (!have_header) {
        have_header = true;
        for (size_t i = 0; i < fields.size(); ++i) {
          const std::string& name = fields[i];
          bool known = false;
          for (const auto& r : required) known = known || r == name;
          for (const auto& o : optional) known = known || o == name;
          if (!known) {
            return Status::InvalidArgument(path + ":" + std::to_string(line_no) +
                                           ": unknown column '" + name + "'");
          }
          if (!t.index_.emplace(name, i).second) {
            return Status::InvalidArgument(path + ":" + std::to_string(line_no) +
                                           ": duplicate column '" + name + "'");
          }
        }
        for (const auto& r : required) {
          if (!t.index_.count(r)) {
            return Status::InvalidArgument(path + ":" + std::to_string(line_no) +
                                           ": missing column '" + r + "'");
          }
        }
        t.width_ = fields.size();
        continue;
      }
      if (fields.size() != t.width_) {
        return Status::InvalidArgument(path + ":" + std::to_string(line_no) + ": expected " +
                                       std::to_string(t.width_) + " fields, found " +
                                       std::to_string(fields.size()));
      }
      t.rows_.push_back({line_no, fields});
    }
    if (in.bad()) return Status::DataLoss(path + ": read error");
    if (!have_header) return Status::InvalidArgument(path + ":1: empty file, no header");
    return t;
  }

  struct Row {
    int line;
    std::vector<std::string> fields;
  };
  const std::vector<Row>& rows() const { return rows_; }
  bool Has(const std::string& col) const { return index_.count(col) > 0; }

  std::string Where(const Row& r, const std::string& col) const {
    return path_ + ":" + std::to_string(r.line) + ": column '" + col + "'";
  }
  const std::string& Field(const Row& r, const std::string& col) const {
    return r.fields[index_.at(col)];
  }
  // Integer in [min, max]; errors name file, line and column.
  Result<int64_t> Int(const Row& r, const std::string& col, int64_t min, int64_t max) const {
    const std::string& s = Field(r, col);
    if (s.empty()) return Status::InvalidArgument(Where(r, col) + ": empty, expected a number");
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) {
      // Accept integral decimals such as "1000.0" that spreadsheets write.
      // The range check comes first: casting NaN, inf or |d| >= 2^63 to int64_t is undefined.
      double d = 0;
      auto [pd, ecd] = std::from_chars(s.data(), s.data() + s.size(), d);
      const bool parsed = ecd == std::errc() && pd == s.data() + s.size() && std::isfinite(d);
      if (parsed && std::fabs(d) >= 9.2e18) {
        return Status::InvalidArgument(Where(r, col) + ": " + s + " is out of range");
      }
      if (!parsed || d != std::trunc(d)) {
        return Status::InvalidArgument(Where(r, col) + ": '" + s + "' is not an integer");
      }
      v = static_cast<int64_t>(d);
    }
    if (v < min) {
      return Status::InvalidArgument(Where(r, col) + ": " + s + (min == 0 ? " is negative" : "") +
                                     (min == 0 ? "" : " < " + std::to_string(min)));
    }
    if (v > max) {
      return Status::InvalidArgument(Where(r, col) + ": " + s + " > " + std::to_string(max));
    }
    return v;
  }
  // Finite number in [min, max]; errors name file, line and column.
  Result<double> Double(const Row& r, const std::string& col, double min, double max) const {
    const std::string& s = Field(r, col);
    if (s.empty()) return Status::InvalidArgument(Where(r, col) + ": empty, expected a number");
    double d = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(d)) {
      return Status::InvalidArgument(Where(r, col) + ": '" + s + "' is not a number");
    }
    if (d < min || d > max) {
      return Status::InvalidArgument(Where(r, col) + ": " + s + " is outside " +
                                     std::to_string(min) + ".." + std::to_string(max));
    }
    return d;
  }
  Result<std::optional<int64_t>> OptionalInt(const Row& r, const std::string& col) const {
    if (!Has(col) || Field(r, col).empty()) return std::optional<int64_t>();
    DS_ASSIGN_OR_RETURN(int64_t v, Int(r, col, 0, INT64_MAX));
    return std::optional<int64_t>(v);
  }

 private:
  std::string path_;
  std::map<std::string, size_t> index_;
  size_t width_ = 0;
  std::vector<Row> rows_;
};

}  // namespace devshare::sim

#endif  // DEVSHARE_SIM_CSV_TABLE_H_
