// Strict reading of JSON request bodies: typed getters that name the field on error, range
// checks, and a final check that rejects any field nobody read (unknown fields are errors).
// Thread-safety: a FieldReader belongs to one request.
#ifndef DEVSHARE_SERVER_JSON_FIELDS_H_
#define DEVSHARE_SERVER_JSON_FIELDS_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "devshare/core/result.h"
#include "devshare/core/status.h"

namespace devshare::server {

// Serialises `j` compactly. nlohmann's dump() throws on invalid UTF-8, and request bytes reach
// messages, names and audit objects, so every serialisation goes through this: invalid bytes
// become U+FFFD instead of an exception.
inline std::string JsonText(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Parses `body` as one JSON object. InvalidArgument with the parser's byte offset otherwise.
Result<nlohmann::json> ParseJsonObject(std::string_view body);

class FieldReader {
 public:
  // `path` prefixes field names in messages, e.g. "gpus[1]" gives "gpus[1].model".
  FieldReader(const nlohmann::json& object, std::string path);

  const std::string& path() const { return path_; }
  bool Has(const char* name) const;
  std::string FieldPath(const char* name) const;

  // Each returns InvalidArgument "field 'x': expected ..." on a wrong type or range.
  Result<std::string> String(const char* name, bool required, size_t max_len = 256);
  Result<int64_t> Int(const char* name, bool required, int64_t min, int64_t max,
                      int64_t default_value = 0);
  Result<double> Double(const char* name, bool required, double min, double max,
                        double default_value = 0);
  Result<bool> Bool(const char* name, bool required, bool default_value = false);
  // The raw value of an object or array field (marked as read); nullptr when absent.
  Result<const nlohmann::json*> Object(const char* name, bool required);
  Result<const nlohmann::json*> Array(const char* name, bool required, size_t max_items);

  // InvalidArgument "unknown field 'x'" for the first field no getter asked for.
  Status CheckNoUnknown() const;

 private:
  Result<const nlohmann::json*> Get(const char* name, bool required);

  const nlohmann::json& object_;
  std::string path_;
  std::set<std::string> seen_;
};

// A name used in URLs and ids: 1-63 chars of [A-Za-z0-9._-], starting with a letter or digit.
Status CheckName(std::string_view value, std::string_view field);

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_JSON_FIELDS_H_
