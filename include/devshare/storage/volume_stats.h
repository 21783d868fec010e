// StatsTracker: turns snapshots of pools and volumes into the stats file's JSON (docs/storage.md
// "Stats"): cumulative counters, per-window deltas, and heat_iops, an EWMA of each volume's IOPS
// with a 30 s time constant (heat += (1 - exp(-dt/30 s)) * (iops_in_window - heat)).
// Thread-safety: not thread-safe; one tracker per stats writer thread.
#ifndef DEVSHARE_STORAGE_VOLUME_STATS_H_
#define DEVSHARE_STORAGE_VOLUME_STATS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "devshare/core/clock.h"
#include "devshare/storage/pool_dispatcher.h"
#include "devshare/storage/volume.h"

namespace devshare::storage {

inline constexpr Duration kHeatTimeConstant = std::chrono::seconds(30);

class StatsTracker {
 public:
  // The stats document at `now` (`now` never goes backwards). The first call's window starts at
  // the first call.
  std::string Render(TimePoint now, const std::vector<PoolSnapshot>& pools,
                     const std::vector<VolumeSnapshot>& volumes);

  // heat_iops of `export_name` as of the last Render (0 when unknown).
  double heat_iops(const std::string& export_name) const;

 private:
  struct VolumeState {
    uint64_t last_ops = 0;
    double heat_iops = 0;
  };
  std::optional<TimePoint> last_;
  std::map<std::string, VolumeState> volumes_;
  std::map<std::string, uint64_t> pool_cost_;
};

}  // namespace devshare::storage

#endif  // DEVSHARE_STORAGE_VOLUME_STATS_H_
