#include "registry/sqlite_registry.h"

#include "registry/registry_rows.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/names.h"
#include "common/status.h"

namespace hotswap::registry {
namespace {

using namespace rows;  // NOLINT(google-build-using-namespace): registry_rows.h

// ---- Queries (called with a Transaction open) --------------------------------------------------

// The id of model `name`; NotFound when there is none.
absl::StatusOr<int64_t> FindModelId(Transaction& txn, const std::string& name) {
  HS_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT id FROM models WHERE name = ?1"));
  st.BindText(1, name);
  HS_ASSIGN_OR_RETURN(bool found, st.Step());
  if (!found) return ModelNotFound(name);
  return st.ColumnInt64(0);
}

absl::StatusOr<bool> VersionExists(Transaction& txn, int64_t model_id, int64_t version) {
  HS_ASSIGN_OR_RETURN(
      Statement st,
      txn.Prepare("SELECT 1 FROM model_versions WHERE model_id = ?1 AND version = ?2"));
  st.BindInt64(1, model_id).BindInt64(2, version);
  return st.Step();
}

absl::StatusOr<ModelRow> FetchModelRow(Transaction& txn, const std::string& name) {
  HS_ASSIGN_OR_RETURN(Statement st, txn.Prepare(absl::StrCat("SELECT ", kModelColumns,
                                                             " FROM models m WHERE m.name = ?1")));
  st.BindText(1, name);
  HS_ASSIGN_OR_RETURN(bool found, st.Step());
  if (!found) return ModelNotFound(name);
  return ReadModelRow(st);
}

// Fills the aliases of `rows` (versions of one model, ascending) from the alias table.
absl::Status FillAliases(Transaction& txn, int64_t model_id, std::vector<VersionRow>* rows) {
  if (rows->empty()) return absl::OkStatus();
  HS_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT version, alias FROM aliases "
                                                "WHERE model_id = ?1 AND version BETWEEN ?2 AND ?3 "
                                                "ORDER BY alias"));
  st.BindInt64(1, model_id).BindInt64(2, rows->front().version).BindInt64(3, rows->back().version);
  while (true) {
    HS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    const int64_t version = st.ColumnInt64(0);
    auto it = std::lower_bound(rows->begin(), rows->end(), version,
                               [](const VersionRow& r, int64_t v) { return r.version < v; });
    if (it != rows->end() && it->version == version) it->aliases.push_back(st.ColumnText(1));
  }
  return absl::OkStatus();
}

// Up to `limit` versions of the model with number > `after`, ascending, aliases filled.
absl::StatusOr<std::vector<VersionRow>> FetchVersionRows(Transaction& txn, int64_t model_id,
                                                         int64_t after, int64_t limit) {
  HS_ASSIGN_OR_RETURN(Statement st, txn.Prepare(absl::StrCat(
                                        "SELECT ", kVersionColumns,
                                        " FROM model_versions v JOIN models m ON m.id = v.model_id "
                                        "WHERE v.model_id = ?1 AND v.version > ?2 "
                                        "ORDER BY v.version LIMIT ?3")));
  st.BindInt64(1, model_id).BindInt64(2, after).BindInt64(3, limit);
  std::vector<VersionRow> rows;
  while (true) {
    HS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    rows.push_back(ReadVersionRow(st));
  }
  HS_RETURN_IF_ERROR(FillAliases(txn, model_id, &rows));
  return rows;
}

absl::StatusOr<VersionRow> FetchVersionRow(Transaction& txn, const std::string& model,
                                           int64_t model_id, int64_t version) {
  if (version < 1) return VersionNotFound(model, version);
  HS_ASSIGN_OR_RETURN(std::vector<VersionRow> rows,
                      FetchVersionRows(txn, model_id, version - 1, 1));
  if (rows.empty() || rows.front().version != version) return VersionNotFound(model, version);
  return std::move(rows.front());
}

