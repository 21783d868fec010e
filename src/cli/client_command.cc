// `devshare vm|host|tenant ...`: the command-line client of the control plane's REST API
// (docs/api.md). Each command makes one or two HTTP requests, prints the answer as a table or a
// key: value block (or the server's JSON body as is with --json) and maps the HTTP status to an
// exit code (exit_codes.h).
#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"

namespace devshare::cli {
namespace {

using nlohmann::json;

constexpr const char* kDefaultServer = "http://127.0.0.1:8080";

constexpr const char* kCommonHelp =
    "common flags:\n"
    "  --server URL       control plane (default: $DEVSHARE_SERVER, else http://127.0.0.1:8080)\n"
    "  --token-file PATH  read the bearer token from PATH (default: $DEVSHARE_TOKEN)\n"
    "  --json             print the server's JSON body as is (errors too, on stdout)\n"
    "exit codes: 0 ok; 2 usage error or bad request (400, 413, 422); 3 server unreachable;\n"
    "  4 unauthenticated or forbidden (401, 403); 5 conflict (409: unschedulable, no_room,\n"
    "  already_exists, concurrent_update, inventory_in_use); 6 not found (404); 1 anything else.\n";

constexpr const char* kVmHelp =
    "usage: devshare vm create --name N --cpu-milli X --memory-mib Y [--gpu-count C]\n"
    "                          [--gpu-milli M] [--gpu-profile P] [--gpu-model A100]...\n"
    "                          [--cpu-weight W] [--cpu-cap-pct P] [--isolation-floor F]\n"
    "                          [--anti-affinity-group G] [--policy P] [--idempotency-key K]\n"
    "       devshare vm list\n"
    "       devshare vm show ID\n"
    "       devshare vm delete ID\n"
    "       devshare vm resize ID [--cpu-milli X] [--memory-mib Y] [--gpu-milli M]\n"
    "                             [--idempotency-key K]\n"
    "  --gpu-model may repeat (or take a comma list): any of these models is acceptable.\n"
    "  --isolation-floor: time_slice, mps, hypervisor_sched or hw_partition.\n";

constexpr const char* kHostHelp =
    "usage: devshare host list\n"
    "       devshare host show NAME\n"
    "       devshare host put NAME --file inventory.json   (\"-\" reads stdin; system admins)\n"
    "       devshare host discover [--sysfs-root DIR] [--json]        (this machine, no server)\n"
    "       devshare host register NAME [--guest-cpuset LIST]    (discover + put; system admins)\n"
    "       devshare host qos-check [--hypervisor URI] [--window-s 5]     (libvirt, no server)\n";

constexpr const char* kTenantHelp =
    "usage: devshare tenant create NAME [--idempotency-key K]      (system admins)\n"
    "       devshare tenant list                                     (system admins)\n"
    "       devshare tenant token TENANT --role admin|member|reader [--idempotency-key K]\n"
    "  TENANT is a tenant id (t-...); system admins may also give a tenant's name.\n"
    "  The new token is printed once: the server keeps only its hash.\n";

const std::set<std::string> kCommonValueFlags = {"server", "token-file"};
const std::set<std::string> kCommonBoolFlags = {"json"};

// --- small helpers ----------------------------------------------------------------------------

// A usage error: the message and where to find the usage (exit 2).
int Usage(const std::string& command, const std::string& message) {
  const std::string noun = command.substr(0, command.find(' '));
  std::fprintf(stderr, "devshare %s: %s (see 'devshare %s --help')\n", command.c_str(),
               message.c_str(), noun.c_str());
  return kExitBadInput;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// Percent-encodes one path segment (ids and names are [A-Za-z0-9._-], but users type anything).
std::string PathSegment(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Str(const json& j, const char* key, const std::string& def = "") {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

int64_t Int(const json& j, const char* key, int64_t def = 0) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return def;
  return it->get<int64_t>();
}

std::string TimeOf(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return "-";
  std::time_t t = static_cast<std::time_t>(it->get<int64_t>() / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

// Columns aligned on the widest cell; `right` marks right-aligned (numeric) columns.
void PrintTable(const std::vector<std::string>& header, const std::vector<bool>& right,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  auto line = [&](const std::vector<std::string>& row) {
    std::string out;
    for (size_t c = 0; c < header.size(); ++c) {
      const std::string cell = c < row.size() ? row[c] : "";
      const std::string pad(width[c] - cell.size(), ' ');
      const bool last = c + 1 == header.size();
      out += right[c] ? pad + cell : (last ? cell : cell + pad);
      if (!last) out += "  ";
    }
    std::printf("%s\n", out.c_str());
  };
  line(header);
  for (const auto& row : rows) line(row);
}

// "key:  value" lines with the values aligned.
void PrintBlock(const std::vector<std::pair<std::string, std::string>>& kv) {
  size_t width = 0;
  for (const auto& [k, v] : kv) width = std::max(width, k.size());
  for (const auto& [k, v] : kv) {
    std::printf("%s:%s %s\n", k.c_str(), std::string(width - k.size(), ' ').c_str(), v.c_str());
  }
}

// --- HTTP -------------------------------------------------------------------------------------

struct Connection {
  std::string url;  // as given (for messages), without a trailing '/'
  std::string host;
  int port = 80;
  std::string token;
  bool json_output = false;
};

struct Answer {
  int status = 0;
  std::string body;
  json doc;  // parsed body; discarded when the body is not JSON
};

// --server / $DEVSHARE_SERVER and --token-file / $DEVSHARE_TOKEN.
Result<Connection> Connect(const Flags& flags) {
  Connection c;
  const char* env_server = std::getenv("DEVSHARE_SERVER");
  c.url = flags.Get("server", env_server != nullptr && *env_server ? env_server : kDefaultServer);
  while (!c.url.empty() && c.url.back() == '/') c.url.pop_back();
  std::string rest = c.url;
  if (rest.rfind("https://", 0) == 0) {
    return Status::InvalidArgument("--server " + c.url +
                                   ": https is not supported; put a TLS proxy in front or use "
                                   "http:// on a trusted network");
  }
  if (rest.rfind("http://", 0) == 0) {
    rest = rest.substr(7);
  } else if (rest.find("://") != std::string::npos) {
    return Status::InvalidArgument("--server " + c.url + ": expected http://HOST:PORT");
  } else {
    c.url = "http://" + c.url;
  }
  if (rest.empty() || rest.find('/') != std::string::npos) {
    return Status::InvalidArgument("--server " + c.url + ": expected http://HOST:PORT");
  }
  c.host = rest;
  size_t colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']', colon) == std::string::npos) {
    c.host = rest.substr(0, colon);
    const std::string port = rest.substr(colon + 1);
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p < 1 || p > 65535) {
      return Status::InvalidArgument("--server " + c.url + ": bad port '" + port + "'");
    }
    c.port = static_cast<int>(p);
  }
  if (c.host.size() > 2 && c.host.front() == '[' && c.host.back() == ']') {
    c.host = c.host.substr(1, c.host.size() - 2);
  }
  if (c.host.empty()) return Status::InvalidArgument("--server " + c.url + ": no host");
  if (flags.Has("token-file")) {
    const std::string path = flags.Get("token-file");
    std::ifstream in(path);
    if (!in) return Status::InvalidArgument("--token-file: cannot read " + path);
    std::string line;
    std::getline(in, line);
    c.token = Trim(line);
    if (c.token.empty()) return Status::InvalidArgument("--token-file: " + path + " is empty");
  } else if (const char* env = std::getenv("DEVSHARE_TOKEN"); env != nullptr) {
    c.token = Trim(env);
  }
  c.json_output = flags.Has("json");
  return c;
}

// One request. Unavailable (exit 3) naming the URL when the server cannot be reached.
Result<Answer> Call(const Connection& c, const std::string& method, const std::string& path,
                    const std::string& body = "", const std::string& idempotency_key = "") {
  httplib::Client client(c.host, c.port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(60, 0);
  client.set_write_timeout(60, 0);
  httplib::Headers headers = {{"Accept", "application/json"}};
  if (!c.token.empty()) headers.emplace("Authorization", "Bearer " + c.token);
  if (!idempotency_key.empty()) headers.emplace("Idempotency-Key", idempotency_key);
  httplib::Result res = [&] {
    if (method == "GET") return client.Get(path, headers);
    if (method == "POST") return client.Post(path, headers, body, "application/json");
    if (method == "PUT") return client.Put(path, headers, body, "application/json");
    return client.Delete(path, headers);
  }();
  if (!res) {
    std::string why;
    switch (res.error()) {
      case httplib::Error::Connection:
      case httplib::Error::ConnectionTimeout:
        why = "connection refused or timed out";
        break;
      case httplib::Error::Read:
        why = "no answer (connection closed or read timed out)";
        break;
      case httplib::Error::Write:
        why = "could not send the request";
        break;
      default:
        why = httplib::to_string(res.error());
    }
    return Status::Unavailable("cannot reach the server at " + c.url + " (" + method + " " + path +
                               "): " + why);
  }
  Answer a;
  a.status = res->status;
  a.body = res->body;
  a.doc = json::parse(a.body, nullptr, false);
  if (a.doc.is_discarded()) a.doc = json();
  return a;
}

// Prints the server's error for `command` (plus unschedulable reasons) and returns its exit code.
int ReportError(const std::string& command, const Connection& c, const Answer& a) {
  if (c.json_output) std::fputs(a.body.c_str(), stdout);
  const bool structured = a.doc.is_object() && a.doc.contains("code");
  const std::string code = structured ? Str(a.doc, "code") : "http_" + std::to_string(a.status);
  std::string message = structured ? Str(a.doc, "message") : Trim(a.body).substr(0, 200);
  if (message.empty()) message = "HTTP " + std::to_string(a.status);
  std::fprintf(stderr, "devshare %s: %s: %s\n", command.c_str(), code.c_str(), message.c_str());
  if (a.status == 401 && c.token.empty()) {
    std::fprintf(stderr, "  (set DEVSHARE_TOKEN or pass --token-file PATH)\n");
  }
  if (structured && !c.json_output && code == "unschedulable") {
    const json details = a.doc.value("details", json::object());
    if (details.contains("reasons") && details["reasons"].is_array() &&
        !details["reasons"].empty()) {
      std::fprintf(stderr, "reasons:\n");
      for (const json& r : details["reasons"]) {
        std::fprintf(stderr, "  %s (%s): %lld host(s), e.g. %s\n", Str(r, "filter").c_str(),
                     Str(r, "resource").c_str(), static_cast<long long>(Int(r, "hosts")),
                     Str(r, "example").c_str());
      }
    }
    if (details.contains("candidates") && details["candidates"].is_array() &&
        !details["candidates"].empty()) {
      std::fprintf(stderr, "closest hosts:\n");
      for (const json& h : details["candidates"]) {
        std::vector<std::string> why;
        if (h.contains("reasons") && h["reasons"].is_array()) {
          for (const json& r : h["reasons"]) {
            why.push_back(Str(r, "filter") + ": " + Str(r, "message"));
          }
        }
        std::fprintf(stderr, "  %s: %s\n", Str(h, "host").c_str(),
                     why.empty() ? "fits now" : Join(why, "; ").c_str());
      }
    }
  }
  return ExitCodeForHttpStatus(a.status) == kExitOk ? kExitFailure
                                                    : ExitCodeForHttpStatus(a.status);
}

// Runs one request: on success calls `print` (or prints the raw body with --json).
template <typename Print>
int Run(const std::string& command, const Connection& c, const std::string& method,
        const std::string& path, const std::string& body, const std::string& key, Print print) {
  Result<Answer> a = Call(c, method, path, body, key);
  if (!a.ok()) return Fail(command, a.status());
  if (a->status < 200 || a->status >= 300) return ReportError(command, c, *a);
  if (c.json_output) {
    std::fputs(a->body.c_str(), stdout);
    if (!a->body.empty() && a->body.back() != '\n') std::fputs("\n", stdout);
    return kExitOk;
  }
  if (!a->doc.is_object()) {
    std::fprintf(stderr, "devshare %s: the server answered %d with a body that is not JSON\n",
                 command.c_str(), a->status);
    return kExitFailure;
  }
  print(a->doc);
  return kExitOk;
}

// Takes the positional arguments out of `args` (skipping the values of value flags).
std::vector<std::string> TakePositionals(std::vector<std::string>& args,
                                         const std::set<std::string>& value_flags) {
  std::vector<std::string> positionals, rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) == 0) {
      rest.push_back(a);
      const std::string name = a.substr(2);
      if (name.find('=') == std::string::npos && value_flags.count(name) && i + 1 < args.size()) {
        rest.push_back(args[++i]);
      }
    } else {
      positionals.push_back(a);
    }
  }
  args = std::move(rest);
  return positionals;
}

// Takes every `--name V` / `--name=V` out of `args` (for flags that may repeat).
std::vector<std::string> TakeRepeated(std::vector<std::string>& args, const std::string& name) {
  std::vector<std::string> values, rest;
  const std::string flag = "--" + name;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag && i + 1 < args.size()) {
      values.push_back(args[++i]);
    } else if (args[i].rfind(flag + "=", 0) == 0) {
      values.push_back(args[i].substr(flag.size() + 1));
    } else {
      rest.push_back(args[i]);
    }
  }
  args = std::move(rest);
  return values;
}

