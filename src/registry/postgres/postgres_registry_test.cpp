// The registry suite against a real PostgreSQL server, plus what only a shared database server
// can show: concurrent migration, two registries racing for one version number, and a server
// that goes away and comes back.
#include "registry/postgres/postgres_registry.h"

#include <stdlib.h>

#include <atomic>
#include <barrier>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/postgres/pg_database.h"
#include "registry/dataset_store_suite.h"
#include "registry/governance_store_suite.h"
#include "registry/postgres/pg_test_server.h"
#include "registry/postgres/postgres_dataset_store.h"
#include "registry/postgres/postgres_governance_store.h"
#include "registry/registry_suite.h"
#include "registry/registry_test_util.h"

namespace hotswap::registry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::DatasetStoreSuite;
using testing::GovernanceStoreSuite;
using testing::IsOk;
using testing::PgTestServer;
using testing::RegistryBackend;
using testing::RegistryBackendName;
using testing::RegistrySuite;
using testing::StatusIs;
using testing::StatusOf;

// One server for the whole binary, stopped at the end; quiet migration logs.
class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { log::SetLevel(log::Level::kWarn); }
  void TearDown() override { PgTestServer::StopShared(); }
};
[[maybe_unused]] ::testing::Environment* const kPostgresEnvironment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

// A fresh database on the shared server; its connection string. Fails the test on error.
std::string NewDatabase(const std::string& key) {
  absl::StatusOr<PgTestServer*> server = PgTestServer::Shared();
  if (!server.ok()) {
    ADD_FAILURE() << server.status();
    return "";
  }
  const std::string name = "reg_" + Sha256Hex(key).substr(0, 20);
  absl::Status created = (*server)->CreateDatabase(name);
  if (!created.ok()) {
    ADD_FAILURE() << created;
    return "";
  }
  return (*server)->ConnInfo(name);
}

// The suite's factory: the database is keyed by the scratch directory, so a second call for the
// same directory opens the same data.
std::unique_ptr<ModelRegistry> MakePostgresRegistry(Clock* clock, const std::string& dir) {
  const std::string conninfo = NewDatabase(dir);
  if (conninfo.empty()) return nullptr;
  auto db = PgDatabase::Open({.conninfo = conninfo});
  if (!db.ok()) {
    ADD_FAILURE() << db.status();
    return nullptr;
  }
  auto registry = PostgresRegistry::Create(*std::move(db), clock);
  if (!registry.ok()) {
    ADD_FAILURE() << registry.status();
    return nullptr;
  }
  return *std::move(registry);
}

INSTANTIATE_TEST_SUITE_P(Postgres, RegistrySuite,
                         ::testing::Values(RegistryBackend{"Postgres", &MakePostgresRegistry}),
                         RegistryBackendName);

testing::DatasetStores MakePostgresStores(Clock* clock, const std::string& dir) {
  const std::string conninfo = NewDatabase("datasets:" + dir);
  if (conninfo.empty()) return {};
  auto db = PgDatabase::Open({.conninfo = conninfo});
  if (!db.ok()) {
    ADD_FAILURE() << db.status();
    return {};
  }
  auto registry = PostgresRegistry::Create(*db, clock);
  if (!registry.ok()) {
    ADD_FAILURE() << registry.status();
    return {};
  }
  return {*std::move(registry), std::make_unique<PostgresDatasetStore>(*db)};
}

INSTANTIATE_TEST_SUITE_P(Postgres, DatasetStoreSuite,
                         ::testing::Values(testing::DatasetBackend{"Postgres", &MakePostgresStores}),
                         testing::DatasetBackendName);

testing::GovernanceStores MakePostgresGovernanceStores(Clock* clock, const std::string& dir) {
  const std::string conninfo = NewDatabase("governance:" + dir);
  if (conninfo.empty()) return {};
  auto db = PgDatabase::Open({.conninfo = conninfo});
  if (!db.ok()) {
    ADD_FAILURE() << db.status();
    return {};
  }
  auto registry = PostgresRegistry::Create(*db, clock);
  if (!registry.ok()) {
    ADD_FAILURE() << registry.status();
    return {};
  }
  return {*std::move(registry), std::make_unique<PostgresGovernanceStore>(*db)};
}

