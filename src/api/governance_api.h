// GovernanceApi: approval policies, approval requests and validation reports under /api/v1
// (docs/governance.md), and the deploy guard the deployment route calls before it deploys.
//
//   PUT    /api/v1/approval-policies/{endpoint}   admin; creates (201) or replaces (200)
//   GET    /api/v1/approval-policies              read
//   GET    /api/v1/approval-policies/{endpoint}   read
//   DELETE /api/v1/approval-policies/{endpoint}   admin; 204
//   GET    /api/v1/approvals?state=&endpoint=&model=&limit=   read; newest first
//   GET    /api/v1/approvals/{id}                 read
//   POST   /api/v1/approvals/{id}/approve|reject  {"comment": "..."}; any authenticated token —
//          the policy decides who may (its approver_role or admin; 403 otherwise)
//   GET    /api/v1/models/{name}/versions/{version}/validation[?endpoint=E]   read
//   POST   /api/v1/models/{name}/versions/{version}/validation  {"endpoint": "E"}   deploy;
//          runs the gates now and stores the report
//
// GuardDeploy (InferenceApi::Options::deploy_guard): for a deploy to an endpoint with a policy
// (or to any endpoint when `validate_all_deploys`), runs the validation gates (ForDeploy); a
// failed gate answers 422 with the report unless the body's `override` is allowed by the policy
// and given by its override_role with a reason (audited as `validation.override`); then, when
// the endpoint has a policy, holds the deploy for approval: 202 with the deployment (state
// `pending_approval`) plus `approval_id`, `approval` and `validation`.
//
// Thread-safe once registered.
#pragma once

#include <optional>
#include <string>

#include "api/http/router.h"
#include "common/clock.h"
#include "governance/approvals.h"
#include "governance/audit_log.h"
#include "governance/validation_gates.h"
#include "nlohmann/json.hpp"
#include "registry/governance_store.h"
#include "registry/model_registry.h"
#include "serving/deployment_service.h"

namespace hotswap::api {

class GovernanceApi {
 public:
  struct Options {
    governance::AuditLog* audit = nullptr;  // nullptr = no audit entries
    bool validate_all_deploys = false;      // gate deploys to endpoints without a policy too
    Clock* clock = SystemClock::Get();      // policy update times, report times
  };

  GovernanceApi(Options options, registry::ModelRegistry* registry,
                registry::GovernanceStore* store, governance::ApprovalService* approvals,
                governance::ValidationPipeline* validation, serving::DeploymentService* deployments,
                serving::ModelManager* manager);

  void RegisterRoutes(http::Router* router);

  // nullopt: go on and deploy `*dr` (its version pinned to the one validated); else the answer.
  // `override` is null or {"reason": "..."} (already checked for shape by the caller).
  std::optional<http::HttpResponse> GuardDeploy(http::HttpRequest& req, serving::DeployRequest* dr,
                                                const nlohmann::json& override);

  // FailedPrecondition when deploys to `endpoint` are gated (a policy, or validate_all_deploys):
  // for deploy paths that cannot be held for approval (Triton's repository load, rollout retry).
  absl::Status CheckUngated(const std::string& endpoint);

  // Starts the held deploy of an approved request (the ApprovalService's DeployStarter).
  absl::StatusOr<domain::Deployment> StartApproved(const registry::ApprovalRequest& r);

 private:
  http::HttpResponse PutPolicy(http::HttpRequest& req);
  http::HttpResponse ListPolicies(http::HttpRequest& req);
  http::HttpResponse GetPolicy(http::HttpRequest& req);
  http::HttpResponse DeletePolicy(http::HttpRequest& req);
  http::HttpResponse ListApprovals(http::HttpRequest& req);
  http::HttpResponse GetApproval(http::HttpRequest& req);
  http::HttpResponse Decide(http::HttpRequest& req);
  http::HttpResponse GetValidation(http::HttpRequest& req);
  http::HttpResponse RunValidation(http::HttpRequest& req);

  absl::StatusOr<domain::ModelVersion> ResolveVersion(const http::HttpRequest& req);

  Options options_;
  registry::ModelRegistry* registry_;
  registry::GovernanceStore* store_;
  governance::ApprovalService* approvals_;
  governance::ValidationPipeline* validation_;
  serving::DeploymentService* deployments_;
  serving::ModelManager* manager_;
};

// An approval request as the API shows it (timestamps as RFC 3339, the approvals counted).
nlohmann::json ApprovalJson(const registry::ApprovalRequest& r);

}  // namespace hotswap::api