absl::Status ReplaceModelTags(Transaction& txn, int64_t model_id,
                              const std::map<std::string, std::string>& tags) {
  HS_ASSIGN_OR_RETURN(Statement clear, txn.Prepare("DELETE FROM model_tags WHERE model_id = ?1"));
  clear.BindInt64(1, model_id);
  HS_RETURN_IF_ERROR(clear.Run());
  HS_ASSIGN_OR_RETURN(
      Statement insert,
      txn.Prepare("INSERT INTO model_tags (model_id, key, value) VALUES (?1, ?2, ?3)"));
  for (const auto& [key, value] : tags) {
    insert.Reset();
    insert.BindInt64(1, model_id).BindText(2, key).BindText(3, value);
    HS_RETURN_IF_ERROR(insert.Run());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteRegistry>> SqliteRegistry::Create(
    std::shared_ptr<SqliteDatabase> db, Clock* clock) {
  if (db == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("SqliteRegistry needs a database and a clock");
  }
  return std::unique_ptr<SqliteRegistry>(new SqliteRegistry(std::move(db), clock));
}

// ---- Models ------------------------------------------------------------------------------------

absl::StatusOr<domain::Model> SqliteRegistry::CreateModel(const domain::Model& model) {
  HS_RETURN_IF_ERROR(domain::FieldErrorsToStatus("invalid model", domain::Validate(model)));
  HS_ASSIGN_OR_RETURN(std::string tags_json, DumpJson(Json(model.tags), "tags"));
  domain::Model created = model;
  created.created_at_ms = created.updated_at_ms = clock_->NowMillis();
  {
    Transaction txn(*db_, Transaction::Mode::kWrite);
    HS_RETURN_IF_ERROR(txn.status());
    HS_ASSIGN_OR_RETURN(Statement exists, txn.Prepare("SELECT 1 FROM models WHERE name = ?1"));
    exists.BindText(1, model.name);
    HS_ASSIGN_OR_RETURN(bool taken, exists.Step());
    if (taken)
      return absl::AlreadyExistsError(absl::StrCat("model ", model.name, " already exists"));
    HS_ASSIGN_OR_RETURN(Statement insert,
                        txn.Prepare("INSERT INTO models (name, description, tags_json, "
                                    "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)"));
    insert.BindText(1, created.name)
        .BindText(2, created.description)
        .BindText(3, tags_json)
        .BindInt64(4, created.created_at_ms);
    HS_RETURN_IF_ERROR(insert.Run());
    HS_RETURN_IF_ERROR(ReplaceModelTags(txn, txn.LastInsertRowId(), created.tags));
    HS_RETURN_IF_ERROR(txn.Commit());
  }
  return created;
}

absl::StatusOr<ModelPage> SqliteRegistry::ListModels(const ListModelsQuery& query) {
  HS_RETURN_IF_ERROR(CheckLimit(query.limit));
  if (!query.framework.empty() && !domain::IsKnownFramework(query.framework)) {
    return absl::InvalidArgumentError(
        absl::StrCat("framework: unknown framework ", query.framework));
  }
  HS_ASSIGN_OR_RETURN(std::string after, DecodePageToken("model", query.page_token));

  std::vector<ModelRow> rows;
  {
    Transaction txn(*db_, Transaction::Mode::kRead);
    HS_RETURN_IF_ERROR(txn.status());
    // The prefix test compares a substring rather than using LIKE, so '%' and '_' in the
    // prefix match themselves; "name >= prefix" lets SQLite seek in the name index.
    HS_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare(absl::StrCat("SELECT ", kModelColumns,
                                 " FROM models m "
                                 "WHERE m.name >= ?1 AND substr(m.name, 1, length(?1)) = ?1 "
                                 "AND (?2 IS NULL OR m.name > ?2) "
                                 "AND (?3 IS NULL OR EXISTS (SELECT 1 FROM model_tags t "
                                 "     WHERE t.model_id = m.id AND t.key = ?3 AND t.value = ?4)) "
                                 "AND (?5 = '' OR EXISTS (SELECT 1 FROM model_versions v "
                                 "     WHERE v.model_id = m.id AND v.framework = ?5)) "
                                 "ORDER BY m.name LIMIT ?6")));
    st.BindText(1, query.name_prefix);
    if (after.empty()) {
      st.BindNull(2);
    } else {
      st.BindText(2, after);
    }
    if (query.tag.has_value()) {
      st.BindText(3, query.tag->first).BindText(4, query.tag->second);
    } else {
      st.BindNull(3).BindNull(4);
    }
    st.BindText(5, query.framework).BindInt64(6, int64_t{query.limit} + 1);
    while (true) {
      HS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      rows.push_back(ReadModelRow(st));
    }
  }

  ModelPage page;
  if (rows.size() > static_cast<size_t>(query.limit)) {
    rows.pop_back();
    page.next_page_token = EncodePageToken("model", rows.back().name);
  }
  page.models.reserve(rows.size());
  for (ModelRow& row : rows) {
    HS_ASSIGN_OR_RETURN(domain::Model m, ToModel(std::move(row)));
    page.models.push_back(std::move(m));
  }
  return page;
}

absl::StatusOr<domain::Model> SqliteRegistry::GetModel(const std::string& name) {
  ModelRow row;
  {
    Transaction txn(*db_, Transaction::Mode::kRead);
    HS_RETURN_IF_ERROR(txn.status());
    HS_ASSIGN_OR_RETURN(row, FetchModelRow(txn, name));
  }
  return ToModel(std::move(row));
}

absl::StatusOr<domain::Model> SqliteRegistry::UpdateModel(const std::string& name,
                                                          const ModelUpdate& update) {
  // Validate the model as it would be after the update. Only the fields named by the update are
  // written, so a concurrent update of the other field is not lost.
  HS_ASSIGN_OR_RETURN(domain::Model updated, GetModel(name));
  if (update.description.has_value()) updated.description = *update.description;
  if (update.tags.has_value()) updated.tags = *update.tags;
  HS_RETURN_IF_ERROR(domain::FieldErrorsToStatus("invalid model", domain::Validate(updated)));
  std::optional<std::string> tags_json;
  if (update.tags.has_value()) {
    HS_ASSIGN_OR_RETURN(tags_json, DumpJson(Json(*update.tags), "tags"));
  }
  const int64_t now = clock_->NowMillis();

  ModelRow row;
  {
    Transaction txn(*db_, Transaction::Mode::kWrite);
    HS_RETURN_IF_ERROR(txn.status());
    HS_ASSIGN_OR_RETURN(int64_t model_id, FindModelId(txn, name));
    HS_ASSIGN_OR_RETURN(Statement st,
                        txn.Prepare("UPDATE models SET description = COALESCE(?2, description), "
                                    "tags_json = COALESCE(?3, tags_json), "
                                    "updated_at = MAX(updated_at, ?4) WHERE id = ?1"));
    st.BindInt64(1, model_id)
        .BindOptionalText(2, update.description)
        .BindOptionalText(3, tags_json)
        .BindInt64(4, now);
    HS_RETURN_IF_ERROR(st.Run());
    if (update.tags.has_value()) HS_RETURN_IF_ERROR(ReplaceModelTags(txn, model_id, *update.tags));
    HS_ASSIGN_OR_RETURN(row, FetchModelRow(txn, name));
    HS_RETURN_IF_ERROR(txn.Commit());
  }
  return ToModel(std::move(row));
}

absl::StatusOr<std::vector<std::string>> SqliteRegistry::DeleteModel(const std::string& name,
                                                                     bool force) {
  std::vector<std::string> orphaned;
  Transaction txn(*db_, Transaction::Mode::kWrite);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(int64_t model_id, FindModelId(txn, name));
  if (!force) {
    HS_ASSIGN_OR_RETURN(Statement st,
                        txn.Prepare("SELECT version FROM model_versions WHERE model_id = ?1 "
                                    "AND status = ?2 ORDER BY version"));
    st.BindInt64(1, model_id)
        .BindText(2, domain::VersionStatusName(domain::VersionStatus::kDeployed));
    std::vector<int64_t> deployed;
    while (true) {
      HS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      deployed.push_back(st.ColumnInt64(0));
    }
    if (!deployed.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("model ", name, " has deployed version(s) ", absl::StrJoin(deployed, ", "),
                       "; undeploy them first or delete with force"));
    }
  }
  {
    // Digests of this model's versions that no other model's version references.
    HS_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("SELECT DISTINCT v.sha256 FROM model_versions v WHERE v.model_id = ?1 "
                    "AND NOT EXISTS (SELECT 1 FROM model_versions o "
                    "                WHERE o.sha256 = v.sha256 AND o.model_id <> ?1) "
                    "ORDER BY v.sha256"));
    st.BindInt64(1, model_id);
    while (true) {
      HS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      orphaned.push_back(st.ColumnText(0));
    }
  }
  // Versions, aliases and tags go with the model (ON DELETE CASCADE).
  HS_ASSIGN_OR_RETURN(Statement del, txn.Prepare("DELETE FROM models WHERE id = ?1"));
  del.BindInt64(1, model_id);
  HS_RETURN_IF_ERROR(del.Run());
  HS_RETURN_IF_ERROR(txn.Commit());
  return orphaned;
}

