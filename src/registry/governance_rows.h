// The SQL of the governance store (tables of migration 7), shared by the SQLite and PostgreSQL
// implementations: each function runs inside the caller's transaction (`Txn` is
// registry::Transaction or registry::PgTransaction). Statements are written with SQLite's `?N`
// placeholders; Q() turns them into PostgreSQL's `$N`. Internal to src/registry.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status.h"
#include "registry/governance_store.h"
#include "registry/registry_rows.h"

namespace hotswap::registry::rows {

template <typename Txn>
struct GovernanceSql {
  Txn& txn;
  bool pg;

  std::string Q(std::string_view sql) const {
    std::string s(sql);
    if (pg) s = absl::StrReplaceAll(s, {{"?", "$"}});
    return s;
  }

  absl::StatusOr<bool> PutPolicy(const ApprovalPolicy& p) {
    HS_ASSIGN_OR_RETURN(auto sel,
                        txn.Prepare(Q("SELECT 1 FROM approval_policies WHERE endpoint = ?1")));
    sel.BindText(1, p.endpoint);
    HS_ASSIGN_OR_RETURN(bool exists, sel.Step());
    HS_ASSIGN_OR_RETURN(
        auto st, txn.Prepare(Q("INSERT INTO approval_policies (endpoint, environment, policy_json, "
                               "updated_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (endpoint) DO "
                               "UPDATE SET environment = excluded.environment, policy_json = "
                               "excluded.policy_json, updated_at = excluded.updated_at")));
    st.BindText(1, p.endpoint).BindText(2, p.environment).BindText(3, ToJson(p).dump());
    st.BindInt64(4, p.updated_at_ms);
    HS_RETURN_IF_ERROR(st.Run());
    return !exists;
  }

  absl::StatusOr<std::vector<ApprovalPolicy>> Policies(const std::string* endpoint) {
    HS_ASSIGN_OR_RETURN(
        auto st,
        txn.Prepare(Q(absl::StrCat("SELECT policy_json FROM approval_policies",
                                   endpoint ? " WHERE endpoint = ?1" : "", " ORDER BY endpoint"))));
    if (endpoint) st.BindText(1, *endpoint);
    std::vector<ApprovalPolicy> out;
    while (true) {
      HS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      HS_ASSIGN_OR_RETURN(ApprovalPolicy p, ApprovalPolicyFromJson(nlohmann::json::parse(
                                                st.ColumnText(0), nullptr, false)));
      out.push_back(std::move(p));
    }
    return out;
  }

  absl::StatusOr<bool> DeletePolicy(const std::string& endpoint) {
    HS_ASSIGN_OR_RETURN(std::vector<ApprovalPolicy> found, Policies(&endpoint));
    if (found.empty()) return false;
    HS_ASSIGN_OR_RETURN(auto st,
                        txn.Prepare(Q("DELETE FROM approval_policies WHERE endpoint = ?1")));
    st.BindText(1, endpoint);
    HS_RETURN_IF_ERROR(st.Run());
    return true;
  }

  absl::StatusOr<std::vector<ApprovalRequest>> Requests(const ApprovalFilter& f,
                                                        const std::string* id) {
    std::string where;
    std::vector<std::string> binds;
    auto add = [&](const char* column, const std::string& value) {
      binds.push_back(value);
      absl::StrAppend(&where, where.empty() ? " WHERE " : " AND ", column, " = ?", binds.size());
    };
    if (id) add("id", *id);
    if (!f.state.empty()) add("state", f.state);
    if (!f.endpoint.empty()) add("endpoint", f.endpoint);
    if (!f.model.empty()) add("model_name", f.model);
    HS_ASSIGN_OR_RETURN(
        auto st,
        txn.Prepare(Q(absl::StrCat("SELECT record_json, revision FROM approval_requests", where,
                                   " ORDER BY created_at DESC, id DESC LIMIT ", f.limit))));
    for (size_t i = 0; i < binds.size(); ++i) st.BindText(static_cast<int>(i + 1), binds[i]);
    std::vector<ApprovalRequest> out;
    while (true) {
      HS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      HS_ASSIGN_OR_RETURN(ApprovalRequest r, ApprovalRequestFromJson(nlohmann::json::parse(
                                                 st.ColumnText(0), nullptr, false)));
      r.revision = st.ColumnInt64(1);
      out.push_back(std::move(r));
    }
    return out;
  }

  absl::Status InsertRequest(const ApprovalRequest& in) {
    ApprovalRequest r = in;
    r.revision = 1;
    ApprovalFilter all;
    HS_ASSIGN_OR_RETURN(auto existing, Requests(all, &r.id));
    if (!existing.empty()) {
      return absl::AlreadyExistsError(absl::StrCat("approval request ", r.id, " already exists"));
    }
    HS_ASSIGN_OR_RETURN(
        auto st, txn.Prepare(Q("INSERT INTO approval_requests (id, endpoint, model_name, state, "
                               "requested_by, created_at, expires_at, revision, record_json) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")));
    st.BindText(1, r.id).BindText(2, r.endpoint).BindText(3, r.model_name).BindText(4, r.state);
    st.BindText(5, r.requested_by).BindInt64(6, r.created_at_ms).BindInt64(7, r.expires_at_ms);
    st.BindInt64(8, r.revision).BindText(9, ToJson(r).dump());
    return st.Run();
  }

