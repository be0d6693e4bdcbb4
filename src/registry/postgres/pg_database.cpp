#include "registry/postgres/pg_database.h"

#include <libpq-fe.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"

namespace hotswap::registry {
namespace {

// "hotswap" in ASCII: the session advisory lock held while migrating.
constexpr int64_t kMigrationLockKey = 0x686f7473776170;

absl::Status Unavailable(std::string_view message) {
  return absl::UnavailableError(absl::StrCat("registry database unavailable: ", ToAbsl(message)));
}

// libpq's message on one line (it continues lines with "\n\t"), without trailing whitespace.
std::string Trimmed(const char* message) {
  if (message == nullptr) return "unknown error";
  std::string out;
  for (char c : absl::StripTrailingAsciiWhitespace(message)) {
    const bool space = c == '\n' || c == '\t' || c == ' ';
    if (!space) {
      out += c;
    } else if (out.empty() || out.back() != ' ') {
      out += ' ';
    }
  }
  return out;
}

bool IsRetryableSqlState(std::string_view s) {
  return s == "40001" || s == "40P01" || s.starts_with("08") || s == "57P01" || s == "57P02" ||
         s == "57P03";
}

// Messages on the connection (NOTICE from CREATE ... IF NOT EXISTS) are not ours to print.
void IgnoreNotice(void*, const char*) {}

// PostgreSQL versions of migrations.cpp: same tables and versions. Text columns that are sorted
// or compared use the "C" collation so that ordering is bytewise, as in SQLite.
constexpr std::string_view kCreateRegistryTables = R"sql(
CREATE TABLE models (
  id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        TEXT COLLATE "C" NOT NULL UNIQUE,
  description TEXT   NOT NULL DEFAULT '',
  tags_json   TEXT   NOT NULL DEFAULT '{}',
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL
);

CREATE TABLE model_tags (
  model_id BIGINT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  key      TEXT COLLATE "C" NOT NULL,
  value    TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (model_id, key)
);
CREATE INDEX model_tags_by_key_value ON model_tags(key, value);

CREATE TABLE model_versions (
  id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  model_id           BIGINT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  version            BIGINT NOT NULL CHECK (version >= 1),
  framework          TEXT   NOT NULL,
  sha256             TEXT COLLATE "C" NOT NULL,
  size_bytes         BIGINT NOT NULL CHECK (size_bytes >= 0),
  status             TEXT   NOT NULL,
  schema_json        TEXT,
  training_json      TEXT,
  baseline_json      TEXT,
  preprocessing_json TEXT,
  tags_json          TEXT   NOT NULL DEFAULT '{}',
  parent_version     BIGINT,
  created_by         TEXT   NOT NULL DEFAULT '',
  created_at         BIGINT NOT NULL,
  UNIQUE (model_id, version),
  FOREIGN KEY (model_id, parent_version) REFERENCES model_versions(model_id, version)
);
CREATE INDEX model_versions_by_sha256 ON model_versions(sha256);
CREATE INDEX model_versions_by_framework ON model_versions(framework, model_id);
CREATE INDEX model_versions_by_parent ON model_versions(model_id, parent_version);

CREATE TABLE aliases (
  model_id BIGINT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  alias    TEXT COLLATE "C" NOT NULL,
  version  BIGINT NOT NULL,
  PRIMARY KEY (model_id, alias),
  FOREIGN KEY (model_id, version) REFERENCES model_versions(model_id, version)
      ON DELETE CASCADE
);
CREATE INDEX aliases_by_version ON aliases(model_id, version);
)sql";

constexpr std::string_view kCreateTokenTable = R"sql(
CREATE TABLE api_tokens (
  id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       TEXT COLLATE "C" NOT NULL,
  role       TEXT    NOT NULL,
  hash_hex   TEXT    NOT NULL UNIQUE,
  created_at BIGINT  NOT NULL,
  revoked    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens(name) WHERE NOT revoked;
)sql";

constexpr std::string_view kCreateDeploymentTable = R"sql(
CREATE TABLE deployments (
  seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id               TEXT   NOT NULL UNIQUE,
  endpoint         TEXT COLLATE "C" NOT NULL,
  model_name       TEXT   NOT NULL,
  version          BIGINT NOT NULL,
  strategy         TEXT   NOT NULL,
  state            TEXT   NOT NULL,
  message          TEXT   NOT NULL DEFAULT '',
  previous_version BIGINT,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL
);
CREATE INDEX deployments_by_endpoint ON deployments(endpoint, seq);
)sql";