// ---- Versions ----------------------------------------------------------------------------------

absl::StatusOr<domain::ModelVersion> SqliteRegistry::CreateVersion(const NewVersion& nv) {
  domain::ModelVersion v{.model_name = nv.model_name,
                         .version = nv.version,
                         .framework = nv.framework,
                         .sha256 = nv.sha256,
                         .size_bytes = nv.size_bytes,
                         .status = domain::VersionStatus::kRegistered,
                         .schema = nv.schema,
                         .training = nv.training,
                         .baseline = nv.baseline,
                         .preprocessing = nv.preprocessing,
                         .tags = nv.tags,
                         .parent_version = nv.parent_version,
                         .aliases = {},
                         .created_by = nv.created_by,
                         .created_at_ms = clock_->NowMillis()};
  // Validate before taking the lock. An automatic number is max+1, and an existing parent is
  // <= max, so validating with parent+1 in its place checks "parent < version" exactly.
  if (nv.version == 0) {
    v.version =
        nv.parent_version.has_value() && *nv.parent_version >= 1 ? *nv.parent_version + 1 : 1;
  }
  HS_RETURN_IF_ERROR(domain::FieldErrorsToStatus("invalid version", domain::Validate(v)));
  HS_ASSIGN_OR_RETURN(std::optional<std::string> schema_json, DumpOptional(v.schema, "schema"));
  HS_ASSIGN_OR_RETURN(std::optional<std::string> training_json,
                      DumpOptional(v.training, "training"));
  HS_ASSIGN_OR_RETURN(std::optional<std::string> baseline_json,
                      DumpOptional(v.baseline, "baseline"));
  std::optional<std::string> preprocessing_json;
  if (!v.preprocessing.is_null()) {
    HS_ASSIGN_OR_RETURN(preprocessing_json, DumpJson(v.preprocessing, "preprocessing"));
  }
  HS_ASSIGN_OR_RETURN(std::string tags_json, DumpJson(Json(v.tags), "tags"));

  {
    Transaction txn(*db_, Transaction::Mode::kWrite);
    HS_RETURN_IF_ERROR(txn.status());
    HS_ASSIGN_OR_RETURN(int64_t model_id, FindModelId(txn, nv.model_name));
    if (nv.version == 0) {
      HS_ASSIGN_OR_RETURN(Statement next,
                          txn.Prepare("SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions "
                                      "WHERE model_id = ?1"));
      next.BindInt64(1, model_id);
      HS_RETURN_IF_ERROR(next.Step().status());
      v.version = next.ColumnInt64(0);
    } else {
      HS_ASSIGN_OR_RETURN(bool taken, VersionExists(txn, model_id, nv.version));
      if (taken) {
        return absl::AlreadyExistsError(
            absl::StrCat("version ", nv.version, " of model ", nv.model_name, " already exists"));
      }
    }
    if (nv.parent_version.has_value()) {
      HS_ASSIGN_OR_RETURN(bool parent_exists, VersionExists(txn, model_id, *nv.parent_version));
      if (!parent_exists) {
        return absl::InvalidArgumentError(absl::StrCat("parent_version: version ",
                                                       *nv.parent_version, " of model ",
                                                       nv.model_name, " does not exist"));
      }
    }
    HS_ASSIGN_OR_RETURN(
        Statement insert,
        txn.Prepare("INSERT INTO model_versions (model_id, version, framework, sha256, "
                    "size_bytes, status, schema_json, training_json, baseline_json, "
                    "preprocessing_json, tags_json, parent_version, created_by, created_at) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"));
    insert.BindInt64(1, model_id)
        .BindInt64(2, v.version)
        .BindText(3, v.framework)
        .BindText(4, v.sha256)
        .BindInt64(5, v.size_bytes)
        .BindText(6, domain::VersionStatusName(v.status))
        .BindOptionalText(7, schema_json)
        .BindOptionalText(8, training_json)
        .BindOptionalText(9, baseline_json)
        .BindOptionalText(10, preprocessing_json)
        .BindText(11, tags_json)
        .BindOptionalInt64(12, v.parent_version)
        .BindText(13, v.created_by)
        .BindInt64(14, v.created_at_ms);
    HS_RETURN_IF_ERROR(insert.Run());
    HS_RETURN_IF_ERROR(txn.Commit());
  }
  return v;
}

