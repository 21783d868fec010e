// JsonWriter: builds a JSON document incrementally with correct escaping and commas.
// Thread-safety: not thread-safe; one writer per document.
#ifndef DEVSHARE_CORE_JSON_WRITER_H_
#define DEVSHARE_CORE_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace devshare {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // Object key; the next call writes its value.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view v);
  JsonWriter& Int(int64_t v);
  JsonWriter& Uint(uint64_t v);
  // Up to `decimals` digits after the point, trailing zeros trimmed; NaN/inf become null.
  JsonWriter& Double(double v, int decimals = 4);
  JsonWriter& Bool(bool v);
  JsonWriter& Null();
  JsonWriter& DoubleArray(const std::vector<double>& v, int decimals = 4);

  const std::string& str() const { return out_; }

 private:
  void Separate();
  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

// Escapes s as the inside of a JSON string (quotes, backslash, control characters).
std::string JsonEscape(std::string_view s);
// Formats v with up to `decimals` digits after the point, trailing zeros trimmed.
std::string FormatDecimal(double v, int decimals);

}  // namespace devshare

#endif  // DEVSHARE_CORE_JSON_WRITER_H_