constexpr std::string_view kCreateVersionDatasetTable = R"sql(
CREATE TABLE version_datasets (
  model_id     BIGINT NOT NULL,
  version      BIGINT NOT NULL,
  kind         TEXT COLLATE "C" NOT NULL CHECK (kind IN ('holdout', 'reference', 'background')),
  sha256       TEXT COLLATE "C" NOT NULL,
  size_bytes   BIGINT NOT NULL CHECK (size_bytes >= 0),
  row_count    BIGINT NOT NULL CHECK (row_count >= 0),
  columns_json TEXT   NOT NULL,
  created_by   TEXT   NOT NULL DEFAULT '',
  created_at   BIGINT NOT NULL,
  PRIMARY KEY (model_id, version, kind),
  FOREIGN KEY (model_id, version) REFERENCES model_versions(model_id, version) ON DELETE CASCADE
);
CREATE INDEX version_datasets_by_sha256 ON version_datasets(sha256);
)sql";

constexpr std::string_view kCreateAuditTables = R"sql(
CREATE TABLE audit_log (
  seq         BIGINT PRIMARY KEY,
  ts_ms       BIGINT NOT NULL,
  actor       TEXT COLLATE "C" NOT NULL,
  role        TEXT   NOT NULL,
  action      TEXT COLLATE "C" NOT NULL,
  target      TEXT COLLATE "C" NOT NULL,
  before_json TEXT   NOT NULL,
  after_json  TEXT   NOT NULL,
  source      TEXT   NOT NULL,
  request_id  TEXT   NOT NULL,
  prev_hash   TEXT   NOT NULL,
  hash        TEXT   NOT NULL
);
CREATE INDEX audit_log_by_actor ON audit_log(actor, seq);
CREATE INDEX audit_log_by_target ON audit_log(target, seq);
CREATE INDEX audit_log_by_ts ON audit_log(ts_ms);

CREATE TABLE audit_checkpoints (
  seq    BIGINT PRIMARY KEY,
  hash   TEXT   NOT NULL,
  ts_ms  BIGINT NOT NULL,
  key_id TEXT   NOT NULL,
  hmac   TEXT   NOT NULL
);
)sql";

// Approvals and validation (as on SQLite) (registry/governance_store.h, docs/governance.md): policies per
// endpoint, approval requests (the whole record as JSON, the columns the listings filter on
// beside it; `revision` for compare-and-set updates), and validation reports per version.
constexpr std::string_view kCreateGovernanceTables = R"sql(
CREATE TABLE approval_policies (
  endpoint    TEXT COLLATE "C" PRIMARY KEY,
  environment TEXT    NOT NULL DEFAULT '',
  policy_json TEXT    NOT NULL,
  updated_at  BIGINT NOT NULL
);
CREATE TABLE approval_requests (
  id           TEXT COLLATE "C" PRIMARY KEY,
  endpoint     TEXT COLLATE "C" NOT NULL,
  model_name   TEXT COLLATE "C" NOT NULL,
  state        TEXT    NOT NULL,
  requested_by TEXT    NOT NULL,
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT NOT NULL,
  revision     BIGINT NOT NULL,
  record_json  TEXT    NOT NULL
);
CREATE INDEX approval_requests_by_state ON approval_requests(state, created_at);
CREATE INDEX approval_requests_by_endpoint ON approval_requests(endpoint, created_at);
CREATE TABLE validation_reports (
  model_id    BIGINT NOT NULL,
  version     BIGINT NOT NULL,
  context     TEXT COLLATE "C" NOT NULL,
  state       TEXT    NOT NULL,
  report_json TEXT    NOT NULL,
  updated_at  BIGINT NOT NULL,
  PRIMARY KEY (model_id, version, context),
  FOREIGN KEY (model_id, version) REFERENCES model_versions(model_id, version) ON DELETE CASCADE
);
)sql";

