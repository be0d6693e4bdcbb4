// Row types and conversions shared by the SQLite and PostgreSQL registries: rows as plain
// strings and integers (read inside a transaction), their conversion into domain objects (after
// the transaction, outside any lock), the shared error messages, and the opaque page tokens.
// Internal to src/registry; both implementations include it so they cannot drift apart.
// Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "auth/token_store.h"
#include "common/names.h"
#include "common/status.h"
#include "domain/model.h"

namespace hotswap::registry::rows {

using domain::Json;

constexpr int kMaxPageSize = 1000;

// ---- Errors ----------------------------------------------------------------------------------

inline absl::Status ModelNotFound(absl::string_view model) {
  return absl::NotFoundError(absl::StrCat("model ", model, " not found"));
}

inline absl::Status VersionNotFound(absl::string_view model, int64_t version) {
  return absl::NotFoundError(absl::StrCat("version ", version, " of model ", model, " not found"));
}

inline absl::Status CheckLimit(int limit) {
  if (limit < 1 || limit > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: must be between 1 and ", kMaxPageSize, ", got ", limit));
  }
  return absl::OkStatus();
}

// ---- Page tokens: base64url("<kind>:<key>") ----------------------------------------------------

inline std::string EncodePageToken(absl::string_view kind, absl::string_view key) {
  return absl::WebSafeBase64Escape(absl::StrCat(kind, ":", key));
}

// The key of `token`, "" for an empty token; InvalidArgument when it is not one of ours.
inline absl::StatusOr<std::string> DecodePageToken(absl::string_view kind, const std::string& token) {
  if (token.empty()) return std::string();
  std::string raw;
  const std::string prefix = absl::StrCat(kind, ":");
  if (!absl::WebSafeBase64Unescape(token, &raw) || !absl::StartsWith(raw, prefix) ||
      raw.size() == prefix.size()) {
    return absl::InvalidArgumentError("page_token: malformed");
  }
  return raw.substr(prefix.size());
}

// ---- JSON columns ------------------------------------------------------------------------------

// Serialises `j` for a TEXT column; InvalidArgument when it holds invalid UTF-8.
inline absl::StatusOr<std::string> DumpJson(const Json& j, absl::string_view field) {
  try {
    return j.dump();
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": cannot be stored: ", e.what()));
  }
}

template <typename T>
absl::StatusOr<std::optional<std::string>> DumpOptional(const std::optional<T>& value,
                                                        absl::string_view field) {
  if (!value.has_value()) return std::optional<std::string>();
  HS_ASSIGN_OR_RETURN(std::string text, DumpJson(domain::ToJson(*value), field));
  return std::optional<std::string>(std::move(text));
}

inline absl::Status Corrupt(absl::string_view where, absl::string_view column, absl::string_view what) {
  return absl::InternalError(
      absl::StrCat("stored ", where, " has an unreadable ", column, ": ", what));
}

inline absl::StatusOr<Json> ParseStoredJson(const std::string& text, absl::string_view where,
                                     absl::string_view column) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Corrupt(where, column, "not valid JSON");
  return j;
}

inline absl::StatusOr<std::map<std::string, std::string>> ParseStoredTags(const std::string& text,
                                                                   absl::string_view where) {
  HS_ASSIGN_OR_RETURN(Json j, ParseStoredJson(text, where, "tags_json"));
  if (!j.is_object()) return Corrupt(where, "tags_json", "not a JSON object");
  std::map<std::string, std::string> tags;
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string()) return Corrupt(where, "tags_json", "a tag value is not a string");
    tags.emplace(key, value.get<std::string>());
  }
  return tags;
}

template <typename T, typename FromJson>
absl::Status ParseStoredOptional(const std::optional<std::string>& text, absl::string_view where,
                                 absl::string_view column, FromJson from_json,
                                 std::optional<T>* out) {
  if (!text.has_value()) return absl::OkStatus();
  HS_ASSIGN_OR_RETURN(Json j, ParseStoredJson(*text, where, column));
  absl::StatusOr<T> value = from_json(j);
  if (!value.ok()) return Corrupt(where, column, value.status().message());
  *out = *std::move(value);
  return absl::OkStatus();
}

