// The audit log's hash chain and checkpoints: the canonical serialisation that is hashed, the
// HMAC of a checkpoint, and VerifyAuditLog(), which recomputes the chain and names the first
// entry that was edited, deleted or reordered (docs/audit.md).
//
// Canonical serialisation (version 1) of an entry: the fields below, in this order, each written
// as a netstring `<decimal byte length>:<bytes>,` (integers in decimal, no sign for >= 0):
//   "hotswap-audit-v1", seq, ts_ms, actor, role, action, target, before_json, after_json,
//   source, request_id, prev_hash
// hash = lower-case hex SHA-256 of those bytes. prev_hash of seq 1 is 64 "0".
//
// Checkpoint message (version 1): netstrings of
//   "hotswap-audit-checkpoint-v1", seq, hash, ts_ms
// hmac = lower-case hex HMAC-SHA256(key, message); key_id = first 16 hex of
// SHA-256("hotswap-audit-key-id:" + key).
//
// All functions are thread-safe (VerifyAuditLog only reads through the thread-safe store).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "registry/audit_store.h"

namespace hotswap::registry {

inline constexpr std::string_view kAuditGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

std::string AuditCanonical(const AuditEntry& e);
std::string AuditEntryHash(const AuditEntry& e);

std::string AuditCheckpointMessage(int64_t seq, std::string_view hash, int64_t ts_ms);
std::string AuditCheckpointHmac(std::string_view key, int64_t seq, std::string_view hash,
                                int64_t ts_ms);
std::string AuditKeyId(std::string_view key);
// What Append() and List() refuse (InvalidArgument), shared by the implementations.
absl::Status ValidateNewAuditEntry(const AuditEntry& e);
absl::Status ValidateAuditQuery(const AuditQuery& q);

// A checkpoint of `entry` signed with `key` at `ts_ms`.
AuditCheckpoint SignAuditCheckpoint(std::string_view key, const AuditEntry& entry, int64_t ts_ms);

// One thing verification found wrong, located at the first seq it affects.
struct AuditProblem {
  int64_t seq = 0;
  // "edited" (an entry's contents no longer match its hash), "deleted" (a gap in seq),
  // "reordered" (an entry sits at another seq than it was written at), "chain_broken" (prev_hash
  // differs from the previous entry's hash: that entry or this one was rewritten),
  // "truncated" (a checkpoint names an entry past the end of the log),
  // "checkpoint_forged" (HMAC does not verify with this server's key),
  // "checkpoint_mismatch" (the entry at a checkpoint's seq has another hash: rewritten).
  std::string kind;
  std::string message;
};

struct AuditVerifyReport {
  bool ok = true;
  int64_t entries = 0;
  int64_t head_seq = 0;          // 0 when empty
  std::string head_hash;         // "" when empty
  int64_t checkpoints = 0;
  int64_t last_checkpoint_seq = 0;  // last checkpoint that verified (0 = none)
  // Entries after the last verified checkpoint: a truncation or rewrite among them is not
  // detectable by verification alone.
  int64_t unprotected_entries = 0;
  std::optional<int64_t> first_bad_seq;
  std::vector<AuditProblem> problems;  // ascending by seq; at most 100
};

// Reads the whole log and its checkpoints from `store` (in pages) and checks them with `key`.
// The status is an error only when the store cannot be read; a broken log is an OK status with
// report.ok == false.
absl::StatusOr<AuditVerifyReport> VerifyAuditLog(AuditStore& store, std::string_view key);

}  // namespace hotswap::registry
