#include "governance/approvals.h"

#include <curl/curl.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "auth/token_store.h"
#include "common/json_post.h"
#include "common/log.h"
#include "common/names.h"
#include "common/sha256.h"
#include "common/status.h"

namespace hotswap::governance {

using nlohmann::json;
using registry::ApprovalPolicy;
using registry::ApprovalRequest;

namespace {

bool KnownRole(const std::string& role) { return auth::ParseRole(role).has_value(); }

int DistinctApprovals(const ApprovalRequest& r) {
  std::set<std::string> who;
  for (const auto& d : r.decisions) {
    if (d.decision == "approve") who.insert(d.actor);
  }
  return static_cast<int>(who.size());
}

}  // namespace

absl::Status ValidatePolicy(const ApprovalPolicy& p) {
  std::vector<std::string> errors;
  if (absl::Status s = ValidateName(p.endpoint, "endpoint"); !s.ok()) {
    errors.push_back(std::string(s.message()));
  }
  if (p.environment.size() > 64) errors.push_back("environment: at most 64 characters");
  if (p.required_approvals < 1 || p.required_approvals > 10) {
    errors.push_back("required_approvals: expected an integer from 1 to 10");
  }
  if (!KnownRole(p.approver_role) || p.approver_role == "viewer") {
    errors.push_back(absl::StrCat("approver_role: '", p.approver_role,
                                  "' is not one of editor, deployer, approver, admin"));
  }
  if (!KnownRole(p.override_role) || p.override_role == "viewer") {
    errors.push_back(absl::StrCat("override_role: '", p.override_role,
                                  "' is not one of editor, deployer, approver, admin"));
  }
  if (p.expiry_seconds < 60 || p.expiry_seconds > 30 * 86'400) {
    errors.push_back("expiry_seconds: expected an integer from 60 to 2592000 (30 days)");
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
}

bool RoleSatisfies(const std::string& role, const std::string& required) {
  return role == required || role == "admin";
}

ApprovalService::ApprovalService(Options options, registry::GovernanceStore* store,
                                 registry::DeploymentStore* deployments, Clock* clock)
    : options_(std::move(options)), store_(store), deployments_(deployments), clock_(clock) {
  if (options_.start_threads) {
    if (!options_.webhook_url.empty()) sender_ = std::thread([this] { SenderLoop(); });
    sweeper_ = std::thread([this] { SweepLoop(); });
  }
}

ApprovalService::~ApprovalService() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (sender_.joinable()) sender_.join();
  if (sweeper_.joinable()) sweeper_.join();
}

absl::StatusOr<ApprovalPolicy> ApprovalService::PolicyFor(const std::string& endpoint) {
  return store_->GetPolicy(endpoint);
}

absl::StatusOr<ApprovalService::Held> ApprovalService::Open(
    const ApprovalPolicy& policy, const std::string& endpoint, const domain::ModelVersion& version,
    const std::string& strategy, std::optional<int64_t> previous_version,
    const json& deploy_request, const std::string& requested_by, const std::string& requester_role,
    const json& override, const json& validation) {
  const int64_t now = clock_->NowMillis();
  Held held;
  ApprovalRequest& r = held.request;
  r.id = absl::StrCat("apr-", FormatTimestamp(now).substr(0, 10), "-", RandomToken(6));
  domain::Deployment& d = held.deployment;
  d.id = absl::StrCat("dep-", FormatTimestamp(now).substr(0, 10), "-", RandomToken(6));
  d.endpoint = endpoint;
  d.model_name = version.model_name;
  d.version = version.version;
  d.strategy = strategy;
  d.state = "pending_approval";
  d.previous_version = previous_version;
  d.created_at_ms = d.updated_at_ms = now;
  d.message = absl::StrCat("waiting for ", policy.required_approvals, " approval",
                           policy.required_approvals == 1 ? "" : "s", " (", policy.approver_role,
                           ") on approval request ", r.id);
  r.endpoint = endpoint;
  r.model_name = version.model_name;
  r.version = version.version;
  r.deployment_id = d.id;
  r.requested_by = requested_by;
  r.requester_role = requester_role;
  r.state = "pending";
  r.deploy_request = deploy_request;
  r.policy = policy;
  r.override = override;
  r.validation = validation;
  r.created_at_ms = r.updated_at_ms = now;
  r.expires_at_ms = now + policy.expiry_seconds * 1000;
  HS_RETURN_IF_ERROR(deployments_->Insert(d));
  if (absl::Status s = store_->InsertRequest(r); !s.ok()) {
    d.state = "failed";
    d.message = absl::StrCat("could not record the approval request: ", s.message());
    (void)deployments_->Update(d);
    return s;
  }
  r.revision = 1;
  log::Info(
      "deploy held for approval",
      {{"approval", r.id}, {"deployment", d.id}, {"endpoint", endpoint}, {"by", requested_by}});
  Emit("approval.requested", r, false);
  return held;
}

void ApprovalService::MarkDeployment(const ApprovalRequest& r, const std::string& state,
                                     const std::string& message) {
  auto d = deployments_->Get(r.deployment_id);
  if (!d.ok()) return;
  if (d->state != "pending_approval") return;  // it moved on (started) already
  d->state = state;
  d->message = message;
  d->updated_at_ms = clock_->NowMillis();
  if (absl::Status s = deployments_->Update(*d); !s.ok()) {
    log::Warn("cannot update a held deployment",
              {{"deployment", r.deployment_id}, {"error", std::string(s.message())}});
  }
}

absl::StatusOr<ApprovalRequest> ApprovalService::ExpireIfDue(ApprovalRequest r) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (r.state != "pending" || clock_->NowMillis() < r.expires_at_ms) return r;
    ApprovalRequest next = r;
    next.state = "expired";
    next.message = absl::StrCat("expired at ", FormatTimestamp(r.expires_at_ms), " with ",
                                DistinctApprovals(r), " of ", r.policy.required_approvals,
                                " approvals; nothing was deployed");
    next.updated_at_ms = clock_->NowMillis();
    auto stored = store_->UpdateRequest(next);
    if (stored.ok()) {
      MarkDeployment(*stored, "expired", stored->message);
      log::Info("approval request expired", {{"approval", r.id}, {"endpoint", r.endpoint}});
      Emit("approval.expired", *stored, true);
      return stored;
    }
    if (!absl::IsAborted(stored.status())) return stored.status();
    HS_ASSIGN_OR_RETURN(r, store_->GetRequest(r.id));
  }
  return absl::AbortedError("the approval request keeps changing; try again");
}

