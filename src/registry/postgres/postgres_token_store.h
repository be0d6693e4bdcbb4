// PostgresTokenStore: auth::TokenStore kept in the api_tokens table of the registry's PostgreSQL
// database (migration 2). Behaves as SqliteTokenStore: only SHA-256 hashes of secrets are stored;
// a name is unique among non-revoked tokens (partial unique index), so a revoked name can be
// reused, also when two servers insert the same name at once (one gets AlreadyExists).
//
// Thread-safe: each call is one PgDatabase::Run transaction.
#pragma once

#include <memory>

#include "auth/token_store.h"
#include "common/clock.h"
#include "registry/postgres/pg_database.h"

namespace hotswap::registry {

class PostgresTokenStore final : public auth::TokenStore {
 public:
  // `clock` stamps created_at and must outlive the store.
  static absl::StatusOr<std::unique_ptr<PostgresTokenStore>> Create(std::shared_ptr<PgDatabase> db,
                                                                    Clock* clock);

  // InvalidArgument for a bad name (name rules) or a hash that is not 64 lower-case hex.
  absl::StatusOr<auth::ApiToken> Insert(const std::string& name, auth::Role role,
                                        const std::string& hash_hex) override;
  absl::StatusOr<std::vector<auth::ApiToken>> List() override;
  absl::Status Revoke(const std::string& name) override;

 private:
  PostgresTokenStore(std::shared_ptr<PgDatabase> db, Clock* clock)
      : db_(std::move(db)), clock_(clock) {}

  const std::shared_ptr<PgDatabase> db_;
  Clock* const clock_;
};

}  // namespace hotswap::registry
