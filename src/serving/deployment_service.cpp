#include "serving/deployment_service.h"

#include "serving/shadow.h"

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

absl::StatusOr<PreparedDeploy> DeploymentService::Prepare(const DeployRequest& request) {
  HS_RETURN_IF_ERROR(ValidateName(request.model, "model"));
  std::string endpoint = request.endpoint.empty() ? request.model : request.endpoint;
  HS_RETURN_IF_ERROR(ValidateName(endpoint, "endpoint"));
  bool progressive = request.strategy == "canary" || request.strategy == "blue-green" ||
                     request.strategy == "rolling" || request.strategy == "shadow" ||
                     request.strategy == "ab-test";
  if (request.strategy == "ab-test" && !quality_) {
    return absl::FailedPreconditionError(
        "strategy 'ab-test' needs monitoring (feedback joins): start the server with "
        "\"monitoring\": true (the default)");
  }
  if (request.strategy != "direct" && !progressive) {
    return absl::InvalidArgumentError(absl::StrCat(
        "strategy: '", request.strategy,
        "' is not one of direct, canary, blue-green, ab-test, shadow, rolling"));
  }
  if (!progressive) {
    for (auto it = request.options.begin(); it != request.options.end(); ++it) {
      if (it.key() != "model" && it.key() != "version" && it.key() != "alias" &&
          it.key() != "endpoint" && it.key() != "strategy") {
        return absl::InvalidArgumentError(absl::StrCat(
            it.key(), ": not an option of the direct strategy (steps, analysis and the other "
                      "rollout options need strategy canary, rolling or blue-green)"));
      }
    }
  }
  std::optional<RolloutSpec> spec;
  if (progressive) {
    // Validate the options before anything else, so a bad request changes nothing.
    HS_ASSIGN_OR_RETURN(spec, ParseRolloutSpec(request.strategy, request.options));
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
  return PreparedDeploy{endpoint, std::move(version), request.strategy};
}

absl::StatusOr<domain::Deployment> DeploymentService::Create(const DeployRequest& request) {
  HS_ASSIGN_OR_RETURN(PreparedDeploy prepared, Prepare(request));
  const std::string& endpoint = prepared.endpoint;
  const domain::ModelVersion& version = prepared.version;
  if (request.strategy != "direct") {
    HS_ASSIGN_OR_RETURN(RolloutSpec spec, ParseRolloutSpec(request.strategy, request.options));
    return CreateRollout(std::move(spec), request.requested_by, version.model_name,
                         version.version, endpoint, "", request.on_applied, request.id,
                         request.traceparent, request.tracestate);
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
  d.id = request.id.empty() ? NewId() : request.id;
  d.endpoint = endpoint;
  d.model_name = version.model_name;
  d.version = version.version;
  d.strategy = request.strategy;
  d.state = "pending";
  d.created_at_ms = d.updated_at_ms = clock_->NowMillis();
  if (auto ep = manager_->Find(endpoint)) d.previous_version = ep->primary->version;
  if (absl::Status s = request.id.empty() ? store_->Insert(d) : store_->Update(d); !s.ok()) {
    absl::MutexLock lock(&mu_);
    in_progress_.erase(endpoint);
    return s;
  }
  log::Info("deployment started", {{"deployment", d.id}, {"endpoint", endpoint},
                                   {"model", d.model_name},
                                   {"version", static_cast<long long>(d.version)},
                                   {"by", request.requested_by}});
  if (request.on_applied) request.on_applied(d);
  loads_in_flight_.fetch_add(1);
  manager_->DeployAsync(endpoint, d.model_name, d.version,
                        [this, d](const absl::StatusOr<LoadReport>& r) {
                          Finish(d, r);
                          loads_in_flight_.fetch_sub(1);
                        });
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
  if (outcome_listener_) outcome_listener_(d);
}

void DeploymentService::FlushOutcomes() {
  std::vector<domain::Deployment> ended;
  {
    absl::MutexLock lock(&rollout_mu_);
    ended.swap(ended_);
  }
  if (!outcome_listener_) return;
  for (const domain::Deployment& d : ended) outcome_listener_(d);
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
  {
    absl::MutexLock lock(&mu_);
    if (in_progress_.count(endpoint)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "endpoint '", endpoint, "' has a deployment or rollout in progress; wait for it or "
          "abort it first"));
    }
  }
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
  ResumeRollouts();
  return restored;
}

