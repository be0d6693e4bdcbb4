// DeploymentService: the control-plane side of deploying — validates a deploy request, records
// it in the DeploymentStore, hands the load to the ModelManager and records how it ended; keeps
// version statuses (`deployed`) in the registry in step; restores every endpoint's last
// successful deployment after a restart.
//
// Strategies: `direct` (load, warm, switch 100%) and the progressive ones of serving/rollout.h —
// `canary`, `rolling`, `blue-green` — run by the rollout orchestrator here: the candidate is loaded
// and warmed beside the stable version first (capacity before weight), then its weight follows
// the steps, every step gated by the analysis; a failed analysis (or `abort`) drops the candidate
// at once and all traffic returns to the stable version; the last step promotes it. Rollout state
// (step, weights, every decision with its measurements) is persisted in the DeploymentStore on
// every change, and RestoreAll() resumes unfinished rollouts after a restart (the current step
// starts its window again). One deployment or rollout in progress per endpoint.
// `shadow` copies a share of requests to the candidate (serving/shadow.h) and judges the
// comparison. `ab-test` is not available yet (Unimplemented).
//
// Thread-safety: thread-safe. Deploys run asynchronously on the ModelManager's loader thread;
// Create() returns at once with the deployment in state `pending`, which becomes `succeeded` or
// `failed` (with a message). One deployment in progress per endpoint (AlreadyExists otherwise).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <thread>
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
#include "serving/rollout.h"
#include "tracing/tracer.h"

namespace hotswap::serving {

// Called by a method that changes a deployment once the change is recorded and before any outcome
// it causes reaches the outcome listener (SetOutcomeListener), on the caller's thread with no lock
// of the service held. The server appends the request's audit entry here, so "who asked" always
// precedes "how it ended" in the audit log.
using DeploymentCallback = std::function<void(const domain::Deployment&)>;

struct DeployRequest {
  std::string model;
  int64_t version = 0;       // 0 = resolve `alias`, else the latest version
  std::string alias;         // e.g. "production"; used when version == 0
  std::string endpoint;      // "" = the model name
  std::string strategy = "direct";
  std::string requested_by;  // token name
  domain::Json options = domain::Json::object();  // strategy options (serving/rollout.h)
  DeploymentCallback on_applied;                  // optional, see DeploymentCallback
  // The creating request's W3C `traceparent` / `tracestate` ("" = none): a traced rollout's span
  // is its child (docs/tracing.md).
  std::string traceparent;
  std::string tracestate;
  // "" = a new deployment id. Else the id of a `pending_approval` record (governance/approvals.h)
  // that this deploy takes over: that record is updated (state `pending`, ...) instead of a new
  // one being inserted, so the id the client got with its 202 stays the deployment's id.
  std::string id;
};

// A deploy request checked and resolved (Prepare): what would be deployed where.
struct PreparedDeploy {
  std::string endpoint;
  domain::ModelVersion version;  // alias / latest resolved
  std::string strategy;
};

class DeploymentService {
 public:
  DeploymentService(registry::ModelRegistry* registry, registry::DeploymentStore* store,
                    ModelManager* manager, Clock* clock = SystemClock::Get());

  // Validates and starts a deployment; returns it in state `pending`.
  absl::StatusOr<domain::Deployment> Create(const DeployRequest& request);
  // Every check Create() makes before it changes anything (names, strategy and options, model
  // and version or alias exist), and the version it resolves; changes nothing. The governance
  // layer uses it to validate a deploy before it is gated or held for approval.
  absl::StatusOr<PreparedDeploy> Prepare(const DeployRequest& request);
  absl::StatusOr<domain::Deployment> Get(const std::string& id);
  absl::StatusOr<std::vector<domain::Deployment>> List(const std::string& endpoint, int limit);
  // Stops serving `endpoint` and records it, so a restart does not bring it back.
  absl::Status Undeploy(const std::string& endpoint, const std::string& requested_by);
  // Start-up: loads each endpoint's last successful deployment (blocking). Endpoints that fail to
  // load are logged and skipped; the number restored is returned.
  int RestoreAll();
  // Blocks until no deployment is in progress (tests, shutdown). Rollouts count as in progress
  // until they end; WaitLoadsIdle waits only for loads.
  void WaitIdle();
  void WaitLoadsIdle();

