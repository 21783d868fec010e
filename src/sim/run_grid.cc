// Shared preparation of a trace for the experiment runners.
#include "sim/run_grid.h"

namespace devshare::sim::internal {

Result<PreparedTrace> PrepareTrace(const std::vector<NodeRecord>& nodes,
                                   const std::vector<PodRecord>& pods,
                                   const std::vector<std::string>& policies,
                                   const std::vector<uint64_t>& seeds, double typical_coverage,
                                   const placement::PluginRegistry& registry) {
  if (nodes.empty()) return Status::InvalidArgument("the node list is empty");
  if (policies.empty()) return Status::InvalidArgument("no policies given");
  if (seeds.empty()) return Status::InvalidArgument("no seeds given");
  for (const std::string& p : policies) {
    if (!registry.HasPolicy(p)) {
      std::string known;
      for (const std::string& n : registry.PolicyNames()) known += (known.empty() ? "" : ", ") + n;
      return Status::InvalidArgument("unknown policy '" + p + "' (known: " + known + ")");
    }
  }
  PreparedTrace t;
  t.cluster = Summarize(nodes);
  if (t.cluster.gpu_milli == 0) {
    return Status::InvalidArgument("the cluster has no GPUs; the runners measure GPU allocation");
  }
  t.hosts.reserve(nodes.size());
  for (const NodeRecord& n : nodes) t.hosts.push_back(HostFromNode(n));
  t.orig = RequestsByName(pods);
  t.typical = std::make_shared<const placement::TypicalPods>(
      placement::TypicalPods::FromPods(t.orig, typical_coverage));
  return t;
}

void WriteTraceJson(JsonWriter& w, const ClusterSummary& cluster, int typical_shapes,
                    int typical_kept, double typical_coverage) {
  w.Key("cluster").BeginObject();
  w.Key("nodes").Int(cluster.nodes);
  w.Key("gpus").Int(cluster.gpus);
  w.Key("gpu_milli").Int(cluster.gpu_milli);
  w.Key("cpu_milli").Int(cluster.cpu_milli);
  w.Key("memory_mib").Int(cluster.memory_mib);
  w.EndObject();
  w.Key("typical_pods").BeginObject();
  w.Key("shapes").Int(typical_shapes);
  w.Key("kept").Int(typical_kept);
  w.Key("coverage").Double(typical_coverage);
  w.EndObject();
}

}  // namespace devshare::sim::internal
