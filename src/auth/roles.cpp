#include "auth/token_store.h"

namespace hotswap::auth {

std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kViewer:
      return "viewer";
    case Role::kEditor:
      return "editor";
    case Role::kDeployer:
      return "deployer";
    case Role::kApprover:
      return "approver";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kViewer, Role::kEditor, Role::kDeployer, Role::kApprover, Role::kAdmin}) {
    if (name == RoleName(r)) return r;
  }
  return std::nullopt;
}

bool RoleAllows(Role r, Permission p) {
  if (r == Role::kAdmin) return true;
  switch (p) {
    case Permission::kRead:
      return true;  // every role may read
    case Permission::kWrite:
      return r == Role::kEditor;
    case Permission::kDeploy:
      return r == Role::kDeployer;
    case Permission::kApprove:
      return r == Role::kApprover;
    case Permission::kAdmin:
      return false;
  }
  return false;
}

}  // namespace hotswap::auth