// Parses the verb's flags plus the common ones and the expected number of positionals.
struct Parsed {
  Flags flags;
  std::vector<std::string> positionals;
  Connection conn;
};
Result<Parsed> ParseArgs(std::vector<std::string> args, std::set<std::string> value_flags,
                         std::set<std::string> bool_flags, size_t positionals,
                         const std::string& positional_name) {
  value_flags.insert(kCommonValueFlags.begin(), kCommonValueFlags.end());
  bool_flags.insert(kCommonBoolFlags.begin(), kCommonBoolFlags.end());
  std::vector<std::string> pos = TakePositionals(args, value_flags);
  if (pos.size() < positionals) return Status::InvalidArgument(positional_name + " is required");
  if (pos.size() > positionals) {
    return Status::InvalidArgument("unexpected argument '" + pos[positionals] + "'");
  }
  DS_ASSIGN_OR_RETURN(Flags flags, Flags::Parse(args, value_flags, bool_flags));
  DS_ASSIGN_OR_RETURN(Connection conn, Connect(flags));
  return Parsed{std::move(flags), std::move(pos), std::move(conn)};
}

// --- VMs --------------------------------------------------------------------------------------

std::string GpuSummary(const json& vm) {
  const json gpu = vm.value("gpu", json::object());
  const int64_t count = Int(gpu, "count");
  if (count == 0 && !gpu.contains("profile")) return "-";
  std::string s = gpu.contains("profile")
                      ? Str(gpu, "profile")
                      : std::to_string(count) + "x" + std::to_string(Int(gpu, "milli", 1000)) + "m";
  if (gpu.contains("models") && gpu["models"].is_array() && !gpu["models"].empty()) {
    std::vector<std::string> models;
    for (const json& m : gpu["models"]) models.push_back(m.is_string() ? m.get<std::string>() : "");
    s += "[" + Join(models, "|") + "]";
  }
  return s;
}

