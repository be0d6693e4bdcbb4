#include "registry/sqlite_token_store.h"

#include <algorithm>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry_test_util.h"
#include "registry/sqlite_registry.h"

namespace hotswap::registry {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::IsOk;
using testing::ScratchDir;
using testing::StatusIs;
using testing::StatusOf;

using auth::ApiToken;
using auth::Permission;
using auth::Role;

std::string Hash(const std::string& secret) { return Sha256Hex(secret); }

class SqliteTokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HS_ASSERT_OK_AND_ASSIGN(db_, SqliteDatabase::Open(dir_.File("registry.db")));
    HS_ASSERT_OK_AND_ASSIGN(store_, SqliteTokenStore::Create(db_, &clock_));
  }

  std::vector<ApiToken> ListOrDie() {
    auto tokens = store_->List();
    EXPECT_THAT(StatusOf(tokens), IsOk());
    return tokens.ok() ? *tokens : std::vector<ApiToken>{};
  }

  ScratchDir dir_;
  FakeClock clock_;
  std::shared_ptr<SqliteDatabase> db_;
  std::unique_ptr<SqliteTokenStore> store_;
};

TEST_F(SqliteTokenStoreTest, InsertStoresTokenAndListReturnsIt) {
  HS_ASSERT_OK_AND_ASSIGN(ApiToken token, store_->Insert("ci-bot", Role::kEditor, Hash("s1")));
  EXPECT_GT(token.id, 0);
  EXPECT_EQ(token.name, "ci-bot");
  EXPECT_EQ(token.role, Role::kEditor);
  EXPECT_EQ(token.hash_hex, Hash("s1"));
  EXPECT_EQ(token.created_at_ms, clock_.NowMillis());
  EXPECT_FALSE(token.revoked);

  std::vector<ApiToken> tokens = ListOrDie();
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].id, token.id);
  EXPECT_EQ(tokens[0].name, token.name);
  EXPECT_EQ(tokens[0].role, token.role);
  EXPECT_EQ(tokens[0].hash_hex, token.hash_hex);
  EXPECT_EQ(tokens[0].created_at_ms, token.created_at_ms);
  EXPECT_FALSE(tokens[0].revoked);
}

TEST_F(SqliteTokenStoreTest, ListIsOrderedByIdAndIncludesRevoked) {
  EXPECT_THAT(ListOrDie(), IsEmpty());
  for (const char* name : {"zed", "amy", "kim"}) {
    HS_ASSERT_OK(store_->Insert(name, Role::kViewer, Hash(name)).status());
    clock_.Advance(1);
  }
  HS_ASSERT_OK(store_->Revoke("amy"));
  std::vector<ApiToken> tokens = ListOrDie();
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens[0].name, "zed");
  EXPECT_EQ(tokens[1].name, "amy");
  EXPECT_EQ(tokens[2].name, "kim");
  EXPECT_LT(tokens[0].id, tokens[1].id);
  EXPECT_LT(tokens[1].id, tokens[2].id);
  EXPECT_FALSE(tokens[0].revoked);
  EXPECT_TRUE(tokens[1].revoked);
  EXPECT_FALSE(tokens[2].revoked);
}

TEST_F(SqliteTokenStoreTest, DuplicateActiveNameIsAlreadyExists) {
  HS_ASSERT_OK(store_->Insert("ci-bot", Role::kEditor, Hash("s1")).status());
  EXPECT_THAT(StatusOf(store_->Insert("ci-bot", Role::kAdmin, Hash("s2"))),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("ci-bot")));
  EXPECT_EQ(ListOrDie().size(), 1u);
}

