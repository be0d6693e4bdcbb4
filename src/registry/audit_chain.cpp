#include "registry/audit_chain.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/sha256.h"
#include "common/status.h"

namespace hotswap::registry {
namespace {

void AppendNetstring(std::string* out, std::string_view field) {
  absl::StrAppend(out, field.size(), ":");
  out->append(field);
  out->push_back(',');
}

void AppendNetstring(std::string* out, int64_t value) {
  AppendNetstring(out, std::to_string(value));
}

std::string Hex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

// How far from its own seq an entry is searched for when its hash does not match (a moved entry
// is reported as reordered rather than edited).
constexpr int64_t kReorderWindow = 64;
constexpr size_t kMaxProblems = 100;
constexpr int kPage = 1000;

}  // namespace

std::string AuditCanonical(const AuditEntry& e) {
  std::string out;
  out.reserve(256 + e.before_json.size() + e.after_json.size());
  AppendNetstring(&out, "hotswap-audit-v1");
  AppendNetstring(&out, e.seq);
  AppendNetstring(&out, e.ts_ms);
  AppendNetstring(&out, e.actor);
  AppendNetstring(&out, e.role);
  AppendNetstring(&out, e.action);
  AppendNetstring(&out, e.target);
  AppendNetstring(&out, e.before_json);
  AppendNetstring(&out, e.after_json);
  AppendNetstring(&out, e.source);
  AppendNetstring(&out, e.request_id);
  AppendNetstring(&out, e.prev_hash);
  return out;
}

std::string AuditEntryHash(const AuditEntry& e) { return Sha256Hex(AuditCanonical(e)); }

absl::Status ValidateNewAuditEntry(const AuditEntry& e) {
  if (e.action.empty()) return absl::InvalidArgumentError("audit entry: action is empty");
  if (e.target.empty()) return absl::InvalidArgumentError("audit entry: target is empty");
  if (e.actor.empty()) return absl::InvalidArgumentError("audit entry: actor is empty");
  if (e.before_json.empty() || e.after_json.empty()) {
    return absl::InvalidArgumentError("audit entry: before/after must be JSON text (null for none)");
  }
  return absl::OkStatus();
}

absl::Status ValidateAuditQuery(const AuditQuery& q) {
  if (q.limit < 1 || q.limit > 10000) {
    return absl::InvalidArgumentError("audit query: limit must be from 1 to 10000");
  }
  if (q.after_seq < 0) return absl::InvalidArgumentError("audit query: after_seq must be >= 0");
  return absl::OkStatus();
}

std::string AuditCheckpointMessage(int64_t seq, std::string_view hash, int64_t ts_ms) {
  std::string out;
  AppendNetstring(&out, "hotswap-audit-checkpoint-v1");
  AppendNetstring(&out, seq);
  AppendNetstring(&out, hash);
  AppendNetstring(&out, ts_ms);
  return out;
}

std::string AuditCheckpointHmac(std::string_view key, int64_t seq, std::string_view hash,
                                int64_t ts_ms) {
  const std::string message = AuditCheckpointMessage(seq, hash, ts_ms);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len);
  return Hex(out, len);
}

std::string AuditKeyId(std::string_view key) {
  return Sha256Hex(absl::StrCat("hotswap-audit-key-id:", ToAbsl(key))).substr(0, 16);
}

AuditCheckpoint SignAuditCheckpoint(std::string_view key, const AuditEntry& entry, int64_t ts_ms) {
  return AuditCheckpoint{.seq = entry.seq,
                         .hash = entry.hash,
                         .ts_ms = ts_ms,
                         .key_id = AuditKeyId(key),
                         .hmac = AuditCheckpointHmac(key, entry.seq, entry.hash, ts_ms)};
}