void DeploymentService::WaitLoadsIdle() {
  while (loads_in_flight_.load() > 0) absl::SleepFor(absl::Milliseconds(5));
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

// ---- Rollouts ------------------------------------------------------------------------------------

struct DeploymentService::ActiveRollout {
  domain::Deployment d;
  RolloutSpec spec;
  bool loaded = false;
  size_t step = 0;
  int64_t started_ms = 0;
  int64_t step_started_ms = 0;
  int64_t next_look_requests = 0;  // interim analysis when the candidate has this many
  std::string last_message;
  VersionMetrics::Snapshot candidate_start, stable_start;
  std::optional<WindowStats> stable_reference;
  AbState ab;                   // ab-test: the running always-valid p-value (per step)
  int64_t ab_persisted_ms = 0;  // last time the A/B progress was written
  // Tracing (when the rollout is traced): its own span and the caller's, the open step span.
  std::optional<tracing::SpanContext> trace;  // span_id = the `rollout` span
  tracing::SpanId trace_parent = 0;
  tracing::SpanId step_span = 0;              // 0 = none open
  int64_t step_span_start_ms = 0;
  std::string step_action, step_verdict, step_reason;  // what ended the step
};

namespace {

// The candidate's own traffic: mirrored copies for a shadow rollout, routed requests otherwise.
VersionMetrics& CandidateSeries(const RolloutSpec& spec, const Endpoint& ep) {
  return ep.candidate->metrics[spec.strategy == "shadow" ? Variant::kShadow : Variant::kCandidate];
}

domain::Json Weights(int candidate_bp) {
  return domain::Json{{"stable", (10000 - candidate_bp) / 100.0},
                      {"candidate", candidate_bp / 100.0}};
}

// The rollout's trace context from its persisted state (`rollout.trace`), if it is traced.
void LoadTrace(const domain::Json& rollout, std::optional<tracing::SpanContext>* trace,
               tracing::SpanId* parent) {
  if (!rollout.contains("trace") || !rollout["trace"].is_object()) return;
  const domain::Json& t = rollout["trace"];
  *trace = tracing::ParseTraceparent(t.value("traceparent", ""));
  if (!*trace) return;
  (*trace)->trace_state = t.value("tracestate", "");
  std::string p = t.value("parent_span_id", "");
  if (auto c = tracing::ParseTraceparent(
          absl::StrCat("00-", (*trace)->trace_id.Hex(), "-", p, "-01"))) {
    *parent = c->span_id;
  }
}

uint64_t MillisToNanos(int64_t ms) { return static_cast<uint64_t>(ms) * 1'000'000ULL; }

}  // namespace

DeploymentService::~DeploymentService() { StopOrchestrator(); }

absl::StatusOr<domain::Deployment> DeploymentService::CreateRollout(
    RolloutSpec spec, const std::string& requested_by, const std::string& model_name,
    int64_t version, const std::string& endpoint, const std::string& retry_of,
    const DeploymentCallback& on_applied, const std::string& adopt_id,
    const std::string& traceparent, const std::string& tracestate) {
  std::shared_ptr<const Endpoint> ep = manager_->Find(endpoint);
  if (ep == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "endpoint '", endpoint, "' serves nothing yet: a ", spec.strategy,
        " rollout introduces a version beside a serving one; deploy the first version with "
        "strategy direct"));
  }
  if (ep->primary->model_name == model_name && ep->primary->version == version) {
    return absl::FailedPreconditionError(absl::StrCat(
        "endpoint '", endpoint, "' already serves ", model_name, " version ", version));
  }
  {
    absl::MutexLock lock(&mu_);
    if (in_progress_.count(endpoint)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "endpoint '", endpoint, "' already has a deployment or rollout in progress; wait for "
          "it, or abort it first"));
    }
    in_progress_.insert(endpoint);
  }
  // The candidate's own PerformanceBaseline supplies the absolute budgets the request left out
  // (a retry reuses the stored spec, which already has them).
  if (retry_of.empty()) {
    if (auto v = registry_->GetVersion(model_name, version); v.ok() && v->baseline) {
      ApplyBaseline(*v->baseline, &spec.analysis);
    }
  }
  auto a = std::make_unique<ActiveRollout>();
  domain::Deployment& d = a->d;
  d.id = adopt_id.empty() ? NewId() : adopt_id;
  d.endpoint = endpoint;
  d.model_name = model_name;
  d.version = version;
  d.strategy = spec.strategy;
  d.state = "pending";
  d.previous_version = ep->primary->version;
  d.created_at_ms = d.updated_at_ms = clock_->NowMillis();
  d.message = "loading and warming up the candidate beside the stable version";
  d.rollout = domain::Json{{"spec", ToJson(spec)},
                           {"step", 0},
                           {"steps", spec.steps.size()},
                           {"weights", Weights(0)},
                           {"stable_version", ep->primary->version},
                           {"decisions", domain::Json::array()}};
  if (!retry_of.empty()) d.rollout["retry_of"] = retry_of;
  if (tracer_ != nullptr) {
    StartRolloutTrace(d, traceparent, tracestate);
    LoadTrace(d.rollout, &a->trace, &a->trace_parent);
  }
  a->spec = std::move(spec);
  a->started_ms = d.created_at_ms;
  if (absl::Status s = adopt_id.empty() ? store_->Insert(d) : store_->Update(d); !s.ok()) {
    absl::MutexLock lock(&mu_);
    in_progress_.erase(endpoint);
    return s;
  }
  domain::Deployment out = d;
  std::string id = d.id;
  {
    absl::MutexLock lock(&rollout_mu_);
    rollouts_[id] = std::move(a);
  }
  log::Info("rollout started", {{"deployment", id}, {"endpoint", endpoint},
                                {"strategy", d.strategy}, {"model", model_name},
                                {"version", static_cast<long long>(version)},
                                {"by", requested_by}});
  if (on_applied) on_applied(out);
  loads_in_flight_.fetch_add(1);
  manager_->LoadCandidateAsync(endpoint, model_name, version,
                               [this, id, endpoint](const absl::StatusOr<LoadReport>& r) {
                                 OnCandidateLoaded(id, endpoint, r);
                                 loads_in_flight_.fetch_sub(1);
                               });
  return out;
}

void DeploymentService::OnCandidateLoaded(const std::string& id, const std::string& endpoint,
                                          const absl::StatusOr<LoadReport>& r) {
  {
    absl::MutexLock lock(&rollout_mu_);
    OnCandidateLoadedLocked(id, endpoint, r);
  }
  FlushOutcomes();
}

