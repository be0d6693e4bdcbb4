// SqliteDatabase: one SQLite connection to the registry database file, shared by the registry
// and the token store. Open() sets the pragmas (WAL journal, foreign keys on, synchronous=FULL
// so a committed version survives a crash or power loss, busy timeout) and applies pending
// migrations (migrations.h), each once, in its own transaction.
//
// Thread-safe. All use of the connection goes through a Transaction, which holds the database's
// mutex for its whole life: build inputs (JSON, validation) before creating one, and turn rows
// into domain objects after it is gone, so that no lock is held while anything but SQLite runs.
// Other processes may open the same file; BEGIN IMMEDIATE plus the busy timeout serialise their
// writers, and a writer that waits longer than the timeout gets Unavailable.
//
// Typical sequence:
//   HS_ASSIGN_OR_RETURN(auto db, SqliteDatabase::Open(dir + "/registry.db"));
//   Transaction txn(*db, Transaction::Mode::kWrite);
//   HS_RETURN_IF_ERROR(txn.status());
//   HS_ASSIGN_OR_RETURN(Statement st, txn.Prepare("UPDATE models SET description = ?1 ..."));
//   st.BindText(1, "...");
//   HS_RETURN_IF_ERROR(st.Run());
//   HS_RETURN_IF_ERROR(txn.Commit());   // otherwise the destructor rolls back
//
// Error codes: SQLITE_BUSY/LOCKED (and a file that cannot be opened) -> Unavailable; a UNIQUE or
// PRIMARY KEY violation -> AlreadyExists; any other constraint violation -> FailedPrecondition;
// everything else -> Internal with sqlite3_errmsg.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "registry/migrations.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hotswap::registry {

// Canonical status for an SQLite result code (extended codes understood); `message` is used as
// the status message. Exposed for tests.
absl::Status StatusFromSqlite(int rc, std::string_view message);

class SqliteDatabase {
 public:
  struct Options {
    int busy_timeout_ms = 5000;
    Clock* clock = nullptr;  // for schema_migrations.applied_at; nullptr = SystemClock
  };

  // Opens (creating when absent) the database at `path` and brings its schema up to date with
  // RegistryMigrations(). FailedPrecondition when the file was migrated by a newer binary.
  static absl::StatusOr<std::shared_ptr<SqliteDatabase>> Open(const std::string& path);
  static absl::StatusOr<std::shared_ptr<SqliteDatabase>> Open(const std::string& path,
                                                              const Options& options);
  // Same, with an explicit migration list (tests).
  static absl::StatusOr<std::shared_ptr<SqliteDatabase>> Open(
      const std::string& path, const Options& options, std::span<const Migration> migrations);

  ~SqliteDatabase();
  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;

  const std::string& path() const { return path_; }

 private:
  friend class Transaction;

  SqliteDatabase(std::string path, sqlite3* conn) : path_(std::move(path)), conn_(conn) {}
  absl::Status Configure(const Options& options);
  absl::Status ApplyMigrations(std::span<const Migration> migrations, Clock* clock);

  const std::string path_;
  absl::Mutex mu_;
  // Set once at construction; the connection itself is used only with mu_ held.
  sqlite3* const conn_ ABSL_PT_GUARDED_BY(mu_);
};

// A prepared statement (RAII: finalised on destruction). Obtained from Transaction::Prepare and
// used only while that Transaction is alive, on its thread. Parameter indexes are 1-based (?1),
// column indexes 0-based. A failed bind is reported by the next Step/Run.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& BindInt64(int index, int64_t value);
  Statement& BindText(int index, std::string_view value);
  Statement& BindNull(int index);
  Statement& BindOptionalText(int index, const std::optional<std::string>& value);
  Statement& BindOptionalInt64(int index, const std::optional<int64_t>& value);

  // Advances to the next row: true when a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Steps until done (statements without result rows).
  absl::Status Run();
  // Makes the statement runnable again; bindings are kept.
  void Reset();

  bool ColumnIsNull(int column) const;
  int64_t ColumnInt64(int column) const;
  std::string ColumnText(int column) const;
  std::optional<std::string> ColumnOptionalText(int column) const;
  std::optional<int64_t> ColumnOptionalInt64(int column) const;

 private:
  friend class Transaction;
  Statement(sqlite3* conn, sqlite3_stmt* stmt) : conn_(conn), stmt_(stmt) {}
  void NoteBindResult(int rc);

  sqlite3* conn_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  absl::Status bind_status_;
};

// Exclusive use of the database for one unit of work: locks the database's mutex and begins a
// transaction (kWrite: BEGIN IMMEDIATE, taking the write lock up front so that read-then-write
// logic cannot be overtaken; kRead: BEGIN DEFERRED, a consistent snapshot). Commit() makes the
// changes durable; destruction without a successful Commit() rolls back. The mutex is released
// on destruction. Not movable; lives on one thread's stack.
class ABSL_SCOPED_LOCKABLE Transaction {
 public:
  enum class Mode { kRead, kWrite };

  Transaction(SqliteDatabase& db, Mode mode) ABSL_EXCLUSIVE_LOCK_FUNCTION(db.mu_);
  ~Transaction() ABSL_UNLOCK_FUNCTION();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Whether BEGIN succeeded; when not, every other method returns this error.
  const absl::Status& status() const { return status_; }

  absl::StatusOr<Statement> Prepare(std::string_view sql);
  // Runs one or more statements that return no rows.
  absl::Status Exec(std::string_view sql);
  absl::Status Commit();

  int64_t LastInsertRowId();
  // Rows changed by the most recent INSERT/UPDATE/DELETE.
  int64_t Changes();

 private:
  SqliteDatabase& db_;
  absl::Status status_;
  bool open_ = false;  // a transaction is in progress and must be committed or rolled back
};

}  // namespace hotswap::registry
