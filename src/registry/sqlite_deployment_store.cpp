#include "registry/sqlite_deployment_store.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "registry/registry_rows.h"

namespace hotswap::registry {
namespace {

absl::StatusOr<std::vector<domain::Deployment>> Query(SqliteDatabase& db, const std::string& sql,
                                                      const std::vector<std::string>& texts,
                                                      std::optional<int64_t> limit) {
  std::vector<domain::Deployment> out;
  Transaction txn(db, Transaction::Mode::kRead);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(Statement st, txn.Prepare(sql));
  int i = 1;
  for (const auto& t : texts) st.BindText(i++, t);
  if (limit) st.BindInt64(i, *limit);
  while (true) {
    HS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(rows::ReadDeploymentRow(st));
  }
  return out;
}

}  // namespace

absl::Status SqliteDeploymentStore::Insert(const domain::Deployment& d) {
  Transaction txn(*db_, Transaction::Mode::kWrite);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(Statement st,
                      txn.Prepare(absl::StrCat("INSERT INTO deployments (", rows::kDeploymentColumns,
                                               ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")));
  st.BindText(1, d.id)
      .BindText(2, d.endpoint)
      .BindText(3, d.model_name)
      .BindInt64(4, d.version)
      .BindText(5, d.strategy)
      .BindText(6, d.state)
      .BindText(7, d.message)
      .BindOptionalInt64(8, d.previous_version)
      .BindInt64(9, d.created_at_ms)
      .BindInt64(10, d.updated_at_ms)
      .BindText(11, d.rollout.dump());
  HS_RETURN_IF_ERROR(st.Run());
  return txn.Commit();
}

absl::Status SqliteDeploymentStore::Update(const domain::Deployment& d) {
  Transaction txn(*db_, Transaction::Mode::kWrite);
  HS_RETURN_IF_ERROR(txn.status());
  HS_ASSIGN_OR_RETURN(Statement st,
                      txn.Prepare("UPDATE deployments SET state = ?2, message = ?3, "
                                  "previous_version = ?4, updated_at = ?5, rollout = ?6 WHERE id = ?1"));
  st.BindText(1, d.id).BindText(2, d.state).BindText(3, d.message);
  st.BindOptionalInt64(4, d.previous_version).BindInt64(5, d.updated_at_ms);
  st.BindText(6, d.rollout.dump());
  HS_RETURN_IF_ERROR(st.Run());
  if (txn.Changes() == 0) return absl::NotFoundError(absl::StrCat("deployment ", d.id, " not found"));
  return txn.Commit();
}

absl::StatusOr<domain::Deployment> SqliteDeploymentStore::Get(const std::string& id) {
  HS_ASSIGN_OR_RETURN(auto rows, Query(*db_,
                                       absl::StrCat("SELECT ", rows::kDeploymentColumns,
                                                    " FROM deployments WHERE id = ?1"),
                                       {id}, std::nullopt));
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("deployment '", id, "' not found"));
  return rows.front();
}

absl::StatusOr<std::vector<domain::Deployment>> SqliteDeploymentStore::List(
    const std::string& endpoint, int limit) {
  if (endpoint.empty()) {
    return Query(*db_,
                 absl::StrCat("SELECT ", rows::kDeploymentColumns,
                              " FROM deployments ORDER BY seq DESC LIMIT ?1"),
                 {}, limit);
  }
  return Query(*db_,
               absl::StrCat("SELECT ", rows::kDeploymentColumns,
                            " FROM deployments WHERE endpoint = ?1 ORDER BY seq DESC LIMIT ?2"),
               {endpoint}, limit);
}

absl::StatusOr<std::vector<domain::Deployment>> SqliteDeploymentStore::ActiveByEndpoint() {
  // The newest row per endpoint among succeeded/undeployed rows decides: succeeded = serve it.
  return Query(*db_,
               absl::StrCat("SELECT ", rows::kDeploymentColumns,
                            " FROM deployments d WHERE d.state = 'succeeded' AND d.seq = ("
                            "SELECT MAX(seq) FROM deployments e WHERE e.endpoint = d.endpoint "
                            "AND e.state IN ('succeeded', 'undeployed')) ORDER BY d.endpoint"),
               {}, std::nullopt);
}

}  // namespace hotswap::registry
