#include "registry/sqlite_dataset_store.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "registry/dataset_rows.h"
#include "registry/registry_rows.h"

namespace hotswap::registry {
namespace {

// The id of `model` when its `version` exists; NotFound (registry messages) otherwise.
absl::StatusOr<int64_t> VersionModelId(Transaction& txn, const std::string& model, int64_t version) {
  HS_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT id FROM models WHERE name = ?1"));
  st.BindText(1, model);
  HS_ASSIGN_OR_RETURN(bool found, st.Step());
  if (!found) return rows::ModelNotFound(model);
  const int64_t id = st.ColumnInt64(0);
  HS_ASSIGN_OR_RETURN(
      Statement v, txn.Prepare("SELECT 1 FROM model_versions WHERE model_id = ?1 AND version = ?2"));
  v.BindInt64(1, id).BindInt64(2, version);
  HS_ASSIGN_OR_RETURN(bool exists, v.Step());
  if (!exists) return rows::VersionNotFound(model, version);
  return id;
}

absl::StatusOr<std::vector<VersionDataset>> Select(Transaction& txn, int64_t model_id,
                                                   int64_t version, const std::string* kind) {
  HS_ASSIGN_OR_RETURN(
      Statement st,
      txn.Prepare(absl::StrCat("SELECT ", rows::kDatasetColumns,
                               " FROM version_datasets d JOIN models m ON m.id = d.model_id "
                               "WHERE d.model_id = ?1 AND d.version = ?2",
                               kind ? " AND d.kind = ?3" : "", " ORDER BY d.kind")));
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

absl::Status DatasetNotFound(const std::string& model, int64_t version, const std::string& kind) {
  return absl::NotFoundError(
      absl::StrCat("version ", version, " of model ", model, " has no ", kind, " dataset"));
}

}  // namespace

absl::StatusOr<std::optional<VersionDataset>> SqliteDatasetStore::Put(const VersionDataset& d) {
  HS_RETURN_IF_ERROR(CheckDatasetKind(d.kind));
  const std::string columns = rows::ColumnsJson(d);
  Transaction txn(*db_, Transaction::Mode::kWrite);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(int64_t model_id, VersionModelId(txn, d.model_name, d.version));
  HS_ASSIGN_OR_RETURN(auto previous, Select(txn, model_id, d.version, &d.kind));
  HS_ASSIGN_OR_RETURN(
      Statement st,
      txn.Prepare("INSERT INTO version_datasets (model_id, version, kind, sha256, size_bytes, "
                  "row_count, columns_json, created_by, created_at) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
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
  HS_RETURN_IF_ERROR(st.Run());
  HS_RETURN_IF_ERROR(txn.Commit());
  if (previous.empty()) return std::optional<VersionDataset>();
  return std::optional<VersionDataset>(std::move(previous.front()));
}

absl::StatusOr<VersionDataset> SqliteDatasetStore::Get(const std::string& model, int64_t version,
                                                       const std::string& kind) {
  HS_RETURN_IF_ERROR(CheckDatasetKind(kind));
  std::vector<VersionDataset> found;
  {
    Transaction txn(*db_, Transaction::Mode::kRead);
    HS_RETURN_IF_ERROR(txn.status());
    HS_ASSIGN_OR_RETURN(int64_t model_id, VersionModelId(txn, model, version));
    HS_ASSIGN_OR_RETURN(found, Select(txn, model_id, version, &kind));
  }
  if (found.empty()) return DatasetNotFound(model, version, kind);
  return std::move(found.front());
}

absl::StatusOr<std::vector<VersionDataset>> SqliteDatasetStore::List(const std::string& model,
                                                                     int64_t version) {
  Transaction txn(*db_, Transaction::Mode::kRead);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(int64_t model_id, VersionModelId(txn, model, version));
  return Select(txn, model_id, version, nullptr);
}

absl::StatusOr<bool> SqliteDatasetStore::IsReferenced(const std::string& sha256) {
  Transaction txn(*db_, Transaction::Mode::kRead);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(Statement st,
                      txn.Prepare("SELECT 1 FROM version_datasets WHERE sha256 = ?1 LIMIT 1"));
  st.BindText(1, sha256);
  return st.Step();
}

}  // namespace hotswap::registry
