// FieldReader: strict typed access to request bodies.
#include "server/json_fields.h"

#include <cmath>

namespace devshare::server {

Result<nlohmann::json> ParseJsonObject(std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body.begin(), body.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Parse again with the SAX error position for a useful message.
    struct Sink : nlohmann::json_sax<nlohmann::json> {
      size_t pos = 0;
      std::string what;
      bool null() override { return true; }
      bool boolean(bool) override { return true; }
      bool number_integer(number_integer_t) override { return true; }
      bool number_unsigned(number_unsigned_t) override { return true; }
      bool number_float(number_float_t, const string_t&) override { return true; }
      bool string(string_t&) override { return true; }
      bool binary(binary_t&) override { return true; }
      bool start_object(std::size_t) override { return true; }
      bool key(string_t&) override { return true; }
      bool end_object() override { return true; }
      bool start_array(std::size_t) override { return true; }
      bool end_array() override { return true; }
      bool parse_error(std::size_t p, const std::string&,
                       const nlohmann::detail::exception& e) override {
        pos = p;
        what = e.what();
        return false;
      }
    } sink;
    nlohmann::json::sax_parse(body.begin(), body.end(), &sink, nlohmann::json::input_format_t::json,
                              /*strict=*/true);
    return Status::InvalidArgument("body is not valid JSON (byte " + std::to_string(sink.pos) +
                                   "): " + sink.what);
  }
  if (!j.is_object()) return Status::InvalidArgument("body must be a JSON object");
  return j;
}

FieldReader::FieldReader(const nlohmann::json& object, std::string path)
    : object_(object), path_(std::move(path)) {}

bool FieldReader::Has(const char* name) const {
  auto it = object_.find(name);
  return it != object_.end() && !it->is_null();
}

std::string FieldReader::FieldPath(const char* name) const {
  return path_.empty() ? std::string(name) : path_ + "." + name;
}

Result<const nlohmann::json*> FieldReader::Get(const char* name, bool required) {
  seen_.insert(name);
  auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) {
    if (required) return Status::InvalidArgument("field '" + FieldPath(name) + "' is required");
    return static_cast<const nlohmann::json*>(nullptr);
  }
  return &*it;
}

Result<std::string> FieldReader::String(const char* name, bool required, size_t max_len) {
  DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(name, required));
  if (v == nullptr) return std::string();
  if (!v->is_string()) {
    return Status::InvalidArgument("field '" + FieldPath(name) + "': expected a string");
  }
  const std::string& s = v->get_ref<const std::string&>();
  if (s.size() > max_len) {
    return Status::InvalidArgument("field '" + FieldPath(name) + "': longer than " +
                                   std::to_string(max_len) + " characters");
  }
  return s;
}

Result<int64_t> FieldReader::Int(const char* name, bool required, int64_t min, int64_t max,
                                 int64_t default_value) {
  DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(name, required));
  if (v == nullptr) return default_value;
  int64_t x = 0;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return Status::InvalidArgument("field '" + FieldPath(name) + "': out of range");
    }
    x = v->get<int64_t>();
  } else if (v->is_number_float()) {
    double d = v->get<double>();
    if (std::floor(d) != d || std::abs(d) > 9e15) {
      return Status::InvalidArgument("field '" + FieldPath(name) + "': expected an integer");
    }
    x = static_cast<int64_t>(d);
  } else {
    return Status::InvalidArgument("field '" + FieldPath(name) + "': expected an integer");
  }
  if (x < min || x > max) {
    return Status::InvalidArgument("field '" + FieldPath(name) + "': " + std::to_string(x) +
                                   " is outside " + std::to_string(min) + ".." +
                                   std::to_string(max));
  }
  return x;
}

Result<double> FieldReader::Double(const char* name, bool required, double min, double max,
                                   double default_value) {
  DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(name, required));
  if (v == nullptr) return default_value;
  if (!v->is_number()) {
    return Status::InvalidArgument("field '" + FieldPath(name) + "': expected a number");
  }
  double x = v->get<double>();
  if (!(x >= min && x <= max)) {
    return Status::InvalidArgument("field '" + FieldPath(name) + "': " + std::to_string(x) +
                                   " is outside " + std::to_string(min) + ".." +
                                   std::to_string(max));
  }
  return x;
}

Result<bool> FieldReader::Bool(const char* name, bool required, bool default_value) {
  DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(name, required));
  if (v == nullptr) return default_value;
  if (!v->is_boolean()) {
    return Status::InvalidArgument("field '" + FieldPath(name) + "': expected true or false");
  }
  return v->get<bool>();
}

Result<const nlohmann::json*> FieldReader::Object(const char* name, bool required) {
  DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(name, required));
  if (v != nullptr && !v->is_object()) {
    return Status::InvalidArgument("field '" + FieldPath(name) + "': expected an object");
  }
  return v;
}

Result<const nlohmann::json*> FieldReader::Array(const char* name, bool required,
                                                 size_t max_items) {
  DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(name, required));
  if (v != nullptr && !v->is_array()) {
    return Status::InvalidArgument("field '" + FieldPath(name) + "': expected an array");
  }
  if (v != nullptr && v->size() > max_items) {
    return Status::InvalidArgument("field '" + FieldPath(name) + "': more than " +
                                   std::to_string(max_items) + " items");
  }
  return v;
}

Status FieldReader::CheckNoUnknown() const {
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    if (seen_.count(it.key()) == 0) {
      return Status::InvalidArgument("unknown field '" + FieldPath(it.key().c_str()) + "'");
    }
  }
  return Status::Ok();
}

Status CheckName(std::string_view value, std::string_view field) {
  auto ok_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  };
  bool ok = !value.empty() && value.size() <= 63 && ok_char(value[0]) && value[0] != '.' &&
            value[0] != '_' && value[0] != '-';
  for (char c : value) ok = ok && ok_char(c);
  if (!ok) {
    return Status::InvalidArgument("field '" + std::string(field) +
                                   "': expected 1-63 characters of [A-Za-z0-9._-] starting with "
                                   "a letter or digit");
  }
  return Status::Ok();
}

}  // namespace devshare::server
