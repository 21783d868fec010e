// Tests the audit hash chain: SHA-256 known answers, the canonical text, and that every kind of
// tampering (field change, deletion, reordering, truncation, forged tail) names the right record.
#include "devshare/store/audit_chain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace devshare::store {
namespace {

using ::testing::HasSubstr;

// A valid chain of `n` records and its head, built as a store would.
std::pair<std::vector<AuditRecord>, AuditHead> MakeChain(int n) {
  std::vector<AuditRecord> records;
  std::string prev(kAuditGenesisHash);
  for (int i = 1; i <= n; ++i) {
    AuditRecord r;
    r.seq = i;
    r.time_unix_ms = 1700000000000 + i;
    r.tenant_id = "t-" + std::to_string(i % 2);
    r.actor = "k-" + std::to_string(i);
    r.operation = "vm.create";
    r.object = "vm/vm-" + std::to_string(i);
    r.outcome = "ok";
    r.detail_json = "{\"cpu_milli\":" + std::to_string(i * 100) + "}";
    r.prev_hash_hex = prev;
    r.hash_hex = AuditHash(prev, r);
    prev = r.hash_hex;
    records.push_back(std::move(r));
  }
  AuditHead head{n, n == 0 ? std::string(kAuditGenesisHash) : records.back().hash_hex};
  return {records, head};
}

TEST(Sha256HexTest, KnownAnswers) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(AuditCanonicalTextTest, LengthPrefixesEveryField) {
  AuditRecord r;
  r.seq = 12;
  r.time_unix_ms = 345;
  r.tenant_id = "t-1";
  r.actor = "k-9";
  r.operation = "host.put";
  r.object = "host/h1";
  r.outcome = "ok";
  r.detail_json = "{}";
  r.prev_hash_hex = "ignored";
  r.hash_hex = "ignored";
  EXPECT_EQ(AuditCanonicalText(r),
            "2:12\n3:345\n3:t-1\n3:k-9\n8:host.put\n7:host/h1\n2:ok\n2:{}\n");
}

TEST(AuditCanonicalTextTest, ShiftingBytesBetweenFieldsChangesTheText) {
  AuditRecord a;
  a.actor = "ab";
  a.operation = "c";
  AuditRecord b;
  b.actor = "a";
  b.operation = "bc";
  EXPECT_NE(AuditCanonicalText(a), AuditCanonicalText(b));
  EXPECT_NE(AuditHash(kAuditGenesisHash, a), AuditHash(kAuditGenesisHash, b));
}

TEST(AuditHashTest, IsShaOfPrevNewlineAndCanonicalText) {
  auto [records, head] = MakeChain(1);
  const AuditRecord& r = records[0];
  EXPECT_EQ(r.hash_hex, Sha256Hex(std::string(kAuditGenesisHash) + "\n" + AuditCanonicalText(r)));
  EXPECT_EQ(r.hash_hex.size(), 64u);
  EXPECT_NE(AuditHash(r.hash_hex, r), r.hash_hex);  // depends on prev
}

TEST(VerifyAuditChainTest, AcceptsValidChains) {
  for (int n : {0, 1, 2, 7}) {
    SCOPED_TRACE(n);
    auto [records, head] = MakeChain(n);
    EXPECT_TRUE(VerifyAuditChain(records, head).ok()) << VerifyAuditChain(records, head).ToString();
  }
  EXPECT_TRUE(VerifyAuditChain({}, AuditHead{}).ok());  // default head = empty log
}

struct TamperCase {
  std::string name;
  std::function<void(std::vector<AuditRecord>&, AuditHead&)> tamper;
  std::string message;  // substring of the DataLoss message
};

TEST(VerifyAuditChainTest, DetectsTamperingAndNamesTheFirstBadRecord) {
  const std::vector<TamperCase> cases = {
      {"byte flip in a field", [](auto& rs, auto&) { rs[2].operation[0] ^= 0x01; },
       "audit record 3: hash mismatch"},
      {"byte flip in the detail of the first record",
       [](auto& rs, auto&) { rs[0].detail_json.back() = ']'; }, "audit record 1: hash mismatch"},
      {"changed time", [](auto& rs, auto&) { rs[4].time_unix_ms += 1; },
       "audit record 5: hash mismatch"},
      {"stored hash flipped",
       [](auto& rs, auto&) { rs[1].hash_hex[10] = rs[1].hash_hex[10] == 'a' ? 'b' : 'a'; },
       "audit record 2: hash mismatch"},
      {"deletion of a middle record", [](auto& rs, auto&) { rs.erase(rs.begin() + 2); },
       "audit record 4: out of sequence (expected seq 3"},
      {"reordering two records", [](auto& rs, auto&) { std::swap(rs[1], rs[2]); },
       "audit record 3: out of sequence (expected seq 2"},
      {"renumbered record", [](auto& rs, auto&) { rs[3].seq = 40; },
       "audit record 40: out of sequence (expected seq 4"},
      {"record rewritten with a recomputed hash",
       [](auto& rs, auto&) {
         rs[2].outcome = "forbidden";
         rs[2].hash_hex = AuditHash(rs[2].prev_hash_hex, rs[2]);
       },
       "audit record 4: prev-hash mismatch"},
      {"truncation of the tail", [](auto& rs, auto&) { rs.resize(3); },
       "audit log ends at audit record 3 but the head is audit record 6"},
      {"everything deleted", [](auto& rs, auto&) { rs.clear(); },
       "audit log is empty but the head is audit record 6"},
      {"forged record appended without the head",
       [](auto& rs, auto&) {
         AuditRecord f = rs.back();
         f.seq += 1;
         f.operation = "tenant.delete";
         f.prev_hash_hex = rs.back().hash_hex;
         f.hash_hex = AuditHash(f.prev_hash_hex, f);
         rs.push_back(f);
       },
       "audit record 7: beyond the audit head (seq 6)"},
      {"last record replaced with a valid-looking one",
       [](auto& rs, auto&) {
         rs.back().actor = "k-evil";
         rs.back().hash_hex = AuditHash(rs.back().prev_hash_hex, rs.back());
       },
       "audit record 6: hash"},
      {"head moved back (truncation hidden by an old head seq)",
       [](auto&, auto& head) { head.seq = 5; }, "audit record 6: beyond the audit head (seq 5)"},
  };
  for (const TamperCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto [records, head] = MakeChain(6);
    c.tamper(records, head);
    Status s = VerifyAuditChain(records, head);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr(c.message));
  }
}

TEST(VerifyAuditChainTest, EmptyLogWithForeignGenesisHashIsDataLoss) {
  Status s = VerifyAuditChain({}, AuditHead{0, std::string(64, 'f')});
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace devshare::store
