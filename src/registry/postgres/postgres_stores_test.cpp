// PostgresTokenStore and PostgresDeploymentStore against a real PostgreSQL server: the cases of
// the SQLite store tests, plus what two servers on one database can do at once.
#include <unistd.h>

#include <algorithm>
#include <barrier>
#include <string>
#include <thread>
#include <vector>

#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/postgres/pg_database.h"
#include "registry/postgres/pg_test_server.h"
#include "registry/postgres/postgres_deployment_store.h"
#include "registry/postgres/postgres_registry.h"
#include "registry/postgres/postgres_token_store.h"
#include "registry/registry_test_util.h"

namespace hotswap::registry {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::IsOk;
using testing::PgTestServer;
using testing::StatusIs;
using testing::StatusOf;

using auth::ApiToken;
using auth::Role;

std::string Hash(const std::string& secret) { return Sha256Hex(secret); }

// A fresh database on the binary's shared server, opened.
class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HS_ASSERT_OK_AND_ASSIGN(PgTestServer * server, PgTestServer::Shared());
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string name = "st_" + Sha256Hex(std::string(info->test_suite_name()) + "." +
                                               info->name() + "." + std::to_string(::getpid()))
                                         .substr(0, 20);
    HS_ASSERT_OK(server->CreateDatabase(name));
    conninfo_ = server->ConnInfo(name);
    HS_ASSERT_OK_AND_ASSIGN(db_, PgDatabase::Open({.conninfo = conninfo_}));
  }

  std::string conninfo_;
  FakeClock clock_;
  std::shared_ptr<PgDatabase> db_;
};

class PostgresTokenStoreTest : public PgStoreTest {
 protected:
  void SetUp() override {
    PgStoreTest::SetUp();
    if (HasFatalFailure()) return;
    HS_ASSERT_OK_AND_ASSIGN(store_, PostgresTokenStore::Create(db_, &clock_));
  }

  std::vector<ApiToken> ListOrDie() {
    auto tokens = store_->List();
    EXPECT_THAT(StatusOf(tokens), IsOk());
    return tokens.ok() ? *tokens : std::vector<ApiToken>{};
  }

  std::unique_ptr<PostgresTokenStore> store_;
};

TEST_F(PostgresTokenStoreTest, InsertStoresTokenAndListReturnsIt) {
  HS_ASSERT_OK_AND_ASSIGN(ApiToken token, store_->Insert("ci-bot", Role::kEditor, Hash("s1")));
  EXPECT_GT(token.id, 0);
  EXPECT_EQ(token.created_at_ms, clock_.NowMillis());
  std::vector<ApiToken> tokens = ListOrDie();
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].id, token.id);
  EXPECT_EQ(tokens[0].name, "ci-bot");
  EXPECT_EQ(tokens[0].role, Role::kEditor);
  EXPECT_EQ(tokens[0].hash_hex, Hash("s1"));
  EXPECT_EQ(tokens[0].created_at_ms, token.created_at_ms);
  EXPECT_FALSE(tokens[0].revoked);
}

TEST_F(PostgresTokenStoreTest, ListIsOrderedByIdAndIncludesRevoked) {
  EXPECT_THAT(ListOrDie(), IsEmpty());
  for (const char* name : {"zed", "amy", "kim"}) {
    HS_ASSERT_OK(store_->Insert(name, Role::kViewer, Hash(name)).status());
  }
  HS_ASSERT_OK(store_->Revoke("amy"));
  std::vector<ApiToken> tokens = ListOrDie();
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens[0].name, "zed");
  EXPECT_EQ(tokens[1].name, "amy");
  EXPECT_EQ(tokens[2].name, "kim");
  EXPECT_TRUE(tokens[1].revoked);
  EXPECT_FALSE(tokens[2].revoked);
}