void DeploymentService::OnCandidateLoadedLocked(const std::string& id, const std::string& endpoint,
                                                const absl::StatusOr<LoadReport>& r) {
  auto it = rollouts_.find(id);
  if (it == rollouts_.end()) {
    // Aborted while loading: the candidate just published (weight 0) must not linger. The
    // loader runs jobs in order, so a later rollout's candidate is not published yet.
    if (r.ok()) (void)manager_->DropCandidate(endpoint);
    return;
  }
  ActiveRollout& a = *it->second;
  if (!r.ok()) {
    EndRollout(a, "failed", absl::StrCat("candidate failed to load: ", r.status().message()));
    return;
  }
  a.loaded = true;
  bool paused = a.d.state == "paused";  // resumed after a restart while paused
  size_t step = a.d.rollout.value("step", 0);
  if (step >= a.spec.steps.size()) step = a.spec.steps.size() - 1;
  a.d.state = "progressing";
  EnterStep(a, step,
            absl::StrCat("candidate loaded and warmed up in ",
                         static_cast<int64_t>(r->load_seconds * 1000), " ms"));
  if (!rollouts_.count(id)) return;  // EnterStep ended it
  if (paused) {
    a.d.state = "paused";
    a.d.message = "paused (resumed after a restart; POST resume to continue)";
    Persist(a);
  }
}

void DeploymentService::EnterStep(ActiveRollout& a, size_t step, const std::string& why) {
  EndStepSpan(a);  // the step before (or this one, paused and resumed)
  const RolloutStep& s = a.spec.steps[step];
  if (absl::Status st = manager_->SetCandidateWeight(a.d.endpoint, s.weight_bp); !st.ok()) {
    EndRollout(a, "failed", absl::StrCat("cannot route traffic to the candidate: ", st.message()));
    return;
  }
  if (a.spec.strategy == "shadow") {
    if (absl::Status st = manager_->SetMirror(a.d.endpoint, a.spec.shadow.mirror_bp); !st.ok()) {
      EndRollout(a, "failed", absl::StrCat("cannot mirror traffic to the shadow: ", st.message()));
      return;
    }
  }
  a.step = step;
  a.step_started_ms = clock_->NowMillis();
  if (a.trace) {
    a.step_span = tracing::NewSpanId();
    a.step_span_start_ms = a.step_started_ms;
    a.step_action.clear();
    a.step_verdict.clear();
    a.step_reason.clear();
  }
  a.next_look_requests = a.spec.analysis.min_requests;
  a.ab = AbState{};
  if (auto ep = manager_->Find(a.d.endpoint); ep && ep->candidate) {
    a.candidate_start = CandidateSeries(a.spec, *ep).Read();
    a.stable_start = ep->primary->metrics[Variant::kStable].Read();
  }
  a.d.rollout["step"] = step + 1;
  a.d.rollout["weights"] = Weights(s.weight_bp);
  a.d.message = absl::StrCat("step ", step + 1, "/", a.spec.steps.size(), ": candidate at ",
                             s.weight_bp / 100.0, "% for ", s.duration_ms / 1000.0, " s");
  if (a.spec.strategy == "shadow") {
    a.d.rollout["mirror"] = a.spec.shadow.mirror_bp / 100.0;
    a.d.message = absl::StrCat("shadow: ", a.spec.shadow.mirror_bp / 100.0,
                               "% of requests copied to the candidate for ",
                               s.duration_ms / 1000.0, " s (it answers none)");
  }
  if (a.spec.strategy == "ab-test") {
    a.d.message = absl::StrCat("A/B test: candidate at ", s.weight_bp / 100.0, "% on ",
                               a.spec.ab.metric, " for up to ", s.duration_ms / 1000.0, " s");
  }
  Record(a, "step", nullptr, absl::StrCat(why.empty() ? "" : why + "; ", a.d.message));
  Persist(a);
  log::Info("rollout step", {{"deployment", a.d.id}, {"endpoint", a.d.endpoint},
                             {"step", static_cast<long long>(step + 1)},
                             {"candidate_weight_pct", s.weight_bp / 100.0}});
}

void DeploymentService::Advance(ActiveRollout& a) {
  if (a.step + 1 < a.spec.steps.size()) {
    EnterStep(a, a.step + 1, "");
  } else {
    PromoteFull(a, "every step passed its analysis");
  }
}

void DeploymentService::PromoteFull(ActiveRollout& a, const std::string& why) {
  if (absl::Status s = manager_->PromoteCandidate(a.d.endpoint); !s.ok()) {
    EndRollout(a, "failed", absl::StrCat("promotion failed: ", s.message()));
    return;
  }
  a.d.rollout["weights"] = Weights(10000);
  (void)registry_->SetVersionStatus(a.d.model_name, a.d.version, domain::VersionStatus::kDeployed);
  if (a.d.previous_version && *a.d.previous_version != a.d.version) {
    (void)registry_->SetVersionStatus(a.d.model_name, *a.d.previous_version,
                                      domain::VersionStatus::kRegistered);
  }
  Record(a, "promote", nullptr, why);
  EndRollout(a, "succeeded", absl::StrCat("promoted: serving version ", a.d.version, " (", why,
                                          ")"));
}

void DeploymentService::EndRollout(ActiveRollout& a, const std::string& state,
                                   const std::string& why) {
  if (state != "succeeded") {
    absl::Status s = manager_->DropCandidate(a.d.endpoint);
    if (!s.ok() && !absl::IsNotFound(s)) {
      log::Error("could not drop the candidate", {{"deployment", a.d.id},
                                                  {"error", std::string(s.message())}});
    }
    a.d.rollout["weights"] = Weights(0);
    if (state != "failed") Record(a, state == "aborted" ? "abort" : "rollback", nullptr, why);
  }
  a.d.state = state;
  a.d.message = why;
  EndStepSpan(a);
  EndRolloutSpan(a, state, why);
  {
    // The endpoint is free again before the outcome is visible, so a client that sees the
    // outcome can start the next deployment at once.
    absl::MutexLock lock(&mu_);
    in_progress_.erase(a.d.endpoint);
  }
  Persist(a);
  ended_.push_back(a.d);
  log::Info("rollout ended", {{"deployment", a.d.id}, {"endpoint", a.d.endpoint},
                              {"state", state}, {"message", why}});
  std::string id = a.d.id;
  rollouts_.erase(id);  // `a` is gone from here on
}