std::string DevicesSummary(const json& vm) {
  std::vector<std::string> out;
  if (vm.contains("devices") && vm["devices"].is_array()) {
    for (const json& d : vm["devices"]) {
      std::string s = Str(d, "id");
      if (d.contains("profile")) {
        s += ":" + Str(d, "profile") + "@" + std::to_string(Int(d, "start_slot"));
      } else if (!d.value("whole", false)) {
        s += ":" + std::to_string(Int(d, "milli")) + "m";
      }
      out.push_back(s);
    }
  }
  return out.empty() ? "-" : Join(out, ",");
}

void PrintVm(const json& vm) {
  std::vector<std::pair<std::string, std::string>> kv = {
      {"id", Str(vm, "id")},
      {"name", Str(vm, "name")},
      {"tenant", Str(vm, "tenant_id")},
      {"state", Str(vm, "state")},
      {"host", Str(vm, "host")},
      {"policy", Str(vm, "policy")},
      {"cpu_milli", std::to_string(Int(vm, "cpu_milli"))},
      {"memory_mib", std::to_string(Int(vm, "memory_mib"))},
      {"gpu", GpuSummary(vm)},
      {"devices", DevicesSummary(vm)}};
  if (vm.contains("qos") && vm["qos"].is_object()) {
    std::vector<std::string> q;
    for (const auto& [k, v] : vm["qos"].items()) q.push_back(k + "=" + v.dump());
    kv.emplace_back("qos", q.empty() ? "-" : Join(q, " "));
  }
  for (const char* k : {"isolation_floor", "anti_affinity_group"}) {
    if (vm.contains(k)) kv.emplace_back(k, Str(vm, k));
  }
  for (const char* k : {"required_traits", "forbidden_traits"}) {
    if (vm.contains(k) && vm[k].is_array()) {
      std::vector<std::string> t;
      for (const json& v : vm[k]) t.push_back(v.is_string() ? v.get<std::string>() : v.dump());
      kv.emplace_back(k, Join(t, ", "));
    }
  }
  kv.emplace_back("created", TimeOf(vm, "created_unix_ms"));
  kv.emplace_back("updated", TimeOf(vm, "updated_unix_ms"));
  PrintBlock(kv);
}

