// SqliteGovernanceStore: GovernanceStore on the shared registry database (tables
// `approval_policies`, `approval_requests`, `validation_reports`, migration 7). Thread-safe.
#pragma once

#include <memory>

#include "registry/governance_store.h"
#include "registry/sqlite_database.h"

namespace hotswap::registry {

class SqliteGovernanceStore final : public GovernanceStore {
 public:
  explicit SqliteGovernanceStore(std::shared_ptr<SqliteDatabase> db) : db_(std::move(db)) {}

  absl::StatusOr<bool> PutPolicy(const ApprovalPolicy& p) override;
  absl::StatusOr<ApprovalPolicy> GetPolicy(const std::string& endpoint) override;
  absl::StatusOr<std::vector<ApprovalPolicy>> ListPolicies() override;
  absl::Status DeletePolicy(const std::string& endpoint) override;
  absl::Status InsertRequest(const ApprovalRequest& r) override;
  absl::StatusOr<ApprovalRequest> GetRequest(const std::string& id) override;
  absl::StatusOr<std::vector<ApprovalRequest>> ListRequests(const ApprovalFilter& f) override;
  absl::StatusOr<ApprovalRequest> UpdateRequest(const ApprovalRequest& r) override;
  absl::Status PutValidation(const ValidationRecord& v) override;
  absl::StatusOr<ValidationRecord> GetValidation(const std::string& model, int64_t version,
                                                 const std::string& context) override;
  absl::StatusOr<std::vector<ValidationRecord>> ListValidations(const std::string& model,
                                                                int64_t version) override;

 private:
  std::shared_ptr<SqliteDatabase> db_;
};

}  // namespace hotswap::registry
