#include "serving/deployment_service.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/names.h"
#include "common/sha256.h"
#include "common/status.h"

namespace hotswap::serving {

DeploymentService::DeploymentService(registry::ModelRegistry* registry,
                                     registry::DeploymentStore* store, ModelManager* manager,
                                     Clock* clock)
    : registry_(registry), store_(store), manager_(manager), clock_(clock) {}

std::string DeploymentService::NewId() {
  return absl::StrCat("dep-", FormatTimestamp(clock_->NowMillis()).substr(0, 10), "-",
                      RandomToken(6));
}

absl::StatusOr<domain::Deployment> DeploymentService::Create(const DeployRequest& request) {
  HS_RETURN_IF_ERROR(ValidateName(request.model, "model"));
  std::string endpoint = request.endpoint.empty() ? request.model : request.endpoint;
  HS_RETURN_IF_ERROR(ValidateName(endpoint, "endpoint"));
  if (request.strategy != "direct") {
    if (request.strategy == "canary" || request.strategy == "blue-green" ||
        request.strategy == "ab-test" || request.strategy == "shadow" ||
        request.strategy == "rolling") {
      return absl::UnimplementedError(absl::StrCat(
          "strategy '", request.strategy, "' is not available yet; use 'direct'"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "strategy: '", request.strategy,
        "' is not one of direct, canary, blue-green, ab-test, shadow, rolling"));
  }
  HS_ASSIGN_OR_RETURN(domain::Model model, registry_->GetModel(request.model));
  domain::ModelVersion version;
  if (request.version > 0) {
    HS_ASSIGN_OR_RETURN(version, registry_->GetVersion(model.name, request.version));
  } else if (!request.alias.empty()) {
    HS_ASSIGN_OR_RETURN(version, registry_->GetVersionByAlias(model.name, request.alias));
  } else {
    // The latest version: walk to the last page.
    registry::ListVersionsQuery q;
    q.limit = 1000;
    std::optional<domain::ModelVersion> last;
    while (true) {
      HS_ASSIGN_OR_RETURN(registry::VersionPage page, registry_->ListVersions(model.name, q));
      if (!page.versions.empty()) last = page.versions.back();
      if (page.next_page_token.empty()) break;
      q.page_token = page.next_page_token;
    }
    if (!last) {
      return absl::FailedPreconditionError(
          absl::StrCat("model '", model.name, "' has no versions to deploy"));
    }
    version = *last;
  }
  {
    absl::MutexLock lock(&mu_);
    if (in_progress_.count(endpoint)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "endpoint '", endpoint, "' already has a deployment in progress; wait for it to finish"));
    }
    in_progress_.insert(endpoint);
  }
  domain::Deployment d;
  d.id = NewId();
  d.endpoint = endpoint;
  d.model_name = model.name;
  d.version = version.version;
  d.strategy = request.strategy;
  d.state = "pending";
  d.created_at_ms = d.updated_at_ms = clock_->NowMillis();
  if (auto ep = manager_->Find(endpoint)) d.previous_version = ep->primary->version;
  if (absl::Status s = store_->Insert(d); !s.ok()) {
    absl::MutexLock lock(&mu_);
    in_progress_.erase(endpoint);
    return s;
  }
  log::Info("deployment started", {{"deployment", d.id}, {"endpoint", endpoint},
                                   {"model", d.model_name},
                                   {"version", static_cast<long long>(d.version)},
                                   {"by", request.requested_by}});
  manager_->DeployAsync(endpoint, d.model_name, d.version,
                        [this, d](const absl::StatusOr<LoadReport>& r) { Finish(d, r); });
  return d;
}

void DeploymentService::Finish(domain::Deployment d, const absl::StatusOr<LoadReport>& result) {
  {
    // The endpoint is free again before the outcome is visible, so a client that sees the
    // outcome can deploy again at once.
    absl::MutexLock lock(&mu_);
    in_progress_.erase(d.endpoint);
  }
  d.updated_at_ms = clock_->NowMillis();
  if (result.ok()) {
    d.state = "succeeded";
    d.message = absl::StrCat("serving version ", d.version, " (loaded and warmed up in ",
                             static_cast<int64_t>(result->load_seconds * 1000), " ms)");
    (void)registry_->SetVersionStatus(d.model_name, d.version, domain::VersionStatus::kDeployed);
    if (result->previous_version && *result->previous_version != d.version) {
      (void)registry_->SetVersionStatus(d.model_name, *result->previous_version,
                                        domain::VersionStatus::kRegistered);
    }
  } else {
    d.state = "failed";
    d.message = std::string(result.status().message());
  }
  if (absl::Status s = store_->Update(d); !s.ok()) {
    log::Error("could not record the deployment's outcome",
               {{"deployment", d.id}, {"error", std::string(s.message())}});
  }
  log::Info("deployment finished", {{"deployment", d.id}, {"state", d.state},
                                    {"message", d.message}});
}

absl::StatusOr<domain::Deployment> DeploymentService::Get(const std::string& id) {
  return store_->Get(id);
}

absl::StatusOr<std::vector<domain::Deployment>> DeploymentService::List(const std::string& endpoint,
                                                                        int limit) {
  return store_->List(endpoint, limit);
}

absl::Status DeploymentService::Undeploy(const std::string& endpoint,
                                         const std::string& requested_by) {
  std::shared_ptr<const Endpoint> ep = manager_->Find(endpoint);
  HS_RETURN_IF_ERROR(manager_->Undeploy(endpoint));
  domain::Deployment d;
  d.id = NewId();
  d.endpoint = endpoint;
  d.model_name = ep ? ep->primary->model_name : endpoint;
  d.version = ep ? ep->primary->version : 1;
  d.strategy = "direct";
  d.state = "undeployed";
  d.message = absl::StrCat("unloaded by ", requested_by);
  d.created_at_ms = d.updated_at_ms = clock_->NowMillis();
  HS_RETURN_IF_ERROR(store_->Insert(d));
  if (ep) {
    (void)registry_->SetVersionStatus(d.model_name, d.version, domain::VersionStatus::kRegistered);
  }
  return absl::OkStatus();
}

int DeploymentService::RestoreAll() {
  auto active = store_->ActiveByEndpoint();
  if (!active.ok()) {
    log::Error("cannot read deployments to restore", {{"error", std::string(active.status().message())}});
    return 0;
  }
  int restored = 0;
  for (const domain::Deployment& d : *active) {
    auto r = manager_->Deploy(d.endpoint, d.model_name, d.version);
    if (r.ok()) {
      ++restored;
    } else {
      log::Error("could not restore an endpoint after restart",
                 {{"endpoint", d.endpoint}, {"model", d.model_name},
                  {"version", static_cast<long long>(d.version)},
                  {"error", std::string(r.status().message())}});
    }
  }
  return restored;
}

void DeploymentService::WaitIdle() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (in_progress_.empty()) return;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
}

}  // namespace hotswap::serving
