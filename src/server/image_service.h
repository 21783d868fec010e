// ImageService: the catalogue of boot images VMs name in "image": a qcow2 base disk (each VM
// boots from its own overlay on it) or a kernel + initrd for direct boot. Paths are absolute
// paths on the hosts; the server checks the ones it can see.
// Thread-safety: all methods are thread-safe (writes go through the group committer, reads hold
// the ledger lock shared).
#ifndef DEVSHARE_SERVER_IMAGE_SERVICE_H_
#define DEVSHARE_SERVER_IMAGE_SERVICE_H_

#include <string>

#include "server/service_context.h"

namespace devshare::server {

// {"name", "kind", "created_unix_ms", "file"} or {..., "kernel", "initrd", "cmdline"}.
nlohmann::json ImageJson(const store::ImageRecord& image);

class ImageService {
 public:
  explicit ImageService(ServiceContext* ctx) : ctx_(*ctx) {}

  // POST /v1/images: {"name", "kind": "disk", "file"} | {"name", "kind": "kernel", "kernel",
  // "initrd", "cmdline"} [, "verify": true]. With verify (the default) each file must exist on
  // the server and a disk must be qcow2. 201; AlreadyExists for a taken name.
  Result<Reply> Create(const Principal& p, const std::string& body);
  Result<Reply> List(const Principal& p);
  // FailedPrecondition image_in_use while a VM names it.
  Result<Reply> Delete(const Principal& p, const std::string& name);

 private:
  ServiceContext& ctx_;
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_IMAGE_SERVICE_H_
