#include "registry/sqlite_governance_store.h"

#include "registry/governance_rows.h"

namespace hotswap::registry {

namespace {

using Sql = rows::GovernanceSql<Transaction>;

// Runs `body` in one transaction (committed when it succeeds and `mode` is kWrite).
template <typename F>
auto InTxn(SqliteDatabase& db, Transaction::Mode mode, F body)
    -> decltype(body(std::declval<Sql&>())) {
  Transaction txn(db, mode);
  HS_RETURN_IF_ERROR(txn.status());
  Sql sql{txn, false};
  auto result = body(sql);
  if (!result.ok()) return result;
  if (mode == Transaction::Mode::kWrite) HS_RETURN_IF_ERROR(txn.Commit());
  return result;
}

}  // namespace

absl::StatusOr<bool> SqliteGovernanceStore::PutPolicy(const ApprovalPolicy& p) {
  return InTxn(*db_, Transaction::Mode::kWrite, [&](Sql& s) { return s.PutPolicy(p); });
}

absl::StatusOr<ApprovalPolicy> SqliteGovernanceStore::GetPolicy(const std::string& endpoint) {
  HS_ASSIGN_OR_RETURN(auto found, InTxn(*db_, Transaction::Mode::kRead,
                                        [&](Sql& s) { return s.Policies(&endpoint); }));
  if (found.empty()) return rows::PolicyNotFound(endpoint);
  return std::move(found.front());
}

absl::StatusOr<std::vector<ApprovalPolicy>> SqliteGovernanceStore::ListPolicies() {
  return InTxn(*db_, Transaction::Mode::kRead, [&](Sql& s) { return s.Policies(nullptr); });
}

absl::Status SqliteGovernanceStore::DeletePolicy(const std::string& endpoint) {
  HS_ASSIGN_OR_RETURN(bool deleted, InTxn(*db_, Transaction::Mode::kWrite,
                                          [&](Sql& s) { return s.DeletePolicy(endpoint); }));
  if (!deleted) return rows::PolicyNotFound(endpoint);
  return absl::OkStatus();
}

absl::Status SqliteGovernanceStore::InsertRequest(const ApprovalRequest& r) {
  return InTxn(*db_, Transaction::Mode::kWrite,
               [&](Sql& s) -> absl::StatusOr<bool> {
                 HS_RETURN_IF_ERROR(s.InsertRequest(r));
                 return true;
               })
      .status();
}

absl::StatusOr<ApprovalRequest> SqliteGovernanceStore::GetRequest(const std::string& id) {
  ApprovalFilter all;
  HS_ASSIGN_OR_RETURN(auto found, InTxn(*db_, Transaction::Mode::kRead,
                                        [&](Sql& s) { return s.Requests(all, &id); }));
  if (found.empty()) return rows::RequestNotFound(id);
  return std::move(found.front());
}

absl::StatusOr<std::vector<ApprovalRequest>> SqliteGovernanceStore::ListRequests(
    const ApprovalFilter& f) {
  return InTxn(*db_, Transaction::Mode::kRead, [&](Sql& s) { return s.Requests(f, nullptr); });
}

absl::StatusOr<ApprovalRequest> SqliteGovernanceStore::UpdateRequest(const ApprovalRequest& r) {
  return InTxn(*db_, Transaction::Mode::kWrite, [&](Sql& s) { return s.UpdateRequest(r); });
}

absl::Status SqliteGovernanceStore::PutValidation(const ValidationRecord& v) {
  return InTxn(*db_, Transaction::Mode::kWrite,
               [&](Sql& s) -> absl::StatusOr<bool> {
                 HS_RETURN_IF_ERROR(s.PutValidation(v));
                 return true;
               })
      .status();
}

absl::StatusOr<ValidationRecord> SqliteGovernanceStore::GetValidation(const std::string& model,
                                                                      int64_t version,
                                                                      const std::string& context) {
  HS_ASSIGN_OR_RETURN(auto found, InTxn(*db_, Transaction::Mode::kRead, [&](Sql& s) {
                        return s.Validations(model, version, &context);
                      }));
  if (found.empty()) return rows::ValidationNotFound(model, version, context);
  return std::move(found.front());
}

absl::StatusOr<std::vector<ValidationRecord>> SqliteGovernanceStore::ListValidations(
    const std::string& model, int64_t version) {
  return InTxn(*db_, Transaction::Mode::kRead,
               [&](Sql& s) { return s.Validations(model, version, nullptr); });
}

}  // namespace hotswap::registry
