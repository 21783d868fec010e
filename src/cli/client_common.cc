// Shared pieces of the client commands: see client_common.h.
#include "cli/client_common.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>

#include "cli/commands.h"
#include "cli/exit_codes.h"

namespace devshare::cli::client {
namespace {

constexpr const char* kDefaultServer = "http://127.0.0.1:8080";

constexpr const char* kCommonHelp =
    "common flags:\n"
    "  --server URL       control plane (default: $DEVSHARE_SERVER, else http://127.0.0.1:8080)\n"
    "  --token-file PATH  read the bearer token from PATH (default: $DEVSHARE_TOKEN)\n"
    "  --json             print the server's JSON body as is (errors too, on stdout)\n"
    "exit codes: 0 ok; 2 usage error or bad request (400, 413, 422); 3 server unreachable;\n"
    "  4 unauthenticated or forbidden (401, 403); 5 conflict (409: unschedulable, no_room,\n"
    "  already_exists, concurrent_update, inventory_in_use, network_overlap, network_in_use,\n"
    "  address_in_use); 6 not found (404); 1 anything else.\n";

const std::set<std::string> kCommonValueFlags = {"server", "token-file"};
const std::set<std::string> kCommonBoolFlags = {"json"};

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
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

// --token-file PATH (its first line) or $DEVSHARE_TOKEN; empty when neither is given.
Result<std::string> ReadToken(const Flags& flags) {
  if (flags.Has("token-file")) {
    const std::string path = flags.Get("token-file");
    std::ifstream in(path);
    if (!in) return Status::InvalidArgument("--token-file: cannot read " + path);
    std::string line;
    std::getline(in, line);
    std::string token = Trim(line);
    if (token.empty()) return Status::InvalidArgument("--token-file: " + path + " is empty");
    return token;
  }
  const char* env = std::getenv("DEVSHARE_TOKEN");
  return env != nullptr ? Trim(env) : std::string();
}

// --server / $DEVSHARE_SERVER (checked first) and the token.
Result<ApiClient> Connect(const Flags& flags) {
  const char* env_server = std::getenv("DEVSHARE_SERVER");
  const std::string url =
      flags.Get("server", env_server != nullptr && *env_server ? env_server : kDefaultServer);
  Result<std::string> token = ReadToken(flags);
  DS_ASSIGN_OR_RETURN(ApiClient api, ApiClient::Create(url, token.ok() ? *token : ""));
  if (!token.ok()) return token.status();
  return api;
}

bool WantsHelp(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

}  // namespace

int Usage(const std::string& command, const std::string& message) {
  const std::string noun = command.substr(0, command.find(' '));
  std::fprintf(stderr, "devshare %s: %s (see 'devshare %s --help')\n", command.c_str(),
               message.c_str(), noun.c_str());
  return kExitBadInput;
}

std::string Str(const json& j, const char* key, const std::string& def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

int64_t Int(const json& j, const char* key, int64_t def) {
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

void PrintBlock(const std::vector<std::pair<std::string, std::string>>& kv) {
  size_t width = 0;
  for (const auto& [k, v] : kv) width = std::max(width, k.size());
  for (const auto& [k, v] : kv) {
    std::printf("%s:%s %s\n", k.c_str(), std::string(width - k.size(), ' ').c_str(), v.c_str());
  }
}

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
  DS_ASSIGN_OR_RETURN(ApiClient api, Connect(flags));
  const bool json_output = flags.Has("json");
  return Parsed{std::move(flags), std::move(pos), std::move(api), json_output};
}

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

int ReportFailure(const std::string& command, const Parsed& p, const Status& status) {
  const ApiError& e = p.api.last_error();
  if (e.http_status == 0) return Fail(command, status);  // no answer
  if (p.json_output) std::fputs(e.body.c_str(), stdout);
  std::fprintf(stderr, "devshare %s: %s: %s\n", command.c_str(), e.code.c_str(), e.message.c_str());
  if (e.http_status == 401 && p.api.token().empty()) {
    std::fprintf(stderr, "  (set DEVSHARE_TOKEN or pass --token-file PATH)\n");
  }
  if (e.structured && !p.json_output && e.code == "unschedulable") {
    const json& details = e.details;
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
  const int code = ExitCodeForHttpStatus(e.http_status);
  return code == kExitOk ? kExitFailure : code;
}

int Finish(const std::string& command, const Parsed& p, const Result<ApiReply>& reply,
           const std::function<void(const json&)>& print) {
  if (!reply.ok()) return ReportFailure(command, p, reply.status());
  if (p.json_output) {
    std::fputs(reply->body.c_str(), stdout);
    if (!reply->body.empty() && reply->body.back() != '\n') std::fputs("\n", stdout);
    return kExitOk;
  }
  if (!reply->doc.is_object()) {
    std::fprintf(stderr, "devshare %s: the server answered %d with a body that is not JSON\n",
                 command.c_str(), reply->http_status);
    return kExitFailure;
  }
  print(reply->doc);
  return kExitOk;
}

int Dispatch(const std::string& noun, const char* help, const Verbs& verbs,
             const std::vector<std::string>& args) {
  if (WantsHelp(args) || (!args.empty() && args[0] == "help")) {
    std::printf("%s\n%s", help, kCommonHelp);
    return kExitOk;
  }
  if (args.empty()) return Usage(noun, "missing subcommand");
  const std::string& verb = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const auto& [name, run] : verbs) {
    if (name == verb) return run(rest);
  }
  return Usage(noun, "unknown subcommand '" + verb + "'");
}

}  // namespace devshare::cli::client
