// Inventory validation with messages that name the resource and the offending numbers.
#include "devshare/core/inventory.h"

#include <string>

namespace devshare {

Status Inventory::Validate(std::string_view what) const {
  const std::string w(what);
  if (total < 0) return Status::InvalidArgument(w + ": total " + std::to_string(total) + " < 0");
  if (reserved < 0 || reserved > total) {
    return Status::InvalidArgument(w + ": reserved " + std::to_string(reserved) +
                                   " outside [0, total " + std::to_string(total) + "]");
  }
  if (min_unit < 1 || max_unit < min_unit) {
    return Status::InvalidArgument(w + ": min_unit " + std::to_string(min_unit) + " / max_unit " +
                                   std::to_string(max_unit) + " inconsistent");
  }
  if (step_size < 1) return Status::InvalidArgument(w + ": step_size must be >= 1");
  if (!(allocation_ratio > 0)) return Status::InvalidArgument(w + ": allocation_ratio must be > 0");
  return Status::Ok();
}

Status Inventory::CheckAmount(int64_t amount, std::string_view what) const {
  const std::string w(what);
  if (amount < min_unit) {
    return Status::InvalidArgument(w + ": requested " + std::to_string(amount) + " < min_unit " +
                                   std::to_string(min_unit));
  }
  if (amount > max_unit) {
    return Status::InvalidArgument(w + ": requested " + std::to_string(amount) + " > max_unit " +
                                   std::to_string(max_unit));
  }
  if (amount % step_size != 0) {
    return Status::InvalidArgument(w + ": requested " + std::to_string(amount) +
                                   " is not a multiple of step_size " + std::to_string(step_size));
  }
  return Status::Ok();
}

}  // namespace devshare