constexpr Migration kPgMigrations[] = {
    {.version = 1, .description = "models, versions, aliases", .sql = kCreateRegistryTables},
    {.version = 2, .description = "api tokens", .sql = kCreateTokenTable},
    {.version = 3, .description = "deployments", .sql = kCreateDeploymentTable},
    {.version = 4, .description = "rollout state of deployments",
     .sql = "ALTER TABLE deployments ADD COLUMN rollout TEXT NOT NULL DEFAULT '{}';"},
    {.version = 5, .description = "audit log", .sql = kCreateAuditTables},
    {.version = 6, .description = "version datasets", .sql = kCreateVersionDatasetTable},
    {.version = 7, .description = "approvals and validation reports",
     .sql = kCreateGovernanceTables},
};

}  // namespace

std::span<const Migration> PgRegistryMigrations() { return kPgMigrations; }

absl::Status StatusFromSqlState(std::string_view s, std::string_view message) {
  const absl::string_view m = ToAbsl(message);
  if (s == "23505") return absl::AlreadyExistsError(m);
  if (s.starts_with("23")) return absl::FailedPreconditionError(m);
  if (s == "40001" || s == "40P01") return absl::AbortedError(m);
  if (s.starts_with("08") || s == "57P01" || s == "57P02" || s == "57P03" || s == "53300") {
    return Unavailable(message);
  }
  return absl::InternalError(absl::StrCat("registry database error ", ToAbsl(s), ": ", m));
}

// ---- PgStatement -------------------------------------------------------------------------------

PgStatement::PgStatement(PgStatement&& other) noexcept
    : txn_(other.txn_),
      sql_(std::move(other.sql_)),
      params_(std::move(other.params_)),
      result_(std::exchange(other.result_, nullptr)),
      row_(other.row_),
      changes_(other.changes_) {}

PgStatement::~PgStatement() {
  if (result_ != nullptr) PQclear(result_);
}

PgStatement& PgStatement::BindOptionalText(int index, const std::optional<std::string>& value) {
  if (static_cast<int>(params_.size()) < index) params_.resize(index);
  params_[index - 1] = value;
  return *this;
}

PgStatement& PgStatement::BindText(int index, std::string_view value) {
  return BindOptionalText(index, std::string(value));
}

PgStatement& PgStatement::BindInt64(int index, int64_t value) {
  return BindOptionalText(index, std::to_string(value));
}

PgStatement& PgStatement::BindNull(int index) { return BindOptionalText(index, std::nullopt); }

PgStatement& PgStatement::BindOptionalInt64(int index, const std::optional<int64_t>& value) {
  return value.has_value() ? BindInt64(index, *value) : BindNull(index);
}

void PgStatement::Reset() {
  if (result_ != nullptr) PQclear(result_);
  result_ = nullptr;
  row_ = -1;
  params_.clear();
}

absl::Status PgStatement::Execute() {
  if (result_ != nullptr) {
    PQclear(result_);
    result_ = nullptr;
  }
  std::vector<const char*> values;
  values.reserve(params_.size());
  for (const auto& p : params_) values.push_back(p.has_value() ? p->c_str() : nullptr);
  PGresult* result = PQexecParams(txn_->conn_, sql_.c_str(), static_cast<int>(values.size()),
                                  nullptr, values.data(), nullptr, nullptr, 0);
  const ExecStatusType st = result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    absl::Status status = txn_->Failure(result);
    if (result != nullptr) PQclear(result);
    return status;
  }
  result_ = result;
  row_ = -1;
  const char* tuples = PQcmdTuples(result_);
  changes_ = (tuples != nullptr && *tuples != '\0') ? std::strtoll(tuples, nullptr, 10) : 0;
  return absl::OkStatus();
}

absl::StatusOr<bool> PgStatement::Step() {
  if (result_ == nullptr) HS_RETURN_IF_ERROR(Execute());
  ++row_;
  return row_ < PQntuples(result_);
}

absl::Status PgStatement::Run() { return Execute(); }

std::string PgStatement::ColumnText(int col) const {
  return std::string(PQgetvalue(result_, row_, col), PQgetlength(result_, row_, col));
}

int64_t PgStatement::ColumnInt64(int col) const {
  return std::strtoll(PQgetvalue(result_, row_, col), nullptr, 10);
}

bool PgStatement::ColumnIsNull(int col) const { return PQgetisnull(result_, row_, col) != 0; }

std::optional<std::string> PgStatement::ColumnOptionalText(int col) const {
  if (ColumnIsNull(col)) return std::nullopt;
  return ColumnText(col);
}

