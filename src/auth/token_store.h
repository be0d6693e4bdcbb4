// API tokens and roles.
//
// Roles and what they may do (each Permission is checked by the API layer):
//   viewer   read
//   editor   read, write models/versions/aliases
//   deployer read, deploy
//   approver read, approve
//   admin    everything, including tokens and deleting models
//
// TokenStore persists tokens; only SHA-256 hashes of secrets are stored. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hotswap::auth {

enum class Role { kViewer, kEditor, kDeployer, kApprover, kAdmin };
enum class Permission { kRead, kWrite, kDeploy, kApprove, kAdmin };

std::string_view RoleName(Role r);                     // "viewer"
std::optional<Role> ParseRole(std::string_view name);
bool RoleAllows(Role r, Permission p);

struct ApiToken {
  int64_t id = 0;
  std::string name;       // unique among non-revoked tokens; name rules
  Role role = Role::kViewer;
  std::string hash_hex;   // SHA-256 of the secret, lower-case hex
  int64_t created_at_ms = 0;
  bool revoked = false;
};

class TokenStore {
 public:
  virtual ~TokenStore() = default;
  // Stores a token with the given secret hash. AlreadyExists when an active token has the name.
  virtual absl::StatusOr<ApiToken> Insert(const std::string& name, Role role,
                                          const std::string& hash_hex) = 0;
  // All tokens, revoked ones included, ordered by id.
  virtual absl::StatusOr<std::vector<ApiToken>> List() = 0;
  // Marks the active token with this name revoked. NotFound when there is none.
  virtual absl::Status Revoke(const std::string& name) = 0;
};

}  // namespace hotswap::auth
