// TieringPolicy: which volume of a host to move live between its storage pools, from each
// volume's I/O heat (the nbdkit plugin's heat_iops: an EWMA of its IOPS, 30 s time constant).
// A volume is hot when its heat reaches hot_fraction of its pool's capacity and a pool of a
// faster tier exists; cold when its heat is at most cold_fraction of the capacity of the next
// slower pool (so that, moved down, it is far from hot there: cold_fraction < hot_fraction is
// the hysteresis). A condition must hold for dwell_samples samples in a row; a moved volume
// rests for `cooldown`; one move at a time per host, hot ones first (hottest first), then cold
// ones (coldest first); the target pool must have the volume's GiB and IOPS reservation free.
// docs/storage.md, "Tiering". Thread-safety: not thread-safe (one caller, the agent's tiering
// thread); time is passed in.
#ifndef DEVSHARE_HOST_TIERING_POLICY_H_
#define DEVSHARE_HOST_TIERING_POLICY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "devshare/core/clock.h"

namespace devshare::host {

struct TieringOptions {
  double hot_fraction = 0.25;
  double cold_fraction = 0.05;
  int dwell_samples = 3;
  Duration cooldown = std::chrono::seconds(120);
};

struct TieringPool {
  std::string name;
  std::string tier;  // nvme | ssd | hdd
  int64_t capacity_iops = 0;
  int64_t capacity_gib = 0;
  int64_t used_gib = 0;       // volumes on it
  int64_t reserved_iops = 0;  // their reservations
};

struct TieringVolume {
  std::string vm_id;
  std::string volume;
  std::string pool;
  double heat_iops = 0;
  int64_t size_gib = 0;
  int64_t reservation_iops = 0;
  bool moving = false;  // a live move runs
};

struct TieringMove {
  std::string vm_id;
  std::string volume;
  std::string from_pool;
  std::string to_pool;
  std::string to_tier;
  std::string reason;  // "hot: heat 380 IOPS >= 100 (0.25 of pool slow)"
};

class TieringPolicy {
 public:
  explicit TieringPolicy(TieringOptions options = {}) : options_(options) {}

  // One sample of the host's pools and volumes at `now`: at most one move (none while any
  // volume is moving). A returned move starts the volume's cooldown.
  std::optional<TieringMove> Observe(TimePoint now, const std::vector<TieringPool>& pools,
                                     const std::vector<TieringVolume>& volumes);
  // The move could not be made (the server refused it): the volume rests for the cooldown too.
  void Refused(const std::string& vm_id, const std::string& volume, TimePoint now);

  const TieringOptions& options() const { return options_; }

 private:
  struct State {
    int hot = 0, cold = 0;  // samples in a row
    std::optional<TimePoint> rest_until;
  };
  TieringOptions options_;
  std::map<std::string, State> state_;  // by "<vm>/<volume>"
};

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_TIERING_POLICY_H_
