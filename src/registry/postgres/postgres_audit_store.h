// PostgresAuditStore: registry::AuditStore in the audit_log and audit_checkpoints tables of the
// registry's PostgreSQL database (migration 5). Behaves as SqliteAuditStore. Append() runs in one
// transaction that first takes pg_advisory_xact_lock(kAuditAppendLockKey), then reads the head and
// inserts the next entry, so servers sharing one database append to one chain: the second of two
// concurrent appends waits for the first to commit and links to it (seq is also the primary key,
// so a fork could not be stored even without the lock).
//
// Thread-safe: each call is one PgDatabase::Run transaction.
#pragma once

#include <memory>

#include "common/clock.h"
#include "registry/audit_store.h"
#include "registry/postgres/pg_database.h"

namespace hotswap::registry {

// "hsaudit" in ASCII: the transaction advisory lock that serialises appends.
inline constexpr int64_t kAuditAppendLockKey = 0x68736175646974;

class PostgresAuditStore final : public AuditStore {
 public:
  // `clock` stamps ts_ms and must outlive the store.
  static absl::StatusOr<std::unique_ptr<PostgresAuditStore>> Create(std::shared_ptr<PgDatabase> db,
                                                                    Clock* clock);

  absl::StatusOr<AuditEntry> Append(AuditEntry entry) override;
  absl::StatusOr<std::vector<AuditEntry>> List(const AuditQuery& query) override;
  absl::StatusOr<std::optional<AuditEntry>> Head() override;
  absl::Status InsertCheckpoint(const AuditCheckpoint& checkpoint) override;
  absl::StatusOr<std::vector<AuditCheckpoint>> ListCheckpoints() override;

 private:
  PostgresAuditStore(std::shared_ptr<PgDatabase> db, Clock* clock)
      : db_(std::move(db)), clock_(clock) {}

  const std::shared_ptr<PgDatabase> db_;
  Clock* const clock_;
};

}  // namespace hotswap::registry
