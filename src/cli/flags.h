// Minimal strict flag parser for the subcommands: --name value, --name=value, --bool.
// Unknown flags and missing values are errors that name the flag.
// Thread-safety: value type.
#ifndef DEVSHARE_CLI_FLAGS_H_
#define DEVSHARE_CLI_FLAGS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "devshare/core/result.h"

namespace devshare::cli {

class Flags {
 public:
  // `value_flags` take a value, `bool_flags` do not. Positional arguments are rejected.
  static Result<Flags> Parse(const std::vector<std::string>& args,
                             const std::set<std::string>& value_flags,
                             const std::set<std::string>& bool_flags);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& def = "") const;
  Result<int64_t> GetInt(const std::string& name, int64_t def, int64_t min, int64_t max) const;
  Result<double> GetDouble(const std::string& name, double def, double min, double max) const;

 private:
  std::map<std::string, std::string> values_;
};

// "42-51" -> 42..51; "1,5,9" -> {1,5,9}; "7" -> {7}. InvalidArgument naming --seeds.
Result<std::vector<uint64_t>> ParseSeeds(const std::string& s);
// "a,b,c" -> {"a","b","c"} (empty items rejected).
Result<std::vector<std::string>> ParseList(const std::string& s, const std::string& flag);

}  // namespace devshare::cli

#endif  // DEVSHARE_CLI_FLAGS_H_
