// SqliteAuditStore: registry::AuditStore in the audit_log and audit_checkpoints tables of the
// registry's SQLite database (migration 5). Append() reads the head and inserts the next entry in
// one write transaction (BEGIN IMMEDIATE), so appends from several threads or processes on the
// same file form one chain.
//
// Thread-safe: each call is one Transaction of the shared SqliteDatabase.
#pragma once

#include <memory>

#include "common/clock.h"
#include "registry/audit_store.h"
#include "registry/sqlite_database.h"

namespace hotswap::registry {

class SqliteAuditStore final : public AuditStore {
 public:
  // `clock` stamps ts_ms and must outlive the store.
  static absl::StatusOr<std::unique_ptr<SqliteAuditStore>> Create(std::shared_ptr<SqliteDatabase> db,
                                                                  Clock* clock);

  absl::StatusOr<AuditEntry> Append(AuditEntry entry) override;
  absl::StatusOr<std::vector<AuditEntry>> List(const AuditQuery& query) override;
  absl::StatusOr<std::optional<AuditEntry>> Head() override;
  absl::Status InsertCheckpoint(const AuditCheckpoint& checkpoint) override;
  absl::StatusOr<std::vector<AuditCheckpoint>> ListCheckpoints() override;

 private:
  SqliteAuditStore(std::shared_ptr<SqliteDatabase> db, Clock* clock)
      : db_(std::move(db)), clock_(clock) {}

  const std::shared_ptr<SqliteDatabase> db_;
  Clock* const clock_;
};

}  // namespace hotswap::registry
