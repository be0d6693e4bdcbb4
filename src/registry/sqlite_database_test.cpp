#include "registry/sqlite_database.h"

#include <sqlite3.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry_test_util.h"
#include "registry/sqlite_registry.h"

namespace hotswap::registry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::ScratchDir;
using testing::StatusIs;
using testing::StatusOf;

// Reads one column of every row of `sql` as text.
std::vector<std::string> Query(SqliteDatabase& db, const std::string& sql) {
  std::vector<std::string> out;
  Transaction txn(db, Transaction::Mode::kRead);
  EXPECT_THAT(txn.status(), IsOk());
  auto st = txn.Prepare(sql);
  EXPECT_THAT(StatusOf(st), IsOk());
  if (!st.ok()) return out;
  while (true) {
    auto row = st->Step();
    EXPECT_THAT(StatusOf(row), IsOk());
    if (!row.ok() || !*row) break;
    out.push_back(st->ColumnText(0));
  }
  return out;
}

std::string QueryOne(SqliteDatabase& db, const std::string& sql) {
  std::vector<std::string> rows = Query(db, sql);
  return rows.empty() ? "<no row>" : rows.front();
}

class SqliteDatabaseTest : public ::testing::Test {
 protected:
  std::string DbPath() const { return dir_.File("registry.db"); }
  ScratchDir dir_;
  FakeClock clock_;
};

