#include "registry/sqlite_database.h"

#include <sqlite3.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"

namespace hotswap::registry {
namespace {

absl::Status ConnError(sqlite3* conn, int rc, absl::string_view what) {
  return StatusFromSqlite(rc, absl::StrCat(what, ": ", sqlite3_errmsg(conn)));
}

// Runs a pragma and returns its single-row result as text ("" when it returns no row).
absl::StatusOr<std::string> QueryPragma(sqlite3* conn, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(conn, sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return ConnError(conn, rc, sql);
  std::string value;
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    if (text != nullptr) value = reinterpret_cast<const char*>(text);
    rc = sqlite3_step(stmt);
  }
  absl::Status status = rc == SQLITE_DONE ? absl::OkStatus() : ConnError(conn, rc, sql);
  sqlite3_finalize(stmt);
  if (!status.ok()) return status;
  return value;
}

}  // namespace

absl::Status StatusFromSqlite(int rc, std::string_view message_in) {
  const absl::string_view message = ToAbsl(message_in);
  switch (rc & 0xff) {  // primary result code
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return absl::OkStatus();
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
      return absl::UnavailableError(message);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError(message);
      }
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

// ---------------------------------------------------------------------------------------------
// SqliteDatabase

absl::StatusOr<std::shared_ptr<SqliteDatabase>> SqliteDatabase::Open(const std::string& path) {
  return Open(path, Options{});
}

absl::StatusOr<std::shared_ptr<SqliteDatabase>> SqliteDatabase::Open(const std::string& path,
                                                                     const Options& options) {
  return Open(path, options, RegistryMigrations());
}

absl::StatusOr<std::shared_ptr<SqliteDatabase>> SqliteDatabase::Open(
    const std::string& path, const Options& options, std::span<const Migration> migrations) {
  sqlite3* conn = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &conn,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = StatusFromSqlite(
        rc, absl::StrCat("open ", path, ": ", conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc)));
    sqlite3_close(conn);  // a handle is allocated even on failure; nullptr is a no-op
    return status;
  }
  sqlite3_extended_result_codes(conn, 1);
  std::shared_ptr<SqliteDatabase> db(new SqliteDatabase(path, conn));
  HS_RETURN_IF_ERROR(db->Configure(options));
  HS_RETURN_IF_ERROR(
      db->ApplyMigrations(migrations, options.clock ? options.clock : SystemClock::Get()));
  return db;
}

SqliteDatabase::~SqliteDatabase() {
  absl::MutexLock lock(&mu_);
  // Every Statement has been finalised (they cannot outlive their Transaction), so this closes.
  int rc = sqlite3_close(conn_);
  if (rc != SQLITE_OK) {
    log::Error("closing the registry database failed",
               {{"path", path_}, {"error", sqlite3_errstr(rc)}});
  }
}

absl::Status SqliteDatabase::Configure(const Options& options) {
  absl::MutexLock lock(&mu_);
  int rc = sqlite3_busy_timeout(conn_, options.busy_timeout_ms);
  if (rc != SQLITE_OK) return ConnError(conn_, rc, "busy_timeout");

  HS_ASSIGN_OR_RETURN(std::string journal, QueryPragma(conn_, "PRAGMA journal_mode = WAL"));
  if (journal != "wal" && path_ != ":memory:") {
    return absl::InternalError(
        absl::StrCat("open ", path_, ": cannot enable WAL journal (mode is '", journal, "')"));
  }
  HS_RETURN_IF_ERROR(QueryPragma(conn_, "PRAGMA foreign_keys = ON").status());
  HS_ASSIGN_OR_RETURN(std::string fk, QueryPragma(conn_, "PRAGMA foreign_keys"));
  if (fk != "1") {
    return absl::InternalError("this SQLite library does not enforce foreign keys");
  }
  // FULL: a commit is on disk before it returns, so a power loss cannot drop a registered
  // version (NORMAL in WAL mode may lose the last commits on power loss).
  HS_RETURN_IF_ERROR(QueryPragma(conn_, "PRAGMA synchronous = FULL").status());
  return absl::OkStatus();
}

