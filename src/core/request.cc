// Request validation.
#include "devshare/core/request.h"

#include <algorithm>

namespace devshare {

bool GpuRequest::AcceptsModel(const std::string& model) const {
  return models.empty() || std::find(models.begin(), models.end(), model) != models.end();
}

Status VmRequest::Validate() const {
  const std::string who = "request " + id;
  if (cpu_milli < 0) return Status::InvalidArgument(who + ": cpu_milli < 0");
  if (memory_mib < 0) return Status::InvalidArgument(who + ": memory_mib < 0");
  if (gpu.count < 0) return Status::InvalidArgument(who + ": gpu count < 0");
  if (gpu.count == 0) {
    if (gpu.milli != 0 || !gpu.profile.empty()) {
      return Status::InvalidArgument(who + ": gpu milli/profile given with gpu count 0");
    }
    return Status::Ok();
  }
  if (!gpu.profile.empty()) {
    if (gpu.count != 1) return Status::InvalidArgument(who + ": a partition profile needs count 1");
    return Status::Ok();
  }
  if (gpu.milli <= 0 || gpu.milli > kMilliPerDevice) {
    return Status::InvalidArgument(who + ": gpu milli " + std::to_string(gpu.milli) +
                                   " outside 1..1000");
  }
  if (gpu.count > 1 && gpu.milli != kMilliPerDevice) {
    return Status::InvalidArgument(who + ": " + std::to_string(gpu.count) + " GPUs of " +
                                   std::to_string(gpu.milli) +
                                   " milli: multi-GPU requests must take whole GPUs");
  }
  return Status::Ok();
}

}  // namespace devshare