void DeploymentService::Record(ActiveRollout& a, const std::string& action,
                               const Decision* decision, const std::string& reason) {
  domain::Json entry = {{"at", FormatTimestamp(clock_->NowMillis())},
                        {"step", a.step + 1},
                        {"weight", a.spec.steps.empty() ? 0.0
                                                        : a.spec.steps[a.step].weight_bp / 100.0},
                        {"action", action},
                        {"reason", reason}};
  if (decision != nullptr) {
    entry["verdict"] = VerdictName(decision->verdict);
    entry["analysis"] = decision->detail;
  }
  if (decision_listener_) decision_listener_(a.d, entry);
  if (a.step_span != 0 && action != "step") {  // what ends (or holds) the traced step
    a.step_action = action;
    a.step_reason = reason;
    if (decision != nullptr) a.step_verdict = VerdictName(decision->verdict);
  }
  domain::Json& list = a.d.rollout["decisions"];
  list.push_back(std::move(entry));
  // Bounded: the first and the latest decisions are kept.
  constexpr size_t kMaxDecisions = 200;
  if (list.size() > kMaxDecisions) list.erase(list.begin() + 1);
}

void DeploymentService::StartRolloutTrace(domain::Deployment& d, const std::string& traceparent,
                                          const std::string& tracestate) {
  std::optional<tracing::SpanContext> parent = tracing::ParseTraceparent(traceparent);
  if (!tracer_->ShouldSample(parent)) return;
  tracing::TraceId trace_id = parent ? parent->trace_id : tracing::NewTraceId();
  uint8_t flags = parent ? parent->flags : tracing::kSampledFlag;
  domain::Json t = {
      {"traceparent", tracing::FormatTraceparent(trace_id, tracing::NewSpanId(), flags)}};
  if (parent) {
    t["parent_span_id"] = tracing::SpanIdHex(parent->span_id);
    if (!tracestate.empty()) t["tracestate"] = tracestate;
  }
  d.rollout["trace"] = std::move(t);
}

tracing::Span DeploymentService::EndedRolloutSpan(const ActiveRollout& a, const char* name,
                                                 tracing::SpanId span_id,
                                                 tracing::SpanId parent_span_id,
                                                 int64_t start_ms) const {
  tracing::Span s;
  s.trace_id = a.trace->trace_id;
  s.span_id = span_id;
  s.parent_span_id = parent_span_id;
  s.trace_state = a.trace->trace_state;
  s.flags = a.trace->flags;
  s.name = name;
  s.start_unix_nanos = MillisToNanos(start_ms);
  s.end_unix_nanos = std::max(s.start_unix_nanos, MillisToNanos(clock_->NowMillis()));
  s.SetString("hotswap.deployment.id", a.d.id);
  s.SetString("hotswap.endpoint", a.d.endpoint);
  s.SetString("hotswap.model", a.d.model_name);
  s.SetString("hotswap.version", std::to_string(a.d.version));
  s.SetString("hotswap.rollout.strategy", a.d.strategy);
  return s;
}

void DeploymentService::EndStepSpan(ActiveRollout& a) {
  if (tracer_ == nullptr || !a.trace || a.step_span == 0) return;
  tracing::Span s = EndedRolloutSpan(a, "rollout.step", a.step_span, a.trace->span_id,
                                     a.step_span_start_ms);
  s.SetInt("hotswap.rollout.step", static_cast<int64_t>(a.step) + 1);
  s.SetDouble("hotswap.rollout.weight", a.spec.steps[a.step].weight_bp / 100.0);
  s.SetString("hotswap.rollout.action", a.step_action.empty() ? "end" : a.step_action);
  if (!a.step_verdict.empty()) s.SetString("hotswap.rollout.verdict", a.step_verdict);
  if (!a.step_reason.empty()) s.SetString("hotswap.rollout.reason", a.step_reason);
  if (a.step_action == "rollback") s.SetError(a.step_reason);
  tracer_->Export(std::move(s));
  a.step_span = 0;
}

void DeploymentService::EndRolloutSpan(ActiveRollout& a, const std::string& state,
                                       const std::string& why) {
  if (tracer_ == nullptr || !a.trace) return;
  tracing::Span s =
      EndedRolloutSpan(a, "rollout", a.trace->span_id, a.trace_parent, a.d.created_at_ms);
  s.SetInt("hotswap.rollout.steps", static_cast<int64_t>(a.spec.steps.size()));
  s.SetString("hotswap.rollout.state", state);
  s.SetString("hotswap.rollout.reason", why);
  if (state == "failed" || state == "rolled_back") s.SetError(why);
  tracer_->Export(std::move(s));
  a.trace.reset();
}

void DeploymentService::Persist(ActiveRollout& a) {
  a.d.updated_at_ms = clock_->NowMillis();
  a.last_message = a.d.message;
  if (absl::Status s = store_->Update(a.d); !s.ok()) {
    log::Error("could not record the rollout's progress (it goes on; the record catches up at "
               "the next change)",
               {{"deployment", a.d.id}, {"error", std::string(s.message())}});
  }
}