std::optional<int64_t> PgStatement::ColumnOptionalInt64(int col) const {
  if (ColumnIsNull(col)) return std::nullopt;
  return ColumnInt64(col);
}

// ---- PgTransaction -----------------------------------------------------------------------------

absl::StatusOr<PgStatement> PgTransaction::Prepare(std::string sql) {
  return PgStatement(this, std::move(sql));
}

absl::Status PgTransaction::Exec(const std::string& sql) {
  PGresult* result = PQexec(conn_, sql.c_str());
  const ExecStatusType st = result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result);
  absl::Status status = absl::OkStatus();
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) status = Failure(result);
  if (result != nullptr) PQclear(result);
  return status;
}

absl::Status PgTransaction::Failure(PGresult* result) {
  const char* sqlstate = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  std::string message =
      Trimmed(result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
  if (message.empty()) message = Trimmed(PQerrorMessage(conn_));
  if (PQstatus(conn_) == CONNECTION_BAD) {
    retryable_ = true;
    return Unavailable(message);
  }
  if (sqlstate == nullptr) {
    retryable_ = false;
    return Unavailable(message);
  }
  retryable_ = IsRetryableSqlState(sqlstate);
  return StatusFromSqlState(sqlstate, message);
}

// ---- PgDatabase --------------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<PgDatabase>> PgDatabase::Open(const Options& options) {
  if (options.conninfo.empty()) {
    return absl::InvalidArgumentError("registry database: empty connection string");
  }
  if (options.max_connections < 1 || options.max_attempts < 1) {
    return absl::InvalidArgumentError(
        "registry database: max_connections and max_attempts must be >= 1");
  }
  std::shared_ptr<PgDatabase> db(new PgDatabase(options));
  HS_RETURN_IF_ERROR(db->Migrate());
  return db;
}

PgDatabase::~PgDatabase() {
  absl::MutexLock lock(&mu_);
  for (PGconn* conn : idle_) PQfinish(conn);
  idle_.clear();
}

absl::StatusOr<PGconn*> PgDatabase::Connect() {
  const std::string timeout = std::to_string(options_.connect_timeout_s);
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* values[] = {options_.conninfo.c_str(), timeout.c_str(), "hotswap-registry", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Unavailable("out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    if (reachable_.exchange(false)) {
      log::Warn("registry database unreachable", {{"detail", message}});
    }
    return Unavailable(message);
  }
  if (!reachable_.exchange(true)) log::Info("registry database reachable again");
  PQsetNoticeProcessor(conn, &IgnoreNotice, nullptr);
  return conn;
}

absl::StatusOr<PGconn*> PgDatabase::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || in_use_ < options_.max_connections;
    };
    mu_.Await(absl::Condition(&available));
    ++in_use_;
    if (!idle_.empty()) {
      PGconn* conn = idle_.back();
      idle_.pop_back();
      return conn;
    }
  }
  absl::StatusOr<PGconn*> conn = Connect();  // no lock held while connecting
  if (!conn.ok()) {
    absl::MutexLock lock(&mu_);
    --in_use_;
  }
  return conn;
}

void PgDatabase::Release(PGconn* conn, bool healthy) {
  healthy = healthy && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE;
  std::vector<PGconn*> stale;
  {
    absl::MutexLock lock(&mu_);
    --in_use_;
    if (healthy) {
      idle_.push_back(conn);
    } else {
      // A dropped link usually means a restarted or failed-over server: the idle connections
      // are as dead as this one, so the next attempt opens a fresh one.
      stale.swap(idle_);
    }
  }
  if (!healthy) PQfinish(conn);
  for (PGconn* c : stale) PQfinish(c);
}

absl::Status PgDatabase::RunOnce(PGconn* conn, Mode mode,
                                 const std::function<absl::Status(PgTransaction&)>& body,
                                 bool* retryable) {
  PgTransaction txn(conn);
  absl::Status status =
      txn.Exec(mode == Mode::kRead ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                                   : "BEGIN ISOLATION LEVEL READ COMMITTED");
  if (status.ok()) {
    status = body(txn);
    if (status.ok()) {
      status = txn.Exec("COMMIT");
      // A link lost during COMMIT leaves the outcome unknown: do not run the body again.
      *retryable = !status.ok() && txn.retryable_ && PQstatus(conn) == CONNECTION_OK;
      return status;
    }
  }
  *retryable = txn.retryable_;
  if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
    PgTransaction rollback(conn);
    rollback.Exec("ROLLBACK").IgnoreError();
  }
  return status;
}

