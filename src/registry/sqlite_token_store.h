// SqliteTokenStore: auth::TokenStore kept in the api_tokens table of the registry's SQLite
// database (migration 2). Only SHA-256 hashes of secrets are stored; a name is unique among
// non-revoked tokens (partial unique index), so a revoked name can be reused.
//
// Thread-safe: each call is one Transaction of the shared SqliteDatabase.
#pragma once

#include <memory>

#include "auth/token_store.h"
#include "common/clock.h"
#include "registry/sqlite_database.h"

namespace hotswap::registry {

class SqliteTokenStore final : public auth::TokenStore {
 public:
  // `clock` stamps created_at and must outlive the store.
  static absl::StatusOr<std::unique_ptr<SqliteTokenStore>> Create(
      std::shared_ptr<SqliteDatabase> db, Clock* clock);

  // InvalidArgument for a bad name (name rules) or a hash that is not 64 lower-case hex.
  absl::StatusOr<auth::ApiToken> Insert(const std::string& name, auth::Role role,
                                        const std::string& hash_hex) override;
  absl::StatusOr<std::vector<auth::ApiToken>> List() override;
  absl::Status Revoke(const std::string& name) override;

 private:
  SqliteTokenStore(std::shared_ptr<SqliteDatabase> db, Clock* clock)
      : db_(std::move(db)), clock_(clock) {}

  const std::shared_ptr<SqliteDatabase> db_;
  Clock* const clock_;
};

}  // namespace hotswap::registry
