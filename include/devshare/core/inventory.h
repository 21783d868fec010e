// Inventory: OpenStack Placement's capacity tuple for one resource class on one provider.
// Thread-safety: a value type; no internal synchronisation.
#ifndef DEVSHARE_CORE_INVENTORY_H_
#define DEVSHARE_CORE_INVENTORY_H_

#include <cstdint>
#include <limits>
#include <string_view>

#include "devshare/core/status.h"

namespace devshare {

struct Inventory {
  int64_t total = 0;
  int64_t reserved = 0;  // held back for the host itself
  int64_t min_unit = 1;  // smallest amount one allocation may take
  int64_t max_unit = std::numeric_limits<int64_t>::max();
  int64_t step_size = 1;          // allocations are multiples of this
  double allocation_ratio = 1.0;  // overcommit factor

  static Inventory Of(int64_t total) {
    Inventory inv;
    inv.total = total;
    return inv;
  }
  // Usable amount: (total - reserved) * allocation_ratio, as Placement computes it.
  int64_t Capacity() const {
    return static_cast<int64_t>(static_cast<double>(total - reserved) * allocation_ratio);
  }
  // OK if the tuple itself is consistent (non-negative, reserved <= total, min <= max, ratio > 0).
  Status Validate(std::string_view what) const;
  // OK if one allocation of `amount` respects min_unit, max_unit and step_size (capacity not
  // checked).
  Status CheckAmount(int64_t amount, std::string_view what) const;
};

}  // namespace devshare

#endif  // DEVSHARE_CORE_INVENTORY_H_