INSTANTIATE_TEST_SUITE_P(
    Postgres, GovernanceStoreSuite,
    ::testing::Values(testing::GovernanceBackend{"Postgres", &MakePostgresGovernanceStores}),
    testing::GovernanceBackendName);

std::string TestKey() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info->test_suite_name()) + "." + info->name() + "." +
         std::to_string(::getpid());
}

NewVersion Version(const std::string& model, int64_t number) {
  return NewVersion{.model_name = model,
                    .version = number,
                    .framework = "onnx",
                    .sha256 = Sha256Hex("artifact-" + std::to_string(number)),
                    .size_bytes = 10,
                    .created_by = "ci-bot"};
}

TEST(PgDatabaseTest, SqlStatesMapToCanonicalCodes) {
  EXPECT_THAT(StatusFromSqlState("23505", "dup"), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(StatusFromSqlState("23503", "fk"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(StatusFromSqlState("23514", "check"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(StatusFromSqlState("40001", "serialize"), StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(
      StatusFromSqlState("08006", "gone"),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("registry database unavailable: gone")));
  EXPECT_THAT(StatusFromSqlState("42601", "syntax"), StatusIs(absl::StatusCode::kInternal));
}

TEST(PgDatabaseTest, OpenWithNoServerIsUnavailable) {
  // Port 1 on localhost: nothing listens there.
  auto db = PgDatabase::Open(
      {.conninfo = "host=127.0.0.1 port=1 user=hotswap dbname=x", .max_attempts = 1});
  EXPECT_THAT(StatusOf(db),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("registry database unavailable")));
}

TEST(PgDatabaseTest, MissingServerBinariesFailWithTheirPackageName) {
  const char* old = std::getenv("HOTSWAP_PG_BIN");
  const std::string saved = old == nullptr ? "" : old;
  ::setenv("HOTSWAP_PG_BIN", "/nonexistent/postgresql/bin", 1);
  auto server = PgTestServer::Start();
  if (old == nullptr) {
    ::unsetenv("HOTSWAP_PG_BIN");
  } else {
    ::setenv("HOTSWAP_PG_BIN", saved.c_str(), 1);
  }
  EXPECT_THAT(StatusOf(server), StatusIs(absl::StatusCode::kFailedPrecondition,
                                         HasSubstr("install the Debian package 'postgresql'")));
}

TEST(PgDatabaseTest, MigrationsAreAppliedOnceWhenServersOpenTogether) {
  const std::string conninfo = NewDatabase(TestKey());
  ASSERT_FALSE(conninfo.empty());
  constexpr int kServers = 6;
  std::vector<absl::StatusOr<std::shared_ptr<PgDatabase>>> opened(kServers);
  std::barrier start(kServers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kServers; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      opened[i] = PgDatabase::Open({.conninfo = conninfo, .max_connections = 2});
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& db : opened) ASSERT_THAT(StatusOf(db), IsOk());
  HS_ASSERT_OK_AND_ASSIGN(std::vector<int> applied, (*opened[0])->AppliedMigrations());
  EXPECT_THAT(applied, ElementsAre(1, 2, 3, 4, 5, 6, 7));  // a second application would have failed
  // Opening again applies nothing and sees the same history.
  HS_ASSERT_OK_AND_ASSIGN(auto again, PgDatabase::Open({.conninfo = conninfo}));
  HS_ASSERT_OK_AND_ASSIGN(applied, again->AppliedMigrations());
  EXPECT_THAT(applied, ElementsAre(1, 2, 3, 4, 5, 6, 7));
}

// Migrations are numbered per feature branch: a database may have a later version before an
// earlier one is merged. Each version not recorded is applied, not only those above the newest.
TEST(PgDatabaseTest, AMigrationMissingBelowTheNewestIsAppliedOnOpen) {
  const std::string conninfo = NewDatabase(TestKey());
  ASSERT_FALSE(conninfo.empty());
  {
    HS_ASSERT_OK_AND_ASSIGN(auto db, PgDatabase::Open({.conninfo = conninfo}));
    // Undo migration 4 as if this database had never had it.
    HS_ASSERT_OK(db->Run(PgDatabase::Mode::kWrite, [](PgTransaction& txn) -> absl::Status {
      HS_RETURN_IF_ERROR(txn.Exec("ALTER TABLE deployments DROP COLUMN rollout"));
      return txn.Exec("DELETE FROM schema_migrations WHERE version = 4");
    }));
    HS_ASSERT_OK_AND_ASSIGN(std::vector<int> applied, db->AppliedMigrations());
    EXPECT_THAT(applied, ElementsAre(1, 2, 3, 5, 6, 7));
  }
  HS_ASSERT_OK_AND_ASSIGN(auto db, PgDatabase::Open({.conninfo = conninfo}));
  HS_ASSERT_OK_AND_ASSIGN(std::vector<int> applied, db->AppliedMigrations());
  EXPECT_THAT(applied, ElementsAre(1, 2, 3, 4, 5, 6, 7));
  HS_ASSERT_OK(db->Run(PgDatabase::Mode::kRead, [](PgTransaction& txn) -> absl::Status {
    return txn.Exec("SELECT rollout FROM deployments");
  }));
}

TEST(PostgresRegistryTest, SameExplicitVersionFromTwoRegistriesAtOnceOneWins) {
  const std::string conninfo = NewDatabase(TestKey());
  ASSERT_FALSE(conninfo.empty());
  FakeClock clock;
  std::unique_ptr<PostgresRegistry> registries[2];
  for (auto& r : registries) {
    HS_ASSERT_OK_AND_ASSIGN(auto db, PgDatabase::Open({.conninfo = conninfo}));
    HS_ASSERT_OK_AND_ASSIGN(r, PostgresRegistry::Create(db, &clock));
  }
  HS_ASSERT_OK(registries[0]->CreateModel({.name = "iris"}).status());

  constexpr int kRounds = 20;
  std::barrier start(2);
  absl::Status results[kRounds][2];
  std::vector<std::thread> threads;
  for (int side = 0; side < 2; ++side) {
    threads.emplace_back([&, side] {
      for (int round = 0; round < kRounds; ++round) {
        start.arrive_and_wait();
        results[round][side] = registries[side]->CreateVersion(Version("iris", round + 1)).status();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int round = 0; round < kRounds; ++round) {
    const absl::Status& a = results[round][0];
    const absl::Status& b = results[round][1];
    EXPECT_TRUE(a.ok() != b.ok()) << "round " << round << ": " << a << " / " << b;
    const absl::Status& loser = a.ok() ? b : a;
    EXPECT_THAT(loser, StatusIs(absl::StatusCode::kAlreadyExists,
                                HasSubstr("version " + std::to_string(round + 1) +
                                          " of model iris already exists")));
  }
  HS_ASSERT_OK_AND_ASSIGN(VersionPage page, registries[1]->ListVersions("iris", {.limit = 100}));
  EXPECT_EQ(page.versions.size(), static_cast<size_t>(kRounds));
}

TEST(PostgresRegistryTest, DroppedConnectionsAreReplacedWithoutAnError) {
  const std::string conninfo = NewDatabase(TestKey());
  ASSERT_FALSE(conninfo.empty());
  FakeClock clock;
  HS_ASSERT_OK_AND_ASSIGN(auto db, PgDatabase::Open({.conninfo = conninfo, .max_connections = 4}));
  HS_ASSERT_OK_AND_ASSIGN(auto registry, PostgresRegistry::Create(db, &clock));
  HS_ASSERT_OK(registry->CreateModel({.name = "iris"}).status());
  // Fill the pool with several idle connections.
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 5; ++j) EXPECT_THAT(StatusOf(registry->GetModel("iris")), IsOk());
    });
  }
  for (auto& t : threads) t.join();

  // An administrator (or a failover) kills every session of this database.
  HS_ASSERT_OK_AND_ASSIGN(auto admin, PgDatabase::Open({.conninfo = conninfo}));
  HS_ASSERT_OK(admin->Run(PgDatabase::Mode::kWrite, [](PgTransaction& txn) -> absl::Status {
    HS_ASSIGN_OR_RETURN(PgStatement st,
                        txn.Prepare("SELECT count(pg_terminate_backend(pid)) FROM "
                                    "pg_stat_activity WHERE datname = current_database() "
                                    "AND pid <> pg_backend_pid()"));
    HS_ASSIGN_OR_RETURN(bool row, st.Step());
    EXPECT_TRUE(row);
    EXPECT_GE(st.ColumnInt64(0), 1);
    return absl::OkStatus();
  }));

  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion v, registry->CreateVersion(Version("iris", 0)));
  EXPECT_EQ(v.version, 1);
  HS_EXPECT_OK(registry->GetModel("iris").status());
}

// Log lines captured by UnavailableWhileServerIsDownAndWorksAfterRestart.
std::mutex captured_mu;
std::vector<std::string> captured_lines;
void CaptureLine(const std::string& line) {
  std::lock_guard<std::mutex> lock(captured_mu);
  captured_lines.push_back(line);
}
int CapturedLinesWith(const std::string& text) {
  std::lock_guard<std::mutex> lock(captured_mu);
  int n = 0;
  for (const std::string& line : captured_lines) n += line.find(text) != std::string::npos;
  return n;
}

TEST(PostgresRegistryTest, UnavailableWhileServerIsDownAndWorksAfterRestart) {
  log::SetSink(&CaptureLine);
  log::SetLevel(log::Level::kInfo);
  struct RestoreLog {
    ~RestoreLog() {
      log::SetSink(nullptr);
      log::SetLevel(log::Level::kWarn);
    }
  } restore_log;
  // Its own server: stopping the shared one would disturb other tests.
  HS_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PgTestServer> server, PgTestServer::Start());
  HS_ASSERT_OK(server->CreateDatabase("restart"));
  FakeClock clock;
  HS_ASSERT_OK_AND_ASSIGN(auto db, PgDatabase::Open({.conninfo = server->ConnInfo("restart"),
                                                     .max_connections = 2,
                                                     .max_attempts = 3,
                                                     .connect_timeout_s = 2}));
  HS_ASSERT_OK_AND_ASSIGN(auto registry, PostgresRegistry::Create(db, &clock));
  HS_ASSERT_OK(registry->CreateModel({.name = "iris"}).status());
  HS_ASSERT_OK(registry->CreateVersion(Version("iris", 0)).status());

  HS_ASSERT_OK(server->Stop());
  EXPECT_THAT(StatusOf(registry->GetModel("iris")),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("registry database unavailable")));
  EXPECT_THAT(StatusOf(registry->CreateVersion(Version("iris", 0))),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("registry database unavailable")));

  HS_ASSERT_OK(server->Restart());
  // The pool's connections died with the server; the registry reconnects by itself.
  HS_ASSERT_OK_AND_ASSIGN(domain::Model model, registry->GetModel("iris"));
  EXPECT_EQ(model.name, "iris");
  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion v, registry->CreateVersion(Version("iris", 0)));
  EXPECT_EQ(v.version, 2);  // nothing was half-written while the server was down
  // The outage is logged once when it starts and once when it ends, not for every request.
  EXPECT_EQ(CapturedLinesWith(R"("level":"warn","msg":"registry database unreachable)"), 1);
  EXPECT_EQ(CapturedLinesWith("registry database reachable again"), 1);
}

}  // namespace
}  // namespace hotswap::registry
