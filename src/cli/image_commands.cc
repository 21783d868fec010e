// `devshare image add|list|delete`: the server's catalogue of boot images (docs/api.md#images).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/client_common.h"

namespace devshare::cli::client {
namespace {

constexpr const char* kImageHelp =
    "usage: devshare image add NAME --file disk.qcow2            (a qcow2 base disk)\n"
    "       devshare image add NAME --kernel K --initrd I [--cmdline C]   (direct boot)\n"
    "           [--no-verify]   (the files exist only on the hosts, not on the server)\n"
    "       devshare image list\n"
    "       devshare image delete NAME\n"
    "  Paths are made absolute here; VMs name the image in 'vm create --image NAME'.\n";

std::string Absolute(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

int ImageAdd(const std::vector<std::string>& args) {
  const std::string cmd = "image add";
  Result<Parsed> p =
      ParseArgs(args, {"file", "kernel", "initrd", "cmdline"}, {"no-verify"}, 1, "the image name");
  if (!p.ok()) return Usage(cmd, p.status().message());
  const Flags& f = p->flags;
  json body = {{"name", p->positionals[0]}};
  if (f.Has("file") == (f.Has("kernel") || f.Has("initrd"))) {
    return Usage(cmd, "give either --file or --kernel and --initrd");
  }
  if (f.Has("file")) {
    if (f.Has("cmdline")) return Usage(cmd, "--cmdline goes with --kernel");
    body["kind"] = "disk";
    body["file"] = Absolute(f.Get("file"));
  } else {
    if (!f.Has("kernel") || !f.Has("initrd")) return Usage(cmd, "--kernel needs --initrd");
    body["kind"] = "kernel";
    body["kernel"] = Absolute(f.Get("kernel"));
    body["initrd"] = Absolute(f.Get("initrd"));
    if (f.Has("cmdline")) body["cmdline"] = f.Get("cmdline");
  }
  if (f.Has("no-verify")) body["verify"] = false;
  return Finish(cmd, *p, p->api.CreateImage(body), [](const json& i) {
    std::printf("image %s (%s) added\n", Str(i, "name").c_str(), Str(i, "kind").c_str());
  });
}

int ImageList(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {}, {}, 0, "");
  if (!p.ok()) return Usage("image list", p.status().message());
  return Finish("image list", *p, p->api.ListImages(), [](const json& doc) {
    std::vector<std::vector<std::string>> rows;
    for (const json& i : doc.value("images", json::array())) {
      const bool disk = Str(i, "kind") == "disk";
      rows.push_back({Str(i, "name"), Str(i, "kind"),
                      disk ? Str(i, "file") : Str(i, "kernel") + " + " + Str(i, "initrd"),
                      TimeOf(i, "created_unix_ms")});
    }
    PrintTable({"NAME", "KIND", "FILES", "CREATED"}, {false, false, false, false}, rows);
  });
}

int ImageDelete(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {}, {}, 1, "the image name");
  if (!p.ok()) return Usage("image delete", p.status().message());
  return Finish("image delete", *p, p->api.DeleteImage(p->positionals[0]), [](const json& doc) {
    std::printf("deleted image %s\n", Str(doc, "name").c_str());
  });
}

}  // namespace

int RunImage(const std::vector<std::string>& args) {
  return Dispatch("image", kImageHelp,
                  {{"add", ImageAdd}, {"list", ImageList}, {"delete", ImageDelete}}, args);
}

}  // namespace devshare::cli::client
