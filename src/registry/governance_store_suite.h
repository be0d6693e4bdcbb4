// The GovernanceStore behaviour suite, shared by the SQLite and PostgreSQL stores. A backend's
// test file includes this header (in exactly one .cpp of its test binary) and instantiates it:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, GovernanceStoreSuite,
//                            ::testing::Values(GovernanceBackend{"Sqlite", &MakeSqliteStores}),
//                            GovernanceBackendName);
//
// The factory returns a registry and a governance store on one fresh database.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "common/clock.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/governance_store.h"
#include "registry/model_registry.h"
#include "registry/registry_test_util.h"

namespace hotswap::registry::testing {

struct GovernanceStores {
  std::unique_ptr<ModelRegistry> registry;
  std::unique_ptr<GovernanceStore> governance;
};
using GovernanceStoresFactory =
    std::function<GovernanceStores(Clock* clock, const std::string& dir)>;

struct GovernanceBackend {
  std::string name;
  GovernanceStoresFactory factory;
  friend void PrintTo(const GovernanceBackend& b, std::ostream* os) { *os << b.name; }
};

inline std::string GovernanceBackendName(const ::testing::TestParamInfo<GovernanceBackend>& info) {
  return info.param.name;
}

class GovernanceStoreSuite : public ::testing::TestWithParam<GovernanceBackend> {
 protected:
  void SetUp() override {
    stores_ = GetParam().factory(&clock_, dir_.path());
    ASSERT_NE(stores_.registry, nullptr);
    ASSERT_NE(stores_.governance, nullptr);
    domain::Model m;
    m.name = "iris";
    ASSERT_TRUE(stores_.registry->CreateModel(m).ok());
    NewVersion nv{.model_name = "iris",
                  .version = 1,
                  .framework = "onnx",
                  .sha256 = Sha256Hex("artifact-1"),
                  .size_bytes = 10,
                  .created_by = "ci"};
    ASSERT_TRUE(stores_.registry->CreateVersion(nv).ok());
  }

  ApprovalRequest MakeRequest(const std::string& id, const std::string& endpoint,
                              const std::string& state) {
    ApprovalRequest r;
    r.id = id;
    r.endpoint = endpoint;
    r.model_name = "iris";
    r.version = 1;
    r.deployment_id = "dep-" + id;
    r.requested_by = "alice";
    r.requester_role = "deployer";
    r.state = state;
    r.deploy_request = {{"model", "iris"}, {"version", 1}, {"endpoint", endpoint}};
    r.policy.endpoint = endpoint;
    r.policy.required_approvals = 2;
    r.created_at_ms = clock_.NowMillis();
    r.expires_at_ms = r.created_at_ms + 3'600'000;
    r.updated_at_ms = r.created_at_ms;
    clock_.Advance(1000);
    return r;
  }