int VmCreate(const std::vector<std::string>& raw) {
  const std::string cmd = "vm create";
  std::vector<std::string> args = raw;
  std::vector<std::string> models;
  for (const std::string& v : TakeRepeated(args, "gpu-model")) {
    Result<std::vector<std::string>> list = ParseList(v, "gpu-model");
    if (!list.ok()) return Usage(cmd, list.status().message());
    models.insert(models.end(), list->begin(), list->end());
  }
  Result<Parsed> p = ParseArgs(
      args,
      {"name", "cpu-milli", "memory-mib", "gpu-count", "gpu-milli", "gpu-profile", "cpu-weight",
       "cpu-cap-pct", "isolation-floor", "anti-affinity-group", "policy", "idempotency-key"},
      {}, 0, "");
  if (!p.ok()) return Usage(cmd, p.status().message());
  const Flags& f = p->flags;
  for (const char* required : {"name", "cpu-milli", "memory-mib"}) {
    if (!f.Has(required)) return Usage(cmd, std::string("--") + required + " is required");
  }
  // Ranges are the server's to check (its messages name the field); here only integers.
  constexpr int64_t kLo = INT64_MIN, kHi = INT64_MAX;
  // Copies integer flags into `dst` under their field names; an absent flag is 0 when `always`,
  // else left out.
  auto put_ints = [&](json& dst, std::initializer_list<std::pair<const char*, const char*>> fields,
                      bool always) -> Status {
    for (const auto& [flag, field] : fields) {
      if (!always && !f.Has(flag)) continue;
      Result<int64_t> v = f.GetInt(flag, 0, kLo, kHi);
      if (!v.ok()) return v.status();
      dst[field] = *v;
    }
    return Status::Ok();
  };
  json body = {{"name", f.Get("name")}};
  Status st = put_ints(body, {{"cpu-milli", "cpu_milli"}, {"memory-mib", "memory_mib"}}, true);
  if (!st.ok()) return Usage(cmd, st.message());
  if (f.Has("gpu-count") || f.Has("gpu-milli") || f.Has("gpu-profile") || !models.empty()) {
    json gpu = json::object();
    st = put_ints(gpu, {{"gpu-count", "count"}, {"gpu-milli", "milli"}}, false);
    if (!st.ok()) return Usage(cmd, st.message());
    if (f.Has("gpu-profile")) gpu["profile"] = f.Get("gpu-profile");
    if (!models.empty()) gpu["models"] = models;
    body["gpu"] = gpu;
  }
  if (f.Has("cpu-weight") || f.Has("cpu-cap-pct")) {
    json qos = json::object();
    st = put_ints(qos, {{"cpu-weight", "cpu_weight"}, {"cpu-cap-pct", "cpu_cap_pct"}}, false);
    if (!st.ok()) return Usage(cmd, st.message());
    body["qos"] = qos;
  }
  for (const auto& [flag, field] :
       {std::pair{"isolation-floor", "isolation_floor"},
        std::pair{"anti-affinity-group", "anti_affinity_group"}, std::pair{"policy", "policy"}}) {
    if (f.Has(flag)) body[field] = f.Get(flag);
  }
  return Run(cmd, p->conn, "POST", "/v1/vms", body.dump(), f.Get("idempotency-key"), PrintVm);
}

