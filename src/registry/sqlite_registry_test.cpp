// The registry suite against SQLite, plus what only an embedded database file can show: crash
// safety across processes and corrupt rows.
#include "registry/sqlite_registry.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry_suite.h"
#include "registry/registry_test_util.h"

namespace hotswap::registry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::IsOk;
using testing::RegistryBackend;
using testing::RegistryBackendName;
using testing::RegistrySuite;
using testing::ScratchDir;
using testing::StatusIs;
using testing::StatusOf;

// Every test opens a fresh database, whose migration log lines would drown the test output.
class QuietLogs : public ::testing::Environment {
 public:
  void SetUp() override { log::SetLevel(log::Level::kWarn); }
};
[[maybe_unused]] ::testing::Environment* const kQuietLogs =
    ::testing::AddGlobalTestEnvironment(new QuietLogs);

std::unique_ptr<ModelRegistry> MakeSqliteRegistry(Clock* clock, const std::string& dir) {
  auto db = SqliteDatabase::Open(dir + "/registry.db");
  if (!db.ok()) {
    ADD_FAILURE() << db.status();
    return nullptr;
  }
  auto registry = SqliteRegistry::Create(*std::move(db), clock);
  if (!registry.ok()) {
    ADD_FAILURE() << registry.status();
    return nullptr;
  }
  return *std::move(registry);
}

INSTANTIATE_TEST_SUITE_P(Sqlite, RegistrySuite,
                         ::testing::Values(RegistryBackend{"Sqlite", &MakeSqliteRegistry}),
                         RegistryBackendName);

std::string Digest(int n) { return Sha256Hex("artifact-" + std::to_string(n)); }

class SqliteRegistryTest : public ::testing::Test {
 protected:
  std::string DbPath() const { return dir_.File("registry.db"); }

  std::unique_ptr<SqliteRegistry> OpenRegistry() {
    auto db = SqliteDatabase::Open(DbPath());
    EXPECT_THAT(StatusOf(db), IsOk());
    if (!db.ok()) return nullptr;
    auto registry = SqliteRegistry::Create(*db, &clock_);
    EXPECT_THAT(StatusOf(registry), IsOk());
    return registry.ok() ? *std::move(registry) : nullptr;
  }

  // A model "iris" with version 1 aliased "production", written and closed.
  void SeedIris() {
    auto registry = OpenRegistry();
    ASSERT_NE(registry, nullptr);
    HS_ASSERT_OK(registry->CreateModel({.name = "iris"}).status());
    HS_ASSERT_OK(
        registry
            ->CreateVersion(
                {.model_name = "iris", .framework = "onnx", .sha256 = Digest(1), .size_bytes = 10})
            .status());
    HS_ASSERT_OK(registry->SetAlias("iris", "production", 1));
  }

  off_t WalSize() const {
    struct stat st {};
    return stat((DbPath() + "-wal").c_str(), &st) == 0 ? st.st_size : 0;
  }

  ScratchDir dir_;
  FakeClock clock_;
};

// Runs `child` in a forked process, which must end by crashing (SIGKILL) after writing one byte
// to `ready_fd` once it reached the point of interest. Returns whether that byte arrived and the
// child died of SIGKILL. No SQLite connection may be open in this process while it runs (SQLite
// connections must not cross fork()).
template <typename Child>
bool RunCrashingChild(Child child) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    close(fds[0]);
    child(fds[1]);
    _exit(99);  // the child did not crash where it should have
  }
  close(fds[1]);
  char byte = 0;
  ssize_t n = read(fds[0], &byte, 1);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return n == 1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

void SignalReadyAndDie(int ready_fd) {
  char byte = 'r';
  if (write(ready_fd, &byte, 1) != 1) _exit(98);
  raise(SIGKILL);
}

TEST_F(SqliteRegistryTest, ProcessKilledMidTransactionLeavesNoHalfWrittenVersion) {
  SeedIris();
  const off_t wal_before = WalSize();
  bool crashed = RunCrashingChild([&](int ready_fd) {
    auto db = SqliteDatabase::Open(DbPath());
    if (!db.ok()) _exit(1);
    Transaction txn(**db, Transaction::Mode::kWrite);
    if (!txn.status().ok()) _exit(2);
    // What CreateVersion + SetAlias write, but big and with a tiny page cache so that dirty
    // pages of the unfinished transaction spill into the WAL before the crash.
    if (!txn.Exec("PRAGMA cache_size = 4").ok()) _exit(3);
    auto insert = txn.Prepare(
        "INSERT INTO model_versions (model_id, version, framework, sha256, size_bytes, status, "
        "preprocessing_json, tags_json, created_at) "
        "SELECT id, ?1, 'onnx', ?2, 1, 'registered', ?3, '{}', 0 FROM models WHERE name = 'iris'");
    if (!insert.ok()) _exit(4);
    const std::string padding = "\"" + std::string(4000, 'p') + "\"";
    for (int v = 2; v < 300; ++v) {
      insert->Reset();
      insert->BindInt64(1, v).BindText(2, Digest(v)).BindText(3, padding);
      if (!insert->Run().ok() || txn.Changes() != 1) _exit(5);
    }
    if (!txn.Exec("UPDATE aliases SET version = 2 WHERE alias = 'production'").ok()) _exit(6);
    SignalReadyAndDie(ready_fd);  // no COMMIT, no ROLLBACK, no close
  });
  ASSERT_TRUE(crashed);
  // Uncommitted frames reached the WAL, so recovery really had something to discard.
  EXPECT_GT(WalSize(), wal_before);

  auto registry = OpenRegistry();
  ASSERT_NE(registry, nullptr);
  HS_ASSERT_OK_AND_ASSIGN(VersionPage page, registry->ListVersions("iris", {}));
  ASSERT_EQ(page.versions.size(), 1u);
  EXPECT_EQ(page.versions[0].version, 1);
  EXPECT_THAT(page.versions[0].aliases, ElementsAre("production"));
  HS_ASSERT_OK_AND_ASSIGN(bool referenced, registry->IsArtifactReferenced(Digest(2)));
  EXPECT_FALSE(referenced);
  // The dead writer's lock is gone: the next version is 2.
  HS_ASSERT_OK_AND_ASSIGN(
      domain::ModelVersion v2,
      registry->CreateVersion({.model_name = "iris", .framework = "onnx", .sha256 = Digest(2)}));
  EXPECT_EQ(v2.version, 2);
}

