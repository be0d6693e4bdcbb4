#include "registry/governance_store.h"

#include "absl/strings/str_cat.h"

namespace hotswap::registry {

using nlohmann::json;

namespace {

// Reads j[key] into *out when present; InvalidArgument when it has the wrong type.
template <typename T>
absl::Status Field(const json& j, const char* key, T* out) {
  if (!j.contains(key) || j[key].is_null()) return absl::OkStatus();
  try {
    *out = j[key].get<T>();
  } catch (const json::exception&) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": wrong type"));
  }
  return absl::OkStatus();
}

#define HS_FIELD(j, key, out) \
  if (absl::Status s = Field(j, key, out); !s.ok()) return s

}  // namespace

json ToJson(const ApprovalPolicy& p) {
  return {{"endpoint", p.endpoint},
          {"environment", p.environment},
          {"required_approvals", p.required_approvals},
          {"approver_role", p.approver_role},
          {"allow_self_approval", p.allow_self_approval},
          {"expiry_seconds", p.expiry_seconds},
          {"require_validation", p.require_validation},
          {"allow_override", p.allow_override},
          {"override_role", p.override_role},
          {"updated_by", p.updated_by},
          {"updated_at_ms", p.updated_at_ms}};
}

absl::StatusOr<ApprovalPolicy> ApprovalPolicyFromJson(const json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("policy: expected an object");
  ApprovalPolicy p;
  HS_FIELD(j, "endpoint", &p.endpoint);
  HS_FIELD(j, "environment", &p.environment);
  HS_FIELD(j, "required_approvals", &p.required_approvals);
  HS_FIELD(j, "approver_role", &p.approver_role);
  HS_FIELD(j, "allow_self_approval", &p.allow_self_approval);
  HS_FIELD(j, "expiry_seconds", &p.expiry_seconds);
  HS_FIELD(j, "require_validation", &p.require_validation);
  HS_FIELD(j, "allow_override", &p.allow_override);
  HS_FIELD(j, "override_role", &p.override_role);
  HS_FIELD(j, "updated_by", &p.updated_by);
  HS_FIELD(j, "updated_at_ms", &p.updated_at_ms);
  return p;
}

json ToJson(const ApprovalRequest& r) {
  json decisions = json::array();
  for (const auto& d : r.decisions) {
    decisions.push_back({{"actor", d.actor},
                         {"role", d.role},
                         {"decision", d.decision},
                         {"comment", d.comment},
                         {"at_ms", d.at_ms}});
  }
  return {{"id", r.id},
          {"endpoint", r.endpoint},
          {"model", r.model_name},
          {"version", r.version},
          {"deployment_id", r.deployment_id},
          {"requested_by", r.requested_by},
          {"requester_role", r.requester_role},
          {"state", r.state},
          {"deploy_request", r.deploy_request},
          {"policy", ToJson(r.policy)},
          {"decisions", decisions},
          {"override", r.override},
          {"validation", r.validation},
          {"message", r.message},
          {"created_at_ms", r.created_at_ms},
          {"expires_at_ms", r.expires_at_ms},
          {"updated_at_ms", r.updated_at_ms},
          {"revision", r.revision}};
}

absl::StatusOr<ApprovalRequest> ApprovalRequestFromJson(const json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("approval request: expected an object");
  ApprovalRequest r;
  HS_FIELD(j, "id", &r.id);
  HS_FIELD(j, "endpoint", &r.endpoint);
  HS_FIELD(j, "model", &r.model_name);
  HS_FIELD(j, "version", &r.version);
  HS_FIELD(j, "deployment_id", &r.deployment_id);
  HS_FIELD(j, "requested_by", &r.requested_by);
  HS_FIELD(j, "requester_role", &r.requester_role);
  HS_FIELD(j, "state", &r.state);
  if (j.contains("deploy_request")) r.deploy_request = j["deploy_request"];
  if (j.contains("policy")) {
    auto p = ApprovalPolicyFromJson(j["policy"]);
    if (!p.ok()) return p.status();
    r.policy = *std::move(p);
  }
  if (j.contains("decisions") && j["decisions"].is_array()) {
    for (const auto& d : j["decisions"]) {
      ApprovalDecision x;
      HS_FIELD(d, "actor", &x.actor);
      HS_FIELD(d, "role", &x.role);
      HS_FIELD(d, "decision", &x.decision);
      HS_FIELD(d, "comment", &x.comment);
      HS_FIELD(d, "at_ms", &x.at_ms);
      r.decisions.push_back(std::move(x));
    }
  }
  if (j.contains("override")) r.override = j["override"];
  if (j.contains("validation")) r.validation = j["validation"];
  HS_FIELD(j, "message", &r.message);
  HS_FIELD(j, "created_at_ms", &r.created_at_ms);
  HS_FIELD(j, "expires_at_ms", &r.expires_at_ms);
  HS_FIELD(j, "updated_at_ms", &r.updated_at_ms);
  HS_FIELD(j, "revision", &r.revision);
  return r;
}

}  // namespace hotswap::registry