  FakeClock clock_;
  ScratchDir dir_;
  GovernanceStores stores_;
};

TEST_P(GovernanceStoreSuite, PoliciesArePutReplacedListedAndDeleted) {
  GovernanceStore& s = *stores_.governance;
  ApprovalPolicy p;
  p.endpoint = "fraud";
  p.environment = "production";
  p.required_approvals = 2;
  p.allow_override = true;
  p.override_role = "approver";
  p.updated_by = "admin";
  p.updated_at_ms = clock_.NowMillis();
  HS_ASSERT_OK_AND_ASSIGN(bool created, s.PutPolicy(p));
  EXPECT_TRUE(created);
  HS_ASSERT_OK_AND_ASSIGN(ApprovalPolicy got, s.GetPolicy("fraud"));
  EXPECT_EQ(got, p);
  p.required_approvals = 3;
  HS_ASSERT_OK_AND_ASSIGN(created, s.PutPolicy(p));
  EXPECT_FALSE(created);
  ApprovalPolicy other;
  other.endpoint = "churn";
  HS_ASSERT_OK(s.PutPolicy(other).status());
  HS_ASSERT_OK_AND_ASSIGN(auto list, s.ListPolicies());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].endpoint, "churn");  // ordered by endpoint
  EXPECT_EQ(list[1], p);
  HS_ASSERT_OK(s.DeletePolicy("fraud"));
  EXPECT_THAT(StatusOf(s.GetPolicy("fraud")),
              StatusIs(absl::StatusCode::kNotFound, ::testing::HasSubstr("no approval policy")));
  EXPECT_THAT(s.DeletePolicy("fraud"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(GovernanceStoreSuite, RequestsRoundTripAndListNewestFirstWithFilters) {
  GovernanceStore& s = *stores_.governance;
  ApprovalRequest a = MakeRequest("apr-a", "fraud", "pending");
  ApprovalRequest b = MakeRequest("apr-b", "churn", "pending");
  ApprovalRequest c = MakeRequest("apr-c", "fraud", "rejected");
  c.decisions.push_back({"bob", "approver", "reject", "not yet", clock_.NowMillis()});
  c.override = {{"by", "root"}, {"reason", "hotfix"}};
  for (const auto* r : {&a, &b, &c}) HS_ASSERT_OK(s.InsertRequest(*r));
  EXPECT_THAT(s.InsertRequest(a), StatusIs(absl::StatusCode::kAlreadyExists));
  HS_ASSERT_OK_AND_ASSIGN(ApprovalRequest got, s.GetRequest("apr-c"));
  c.revision = 1;
  EXPECT_EQ(got, c);
  HS_ASSERT_OK_AND_ASSIGN(auto all, s.ListRequests({}));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, "apr-c");
  EXPECT_EQ(all[2].id, "apr-a");
  HS_ASSERT_OK_AND_ASSIGN(auto pending_fraud,
                          s.ListRequests({.state = "pending", .endpoint = "fraud"}));
  ASSERT_EQ(pending_fraud.size(), 1u);
  EXPECT_EQ(pending_fraud[0].id, "apr-a");
  HS_ASSERT_OK_AND_ASSIGN(auto limited, s.ListRequests({.limit = 1}));
  EXPECT_EQ(limited.size(), 1u);
  HS_ASSERT_OK_AND_ASSIGN(auto none, s.ListRequests({.model = "other"}));
  EXPECT_TRUE(none.empty());
  EXPECT_THAT(StatusOf(s.GetRequest("apr-zzz")), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(GovernanceStoreSuite, UpdateIsCompareAndSetOnTheRevision) {
  GovernanceStore& s = *stores_.governance;
  HS_ASSERT_OK(s.InsertRequest(MakeRequest("apr-1", "fraud", "pending")));
  HS_ASSERT_OK_AND_ASSIGN(ApprovalRequest first, s.GetRequest("apr-1"));
  ApprovalRequest second = first;  // a concurrent reader of the same revision
  first.decisions.push_back({"bob", "approver", "approve", "ok", clock_.NowMillis()});
  HS_ASSERT_OK_AND_ASSIGN(ApprovalRequest stored, s.UpdateRequest(first));
  EXPECT_EQ(stored.revision, 2);
  second.state = "rejected";
  EXPECT_THAT(StatusOf(s.UpdateRequest(second)), StatusIs(absl::StatusCode::kAborted));
  HS_ASSERT_OK_AND_ASSIGN(ApprovalRequest now, s.GetRequest("apr-1"));
  EXPECT_EQ(now.state, "pending");
  ASSERT_EQ(now.decisions.size(), 1u);
  EXPECT_EQ(now.decisions[0].actor, "bob");
  now.state = "approved";
  HS_ASSERT_OK(s.UpdateRequest(now).status());
  HS_ASSERT_OK_AND_ASSIGN(auto approved, s.ListRequests({.state = "approved"}));
  ASSERT_EQ(approved.size(), 1u);  // the state column follows the record
  EXPECT_EQ(approved[0].revision, 3);
  ApprovalRequest ghost = now;
  ghost.id = "apr-ghost";
  EXPECT_THAT(StatusOf(s.UpdateRequest(ghost)), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(GovernanceStoreSuite, ValidationReportsAreKeptPerVersionAndContextAndGoWithTheModel) {
  GovernanceStore& s = *stores_.governance;
  ValidationRecord reg{
      "iris", 1, "registration", "running", nlohmann::json::object(), clock_.NowMillis()};
  HS_ASSERT_OK(s.PutValidation(reg));
  reg.state = "passed";
  reg.report = {{"passed", true}, {"gates", nlohmann::json::array()}};
  HS_ASSERT_OK(s.PutValidation(reg));
  ValidationRecord ep{
      "iris", 1, "endpoint:fraud", "failed", {{"passed", false}}, clock_.NowMillis()};
  HS_ASSERT_OK(s.PutValidation(ep));
  HS_ASSERT_OK_AND_ASSIGN(ValidationRecord got, s.GetValidation("iris", 1, "registration"));
  EXPECT_EQ(got, reg);
  HS_ASSERT_OK_AND_ASSIGN(auto list, s.ListValidations("iris", 1));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0], ep);  // ordered by context
  EXPECT_THAT(StatusOf(s.GetValidation("iris", 1, "endpoint:other")),
              StatusIs(absl::StatusCode::kNotFound));
  ValidationRecord missing = reg;
  missing.version = 9;
  EXPECT_THAT(s.PutValidation(missing), StatusIs(absl::StatusCode::kNotFound));
  HS_ASSERT_OK(stores_.registry->DeleteModel("iris", /*force=*/true).status());
  EXPECT_THAT(StatusOf(s.ListValidations("iris", 1)), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace hotswap::registry::testing