TEST_F(SqliteTokenStoreTest, NameCanBeReusedAfterRevoke) {
  HS_ASSERT_OK_AND_ASSIGN(ApiToken old_token, store_->Insert("ci-bot", Role::kEditor, Hash("s1")));
  HS_ASSERT_OK(store_->Revoke("ci-bot"));
  HS_ASSERT_OK_AND_ASSIGN(ApiToken new_token,
                          store_->Insert("ci-bot", Role::kDeployer, Hash("s2")));
  EXPECT_NE(new_token.id, old_token.id);
  std::vector<ApiToken> tokens = ListOrDie();
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_TRUE(tokens[0].revoked);
  EXPECT_FALSE(tokens[1].revoked);
  EXPECT_EQ(tokens[1].role, Role::kDeployer);
  // Only the active one is revoked next time; then there is none left.
  HS_ASSERT_OK(store_->Revoke("ci-bot"));
  EXPECT_THAT(store_->Revoke("ci-bot"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SqliteTokenStoreTest, RevokeUnknownNameIsNotFound) {
  EXPECT_THAT(store_->Revoke("nobody"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("nobody")));
}

TEST_F(SqliteTokenStoreTest, SameSecretHashTwiceIsAlreadyExists) {
  HS_ASSERT_OK(store_->Insert("one", Role::kViewer, Hash("same")).status());
  EXPECT_THAT(StatusOf(store_->Insert("two", Role::kViewer, Hash("same"))),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("hash")));
  EXPECT_EQ(ListOrDie().size(), 1u);
}

TEST_F(SqliteTokenStoreTest, InvalidNameOrHashIsInvalidArgumentAndStoresNothing) {
  EXPECT_THAT(StatusOf(store_->Insert("bad name", Role::kViewer, Hash("s"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name")));
  EXPECT_THAT(StatusOf(store_->Insert("", Role::kViewer, Hash("s"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name")));
  EXPECT_THAT(StatusOf(store_->Insert("ok", Role::kViewer, "abc")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hash_hex")));
  std::string upper = Hash("s");
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  EXPECT_THAT(StatusOf(store_->Insert("ok", Role::kViewer, upper)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hash_hex")));
  EXPECT_THAT(ListOrDie(), IsEmpty());
}

TEST_F(SqliteTokenStoreTest, TokenIsFoundByHashInList) {
  for (int i = 0; i < 5; ++i) {
    HS_ASSERT_OK(store_
                     ->Insert("token-" + std::to_string(i), Role::kApprover,
                              Hash("secret-" + std::to_string(i)))
                     .status());
  }
  std::vector<ApiToken> tokens = ListOrDie();
  auto it = std::find_if(tokens.begin(), tokens.end(),
                         [](const ApiToken& t) { return t.hash_hex == Hash("secret-3"); });
  ASSERT_NE(it, tokens.end());
  EXPECT_EQ(it->name, "token-3");
  EXPECT_EQ(it->role, Role::kApprover);
}

TEST_F(SqliteTokenStoreTest, TokensPersistAndShareTheRegistryDatabase) {
  HS_ASSERT_OK_AND_ASSIGN(auto registry, SqliteRegistry::Create(db_, &clock_));
  HS_ASSERT_OK(registry->CreateModel({.name = "iris"}).status());
  HS_ASSERT_OK(store_->Insert("admin", Role::kAdmin, Hash("root")).status());
  store_.reset();
  registry.reset();
  db_.reset();

  HS_ASSERT_OK_AND_ASSIGN(db_, SqliteDatabase::Open(dir_.File("registry.db")));
  HS_ASSERT_OK_AND_ASSIGN(store_, SqliteTokenStore::Create(db_, &clock_));
  HS_ASSERT_OK_AND_ASSIGN(registry, SqliteRegistry::Create(db_, &clock_));
  std::vector<ApiToken> tokens = ListOrDie();
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].role, Role::kAdmin);
  HS_EXPECT_OK(registry->GetModel("iris"));
}

TEST(RolesTest, NamesRoundTrip) {
  for (Role r : {Role::kViewer, Role::kEditor, Role::kDeployer, Role::kApprover, Role::kAdmin}) {
    EXPECT_EQ(auth::ParseRole(auth::RoleName(r)), r);
  }
  EXPECT_EQ(auth::RoleName(Role::kDeployer), "deployer");
  EXPECT_EQ(auth::ParseRole("Admin"), std::nullopt);
  EXPECT_EQ(auth::ParseRole(""), std::nullopt);
  EXPECT_EQ(auth::ParseRole("root"), std::nullopt);
}

TEST(RolesTest, PermissionMatrix) {
  struct Row {
    Role role;
    bool read, write, deploy, approve, admin;
  };
  const Row rows[] = {
      {Role::kViewer, true, false, false, false, false},
      {Role::kEditor, true, true, false, false, false},
      {Role::kDeployer, true, false, true, false, false},
      {Role::kApprover, true, false, false, true, false},
      {Role::kAdmin, true, true, true, true, true},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(std::string(auth::RoleName(r.role)));
    EXPECT_EQ(auth::RoleAllows(r.role, Permission::kRead), r.read);
    EXPECT_EQ(auth::RoleAllows(r.role, Permission::kWrite), r.write);
    EXPECT_EQ(auth::RoleAllows(r.role, Permission::kDeploy), r.deploy);
    EXPECT_EQ(auth::RoleAllows(r.role, Permission::kApprove), r.approve);
    EXPECT_EQ(auth::RoleAllows(r.role, Permission::kAdmin), r.admin);
  }
}

}  // namespace
}  // namespace hotswap::registry
