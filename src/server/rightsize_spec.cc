// ParseRightSizeSpec: the VM spec's "rightsize" object.
#include "server/rightsize_spec.h"

#include <algorithm>
#include <string>
#include <vector>

#include "devshare/predict/forecaster.h"
#include "server/json_fields.h"

namespace devshare::server {
namespace {

constexpr int64_t kMaxCpuMilli = 100'000'000;
constexpr int64_t kMaxMemoryMib = int64_t{1} << 40;
constexpr int64_t kMaxGpuMemoryMib = int64_t{1} << 30;

// "cpu" / "memory": absent or false = off; true = on with the defaults; an object = on with
// bounds {min_<unit>, max_<unit>}.
Status ParseResource(FieldReader& r, const nlohmann::json& j, const char* name, const char* unit,
                     int64_t limit, int64_t def_min, int64_t def_max, RightSizeResource* out) {
  out->min = def_min;
  out->max = std::max(def_min, def_max);
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (it->is_boolean()) {
    DS_ASSIGN_OR_RETURN(out->enabled, r.Bool(name, false));
    return Status::Ok();
  }
  if (!it->is_object()) {
    return Status::InvalidArgument("field '" + r.FieldPath(name) +
                                   "': expected true, false or {min_" + unit + ", max_" + unit +
                                   "}");
  }
  DS_RETURN_IF_ERROR(r.Object(name, false).status());
  FieldReader b(*it, r.FieldPath(name));
  const std::string min_name = std::string("min_") + unit, max_name = std::string("max_") + unit;
  DS_ASSIGN_OR_RETURN(out->min, b.Int(min_name.c_str(), false, 1, limit, out->min));
  DS_ASSIGN_OR_RETURN(out->max,
                      b.Int(max_name.c_str(), false, 1, limit, std::max(out->min, out->max)));
  DS_RETURN_IF_ERROR(b.CheckNoUnknown());
  if (out->min > out->max) {
    return Status::InvalidArgument("field '" + b.FieldPath(min_name.c_str()) +
                                   "': " + std::to_string(out->min) + " is above " + max_name +
                                   " " + std::to_string(out->max));
  }
  out->enabled = true;
  return Status::Ok();
}

}  // namespace

Result<RightSizeSpec> ParseRightSizeSpec(const nlohmann::json& j, int64_t cpu_milli,
                                         int64_t memory_mib, const RightSizeGpuBase& gpu) {
  if (!j.is_object()) {
    return Status::InvalidArgument("field 'rightsize': expected an object");
  }
  RightSizeSpec s;
  FieldReader r(j, "rightsize");
  DS_RETURN_IF_ERROR(ParseResource(r, j, "cpu", "milli", kMaxCpuMilli, 100,
                                   1000 * ((cpu_milli + 999) / 1000), &s.cpu));
  DS_RETURN_IF_ERROR(
      ParseResource(r, j, "memory", "mib", kMaxMemoryMib, 128, 2 * memory_mib, &s.memory));
  const int64_t gpu_min = gpu.memory_mib > 0 ? std::min<int64_t>(1024, gpu.memory_mib) : 1024;
  DS_RETURN_IF_ERROR(ParseResource(r, j, "gpu_memory", "mib", kMaxGpuMemoryMib, gpu_min,
                                   2 * gpu.memory_mib, &s.gpu_memory));
  if (s.gpu_memory.enabled) {
    if (!gpu.share) {
      return Status::InvalidArgument(
          "field 'rightsize.gpu_memory': the VM holds no free-size share of one GPU (a whole "
          "GPU, a partition or a vGPU profile has a fixed framebuffer)");
    }
    const auto it = j.find("gpu_memory");
    if (gpu.memory_mib == 0 && !(it->is_object() && it->contains("max_mib"))) {
      return Status::InvalidArgument(
          "field 'rightsize.gpu_memory.max_mib': the GPU share asks no memory_mib, so there is "
          "no default bound; give max_mib");
    }
  }
  DS_ASSIGN_OR_RETURN(s.gpu_move, r.Bool("gpu_move", false, false));
  if (s.gpu_move && !s.gpu_memory.enabled) {
    return Status::InvalidArgument(
        "field 'rightsize.gpu_move': moves a GPU share; needs gpu_memory");
  }
  DS_ASSIGN_OR_RETURN(s.forecaster, r.String("forecaster", false, 63));
  DS_ASSIGN_OR_RETURN(s.margin, r.Double("margin", false, 0, 10, s.margin));
  DS_ASSIGN_OR_RETURN(s.quantile, r.Double("quantile", false, 0.5, 0.999, s.quantile));
  DS_ASSIGN_OR_RETURN(s.period_s, r.Int("period_s", false, 0, 86'400, s.period_s));
  DS_ASSIGN_OR_RETURN(s.horizon_s, r.Int("horizon_s", false, 1, 7 * 86'400, s.horizon_s));
  DS_ASSIGN_OR_RETURN(s.shrink_interval_s,
                      r.Int("shrink_interval_s", false, 0, 7 * 86'400, s.shrink_interval_s));
  DS_ASSIGN_OR_RETURN(s.warmup_samples,
                      r.Int("warmup_samples", false, 0, 10'000, s.warmup_samples));
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  if (s.horizon_s < s.period_s) {
    return Status::InvalidArgument("field 'rightsize.horizon_s': " + std::to_string(s.horizon_s) +
                                   " is shorter than period_s " + std::to_string(s.period_s));
  }
  if (!s.forecaster.empty()) {
    predict::ForecasterRegistry registry;
    predict::RegisterBuiltinForecasters(registry);
    const std::vector<std::string> names = registry.Names();
    if (std::find(names.begin(), names.end(), s.forecaster) == names.end()) {
      std::string known;
      for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
      return Status::InvalidArgument("field 'rightsize.forecaster': unknown forecaster '" +
                                     s.forecaster + "' (known: " + known + ")");
    }
  }
  return s;
}

nlohmann::json RightSizeJson(const RightSizeSpec& s) {
  auto resource = [](const RightSizeResource& r, const char* unit) -> nlohmann::json {
    if (!r.enabled) return false;
    return {{std::string("min_") + unit, r.min}, {std::string("max_") + unit, r.max}};
  };
  nlohmann::json j = {{"cpu", resource(s.cpu, "milli")},
                      {"memory", resource(s.memory, "mib")},
                      {"gpu_memory", resource(s.gpu_memory, "mib")},
                      {"gpu_move", s.gpu_move},
                      {"margin", s.margin},
                      {"quantile", s.quantile},
                      {"period_s", s.period_s},
                      {"horizon_s", s.horizon_s},
                      {"shrink_interval_s", s.shrink_interval_s},
                      {"warmup_samples", s.warmup_samples}};
  if (!s.forecaster.empty()) j["forecaster"] = s.forecaster;
  return j;
}

}  // namespace devshare::server