TEST_F(SqliteDatabaseTest, OpenSetsDurabilityPragmas) {
  HS_ASSERT_OK_AND_ASSIGN(auto db, SqliteDatabase::Open(DbPath()));
  EXPECT_EQ(QueryOne(*db, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(QueryOne(*db, "PRAGMA foreign_keys"), "1");
  EXPECT_EQ(QueryOne(*db, "PRAGMA synchronous"), "2");  // FULL
  EXPECT_EQ(QueryOne(*db, "PRAGMA busy_timeout"), "5000");
}

TEST_F(SqliteDatabaseTest, MigrationsAreAppliedOnceAcrossReopens) {
  const int64_t first_open = clock_.NowMillis();
  for (int i = 0; i < 3; ++i) {
    HS_ASSERT_OK_AND_ASSIGN(auto db, SqliteDatabase::Open(DbPath(), {.clock = &clock_}));
    clock_.Advance(60'000);
  }
  HS_ASSERT_OK_AND_ASSIGN(auto db, SqliteDatabase::Open(DbPath()));
  std::vector<std::string> expected_versions;
  for (const Migration& m : RegistryMigrations()) {
    expected_versions.push_back(std::to_string(m.version));
  }
  ASSERT_EQ(expected_versions.size(), 7u);
  EXPECT_EQ(Query(*db, "SELECT version FROM schema_migrations ORDER BY version"),
            expected_versions);
  // Every row is from the first open: later opens applied nothing.
  EXPECT_THAT(Query(*db, "SELECT DISTINCT applied_at FROM schema_migrations"),
              ElementsAre(FormatTimestamp(first_open)));
  EXPECT_THAT(Query(*db,
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
                    "('models', 'model_versions', 'aliases', 'model_tags', 'api_tokens') "
                    "ORDER BY name"),
              ElementsAre("aliases", "api_tokens", "model_tags", "model_versions", "models"));
}

TEST_F(SqliteDatabaseTest, MigrationsAddedLaterAreAppliedOnNextOpen) {
  const Migration v1[] = {{1, "one", "CREATE TABLE a (x INTEGER)"}};
  const Migration v2[] = {{1, "one", "CREATE TABLE a (x INTEGER)"},
                          {2, "two", "CREATE TABLE b (y INTEGER); INSERT INTO b VALUES (7)"}};
  { HS_ASSERT_OK_AND_ASSIGN(auto db, SqliteDatabase::Open(DbPath(), {}, v1)); }
  HS_ASSERT_OK_AND_ASSIGN(auto db, SqliteDatabase::Open(DbPath(), {}, v2));
  EXPECT_THAT(Query(*db, "SELECT version FROM schema_migrations ORDER BY version"),
              ElementsAre("1", "2"));
  EXPECT_EQ(QueryOne(*db, "SELECT y FROM b"), "7");
}

TEST_F(SqliteDatabaseTest, FailedMigrationRollsBackAndIsNotRecorded) {
  const Migration good[] = {{1, "one", "CREATE TABLE a (x INTEGER)"}};
  const Migration bad[] = {
      {1, "one", "CREATE TABLE a (x INTEGER)"},
      {2, "half", "CREATE TABLE b (y INTEGER); INSERT INTO b VALUES (1); THIS IS NOT SQL"}};
  EXPECT_THAT(StatusOf(SqliteDatabase::Open(DbPath(), {}, bad)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("migration 2")));
  HS_ASSERT_OK_AND_ASSIGN(auto db, SqliteDatabase::Open(DbPath(), {}, good));
  EXPECT_THAT(Query(*db, "SELECT version FROM schema_migrations"), ElementsAre("1"));
  // The statements of the failed script that did run were rolled back with it.
  EXPECT_THAT(Query(*db, "SELECT name FROM sqlite_master WHERE name = 'b'"), ElementsAre());
}

TEST_F(SqliteDatabaseTest, DatabaseFromNewerBinaryIsRejected) {
  {
    HS_ASSERT_OK_AND_ASSIGN(auto db, SqliteDatabase::Open(DbPath()));
    Transaction txn(*db, Transaction::Mode::kWrite);
    HS_ASSERT_OK(txn.Exec("INSERT INTO schema_migrations VALUES (99, 'future')"));
    HS_ASSERT_OK(txn.Commit());
  }
  EXPECT_THAT(StatusOf(SqliteDatabase::Open(DbPath())),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("99")));
}

TEST_F(SqliteDatabaseTest, MigrationListMustBeIncreasing) {
  const Migration unordered[] = {{2, "two", "SELECT 1"}, {1, "one", "SELECT 1"}};
  EXPECT_THAT(StatusOf(SqliteDatabase::Open(DbPath(), {}, unordered)),
              StatusIs(absl::StatusCode::kInternal));
}

TEST_F(SqliteDatabaseTest, TransactionWithoutCommitRollsBack) {
  HS_ASSERT_OK_AND_ASSIGN(auto db, SqliteDatabase::Open(DbPath()));
  {
    Transaction txn(*db, Transaction::Mode::kWrite);
    HS_ASSERT_OK(txn.Exec("INSERT INTO models (name, created_at, updated_at) VALUES ('a', 1, 1)"));
    EXPECT_EQ(txn.Changes(), 1);
  }
  EXPECT_EQ(QueryOne(*db, "SELECT COUNT(*) FROM models"), "0");
  {
    Transaction txn(*db, Transaction::Mode::kWrite);
    HS_ASSERT_OK(txn.Exec("INSERT INTO models (name, created_at, updated_at) VALUES ('a', 1, 1)"));
    HS_ASSERT_OK(txn.Commit());
    EXPECT_THAT(txn.Commit(), StatusIs(absl::StatusCode::kFailedPrecondition));
  }
  EXPECT_EQ(QueryOne(*db, "SELECT COUNT(*) FROM models"), "1");
}

TEST_F(SqliteDatabaseTest, ConstraintViolationsMapToCanonicalCodes) {
  HS_ASSERT_OK_AND_ASSIGN(auto db, SqliteDatabase::Open(DbPath()));
  Transaction txn(*db, Transaction::Mode::kWrite);
  HS_ASSERT_OK(txn.Exec("INSERT INTO models (name, created_at, updated_at) VALUES ('a', 1, 1)"));
  EXPECT_THAT(txn.Exec("INSERT INTO models (name, created_at, updated_at) VALUES ('a', 2, 2)"),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("UNIQUE")));
  EXPECT_THAT(txn.Exec("INSERT INTO aliases (model_id, alias, version) VALUES (999, 'p', 1)"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("FOREIGN KEY")));
  EXPECT_THAT(txn.Exec("SELEKT 1"), StatusIs(absl::StatusCode::kInternal, HasSubstr("syntax")));
}

TEST_F(SqliteDatabaseTest, StatementBindsAndReadsNulls) {
  HS_ASSERT_OK_AND_ASSIGN(auto db, SqliteDatabase::Open(DbPath()));
  Transaction txn(*db, Transaction::Mode::kRead);
  HS_ASSERT_OK_AND_ASSIGN(Statement st, txn.Prepare("SELECT ?1, ?2, ?3, ?4"));
  st.BindOptionalText(1, std::nullopt)
      .BindOptionalInt64(2, int64_t{1} << 40)
      .BindText(3, std::string("a\0b", 3))
      .BindOptionalInt64(4, std::nullopt);
  HS_ASSERT_OK_AND_ASSIGN(bool row, st.Step());
  ASSERT_TRUE(row);
  EXPECT_EQ(st.ColumnOptionalText(0), std::nullopt);
  EXPECT_EQ(st.ColumnOptionalInt64(1), int64_t{1} << 40);
  EXPECT_EQ(st.ColumnText(2), std::string("a\0b", 3));  // embedded NUL kept
  EXPECT_TRUE(st.ColumnIsNull(3));
  HS_ASSERT_OK_AND_ASSIGN(row, st.Step());
  EXPECT_FALSE(row);
  // A bind to a parameter that does not exist is reported by the next step.
  HS_ASSERT_OK_AND_ASSIGN(Statement bad, txn.Prepare("SELECT ?1"));
  bad.BindInt64(5, 1);
  EXPECT_THAT(StatusOf(bad.Step()), StatusIs(absl::StatusCode::kInternal, HasSubstr("bind")));
}

TEST_F(SqliteDatabaseTest, WriterWaitingLongerThanBusyTimeoutGetsUnavailable) {
  HS_ASSERT_OK_AND_ASSIGN(auto holder, SqliteDatabase::Open(DbPath()));
  HS_ASSERT_OK_AND_ASSIGN(auto waiter, SqliteDatabase::Open(DbPath(), {.busy_timeout_ms = 50}));
  HS_ASSERT_OK_AND_ASSIGN(auto registry, SqliteRegistry::Create(waiter, &clock_));
  {
    Transaction hold(*holder, Transaction::Mode::kWrite);  // another connection's write lock
    HS_ASSERT_OK(hold.status());
    EXPECT_THAT(StatusOf(registry->CreateModel({.name = "iris"})),
                StatusIs(absl::StatusCode::kUnavailable));
    // Readers are not blocked by a writer in WAL mode.
    EXPECT_THAT(StatusOf(registry->ListModels({})), IsOk());
  }
  EXPECT_THAT(StatusOf(registry->CreateModel({.name = "iris"})), IsOk());
}

TEST_F(SqliteDatabaseTest, OpenInMissingDirectoryIsUnavailable) {
  EXPECT_THAT(StatusOf(SqliteDatabase::Open(dir_.File("missing/dir/registry.db"))),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("missing/dir")));
}

TEST(StatusFromSqliteTest, MapsResultCodes) {
  EXPECT_THAT(StatusFromSqlite(SQLITE_OK, "x"), IsOk());
  EXPECT_THAT(StatusFromSqlite(SQLITE_BUSY, "x"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(StatusFromSqlite(SQLITE_BUSY_SNAPSHOT, "x"),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(StatusFromSqlite(SQLITE_LOCKED, "x"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(StatusFromSqlite(SQLITE_CONSTRAINT_UNIQUE, "x"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(StatusFromSqlite(SQLITE_CONSTRAINT_PRIMARYKEY, "x"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(StatusFromSqlite(SQLITE_CONSTRAINT_FOREIGNKEY, "x"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(StatusFromSqlite(SQLITE_IOERR_FSYNC, "disk says no"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("disk says no")));
}

}  // namespace
}  // namespace hotswap::registry
