// TokenBucket and the tc rate parser.
#include "devshare/qos/token_bucket.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace devshare::qos {

Result<TokenBucket> TokenBucket::Create(double rate_bytes_per_s, int64_t burst_bytes,
                                        TimePoint start) {
  if (!(rate_bytes_per_s > 0) || !std::isfinite(rate_bytes_per_s)) {
    return Status::InvalidArgument("token bucket: rate must be > 0 bytes/s");
  }
  if (burst_bytes < 1) return Status::InvalidArgument("token bucket: burst must be >= 1 byte");
  return TokenBucket(rate_bytes_per_s, burst_bytes, start);
}

void TokenBucket::Refill(TimePoint now) {
  if (now <= last_) return;
  const double dt_s = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(static_cast<double>(burst_), tokens_ + rate_ * dt_s);
  last_ = now;
}

double TokenBucket::Tokens(TimePoint now) {
  Refill(now);
  return tokens_;
}

bool TokenBucket::TryConsume(int64_t bytes, TimePoint now) {
  Refill(now);
  if (tokens_ + 1e-6 < static_cast<double>(bytes)) return false;
  tokens_ -= static_cast<double>(bytes);
  return true;
}

Duration TokenBucket::TimeUntil(int64_t bytes, TimePoint now) {
  if (bytes > burst_) return Duration::max();
  Refill(now);
  const double deficit = static_cast<double>(bytes) - tokens_;
  if (deficit <= 1e-6) return Duration::zero();
  return Duration(static_cast<int64_t>(std::ceil(deficit / rate_ * 1e9)));
}

void TokenBucket::Charge(int64_t bytes, TimePoint now) {
  Refill(now);
  tokens_ -= static_cast<double>(bytes);
}

void TokenBucket::SetRate(double rate_bytes_per_s, TimePoint now) {
  Refill(now);
  rate_ = rate_bytes_per_s;
}

Result<double> ParseTcRate(std::string_view text) {
  auto bad = [&text](const char* why) {
    return Status::InvalidArgument("rate '" + std::string(text) + "': " + why);
  };
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, value);
  if (i == 0 || ec != std::errc() || ptr != text.data() + i) return bad("expected a number");
  std::string unit(text.substr(i));
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  struct Unit {
    const char* name;
    double bytes_per_s;
  };
  static constexpr Unit kUnits[] = {
      {"", 1.0 / 8},
      {"bit", 1.0 / 8},
      {"kbit", 1e3 / 8},
      {"mbit", 1e6 / 8},
      {"gbit", 1e9 / 8},
      {"tbit", 1e12 / 8},
      {"kibit", 1024.0 / 8},
      {"mibit", 1048576.0 / 8},
      {"gibit", 1073741824.0 / 8},
      {"bps", 1},
      {"kbps", 1e3},
      {"mbps", 1e6},
      {"gbps", 1e9},
      {"tbps", 1e12},
      {"kibps", 1024},
      {"mibps", 1048576},
      {"gibps", 1073741824},
  };
  for (const Unit& u : kUnits) {
    if (unit == u.name) {
      double r = value * u.bytes_per_s;
      if (!(r > 0)) return bad("must be > 0");
      return r;
    }
  }
  return bad(
      "unknown unit (bit, kbit, mbit, gbit, tbit are bits/s; bps, kbps, mbps, gbps are bytes/s)");
}

}  // namespace devshare::qos
