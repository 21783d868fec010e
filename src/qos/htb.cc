// Htb: green / yellow / red leaves over one parent, DRR within a colour and prio.
#include "devshare/qos/htb.h"

#include <algorithm>
#include <cmath>

namespace devshare::qos {
namespace {

constexpr int kGreen = 0;
constexpr int kYellow = 1;

int64_t DefaultBurst(double rate, int64_t mtu) {
  return std::max<int64_t>(static_cast<int64_t>(rate * 1e-3), 2 * mtu);
}

// Time until a bucket's balance reaches zero (it may send when >= 0).
Duration UntilNonNegative(TokenBucket& b, TimePoint now) {
  const double t = b.Tokens(now);
  if (t >= 0) return Duration::zero();
  return Duration(static_cast<int64_t>(std::ceil(-t / b.rate_bytes_per_s() * 1e9)));
}

}  // namespace

int64_t ResolveHtbParentBurst(const HtbOptions& options) {
  return options.parent_burst_bytes > 0
             ? options.parent_burst_bytes
             : DefaultBurst(options.parent_rate_bytes_per_s, options.mtu_bytes);
}

Result<std::vector<HtbClassSpec>> ResolveHtbClasses(const HtbOptions& options,
                                                    std::vector<HtbClassSpec> specs) {
  if (!(options.parent_rate_bytes_per_s > 0)) {
    return Status::InvalidArgument("htb: parent rate must be > 0");
  }
  if (options.r2q < 1 || options.mtu_bytes < 1) {
    return Status::InvalidArgument("htb: r2q and mtu must be >= 1");
  }
  if (specs.empty()) return Status::InvalidArgument("htb: at least one leaf class");
  double rate_sum = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    HtbClassSpec& s = specs[i];
    const std::string p = "htb class " + std::to_string(i) + " ('" + s.name + "')";
    if (!(s.rate_bytes_per_s > 0)) return Status::InvalidArgument(p + ": rate must be > 0");
    if (s.ceil_bytes_per_s == 0) s.ceil_bytes_per_s = s.rate_bytes_per_s;
    if (s.ceil_bytes_per_s < s.rate_bytes_per_s) {
      return Status::InvalidArgument(p + ": ceil must be >= rate");
    }
    if (s.prio < 0 || s.prio > 7) return Status::InvalidArgument(p + ": prio must be 0..7");
    if (s.burst_bytes == 0) s.burst_bytes = DefaultBurst(s.rate_bytes_per_s, options.mtu_bytes);
    if (s.cburst_bytes == 0) s.cburst_bytes = DefaultBurst(s.ceil_bytes_per_s, options.mtu_bytes);
    if (s.quantum_bytes <= 0) {
      s.quantum_bytes =
          std::clamp<int64_t>(static_cast<int64_t>(s.rate_bytes_per_s / options.r2q), 1000, 200000);
    }
    rate_sum += s.rate_bytes_per_s;
  }
  if (rate_sum > options.parent_rate_bytes_per_s * (1 + 1e-9)) {
    return Status::InvalidArgument("htb: the leaves' rates add up to more than the parent rate");
  }
  return specs;
}

Result<std::unique_ptr<Htb>> Htb::Create(HtbOptions options, std::vector<HtbClassSpec> specs,
                                         TimePoint start) {
  DS_ASSIGN_OR_RETURN(std::vector<HtbClassSpec> resolved,
                      ResolveHtbClasses(options, std::move(specs)));
  DS_ASSIGN_OR_RETURN(
      TokenBucket parent,
      TokenBucket::Create(options.parent_rate_bytes_per_s, ResolveHtbParentBurst(options), start));
  std::vector<Leaf> leaves;
  for (const HtbClassSpec& s : resolved) {
    DS_ASSIGN_OR_RETURN(TokenBucket rb,
                        TokenBucket::Create(s.rate_bytes_per_s, s.burst_bytes, start));
    DS_ASSIGN_OR_RETURN(TokenBucket cb,
                        TokenBucket::Create(s.ceil_bytes_per_s, s.cburst_bytes, start));
    leaves.push_back(Leaf{s, rb, cb, s.quantum_bytes, {s.quantum_bytes, s.quantum_bytes}, {}});
  }
  return std::unique_ptr<Htb>(new Htb(parent, std::move(leaves)));
}