absl::StatusOr<VersionPage> SqliteRegistry::ListVersions(const std::string& model,
                                                         const ListVersionsQuery& query) {
  HS_RETURN_IF_ERROR(CheckLimit(query.limit));
  HS_ASSIGN_OR_RETURN(std::string after_text, DecodePageToken("version", query.page_token));
  int64_t after = 0;
  if (!after_text.empty() && (!absl::SimpleAtoi(after_text, &after) || after < 1)) {
    return absl::InvalidArgumentError("page_token: malformed");
  }

  std::vector<VersionRow> rows;
  {
    Transaction txn(*db_, Transaction::Mode::kRead);
    HS_RETURN_IF_ERROR(txn.status());
    HS_ASSIGN_OR_RETURN(int64_t model_id, FindModelId(txn, model));
    HS_ASSIGN_OR_RETURN(rows, FetchVersionRows(txn, model_id, after, int64_t{query.limit} + 1));
  }

  VersionPage page;
  if (rows.size() > static_cast<size_t>(query.limit)) {
    rows.pop_back();
    page.next_page_token = EncodePageToken("version", absl::StrCat(rows.back().version));
  }
  HS_ASSIGN_OR_RETURN(page.versions, ToVersions(std::move(rows)));
  return page;
}

absl::StatusOr<domain::ModelVersion> SqliteRegistry::GetVersion(const std::string& model,
                                                                int64_t version) {
  VersionRow row;
  {
    Transaction txn(*db_, Transaction::Mode::kRead);
    HS_RETURN_IF_ERROR(txn.status());
    HS_ASSIGN_OR_RETURN(int64_t model_id, FindModelId(txn, model));
    HS_ASSIGN_OR_RETURN(row, FetchVersionRow(txn, model, model_id, version));
  }
  return ToVersion(std::move(row));
}