absl::StatusOr<ApprovalRequest> ApprovalService::Get(const std::string& id) {
  HS_ASSIGN_OR_RETURN(ApprovalRequest r, store_->GetRequest(id));
  return ExpireIfDue(std::move(r));
}

absl::StatusOr<std::vector<ApprovalRequest>> ApprovalService::List(
    const registry::ApprovalFilter& f) {
  Sweep();  // so a listing never shows a request as pending after its expiry
  return store_->ListRequests(f);
}

absl::StatusOr<ApprovalRequest> ApprovalService::Decide(const std::string& id,
                                                        const std::string& actor,
                                                        const std::string& role,
                                                        const std::string& decision,
                                                        const std::string& comment) {
  if (decision != "approve" && decision != "reject") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown decision '", decision, "' (approve, reject)"));
  }
  if (decision == "reject" && comment.empty()) {
    return absl::InvalidArgumentError("comment: a rejection needs a comment saying why");
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    HS_ASSIGN_OR_RETURN(ApprovalRequest r, Get(id));
    if (r.state != "pending") {
      return absl::FailedPreconditionError(absl::StrCat(
          "approval request ", id, " is ", r.state, (r.message.empty() ? "" : ": "), r.message));
    }
    if (!RoleSatisfies(role, r.policy.approver_role)) {
      return absl::PermissionDeniedError(
          absl::StrCat("deciding on deploys to endpoint '", r.endpoint, "' needs the role '",
                       r.policy.approver_role, "' (or admin); this token's role is '", role, "'"));
    }
    if (decision == "approve" && actor == r.requested_by && !r.policy.allow_self_approval) {
      return absl::PermissionDeniedError(
          absl::StrCat("separation of duties: '", actor,
                       "' requested this deploy and cannot approve it; "
                       "another approver must"));
    }
    if (decision == "approve") {
      for (const auto& d : r.decisions) {
        if (d.decision == "approve" && d.actor == actor) {
          return absl::AlreadyExistsError(absl::StrCat(
              "'", actor, "' already approved request ", id, "; a person counts once (",
              DistinctApprovals(r), " of ", r.policy.required_approvals, " approvals)"));
        }
      }
    }
    ApprovalRequest next = r;
    const int64_t now = clock_->NowMillis();
    next.decisions.push_back({actor, role, decision, comment, now});
    next.updated_at_ms = now;
    if (decision == "reject") {
      next.state = "rejected";
      next.message = absl::StrCat("rejected by ", actor, ": ", comment);
    } else if (DistinctApprovals(next) >= r.policy.required_approvals) {
      next.state = "approved";
      next.message = absl::StrCat("approved by ", DistinctApprovals(next), " of ",
                                  r.policy.required_approvals, "; starting the deploy");
    } else {
      next.message =
          absl::StrCat(DistinctApprovals(next), " of ", r.policy.required_approvals, " approvals");
    }
    auto stored = store_->UpdateRequest(next);
    if (absl::IsAborted(stored.status())) continue;  // someone else decided meanwhile: re-read
    if (!stored.ok()) return stored.status();
    log::Info("approval decision",
              {{"approval", id}, {"by", actor}, {"decision", decision}, {"state", stored->state}});
    Emit(decision == "approve" ? "approval.approve" : "approval.reject", *stored, false);
    if (stored->state == "rejected") {
      MarkDeployment(*stored, "rejected", stored->message);
      Emit("approval.rejected", *stored, false);
      return stored;
    }
    if (stored->state == "approved") {
      Emit("approval.approved", *stored, false);
      return StartDeploy(*std::move(stored), false);
    }
    return stored;
  }
  return absl::AbortedError("the approval request keeps changing; try again");
}

