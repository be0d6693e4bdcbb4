#include "registry/postgres/postgres_token_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "common/status.h"
#include "registry/registry_rows.h"

namespace hotswap::registry {

using rows::ReadTokenRow;
using rows::TokenRow;

absl::StatusOr<std::unique_ptr<PostgresTokenStore>> PostgresTokenStore::Create(
    std::shared_ptr<PgDatabase> db, Clock* clock) {
  if (db == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("PostgresTokenStore needs a database and a clock");
  }
  return std::unique_ptr<PostgresTokenStore>(new PostgresTokenStore(std::move(db), clock));
}

absl::StatusOr<auth::ApiToken> PostgresTokenStore::Insert(const std::string& name, auth::Role role,
                                                          const std::string& hash_hex) {
  HS_RETURN_IF_ERROR(rows::ValidateNewToken(name, role, hash_hex));
  auth::ApiToken token{.id = 0,
                       .name = name,
                       .role = role,
                       .hash_hex = hash_hex,
                       .created_at_ms = clock_->NowMillis(),
                       .revoked = false};
  HS_RETURN_IF_ERROR(db_->Run(PgDatabase::Mode::kWrite, [&](PgTransaction& txn) -> absl::Status {
    // The partial unique index on active names arbitrates, also between concurrent inserts; a
    // unique violation left over is the other key, the secret hash.
    HS_ASSIGN_OR_RETURN(PgStatement insert,
                        txn.Prepare("INSERT INTO api_tokens (name, role, hash_hex, created_at, "
                                    "revoked) VALUES ($1, $2, $3, $4, FALSE) "
                                    "ON CONFLICT (name) WHERE NOT revoked DO NOTHING "
                                    "RETURNING id"));
    insert.BindText(1, name)
        .BindText(2, auth::RoleName(role))
        .BindText(3, hash_hex)
        .BindInt64(4, token.created_at_ms);
    absl::StatusOr<bool> inserted = insert.Step();
    if (absl::IsAlreadyExists(inserted.status())) {
      return absl::AlreadyExistsError("a token with this secret hash already exists");
    }
    HS_RETURN_IF_ERROR(inserted.status());
    if (!*inserted) {
      return absl::AlreadyExistsError(
          absl::StrCat("an active token named ", name, " already exists"));
    }
    token.id = insert.ColumnInt64(0);
    return absl::OkStatus();
  }));
  return token;
}

absl::StatusOr<std::vector<auth::ApiToken>> PostgresTokenStore::List() {
  std::vector<TokenRow> rows;
  HS_RETURN_IF_ERROR(db_->Run(PgDatabase::Mode::kRead, [&](PgTransaction& txn) -> absl::Status {
    rows.clear();
    HS_ASSIGN_OR_RETURN(PgStatement st,
                        txn.Prepare("SELECT id, name, role, hash_hex, created_at, revoked::int "
                                    "FROM api_tokens ORDER BY id"));
    while (true) {
      HS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      rows.push_back(ReadTokenRow(st));
    }
    return absl::OkStatus();
  }));
  return rows::ToTokens(std::move(rows));
}

absl::Status PostgresTokenStore::Revoke(const std::string& name) {
  return db_->Run(PgDatabase::Mode::kWrite, [&](PgTransaction& txn) -> absl::Status {
    HS_ASSIGN_OR_RETURN(
        PgStatement st,
        txn.Prepare("UPDATE api_tokens SET revoked = TRUE WHERE name = $1 AND NOT revoked"));
    st.BindText(1, name);
    HS_RETURN_IF_ERROR(st.Run());
    if (st.Changes() == 0) {
      return absl::NotFoundError(absl::StrCat("no active token named ", name));
    }
    return absl::OkStatus();
  });
}

}  // namespace hotswap::registry
