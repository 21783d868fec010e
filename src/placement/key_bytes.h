// Byte keys for hash maps: values appended raw, strings length-prefixed so that concatenations
// stay unambiguous. Shared by the host classes (host_classes.cc) and the framework's request
// keys (framework.cc). Internal to src/placement.
// Thread-safety: pure functions.
#ifndef DEVSHARE_PLACEMENT_KEY_BYTES_H_
#define DEVSHARE_PLACEMENT_KEY_BYTES_H_

#include <cstdint>
#include <cstring>
#include <string>

namespace devshare::placement {

template <typename T>
void AppendRaw(std::string* key, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  key->append(buf, sizeof(T));
}

inline void AppendString(std::string* key, const std::string& s) {
  AppendRaw<uint64_t>(key, s.size());
  key->append(s);
}

}  // namespace devshare::placement

#endif  // DEVSHARE_PLACEMENT_KEY_BYTES_H_