int VmList(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {}, {}, 0, "");
  if (!p.ok()) return Usage("vm list", p.status().message());
  return Run("vm list", p->conn, "GET", "/v1/vms", "", "", [](const json& doc) {
    std::vector<std::vector<std::string>> rows;
    for (const json& vm : doc.value("vms", json::array())) {
      rows.push_back({Str(vm, "id"), Str(vm, "name"), Str(vm, "host"),
                      std::to_string(Int(vm, "cpu_milli")), std::to_string(Int(vm, "memory_mib")),
                      GpuSummary(vm), DevicesSummary(vm)});
    }
    PrintTable({"ID", "NAME", "HOST", "CPU(m)", "MEM(MiB)", "GPU", "DEVICES"},
               {false, false, false, true, true, false, false}, rows);
  });
}

int VmShowOrDelete(const std::string& verb, const std::vector<std::string>& args) {
  const std::string cmd = "vm " + verb;
  Result<Parsed> p = ParseArgs(args, {}, {}, 1, "the VM id");
  if (!p.ok()) return Usage(cmd, p.status().message());
  const std::string path = "/v1/vms/" + PathSegment(p->positionals[0]);
  if (verb == "show") return Run(cmd, p->conn, "GET", path, "", "", PrintVm);
  return Run(cmd, p->conn, "DELETE", path, "", "",
             [](const json& doc) { std::printf("deleted %s\n", Str(doc, "id").c_str()); });
}