TEST_F(PostgresTokenStoreTest, DuplicateActiveNameIsAlreadyExistsAndRevokedNameIsReusable) {
  HS_ASSERT_OK(store_->Insert("ci-bot", Role::kEditor, Hash("s1")).status());
  EXPECT_THAT(StatusOf(store_->Insert("ci-bot", Role::kAdmin, Hash("s2"))),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("ci-bot")));
  HS_ASSERT_OK(store_->Revoke("ci-bot"));
  HS_ASSERT_OK(store_->Insert("ci-bot", Role::kDeployer, Hash("s2")).status());
  HS_ASSERT_OK(store_->Revoke("ci-bot"));
  EXPECT_THAT(store_->Revoke("ci-bot"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("ci-bot")));
  EXPECT_EQ(ListOrDie().size(), 2u);
}

TEST_F(PostgresTokenStoreTest, SameSecretHashTwiceIsAlreadyExists) {
  HS_ASSERT_OK(store_->Insert("one", Role::kViewer, Hash("same")).status());
  EXPECT_THAT(StatusOf(store_->Insert("two", Role::kViewer, Hash("same"))),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("hash")));
  EXPECT_EQ(ListOrDie().size(), 1u);
}

TEST_F(PostgresTokenStoreTest, InvalidNameOrHashIsInvalidArgumentAndStoresNothing) {
  EXPECT_THAT(StatusOf(store_->Insert("bad name", Role::kViewer, Hash("s"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name")));
  EXPECT_THAT(StatusOf(store_->Insert("ok", Role::kViewer, "abc")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hash_hex")));
  EXPECT_THAT(ListOrDie(), IsEmpty());
}

TEST_F(PostgresTokenStoreTest, SameNameFromTwoServersAtOnceOneWins) {
  HS_ASSERT_OK_AND_ASSIGN(auto other_db, PgDatabase::Open({.conninfo = conninfo_}));
  HS_ASSERT_OK_AND_ASSIGN(auto other, PostgresTokenStore::Create(other_db, &clock_));
  constexpr int kRounds = 10;
  absl::Status results[kRounds][2];
  std::barrier start(2);
  std::vector<std::thread> threads;
  for (int side = 0; side < 2; ++side) {
    threads.emplace_back([&, side] {
      auth::TokenStore* store = side == 0 ? static_cast<auth::TokenStore*>(store_.get())
                                          : static_cast<auth::TokenStore*>(other.get());
      for (int round = 0; round < kRounds; ++round) {
        start.arrive_and_wait();
        results[round][side] =
            store
                ->Insert("bot-" + std::to_string(round), Role::kViewer,
                         Hash(std::to_string(round) + "-" + std::to_string(side)))
                .status();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int round = 0; round < kRounds; ++round) {
    const absl::Status& a = results[round][0];
    const absl::Status& b = results[round][1];
    EXPECT_TRUE(a.ok() != b.ok()) << "round " << round << ": " << a << " / " << b;
    EXPECT_THAT(a.ok() ? b : a,
                StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("active token named")));
  }
  EXPECT_EQ(ListOrDie().size(), static_cast<size_t>(kRounds));
}

TEST_F(PostgresTokenStoreTest, TokensShareTheRegistryDatabase) {
  HS_ASSERT_OK_AND_ASSIGN(auto registry, PostgresRegistry::Create(db_, &clock_));
  HS_ASSERT_OK(registry->CreateModel({.name = "iris"}).status());
  HS_ASSERT_OK(store_->Insert("admin", Role::kAdmin, Hash("root")).status());
  store_.reset();
  registry.reset();
  db_.reset();
  HS_ASSERT_OK_AND_ASSIGN(db_, PgDatabase::Open({.conninfo = conninfo_}));
  HS_ASSERT_OK_AND_ASSIGN(store_, PostgresTokenStore::Create(db_, &clock_));
  HS_ASSERT_OK_AND_ASSIGN(registry, PostgresRegistry::Create(db_, &clock_));
  std::vector<ApiToken> tokens = ListOrDie();
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].role, Role::kAdmin);
  HS_EXPECT_OK(registry->GetModel("iris"));
}

domain::Deployment Make(const std::string& id, const std::string& endpoint, int64_t version,
                        const std::string& state, int64_t at) {
  domain::Deployment d;
  d.id = id;
  d.endpoint = endpoint;
  d.model_name = endpoint;
  d.version = version;
  d.state = state;
  d.created_at_ms = d.updated_at_ms = at;
  return d;
}

class PostgresDeploymentStoreTest : public PgStoreTest {
 protected:
  void SetUp() override {
    PgStoreTest::SetUp();
    if (HasFatalFailure()) return;
    store_ = std::make_unique<PostgresDeploymentStore>(db_);
  }
  std::unique_ptr<PostgresDeploymentStore> store_;
};

TEST_F(PostgresDeploymentStoreTest, InsertGetAndUpdateRoundTrip) {
  domain::Deployment d = Make("d1", "iris", 2, "pending", 1000);
  d.previous_version = 1;
  HS_ASSERT_OK(store_->Insert(d));
  HS_ASSERT_OK_AND_ASSIGN(domain::Deployment got, store_->Get("d1"));
  EXPECT_EQ(got, d);
  d.state = "failed";
  d.message = "load failed: corrupt artifact";
  d.previous_version = std::nullopt;
  d.updated_at_ms = 2000;
  HS_ASSERT_OK(store_->Update(d));
  HS_ASSERT_OK_AND_ASSIGN(got, store_->Get("d1"));
  EXPECT_EQ(got, d);
}

TEST_F(PostgresDeploymentStoreTest, UnknownIdIsNotFoundAndDuplicateIdIsAlreadyExists) {
  EXPECT_THAT(StatusOf(store_->Get("nope")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("deployment 'nope' not found")));
  EXPECT_THAT(store_->Update(Make("nope", "e", 1, "failed", 1)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("deployment nope not found")));
  HS_ASSERT_OK(store_->Insert(Make("d1", "e", 1, "pending", 1)));
  EXPECT_THAT(store_->Insert(Make("d1", "e", 2, "pending", 2)),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(PostgresDeploymentStoreTest, ListIsNewestFirstAndFiltersByEndpoint) {
  HS_ASSERT_OK(store_->Insert(Make("a", "iris", 1, "succeeded", 1)));
  HS_ASSERT_OK(store_->Insert(Make("b", "fraud", 1, "succeeded", 2)));
  HS_ASSERT_OK(store_->Insert(Make("c", "iris", 2, "failed", 3)));
  HS_ASSERT_OK_AND_ASSIGN(auto all, store_->List("", 10));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, "c");
  EXPECT_EQ(all[2].id, "a");
  HS_ASSERT_OK_AND_ASSIGN(auto iris, store_->List("iris", 1));
  ASSERT_EQ(iris.size(), 1u);
  EXPECT_EQ(iris[0].id, "c");
}

TEST_F(PostgresDeploymentStoreTest, ActiveByEndpointIsTheLastSuccessUnlessUndeployed) {
  HS_ASSERT_OK(store_->Insert(Make("a", "iris", 1, "succeeded", 1)));
  HS_ASSERT_OK(store_->Insert(Make("b", "iris", 2, "succeeded", 2)));
  HS_ASSERT_OK(store_->Insert(Make("c", "iris", 3, "failed", 3)));  // failed: ignored
  HS_ASSERT_OK(store_->Insert(Make("d", "fraud", 1, "succeeded", 4)));
  HS_ASSERT_OK(store_->Insert(Make("e", "fraud", 1, "undeployed", 5)));  // unloaded since
  HS_ASSERT_OK(store_->Insert(Make("f", "Zeta", 1, "succeeded", 6)));
  HS_ASSERT_OK_AND_ASSIGN(auto active, store_->ActiveByEndpoint());
  ASSERT_EQ(active.size(), 2u);
  EXPECT_EQ(active[0].endpoint, "Zeta");  // bytewise order, as SQLite
  EXPECT_EQ(active[1].endpoint, "iris");
  EXPECT_EQ(active[1].version, 2);
}

}  // namespace
}  // namespace hotswap::registry