// ---- Rows --------------------------------------------------------------------------------------
// Rows are copied out of the database as plain strings inside the transaction and turned into
// domain objects (JSON parsing) after it has ended.

constexpr absl::string_view kModelColumns =
    "m.id, m.name, m.description, m.tags_json, m.created_at, m.updated_at";

struct ModelRow {
  int64_t id = 0;
  std::string name;
  std::string description;
  std::string tags_json;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

template <typename Statement>  // SQLite's Statement or PostgreSQL's PgStatement
ModelRow ReadModelRow(const Statement& st) {
  return ModelRow{.id = st.ColumnInt64(0),
                  .name = st.ColumnText(1),
                  .description = st.ColumnText(2),
                  .tags_json = st.ColumnText(3),
                  .created_at = st.ColumnInt64(4),
                  .updated_at = st.ColumnInt64(5)};
}

inline absl::StatusOr<domain::Model> ToModel(ModelRow&& row) {
  const std::string where = absl::StrCat("model ", row.name);
  HS_ASSIGN_OR_RETURN(auto tags, ParseStoredTags(row.tags_json, where));
  return domain::Model{.name = std::move(row.name),
                       .description = std::move(row.description),
                       .tags = std::move(tags),
                       .created_at_ms = row.created_at,
                       .updated_at_ms = row.updated_at};
}

constexpr absl::string_view kVersionColumns =
    "m.name, v.version, v.framework, v.sha256, v.size_bytes, v.status, v.schema_json, "
    "v.training_json, v.baseline_json, v.preprocessing_json, v.tags_json, v.parent_version, "
    "v.created_by, v.created_at";

struct VersionRow {
  std::string model_name;
  int64_t version = 0;
  std::string framework;
  std::string sha256;
  int64_t size_bytes = 0;
  std::string status;
  std::optional<std::string> schema_json;
  std::optional<std::string> training_json;
  std::optional<std::string> baseline_json;
  std::optional<std::string> preprocessing_json;
  std::string tags_json;
  std::optional<int64_t> parent_version;
  std::string created_by;
  int64_t created_at = 0;
  std::vector<std::string> aliases;  // sorted
};

template <typename Statement>
VersionRow ReadVersionRow(const Statement& st) {
  return VersionRow{.model_name = st.ColumnText(0),
                    .version = st.ColumnInt64(1),
                    .framework = st.ColumnText(2),
                    .sha256 = st.ColumnText(3),
                    .size_bytes = st.ColumnInt64(4),
                    .status = st.ColumnText(5),
                    .schema_json = st.ColumnOptionalText(6),
                    .training_json = st.ColumnOptionalText(7),
                    .baseline_json = st.ColumnOptionalText(8),
                    .preprocessing_json = st.ColumnOptionalText(9),
                    .tags_json = st.ColumnText(10),
                    .parent_version = st.ColumnOptionalInt64(11),
                    .created_by = st.ColumnText(12),
                    .created_at = st.ColumnInt64(13)};
}

inline absl::StatusOr<domain::ModelVersion> ToVersion(VersionRow&& row) {
  const std::string where = absl::StrCat("version ", row.version, " of model ", row.model_name);
  domain::ModelVersion v;
  std::optional<domain::VersionStatus> status = domain::ParseVersionStatus(row.status);
  if (!status.has_value()) return Corrupt(where, "status", row.status);
  HS_RETURN_IF_ERROR(ParseStoredOptional(row.schema_json, where, "schema_json",
                                         &domain::TensorSchemaFromJson, &v.schema));
  HS_RETURN_IF_ERROR(ParseStoredOptional(row.training_json, where, "training_json",
                                         &domain::TrainingMetadataFromJson, &v.training));
  HS_RETURN_IF_ERROR(ParseStoredOptional(row.baseline_json, where, "baseline_json",
                                         &domain::PerformanceBaselineFromJson, &v.baseline));
  if (row.preprocessing_json.has_value()) {
    HS_ASSIGN_OR_RETURN(v.preprocessing,
                        ParseStoredJson(*row.preprocessing_json, where, "preprocessing_json"));
  }
  HS_ASSIGN_OR_RETURN(v.tags, ParseStoredTags(row.tags_json, where));
  v.model_name = std::move(row.model_name);
  v.version = row.version;
  v.framework = std::move(row.framework);
  v.sha256 = std::move(row.sha256);
  v.size_bytes = row.size_bytes;
  v.status = *status;
  v.parent_version = row.parent_version;
  v.aliases = std::move(row.aliases);
  v.created_by = std::move(row.created_by);
  v.created_at_ms = row.created_at;
  return v;
}

inline absl::StatusOr<std::vector<domain::ModelVersion>> ToVersions(std::vector<VersionRow>&& rows) {
  std::vector<domain::ModelVersion> out;
  out.reserve(rows.size());
  for (VersionRow& row : rows) {
    HS_ASSIGN_OR_RETURN(domain::ModelVersion v, ToVersion(std::move(row)));
    out.push_back(std::move(v));
  }
  return out;
}

// ---- Tokens ------------------------------------------------------------------------------------

inline constexpr absl::string_view kTokenColumns = "id, name, role, hash_hex, created_at, revoked";

struct TokenRow {
  int64_t id = 0;
  std::string name;
  std::string role;
  std::string hash_hex;
  int64_t created_at = 0;
  bool revoked = false;
};

template <typename Statement>  // columns in kTokenColumns order
TokenRow ReadTokenRow(const Statement& st) {
  return TokenRow{.id = st.ColumnInt64(0),
                  .name = st.ColumnText(1),
                  .role = st.ColumnText(2),
                  .hash_hex = st.ColumnText(3),
                  .created_at = st.ColumnInt64(4),
                  .revoked = st.ColumnInt64(5) != 0};
}

// What TokenStore::Insert checks before touching the database.
inline absl::Status ValidateNewToken(const std::string& name, auth::Role role,
                                     const std::string& hash_hex) {
  HS_RETURN_IF_ERROR(ValidateName(name, "name"));
  if (!IsSha256Hex(hash_hex)) {
    return absl::InvalidArgumentError("hash_hex: must be 64 lower-case hex characters");
  }
  if (!auth::ParseRole(auth::RoleName(role)).has_value()) {
    return absl::InvalidArgumentError("role: unknown role");
  }
  return absl::OkStatus();
}

inline absl::StatusOr<std::vector<auth::ApiToken>> ToTokens(std::vector<TokenRow>&& rows) {
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

// ---- Deployments -------------------------------------------------------------------------------

inline constexpr absl::string_view kDeploymentColumns =
    "id, endpoint, model_name, version, strategy, state, message, previous_version, created_at, "
    "updated_at, rollout";

template <typename Statement>  // columns in kDeploymentColumns order
domain::Deployment ReadDeploymentRow(const Statement& st) {
  domain::Deployment d;
  d.id = st.ColumnText(0);
  d.endpoint = st.ColumnText(1);
  d.model_name = st.ColumnText(2);
  d.version = st.ColumnInt64(3);
  d.strategy = st.ColumnText(4);
  d.state = st.ColumnText(5);
  d.message = st.ColumnText(6);
  d.previous_version = st.ColumnOptionalInt64(7);
  d.created_at_ms = st.ColumnInt64(8);
  d.updated_at_ms = st.ColumnInt64(9);
  domain::Json rollout = domain::Json::parse(st.ColumnText(10), nullptr, false);
  d.rollout = rollout.is_object() ? std::move(rollout) : domain::Json::object();
  return d;
}

}  // namespace hotswap::registry::rows