absl::StatusOr<domain::ModelVersion> SqliteRegistry::GetVersionByAlias(const std::string& model,
                                                                       const std::string& alias) {
  VersionRow row;
  {
    Transaction txn(*db_, Transaction::Mode::kRead);
    HS_RETURN_IF_ERROR(txn.status());
    HS_ASSIGN_OR_RETURN(int64_t model_id, FindModelId(txn, model));
    HS_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("SELECT version FROM aliases WHERE model_id = ?1 AND alias = ?2"));
    st.BindInt64(1, model_id).BindText(2, alias);
    HS_ASSIGN_OR_RETURN(bool found, st.Step());
    if (!found) {
      return absl::NotFoundError(absl::StrCat("alias ", alias, " of model ", model, " not found"));
    }
    HS_ASSIGN_OR_RETURN(row, FetchVersionRow(txn, model, model_id, st.ColumnInt64(0)));
  }
  return ToVersion(std::move(row));
}

absl::StatusOr<domain::ModelVersion> SqliteRegistry::SetVersionStatus(
    const std::string& model, int64_t version, domain::VersionStatus status) {
  if (!domain::ParseVersionStatus(domain::VersionStatusName(status)).has_value()) {
    return absl::InvalidArgumentError("status: unknown version status");
  }
  VersionRow row;
  {
    Transaction txn(*db_, Transaction::Mode::kWrite);
    HS_RETURN_IF_ERROR(txn.status());
    HS_ASSIGN_OR_RETURN(int64_t model_id, FindModelId(txn, model));
    HS_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("UPDATE model_versions SET status = ?3 WHERE model_id = ?1 AND version = ?2"));
    st.BindInt64(1, model_id).BindInt64(2, version).BindText(3, domain::VersionStatusName(status));
    HS_RETURN_IF_ERROR(st.Run());
    if (txn.Changes() == 0) return VersionNotFound(model, version);
    HS_ASSIGN_OR_RETURN(row, FetchVersionRow(txn, model, model_id, version));
    HS_RETURN_IF_ERROR(txn.Commit());
  }
  return ToVersion(std::move(row));
}