int VmResize(const std::vector<std::string>& args) {
  const std::string cmd = "vm resize";
  Result<Parsed> p = ParseArgs(args, {"cpu-milli", "memory-mib", "gpu-milli", "idempotency-key"},
                               {}, 1, "the VM id");
  if (!p.ok()) return Usage(cmd, p.status().message());
  json body = json::object();
  for (const auto& [flag, field] :
       {std::pair{"cpu-milli", "cpu_milli"}, std::pair{"memory-mib", "memory_mib"},
        std::pair{"gpu-milli", "gpu_milli"}}) {
    if (!p->flags.Has(flag)) continue;
    Result<int64_t> v = p->flags.GetInt(flag, 0, INT64_MIN, INT64_MAX);
    if (!v.ok()) return Usage(cmd, v.status().message());
    body[field] = *v;
  }
  if (body.empty()) {
    return Usage(cmd, "give at least one of --cpu-milli, --memory-mib, --gpu-milli");
  }
  return Run(cmd, p->conn, "POST", "/v1/vms/" + PathSegment(p->positionals[0]) + "/resize",
             body.dump(), p->flags.Get("idempotency-key"), PrintVm);
}

// --- hosts ------------------------------------------------------------------------------------

std::string UsedCap(const json& usage, const char* key) {
  const json u = usage.value(key, json::object());
  return std::to_string(Int(u, "used")) + "/" + std::to_string(Int(u, "capacity"));
}

void PrintHost(const json& h) {
  const json usage = h.value("usage", json::object());
  const json inv = h.value("inventory", json::object());
  std::vector<std::pair<std::string, std::string>> kv = {
      {"name", Str(h, "name")},
      {"generation", std::to_string(Int(h, "generation"))},
      {"updated", TimeOf(h, "updated_unix_ms")},
      {"cpu_milli used/cap", UsedCap(usage, "cpu_milli")},
      {"memory_mib used/cap", UsedCap(usage, "memory_mib")},
      {"gpu_milli used/cap", UsedCap(usage, "gpu_milli")}};
  if (inv.is_object() && !inv.empty()) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "%lld (reserved %lld, allocation ratio %g)",
                  static_cast<long long>(Int(inv, "cpu_milli")),
                  static_cast<long long>(Int(inv, "cpu_reserved_milli")),
                  inv.value("cpu_allocation_ratio", 1.0));
    kv.emplace_back("inventory cpu_milli", buf);
    std::snprintf(buf, sizeof buf, "%lld (reserved %lld, allocation ratio %g)",
                  static_cast<long long>(Int(inv, "memory_mib")),
                  static_cast<long long>(Int(inv, "memory_reserved_mib")),
                  inv.value("memory_allocation_ratio", 1.0));
    kv.emplace_back("inventory memory_mib", buf);
    std::vector<std::string> numa;
    for (const json& n : inv.value("numa", json::array())) {
      numa.push_back(std::to_string(Int(n, "id")) + ": " + std::to_string(Int(n, "cpu_milli")) +
                     "m " + std::to_string(Int(n, "memory_mib")) + "MiB");
    }
    kv.emplace_back("numa", numa.empty() ? "-" : Join(numa, "; "));
    std::vector<std::string> traits;
    for (const json& t : inv.value("traits", json::array())) {
      traits.push_back(t.is_string() ? t.get<std::string>() : t.dump());
    }
    kv.emplace_back("traits", traits.empty() ? "-" : Join(traits, ", "));
  }
  PrintBlock(kv);
  const json gpus = inv.value("gpus", json::array());
  if (!gpus.empty()) {
    std::vector<std::vector<std::string>> rows;
    const json used = usage.value("gpus", json::array());
    for (const json& g : gpus) {
      json u = json::object();
      for (const json& x : used) {
        if (Str(x, "id") == Str(g, "id")) u = x;
      }
      rows.push_back({Str(g, "id"), Str(g, "model"), Str(g, "sharing"), Str(g, "isolation"),
                      std::to_string(Int(g, "numa_node")), std::to_string(Int(u, "used_milli")),
                      u.value("whole", false) ? "yes" : "no", std::to_string(Int(u, "shares")),
                      std::to_string(Int(u, "partitions"))});
    }
    std::printf("\n");
    PrintTable({"GPU", "MODEL", "SHARING", "ISOLATION", "NUMA", "USED(m)", "WHOLE", "SHARES",
                "PARTITIONS"},
               {false, false, false, false, true, true, false, true, true}, rows);
  }
  const json nics = inv.value("nics", json::array());
  if (!nics.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const json& n : nics) {
      rows.push_back({Str(n, "id"), std::to_string(Int(n, "vfs")),
                      std::to_string(Int(n, "numa_node")), Str(n, "bandwidth_gbps", "-")});
    }
    std::printf("\n");
    PrintTable({"NIC", "VFS", "NUMA", "GBPS"}, {false, true, true, true}, rows);
  }
  const json disks = inv.value("disks", json::array());
  if (!disks.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const json& d : disks) {
      rows.push_back({Str(d, "id"), Str(d, "tier"), std::to_string(Int(d, "capacity_gib")),
                      std::to_string(Int(d, "numa_node"))});
    }
    std::printf("\n");
    PrintTable({"DISK", "TIER", "GIB", "NUMA"}, {false, false, true, true}, rows);
  }
}