TEST_F(SqliteRegistryTest, CommittedVersionSurvivesProcessKill) {
  SeedIris();
  bool crashed = RunCrashingChild([&](int ready_fd) {
    auto registry = OpenRegistry();
    if (registry == nullptr) _exit(1);
    auto v = registry->CreateVersion(
        {.model_name = "iris", .framework = "onnx", .sha256 = Digest(2), .created_by = "child"});
    if (!v.ok() || v->version != 2) _exit(2);
    if (!registry->SetAlias("iris", "production", 2).ok()) _exit(3);
    SignalReadyAndDie(ready_fd);  // committed, but never checkpointed or closed
  });
  ASSERT_TRUE(crashed);

  auto registry = OpenRegistry();
  ASSERT_NE(registry, nullptr);
  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion v2,
                          registry->GetVersionByAlias("iris", "production"));
  EXPECT_EQ(v2.version, 2);
  EXPECT_EQ(v2.created_by, "child");
}

TEST_F(SqliteRegistryTest, ConcurrentProcessesGetDistinctVersionNumbers) {
  SeedIris();
  constexpr int kProcesses = 3;
  constexpr int kPerProcess = 10;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto registry = OpenRegistry();
      if (registry == nullptr) _exit(1);
      for (int i = 0; i < kPerProcess; ++i) {
        auto v = registry->CreateVersion(
            {.model_name = "iris", .framework = "onnx", .sha256 = Digest(100 * p + i)});
        if (!v.ok()) _exit(2);
      }
      registry.reset();
      _exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  auto registry = OpenRegistry();
  ASSERT_NE(registry, nullptr);
  HS_ASSERT_OK_AND_ASSIGN(VersionPage page, registry->ListVersions("iris", {.limit = 100}));
  ASSERT_EQ(page.versions.size(), 1u + kProcesses * kPerProcess);
  for (size_t i = 0; i < page.versions.size(); ++i) {
    EXPECT_EQ(page.versions[i].version, static_cast<int64_t>(i) + 1);
  }
}

TEST_F(SqliteRegistryTest, CorruptStoredJsonIsInternalNotACrash) {
  SeedIris();
  {
    HS_ASSERT_OK_AND_ASSIGN(auto db, SqliteDatabase::Open(DbPath()));
    Transaction txn(*db, Transaction::Mode::kWrite);
    HS_ASSERT_OK(txn.Exec("UPDATE model_versions SET schema_json = '{not json'"));
    HS_ASSERT_OK(txn.Exec("UPDATE models SET tags_json = '[1, 2]'"));
    HS_ASSERT_OK(txn.Commit());
  }
  auto registry = OpenRegistry();
  ASSERT_NE(registry, nullptr);
  EXPECT_THAT(StatusOf(registry->GetVersion("iris", 1)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("schema_json")));
  EXPECT_THAT(StatusOf(registry->GetModel("iris")),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("tags_json")));
}

TEST_F(SqliteRegistryTest, CreateRejectsMissingDatabaseOrClock) {
  HS_ASSERT_OK_AND_ASSIGN(auto db, SqliteDatabase::Open(DbPath()));
  EXPECT_THAT(StatusOf(SqliteRegistry::Create(nullptr, &clock_)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(StatusOf(SqliteRegistry::Create(db, nullptr)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SqliteRegistryTest, ModelNamesWithLikeWildcardsAreNotPatterns) {
  auto registry = OpenRegistry();
  ASSERT_NE(registry, nullptr);
  for (const char* name : {"a_1", "ab1", "A_1"}) {
    HS_ASSERT_OK(registry->CreateModel({.name = name}).status());
  }
  HS_ASSERT_OK_AND_ASSIGN(ModelPage page, registry->ListModels({.name_prefix = "a_"}));
  ASSERT_EQ(page.models.size(), 1u);  // neither "_" as a wildcard nor case-insensitive LIKE
  EXPECT_EQ(page.models[0].name, "a_1");
  HS_ASSERT_OK_AND_ASSIGN(page, registry->ListModels({.name_prefix = "zzz"}));
  EXPECT_THAT(page.models, IsEmpty());
}

}  // namespace
}  // namespace hotswap::registry
