// ApprovalService: deploys held for approval (docs/governance.md). An endpoint with an
// ApprovalPolicy does not deploy on request: Open() records a deployment in state
// `pending_approval` and an ApprovalRequest; the deploy starts (through the DeployStarter the
// wiring code sets) only once the policy is met.
//
// Rules (Decide):
//   - the decider's role must be the policy's approver_role, or admin (else PermissionDenied);
//   - with allow_self_approval false (the default), the requester cannot approve their own
//     request (separation of duties; PermissionDenied);
//   - a person (token name) counts once: a second approval by the same token is AlreadyExists;
//   - required_approvals distinct approvals make the request `approved`, and the deploy starts;
//   - one rejection (with a comment) ends it: `rejected`, the deployment record `rejected`;
//   - a request still pending at expires_at becomes `expired` (its deployment record too) and
//     nothing is deployed; decisions on an ended request are FailedPrecondition.
// Request states: pending → approved → deployed | failed; pending → rejected | expired.
//
// Durability: everything is in the GovernanceStore; updates are compare-and-set, so of two
// deciders racing on the last approval exactly one makes the request `approved` and starts its
// deploy. After a restart Resume() starts the deploy of a request left `approved` (its owner
// died before starting it) once: only when its deployment record is still `pending_approval`.
// Expiry is applied when a request is read and by Sweep(), which the service's own thread runs
// every `sweep_ms` (on the injected clock's time).
//
// Events (requested, approved, rejected, expired, deployed, failed, and each decision) go to the
// EventListener (the server's audit log for system events) and, when `webhook_url` is set, are
// POSTed as JSON from a sender thread: bounded queue, `webhook_attempts` tries each, counted on
// /metrics (hotswap_approval_webhook_total{result}).
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "domain/model.h"
#include "nlohmann/json.hpp"
#include "registry/deployment_store.h"
#include "registry/governance_store.h"

namespace hotswap::governance {

// Checks a policy as a client sent it (name rules, ranges, known roles); every problem named.
absl::Status ValidatePolicy(const registry::ApprovalPolicy& p);
// True when `role` may act as `required` under a policy: the same role, or admin.
bool RoleSatisfies(const std::string& role, const std::string& required);

class ApprovalService {
 public:
  struct Options {
    std::string webhook_url;  // "" = no webhook
    int webhook_attempts = 3;
    size_t webhook_queue = 256;  // events beyond this are dropped (and counted)
    int64_t webhook_timeout_ms = 5000;
    int64_t sweep_ms = 1000;    // expiry sweep period (real time)
    bool start_threads = true;  // false: tests call Sweep() and no webhook thread runs
  };
  // Starts the held deploy of an approved request; returns the deployment it started.
  using DeployStarter =
      std::function<absl::StatusOr<domain::Deployment>(const registry::ApprovalRequest&)>;
  // event: "approval.requested" | "approval.approve" | "approval.reject" | "approval.approved" |
  // "approval.rejected" | "approval.expired" | "approval.deployed" | "approval.failed".
  // `system` is true for events no client caused directly (expiry, a deploy started on resume).
  using EventListener = std::function<void(const std::string& event,
                                           const registry::ApprovalRequest& r, bool system)>;

  ApprovalService(Options options, registry::GovernanceStore* store,
                  registry::DeploymentStore* deployments, Clock* clock = SystemClock::Get());
  ~ApprovalService();

  // Set both before the first Open()/Resume() (the wiring code does); not synchronised.
  void SetDeployStarter(DeployStarter s) { starter_ = std::move(s); }
  void SetEventListener(EventListener l) { listener_ = std::move(l); }

  // The policy of `endpoint`, or NotFound.
  absl::StatusOr<registry::ApprovalPolicy> PolicyFor(const std::string& endpoint);

  // Holds a deploy: records the deployment (state `pending_approval`) and the request.
  struct Held {
    domain::Deployment deployment;
    registry::ApprovalRequest request;
  };
  absl::StatusOr<Held> Open(const registry::ApprovalPolicy& policy, const std::string& endpoint,
                            const domain::ModelVersion& version, const std::string& strategy,
                            std::optional<int64_t> previous_version,
                            const nlohmann::json& deploy_request, const std::string& requested_by,
                            const std::string& requester_role, const nlohmann::json& override,
                            const nlohmann::json& validation);

  // approve | reject. See the rules above. InvalidArgument for another decision or a reject
  // without a comment.
  absl::StatusOr<registry::ApprovalRequest> Decide(const std::string& id, const std::string& actor,
                                                   const std::string& role,
                                                   const std::string& decision,
                                                   const std::string& comment);
  absl::StatusOr<registry::ApprovalRequest> Get(const std::string& id);
  absl::StatusOr<std::vector<registry::ApprovalRequest>> List(const registry::ApprovalFilter& f);

  // Expires pending requests past their expiry.
  void Sweep();
  // Start-up: starts the deploys of requests left `approved`, then sweeps.
  void Resume();

  std::string RenderMetrics() const;
  uint64_t webhook_sent() const { return webhook_sent_.load(); }

 private:
  // Re-reads and expires `r` if it is pending and past its expiry (returns the stored result).
  absl::StatusOr<registry::ApprovalRequest> ExpireIfDue(registry::ApprovalRequest r);
  // Sets the held deployment record's state and message.
  void MarkDeployment(const registry::ApprovalRequest& r, const std::string& state,
                      const std::string& message);
  // Starts the deploy of an `approved` request this caller owns; records deployed/failed.
  registry::ApprovalRequest StartDeploy(registry::ApprovalRequest r, bool system);
  void Emit(const std::string& event, const registry::ApprovalRequest& r, bool system);
  void SenderLoop();
  void SweepLoop();

  const Options options_;
  registry::GovernanceStore* store_;
  registry::DeploymentStore* deployments_;
  Clock* clock_;
  DeployStarter starter_;
  EventListener listener_;

  absl::Mutex mu_;
  std::deque<std::string> outbox_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> webhook_sent_{0}, webhook_failed_{0}, webhook_dropped_{0};
  std::thread sender_;
  std::thread sweeper_;
};

}  // namespace hotswap::governance
