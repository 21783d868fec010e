// StatsTracker: the stats document (docs/storage.md).
#include "devshare/storage/volume_stats.h"

#include <cmath>

#include "devshare/core/json_writer.h"

namespace devshare::storage {

std::string StatsTracker::Render(TimePoint now, const std::vector<PoolSnapshot>& pools,
                                 const std::vector<VolumeSnapshot>& volumes) {
  double dt_s = last_ ? std::chrono::duration<double>(now - *last_).count() : 0;
  last_ = now;
  JsonWriter w;
  w.BeginObject();
  w.Key("time_ms").Int(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  w.Key("pools").BeginArray();
  std::map<std::string, uint64_t> pool_cost;
  for (const PoolSnapshot& p : pools) {
    uint64_t prev = pool_cost_.count(p.pool.name) ? pool_cost_[p.pool.name] : p.served_cost;
    pool_cost[p.pool.name] = p.served_cost;
    w.BeginObject();
    w.Key("name").String(p.pool.name);
    w.Key("tier").String(p.pool.tier);
    w.Key("capacity_iops").Double(p.pool.capacity_iops);
    w.Key("scheduler").String(PoolSchedulerName(p.pool.scheduler));
    w.Key("queued").Uint(p.queued);
    w.Key("served_cost_last_window").Uint(p.served_cost >= prev ? p.served_cost - prev : 0);
    w.EndObject();
  }
  pool_cost_ = std::move(pool_cost);
  w.EndArray();

  w.Key("volumes").BeginArray();
  std::map<std::string, VolumeState> states;
  for (const VolumeSnapshot& v : volumes) {
    const std::string& name = v.config.export_name;
    auto it = volumes_.find(name);
    VolumeState st = it != volumes_.end() ? it->second : VolumeState{v.counters.ops(), 0};
    uint64_t ops = v.counters.ops();
    uint64_t window = ops >= st.last_ops ? ops - st.last_ops : 0;
    if (dt_s > 0) {
      double iops = static_cast<double>(window) / dt_s;
      double alpha = 1 - std::exp(-dt_s / std::chrono::duration<double>(kHeatTimeConstant).count());
      st.heat_iops += alpha * (iops - st.heat_iops);
    }
    st.last_ops = ops;
    states[name] = st;

    const VolumeCounterValues& c = v.counters;
    w.BeginObject();
    w.Key("export").String(name);
    w.Key("pool").String(v.pool);
    w.Key("file").String(v.file);
    w.Key("size_bytes").Uint(v.config.size_bytes);
    w.Key("ops_read").Uint(c.ops_read);
    w.Key("ops_write").Uint(c.ops_write);
    w.Key("ops_flush").Uint(c.ops_flush);
    w.Key("ops_trim").Uint(c.ops_trim);
    w.Key("bytes_read").Uint(c.bytes_read);
    w.Key("bytes_written").Uint(c.bytes_written);
    w.Key("cost_served").Uint(c.cost_served);
    w.Key("errors").Uint(c.errors);
    w.Key("heat_iops").Double(st.heat_iops, 3);
    w.Key("served_last_window").Uint(window);
    w.Key("moving");
    if (v.moving) {
      w.BeginObject();
      w.Key("to_pool").String(v.moving->to_pool);
      w.Key("to_file").String(v.moving->to_file);
      w.Key("copied_bytes").Uint(v.moving->copied_bytes);
      w.Key("total_bytes").Uint(v.moving->total_bytes);
      w.EndObject();
    } else {
      w.Null();
    }
    w.EndObject();
  }
  volumes_ = std::move(states);
  w.EndArray();
  w.EndObject();
  return w.str() + "\n";
}

double StatsTracker::heat_iops(const std::string& export_name) const {
  auto it = volumes_.find(export_name);
  return it == volumes_.end() ? 0 : it->second.heat_iops;
}

}  // namespace devshare::storage
