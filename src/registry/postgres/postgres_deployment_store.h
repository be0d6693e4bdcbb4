// PostgresDeploymentStore: DeploymentStore on the registry's PostgreSQL database (table
// `deployments`, migration 3). Behaves as SqliteDeploymentStore (same codes and messages).
// Thread-safe: each call is one PgDatabase::Run transaction.
#pragma once

#include <memory>

#include "registry/deployment_store.h"
#include "registry/postgres/pg_database.h"

namespace hotswap::registry {

class PostgresDeploymentStore final : public DeploymentStore {
 public:
  explicit PostgresDeploymentStore(std::shared_ptr<PgDatabase> db) : db_(std::move(db)) {}

  absl::Status Insert(const domain::Deployment& d) override;
  absl::Status Update(const domain::Deployment& d) override;
  absl::StatusOr<domain::Deployment> Get(const std::string& id) override;
  absl::StatusOr<std::vector<domain::Deployment>> List(const std::string& endpoint,
                                                       int limit) override;
  absl::StatusOr<std::vector<domain::Deployment>> ActiveByEndpoint() override;

 private:
  // Rows of `sql`, whose parameters are `texts` and then `limit` when given.
  absl::StatusOr<std::vector<domain::Deployment>> Query(const std::string& sql,
                                                        const std::vector<std::string>& texts,
                                                        std::optional<int64_t> limit);

  const std::shared_ptr<PgDatabase> db_;
};

}  // namespace hotswap::registry
