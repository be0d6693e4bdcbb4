// DeploymentStore: the durable record of deployments (which version was deployed to which
// endpoint, with what strategy, and how it ended). The serving layer restores each endpoint's
// last successful deployment after a restart from here. SQLite is the embedded implementation
// (sqlite_deployment_store.h).
//
// Thread-safe. Errors: NotFound (unknown id), AlreadyExists (id taken), Unavailable (database).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "domain/model.h"

namespace hotswap::registry {

class DeploymentStore {
 public:
  virtual ~DeploymentStore() = default;
  virtual absl::Status Insert(const domain::Deployment& d) = 0;
  // Replaces state, message, previous_version and updated_at of the deployment with d.id.
  virtual absl::Status Update(const domain::Deployment& d) = 0;
  virtual absl::StatusOr<domain::Deployment> Get(const std::string& id) = 0;
  // Newest first; `endpoint` "" = all endpoints; at most `limit` rows.
  virtual absl::StatusOr<std::vector<domain::Deployment>> List(const std::string& endpoint,
                                                               int limit) = 0;
  // Per endpoint, the newest deployment whose state is `succeeded` and that was not undeployed
  // since (state `undeployed` rows mark an unload). Ordered by endpoint.
  virtual absl::StatusOr<std::vector<domain::Deployment>> ActiveByEndpoint() = 0;
};

}  // namespace hotswap::registry
