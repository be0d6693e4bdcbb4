// DeploymentService: the control-plane side of deploying — validates a deploy request, records
// it in the DeploymentStore, hands the load to the ModelManager and records how it ended; keeps
// version statuses (`deployed`) in the registry in step; restores every endpoint's last
// successful deployment after a restart.
//
// Only the `direct` strategy exists so far (load, warm, switch 100%); the rollout issue adds the
// others on top of this service.
//
// Thread-safety: thread-safe. Deploys run asynchronously on the ModelManager's loader thread;
// Create() returns at once with the deployment in state `pending`, which becomes `succeeded` or
// `failed` (with a message). One deployment in progress per endpoint (AlreadyExists otherwise).
#pragma once

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "registry/deployment_store.h"
#include "registry/model_registry.h"
#include "serving/model_manager.h"

namespace hotswap::serving {

struct DeployRequest {
  std::string model;
  int64_t version = 0;       // 0 = resolve `alias`, else the latest version
  std::string alias;         // e.g. "production"; used when version == 0
  std::string endpoint;      // "" = the model name
  std::string strategy = "direct";
  std::string requested_by;  // token name
};

class DeploymentService {
 public:
  DeploymentService(registry::ModelRegistry* registry, registry::DeploymentStore* store,
                    ModelManager* manager, Clock* clock = SystemClock::Get());

  // Validates and starts a deployment; returns it in state `pending`.
  absl::StatusOr<domain::Deployment> Create(const DeployRequest& request);
  absl::StatusOr<domain::Deployment> Get(const std::string& id);
  absl::StatusOr<std::vector<domain::Deployment>> List(const std::string& endpoint, int limit);
  // Stops serving `endpoint` and records it, so a restart does not bring it back.
  absl::Status Undeploy(const std::string& endpoint, const std::string& requested_by);
  // Start-up: loads each endpoint's last successful deployment (blocking). Endpoints that fail to
  // load are logged and skipped; the number restored is returned.
  int RestoreAll();
  // Blocks until no deployment is in progress (tests, shutdown).
  void WaitIdle();

 private:
  void Finish(domain::Deployment d, const absl::StatusOr<LoadReport>& result);
  std::string NewId();

  registry::ModelRegistry* registry_;
  registry::DeploymentStore* store_;
  ModelManager* manager_;
  Clock* clock_;
  absl::Mutex mu_;
  std::set<std::string> in_progress_ ABSL_GUARDED_BY(mu_);  // endpoints with a running deploy
};

}  // namespace hotswap::serving
