#include "registry/sqlite_token_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "common/status.h"
#include "registry/registry_rows.h"

namespace hotswap::registry {

using rows::ReadTokenRow;
using rows::TokenRow;

absl::StatusOr<std::unique_ptr<SqliteTokenStore>> SqliteTokenStore::Create(
    std::shared_ptr<SqliteDatabase> db, Clock* clock) {
  if (db == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("SqliteTokenStore needs a database and a clock");
  }
  return std::unique_ptr<SqliteTokenStore>(new SqliteTokenStore(std::move(db), clock));
}

absl::StatusOr<auth::ApiToken> SqliteTokenStore::Insert(const std::string& name, auth::Role role,
                                                        const std::string& hash_hex) {
  HS_RETURN_IF_ERROR(rows::ValidateNewToken(name, role, hash_hex));
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
      rows.push_back(ReadTokenRow(st));
    }
  }

  return rows::ToTokens(std::move(rows));
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
