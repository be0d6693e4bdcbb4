// PgDatabase: a small pool of libpq connections to the registry's PostgreSQL database, shared by
// the PostgreSQL registry (and later the token and deployment stores). Open() connects once and
// applies the pending PostgreSQL migrations (PgRegistryMigrations(), the same versions as the
// SQLite ones in migrations.cpp), each once, even when several servers start together: the
// migration step runs under pg_advisory_lock and records each version in schema_migrations.
//
// Thread-safe. All use of a connection goes through Run(), which takes a connection from the pool
// (waiting while `max_connections` are in use), runs the body in one transaction and returns the
// connection. The body may be run more than once, so it must only assign (not append to) what it
// leaves outside:
//   - a serialization failure (40001) or deadlock (40P01) rolls back and runs the body again;
//   - a dropped connection before COMMIT discards the connection and runs the body again on a
//     fresh one (a drop during COMMIT is reported as Unavailable: the outcome is unknown);
// at most `max_attempts` times in all, with a short growing pause between attempts.
//
// Transactions: kRead is REPEATABLE READ READ ONLY (one snapshot for every statement of the
// body, never a serialization failure); kWrite is READ COMMITTED, and writers serialise on the
// rows they lock (the registry locks the model row FOR UPDATE).
//
// Error codes: unique violation (23505) -> AlreadyExists; other integrity violations (23xxx) ->
// FailedPrecondition; connection failures (and 08xxx, 57P0x) -> Unavailable "registry database
// unavailable: ..."; 40001/40P01 after the last attempt -> Aborted; everything else -> Internal.
//
// Typical sequence:
//   HS_ASSIGN_OR_RETURN(auto db, PgDatabase::Open({.conninfo = "postgresql://u@host/db"}));
//   int64_t id = 0;
//   HS_RETURN_IF_ERROR(db->Run(PgDatabase::Mode::kWrite, [&](PgTransaction& txn) -> absl::Status {
//     HS_ASSIGN_OR_RETURN(PgStatement st, txn.Prepare("SELECT id FROM models WHERE name = $1"));
//     st.BindText(1, "iris");
//     HS_ASSIGN_OR_RETURN(bool found, st.Step());
//     if (found) id = st.ColumnInt64(0);
//     return absl::OkStatus();
//   }));
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "registry/migrations.h"

struct pg_conn;
struct pg_result;

namespace hotswap::registry {

// Canonical status for a SQLSTATE (e.g. "23505"); `message` becomes the status message.
// Exposed for tests.
absl::Status StatusFromSqlState(std::string_view sqlstate, std::string_view message);

// The PostgreSQL schema history, oldest first (same version numbers as RegistryMigrations()).
std::span<const Migration> PgRegistryMigrations();

class PgTransaction;

// A statement with parameters $1..$n (sent as text; the server infers their types, so add a
// cast where it cannot). Executed on the first Step() or Run(). Belongs to its transaction.
class PgStatement {
 public:
  PgStatement(PgStatement&& other) noexcept;
  PgStatement& operator=(PgStatement&&) = delete;
  ~PgStatement();

  PgStatement& BindText(int index, std::string_view value);
  PgStatement& BindInt64(int index, int64_t value);
  PgStatement& BindNull(int index);
  PgStatement& BindOptionalText(int index, const std::optional<std::string>& value);
  PgStatement& BindOptionalInt64(int index, const std::optional<int64_t>& value);

  // Next row: true when there is one, false at the end.
  absl::StatusOr<bool> Step();
  // Executes a statement that returns no rows (or whose rows are ignored).
  absl::Status Run();
  // Forgets the result so the statement can be bound and run again.
  void Reset();
  // Rows changed by the last Run().
  int64_t Changes() const { return changes_; }

  std::string ColumnText(int col) const;
  int64_t ColumnInt64(int col) const;
  bool ColumnIsNull(int col) const;
  std::optional<std::string> ColumnOptionalText(int col) const;
  std::optional<int64_t> ColumnOptionalInt64(int col) const;

 private:
  friend class PgTransaction;
  PgStatement(PgTransaction* txn, std::string sql) : txn_(txn), sql_(std::move(sql)) {}
  absl::Status Execute();

  PgTransaction* txn_;
  std::string sql_;
  std::vector<std::optional<std::string>> params_;
  pg_result* result_ = nullptr;
  int row_ = -1;
  int64_t changes_ = 0;
};

class PgTransaction {
 public:
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;

  absl::StatusOr<PgStatement> Prepare(std::string sql);
  // Runs `sql` (one or more statements, no parameters).
  absl::Status Exec(const std::string& sql);

 private:
  friend class PgDatabase;
  friend class PgStatement;
  explicit PgTransaction(pg_conn* conn) : conn_(conn) {}
  // Status of a failed result (or of a null one), noting connection loss.
  absl::Status Failure(pg_result* result);

  pg_conn* conn_;
  bool retryable_ = false;  // the last failure was a serialization failure or a dropped link
};

class PgDatabase {
 public:
  struct Options {
    std::string conninfo;     // "postgresql://user@host:port/db" or "host=... dbname=..."
    int max_connections = 8;  // pool size
    int max_attempts = 4;     // per Run(), see the header comment
    int connect_timeout_s = 5;
  };
  enum class Mode { kRead, kWrite };

  // Connects and brings the schema up to date. Unavailable when the server cannot be reached;
  // FailedPrecondition when the database was migrated by a newer binary.
  static absl::StatusOr<std::shared_ptr<PgDatabase>> Open(const Options& options);

  ~PgDatabase();
  PgDatabase(const PgDatabase&) = delete;
  PgDatabase& operator=(const PgDatabase&) = delete;

  // Runs `body` in one transaction (see the header comment); commits when it returns OK, rolls
  // back otherwise and returns its status.
  absl::Status Run(Mode mode, const std::function<absl::Status(PgTransaction&)>& body);

  // Schema versions recorded in schema_migrations, ascending. For tests and diagnostics.
  absl::StatusOr<std::vector<int>> AppliedMigrations();

 private:
  explicit PgDatabase(Options options) : options_(std::move(options)) {}
  absl::StatusOr<pg_conn*> Acquire();
  void Release(pg_conn* conn, bool healthy);
  absl::StatusOr<pg_conn*> Connect();
  absl::Status Migrate();
  absl::Status RunOnce(pg_conn* conn, Mode mode,
                       const std::function<absl::Status(PgTransaction&)>& body, bool* retryable);

  const Options options_;
  // False from a failed connection attempt to the next successful one: the change is logged
  // once each way (a warning when the server goes away, a note when it is back).
  std::atomic<bool> reachable_{true};
  absl::Mutex mu_;
  std::vector<pg_conn*> idle_ ABSL_GUARDED_BY(mu_);
  int in_use_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hotswap::registry