absl::Status PgDatabase::Run(Mode mode, const std::function<absl::Status(PgTransaction&)>& body) {
  absl::Status status;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (attempt > 1) std::this_thread::sleep_for(std::chrono::milliseconds(25 << attempt));
    absl::StatusOr<PGconn*> conn = Acquire();
    if (!conn.ok()) {
      status = conn.status();
      continue;  // Unavailable: try again after a pause
    }
    bool retryable = false;
    status = RunOnce(*conn, mode, body, &retryable);
    Release(*conn, /*healthy=*/true);
    if (status.ok() || !retryable) return status;
  }
  return status;
}

absl::Status PgDatabase::Migrate() {
  HS_ASSIGN_OR_RETURN(PGconn * conn, Acquire());
  PgTransaction txn(conn);
  std::vector<const Migration*> applied;
  absl::Status status = [&]() -> absl::Status {
    // Session-level lock: released by the unlock below, or by closing the connection.
    HS_RETURN_IF_ERROR(txn.Exec(absl::StrCat("SELECT pg_advisory_lock(", kMigrationLockKey, ")")));
    HS_RETURN_IF_ERROR(
        txn.Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                 "version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                 "applied_at BIGINT NOT NULL)"));
    HS_ASSIGN_OR_RETURN(PgStatement max,
                        txn.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
    HS_RETURN_IF_ERROR(max.Step().status());
    const int64_t current = max.ColumnInt64(0);
    const int latest = kPgMigrations[std::size(kPgMigrations) - 1].version;
    if (current > latest) {
      return absl::FailedPreconditionError(absl::StrCat("registry database schema version ",
                                                        current, " is newer than this binary's ",
                                                        latest, "; upgrade hotswap"));
    }
    // Each migration not recorded yet is applied (not just those above the newest recorded):
    // a database that got a later version first still gets an earlier one merged afterwards,
    // as on SQLite.
    std::set<int64_t> done;
    HS_ASSIGN_OR_RETURN(PgStatement recorded, txn.Prepare("SELECT version FROM schema_migrations"));
    while (true) {
      HS_ASSIGN_OR_RETURN(bool row, recorded.Step());
      if (!row) break;
      done.insert(recorded.ColumnInt64(0));
    }
    for (const Migration& m : kPgMigrations) {
      if (done.count(m.version)) continue;
      HS_RETURN_IF_ERROR(txn.Exec("BEGIN"));
      HS_RETURN_IF_ERROR(txn.Exec(std::string(m.sql)));
      HS_ASSIGN_OR_RETURN(PgStatement record,
                          txn.Prepare("INSERT INTO schema_migrations (version, description, "
                                      "applied_at) VALUES ($1, $2, $3)"));
      record.BindInt64(1, m.version)
          .BindText(2, m.description)
          .BindInt64(3, SystemClock::Get()->NowMillis());
      HS_RETURN_IF_ERROR(record.Run());
      HS_RETURN_IF_ERROR(txn.Exec("COMMIT"));
      applied.push_back(&m);
    }
    return txn.Exec(absl::StrCat("SELECT pg_advisory_unlock(", kMigrationLockKey, ")"));
  }();
  // On failure the connection is closed, which rolls back and releases the lock.
  Release(conn, status.ok());
  for (const Migration* m : applied) {
    log::Info(
        "registry migration applied",
        {{"backend", "postgresql"}, {"version", m->version}, {"description", m->description}});
  }
  return status;
}

absl::StatusOr<std::vector<int>> PgDatabase::AppliedMigrations() {
  std::vector<int> versions;
  HS_RETURN_IF_ERROR(Run(Mode::kRead, [&](PgTransaction& txn) -> absl::Status {
    versions.clear();
    HS_ASSIGN_OR_RETURN(PgStatement st,
                        txn.Prepare("SELECT version FROM schema_migrations ORDER BY version"));
    while (true) {
      HS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      versions.push_back(static_cast<int>(st.ColumnInt64(0)));
    }
    return absl::OkStatus();
  }));
  return versions;
}

}  // namespace hotswap::registry
