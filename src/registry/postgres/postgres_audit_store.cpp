#include "registry/postgres/postgres_audit_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "registry/audit_chain.h"

namespace hotswap::registry {
namespace {

constexpr char kColumns[] =
    "seq, ts_ms, actor, role, action, target, before_json, after_json, source, request_id, "
    "prev_hash, hash";

AuditEntry ReadEntry(const PgStatement& st) {
  return AuditEntry{.seq = st.ColumnInt64(0),
                    .ts_ms = st.ColumnInt64(1),
                    .actor = st.ColumnText(2),
                    .role = st.ColumnText(3),
                    .action = st.ColumnText(4),
                    .target = st.ColumnText(5),
                    .before_json = st.ColumnText(6),
                    .after_json = st.ColumnText(7),
                    .source = st.ColumnText(8),
                    .request_id = st.ColumnText(9),
                    .prev_hash = st.ColumnText(10),
                    .hash = st.ColumnText(11)};
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresAuditStore>> PostgresAuditStore::Create(
    std::shared_ptr<PgDatabase> db, Clock* clock) {
  if (db == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("PostgresAuditStore needs a database and a clock");
  }
  return std::unique_ptr<PostgresAuditStore>(new PostgresAuditStore(std::move(db), clock));
}

absl::StatusOr<AuditEntry> PostgresAuditStore::Append(AuditEntry entry) {
  HS_RETURN_IF_ERROR(ValidateNewAuditEntry(entry));
  AuditEntry stored;
  HS_RETURN_IF_ERROR(db_->Run(PgDatabase::Mode::kWrite, [&](PgTransaction& txn) -> absl::Status {
    HS_ASSIGN_OR_RETURN(PgStatement lock, txn.Prepare("SELECT pg_advisory_xact_lock($1::bigint)"));
    lock.BindInt64(1, kAuditAppendLockKey);
    HS_RETURN_IF_ERROR(lock.Run());
    // READ COMMITTED: this statement sees every append committed before the lock was granted.
    HS_ASSIGN_OR_RETURN(PgStatement head,
                        txn.Prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"));
    HS_ASSIGN_OR_RETURN(bool any, head.Step());
    stored = entry;
    stored.seq = any ? head.ColumnInt64(0) + 1 : 1;
    stored.prev_hash = any ? head.ColumnText(1) : std::string(kAuditGenesisHash);
    stored.ts_ms = clock_->NowMillis();
    stored.hash = AuditEntryHash(stored);
    HS_ASSIGN_OR_RETURN(
        PgStatement insert,
        txn.Prepare(absl::StrCat("INSERT INTO audit_log (", kColumns,
                                 ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")));
    insert.BindInt64(1, stored.seq)
        .BindInt64(2, stored.ts_ms)
        .BindText(3, stored.actor)
        .BindText(4, stored.role)
        .BindText(5, stored.action)
        .BindText(6, stored.target)
        .BindText(7, stored.before_json)
        .BindText(8, stored.after_json)
        .BindText(9, stored.source)
        .BindText(10, stored.request_id)
        .BindText(11, stored.prev_hash)
        .BindText(12, stored.hash);
    return insert.Run();
  }));
  return stored;
}

absl::StatusOr<std::vector<AuditEntry>> PostgresAuditStore::List(const AuditQuery& q) {
  HS_RETURN_IF_ERROR(ValidateAuditQuery(q));
  // PostgreSQL wants every parameter it is sent to be used: number them as they are added.
  std::string sql = absl::StrCat("SELECT ", kColumns, " FROM audit_log WHERE seq > $1::bigint");
  int n = 1;
  if (!q.actor.empty()) absl::StrAppend(&sql, " AND actor = $", ++n);
  if (!q.target.empty()) {
    ++n;
    absl::StrAppend(&sql, " AND (target = $", n, "::text OR substr(target, 1, length($", n,
                    "::text) + 1) = $", n, "::text || '/')");
  }
  if (!q.action.empty()) {
    ++n;
    absl::StrAppend(&sql, " AND (action = $", n, "::text OR substr(action, 1, length($", n,
                    "::text) + 1) = $", n, "::text || '.')");
  }
  if (q.since_ms) absl::StrAppend(&sql, " AND ts_ms >= $", ++n, "::bigint");
  if (q.until_ms) absl::StrAppend(&sql, " AND ts_ms < $", ++n, "::bigint");
  absl::StrAppend(&sql, " ORDER BY seq LIMIT $", ++n, "::bigint");
  std::vector<AuditEntry> out;
  HS_RETURN_IF_ERROR(db_->Run(PgDatabase::Mode::kRead, [&](PgTransaction& txn) -> absl::Status {
    out.clear();
    HS_ASSIGN_OR_RETURN(PgStatement st, txn.Prepare(sql));
    int i = 1;
    st.BindInt64(i, q.after_seq);
    if (!q.actor.empty()) st.BindText(++i, q.actor);
    if (!q.target.empty()) st.BindText(++i, q.target);
    if (!q.action.empty()) st.BindText(++i, q.action);
    if (q.since_ms) st.BindInt64(++i, *q.since_ms);
    if (q.until_ms) st.BindInt64(++i, *q.until_ms);
    st.BindInt64(++i, q.limit);
    while (true) {
      HS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadEntry(st));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::optional<AuditEntry>> PostgresAuditStore::Head() {
  std::optional<AuditEntry> head;
  HS_RETURN_IF_ERROR(db_->Run(PgDatabase::Mode::kRead, [&](PgTransaction& txn) -> absl::Status {
    head.reset();
    HS_ASSIGN_OR_RETURN(PgStatement st,
                        txn.Prepare(absl::StrCat("SELECT ", kColumns,
                                                 " FROM audit_log ORDER BY seq DESC LIMIT 1")));
    HS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) head = ReadEntry(st);
    return absl::OkStatus();
  }));
  return head;
}

absl::Status PostgresAuditStore::InsertCheckpoint(const AuditCheckpoint& c) {
  absl::Status s = db_->Run(PgDatabase::Mode::kWrite, [&](PgTransaction& txn) -> absl::Status {
    HS_ASSIGN_OR_RETURN(PgStatement st,
                        txn.Prepare("INSERT INTO audit_checkpoints (seq, hash, ts_ms, key_id, "
                                    "hmac) VALUES ($1, $2, $3, $4, $5)"));
    st.BindInt64(1, c.seq).BindText(2, c.hash).BindInt64(3, c.ts_ms).BindText(4, c.key_id).BindText(
        5, c.hmac);
    return st.Run();
  });
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(absl::StrCat("a checkpoint at seq ", c.seq, " exists"));
  }
  return s;
}

absl::StatusOr<std::vector<AuditCheckpoint>> PostgresAuditStore::ListCheckpoints() {
  std::vector<AuditCheckpoint> out;
  HS_RETURN_IF_ERROR(db_->Run(PgDatabase::Mode::kRead, [&](PgTransaction& txn) -> absl::Status {
    out.clear();
    HS_ASSIGN_OR_RETURN(PgStatement st, txn.Prepare("SELECT seq, hash, ts_ms, key_id, hmac FROM "
                                                    "audit_checkpoints ORDER BY seq"));
    while (true) {
      HS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(AuditCheckpoint{.seq = st.ColumnInt64(0),
                                    .hash = st.ColumnText(1),
                                    .ts_ms = st.ColumnInt64(2),
                                    .key_id = st.ColumnText(3),
                                    .hmac = st.ColumnText(4)});
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace hotswap::registry