Status Htb::Enqueue(size_t leaf, int64_t bytes) {
  if (leaf >= leaves_.size())
    return Status::InvalidArgument("htb: no leaf " + std::to_string(leaf));
  if (bytes < 1) return Status::InvalidArgument("htb: a packet has at least one byte");
  leaves_[leaf].queue.push_back(bytes);
  return Status::Ok();
}

Status Htb::SetCeil(size_t leaf, double ceil_bytes_per_s, TimePoint now) {
  if (leaf >= leaves_.size())
    return Status::InvalidArgument("htb: no leaf " + std::to_string(leaf));
  Leaf& l = leaves_[leaf];
  if (ceil_bytes_per_s < l.spec.rate_bytes_per_s) {
    return Status::InvalidArgument("htb: ceil must be >= rate");
  }
  l.spec.ceil_bytes_per_s = ceil_bytes_per_s;
  l.ceil_bucket.SetRate(ceil_bytes_per_s, now);
  return Status::Ok();
}

HtbMode Htb::Mode(Leaf& l, TimePoint now) {
  if (l.ceil_bucket.Tokens(now) < 0) return HtbMode::kCantSend;
  if (l.rate_bucket.Tokens(now) >= 0) return HtbMode::kCanSend;
  return HtbMode::kMayBorrow;
}

HtbMode Htb::ModeOf(size_t leaf, TimePoint now) { return Mode(leaves_[leaf], now); }

HtbDequeue Htb::Dequeue(TimePoint now) {
  bool any_backlog = false;
  for (const Leaf& l : leaves_) any_backlog |= !l.queue.empty();
  if (!any_backlog) return HtbDequeue::Empty();
  const bool parent_can_lend = parent_.Tokens(now) >= 0;

  for (int colour : {kGreen, kYellow}) {
    if (colour == kYellow && !parent_can_lend) break;
    const HtbMode want = colour == kGreen ? HtbMode::kCanSend : HtbMode::kMayBorrow;
    // The lowest prio with a sender of this colour.
    int best_prio = 8;
    std::vector<bool> eligible(leaves_.size(), false);
    for (size_t i = 0; i < leaves_.size(); ++i) {
      Leaf& l = leaves_[i];
      if (l.queue.empty() || Mode(l, now) != want) continue;
      eligible[i] = true;
      best_prio = std::min(best_prio, l.spec.prio);
    }
    if (best_prio == 8) continue;
    // Deficit round robin among that prio, from where the last turn stopped.
    size_t& pos = rr_[colour][best_prio];
    for (size_t k = 0; k < leaves_.size(); ++k) {
      const size_t i = (pos + k) % leaves_.size();
      if (!eligible[i] || leaves_[i].spec.prio != best_prio) continue;
      pos = i;
      break;
    }
    Leaf& l = leaves_[pos];
    const int64_t bytes = l.queue.front();
    l.queue.pop_front();
    l.deficit[colour] -= bytes;
    if (l.deficit[colour] < 0) {  // its turn is over: top up and move on
      l.deficit[colour] += l.quantum;
      pos = (pos + 1) % leaves_.size();
    }
    // Charges: the leaf's ceil always; its rate only when it sent on its own tokens (a
    // borrower's rate bucket just keeps refilling); the parent lends or is used either way.
    if (colour == kGreen) l.rate_bucket.Charge(bytes, now);
    l.ceil_bucket.Charge(bytes, now);
    parent_.Charge(bytes, now);
    const size_t leaf = static_cast<size_t>(&l - leaves_.data());
    return HtbDequeue::Packet(HtbPacket{leaf, bytes, colour == kYellow});
  }

  // Nobody may send: the earliest moment a backlogged leaf turns green or yellow.
  Duration wait = Duration::max();
  const Duration parent_wait = UntilNonNegative(parent_, now);
  for (Leaf& l : leaves_) {
    if (l.queue.empty()) continue;
    const Duration ceil_wait = UntilNonNegative(l.ceil_bucket, now);
    const Duration green = std::max(ceil_wait, UntilNonNegative(l.rate_bucket, now));
    const Duration yellow = std::max(ceil_wait, parent_wait);
    wait = std::min({wait, green, yellow});
  }
  return HtbDequeue::Future(now + std::max(wait, Duration(1)));
}

}  // namespace devshare::qos
