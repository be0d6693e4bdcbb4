// SqliteDeploymentStore: DeploymentStore on the shared registry database (table `deployments`,
// migration 3). Thread-safe.
#pragma once

#include <memory>

#include "registry/deployment_store.h"
#include "registry/sqlite_database.h"

namespace hotswap::registry {

class SqliteDeploymentStore final : public DeploymentStore {
 public:
  explicit SqliteDeploymentStore(std::shared_ptr<SqliteDatabase> db) : db_(std::move(db)) {}

  absl::Status Insert(const domain::Deployment& d) override;
  absl::Status Update(const domain::Deployment& d) override;
  absl::StatusOr<domain::Deployment> Get(const std::string& id) override;
  absl::StatusOr<std::vector<domain::Deployment>> List(const std::string& endpoint,
                                                       int limit) override;
  absl::StatusOr<std::vector<domain::Deployment>> ActiveByEndpoint() override;

 private:
  std::shared_ptr<SqliteDatabase> db_;
};

}  // namespace hotswap::registry
