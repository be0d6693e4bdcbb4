// AuditStore: the durable, hash-chained audit log in the registry database (tables audit_log and
// audit_checkpoints, migration 5). Each entry carries the SHA-256 of the previous entry
// (prev_hash) and its own hash over a canonical serialisation (registry/audit_chain.h), so an
// entry that is edited, deleted or moved afterwards breaks the chain; signed checkpoints
// (HMAC-SHA256 with a server key) pin the chain's head at a point in time.
//
// The store never updates or deletes entries; there is no method for it.
//
// Append() is serialised so that the chain never forks: on SQLite one write transaction
// (BEGIN IMMEDIATE, which also serialises other processes on the same file); on PostgreSQL one
// transaction under pg_advisory_xact_lock, so two servers sharing one database never link two
// entries to the same predecessor (seq is also the primary key).
//
// Implementations: SqliteAuditStore (sqlite_audit_store.h), PostgresAuditStore
// (postgres/postgres_audit_store.h). Thread-safe. Errors: InvalidArgument (bad entry or query),
// AlreadyExists (a checkpoint for that seq exists), Unavailable (database).
//
// Typical use (governance::AuditLog does this for the server):
//   AuditEntry e{.actor = "ci", .role = "editor", .action = "model.create", .target = "model/iris"};
//   HS_ASSIGN_OR_RETURN(AuditEntry stored, store->Append(e));   // stored.seq, stored.hash set
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hotswap::registry {

// One audit log entry. Fields marked (store) are assigned by Append().
struct AuditEntry {
  int64_t seq = 0;             // (store) 1, 2, 3, ... without gaps
  int64_t ts_ms = 0;           // (store) milliseconds since the epoch, from the store's clock
  std::string actor;           // token name, or "system" for the server's own actions
  std::string role;            // the token's role, or "system"
  std::string action;          // "<kind>.<verb>", e.g. "model.create", "deployment.rolled_back"
  std::string target;          // "model/iris", "model/iris/version/3", "endpoint/iris", ...
  std::string before_json = "null";  // JSON text: what the target was (summary), or null
  std::string after_json = "null";   // JSON text: what it is now (summary), or null
  std::string source;          // client address ("" for the server's own actions)
  std::string request_id;      // X-Request-Id or the generated id ("" when none)
  std::string prev_hash;       // (store) hash of entry seq-1; 64 zeros for seq 1
  std::string hash;            // (store) SHA-256 hex of AuditCanonical(entry)

  bool operator==(const AuditEntry&) const = default;
};

// A signed checkpoint: entry `seq` had hash `hash` when the server signed it.
struct AuditCheckpoint {
  int64_t seq = 0;
  std::string hash;    // the entry's hash
  int64_t ts_ms = 0;   // when signed
  std::string key_id;  // AuditKeyId(key): which key signed (not secret)
  std::string hmac;    // HMAC-SHA256 hex over AuditCheckpointMessage(seq, hash, ts_ms)

  bool operator==(const AuditCheckpoint&) const = default;
};

// Filters of List(); empty/unset = no filter. Results are ascending by seq.
struct AuditQuery {
  std::string actor;                 // exact
  std::string target;                // exact, or anything below it: "model/iris" matches
                                     // "model/iris" and "model/iris/version/3"
  std::string action;                // exact, or a family: "model" matches "model.create"
  std::optional<int64_t> since_ms;   // ts_ms >= since
  std::optional<int64_t> until_ms;   // ts_ms < until
  int64_t after_seq = 0;             // seq > after_seq (pagination)
  int limit = 100;                   // 1..10000
};

class AuditStore {
 public:
  virtual ~AuditStore() = default;

  // Appends `entry` as the next link (seq, ts_ms, prev_hash and hash are assigned; what the
  // caller put there is ignored) and returns it as stored. InvalidArgument when action or target
  // is empty or a JSON field is empty.
  virtual absl::StatusOr<AuditEntry> Append(AuditEntry entry) = 0;
  virtual absl::StatusOr<std::vector<AuditEntry>> List(const AuditQuery& query) = 0;
  // The last entry, or nullopt when the log is empty.
  virtual absl::StatusOr<std::optional<AuditEntry>> Head() = 0;

  // Stores a checkpoint (computed by the caller, who holds the key). AlreadyExists when one for
  // that seq exists.
  virtual absl::Status InsertCheckpoint(const AuditCheckpoint& checkpoint) = 0;
  // All checkpoints, ascending by seq.
  virtual absl::StatusOr<std::vector<AuditCheckpoint>> ListCheckpoints() = 0;
};

}  // namespace hotswap::registry
