// openb trace records (Alibaba cluster-trace-gpu-v2023 node and pod CSV files) and their CSV
// reader/writer. Readers accept both pod column sets (with and without gpu_spec/qos/times).
// Thread-safety: free functions with no shared state; records are value types.
#ifndef DEVSHARE_SIM_TRACE_H_
#define DEVSHARE_SIM_TRACE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "devshare/core/result.h"

namespace devshare::sim {

struct NodeRecord {
  std::string name;  // column sn
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  int gpus = 0;
  std::string model;  // empty for CPU-only nodes
  int line = 0;       // 1-based line in the source file (0 when generated)
};

struct PodRecord {
  std::string name;
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  int num_gpu = 0;
  int gpu_milli = 0;                  // per GPU; < 1000 only when num_gpu == 1
  std::vector<std::string> gpu_spec;  // acceptable models ('A|B'); empty = any
  std::string qos;
  std::string phase;
  std::optional<int64_t> creation_time_s;
  std::optional<int64_t> deletion_time_s;
  std::optional<int64_t> scheduled_time_s;
  int line = 0;
};

// Reads a node list. Errors (InvalidArgument) name "file:line: column 'x': problem".
Result<std::vector<NodeRecord>> ReadNodeCsv(const std::string& path);
// Reads a pod list; validates num_gpu/gpu_milli ranges as the openb trace defines them.
Result<std::vector<PodRecord>> ReadPodCsv(const std::string& path);

// Writers produce the full column set (pods: with gpu_spec, qos, phase and times) and write the
// file atomically (WriteFileAtomically: errors name the path).
Status WriteNodeCsv(const std::string& path, const std::vector<NodeRecord>& nodes);
Status WritePodCsv(const std::string& path, const std::vector<PodRecord>& pods);

}  // namespace devshare::sim

#endif  // DEVSHARE_SIM_TRACE_H_