  // Rollout control. FailedPrecondition when the deployment is not a rollout in a state that
  // allows the action; NotFound for an unknown id.
  // promote: the next step now (skipping the rest of this one), or `full` = promote at once.
  // `on_applied` (optional) runs when the action succeeded, see DeploymentCallback.
  absl::StatusOr<domain::Deployment> Promote(const std::string& id, bool full,
                                             const std::string& by,
                                             const DeploymentCallback& on_applied = nullptr);
  absl::StatusOr<domain::Deployment> Pause(const std::string& id, const std::string& by,
                                           const DeploymentCallback& on_applied = nullptr);
  absl::StatusOr<domain::Deployment> Resume(const std::string& id, const std::string& by,
                                            const DeploymentCallback& on_applied = nullptr);
  // Rolls back (candidate dropped, state `aborted`).
  absl::StatusOr<domain::Deployment> Abort(const std::string& id, const std::string& by,
                                           const DeploymentCallback& on_applied = nullptr);
  // A new rollout with the same model, version, strategy and options as an ended one.
  absl::StatusOr<domain::Deployment> Retry(const std::string& id, const std::string& by,
                                           const DeploymentCallback& on_applied = nullptr);

  // Called once for every deployment that ends, with its final record: a direct deploy when its
  // load finishes (`succeeded`, `failed`), a rollout when it ends (`succeeded`, `rolled_back`,
  // `aborted`, `failed`, also one that cannot resume after a restart). The server appends an audit
  // entry from it. Runs on the loader or orchestrator thread (or the caller of a control action)
  // with no lock of this service held, never on the request path of inference; it may block
  // briefly and must not call back into the service. Set it before StartOrchestrator() and the
  // first Create(); not synchronised.
  using OutcomeListener = std::function<void(const domain::Deployment&)>;
  void SetOutcomeListener(OutcomeListener listener) { outcome_listener_ = std::move(listener); }
  // Quality signals for the analysis and A/B tests (monitoring); set before StartOrchestrator.
  // Without one, analysis judges errors and latency only and ab-test deployments are refused.
  void SetQualitySource(QualitySource source) { quality_ = std::move(source); }
  // Every rollout decision as it is recorded (step, advance, gate, rollback, promote, ...): the
  // deployment and the decision entry. Called with the orchestrator's lock held: it must only
  // hand the event on (e.g. enqueue it), never block. Set before StartOrchestrator.
  using DecisionListener = std::function<void(const domain::Deployment&, const domain::Json&)>;
  void SetDecisionListener(DecisionListener listener) { decision_listener_ = std::move(listener); }

  // Tracing (docs/tracing.md): with a tracer, a sampled rollout gets a `rollout` span from
  // creation to its end and a `rollout.step` span per step (children of it), on the service's
  // clock. The rollout's trace context is kept in its persisted state (`rollout.trace`), so a
  // rollout resumed after a restart stays in the same trace. nullptr (the default) = off. Set it
  // before StartOrchestrator() and the first Create(); not synchronised.
  void SetTracer(tracing::Tracer* tracer) { tracer_ = tracer; }

  // Advances every active rollout to the clock's now: analysis, next step, promotion, rollback.
  // The orchestrator thread calls it every `tick_ms`; tests call it directly on a fake clock.
  void Tick();
  void StartOrchestrator(int64_t tick_ms = 200);
  void StopOrchestrator();  // also run by the destructor
  ~DeploymentService();