int HostList(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {}, {}, 0, "");
  if (!p.ok()) return Usage("host list", p.status().message());
  return Run("host list", p->conn, "GET", "/v1/hosts", "", "", [](const json& doc) {
    std::vector<std::vector<std::string>> rows;
    for (const json& h : doc.value("hosts", json::array())) {
      const json usage = h.value("usage", json::object());
      rows.push_back({Str(h, "name"), UsedCap(usage, "cpu_milli"), UsedCap(usage, "memory_mib"),
                      UsedCap(usage, "gpu_milli"), std::to_string(Int(h, "generation"))});
    }
    PrintTable(
        {"NAME", "CPU(m) used/cap", "MEM(MiB) used/cap", "GPU(milli) used/cap", "GENERATION"},
        {false, true, true, true, true}, rows);
  });
}

int HostShow(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {}, {}, 1, "the host name");
  if (!p.ok()) return Usage("host show", p.status().message());
  return Run("host show", p->conn, "GET", "/v1/hosts/" + PathSegment(p->positionals[0]), "", "",
             PrintHost);
}

int HostPut(const std::vector<std::string>& args) {
  const std::string cmd = "host put";
  Result<Parsed> p = ParseArgs(args, {"file"}, {}, 1, "the host name");
  if (!p.ok()) return Usage(cmd, p.status().message());
  if (!p->flags.Has("file")) return Usage(cmd, "--file is required");
  const std::string file = p->flags.Get("file");
  std::string body;
  if (file == "-") {
    body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Fail(cmd, Status::InvalidArgument("--file: cannot read " + file));
    body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return Run(cmd, p->conn, "PUT", "/v1/hosts/" + PathSegment(p->positionals[0]), body, "",
             PrintHost);
}

// --- tenants and tokens -----------------------------------------------------------------------

void PrintTenant(const json& t) {
  PrintBlock(
      {{"id", Str(t, "id")}, {"name", Str(t, "name")}, {"created", TimeOf(t, "created_unix_ms")}});
}

int TenantCreate(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {"idempotency-key"}, {}, 1, "the tenant name");
  if (!p.ok()) return Usage("tenant create", p.status().message());
  const json body = {{"name", p->positionals[0]}};
  return Run("tenant create", p->conn, "POST", "/v1/tenants", body.dump(),
             p->flags.Get("idempotency-key"), PrintTenant);
}

