#include "auth/authenticator.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "common/sha256.h"
#include "common/status.h"

namespace hotswap::auth {

Authenticator::Authenticator(TokenStore* store)
    : store_(store), snapshot_(std::make_shared<const Snapshot>()) {}

absl::Status Authenticator::Reload() {
  absl::MutexLock lock(&write_mu_);
  auto tokens = store_->List();
  if (!tokens.ok()) return tokens.status();
  auto snap = std::make_shared<Snapshot>();
  for (ApiToken& t : *tokens) {
    if (!t.revoked) snap->emplace(t.hash_hex, std::move(t));
  }
  snapshot_.store(std::move(snap));
  return absl::OkStatus();
}

absl::StatusOr<ApiToken> Authenticator::Authenticate(std::string_view authorization) const {
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "missing API token: send 'Authorization: Bearer <token>'");
  }
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(ToAbsl(authorization.substr(0, kBearer.size())), ToAbsl(kBearer))) {
    return absl::UnauthenticatedError("malformed Authorization header: expected 'Bearer <token>'");
  }
  std::string_view secret = authorization.substr(kBearer.size());
  while (!secret.empty() && secret.front() == ' ') secret.remove_prefix(1);
  while (!secret.empty() && secret.back() == ' ') secret.remove_suffix(1);
  // Clients send the same token on every request: each thread remembers the hash of the last
  // secret it saw, so the request path hashes only when the secret changes. The lookup below
  // still runs every time, so a revoked token stops working at once.
  thread_local std::string last_secret;
  thread_local std::string last_hash;
  if (!ConstantTimeEquals(secret, last_secret)) {
    last_hash = Sha256Hex(secret);
    last_secret.assign(secret);
  }
  const std::string& hash = last_hash;
  std::shared_ptr<const Snapshot> snap = snapshot_.load();
  auto it = snap->find(hash);
  if (it == snap->end() || !ConstantTimeEquals(it->second.hash_hex, hash)) {
    return absl::UnauthenticatedError("unknown or revoked API token");
  }
  return it->second;
}

absl::StatusOr<std::pair<ApiToken, std::string>> Authenticator::CreateToken(const std::string& name,
                                                                            Role role) {
  if (auto s = ValidateName(name, "name"); !s.ok()) return s;
  std::string secret = absl::StrCat(std::string(kTokenPrefix), RandomToken(32));
  absl::StatusOr<ApiToken> token;
  {
    absl::MutexLock lock(&write_mu_);
    token = store_->Insert(name, role, Sha256Hex(secret));
  }
  if (!token.ok()) {
    if (absl::IsAlreadyExists(token.status())) {
      return absl::AlreadyExistsError(
          absl::StrCat("an active token named '", name, "' already exists"));
    }
    return token.status();
  }
  if (auto s = Reload(); !s.ok()) return s;
  return std::make_pair(*std::move(token), std::move(secret));
}

absl::Status Authenticator::RevokeToken(const std::string& name) {
  absl::Status s;
  {
    absl::MutexLock lock(&write_mu_);
    s = store_->Revoke(name);
  }
  if (!s.ok()) return s;
  return Reload();
}

absl::StatusOr<std::vector<ApiToken>> Authenticator::ListTokens() {
  absl::MutexLock lock(&write_mu_);
  return store_->List();
}

bool Authenticator::NoActiveTokens() const { return snapshot_.load()->empty(); }

}  // namespace hotswap::auth
