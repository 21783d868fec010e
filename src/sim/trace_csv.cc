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
#include "sim/csv_table.h"

namespace devshare::sim {
namespace {

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
