#include "registry/sqlite_audit_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "registry/audit_chain.h"

namespace hotswap::registry {
namespace {

constexpr char kColumns[] =
    "seq, ts_ms, actor, role, action, target, before_json, after_json, source, request_id, "
    "prev_hash, hash";

AuditEntry ReadEntry(const Statement& st) {
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

absl::StatusOr<std::unique_ptr<SqliteAuditStore>> SqliteAuditStore::Create(
    std::shared_ptr<SqliteDatabase> db, Clock* clock) {
  if (db == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("SqliteAuditStore needs a database and a clock");
  }
  return std::unique_ptr<SqliteAuditStore>(new SqliteAuditStore(std::move(db), clock));
}

absl::StatusOr<AuditEntry> SqliteAuditStore::Append(AuditEntry entry) {
  HS_RETURN_IF_ERROR(ValidateNewAuditEntry(entry));
  Transaction txn(*db_, Transaction::Mode::kWrite);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(Statement head,
                      txn.Prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"));
  HS_ASSIGN_OR_RETURN(bool any, head.Step());
  entry.seq = any ? head.ColumnInt64(0) + 1 : 1;
  entry.prev_hash = any ? head.ColumnText(1) : std::string(kAuditGenesisHash);
  entry.ts_ms = clock_->NowMillis();
  entry.hash = AuditEntryHash(entry);
  HS_ASSIGN_OR_RETURN(
      Statement insert,
      txn.Prepare(absl::StrCat("INSERT INTO audit_log (", kColumns,
                               ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")));
  insert.BindInt64(1, entry.seq)
      .BindInt64(2, entry.ts_ms)
      .BindText(3, entry.actor)
      .BindText(4, entry.role)
      .BindText(5, entry.action)
      .BindText(6, entry.target)
      .BindText(7, entry.before_json)
      .BindText(8, entry.after_json)
      .BindText(9, entry.source)
      .BindText(10, entry.request_id)
      .BindText(11, entry.prev_hash)
      .BindText(12, entry.hash);
  HS_RETURN_IF_ERROR(insert.Run());
  HS_RETURN_IF_ERROR(txn.Commit());
  return entry;
}

absl::StatusOr<std::vector<AuditEntry>> SqliteAuditStore::List(const AuditQuery& q) {
  HS_RETURN_IF_ERROR(ValidateAuditQuery(q));
  std::string sql = absl::StrCat("SELECT ", kColumns, " FROM audit_log WHERE seq > ?1");
  if (!q.actor.empty()) sql += " AND actor = ?2";
  if (!q.target.empty()) sql += " AND (target = ?3 OR substr(target, 1, length(?3) + 1) = ?3 || '/')";
  if (!q.action.empty()) sql += " AND (action = ?4 OR substr(action, 1, length(?4) + 1) = ?4 || '.')";
  if (q.since_ms) sql += " AND ts_ms >= ?5";
  if (q.until_ms) sql += " AND ts_ms < ?6";
  sql += " ORDER BY seq LIMIT ?7";
  std::vector<AuditEntry> out;
  Transaction txn(*db_, Transaction::Mode::kRead);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(Statement st, txn.Prepare(sql));
  st.BindInt64(1, q.after_seq);
  if (!q.actor.empty()) st.BindText(2, q.actor);
  if (!q.target.empty()) st.BindText(3, q.target);
  if (!q.action.empty()) st.BindText(4, q.action);
  if (q.since_ms) st.BindInt64(5, *q.since_ms);
  if (q.until_ms) st.BindInt64(6, *q.until_ms);
  st.BindInt64(7, q.limit);
  while (true) {
    HS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadEntry(st));
  }
  return out;
}

absl::StatusOr<std::optional<AuditEntry>> SqliteAuditStore::Head() {
  Transaction txn(*db_, Transaction::Mode::kRead);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(Statement st, txn.Prepare(absl::StrCat(
                                        "SELECT ", kColumns,
                                        " FROM audit_log ORDER BY seq DESC LIMIT 1")));
  HS_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<AuditEntry>();
  return std::optional<AuditEntry>(ReadEntry(st));
}

absl::Status SqliteAuditStore::InsertCheckpoint(const AuditCheckpoint& c) {
  Transaction txn(*db_, Transaction::Mode::kWrite);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(Statement st,
                      txn.Prepare("INSERT INTO audit_checkpoints (seq, hash, ts_ms, key_id, hmac) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5)"));
  st.BindInt64(1, c.seq).BindText(2, c.hash).BindInt64(3, c.ts_ms).BindText(4, c.key_id).BindText(
      5, c.hmac);
  absl::Status s = st.Run();
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(absl::StrCat("a checkpoint at seq ", c.seq, " exists"));
  }
  HS_RETURN_IF_ERROR(s);
  return txn.Commit();
}

absl::StatusOr<std::vector<AuditCheckpoint>> SqliteAuditStore::ListCheckpoints() {
  std::vector<AuditCheckpoint> out;
  Transaction txn(*db_, Transaction::Mode::kRead);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT seq, hash, ts_ms, key_id, hmac FROM "
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
  return out;
}

}  // namespace hotswap::registry
