#include "registry/postgres/postgres_dataset_store.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "registry/dataset_rows.h"
#include "registry/registry_rows.h"

namespace hotswap::registry {
namespace {

// The id of `model` when its `version` exists; NotFound (registry messages) otherwise. With
// `lock`, the model's row is locked until the transaction ends.
absl::StatusOr<int64_t> VersionModelId(PgTransaction& txn, const std::string& model,
                                       int64_t version, bool lock) {
  HS_ASSIGN_OR_RETURN(PgStatement st, txn.Prepare(absl::StrCat(
                                          "SELECT id FROM models WHERE name = $1",
                                          lock ? " FOR UPDATE" : "")));
  st.BindText(1, model);
  HS_ASSIGN_OR_RETURN(bool found, st.Step());
  if (!found) return rows::ModelNotFound(model);
  const int64_t id = st.ColumnInt64(0);
  HS_ASSIGN_OR_RETURN(PgStatement v, txn.Prepare("SELECT 1 FROM model_versions "
                                                 "WHERE model_id = $1 AND version = $2"));
  v.BindInt64(1, id).BindInt64(2, version);
  HS_ASSIGN_OR_RETURN(bool exists, v.Step());
  if (!exists) return rows::VersionNotFound(model, version);
  return id;
}

absl::StatusOr<std::vector<VersionDataset>> Select(PgTransaction& txn, int64_t model_id,
                                                   int64_t version, const std::string* kind) {
  HS_ASSIGN_OR_RETURN(
      PgStatement st,
      txn.Prepare(absl::StrCat("SELECT ", rows::kDatasetColumns,
                               " FROM version_datasets d JOIN models m ON m.id = d.model_id "
                               "WHERE d.model_id = $1 AND d.version = $2",
                               kind ? " AND d.kind = $3" : "", " ORDER BY d.kind")));
  st.BindInt64(1, model_id).BindInt64(2, version);
  if (kind) st.BindText(3, *kind);
  std::vector<VersionDataset> out;
  while (true) {
    HS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(rows::ReadDatasetRow(st));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::optional<VersionDataset>> PostgresDatasetStore::Put(const VersionDataset& d) {
  HS_RETURN_IF_ERROR(CheckDatasetKind(d.kind));
  const std::string columns = rows::ColumnsJson(d);
  std::optional<VersionDataset> previous;
  HS_RETURN_IF_ERROR(db_->Run(PgDatabase::Mode::kWrite, [&](PgTransaction& txn) -> absl::Status {
    previous.reset();
    HS_ASSIGN_OR_RETURN(int64_t model_id, VersionModelId(txn, d.model_name, d.version, true));
    HS_ASSIGN_OR_RETURN(auto found, Select(txn, model_id, d.version, &d.kind));
    if (!found.empty()) previous = std::move(found.front());
    HS_ASSIGN_OR_RETURN(
        PgStatement st,
        txn.Prepare("INSERT INTO version_datasets (model_id, version, kind, sha256, size_bytes, "
                    "row_count, columns_json, created_by, created_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                    "ON CONFLICT (model_id, version, kind) DO UPDATE SET sha256 = excluded.sha256, "
                    "size_bytes = excluded.size_bytes, row_count = excluded.row_count, "
                    "columns_json = excluded.columns_json, created_by = excluded.created_by, "
                    "created_at = excluded.created_at"));
    st.BindInt64(1, model_id)
        .BindInt64(2, d.version)
        .BindText(3, d.kind)
        .BindText(4, d.sha256)
        .BindInt64(5, d.size_bytes)
        .BindInt64(6, d.rows)
        .BindText(7, columns)
        .BindText(8, d.created_by)
        .BindInt64(9, d.created_at_ms);
    return st.Run();
  }));
  return previous;
}

absl::StatusOr<VersionDataset> PostgresDatasetStore::Get(const std::string& model, int64_t version,
                                                         const std::string& kind) {
  HS_RETURN_IF_ERROR(CheckDatasetKind(kind));
  std::vector<VersionDataset> found;
  HS_RETURN_IF_ERROR(db_->Run(PgDatabase::Mode::kRead, [&](PgTransaction& txn) -> absl::Status {
    HS_ASSIGN_OR_RETURN(int64_t model_id, VersionModelId(txn, model, version, false));
    HS_ASSIGN_OR_RETURN(found, Select(txn, model_id, version, &kind));
    return absl::OkStatus();
  }));
  if (found.empty()) {
    return absl::NotFoundError(
        absl::StrCat("version ", version, " of model ", model, " has no ", kind, " dataset"));
  }
  return std::move(found.front());
}

absl::StatusOr<std::vector<VersionDataset>> PostgresDatasetStore::List(const std::string& model,
                                                                       int64_t version) {
  std::vector<VersionDataset> out;
  HS_RETURN_IF_ERROR(db_->Run(PgDatabase::Mode::kRead, [&](PgTransaction& txn) -> absl::Status {
    HS_ASSIGN_OR_RETURN(int64_t model_id, VersionModelId(txn, model, version, false));
    HS_ASSIGN_OR_RETURN(out, Select(txn, model_id, version, nullptr));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<bool> PostgresDatasetStore::IsReferenced(const std::string& sha256) {
  bool referenced = false;
  HS_RETURN_IF_ERROR(db_->Run(PgDatabase::Mode::kRead, [&](PgTransaction& txn) -> absl::Status {
    HS_ASSIGN_OR_RETURN(PgStatement st,
                        txn.Prepare("SELECT 1 FROM version_datasets WHERE sha256 = $1 LIMIT 1"));
    st.BindText(1, sha256);
    HS_ASSIGN_OR_RETURN(referenced, st.Step());
    return absl::OkStatus();
  }));
  return referenced;
}

}  // namespace hotswap::registry
