// `devshare volume list|attach|detach|migrate`: the volumes of a VM through the control plane's
// REST API (docs/api.md#volumes), printed as a table. Volume QoS changes go through
// `devshare vm resize --volume name=N,iops=R,weight=W,limit=L`.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/client_common.h"

namespace devshare::cli::client {
namespace {

constexpr const char* kVolumeHelp =
    "usage: devshare volume list VM\n"
    "       devshare volume attach VM --name N --size-gib G --tier nvme|ssd|hdd\n"
    "                                 [--iops-reservation R] [--iops-weight W] [--iops-limit L]\n"
    "                                 [--idempotency-key K]\n"
    "       devshare volume detach VM NAME\n"
    "       devshare volume migrate VM NAME --tier nvme|ssd|hdd [--idempotency-key K]\n"
    "  attach hot-plugs a volume on a disk of the tier on the VM's host; detach unplugs it (the\n"
    "  host's agent removes its file); migrate moves it to a disk of another tier on the same\n"
    "  host. IOPS terms change with 'devshare vm resize ID --volume name=N,iops=R,weight=W,"
    "limit=L'.\n";

void PrintVolumes(const json& doc) {
  std::vector<std::vector<std::string>> rows;
  for (const json& v : doc.value("volumes", json::array())) {
    const json iops = v.value("iops", json::object());
    const int64_t limit = Int(iops, "limit");
    rows.push_back({Str(v, "name"), Str(v, "tier"), std::to_string(Int(v, "size_gib")),
                    Str(v, "device"), std::to_string(Int(iops, "reservation")),
                    std::to_string(Int(iops, "weight", 1)),
                    limit > 0 ? std::to_string(limit) : "-"});
  }
  PrintTable({"NAME", "TIER", "GIB", "DEVICE", "IOPS_RESERVED", "WEIGHT", "IOPS_LIMIT"},
             {false, false, true, false, true, true, true}, rows);
}

int VolumeList(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {}, {}, 1, "the VM id");
  if (!p.ok()) return Usage("volume list", p.status().message());
  return Finish("volume list", *p, p->api.ListVolumes(p->positionals[0]), PrintVolumes);
}

int VolumeAttach(const std::vector<std::string>& args) {
  const std::string cmd = "volume attach";
  Result<Parsed> p = ParseArgs(args,
                               {"name", "size-gib", "tier", "iops-reservation", "iops-weight",
                                "iops-limit", "idempotency-key"},
                               {}, 1, "the VM id");
  if (!p.ok()) return Usage(cmd, p.status().message());
  const Flags& f = p->flags;
  for (const char* required : {"name", "size-gib", "tier"}) {
    if (!f.Has(required)) return Usage(cmd, std::string("--") + required + " is required");
  }
  // Ranges are the server's to check (its messages name the field); here only integers.
  Result<int64_t> size = f.GetInt("size-gib", 0, INT64_MIN, INT64_MAX);
  if (!size.ok()) return Usage(cmd, size.status().message());
  json body = {{"name", f.Get("name")}, {"size_gib", *size}, {"tier", f.Get("tier")}};
  json iops = json::object();
  for (const auto& [flag, field] :
       {std::pair{"iops-reservation", "reservation"}, std::pair{"iops-weight", "weight"},
        std::pair{"iops-limit", "limit"}}) {
    if (!f.Has(flag)) continue;
    Result<int64_t> v = f.GetInt(flag, 0, INT64_MIN, INT64_MAX);
    if (!v.ok()) return Usage(cmd, v.status().message());
    iops[field] = *v;
  }
  if (!iops.empty()) body["iops"] = iops;
  return Finish(cmd, *p, p->api.AttachVolume(p->positionals[0], body, f.Get("idempotency-key")),
                PrintVolumes);
}

int VolumeDetach(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {}, {}, 2, "the VM id and the volume name");
  if (!p.ok()) return Usage("volume detach", p.status().message());
  return Finish("volume detach", *p, p->api.DetachVolume(p->positionals[0], p->positionals[1]),
                PrintVolumes);
}

int VolumeMigrate(const std::vector<std::string>& args) {
  const std::string cmd = "volume migrate";
  Result<Parsed> p =
      ParseArgs(args, {"tier", "idempotency-key"}, {}, 2, "the VM id and the volume name");
  if (!p.ok()) return Usage(cmd, p.status().message());
  if (!p->flags.Has("tier")) return Usage(cmd, "--tier is required");
  return Finish(cmd, *p,
                p->api.MigrateVolume(p->positionals[0], p->positionals[1], p->flags.Get("tier"),
                                     p->flags.Get("idempotency-key")),
                PrintVolumes);
}

}  // namespace

int RunVolume(const std::vector<std::string>& args) {
  return Dispatch("volume", kVolumeHelp,
                  {{"list", VolumeList},
                   {"attach", VolumeAttach},
                   {"detach", VolumeDetach},
                   {"migrate", VolumeMigrate}},
                  args);
}

}  // namespace devshare::cli::client
