// The audit hash chain: record hashing, and verification of a whole log.
// hash = SHA-256(prev_hash_hex || "\n" || canonical text), where the canonical text is the
// fields seq, time_unix_ms, tenant_id, actor, operation, object, outcome, detail_json, each
// length-prefixed ("<len>:<bytes>\n") so no two records share a text. The first prev_hash is
// kAuditGenesisHash (64 '0').
// Thread-safety: pure functions.
#ifndef DEVSHARE_STORE_AUDIT_CHAIN_H_
#define DEVSHARE_STORE_AUDIT_CHAIN_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/status.h"
#include "devshare/store/records.h"

namespace devshare::store {

inline constexpr std::string_view kAuditGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

std::string Sha256Hex(std::string_view bytes);
std::string AuditCanonicalText(const AuditRecord& r);
std::string AuditHash(std::string_view prev_hash_hex, const AuditRecord& r);

// OK when seqs run 1..n without gaps, each prev_hash is the previous hash (genesis first) and
// each hash recomputes, and the last record is `head` (the seq and hash the store keeps beside
// the log, written in the same transaction, so cutting records off the tail is caught).
// Otherwise DataLoss naming the first bad record, e.g.
// "audit record 17: hash mismatch (stored 3fa2..., computed 9b01...)".
Status VerifyAuditChain(const std::vector<AuditRecord>& records, const AuditHead& head);

}  // namespace devshare::store

#endif  // DEVSHARE_STORE_AUDIT_CHAIN_H_
