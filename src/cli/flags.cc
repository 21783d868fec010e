// Flag parsing with errors that name the flag and the bad value.
#include "cli/flags.h"

#include <charconv>

namespace devshare::cli {

Result<Flags> Flags::Parse(const std::vector<std::string>& args,
                           const std::set<std::string>& value_flags,
                           const std::set<std::string>& bool_flags) {
  Flags f;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      return Status::InvalidArgument("unexpected argument '" + a + "'");
    }
    std::string name = a.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (bool_flags.count(name)) {
      if (has_value) return Status::InvalidArgument("--" + name + " takes no value");
      f.values_[name] = "true";
    } else if (value_flags.count(name)) {
      if (!has_value) {
        if (i + 1 >= args.size()) return Status::InvalidArgument("--" + name + " needs a value");
        value = args[++i];
      }
      f.values_[name] = value;
    } else {
      return Status::InvalidArgument("unknown flag --" + name);
    }
  }
  return f;
}

std::string Flags::Get(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

Result<int64_t> Flags::GetInt(const std::string& name, int64_t def, int64_t min,
                              int64_t max) const {
  if (!Has(name)) return def;
  const std::string s = Get(name);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return Status::InvalidArgument("--" + name + ": '" + s + "' is not an integer");
  }
  if (v < min || v > max) {
    return Status::InvalidArgument("--" + name + ": " + s + " outside " + std::to_string(min) +
                                   ".." + std::to_string(max));
  }
  return v;
}

Result<double> Flags::GetDouble(const std::string& name, double def, double min, double max) const {
  if (!Has(name)) return def;
  const std::string s = Get(name);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return Status::InvalidArgument("--" + name + ": '" + s + "' is not a number");
  }
  if (!(v >= min && v <= max)) {
    return Status::InvalidArgument("--" + name + ": " + s + " outside [" + std::to_string(min) +
                                   ", " + std::to_string(max) + "]");
  }
  return v;
}

Result<std::vector<std::string>> ParseList(const std::string& s, const std::string& flag) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t comma = s.find(',', start);
    std::string item =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) return Status::InvalidArgument("--" + flag + ": empty item in '" + s + "'");
    out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Result<std::vector<uint64_t>> ParseSeeds(const std::string& s) {
  auto parse = [&](const std::string& t) -> Result<uint64_t> {
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || p != t.data() + t.size()) {
      return Status::InvalidArgument("--seeds: '" + t + "' is not a seed (use 42-51 or 1,2,3)");
    }
    return v;
  };
  std::vector<uint64_t> out;
  DS_ASSIGN_OR_RETURN(std::vector<std::string> items, ParseList(s, "seeds"));
  for (const std::string& item : items) {
    size_t dash = item.find('-');
    if (dash == std::string::npos) {
      DS_ASSIGN_OR_RETURN(uint64_t v, parse(item));
      out.push_back(v);
      continue;
    }
    DS_ASSIGN_OR_RETURN(uint64_t lo, parse(item.substr(0, dash)));
    DS_ASSIGN_OR_RETURN(uint64_t hi, parse(item.substr(dash + 1)));
    if (hi < lo || hi - lo > 100000) {
      return Status::InvalidArgument("--seeds: range '" + item + "' is empty or too long");
    }
    for (uint64_t v = lo; v <= hi; ++v) out.push_back(v);
  }
  return out;
}

}  // namespace devshare::cli
