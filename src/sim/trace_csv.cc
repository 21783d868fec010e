// openb CSV reader and writer. Strict: every problem is reported as
// "<file>:<line>: column '<name>': <problem>" with code InvalidArgument; nothing is half-read.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string_view>

#include "devshare/core/atomic_file.h"
#include "devshare/core/device.h"
#include "devshare/sim/trace.h"

namespace devshare::sim {
namespace {

// Splits one CSV line on commas; supports double-quoted fields without embedded newlines.
bool SplitCsvLine(std::string_view line, std::vector<std::string>& out) {
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

std::string_view Trim(std::string_view s) {
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

std::vector<std::string> SplitSpec(const std::string& spec) {
  std::vector<std::string> out;
  if (spec.empty()) return out;
  size_t start = 0;
  while (true) {
    size_t bar = spec.find('|', start);
    std::string part =
        spec.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
    if (!part.empty()) out.push_back(part);
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return out;
}

constexpr int64_t kMaxCpuMilli = int64_t{1} << 40;
constexpr int64_t kMaxMemoryMib = int64_t{1} << 40;
constexpr int64_t kMaxGpusPerNode = 1024;

std::string JoinSpec(const std::vector<std::string>& spec) {
  std::string s;
  for (size_t i = 0; i < spec.size(); ++i) s += (i ? "|" : "") + spec[i];
  return s;
}

// A text field as the reader reads it back: double-quoted (quotes doubled) when it holds a comma
// or a quote, which would otherwise shift every later column.
std::string CsvField(const std::string& v) {
  if (v.find_first_of(",\"") == std::string::npos) return v;
  std::string s = "\"";
  for (char c : v) s += c == '"' ? std::string("\"\"") : std::string(1, c);
  return s + "\"";
}

}  // namespace

Result<std::vector<NodeRecord>> ReadNodeCsv(const std::string& path) {
  DS_ASSIGN_OR_RETURN(CsvTable t,
                      CsvTable::Load(path, {"sn", "cpu_milli", "memory_mib", "gpu", "model"}, {}));
  std::vector<NodeRecord> out;
  out.reserve(t.rows().size());
  for (const CsvTable::Row& r : t.rows()) {
    NodeRecord n;
    n.line = r.line;
    n.name = t.Field(r, "sn");
    if (n.name.empty()) return Status::InvalidArgument(t.Where(r, "sn") + ": empty node name");
    DS_ASSIGN_OR_RETURN(n.cpu_milli, t.Int(r, "cpu_milli", 0, kMaxCpuMilli));
    DS_ASSIGN_OR_RETURN(n.memory_mib, t.Int(r, "memory_mib", 0, kMaxMemoryMib));
    DS_ASSIGN_OR_RETURN(int64_t gpus, t.Int(r, "gpu", 0, kMaxGpusPerNode));
    n.gpus = static_cast<int>(gpus);
    n.model = t.Field(r, "model");
    if (n.gpus > 0 && n.model.empty()) {
      return Status::InvalidArgument(t.Where(r, "model") + ": node has " + std::to_string(n.gpus) +
                                     " GPUs but no model");
    }
    out.push_back(std::move(n));
  }
  return out;
}

Result<std::vector<PodRecord>> ReadPodCsv(const std::string& path) {
  DS_ASSIGN_OR_RETURN(
      CsvTable t, CsvTable::Load(path, {"name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"},
                                 {"gpu_spec", "qos", "pod_phase", "creation_time", "deletion_time",
                                  "scheduled_time"}));
  std::vector<PodRecord> out;
  out.reserve(t.rows().size());
  for (const CsvTable::Row& r : t.rows()) {
    PodRecord p;
    p.line = r.line;
    p.name = t.Field(r, "name");
    if (p.name.empty()) return Status::InvalidArgument(t.Where(r, "name") + ": empty pod name");
    DS_ASSIGN_OR_RETURN(p.cpu_milli, t.Int(r, "cpu_milli", 0, kMaxCpuMilli));
    DS_ASSIGN_OR_RETURN(p.memory_mib, t.Int(r, "memory_mib", 0, kMaxMemoryMib));
    DS_ASSIGN_OR_RETURN(int64_t num_gpu, t.Int(r, "num_gpu", 0, kMaxGpusPerNode));
    DS_ASSIGN_OR_RETURN(int64_t gpu_milli, t.Int(r, "gpu_milli", 0, kMilliPerDevice));
    p.num_gpu = static_cast<int>(num_gpu);
    p.gpu_milli = static_cast<int>(gpu_milli);
    if (p.num_gpu == 0 && p.gpu_milli != 0) {
      return Status::InvalidArgument(t.Where(r, "gpu_milli") + ": " + std::to_string(gpu_milli) +
                                     " milli given but num_gpu is 0");
    }
    if (p.num_gpu > 0 && p.gpu_milli == 0) {
      return Status::InvalidArgument(t.Where(r, "gpu_milli") + ": 0 milli with num_gpu " +
                                     std::to_string(num_gpu));
    }
    if (p.num_gpu > 1 && p.gpu_milli < kMilliPerDevice) {
      return Status::InvalidArgument(t.Where(r, "gpu_milli") + ": " + std::to_string(gpu_milli) +
                                     " < 1000 with num_gpu " + std::to_string(num_gpu) +
                                     " (only single-GPU pods may share a GPU)");
    }
    if (t.Has("gpu_spec")) p.gpu_spec = SplitSpec(t.Field(r, "gpu_spec"));
    if (t.Has("qos")) p.qos = t.Field(r, "qos");
    if (t.Has("pod_phase")) p.phase = t.Field(r, "pod_phase");
    DS_ASSIGN_OR_RETURN(p.creation_time_s, t.OptionalInt(r, "creation_time"));
    DS_ASSIGN_OR_RETURN(p.deletion_time_s, t.OptionalInt(r, "deletion_time"));
    DS_ASSIGN_OR_RETURN(p.scheduled_time_s, t.OptionalInt(r, "scheduled_time"));
    out.push_back(std::move(p));
  }
  return out;
}

Status WriteNodeCsv(const std::string& path, const std::vector<NodeRecord>& nodes) {
  std::string s = "sn,cpu_milli,memory_mib,gpu,model\n";
  s.reserve(nodes.size() * 48);
  for (const NodeRecord& n : nodes) {
    s += CsvField(n.name) + "," + std::to_string(n.cpu_milli) + "," + std::to_string(n.memory_mib) +
         "," + std::to_string(n.gpus) + "," + CsvField(n.model) + "\n";
  }
  return WriteFileAtomically(path, s);
}

Status WritePodCsv(const std::string& path, const std::vector<PodRecord>& pods) {
  std::string s =
      "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
      "deletion_time,scheduled_time\n";
  s.reserve(pods.size() * 96);
  auto opt = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : std::string(); };
  for (const PodRecord& p : pods) {
    s += CsvField(p.name) + "," + std::to_string(p.cpu_milli) + "," + std::to_string(p.memory_mib) +
         "," + std::to_string(p.num_gpu) + "," + std::to_string(p.gpu_milli) + "," +
         CsvField(JoinSpec(p.gpu_spec)) + "," + CsvField(p.qos) + "," + CsvField(p.phase) + "," +
         opt(p.creation_time_s) + "," + opt(p.deletion_time_s) + "," + opt(p.scheduled_time_s) +
         "\n";
  }
  return WriteFileAtomically(path, s);
}

}  // namespace devshare::sim
