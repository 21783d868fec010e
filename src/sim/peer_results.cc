// Reader of the FGD artifact's per-seed allocation results.
#include "devshare/sim/peer_results.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace devshare::sim {
namespace {

std::string MapPolicy(const std::string& peer) {
  static const std::map<std::string, std::string> kNames = {{"01-Random", "random"},
                                                            {"02-DotProd", "dot_product"},
                                                            {"03-GpuClustering", "gpu_clustering"},
                                                            {"04-GpuPacking", "gpu_packing"},
                                                            {"05-BestFit", "best_fit"},
                                                            {"06-FGD", "fgd"}};
  auto it = kNames.find(peer);
  return it == kNames.end() ? "" : it->second;
}

std::vector<std::string> Split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

}  // namespace

Result<PeerResults> ReadPeerAllocation(const std::string& path, double tune) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(path + ": cannot open file");
  std::string line;
  int line_no = 0;
  int col100 = -1;
  std::map<std::pair<std::string, std::string>, std::vector<double>> values;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> f = Split(line);
    if (col100 < 0) {
      for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] == "100") col100 = static_cast<int>(i);
      }
      if (f.size() < 4 || f[0] != "workload" || f[1] != "sc_policy" || col100 < 0) {
        return Status::InvalidArgument(path + ":" + std::to_string(line_no) +
                                       ": expected header workload,sc_policy,tune,seed,...,100");
      }
      continue;
    }
    if (static_cast<int>(f.size()) <= col100) {
      return Status::InvalidArgument(path + ":" + std::to_string(line_no) + ": too few columns");
    }
    char* end = nullptr;
    const double row_tune = std::strtod(f[2].c_str(), &end);
    if (end == f[2].c_str()) {
      return Status::InvalidArgument(path + ":" + std::to_string(line_no) + ": column 'tune': '" +
                                     f[2] + "' is not a number");
    }
    if (std::fabs(row_tune - tune) > 1e-9) continue;
    const std::string policy = MapPolicy(f[1]);
    if (policy.empty()) continue;
    const double alloc = std::strtod(f[col100].c_str(), &end);
    if (end == f[col100].c_str()) {
      return Status::InvalidArgument(path + ":" + std::to_string(line_no) + ": column '100': '" +
                                     f[col100] + "' is not a number");
    }
    values[{f[0], policy}].push_back(100.0 - alloc);
  }
  PeerResults out;
  for (auto& [key, v] : values) {
    PeerStat s;
    s.seeds = static_cast<int>(v.size());
    for (double x : v) s.unalloc_mean += x;
    s.unalloc_mean /= static_cast<double>(v.size());
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    s.unalloc_median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    out[key] = s;
  }
  return out;
}

double PeerTolerance(const std::string& policy) { return policy == "random" ? 1.0 : 0.5; }

std::string WorkloadName(const std::string& pods_path) {
  return std::filesystem::path(pods_path).stem().string();
}

}  // namespace devshare::sim