void DeploymentService::Tick() {
  FlushOutcomesOnExit flush{this};  // after the lock below is released
  int64_t now = clock_->NowMillis();
  absl::MutexLock lock(&rollout_mu_);
  std::vector<std::string> ids;
  for (const auto& [id, a] : rollouts_) ids.push_back(id);
  for (const std::string& id : ids) {
    auto it = rollouts_.find(id);
    if (it != rollouts_.end()) TickOne(*it->second, now);
  }
}

void DeploymentService::TickOne(ActiveRollout& a, int64_t now) {
  if (!a.loaded || a.d.state != "progressing") return;
  if (now - a.started_ms > a.spec.deadline_ms) {
    EndRollout(a, "rolled_back",
               absl::StrCat("deadline of ", a.spec.deadline_ms / 1000.0, " s exceeded"));
    return;
  }
  const RolloutStep& step = a.spec.steps[a.step];
  int64_t elapsed = now - a.step_started_ms;
  if (a.spec.strategy == "shadow") {
    TickShadow(a, elapsed);
    return;
  }
  if (a.spec.strategy == "ab-test") {
    TickAbTest(a, elapsed);
    return;
  }
  if (step.weight_bp == 0) {  // preview: nothing to judge, just wait
    if (elapsed < step.duration_ms) return;
    if (step.manual_gate) {
      a.d.state = "paused";
      a.d.message = absl::StrCat("step ", a.step + 1, " done; waiting for promote (manual gate)");
      Record(a, "gate", nullptr, a.d.message);
      Persist(a);
      return;
    }
    Advance(a);
    return;
  }
  std::shared_ptr<const Endpoint> ep = manager_->Find(a.d.endpoint);
  if (ep == nullptr || ep->candidate == nullptr) {
    EndRollout(a, "failed", "the candidate disappeared from the endpoint");
    return;
  }
  WindowStats cand = Delta(CandidateSeries(a.spec, *ep).Read(), a.candidate_start);
  WindowStats stable = Delta(ep->primary->metrics[Variant::kStable].Read(), a.stable_start);
  bool step_over = elapsed >= step.duration_ms;
  if (!step_over) {
    // Interim look only when the candidate's sample has doubled since the last one.
    if (static_cast<int64_t>(cand.requests) < a.next_look_requests) return;
    a.next_look_requests = 2 * static_cast<int64_t>(cand.requests);
  }
  std::optional<QualityStats> cq, sq;
  if (quality_) {
    cq = quality_(CandidateSeries(a.spec, *ep), a.step_started_ms);
    sq = quality_(ep->primary->metrics[Variant::kStable], a.step_started_ms);
  }
  bool judge_quality = cq.has_value() && sq.has_value();
  Decision decision = Analyze(a.spec.analysis, cand, stable, a.stable_reference,
                              step_over ? kFinalAlpha : kInterimAlpha,
                              judge_quality ? &*cq : nullptr, judge_quality ? &*sq : nullptr);
  if (decision.verdict == Verdict::kFail) {
    Record(a, "rollback", &decision, decision.reason);
    EndRollout(a, "rolled_back", absl::StrCat("analysis failed at step ", a.step + 1, " (",
                                              step.weight_bp / 100.0, "%): ", decision.reason));
    return;
  }
  if (elapsed < step.duration_ms) return;
  if (static_cast<int64_t>(stable.requests) >= a.spec.analysis.min_requests) {
    a.stable_reference = stable;
  }
  if (decision.verdict == Verdict::kPass) {
    if (step.manual_gate) {
      Record(a, "gate", &decision, decision.reason);
      a.d.state = "paused";
      a.d.message = absl::StrCat("step ", a.step + 1, " passed; waiting for promote (manual gate)");
      Persist(a);
      return;
    }
    Record(a, "advance", &decision, decision.reason);
    Advance(a);
    return;
  }
  // Insufficient data: wait up to the timeout, then the configured action.
  const AnalysisSpec& an = a.spec.analysis;
  if (elapsed < step.duration_ms + an.insufficient_data_timeout_ms) {
    std::string msg = absl::StrCat("step ", a.step + 1, ": waiting for data (", decision.reason,
                                   ")");
    if (msg != a.last_message) {
      a.d.message = msg;
      Persist(a);
    }
    return;
  }
  std::string why = absl::StrCat(decision.reason, " after waiting ",
                                 an.insufficient_data_timeout_ms / 1000.0, " s past the step");
  if (an.on_insufficient_data == "promote") {
    Record(a, "advance", &decision, why + "; on_insufficient_data=promote");
    Advance(a);
  } else if (an.on_insufficient_data == "pause") {
    Record(a, "pause", &decision, why + "; on_insufficient_data=pause");
    a.d.state = "paused";
    a.d.message = absl::StrCat("paused: ", why);
    Persist(a);
  } else {
    Record(a, "rollback", &decision, why + "; on_insufficient_data=rollback");
    EndRollout(a, "rolled_back", absl::StrCat("insufficient data: ", why));
  }
}

