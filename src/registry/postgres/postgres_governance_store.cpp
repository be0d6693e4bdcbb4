#include "registry/postgres/postgres_governance_store.h"

#include <optional>

#include "registry/governance_rows.h"

namespace hotswap::registry {

namespace {

using Sql = rows::GovernanceSql<PgTransaction>;

// Runs `body` in one transaction (PgDatabase::Run may run it again after a serialization
// failure; the last attempt's result is returned).
template <typename F>
auto InTxn(PgDatabase& db, PgDatabase::Mode mode, F body) -> decltype(body(std::declval<Sql&>())) {
  using Result = decltype(body(std::declval<Sql&>()));
  std::optional<Result> result;
  absl::Status s = db.Run(mode, [&](PgTransaction& txn) -> absl::Status {
    Sql sql{txn, true};
    result.emplace(body(sql));
    return result->status();
  });
  if (!s.ok()) return s;
  return *std::move(result);
}

}  // namespace

absl::StatusOr<bool> PostgresGovernanceStore::PutPolicy(const ApprovalPolicy& p) {
  return InTxn(*db_, PgDatabase::Mode::kWrite, [&](Sql& s) { return s.PutPolicy(p); });
}

absl::StatusOr<ApprovalPolicy> PostgresGovernanceStore::GetPolicy(const std::string& endpoint) {
  HS_ASSIGN_OR_RETURN(auto found, InTxn(*db_, PgDatabase::Mode::kRead,
                                        [&](Sql& s) { return s.Policies(&endpoint); }));
  if (found.empty()) return rows::PolicyNotFound(endpoint);
  return std::move(found.front());
}

absl::StatusOr<std::vector<ApprovalPolicy>> PostgresGovernanceStore::ListPolicies() {
  return InTxn(*db_, PgDatabase::Mode::kRead, [&](Sql& s) { return s.Policies(nullptr); });
}

absl::Status PostgresGovernanceStore::DeletePolicy(const std::string& endpoint) {
  HS_ASSIGN_OR_RETURN(bool deleted, InTxn(*db_, PgDatabase::Mode::kWrite,
                                          [&](Sql& s) { return s.DeletePolicy(endpoint); }));
  if (!deleted) return rows::PolicyNotFound(endpoint);
  return absl::OkStatus();
}

absl::Status PostgresGovernanceStore::InsertRequest(const ApprovalRequest& r) {
  return InTxn(*db_, PgDatabase::Mode::kWrite,
               [&](Sql& s) -> absl::StatusOr<bool> {
                 HS_RETURN_IF_ERROR(s.InsertRequest(r));
                 return true;
               })
      .status();
}

absl::StatusOr<ApprovalRequest> PostgresGovernanceStore::GetRequest(const std::string& id) {
  ApprovalFilter all;
  HS_ASSIGN_OR_RETURN(auto found, InTxn(*db_, PgDatabase::Mode::kRead,
                                        [&](Sql& s) { return s.Requests(all, &id); }));
  if (found.empty()) return rows::RequestNotFound(id);
  return std::move(found.front());
}

absl::StatusOr<std::vector<ApprovalRequest>> PostgresGovernanceStore::ListRequests(
    const ApprovalFilter& f) {
  return InTxn(*db_, PgDatabase::Mode::kRead, [&](Sql& s) { return s.Requests(f, nullptr); });
}

absl::StatusOr<ApprovalRequest> PostgresGovernanceStore::UpdateRequest(const ApprovalRequest& r) {
  return InTxn(*db_, PgDatabase::Mode::kWrite, [&](Sql& s) { return s.UpdateRequest(r); });
}

absl::Status PostgresGovernanceStore::PutValidation(const ValidationRecord& v) {
  return InTxn(*db_, PgDatabase::Mode::kWrite,
               [&](Sql& s) -> absl::StatusOr<bool> {
                 HS_RETURN_IF_ERROR(s.PutValidation(v));
                 return true;
               })
      .status();
}

absl::StatusOr<ValidationRecord> PostgresGovernanceStore::GetValidation(
    const std::string& model, int64_t version, const std::string& context) {
  HS_ASSIGN_OR_RETURN(auto found, InTxn(*db_, PgDatabase::Mode::kRead, [&](Sql& s) {
                        return s.Validations(model, version, &context);
                      }));
  if (found.empty()) return rows::ValidationNotFound(model, version, context);
  return std::move(found.front());
}

absl::StatusOr<std::vector<ValidationRecord>> PostgresGovernanceStore::ListValidations(
    const std::string& model, int64_t version) {
  return InTxn(*db_, PgDatabase::Mode::kRead,
               [&](Sql& s) { return s.Validations(model, version, nullptr); });
}

}  // namespace hotswap::registry
