// Random: injected, seeded, platform-independent randomness (xoshiro256** seeded by splitmix64).
// Thread-safety: not thread-safe; give each thread or run its own instance.
// Same seed -> same stream on every compiler and libc, unlike std::uniform_int_distribution.
#ifndef DEVSHARE_CORE_RANDOM_H_
#define DEVSHARE_CORE_RANDOM_H_

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace devshare {

class Random {
 public:
  explicit Random(uint64_t seed);

  uint64_t seed() const { return seed_; }
  // Next raw 64-bit value.
  uint64_t Next();
  // Uniform integer in [0, n). REQUIRES: n > 0. Unbiased (rejection sampling).
  uint64_t Uniform(uint64_t n);
  // Uniform double in [0, 1).
  double UniformDouble();
  // Fisher-Yates shuffle of v in place.
  template <typename T>
  void Shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) {
      size_t j = static_cast<size_t>(Uniform(i));
      std::swap(v[i - 1], v[j]);
    }
  }

 private:
  uint64_t seed_;
  uint64_t s_[4];
};

}  // namespace devshare

#endif  // DEVSHARE_CORE_RANDOM_H_