  absl::StatusOr<ApprovalRequest> UpdateRequest(const ApprovalRequest& in) {
    if (pg) {
      // Lock the row first, so a concurrent update waits and then sees the new revision (or the
      // transaction is retried), instead of both reading the same revision.
      HS_ASSIGN_OR_RETURN(
          auto lock,
          txn.Prepare(Q("SELECT revision FROM approval_requests WHERE id = ?1 FOR UPDATE")));
      lock.BindText(1, in.id);
      HS_RETURN_IF_ERROR(lock.Step().status());
    }
    ApprovalFilter all;
    HS_ASSIGN_OR_RETURN(auto existing, Requests(all, &in.id));
    if (existing.empty()) {
      return absl::NotFoundError(absl::StrCat("approval request ", in.id, " not found"));
    }
    if (existing.front().revision != in.revision) {
      return absl::AbortedError(
          absl::StrCat("approval request ", in.id, " changed since it was read; read it again"));
    }
    ApprovalRequest r = in;
    r.revision = in.revision + 1;
    HS_ASSIGN_OR_RETURN(auto st,
                        txn.Prepare(Q("UPDATE approval_requests SET state = ?2, expires_at = ?3, "
                                      "revision = ?4, record_json = ?5 WHERE id = ?1")));
    st.BindText(1, r.id).BindText(2, r.state).BindInt64(3, r.expires_at_ms);
    st.BindInt64(4, r.revision).BindText(5, ToJson(r).dump());
    HS_RETURN_IF_ERROR(st.Run());
    return r;
  }

  // The model's id when `version` exists; NotFound (registry messages) otherwise.
  absl::StatusOr<int64_t> VersionModelId(const std::string& model, int64_t version) {
    HS_ASSIGN_OR_RETURN(auto st, txn.Prepare(Q("SELECT id FROM models WHERE name = ?1")));
    st.BindText(1, model);
    HS_ASSIGN_OR_RETURN(bool found, st.Step());
    if (!found) return ModelNotFound(model);
    const int64_t id = st.ColumnInt64(0);
    HS_ASSIGN_OR_RETURN(
        auto v,
        txn.Prepare(Q("SELECT 1 FROM model_versions WHERE model_id = ?1 AND version = ?2")));
    v.BindInt64(1, id).BindInt64(2, version);
    HS_ASSIGN_OR_RETURN(bool exists, v.Step());
    if (!exists) return VersionNotFound(model, version);
    return id;
  }

  absl::Status PutValidation(const ValidationRecord& r) {
    HS_ASSIGN_OR_RETURN(int64_t model_id, VersionModelId(r.model_name, r.version));
    HS_ASSIGN_OR_RETURN(
        auto st, txn.Prepare(Q("INSERT INTO validation_reports (model_id, version, context, state, "
                               "report_json, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                               "ON CONFLICT (model_id, version, context) DO UPDATE SET state = "
                               "excluded.state, report_json = excluded.report_json, updated_at = "
                               "excluded.updated_at")));
    st.BindInt64(1, model_id).BindInt64(2, r.version).BindText(3, r.context).BindText(4, r.state);
    st.BindText(5, r.report.dump()).BindInt64(6, r.updated_at_ms);
    return st.Run();
  }

  absl::StatusOr<std::vector<ValidationRecord>> Validations(const std::string& model,
                                                            int64_t version,
                                                            const std::string* context) {
    HS_ASSIGN_OR_RETURN(int64_t model_id, VersionModelId(model, version));
    HS_ASSIGN_OR_RETURN(
        auto st, txn.Prepare(Q(absl::StrCat(
                     "SELECT context, state, report_json, updated_at FROM validation_reports "
                     "WHERE model_id = ?1 AND version = ?2",
                     context ? " AND context = ?3" : "", " ORDER BY context"))));
    st.BindInt64(1, model_id).BindInt64(2, version);
    if (context) st.BindText(3, *context);
    std::vector<ValidationRecord> out;
    while (true) {
      HS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      ValidationRecord r;
      r.model_name = model;
      r.version = version;
      r.context = st.ColumnText(0);
      r.state = st.ColumnText(1);
      r.report = nlohmann::json::parse(st.ColumnText(2), nullptr, false);
      if (r.report.is_discarded()) r.report = nlohmann::json::object();
      r.updated_at_ms = st.ColumnInt64(3);
      out.push_back(std::move(r));
    }
    return out;
  }
};

inline absl::Status PolicyNotFound(const std::string& endpoint) {
  return absl::NotFoundError(absl::StrCat("endpoint '", endpoint, "' has no approval policy"));
}
inline absl::Status RequestNotFound(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("approval request ", id, " not found"));
}
inline absl::Status ValidationNotFound(const std::string& model, int64_t version,
                                       const std::string& context) {
  return absl::NotFoundError(absl::StrCat("version ", version, " of model ", model,
                                          " has no validation report (", context, ")"));
}

}  // namespace hotswap::registry::rows
