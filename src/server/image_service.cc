// ImageService: the boot image catalogue.
#include "server/image_service.h"

#include <fstream>

#include "server/authorizer.h"
#include "server/json_fields.h"

namespace devshare::server {
namespace {

// An absolute path; with `verify`, a readable file (a qcow2 one when `qcow2`).
Status CheckPath(const std::string& path, const char* field, bool verify, bool qcow2) {
  if (path.empty() || path[0] != '/') {
    return Status::InvalidArgument(std::string("field '") + field +
                                   "': expected an absolute path, got '" + path + "'");
  }
  if (!verify) return Status::Ok();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::InvalidArgument(std::string("field '") + field + "': cannot read '" + path +
                                   "' on the server (give \"verify\": false when only the hosts "
                                   "have it)");
  }
  if (qcow2) {
    char magic[4] = {};
    in.read(magic, 4);
    if (in.gcount() != 4 || magic[0] != 'Q' || magic[1] != 'F' || magic[2] != 'I' ||
        static_cast<unsigned char>(magic[3]) != 0xfb) {
      return Status::InvalidArgument(std::string("field '") + field + "': '" + path +
                                     "' is not a qcow2 image (convert it with qemu-img convert "
                                     "-O qcow2)");
    }
  }
  return Status::Ok();
}

Result<store::ImageRecord> ParseImage(const std::string& body) {
  DS_ASSIGN_OR_RETURN(const nlohmann::json j, ParseJsonObject(body));
  FieldReader r(j, "");
  store::ImageRecord i;
  DS_ASSIGN_OR_RETURN(i.name, r.String("name", true, 63));
  DS_RETURN_IF_ERROR(CheckName(i.name, "name"));
  DS_ASSIGN_OR_RETURN(i.kind, r.String("kind", true, 16));
  DS_ASSIGN_OR_RETURN(const bool verify, r.Bool("verify", false, true));
  if (i.kind == "disk") {
    DS_ASSIGN_OR_RETURN(i.file, r.String("file", true, 4096));
    DS_RETURN_IF_ERROR(CheckPath(i.file, "file", verify, true));
  } else if (i.kind == "kernel") {
    DS_ASSIGN_OR_RETURN(i.kernel, r.String("kernel", true, 4096));
    DS_ASSIGN_OR_RETURN(i.initrd, r.String("initrd", true, 4096));
    DS_ASSIGN_OR_RETURN(i.cmdline, r.String("cmdline", false, 1024));
    DS_RETURN_IF_ERROR(CheckPath(i.kernel, "kernel", verify, false));
    DS_RETURN_IF_ERROR(CheckPath(i.initrd, "initrd", verify, false));
  } else {
    return Status::InvalidArgument("field 'kind': unknown kind '" + i.kind +
                                   "' (known: disk, kernel)");
  }
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  return i;
}

}  // namespace

nlohmann::json ImageJson(const store::ImageRecord& i) {
  nlohmann::json j = {{"name", i.name}, {"kind", i.kind}, {"created_unix_ms", i.created_unix_ms}};
  if (i.kind == "disk") {
    j["file"] = i.file;
  } else {
    j["kernel"] = i.kernel;
    j["initrd"] = i.initrd;
    if (!i.cmdline.empty()) j["cmdline"] = i.cmdline;
  }
  return j;
}

Result<Reply> ImageService::Create(const Principal& p, const std::string& body) {
  DS_RETURN_IF_ERROR(ctx_.Check(p, "image.create", "image"));
  Result<store::ImageRecord> image = ParseImage(body);
  if (!image.ok()) return ctx_.Refuse(p, "image.create", "image", image.status());
  return ctx_.Run([this, p, image = *image](store::Txn& tx, OpResult& r) mutable -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, "image.create", "image/" + image.name);
    if (ledger.FindImage(image.name) != nullptr) {
      return Status::AlreadyExists("image '" + image.name + "' exists");
    }
    image.created_unix_ms = ctx_.Now();
    DS_RETURN_IF_ERROR(tx.InsertImage(image));
    ledger.AddImage(image);
    r.undo = [&ledger, name = image.name] { ledger.RemoveImage(name); };
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(ImageJson(image));
    return Reply::Created(ImageJson(image));
  });
}

Result<Reply> ImageService::List(const Principal& p) {
  DS_RETURN_IF_ERROR(ctx_.Check(p, "image.list", "image"));
  std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [name, image] : ctx_.ledger().images()) list.push_back(ImageJson(image));
  return Reply::Ok({{"images", list}});
}

Result<Reply> ImageService::Delete(const Principal& p, const std::string& name) {
  DS_RETURN_IF_ERROR(ctx_.Check(p, "image.delete", "image/" + name));
  return ctx_.Run([this, p, name](store::Txn& tx, OpResult& r) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, "image.delete", "image/" + name);
    const store::ImageRecord* image = ledger.FindImage(name);
    if (image == nullptr) return Status::NotFound("image '" + name + "' not found");
    for (const auto& [id, vm] : ledger.vms()) {
      if (vm.spec.image == name) {
        return Status::FailedPrecondition("image '" + name + "' is used by vm " + id)
            .WithReason("image_in_use");
      }
    }
    DS_RETURN_IF_ERROR(tx.DeleteImage(name));
    r.undo = [&ledger, copy = *image] { ledger.AddImage(copy); };
    ledger.RemoveImage(name);
    r.audit.outcome = "ok";
    return Reply::Ok({{"name", name}, {"deleted", true}});
  });
}

}  // namespace devshare::server