void DeploymentService::TickAbTest(ActiveRollout& a, int64_t elapsed) {
  const RolloutStep& step = a.spec.steps[a.step];
  std::shared_ptr<const Endpoint> ep = manager_->Find(a.d.endpoint);
  if (ep == nullptr || ep->candidate == nullptr) {
    EndRollout(a, "failed", "the candidate disappeared from the endpoint");
    return;
  }
  if (!quality_) {
    EndRollout(a, "failed", "an A/B test needs monitoring (feedback joins) on");
    return;
  }
  VersionMetrics& cand_series = CandidateSeries(a.spec, *ep);
  VersionMetrics& stable_series = ep->primary->metrics[Variant::kStable];
  WindowStats cand = Delta(cand_series.Read(), a.candidate_start);
  WindowStats stable = Delta(stable_series.Read(), a.stable_start);
  std::optional<QualityStats> cq = quality_(cand_series, a.step_started_ms);
  std::optional<QualityStats> sq = quality_(stable_series, a.step_started_ms);
  if (!cq || !sq) {
    EndRollout(a, "failed", "an A/B test needs monitoring (feedback joins) on");
    return;
  }
  AbLook look = LookAtAbTest(a.spec.ab, cand.requests, stable.requests, *cq, *sq, &a.ab);
  a.d.rollout["ab"] = look.detail;
  const domain::Json& c = look.detail["candidate"];
  const domain::Json& s = look.detail["stable"];
  std::string summary = absl::StrCat(
      a.spec.ab.metric, ": candidate ", c["mean"].get<double>(), " (n=", c["n"].get<uint64_t>(),
      ") vs stable ", s["mean"].get<double>(), " (n=", s["n"].get<uint64_t>(),
      "), always-valid p=", a.ab.p_value);
  Decision d;
  d.detail = look.detail;
  if (look.outcome == "srm") {
    d.verdict = Verdict::kFail;
    d.reason = absl::StrCat("sample ratio mismatch: ", cand.requests, " candidate vs ",
                            stable.requests, " stable requests for a ",
                            a.spec.ab.weight_bp / 100.0, "% split (p=",
                            look.detail["srm_p"].get<double>(), " < ", a.spec.ab.srm_alpha,
                            "); the experiment is invalid");
    Record(a, "rollback", &d, d.reason);
    EndRollout(a, "failed", d.reason);
    return;
  }
  if (look.outcome == "candidate_wins") {
    d.verdict = Verdict::kPass;
    d.reason = "A/B test: the candidate wins; " + summary;
    if (a.spec.ab.auto_promote) {
      Record(a, "advance", &d, d.reason);
      PromoteFull(a, d.reason);
      return;
    }
    Record(a, "gate", &d, d.reason);
    a.d.state = "paused";
    a.d.message = d.reason + "; run `promote` to make it stable, `abort` to keep the stable";
    Persist(a);
    return;
  }
  if (look.outcome == "stable_wins") {
    d.verdict = Verdict::kFail;
    d.reason = "A/B test: the stable version wins; " + summary;
    Record(a, "rollback", &d, d.reason);
    EndRollout(a, "rolled_back", d.reason);
    return;
  }
  if (elapsed >= step.duration_ms) {
    d.verdict = Verdict::kInsufficientData;
    d.reason = absl::StrCat("A/B test: no difference at the horizon (", step.duration_ms / 1000.0,
                            " s); ", summary, "; the stable version keeps serving");
    Record(a, "no_difference", &d, d.reason);
    EndRollout(a, "aborted", d.reason);
    return;
  }
  a.d.message = "A/B test running: " + summary;
  int64_t now = clock_->NowMillis();
  if (now - a.ab_persisted_ms >= 5000) {
    a.ab_persisted_ms = now;
    Persist(a);
  }
}

void DeploymentService::TickShadow(ActiveRollout& a, int64_t elapsed) {
  const RolloutStep& step = a.spec.steps[a.step];
  std::shared_ptr<const Endpoint> ep = manager_->Find(a.d.endpoint);
  if (ep == nullptr || ep->candidate == nullptr || ep->shadow_stats == nullptr) {
    EndRollout(a, "failed", "the shadow disappeared from the endpoint");
    return;
  }
  const ShadowSpec& sh = a.spec.shadow;
  const AnalysisSpec& an = a.spec.analysis;
  domain::Json stats = ep->shadow_stats->ToJson();
  WindowStats cand = Delta(CandidateSeries(a.spec, *ep).Read(), a.candidate_start);
  bool step_over = elapsed >= step.duration_ms;
  if (!step_over) {
    if (static_cast<int64_t>(cand.requests) < a.next_look_requests) return;
    a.next_look_requests = 2 * static_cast<int64_t>(cand.requests);
  }
  Decision d;
  d.detail = {{"shadow", stats},
              {"candidate", cand.ToJson()},
              {"thresholds",
               {{"max_error_rate", an.max_error_rate},
                {"min_agreement", sh.min_agreement},
                {"max_mean_abs_diff", sh.max_mean_abs_diff},
                {"max_mean_rel_diff", sh.max_mean_rel_diff},
                {"min_requests", an.min_requests}}},
              {"statistics",
               "candidate errors: one-sided binomial test against max_error_rate; agreement "
               "and differences: the shadow comparison over every mirrored request so far; "
               "latency: the shadow's own run time, reported, not judged"},
              {"alpha", step_over ? kFinalAlpha : kInterimAlpha}};
  std::vector<std::string> fails;
  if (static_cast<int64_t>(cand.requests) >= an.min_requests) {
    WindowStats none;
    Decision errors = Analyze(an, cand, none, std::nullopt, step_over ? kFinalAlpha : kInterimAlpha);
    if (errors.verdict == Verdict::kFail) fails.push_back(errors.reason);
  }
  uint64_t compared = stats.value("compared", uint64_t{0});
  bool enough = static_cast<int64_t>(compared) >= an.min_requests;
  if (enough && step_over) {
    if (stats.contains("agreement") && stats["agreement"].get<double>() < sh.min_agreement) {
      fails.push_back(absl::StrCat("top-1 agreement ", stats["agreement"].get<double>(),
                                   " < ", sh.min_agreement));
    }
    if (sh.max_mean_abs_diff >= 0 && stats.contains("mean_abs_diff") &&
        stats["mean_abs_diff"].get<double>() > sh.max_mean_abs_diff) {
      fails.push_back(absl::StrCat("mean absolute difference ",
                                   stats["mean_abs_diff"].get<double>(), " > ",
                                   sh.max_mean_abs_diff));
    }
    if (sh.max_mean_rel_diff >= 0 && stats.contains("mean_rel_diff") &&
        stats["mean_rel_diff"].get<double>() > sh.max_mean_rel_diff) {
      fails.push_back(absl::StrCat("mean relative difference ",
                                   stats["mean_rel_diff"].get<double>(), " > ",
                                   sh.max_mean_rel_diff));
    }
  }
  if (!fails.empty()) {
    d.verdict = Verdict::kFail;
    d.reason = fails.front();
    for (size_t i = 1; i < fails.size(); ++i) d.reason += "; " + fails[i];
    Record(a, "rollback", &d, d.reason);
    EndRollout(a, "rolled_back", absl::StrCat("shadow analysis failed: ", d.reason));
    return;
  }
  if (!step_over) return;
  if (!enough) {
    d.verdict = Verdict::kInsufficientData;
    d.reason = absl::StrCat("insufficient data: ", compared, " of ", an.min_requests,
                            " mirrored requests compared");
    if (elapsed < step.duration_ms + an.insufficient_data_timeout_ms) {
      std::string msg = absl::StrCat("shadow: waiting for data (", d.reason, ")");
      if (msg != a.last_message) {
        a.d.message = msg;
        Persist(a);
      }
      return;
    }
    Record(a, "rollback", &d, d.reason);
    EndRollout(a, "rolled_back", d.reason);
    return;
  }
  d.verdict = Verdict::kPass;
  d.reason = absl::StrCat("shadow criteria met: ", stats.dump());
  a.d.rollout["shadow"] = stats;
  if (sh.auto_promote) {
    Record(a, "advance", &d, d.reason);
    PromoteFull(a, "shadow criteria met (auto_promote)");
    return;
  }
  Record(a, "gate", &d, d.reason);
  a.d.state = "paused";
  a.d.message = "shadow criteria met; promote to switch traffic to the candidate (or abort)";
  Persist(a);
}

