// Htb: one parent's bandwidth (a NIC PF) shared by leaf classes (its VFs) with rate, ceil and
// borrowing, after Linux tc-htb (reference qos.md §6.2); two levels.
// Thread-safety: not thread-safe.
#ifndef DEVSHARE_QOS_HTB_H_
#define DEVSHARE_QOS_HTB_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "devshare/core/clock.h"
#include "devshare/core/result.h"
#include "devshare/qos/token_bucket.h"

namespace devshare::qos {

struct HtbClassSpec {
  std::string name;
  double rate_bytes_per_s = 0;  // guaranteed
  double ceil_bytes_per_s = 0;  // most it may reach by borrowing; 0 = rate (tc's default)
  int64_t burst_bytes = 0;      // 0 = max(rate x 1 ms, 2 x mtu)
  int64_t cburst_bytes = 0;     // 0 = max(ceil x 1 ms, 2 x mtu)
  int prio = 0;                 // 0..7, lower borrows first
  int64_t quantum_bytes = 0;    // 0 = rate / r2q, clamped to 1000..200000 like the kernel
};

struct HtbOptions {
  double parent_rate_bytes_per_s = 0;  // the parent's rate = ceil
  int64_t parent_burst_bytes = 0;      // 0 = max(rate x 1 ms, 2 x mtu)
  int64_t r2q = 10;
  int64_t mtu_bytes = 1500;
};

// The leaves as Htb::Create uses them, every default filled in: ceil (0 -> rate), burst and
// cburst (0 -> max(rate x 1 ms, 2 x mtu)), quantum (0 -> rate / r2q clamped to 1000..200000).
// The host agent writes these to `tc class ... htb` so the kernel shapes like the model.
// InvalidArgument like Create: parent rate <= 0, r2q or mtu < 1, no leaves, a leaf with rate
// <= 0, ceil < rate or prio outside 0..7, or leaves' rates summing above the parent rate.
Result<std::vector<HtbClassSpec>> ResolveHtbClasses(const HtbOptions& options,
                                                    std::vector<HtbClassSpec> leaves);
// The parent's burst Create uses: options.parent_burst_bytes, else max(rate x 1 ms, 2 x mtu).
int64_t ResolveHtbParentBurst(const HtbOptions& options);

enum class HtbMode { kCanSend, kMayBorrow, kCantSend };  // green, yellow, red

struct HtbPacket {
  size_t leaf = 0;
  int64_t bytes = 0;
  bool borrowed = false;  // sent on the parent's spare tokens
};

class HtbDequeue {
 public:
  enum class Kind { kPacket, kFuture, kEmpty };
  static HtbDequeue Packet(HtbPacket p) { return HtbDequeue(Kind::kPacket, p, {}); }
  static HtbDequeue Future(TimePoint when) { return HtbDequeue(Kind::kFuture, {}, when); }
  static HtbDequeue Empty() { return HtbDequeue(Kind::kEmpty, {}, {}); }
  Kind kind() const { return kind_; }
  const HtbPacket& packet() const { return packet_; }  // REQUIRES: kind() == kPacket
  TimePoint when() const { return when_; }             // REQUIRES: kind() == kFuture

 private:
  HtbDequeue(Kind k, HtbPacket p, TimePoint w) : kind_(k), packet_(p), when_(w) {}
  Kind kind_;
  HtbPacket packet_;
  TimePoint when_;
};

// Each leaf has a (rate, burst) and a (ceil, cburst) bucket. Within its rate a leaf sends on its
// own (green); over its rate but within its ceil it borrows the parent's spare tokens (yellow);
// over its ceil it waits (red). Green before yellow; within a colour the lowest prio first, and
// equal prios share by deficit round robin in proportion to their quantum.
class Htb {
 public:
  // InvalidArgument naming the class for rate <= 0, ceil < rate, prio outside 0..7, or a
  // parent rate below the sum of the leaves' rates (their guarantee could not hold).
  static Result<std::unique_ptr<Htb>> Create(HtbOptions options, std::vector<HtbClassSpec> leaves,
                                             TimePoint start);

  // Queues a packet on a leaf. InvalidArgument for a bad leaf or bytes < 1.
  Status Enqueue(size_t leaf, int64_t bytes);
  // The next packet to put on the wire at `now` (green before yellow; lowest prio; DRR by
  // quantum), else when one may go, else empty. The caller transmits it and asks again.
  HtbDequeue Dequeue(TimePoint now);
  // Changes a leaf's ceil at run time (e.g. the host agent narrowing a VF).
  Status SetCeil(size_t leaf, double ceil_bytes_per_s, TimePoint now);

  HtbMode ModeOf(size_t leaf, TimePoint now);
  int64_t quantum_bytes(size_t leaf) const { return leaves_[leaf].quantum; }
  size_t backlog(size_t leaf) const { return leaves_[leaf].queue.size(); }
  size_t leaf_count() const { return leaves_.size(); }

 private:
  struct Leaf {
    HtbClassSpec spec;
    TokenBucket rate_bucket;
    TokenBucket ceil_bucket;
    int64_t quantum = 0;
    int64_t deficit[2] = {0, 0};  // per colour (green, yellow), as HTB keeps one per level
    std::deque<int64_t> queue;
  };

  Htb(TokenBucket parent, std::vector<Leaf> leaves) : parent_(parent), leaves_(std::move(leaves)) {}
  HtbMode Mode(Leaf& l, TimePoint now);

  TokenBucket parent_;
  std::vector<Leaf> leaves_;
  size_t rr_[2][8] = {};  // round-robin position per colour and prio
};

}  // namespace devshare::qos

#endif  // DEVSHARE_QOS_HTB_H_