int TenantList(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {}, {}, 0, "");
  if (!p.ok()) return Usage("tenant list", p.status().message());
  return Run("tenant list", p->conn, "GET", "/v1/tenants", "", "", [](const json& doc) {
    std::vector<std::vector<std::string>> rows;
    for (const json& t : doc.value("tenants", json::array())) {
      rows.push_back({Str(t, "id"), Str(t, "name"), TimeOf(t, "created_unix_ms")});
    }
    PrintTable({"ID", "NAME", "CREATED"}, {false, false, false}, rows);
  });
}

// Tenant ids are "system" or "t-" and 16 hex digits (ControlPlane::NewId).
bool LooksLikeTenantId(const std::string& s) {
  if (s == "system") return true;
  if (s.size() != 18 || s.rfind("t-", 0) != 0) return false;
  return std::all_of(s.begin() + 2, s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
  });
}

int TenantToken(const std::vector<std::string>& args) {
  const std::string cmd = "tenant token";
  Result<Parsed> p = ParseArgs(args, {"role", "idempotency-key"}, {}, 1, "the tenant (id or name)");
  if (!p.ok()) return Usage(cmd, p.status().message());
  if (!p->flags.Has("role")) return Usage(cmd, "--role admin|member|reader is required");
  const std::string body = json({{"role", p->flags.Get("role")}}).dump();
  const std::string key = p->flags.Get("idempotency-key");
  std::string tenant = p->positionals[0];
  if (!LooksLikeTenantId(tenant)) {
    // A tenant name: system admins can look its id up (others get 404 for the name below).
    Result<Answer> list = Call(p->conn, "GET", "/v1/tenants");
    if (!list.ok()) return Fail(cmd, list.status());
    if (list->status == 200 && list->doc.is_object()) {
      for (const json& t : list->doc.value("tenants", json::array())) {
        if (Str(t, "name") == tenant) tenant = Str(t, "id");
      }
    }
  }
  Result<Answer> a =
      Call(p->conn, "POST", "/v1/tenants/" + PathSegment(tenant) + "/tokens", body, key);
  if (!a.ok()) return Fail(cmd, a.status());
  if (a->status < 200 || a->status >= 300) return ReportError(cmd, p->conn, *a);
  if (p->conn.json_output) {
    std::fputs(a->body.c_str(), stdout);
    return kExitOk;
  }
  const json& t = a->doc;
  const bool redacted = t.value("token_redacted", false);
  PrintBlock({{"id", Str(t, "id")},
              {"tenant", Str(t, "tenant_id")},
              {"role", Str(t, "role")},
              {"token", redacted ? "(redacted: a replay of an earlier request with this "
                                   "Idempotency-Key; the secret is shown only once)"
                                 : Str(t, "token")}});
  if (!redacted) {
    std::fprintf(stderr,
                 "devshare tenant token: keep the token now: the server stores only "
                 "its hash\n");
  }
  return kExitOk;
}

// --- dispatch ---------------------------------------------------------------------------------

bool WantsHelp(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

}  // namespace

int RunClientCommand(const std::string& noun, const std::vector<std::string>& args) {
  // The host agent's verbs (host_agent_command.cc) have their own flags and --help.
  if (noun == "host" && !args.empty()) {
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    if (args[0] == "discover") return RunHostDiscoverCommand(rest);
    if (args[0] == "register") return RunHostRegisterCommand(rest);
    if (args[0] == "qos-check") return RunHostQosCheckCommand(rest);
  }
  const char* help = noun == "vm" ? kVmHelp : noun == "host" ? kHostHelp : kTenantHelp;
  if (WantsHelp(args) || (!args.empty() && args[0] == "help")) {
    std::printf("%s\n%s", help, kCommonHelp);
    return kExitOk;
  }
  if (args.empty()) return Usage(noun, "missing subcommand");
  const std::string verb = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (noun == "vm") {
    if (verb == "create") return VmCreate(rest);
    if (verb == "list") return VmList(rest);
    if (verb == "show" || verb == "delete") return VmShowOrDelete(verb, rest);
    if (verb == "resize") return VmResize(rest);
  } else if (noun == "host") {
    if (verb == "list") return HostList(rest);
    if (verb == "show") return HostShow(rest);
    if (verb == "put") return HostPut(rest);
  } else if (noun == "tenant") {
    if (verb == "create") return TenantCreate(rest);
    if (verb == "list") return TenantList(rest);
    if (verb == "token") return TenantToken(rest);
  }
  return Usage(noun, "unknown subcommand '" + verb + "'");
}

}  // namespace devshare::cli