ApprovalRequest ApprovalService::StartDeploy(ApprovalRequest r, bool system) {
  absl::StatusOr<domain::Deployment> d =
      starter_ ? starter_(r)
               : absl::StatusOr<domain::Deployment>(
                     absl::FailedPreconditionError("no deploy starter configured"));
  ApprovalRequest next = r;
  next.updated_at_ms = clock_->NowMillis();
  if (d.ok()) {
    next.state = "deployed";
    next.message = absl::StrCat("deployment ", d->id, " started");
  } else {
    next.state = "failed";
    next.message = absl::StrCat("approved, but the deploy could not start: ", d.status().message());
    MarkDeployment(r, "failed", next.message);
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto stored = store_->UpdateRequest(next);
    if (stored.ok()) {
      Emit(next.state == "deployed" ? "approval.deployed" : "approval.failed", *stored, system);
      return *stored;
    }
    if (!absl::IsAborted(stored.status())) {
      log::Error("cannot record an approved deploy's start",
                 {{"approval", r.id}, {"error", std::string(stored.status().message())}});
      break;
    }
    auto again = store_->GetRequest(r.id);
    if (!again.ok()) break;
    next.revision = again->revision;
  }
  return next;
}

void ApprovalService::Sweep() {
  registry::ApprovalFilter f;
  f.state = "pending";
  f.limit = 1000;
  auto pending = store_->ListRequests(f);
  if (!pending.ok()) return;
  for (ApprovalRequest& r : *pending) {
    if (clock_->NowMillis() >= r.expires_at_ms) (void)ExpireIfDue(std::move(r));
  }
}

void ApprovalService::Resume() {
  registry::ApprovalFilter f;
  f.state = "approved";
  f.limit = 1000;
  auto approved = store_->ListRequests(f);
  if (approved.ok()) {
    for (ApprovalRequest& r : *approved) {
      auto d = deployments_->Get(r.deployment_id);
      if (d.ok() && d->state == "pending_approval") {
        log::Info("starting an approved deploy after restart",
                  {{"approval", r.id}, {"deployment", r.deployment_id}});
        StartDeploy(std::move(r), true);
      } else {
        // It had started before the restart: record that, do not start it again.
        ApprovalRequest next = r;
        next.state = "deployed";
        next.message = absl::StrCat("deployment ", r.deployment_id, " started");
        next.updated_at_ms = clock_->NowMillis();
        (void)store_->UpdateRequest(next);
      }
    }
  }
  Sweep();
}

void ApprovalService::Emit(const std::string& event, const ApprovalRequest& r, bool system) {
  if (listener_) listener_(event, r, system);
  if (options_.webhook_url.empty()) return;
  json body = {{"event", event},
               {"at", FormatTimestamp(clock_->NowMillis())},
               {"approval", registry::ToJson(r)}};
  absl::MutexLock lock(&mu_);
  if (outbox_.size() >= options_.webhook_queue) {
    webhook_dropped_.fetch_add(1);
    return;
  }
  outbox_.push_back(body.dump());
}

void ApprovalService::SenderLoop() {
  CURL* curl = curl_easy_init();
  for (;;) {
    std::string body;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ApprovalService* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return s->stopping_ || !s->outbox_.empty();
          },
          this));
      if (stopping_) break;  // events not sent yet are dropped at shutdown
      body = std::move(outbox_.front());
      outbox_.pop_front();
    }
    bool ok = false;
    for (int attempt = 0; attempt < options_.webhook_attempts && !ok; ++attempt) {
      if (attempt > 0) absl::SleepFor(absl::Milliseconds(200 * attempt));
      ok = IsSuccess(PostJsonOnce(curl, options_.webhook_url, body, options_.webhook_timeout_ms));
    }
    (ok ? webhook_sent_ : webhook_failed_).fetch_add(1);
    if (!ok) {
      log::Warn("approval webhook failed",
                {{"url", options_.webhook_url}, {"attempts", options_.webhook_attempts}});
    }
  }
  curl_easy_cleanup(curl);
}

void ApprovalService::SweepLoop() {
  // One sweep at once: besides expiring what expired while the server was down, it makes this
  // thread's first allocations (its malloc arena, the database pages it reads) at start-up
  // rather than a second into serving, so resident memory does not step up later.
  Sweep();
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(options_.sweep_ms));
      if (stopping_) return;
    }
    Sweep();
  }
}

std::string ApprovalService::RenderMetrics() const {
  return absl::StrCat(
      "# HELP hotswap_approval_webhook_total Approval events posted to the webhook, by result.\n"
      "# TYPE hotswap_approval_webhook_total counter\n",
      "hotswap_approval_webhook_total{result=\"sent\"} ", webhook_sent_.load(), "\n",
      "hotswap_approval_webhook_total{result=\"failed\"} ", webhook_failed_.load(), "\n",
      "hotswap_approval_webhook_total{result=\"dropped\"} ", webhook_dropped_.load(), "\n");
}

}  // namespace hotswap::governance