absl::Status SqliteDatabase::ApplyMigrations(std::span<const Migration> migrations, Clock* clock) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version <= (i == 0 ? 0 : migrations[i - 1].version)) {
      return absl::InternalError("migration versions must be positive and strictly increasing");
    }
  }
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  const std::string now = FormatTimestamp(clock->NowMillis());
  std::vector<const Migration*> applied;

  {
    Transaction txn(*this, Transaction::Mode::kWrite);
    HS_RETURN_IF_ERROR(txn.status());
    HS_RETURN_IF_ERROR(
        txn.Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                 "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"));
    HS_ASSIGN_OR_RETURN(Statement max,
                        txn.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
    HS_ASSIGN_OR_RETURN(bool row, max.Step());
    if (row && max.ColumnInt64(0) > latest) {
      return absl::FailedPreconditionError(
          absl::StrCat("database ", path_, " has schema version ", max.ColumnInt64(0),
                       " but this binary knows only up to ", latest, "; upgrade hotswap"));
    }
    HS_RETURN_IF_ERROR(txn.Commit());
  }

  // One transaction per migration; the "already applied?" check runs inside it, so two
  // processes opening a fresh file at once apply each migration exactly once.
  for (const Migration& m : migrations) {
    Transaction txn(*this, Transaction::Mode::kWrite);
    HS_RETURN_IF_ERROR(txn.status());
    HS_ASSIGN_OR_RETURN(Statement seen,
                        txn.Prepare("SELECT 1 FROM schema_migrations WHERE version = ?1"));
    seen.BindInt64(1, m.version);
    HS_ASSIGN_OR_RETURN(bool done, seen.Step());
    if (done) continue;
    absl::Status status = txn.Exec(m.sql);
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("migration ", m.version, " (", ToAbsl(m.description),
                                       "): ", status.message()));
    }
    HS_ASSIGN_OR_RETURN(
        Statement record,
        txn.Prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)"));
    record.BindInt64(1, m.version).BindText(2, now);
    HS_RETURN_IF_ERROR(record.Run());
    HS_RETURN_IF_ERROR(txn.Commit());
    applied.push_back(&m);
  }

  for (const Migration* m : applied) {
    log::Info("registry migration applied",
              {{"path", path_}, {"version", m->version}, {"description", m->description}});
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Statement

Statement::Statement(Statement&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_status_(std::move(other.bind_status_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    conn_ = std::exchange(other.conn_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_status_ = std::move(other.bind_status_);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::NoteBindResult(int rc) {
  if (rc != SQLITE_OK && bind_status_.ok()) bind_status_ = ConnError(conn_, rc, "bind");
}

Statement& Statement::BindInt64(int index, int64_t value) {
  NoteBindResult(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Statement& Statement::BindText(int index, std::string_view value) {
  NoteBindResult(
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

Statement& Statement::BindNull(int index) {
  NoteBindResult(sqlite3_bind_null(stmt_, index));
  return *this;
}

Statement& Statement::BindOptionalText(int index, const std::optional<std::string>& value) {
  return value ? BindText(index, *value) : BindNull(index);
}

Statement& Statement::BindOptionalInt64(int index, const std::optional<int64_t>& value) {
  return value ? BindInt64(index, *value) : BindNull(index);
}

absl::StatusOr<bool> Statement::Step() {
  HS_RETURN_IF_ERROR(bind_status_);
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return ConnError(conn_, rc, "step");
}

absl::Status Statement::Run() {
  while (true) {
    HS_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return absl::OkStatus();
  }
}

void Statement::Reset() { sqlite3_reset(stmt_); }

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::ColumnInt64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::optional<std::string> Statement::ColumnOptionalText(int column) const {
  if (ColumnIsNull(column)) return std::nullopt;
  return ColumnText(column);
}

std::optional<int64_t> Statement::ColumnOptionalInt64(int column) const {
  if (ColumnIsNull(column)) return std::nullopt;
  return ColumnInt64(column);
}

// ---------------------------------------------------------------------------------------------
// Transaction

Transaction::Transaction(SqliteDatabase& db, Mode mode) : db_(db) {
  db_.mu_.Lock();
  const char* begin = mode == Mode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED";
  int rc = sqlite3_exec(db_.conn_, begin, nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) {
    open_ = true;
  } else {
    status_ = ConnError(db_.conn_, rc, begin);
  }
}

Transaction::~Transaction() {
  db_.mu_.AssertHeld();
  // A failed statement may already have rolled the transaction back (e.g. SQLITE_FULL).
  if (open_ && !sqlite3_get_autocommit(db_.conn_)) {
    int rc = sqlite3_exec(db_.conn_, "ROLLBACK", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      log::Error("registry rollback failed",
                 {{"path", db_.path_}, {"error", sqlite3_errmsg(db_.conn_)}});
    }
  }
  db_.mu_.Unlock();
}

absl::StatusOr<Statement> Transaction::Prepare(std::string_view sql) {
  db_.mu_.AssertHeld();
  HS_RETURN_IF_ERROR(status_);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_.conn_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return ConnError(db_.conn_, rc, "prepare");
  return Statement(db_.conn_, stmt);
}

absl::Status Transaction::Exec(std::string_view sql) {
  db_.mu_.AssertHeld();
  HS_RETURN_IF_ERROR(status_);
  std::string script(sql);  // sqlite3_exec needs a NUL-terminated string
  int rc = sqlite3_exec(db_.conn_, script.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return ConnError(db_.conn_, rc, "exec");
  return absl::OkStatus();
}

absl::Status Transaction::Commit() {
  db_.mu_.AssertHeld();
  HS_RETURN_IF_ERROR(status_);
  if (!open_) return absl::FailedPreconditionError("transaction already committed");
  int rc = sqlite3_exec(db_.conn_, "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return ConnError(db_.conn_, rc, "commit");  // destructor rolls back
  open_ = false;
  return absl::OkStatus();
}

int64_t Transaction::LastInsertRowId() {
  db_.mu_.AssertHeld();
  return sqlite3_last_insert_rowid(db_.conn_);
}

int64_t Transaction::Changes() {
  db_.mu_.AssertHeld();
  return sqlite3_changes64(db_.conn_);
}

}  // namespace hotswap::registry