absl::StatusOr<domain::ModelVersion> SqliteRegistry::SetVersionTags(
    const std::string& model, int64_t version, const std::map<std::string, std::string>& tags) {
  // Validate the version as it would be with the new tags (its other fields are immutable).
  HS_ASSIGN_OR_RETURN(domain::ModelVersion updated, GetVersion(model, version));
  updated.tags = tags;
  HS_RETURN_IF_ERROR(domain::FieldErrorsToStatus("invalid version", domain::Validate(updated)));
  HS_ASSIGN_OR_RETURN(std::string tags_json, DumpJson(Json(tags), "tags"));

  VersionRow row;
  {
    Transaction txn(*db_, Transaction::Mode::kWrite);
    HS_RETURN_IF_ERROR(txn.status());
    HS_ASSIGN_OR_RETURN(int64_t model_id, FindModelId(txn, model));
    HS_ASSIGN_OR_RETURN(Statement st, txn.Prepare("UPDATE model_versions SET tags_json = ?3 "
                                                  "WHERE model_id = ?1 AND version = ?2"));
    st.BindInt64(1, model_id).BindInt64(2, version).BindText(3, tags_json);
    HS_RETURN_IF_ERROR(st.Run());
    if (txn.Changes() == 0) return VersionNotFound(model, version);
    HS_ASSIGN_OR_RETURN(row, FetchVersionRow(txn, model, model_id, version));
    HS_RETURN_IF_ERROR(txn.Commit());
  }
  return ToVersion(std::move(row));
}

absl::StatusOr<bool> SqliteRegistry::IsArtifactReferenced(const std::string& sha256) {
  Transaction txn(*db_, Transaction::Mode::kRead);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(
      Statement st, txn.Prepare("SELECT EXISTS (SELECT 1 FROM model_versions WHERE sha256 = ?1)"));
  st.BindText(1, sha256);
  HS_RETURN_IF_ERROR(st.Step().status());
  return st.ColumnInt64(0) != 0;
}

// ---- Aliases -----------------------------------------------------------------------------------

absl::Status SqliteRegistry::SetAlias(const std::string& model, const std::string& alias,
                                      int64_t version) {
  HS_RETURN_IF_ERROR(ValidateName(alias, "alias"));
  if (version < 1) {
    return absl::InvalidArgumentError(absl::StrCat("version: must be >= 1, got ", version));
  }
  Transaction txn(*db_, Transaction::Mode::kWrite);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(int64_t model_id, FindModelId(txn, model));
  HS_ASSIGN_OR_RETURN(bool exists, VersionExists(txn, model_id, version));
  if (!exists) return VersionNotFound(model, version);
  HS_ASSIGN_OR_RETURN(Statement st,
                      txn.Prepare("INSERT INTO aliases (model_id, alias, version) "
                                  "VALUES (?1, ?2, ?3) "
                                  "ON CONFLICT (model_id, alias) DO UPDATE SET version = "
                                  "excluded.version"));
  st.BindInt64(1, model_id).BindText(2, alias).BindInt64(3, version);
  HS_RETURN_IF_ERROR(st.Run());
  return txn.Commit();
}

absl::Status SqliteRegistry::DeleteAlias(const std::string& model, const std::string& alias) {
  Transaction txn(*db_, Transaction::Mode::kWrite);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(int64_t model_id, FindModelId(txn, model));
  HS_ASSIGN_OR_RETURN(Statement st,
                      txn.Prepare("DELETE FROM aliases WHERE model_id = ?1 AND alias = ?2"));
  st.BindInt64(1, model_id).BindText(2, alias);
  HS_RETURN_IF_ERROR(st.Run());
  if (txn.Changes() == 0) {
    return absl::NotFoundError(absl::StrCat("alias ", alias, " of model ", model, " not found"));
  }
  return txn.Commit();
}

absl::StatusOr<std::map<std::string, int64_t>> SqliteRegistry::ListAliases(
    const std::string& model) {
  std::map<std::string, int64_t> aliases;
  Transaction txn(*db_, Transaction::Mode::kRead);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(int64_t model_id, FindModelId(txn, model));
  HS_ASSIGN_OR_RETURN(Statement st,
                      txn.Prepare("SELECT alias, version FROM aliases WHERE model_id = ?1"));
  st.BindInt64(1, model_id);
  while (true) {
    HS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    aliases.emplace(st.ColumnText(0), st.ColumnInt64(1));
  }
  return aliases;
}

}  // namespace hotswap::registry