absl::StatusOr<domain::Deployment> DeploymentService::WithRollout(
    const std::string& id, const std::function<absl::Status(ActiveRollout&)>& action,
    const DeploymentCallback& on_applied) {
  // Order on the way out: the lock is released, `on_applied` runs, then the outcomes the action
  // caused go to the outcome listener.
  FlushOutcomesOnExit flush{this};
  bool ended_by_action = false;
  std::optional<domain::Deployment> applied;
  {
    absl::MutexLock lock(&rollout_mu_);
    auto it = rollouts_.find(id);
    if (it != rollouts_.end()) {
      HS_RETURN_IF_ERROR(action(*it->second));
      auto after = rollouts_.find(id);
      if (after != rollouts_.end()) applied = after->second->d;
      ended_by_action = !applied.has_value();
    }
  }
  if (applied) {
    if (on_applied) on_applied(*applied);
    return *applied;
  }
  HS_ASSIGN_OR_RETURN(domain::Deployment d, store_->Get(id));
  if (ended_by_action) {
    if (on_applied) on_applied(d);
    return d;
  }
  if (d.strategy == "direct") {
    return absl::FailedPreconditionError(
        absl::StrCat("deployment ", id, " uses the direct strategy: there is no rollout to control"));
  }
  if (d.state == "succeeded" || d.state == "aborted" || d.state == "rolled_back" ||
      d.state == "failed") {
    return absl::FailedPreconditionError(absl::StrCat("rollout ", id, " has ended (", d.state, ")"));
  }
  return absl::FailedPreconditionError(absl::StrCat("rollout ", id, " is not active here"));
}

absl::StatusOr<domain::Deployment> DeploymentService::Promote(const std::string& id, bool full,
                                                              const std::string& by,
                                                              const DeploymentCallback& on_applied) {
  return WithRollout(id, [&](ActiveRollout& a) -> absl::Status {
    rollout_mu_.AssertHeld();  // WithRollout runs the action under it
    if (!a.loaded) {
      return absl::FailedPreconditionError(
          "the candidate is still loading: no traffic can reach it yet (capacity before weight)");
    }
    Record(a, "manual_promote", nullptr, absl::StrCat(full ? "full promotion" : "next step",
                                                      " requested by ", by));
    a.d.state = "progressing";
    if (full) {
      PromoteFull(a, absl::StrCat("promoted by ", by));
    } else {
      Advance(a);
    }
    return absl::OkStatus();
  }, on_applied);
}

absl::StatusOr<domain::Deployment> DeploymentService::Pause(const std::string& id,
                                                            const std::string& by,
                                                           const DeploymentCallback& on_applied) {
  return WithRollout(id, [&](ActiveRollout& a) -> absl::Status {
    rollout_mu_.AssertHeld();
    if (a.d.state == "paused") return absl::OkStatus();
    if (!a.loaded) return absl::FailedPreconditionError("the candidate is still loading");
    a.d.state = "paused";
    a.d.message = absl::StrCat("paused by ", by, " at step ", a.step + 1, " (weights held)");
    Record(a, "pause", nullptr, a.d.message);
    Persist(a);
    return absl::OkStatus();
  }, on_applied);
}

