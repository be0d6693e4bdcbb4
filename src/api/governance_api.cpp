#include "api/governance_api.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/audit_api.h"
#include "common/names.h"
#include "common/status.h"

namespace hotswap::api {

using http::HttpRequest;
using http::HttpResponse;
using nlohmann::json;
using registry::ApprovalPolicy;
using registry::ApprovalRequest;

namespace {

HttpResponse Bad(const std::string& message) {
  return HttpResponse::Error(absl::InvalidArgumentError(message));
}

// The request body as a JSON object ("" = {}); InvalidArgument otherwise.
absl::StatusOr<json> BodyObject(const HttpRequest& req) {
  if (req.body.empty()) return json::object();
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("request body must be a JSON object");
  }
  return j;
}

absl::Status OnlyKnownFields(const json& j, const std::set<std::string>& allowed) {
  for (const auto& item : j.items()) {
    if (!allowed.count(item.key())) {
      std::vector<std::string> names(allowed.begin(), allowed.end());
      return absl::InvalidArgumentError(
          absl::StrCat("unknown field '", item.key(), "'; allowed: ", absl::StrJoin(names, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::Status OnlyKnownQuery(const HttpRequest& req, const std::set<std::string>& allowed) {
  for (const auto& [key, value] : req.query) {
    if (!allowed.count(key)) {
      std::vector<std::string> names(allowed.begin(), allowed.end());
      return absl::InvalidArgumentError(absl::StrCat("unknown query parameter '", key,
                                                     "'; allowed: ", absl::StrJoin(names, ", ")));
    }
  }
  return absl::OkStatus();
}

json PolicyJson(const ApprovalPolicy& p) {
  json j = registry::ToJson(p);
  j.erase("updated_at_ms");
  j["updated_at"] = FormatTimestamp(p.updated_at_ms);
  return j;
}

int CountApprovals(const ApprovalRequest& r) {
  std::set<std::string> who;
  for (const auto& d : r.decisions) {
    if (d.decision == "approve") who.insert(d.actor);
  }
  return static_cast<int>(who.size());
}

std::string VersionTarget(const std::string& model, int64_t version) {
  return absl::StrCat("model/", model, "/version/", version);
}

json ApprovalSummary(const ApprovalRequest& r) {
  return {{"id", r.id},
          {"endpoint", r.endpoint},
          {"model", r.model_name},
          {"version", r.version},
          {"deployment_id", r.deployment_id},
          {"state", r.state},
          {"approvals", CountApprovals(r)},
          {"required_approvals", r.policy.required_approvals}};
}

json ReportSummary(const json& report) {
  if (!report.is_object()) return nullptr;
  return {{"passed", report.value("passed", false)},
          {"failed_gates", report.value("failed_gates", json::array())},
          {"context", report.value("context", "")}};
}

}  // namespace

json ApprovalJson(const ApprovalRequest& r) {
  json j = registry::ToJson(r);
  for (const char* k : {"created_at_ms", "expires_at_ms", "updated_at_ms"}) j.erase(k);
  j["created_at"] = FormatTimestamp(r.created_at_ms);
  j["expires_at"] = FormatTimestamp(r.expires_at_ms);
  j["updated_at"] = FormatTimestamp(r.updated_at_ms);
  j["approvals"] = CountApprovals(r);
  j["required_approvals"] = r.policy.required_approvals;
  for (auto& d : j["decisions"]) {
    d["at"] = FormatTimestamp(d.value("at_ms", int64_t{0}));
    d.erase("at_ms");
  }
  return j;
}

GovernanceApi::GovernanceApi(Options options, registry::ModelRegistry* registry,
                             registry::GovernanceStore* store,
                             governance::ApprovalService* approvals,
                             governance::ValidationPipeline* validation,
                             serving::DeploymentService* deployments,
                             serving::ModelManager* manager)
    : options_(options),
      registry_(registry),
      store_(store),
      approvals_(approvals),
      validation_(validation),
      deployments_(deployments),
      manager_(manager) {
  approvals_->SetDeployStarter([this](const ApprovalRequest& r) { return StartApproved(r); });
}

void GovernanceApi::RegisterRoutes(http::Router* router) {
  auto bind = [this](HttpResponse (GovernanceApi::*fn)(HttpRequest&)) {
    return [this, fn](HttpRequest& req) { return (this->*fn)(req); };
  };
  router->Add("PUT", "/api/v1/approval-policies/{endpoint}", "admin",
              bind(&GovernanceApi::PutPolicy));
  router->Add("GET", "/api/v1/approval-policies", "read", bind(&GovernanceApi::ListPolicies));
  router->Add("GET", "/api/v1/approval-policies/{endpoint}", "read",
              bind(&GovernanceApi::GetPolicy));
  router->Add("DELETE", "/api/v1/approval-policies/{endpoint}", "admin",
              bind(&GovernanceApi::DeletePolicy));
  router->Add("GET", "/api/v1/approvals", "read", bind(&GovernanceApi::ListApprovals));
  router->Add("GET", "/api/v1/approvals/{id}", "read", bind(&GovernanceApi::GetApproval));
  // Who may decide is the policy's business (its approver_role), checked by the service.
  router->Add("POST", "/api/v1/approvals/{id}/{action}", "read", bind(&GovernanceApi::Decide));
  router->Add("GET", "/api/v1/models/{name}/versions/{version}/validation", "read",
              bind(&GovernanceApi::GetValidation));
  router->Add("POST", "/api/v1/models/{name}/versions/{version}/validation", "deploy",
              bind(&GovernanceApi::RunValidation));
}

HttpResponse GovernanceApi::PutPolicy(HttpRequest& req) {
  auto body = BodyObject(req);
  if (!body.ok()) return HttpResponse::Error(body.status());
  const json& j = *body;
  if (auto s = OnlyKnownFields(
          j, {"environment", "required_approvals", "approver_role", "allow_self_approval",
              "expiry_seconds", "require_validation", "allow_override", "override_role"});
      !s.ok()) {
    return HttpResponse::Error(s);
  }
  ApprovalPolicy p;
  p.endpoint = req.Param("endpoint");
  std::vector<std::string> errors;
  auto str = [&](const char* key, std::string* out) {
    if (!j.contains(key)) return;
    if (!j[key].is_string()) {
      errors.push_back(absl::StrCat(key, ": expected a string"));
      return;
    }
    *out = j[key].get<std::string>();
  };
  auto boolean = [&](const char* key, bool* out) {
    if (!j.contains(key)) return;
    if (!j[key].is_boolean()) {
      errors.push_back(absl::StrCat(key, ": expected true or false"));
      return;
    }
    *out = j[key].get<bool>();
  };
  auto integer = [&](const char* key, int64_t* out) {
    if (!j.contains(key)) return;
    if (!j[key].is_number_integer()) {
      errors.push_back(absl::StrCat(key, ": expected an integer"));
      return;
    }
    *out = j[key].get<int64_t>();
  };
  int64_t required = p.required_approvals;
  str("environment", &p.environment);
  integer("required_approvals", &required);
  str("approver_role", &p.approver_role);
  boolean("allow_self_approval", &p.allow_self_approval);
  integer("expiry_seconds", &p.expiry_seconds);
  boolean("require_validation", &p.require_validation);
  boolean("allow_override", &p.allow_override);
  str("override_role", &p.override_role);
  if (!errors.empty()) return Bad(absl::StrJoin(errors, "; "));
  if (required < 1 || required > 10)
    return Bad("required_approvals: expected an integer from 1 to 10");
  p.required_approvals = static_cast<int>(required);
  if (absl::Status s = governance::ValidatePolicy(p); !s.ok()) return HttpResponse::Error(s);
  p.updated_by = req.principal;
  p.updated_at_ms = options_.clock->NowMillis();
  json before = nullptr;
  if (auto old = store_->GetPolicy(p.endpoint); old.ok()) before = PolicyJson(*old);
  auto created = store_->PutPolicy(p);
  if (!created.ok()) return HttpResponse::Error(created.status());
  RecordChange(options_.audit, req, "approval_policy.set", "endpoint/" + p.endpoint, before,
               PolicyJson(p));
  return HttpResponse::Json(*created ? 201 : 200, PolicyJson(p));
}

HttpResponse GovernanceApi::ListPolicies(HttpRequest&) {
  auto list = store_->ListPolicies();
  if (!list.ok()) return HttpResponse::Error(list.status());
  json out = {{"policies", json::array()}};
  for (const auto& p : *list) out["policies"].push_back(PolicyJson(p));
  return HttpResponse::Json(200, out);
}

HttpResponse GovernanceApi::GetPolicy(HttpRequest& req) {
  auto p = store_->GetPolicy(req.Param("endpoint"));
  if (!p.ok()) return HttpResponse::Error(p.status());
  return HttpResponse::Json(200, PolicyJson(*p));
}

HttpResponse GovernanceApi::DeletePolicy(HttpRequest& req) {
  const std::string& endpoint = req.Param("endpoint");
  auto old = store_->GetPolicy(endpoint);
  if (!old.ok()) return HttpResponse::Error(old.status());
  if (absl::Status s = store_->DeletePolicy(endpoint); !s.ok()) return HttpResponse::Error(s);
  RecordChange(options_.audit, req, "approval_policy.delete", "endpoint/" + endpoint,
               PolicyJson(*old), nullptr);
  return HttpResponse::NoContent();
}

HttpResponse GovernanceApi::ListApprovals(HttpRequest& req) {
  if (auto s = OnlyKnownQuery(req, {"state", "endpoint", "model", "limit"}); !s.ok()) {
    return HttpResponse::Error(s);
  }
  registry::ApprovalFilter f;
  f.state = req.QueryOr("state", "");
  static const std::set<std::string> kStates = {"pending", "approved", "deployed",
                                                "failed",  "rejected", "expired"};
  if (!f.state.empty() && !kStates.count(f.state)) {
    return Bad(absl::StrCat("state: '", f.state,
                            "' is not one of pending, approved, deployed, failed, rejected, "
                            "expired"));
  }
  f.endpoint = req.QueryOr("endpoint", "");
  f.model = req.QueryOr("model", "");
  std::string limit = req.QueryOr("limit", "100");
  if (!absl::SimpleAtoi(limit, &f.limit) || f.limit < 1 || f.limit > 1000) {
    return Bad("limit: expected an integer from 1 to 1000");
  }
  auto list = approvals_->List(f);
  if (!list.ok()) return HttpResponse::Error(list.status());
  json out = {{"approvals", json::array()}};
  for (const auto& r : *list) out["approvals"].push_back(ApprovalJson(r));
  return HttpResponse::Json(200, out);
}

HttpResponse GovernanceApi::GetApproval(HttpRequest& req) {
  auto r = approvals_->Get(req.Param("id"));
  if (!r.ok()) return HttpResponse::Error(r.status());
  return HttpResponse::Json(200, ApprovalJson(*r));
}

HttpResponse GovernanceApi::Decide(HttpRequest& req) {
  const std::string& id = req.Param("id");
  const std::string& action = req.Param("action");
  if (action != "approve" && action != "reject") {
    return HttpResponse::Error(
        absl::NotFoundError(absl::StrCat("unknown action '", action, "' (approve, reject)")));
  }
  auto body = BodyObject(req);
  if (!body.ok()) return HttpResponse::Error(body.status());
  if (auto s = OnlyKnownFields(*body, {"comment"}); !s.ok()) return HttpResponse::Error(s);
  std::string comment;
  if (body->contains("comment")) {
    if (!(*body)["comment"].is_string()) return Bad("comment: expected a string");
    comment = (*body)["comment"].get<std::string>();
    if (comment.size() > 4096) return Bad("comment: at most 4096 characters");
  }
  json before = nullptr;
  if (auto old = store_->GetRequest(id); old.ok()) before = ApprovalSummary(*old);
  auto r = approvals_->Decide(id, req.principal, req.principal_role, action, comment);
  if (!r.ok()) return HttpResponse::Error(r.status());
  json after = ApprovalSummary(*r);
  after["comment"] = comment;
  RecordChange(options_.audit, req, "approval." + action, "approval/" + id, before, after);
  return HttpResponse::Json(200, ApprovalJson(*r));
}

absl::StatusOr<domain::ModelVersion> GovernanceApi::ResolveVersion(const HttpRequest& req) {
  const std::string& name = req.Param("name");
  const std::string& v = req.Param("version");
  int64_t number = 0;
  if (absl::SimpleAtoi(v, &number)) {
    if (number < 1)
      return absl::InvalidArgumentError(absl::StrCat("version: '", v, "' must be >= 1"));
    return registry_->GetVersion(name, number);
  }
  HS_RETURN_IF_ERROR(ValidateName(v, "version (number or alias)"));
  return registry_->GetVersionByAlias(name, v);
}

HttpResponse GovernanceApi::GetValidation(HttpRequest& req) {
  if (auto s = OnlyKnownQuery(req, {"endpoint"}); !s.ok()) return HttpResponse::Error(s);
  auto v = ResolveVersion(req);
  if (!v.ok()) return HttpResponse::Error(v.status());
  auto record_json = [](const registry::ValidationRecord& r) {
    return json{{"context", r.context},
                {"state", r.state},
                {"updated_at", FormatTimestamp(r.updated_at_ms)},
                {"report", r.report}};
  };
  std::string endpoint = req.QueryOr("endpoint", "");
  if (!endpoint.empty()) {
    auto r = store_->GetValidation(v->model_name, v->version, "endpoint:" + endpoint);
    if (!r.ok()) return HttpResponse::Error(r.status());
    json out = record_json(*r);
    out["model"] = v->model_name;
    out["version"] = v->version;
    return HttpResponse::Json(200, out);
  }
  auto list = store_->ListValidations(v->model_name, v->version);
  if (!list.ok()) return HttpResponse::Error(list.status());
  json out = {{"model", v->model_name},
              {"version", v->version},
              {"state", "none"},
              {"reports", json::array()}};
  for (const auto& r : *list) {
    if (r.context == "registration") out["state"] = r.state;
    out["reports"].push_back(record_json(r));
  }
  return HttpResponse::Json(200, out);
}

HttpResponse GovernanceApi::RunValidation(HttpRequest& req) {
  auto body = BodyObject(req);
  if (!body.ok()) return HttpResponse::Error(body.status());
  if (auto s = OnlyKnownFields(*body, {"endpoint"}); !s.ok()) return HttpResponse::Error(s);
  std::string endpoint;
  if (body->contains("endpoint")) {
    if (!(*body)["endpoint"].is_string()) return Bad("endpoint: expected a string");
    endpoint = (*body)["endpoint"].get<std::string>();
    if (absl::Status s = ValidateName(endpoint, "endpoint"); !s.ok()) return HttpResponse::Error(s);
  }
  auto v = ResolveVersion(req);
  if (!v.ok()) return HttpResponse::Error(v.status());
  governance::ValidationReport report;
  if (endpoint.empty()) {
    report = validation_->Run(*v, "");
    absl::Status s = store_->PutValidation(
        {v->model_name, v->version, "registration", report.passed ? "passed" : "failed",
         governance::ToJson(report), options_.clock->NowMillis()});
    if (!s.ok()) return HttpResponse::Error(s);
  } else {
    auto r = validation_->ForDeploy(*v, endpoint, /*force_fresh=*/true);
    if (!r.ok()) return HttpResponse::Error(r.status());
    report = *std::move(r);
  }
  return HttpResponse::Json(200, governance::ToJson(report));
}

std::optional<HttpResponse> GovernanceApi::GuardDeploy(HttpRequest& req, serving::DeployRequest* dr,
                                                       const json& override) {
  auto prepared = deployments_->Prepare(*dr);
  if (!prepared.ok()) return std::nullopt;  // Create() reports the same problem
  const std::string& endpoint = prepared->endpoint;
  std::optional<ApprovalPolicy> policy;
  if (auto p = approvals_->PolicyFor(endpoint); p.ok()) {
    policy = *std::move(p);
  } else if (!absl::IsNotFound(p.status())) {
    return HttpResponse::Error(p.status());
  }
  const bool gated = (policy && policy->require_validation) || options_.validate_all_deploys;
  if (!override.is_null() && !gated) {
    return Bad(absl::StrCat("override: deploys to endpoint '", endpoint,
                            "' are not gated by validation; there is nothing to override"));
  }
  json validation = nullptr;
  json override_record = nullptr;
  if (gated) {
    auto report = validation_->ForDeploy(prepared->version, endpoint);
    if (!report.ok()) return HttpResponse::Error(report.status());
    validation = governance::ToJson(*report);
    if (!report->passed) {
      const std::string failed = absl::StrJoin(report->FailedGates(), ", ");
      auto refuse = [&](int status, const char* code, const std::string& message) {
        json body = {{"error", {{"code", code}, {"message", message}}}, {"validation", validation}};
        return HttpResponse::Json(status, body);
      };
      if (override.is_null()) {
        return refuse(422, "validation_failed",
                      absl::StrCat("version ", prepared->version.version, " of model '",
                                   prepared->version.model_name, "' failed the validation gates (",
                                   failed, ") for endpoint '", endpoint,
                                   "'; nothing was deployed (see `validation`)"));
      }
      if (!policy || !policy->allow_override) {
        return refuse(403, "permission_denied",
                      policy ? absl::StrCat("the approval policy of endpoint '", endpoint,
                                            "' does not allow overriding a failed validation")
                             : absl::StrCat("endpoint '", endpoint,
                                            "' has no approval policy that allows overriding a "
                                            "failed validation"));
      }
      if (!governance::RoleSatisfies(req.principal_role, policy->override_role)) {
        return refuse(
            403, "permission_denied",
            absl::StrCat("overriding a failed validation on endpoint '", endpoint,
                         "' needs the role '", policy->override_role,
                         "' (or admin); this token's role is '", req.principal_role, "'"));
      }
      override_record = {{"by", req.principal},
                         {"role", req.principal_role},
                         {"reason", override["reason"]},
                         {"failed_gates", report->FailedGates()}};
      json after = override_record;
      after["endpoint"] = endpoint;
      RecordChange(options_.audit, req, "validation.override",
                   VersionTarget(prepared->version.model_name, prepared->version.version),
                   ReportSummary(validation), after);
    }
  }
  // Deploy exactly what was validated, even if the alias moves meanwhile.
  dr->version = prepared->version.version;
  dr->alias.clear();
  if (!policy) return std::nullopt;

  json body = dr->options;
  body.erase("alias");
  body["version"] = prepared->version.version;
  body["model"] = prepared->version.model_name;
  body["endpoint"] = endpoint;
  body["strategy"] = dr->strategy;
  std::optional<int64_t> previous;
  if (auto ep = manager_->Find(endpoint)) previous = ep->primary->version;
  auto held = approvals_->Open(*policy, endpoint, prepared->version, dr->strategy, previous, body,
                               req.principal, req.principal_role, override_record, validation);
  if (!held.ok()) return HttpResponse::Error(held.status());
  RecordChange(options_.audit, req, "approval.request", "approval/" + held->request.id, nullptr,
               ApprovalSummary(held->request));
  json out = domain::ToJson(held->deployment);
  out["approval_id"] = held->request.id;
  out["approval"] = ApprovalJson(held->request);
  out["validation"] = validation;
  HttpResponse r = HttpResponse::Json(202, out);
  r.headers.emplace_back("Location", "/api/v1/deployments/" + held->deployment.id);
  return r;
}

absl::Status GovernanceApi::CheckUngated(const std::string& endpoint) {
  auto p = approvals_->PolicyFor(endpoint);
  if (p.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("endpoint '", endpoint,
                     "' has an approval policy: deploy with POST /api/v1/deployments, "
                     "where the deploy is validated and held for approval"));
  }
  if (!absl::IsNotFound(p.status())) return p.status();
  if (options_.validate_all_deploys) {
    return absl::FailedPreconditionError(absl::StrCat(
        "deploys are validated on this server (validate_all_deploys): deploy endpoint '", endpoint,
        "' with POST /api/v1/deployments"));
  }
  return absl::OkStatus();
}

absl::StatusOr<domain::Deployment> GovernanceApi::StartApproved(const ApprovalRequest& r) {
  const json& j = r.deploy_request;
  serving::DeployRequest dr;
  dr.options = j;
  dr.model = j.value("model", r.model_name);
  dr.version = j.value("version", r.version);
  dr.endpoint = j.value("endpoint", r.endpoint);
  dr.strategy = j.value("strategy", std::string("direct"));
  dr.requested_by = r.requested_by;
  dr.id = r.deployment_id;
  governance::AuditLog* audit = options_.audit;
  const std::string approval = r.id;
  dr.on_applied = [audit, approval, &r](const domain::Deployment& d) {
    RecordSystemChange(audit, "deployment.create", "endpoint/" + d.endpoint, "", nullptr,
                       json{{"id", d.id},
                            {"model", d.model_name},
                            {"version", d.version},
                            {"strategy", d.strategy},
                            {"state", d.state},
                            {"approval", approval},
                            {"requested_by", r.requested_by}});
  };
  return deployments_->Create(dr);
}

}  // namespace hotswap::api
