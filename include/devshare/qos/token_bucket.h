// TokenBucket TB(rate, burst) for byte streams (reference qos.md §6.1): tokens(t) = min(burst,
// tokens(t0) + rate * (t - t0)); any interval tau passes at most burst + rate * tau bytes.
// Also the tc rate units, whose bit/byte spellings are a classic pitfall.
// Thread-safety: a TokenBucket is a value without synchronisation; ParseTcRate is pure.
#ifndef DEVSHARE_QOS_TOKEN_BUCKET_H_
#define DEVSHARE_QOS_TOKEN_BUCKET_H_

#include <cstdint>
#include <string_view>

#include "devshare/core/clock.h"
#include "devshare/core/result.h"

namespace devshare::qos {

class TokenBucket {
 public:
  // Starts full at `start`. InvalidArgument unless rate > 0 and burst >= 1 byte.
  static Result<TokenBucket> Create(double rate_bytes_per_s, int64_t burst_bytes, TimePoint start);

  double rate_bytes_per_s() const { return rate_; }
  int64_t burst_bytes() const { return burst_; }

  // Tokens available at `now` (bytes; negative after Charge). `now` must not go backwards.
  double Tokens(TimePoint now);
  // Policing: takes `bytes` and returns true when that many tokens are there, else leaves the
  // bucket unchanged and returns false.
  bool TryConsume(int64_t bytes, TimePoint now);
  // Shaping: how long until `bytes` tokens are there (zero if now). `bytes` above the burst
  // never fit: Duration::max().
  Duration TimeUntil(int64_t bytes, TimePoint now);
  // Takes `bytes` unconditionally; the balance may go negative (HTB charges this way).
  void Charge(int64_t bytes, TimePoint now);
  // Changes the rate from `now` on (tokens earned so far are kept).
  void SetRate(double rate_bytes_per_s, TimePoint now);

 private:
  TokenBucket(double rate, int64_t burst, TimePoint start)
      : rate_(rate), burst_(burst), tokens_(static_cast<double>(burst)), last_(start) {}
  void Refill(TimePoint now);

  double rate_;
  int64_t burst_;
  double tokens_;
  TimePoint last_;
};

// tc(8) rate syntax to bytes per second: "bit" or a bare number = bits/s, "kbit" "mbit" "gbit"
// "tbit" (SI, x1000) bits/s, "bps" "kbps" "mbps" "gbps" bytes/s; "kibit" etc. are x1024.
// InvalidArgument for anything else or a rate <= 0.
Result<double> ParseTcRate(std::string_view text);

}  // namespace devshare::qos

#endif  // DEVSHARE_QOS_TOKEN_BUCKET_H_
