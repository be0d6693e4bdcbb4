#include "auth/authenticator.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace hotswap::auth {
namespace {

// In-memory TokenStore for unit tests; the SQLite store has its own tests against a real file.
class MemoryTokenStore : public TokenStore {
 public:
  absl::StatusOr<ApiToken> Insert(const std::string& name, Role role,
                                  const std::string& hash_hex) override {
    for (const auto& t : tokens_)
      if (t.name == name && !t.revoked) return absl::AlreadyExistsError("dup");
    ApiToken t{static_cast<int64_t>(tokens_.size() + 1), name, role, hash_hex, 0, false};
    tokens_.push_back(t);
    return t;
  }
  absl::StatusOr<std::vector<ApiToken>> List() override {
    if (fail_) return absl::UnavailableError("db down");
    return tokens_;
  }
  absl::Status Revoke(const std::string& name) override {
    for (auto& t : tokens_)
      if (t.name == name && !t.revoked) {
        t.revoked = true;
        return absl::OkStatus();
      }
    return absl::NotFoundError("no token");
  }
  std::vector<ApiToken> tokens_;
  bool fail_ = false;
};

TEST(RolesTest, PermissionsFollowTheRoleTable) {
  EXPECT_TRUE(RoleAllows(Role::kViewer, Permission::kRead));
  EXPECT_FALSE(RoleAllows(Role::kViewer, Permission::kWrite));
  EXPECT_TRUE(RoleAllows(Role::kEditor, Permission::kWrite));
  EXPECT_FALSE(RoleAllows(Role::kEditor, Permission::kDeploy));
  EXPECT_TRUE(RoleAllows(Role::kDeployer, Permission::kDeploy));
  EXPECT_FALSE(RoleAllows(Role::kDeployer, Permission::kApprove));
  EXPECT_TRUE(RoleAllows(Role::kApprover, Permission::kApprove));
  EXPECT_FALSE(RoleAllows(Role::kApprover, Permission::kAdmin));
  for (Permission p : {Permission::kRead, Permission::kWrite, Permission::kDeploy,
                       Permission::kApprove, Permission::kAdmin}) {
    EXPECT_TRUE(RoleAllows(Role::kAdmin, p));
  }
  EXPECT_EQ(ParseRole("approver"), Role::kApprover);
  EXPECT_EQ(RoleName(Role::kDeployer), "deployer");
  EXPECT_FALSE(ParseRole("root").has_value());
}

TEST(AuthenticatorTest, CreatedTokenAuthenticatesAndOnlyItsHashIsStored) {
  MemoryTokenStore store;
  Authenticator a(&store);
  ASSERT_TRUE(a.Reload().ok());
  EXPECT_TRUE(a.NoActiveTokens());
  auto created = a.CreateToken("ci", Role::kEditor);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string& secret = created->second;
  EXPECT_EQ(secret.rfind("hs_", 0), 0u);
  EXPECT_GE(secret.size(), 40u);
  ASSERT_EQ(store.tokens_.size(), 1u);
  EXPECT_EQ(store.tokens_[0].hash_hex, Sha256Hex(secret));
  EXPECT_EQ(store.tokens_[0].hash_hex.find(secret), std::string::npos);
  auto t = a.Authenticate("Bearer " + secret);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->name, "ci");
  EXPECT_EQ(t->role, Role::kEditor);
  EXPECT_TRUE(a.Authenticate("bearer  " + secret + " ").ok());
  EXPECT_FALSE(a.NoActiveTokens());
}

TEST(AuthenticatorTest, RejectsMissingMalformedUnknownAndRevokedTokens) {
  MemoryTokenStore store;
  Authenticator a(&store);
  auto created = a.CreateToken("ci", Role::kViewer);
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(a.Authenticate("").status()));
  EXPECT_TRUE(absl::IsUnauthenticated(a.Authenticate("Basic abc").status()));
  EXPECT_TRUE(absl::IsUnauthenticated(a.Authenticate("Bearer ").status()));
  EXPECT_TRUE(absl::IsUnauthenticated(a.Authenticate("Bearer hs_wrong").status()));
  ASSERT_TRUE(a.RevokeToken("ci").ok());
  EXPECT_TRUE(absl::IsUnauthenticated(a.Authenticate("Bearer " + created->second).status()));
  EXPECT_TRUE(absl::IsNotFound(a.RevokeToken("ci")));
}

TEST(AuthenticatorTest, DuplicateActiveNameAndBadNameAreRefused) {
  MemoryTokenStore store;
  Authenticator a(&store);
  ASSERT_TRUE(a.CreateToken("ci", Role::kViewer).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(a.CreateToken("ci", Role::kAdmin).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(a.CreateToken("bad name", Role::kAdmin).status()));
  auto list = a.ListTokens();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
}

TEST(AuthenticatorTest, ReloadFailureKeepsTheLastSnapshot) {
  MemoryTokenStore store;
  Authenticator a(&store);
  auto created = a.CreateToken("ci", Role::kViewer);
  ASSERT_TRUE(created.ok());
  store.fail_ = true;
  EXPECT_FALSE(a.Reload().ok());
  EXPECT_TRUE(a.Authenticate("Bearer " + created->second).ok());
}

}  // namespace
}  // namespace hotswap::auth
