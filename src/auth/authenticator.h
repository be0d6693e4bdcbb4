// Authenticator: checks `Authorization: Bearer <token>` against the active API tokens and
// creates/revokes tokens. Secrets are never stored: only their SHA-256 (tokens are 256-bit random,
// so a fast hash is sufficient); the final comparison is constant-time.
//
// The active tokens are held in an immutable snapshot swapped atomically after every change
// (Reload), so Authenticate never touches the database and never takes a lock a writer holds.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "auth/token_store.h"

namespace hotswap::auth {

class Authenticator {
 public:
  explicit Authenticator(TokenStore* store);

  // Re-reads the active tokens from the store and publishes a new snapshot.
  absl::Status Reload();

  // `authorization` is the header value ("Bearer hs_..."). Unauthenticated when missing,
  // malformed, unknown or revoked.
  absl::StatusOr<ApiToken> Authenticate(std::string_view authorization) const;

  // Creates a token and returns it with its secret (shown once, never stored).
  absl::StatusOr<std::pair<ApiToken, std::string>> CreateToken(const std::string& name, Role role);
  absl::Status RevokeToken(const std::string& name);
  absl::StatusOr<std::vector<ApiToken>> ListTokens();
  // True when no active token exists (first start: the server bootstraps an admin token).
  bool NoActiveTokens() const;

  // Prefix of every secret, so leaked tokens are recognisable by scanners.
  static constexpr std::string_view kTokenPrefix = "hs_";

 private:
  using Snapshot = std::unordered_map<std::string, ApiToken>;  // keyed by hash_hex
  TokenStore* store_;
  absl::Mutex write_mu_;  // serialises changes and reloads; never held by Authenticate
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
};

}  // namespace hotswap::auth