absl::StatusOr<AuditVerifyReport> VerifyAuditLog(AuditStore& store, std::string_view key) {
  AuditVerifyReport report;
  std::vector<AuditProblem> problems;
  std::map<int64_t, std::string> stored_hash;  // seq -> stored hash, for the checkpoints
  std::set<int64_t> flagged;                   // entries already reported edited/reordered

  int64_t expected = 1;
  std::string prev_hash(kAuditGenesisHash);
  AuditQuery q;
  q.limit = kPage;
  while (true) {
    HS_ASSIGN_OR_RETURN(std::vector<AuditEntry> page, store.List(q));
    for (const AuditEntry& e : page) {
      ++report.entries;
      bool self_ok = true;
      if (AuditEntryHash(e) != e.hash) {
        self_ok = false;
        flagged.insert(e.seq);
        std::optional<int64_t> written_at;
        for (int64_t t = std::max<int64_t>(1, e.seq - kReorderWindow);
             t <= e.seq + kReorderWindow && !written_at; ++t) {
          if (t == e.seq) continue;
          AuditEntry moved = e;
          moved.seq = t;
          if (AuditEntryHash(moved) == e.hash) written_at = t;
        }
        if (written_at) {
          problems.push_back({e.seq, "reordered",
                              absl::StrCat("seq ", e.seq, " holds the entry written as seq ",
                                           *written_at, " (entries were moved or renumbered)")});
        } else {
          problems.push_back(
              {e.seq, "edited",
               absl::StrCat("seq ", e.seq, " (", e.action, " ", e.target,
                            ") was edited: its contents no longer match its hash")});
        }
      }
      if (e.seq != expected) {
        problems.push_back(
            {expected, "deleted",
             e.seq - 1 == expected
                 ? absl::StrCat("seq ", expected, " is missing (deleted)")
                 : absl::StrCat("seqs ", expected, " to ", e.seq - 1, " are missing (deleted)")});
      } else if (self_ok && e.prev_hash != prev_hash) {
        problems.push_back(
            {e.seq, "chain_broken",
             absl::StrCat("seq ", e.seq, "'s prev_hash does not match the hash of seq ", e.seq - 1,
                          ": one of the two was rewritten or replaced")});
      }
      prev_hash = e.hash;
      expected = e.seq + 1;
      stored_hash[e.seq] = e.hash;
      report.head_seq = e.seq;
      report.head_hash = e.hash;
      q.after_seq = e.seq;
    }
    if (static_cast<int>(page.size()) < kPage) break;
  }

  HS_ASSIGN_OR_RETURN(std::vector<AuditCheckpoint> checkpoints, store.ListCheckpoints());
  report.checkpoints = static_cast<int64_t>(checkpoints.size());
  const std::string key_id = AuditKeyId(key);
  bool truncation_reported = false;
  for (const AuditCheckpoint& cp : checkpoints) {
    const std::string mac = AuditCheckpointHmac(key, cp.seq, cp.hash, cp.ts_ms);
    if (!ConstantTimeEquals(mac, cp.hmac)) {
      problems.push_back(
          {cp.seq, "checkpoint_forged",
           cp.key_id != key_id
               ? absl::StrCat("checkpoint at seq ", cp.seq, " names key ", cp.key_id,
                              ", not this server's key ", key_id,
                              ": forged, or signed by a server with another audit key")
               : absl::StrCat("checkpoint at seq ", cp.seq,
                              ": its HMAC does not verify (forged or altered)")});
      continue;
    }
    if (cp.seq > report.head_seq) {
      if (!truncation_reported) {
        truncation_reported = true;
        problems.push_back(
            {report.head_seq + 1, "truncated",
             absl::StrCat("the log ends at seq ", report.head_seq, " but a checkpoint signed at ",
                          FormatTimestamp(cp.ts_ms), " covers seq ", cp.seq, ": entries ",
                          report.head_seq + 1, " to ", cp.seq, " (at least) were removed")});
      }
      continue;
    }
    auto it = stored_hash.find(cp.seq);
    // Missing or already reported entries need no second report.
    if (it == stored_hash.end() || flagged.count(cp.seq)) continue;
    if (it->second != cp.hash) {
      problems.push_back(
          {report.last_checkpoint_seq + 1, "checkpoint_mismatch",
           absl::StrCat("seq ", cp.seq, " has another hash than when it was checkpointed at ",
                        FormatTimestamp(cp.ts_ms), ": entries ", report.last_checkpoint_seq + 1,
                        " to ", cp.seq, " were rewritten (hashes recomputed)")});
      continue;
    }
    report.last_checkpoint_seq = cp.seq;
  }
  report.unprotected_entries = report.head_seq - report.last_checkpoint_seq;

  std::stable_sort(problems.begin(), problems.end(),
                   [](const AuditProblem& a, const AuditProblem& b) { return a.seq < b.seq; });
  if (problems.size() > kMaxProblems) problems.resize(kMaxProblems);
  report.ok = problems.empty();
  if (!problems.empty()) report.first_bad_seq = problems.front().seq;
  report.problems = std::move(problems);
  return report;
}

}  // namespace hotswap::registry
