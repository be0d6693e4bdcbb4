// GovernanceStore: the registry's record of approvals and validation (docs/governance.md) —
// approval policies per endpoint, approval requests with their decisions, and the validation
// gates' reports per model version. Tables `approval_policies`, `approval_requests` and
// `validation_reports` (migration 7, SQLite and PostgreSQL).
//
// Requests are updated with compare-and-set on `revision`: UpdateRequest writes only when the
// stored revision is the one the caller read (then stores revision + 1), so two replicas (or two
// threads) deciding on the same request cannot both win; the loser gets Aborted and re-reads.
// Validation reports go with their version (ON DELETE CASCADE when the model is deleted).
//
// Thread-safe. Errors: NotFound (policy, request, model or version missing), AlreadyExists
// (request id taken), Aborted (request changed since it was read), Unavailable (database).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace hotswap::registry {

// Who must approve deploys to one endpoint, and how. Defaults are the documented ones.
struct ApprovalPolicy {
  std::string endpoint;                    // name rules; the key
  std::string environment;                 // optional label (e.g. "production"); informational
  int required_approvals = 1;              // distinct approvers needed, 1..10
  std::string approver_role = "approver";  // role an approver's token must have (admin counts)
  bool allow_self_approval = false;        // may the requester approve their own deploy
  int64_t expiry_seconds = 86'400;         // a pending request expires after this, 60 s .. 30 days
  bool require_validation = true;          // run the validation gates before the request is made
  bool allow_override = false;             // may a failed validation be overridden
  std::string override_role = "admin";     // role needed to override (with a reason)
  std::string updated_by;
  int64_t updated_at_ms = 0;
  bool operator==(const ApprovalPolicy&) const = default;
};
nlohmann::json ToJson(const ApprovalPolicy& p);
// Parses what ToJson writes (stored form); InvalidArgument on a wrong type.
absl::StatusOr<ApprovalPolicy> ApprovalPolicyFromJson(const nlohmann::json& j);

struct ApprovalDecision {
  std::string actor;  // token name
  std::string role;
  std::string decision;  // "approve" | "reject"
  std::string comment;
  int64_t at_ms = 0;
  bool operator==(const ApprovalDecision&) const = default;
};

// One deploy held for approval.
//   pending  → approved (quorum reached) → deployed (its deploy started) | failed (it could not)
//   pending  → rejected (one rejection)  | expired (expiry passed) | cancelled (the deployment
//              record went away)
struct ApprovalRequest {
  std::string id;  // "apr-..."
  std::string endpoint;
  std::string model_name;
  int64_t version = 0;
  std::string deployment_id;  // the `pending_approval` deployment record this request holds
  std::string requested_by;
  std::string requester_role;
  std::string state = "pending";
  nlohmann::json deploy_request = nlohmann::json::object();  // the deploy body to run
  ApprovalPolicy policy;                                     // as it was when requested
  std::vector<ApprovalDecision> decisions;
  nlohmann::json override = nullptr;    // {"by","role","reason"} when validation was overridden
  nlohmann::json validation = nullptr;  // the validation report the deploy was checked with
  std::string message;
  int64_t created_at_ms = 0;
  int64_t expires_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t revision = 0;  // set by the store
  bool operator==(const ApprovalRequest&) const = default;
};
nlohmann::json ToJson(const ApprovalRequest& r);
absl::StatusOr<ApprovalRequest> ApprovalRequestFromJson(const nlohmann::json& j);

struct ApprovalFilter {
  std::string state;     // "" = any
  std::string endpoint;  // "" = any
  std::string model;     // "" = any
  int limit = 100;
};

// The validation gates' report for one version in one context: "registration" (run after the
// upload) or "endpoint:<name>" (run for a deploy to that endpoint, against what it served).
struct ValidationRecord {
  std::string model_name;
  int64_t version = 0;
  std::string context;
  std::string state;  // "running" | "passed" | "failed"
  nlohmann::json report = nlohmann::json::object();
  int64_t updated_at_ms = 0;
  bool operator==(const ValidationRecord&) const = default;
};

class GovernanceStore {
 public:
  virtual ~GovernanceStore() = default;

  // Creates or replaces the policy of p.endpoint; true when it was created.
  virtual absl::StatusOr<bool> PutPolicy(const ApprovalPolicy& p) = 0;
  virtual absl::StatusOr<ApprovalPolicy> GetPolicy(const std::string& endpoint) = 0;
  // Ordered by endpoint.
  virtual absl::StatusOr<std::vector<ApprovalPolicy>> ListPolicies() = 0;
  virtual absl::Status DeletePolicy(const std::string& endpoint) = 0;

  // Stores r with revision 1 (r.revision is ignored).
  virtual absl::Status InsertRequest(const ApprovalRequest& r) = 0;
  virtual absl::StatusOr<ApprovalRequest> GetRequest(const std::string& id) = 0;
  // Newest first.
  virtual absl::StatusOr<std::vector<ApprovalRequest>> ListRequests(const ApprovalFilter& f) = 0;
  // Writes r if the stored revision is r.revision; returns the stored request (revision + 1).
  virtual absl::StatusOr<ApprovalRequest> UpdateRequest(const ApprovalRequest& r) = 0;

  // Creates or replaces the record of (model, version, context). NotFound when the version does
  // not exist.
  virtual absl::Status PutValidation(const ValidationRecord& v) = 0;
  virtual absl::StatusOr<ValidationRecord> GetValidation(const std::string& model, int64_t version,
                                                         const std::string& context) = 0;
  // Ordered by context; empty when none (NotFound when the version does not exist).
  virtual absl::StatusOr<std::vector<ValidationRecord>> ListValidations(const std::string& model,
                                                                        int64_t version) = 0;
};

}  // namespace hotswap::registry
