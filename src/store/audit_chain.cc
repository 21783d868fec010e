// Audit hash chain: SHA-256 (OpenSSL EVP), the canonical record text and whole-log verification.
// Thread-safety: pure functions.
#include "devshare/store/audit_chain.h"

#include <openssl/evp.h>

#include <cstddef>
#include <string>

namespace devshare::store {
namespace {

void AppendField(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
  out += '\n';
}

// First 8 hex digits and an ellipsis, for messages.
std::string Short(std::string_view hex) {
  if (hex.size() <= 8) return std::string(hex);
  return std::string(hex.substr(0, 8)) + "...";
}

std::string RecordName(int64_t seq) { return "audit record " + std::to_string(seq); }

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  std::string hex;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &digest_len, EVP_sha256(), nullptr) != 1) {
    return hex;  // only on allocation failure inside OpenSSL; an empty hash never verifies
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  hex.resize(static_cast<size_t>(digest_len) * 2);
  for (unsigned int i = 0; i < digest_len; ++i) {
    hex[2 * i] = kDigits[digest[i] >> 4];
    hex[2 * i + 1] = kDigits[digest[i] & 0xf];
  }
  return hex;
}

std::string AuditCanonicalText(const AuditRecord& r) {
  std::string text;
  text.reserve(96 + r.tenant_id.size() + r.actor.size() + r.operation.size() + r.object.size() +
               r.outcome.size() + r.detail_json.size());
  AppendField(text, std::to_string(r.seq));
  AppendField(text, std::to_string(r.time_unix_ms));
  AppendField(text, r.tenant_id);
  AppendField(text, r.actor);
  AppendField(text, r.operation);
  AppendField(text, r.object);
  AppendField(text, r.outcome);
  AppendField(text, r.detail_json);
  return text;
}

std::string AuditHash(std::string_view prev_hash_hex, const AuditRecord& r) {
  std::string input(prev_hash_hex);
  input += '\n';
  input += AuditCanonicalText(r);
  return Sha256Hex(input);
}

Status VerifyAuditChain(const std::vector<AuditRecord>& records, const AuditHead& head) {
  std::string_view prev = kAuditGenesisHash;
  for (size_t i = 0; i < records.size(); ++i) {
    const AuditRecord& r = records[i];
    const int64_t expected_seq = static_cast<int64_t>(i) + 1;
    if (r.seq != expected_seq) {
      return Status::DataLoss(RecordName(r.seq) + ": out of sequence (expected seq " +
                              std::to_string(expected_seq) +
                              " here: a record was removed, inserted or reordered)");
    }
    if (r.prev_hash_hex != prev) {
      return Status::DataLoss(RecordName(r.seq) + ": prev-hash mismatch (stored " +
                              Short(r.prev_hash_hex) + ", previous record's hash " + Short(prev) +
                              ")");
    }
    const std::string computed = AuditHash(prev, r);
    if (r.hash_hex != computed) {
      return Status::DataLoss(RecordName(r.seq) + ": hash mismatch (stored " + Short(r.hash_hex) +
                              ", computed " + Short(computed) + ")");
    }
    if (r.seq > head.seq) {
      return Status::DataLoss(RecordName(r.seq) + ": beyond the audit head (seq " +
                              std::to_string(head.seq) +
                              "): records were appended without moving the head");
    }
    prev = r.hash_hex;
  }
  if (records.empty()) {
    if (head.seq != 0 || (!head.hash_hex.empty() && head.hash_hex != kAuditGenesisHash)) {
      return Status::DataLoss("audit log is empty but the head is " + RecordName(head.seq) +
                              " (hash " + Short(head.hash_hex) + "): the log was truncated");
    }
    return Status::Ok();
  }
  const AuditRecord& last = records.back();
  if (last.seq != head.seq) {
    // last.seq < head.seq here: a later seq was caught inside the loop.
    return Status::DataLoss("audit log ends at " + RecordName(last.seq) + " but the head is " +
                            RecordName(head.seq) + ": the tail was truncated");
  }
  if (last.hash_hex != head.hash_hex) {
    return Status::DataLoss(RecordName(last.seq) + ": hash " + Short(last.hash_hex) +
                            " differs from the audit head's " + Short(head.hash_hex) +
                            ": the tail was replaced");
  }
  return Status::Ok();
}

}  // namespace devshare::store