absl::StatusOr<domain::Deployment> DeploymentService::Resume(const std::string& id,
                                                             const std::string& by,
                                                           const DeploymentCallback& on_applied) {
  return WithRollout(id, [&](ActiveRollout& a) -> absl::Status {
    rollout_mu_.AssertHeld();
    if (a.d.state != "paused") {
      return absl::FailedPreconditionError(
          absl::StrCat("rollout ", id, " is ", a.d.state, ", not paused"));
    }
    a.d.state = "progressing";
    EnterStep(a, a.step, absl::StrCat("resumed by ", by, "; the step's window starts again"));
    return absl::OkStatus();
  }, on_applied);
}

absl::StatusOr<domain::Deployment> DeploymentService::Abort(const std::string& id,
                                                            const std::string& by,
                                                           const DeploymentCallback& on_applied) {
  return WithRollout(id, [&](ActiveRollout& a) -> absl::Status {
    rollout_mu_.AssertHeld();
    EndRollout(a, "aborted", absl::StrCat("aborted by ", by, "; all traffic back on version ",
                                          a.d.previous_version.value_or(0)));
    return absl::OkStatus();
  }, on_applied);
}

absl::StatusOr<domain::Deployment> DeploymentService::Retry(const std::string& id,
                                                            const std::string& by,
                                                            const DeploymentCallback& on_applied) {
  HS_ASSIGN_OR_RETURN(domain::Deployment d, store_->Get(id));
  if (d.strategy == "direct") {
    return absl::FailedPreconditionError("retry applies to rollouts; deploy again instead");
  }
  if (d.state != "aborted" && d.state != "rolled_back" && d.state != "failed") {
    return absl::FailedPreconditionError(absl::StrCat(
        "rollout ", id, " is ", d.state, ": only an aborted, rolled back or failed rollout can be "
        "retried"));
  }
  HS_ASSIGN_OR_RETURN(RolloutSpec spec, RolloutSpecFromJson(d.rollout.value("spec", domain::Json())));
  // The model and version must still exist.
  HS_RETURN_IF_ERROR(registry_->GetVersion(d.model_name, d.version).status());
  return CreateRollout(std::move(spec), by, d.model_name, d.version, d.endpoint, id, on_applied);
}

void DeploymentService::ResumeRollouts() {
  auto list = store_->List("", 1000);
  if (!list.ok()) {
    log::Error("cannot read rollouts to resume", {{"error", std::string(list.status().message())}});
    return;
  }
  for (const domain::Deployment& d : *list) {
    if (d.strategy == "direct") continue;
    if (d.state != "pending" && d.state != "progressing" && d.state != "paused") continue;
    auto spec = RolloutSpecFromJson(d.rollout.value("spec", domain::Json()));
    std::shared_ptr<const Endpoint> ep = manager_->Find(d.endpoint);
    bool conflict = false;
    {
      absl::MutexLock lock(&mu_);
      conflict = in_progress_.count(d.endpoint) > 0;
      if (!conflict && spec.ok() && ep != nullptr) in_progress_.insert(d.endpoint);
    }
    if (!spec.ok() || ep == nullptr || conflict) {
      domain::Deployment failed = d;
      failed.state = "failed";
      failed.message = !spec.ok() ? absl::StrCat("cannot resume after restart: ", spec.status().message())
                       : ep == nullptr ? "cannot resume after restart: the endpoint's stable version is not serving"
                                       : "cannot resume after restart: another rollout holds the endpoint";
      failed.updated_at_ms = clock_->NowMillis();
      (void)store_->Update(failed);
      if (outcome_listener_) outcome_listener_(failed);
      continue;
    }
    auto a = std::make_unique<ActiveRollout>();
    a->d = d;
    a->spec = *std::move(spec);
    if (tracer_ != nullptr) LoadTrace(a->d.rollout, &a->trace, &a->trace_parent);
    // The deadline restarts from now: the time the server was down is not the rollout's fault.
    a->started_ms = clock_->NowMillis() - std::min<int64_t>(clock_->NowMillis() - d.created_at_ms,
                                                            a->spec.deadline_ms / 2);
    std::string id = d.id;
    log::Info("resuming rollout after restart",
              {{"deployment", id}, {"endpoint", d.endpoint}, {"state", d.state},
               {"step", static_cast<long long>(d.rollout.value("step", 1))}});
    if (a->d.rollout.value("step", 0) > 0) a->d.rollout["step"] = a->d.rollout["step"].get<int>() - 1;
    {
      absl::MutexLock lock(&rollout_mu_);
      rollouts_[id] = std::move(a);
    }
    loads_in_flight_.fetch_add(1);
    std::string endpoint = d.endpoint;
    manager_->LoadCandidateAsync(d.endpoint, d.model_name, d.version,
                                 [this, id, endpoint](const absl::StatusOr<LoadReport>& r) {
                                   OnCandidateLoaded(id, endpoint, r);
                                   loads_in_flight_.fetch_sub(1);
                                 });
  }
}

void DeploymentService::StartOrchestrator(int64_t tick_ms) {
  {
    absl::MutexLock lock(&orchestrator_mu_);
    if (orchestrator_.joinable()) return;
    orchestrator_stop_ = false;
  }
  orchestrator_ = std::thread([this, tick_ms] {
    while (true) {
      {
        absl::MutexLock lock(&orchestrator_mu_);
        orchestrator_mu_.AwaitWithTimeout(absl::Condition(&orchestrator_stop_),
                                          absl::Milliseconds(tick_ms));
        if (orchestrator_stop_) return;
      }
      Tick();
    }
  });
}

void DeploymentService::StopOrchestrator() {
  {
    absl::MutexLock lock(&orchestrator_mu_);
    orchestrator_stop_ = true;
  }
  if (orchestrator_.joinable()) orchestrator_.join();
}

}  // namespace hotswap::serving
