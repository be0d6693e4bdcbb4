#include "registry/sqlite_token_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "common/status.h"

namespace hotswap::registry {
namespace {

struct TokenRow {
  int64_t id = 0;
  std::string name;
  std::string role;
  std::string hash_hex;
  int64_t created_at = 0;
  bool revoked = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteTokenStore>> SqliteTokenStore::Create(
    std::shared_ptr<SqliteDatabase> db, Clock* clock) {
  if (db == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("SqliteTokenStore needs a database and a clock");
  }
  return std::unique_ptr<SqliteTokenStore>(new SqliteTokenStore(std::move(db), clock));
}

absl::StatusOr<auth::ApiToken> SqliteTokenStore::Insert(const std::string& name, auth::Role role,
                                                        const std::string& hash_hex) {
  HS_RETURN_IF_ERROR(ValidateName(name, "name"));
  if (!IsSha256Hex(hash_hex)) {
    return absl::InvalidArgumentError("hash_hex: must be 64 lower-case hex characters");
  }
  if (!auth::ParseRole(auth::RoleName(role)).has_value()) {
    return absl::InvalidArgumentError("role: unknown role");
  }
  auth::ApiToken token{.id = 0,
                       .name = name,
                       .role = role,
                       .hash_hex = hash_hex,
                       .created_at_ms = clock_->NowMillis(),
                       .revoked = false};

  Transaction txn(*db_, Transaction::Mode::kWrite);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(Statement active,
                      txn.Prepare("SELECT 1 FROM api_tokens WHERE name = ?1 AND revoked = 0"));
  active.BindText(1, name);
  HS_ASSIGN_OR_RETURN(bool taken, active.Step());
  if (taken) {
    return absl::AlreadyExistsError(
        absl::StrCat("an active token named ", name, " already exists"));
  }
  HS_ASSIGN_OR_RETURN(Statement insert,
                      txn.Prepare("INSERT INTO api_tokens (name, role, hash_hex, created_at, "
                                  "revoked) VALUES (?1, ?2, ?3, ?4, 0)"));
  insert.BindText(1, name)
      .BindText(2, auth::RoleName(role))
      .BindText(3, hash_hex)
      .BindInt64(4, token.created_at_ms);
  absl::Status inserted = insert.Run();
  if (absl::IsAlreadyExists(inserted)) {
    // The only other unique key: the same secret hash was stored before.
    return absl::AlreadyExistsError("a token with this secret hash already exists");
  }
  HS_RETURN_IF_ERROR(inserted);
  token.id = txn.LastInsertRowId();
  HS_RETURN_IF_ERROR(txn.Commit());
  return token;
}

absl::StatusOr<std::vector<auth::ApiToken>> SqliteTokenStore::List() {
  std::vector<TokenRow> rows;
  {
    Transaction txn(*db_, Transaction::Mode::kRead);
    HS_RETURN_IF_ERROR(txn.status());
    HS_ASSIGN_OR_RETURN(Statement st,
                        txn.Prepare("SELECT id, name, role, hash_hex, created_at, revoked "
                                    "FROM api_tokens ORDER BY id"));
    while (true) {
      HS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      rows.push_back(TokenRow{.id = st.ColumnInt64(0),
                              .name = st.ColumnText(1),
                              .role = st.ColumnText(2),
                              .hash_hex = st.ColumnText(3),
                              .created_at = st.ColumnInt64(4),
                              .revoked = st.ColumnInt64(5) != 0});
    }
  }

  std::vector<auth::ApiToken> tokens;
  tokens.reserve(rows.size());
  for (TokenRow& row : rows) {
    std::optional<auth::Role> role = auth::ParseRole(row.role);
    if (!role.has_value()) {
      return absl::InternalError(
          absl::StrCat("stored token ", row.id, " has an unknown role: ", row.role));
    }
    tokens.push_back(auth::ApiToken{.id = row.id,
                                    .name = std::move(row.name),
                                    .role = *role,
                                    .hash_hex = std::move(row.hash_hex),
                                    .created_at_ms = row.created_at,
                                    .revoked = row.revoked});
  }
  return tokens;
}

absl::Status SqliteTokenStore::Revoke(const std::string& name) {
  Transaction txn(*db_, Transaction::Mode::kWrite);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(
      Statement st,
      txn.Prepare("UPDATE api_tokens SET revoked = 1 WHERE name = ?1 AND revoked = 0"));
  st.BindText(1, name);
  HS_RETURN_IF_ERROR(st.Run());
  if (txn.Changes() == 0) {
    return absl::NotFoundError(absl::StrCat("no active token named ", name));
  }
  return txn.Commit();
}

}  // namespace hotswap::registry