 private:
  struct ActiveRollout;
  // Starts a rollout of model@version on `endpoint` (options already validated in `spec`).
  absl::StatusOr<domain::Deployment> CreateRollout(RolloutSpec spec,
                                                   const std::string& requested_by,
                                                   const std::string& model_name, int64_t version,
                                                   const std::string& endpoint,
                                                   const std::string& retry_of = "",
                                                   const DeploymentCallback& on_applied = nullptr,
                                                   const std::string& adopt_id = "",
                                                   const std::string& traceparent = "",
                                                   const std::string& tracestate = "");
  void OnCandidateLoaded(const std::string& id, const std::string& endpoint,
                         const absl::StatusOr<LoadReport>& r);
  void EnterStep(ActiveRollout& a, size_t step, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rollout_mu_);
  void Advance(ActiveRollout& a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(rollout_mu_);
  void PromoteFull(ActiveRollout& a, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rollout_mu_);
  void EndRollout(ActiveRollout& a, const std::string& state, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rollout_mu_);
  void Record(ActiveRollout& a, const std::string& action, const Decision* decision,
              const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(rollout_mu_);
  void Persist(ActiveRollout& a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(rollout_mu_);
  // Tracing: decides whether a new rollout is traced and records its context in d.rollout.
  void StartRolloutTrace(domain::Deployment& d, const std::string& traceparent,
                         const std::string& tracestate);
  // Tracing: the open step span ends (and is queued for export); and the rollout's own span.
  void EndStepSpan(ActiveRollout& a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(rollout_mu_);
  // A span of this rollout's trace ending now, with the rollout's identifying attributes.
  tracing::Span EndedRolloutSpan(const ActiveRollout& a, const char* name,
                                 tracing::SpanId span_id, tracing::SpanId parent_span_id,
                                 int64_t start_ms) const;
  void EndRolloutSpan(ActiveRollout& a, const std::string& state, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rollout_mu_);
  void TickOne(ActiveRollout& a, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(rollout_mu_);
  void TickShadow(ActiveRollout& a, int64_t elapsed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(rollout_mu_);
  void TickAbTest(ActiveRollout& a, int64_t elapsed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(rollout_mu_);
  void ResumeRollouts();
  absl::StatusOr<domain::Deployment> WithRollout(
      const std::string& id, const std::function<absl::Status(ActiveRollout&)>& action,
      const DeploymentCallback& on_applied);

  void Finish(domain::Deployment d, const absl::StatusOr<LoadReport>& result);
  void OnCandidateLoadedLocked(const std::string& id, const std::string& endpoint,
                               const absl::StatusOr<LoadReport>& r)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rollout_mu_);
  // Hands the rollouts that ended (queued by EndRollout under rollout_mu_) to the outcome
  // listener, with no lock held. Called on the way out of every method that can end a rollout.
  void FlushOutcomes() ABSL_LOCKS_EXCLUDED(rollout_mu_);
  struct FlushOutcomesOnExit {
    DeploymentService* service;
    ~FlushOutcomesOnExit() { service->FlushOutcomes(); }
  };
  std::string NewId();

  registry::ModelRegistry* registry_;
  registry::DeploymentStore* store_;
  ModelManager* manager_;
  Clock* clock_;
  absl::Mutex mu_;
  std::set<std::string> in_progress_ ABSL_GUARDED_BY(mu_);  // endpoints with a running deploy
  std::atomic<int> loads_in_flight_{0};

  absl::Mutex rollout_mu_;  // control plane only; never taken on the request path
  std::map<std::string, std::unique_ptr<ActiveRollout>> rollouts_ ABSL_GUARDED_BY(rollout_mu_);
  std::vector<domain::Deployment> ended_ ABSL_GUARDED_BY(rollout_mu_);  // for FlushOutcomes
  OutcomeListener outcome_listener_;
  QualitySource quality_;
  DecisionListener decision_listener_;
  tracing::Tracer* tracer_ = nullptr;

  absl::Mutex orchestrator_mu_;
  bool orchestrator_stop_ ABSL_GUARDED_BY(orchestrator_mu_) = false;
  std::thread orchestrator_;
};

}  // namespace hotswap::serving
