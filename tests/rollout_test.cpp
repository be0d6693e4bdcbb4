// Rollouts end to end: a real server (real ONNX Runtime, real HTTP traffic) whose rollout clock is
// a FakeClock, so a test decides when a step's time is up; the orchestrator thread ticks every
// 200 ms and reads that clock. Candidates are the swap models: add_2 (good: y = x + 2),
// flaky_add_2 (fails when x[0] >= 10) and slow_add_2 (the same answers, a few ms slower).
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "tests/test_util.h"

namespace hotswap {
namespace {

using nlohmann::json;
using testing_util::Http;
using testing_util::HttpResult;
using testing_util::TestServer;

using testing_util::ReadAll;
std::string Model(const std::string& name) {
  return ReadAll(std::string(HOTSWAP_SWAP_MODELS_DIR) + "/" + name + ".onnx");
}

bool Ended(const json& d) {
  std::string s = d.value("state", "");
  return s == "succeeded" || s == "failed" || s == "aborted" || s == "rolled_back";
}

class RolloutTest : public ::testing::Test {
 protected:
  RolloutTest() : s_({}, &clock_) {}

  void SetUp() override {
    ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "m"}}).status, 201);
    for (const char* name : {"add_1", "add_2", "flaky_add_2", "slow_add_2"}) {
      HttpResult r = s_.Upload("m", {{"framework", "onnx"}, {"tags", {{"file", name}}}}, Model(name));
      ASSERT_EQ(r.status, 201) << r.body;
      versions_[name] = r.json()["version"];
    }
    // The stable version, deployed directly.
    HttpResult d = s_.Call("POST", "/api/v1/deployments",
                           {{"model", "m"}, {"version", versions_["add_1"]}});
    ASSERT_EQ(d.status, 202) << d.body;
    ASSERT_TRUE(testing_util::WaitFor(
        [&] { return Get(d.json()["id"])["state"] == "succeeded"; }));
  }

  json Get(const std::string& id) { return s_.Call("GET", "/api/v1/deployments/" + id).json(); }

  // Starts a rollout; returns its id ("" on failure).
  std::string Start(const std::string& candidate, json options) {
    options["model"] = "m";
    options["version"] = versions_[candidate];
    HttpResult r = s_.Call("POST", "/api/v1/deployments", options);
    EXPECT_EQ(r.status, 202) << r.body;
    if (r.status != 202) return "";
    std::string id = r.json()["id"];
    EXPECT_TRUE(testing_util::WaitFor([&] { return Get(id)["state"] != "pending"; }))
        << Get(id).dump();
    return id;
  }

  // Sends `n` infer requests with x[0] drawn from [0, x0_max); returns {version -> count} and
  // counts non-200 answers in *errors.
  std::map<std::string, int> Traffic(int n, double x0_max = 5, int* errors = nullptr,
                                     const std::vector<std::string>& extra = {}) {
    std::map<std::string, int> by_version;
    std::vector<std::string> headers = {"Authorization: Bearer " + s_.admin()};
    headers.insert(headers.end(), extra.begin(), extra.end());
    for (int i = 0; i < n; ++i) {
      double x0 = x0_max * ((i * 7919) % 1000) / 1000.0;
      std::string body = absl::StrCat(R"({"id":"r)", seq_++, R"(","inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[)",
                                      x0, R"(,1,1,1]}]})");
      HttpResult r = Http("POST", s_.Url("/v2/models/m/infer"), body, headers);
      if (r.status != 200 && errors != nullptr) ++*errors;
      ++by_version[r.headers["x-hotswap-model-version"]];
    }
    return by_version;
  }

  // Advances the rollout clock and waits until the orchestrator has acted on it (the state or
  // step changed), or 5 s.
  json AdvanceAndWait(const std::string& id, int64_t ms) {
    json before = Get(id);
    clock_.Advance(ms);
    json now = before;
    testing_util::WaitFor(
        [&] {
          now = Get(id);
          return now["state"] != before["state"] || now.value("step", 0) != before.value("step", 0);
        },
        5000);
    return now;
  }

  std::string ServingVersion() {
    std::vector<std::string> auth = {"Authorization: Bearer " + s_.admin()};
    HttpResult r = Http("POST", s_.Url("/v2/models/m/infer"),
                        R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,1,1,1]}]})",
                        {"Authorization: Bearer " + s_.admin(), "x-hotswap-variant: stable"});
    return r.headers["x-hotswap-model-version"];
  }

  FakeClock clock_;
  TestServer s_;
  std::map<std::string, int64_t> versions_;
  int seq_ = 0;
};

const json kFastCanary = {
    {"strategy", "canary"},
    {"steps", {{{"weight", 10}, {"duration_s", 60}}, {{"weight", 50}, {"duration_s", 60}}}},
    {"analysis", {{"min_requests", 20}}}};

TEST_F(RolloutTest, GoodCandidateWalksTheStepsAndIsPromoted) {
  std::string id = Start("add_2", kFastCanary);
  ASSERT_FALSE(id.empty());
  json d = Get(id);
  EXPECT_EQ(d["state"], "progressing");
  EXPECT_EQ(d["step"], 1);
  EXPECT_EQ(d["weights"]["candidate"], 10.0);
  EXPECT_EQ(d["weights"]["stable"], 90.0);
  auto seen = Traffic(400);
  EXPECT_GT(seen["2"], 10);  // ~10% of 400
  EXPECT_LT(seen["2"], 80);
  EXPECT_EQ(seen["1"] + seen["2"], 400);
  d = AdvanceAndWait(id, 61'000);
  EXPECT_EQ(d["step"], 2) << d.dump();
  EXPECT_EQ(d["weights"]["candidate"], 50.0);
  Traffic(100);
  d = AdvanceAndWait(id, 61'000);
  EXPECT_EQ(d["state"], "succeeded") << d.dump();
  EXPECT_EQ(d["weights"]["candidate"], 100.0);
  // Every decision is recorded with its verdict and measurements.
  int passes = 0;
  for (const json& dec : d["decisions"]) {
    if (dec.value("verdict", "") == "pass") {
      ++passes;
      EXPECT_GE(dec["analysis"]["candidate"]["requests"].get<int>(), 20);
      EXPECT_TRUE(dec["analysis"].contains("thresholds"));
    }
  }
  EXPECT_EQ(passes, 2);
  EXPECT_EQ(ServingVersion(), std::to_string(versions_["add_2"]));
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/m/versions/" + std::to_string(versions_["add_2"]))
                .json()["status"],
            "deployed");
}

TEST_F(RolloutTest, ErroringCandidateIsRolledBackBeforeHalfTheTraffic) {
  std::string id = Start("flaky_add_2", kFastCanary);
  ASSERT_FALSE(id.empty());
  int errors = 0;
  Traffic(600, 12, &errors);  // x[0] in [0,12): the candidate fails on about 1 in 6 of its share
  json d;
  ASSERT_TRUE(testing_util::WaitFor([&] { d = Get(id); return Ended(d); }, 10000)) << d.dump();
  EXPECT_EQ(d["state"], "rolled_back") << d.dump();
  EXPECT_EQ(d["step"], 1) << "rolled back during the 10% step, before 50%";
  EXPECT_NE(d["message"].get<std::string>().find("error rate"), std::string::npos) << d["message"];
  const json& last = d["decisions"].back();
  EXPECT_EQ(last["action"], "rollback");
  bool saw_fail = false;
  for (const json& dec : d["decisions"]) saw_fail |= dec.value("verdict", "") == "fail";
  EXPECT_TRUE(saw_fail);
  EXPECT_GT(errors, 0);
  // All traffic is back on the stable version, which never fails.
  int after = 0;
  auto seen = Traffic(100, 12, &after);
  EXPECT_EQ(after, 0);
  EXPECT_EQ(seen["1"], 100);
}

TEST_F(RolloutTest, SlowCandidateIsRolledBackOnLatency) {
  json options = kFastCanary;
  options["analysis"]["min_requests"] = 40;
  std::string id = Start("slow_add_2", options);
  ASSERT_FALSE(id.empty());
  Traffic(800);
  json d;
  ASSERT_TRUE(testing_util::WaitFor([&] { d = Get(id); return Ended(d); }, 10000)) << d.dump();
  EXPECT_EQ(d["state"], "rolled_back") << d.dump();
  EXPECT_NE(d["message"].get<std::string>().find("p99"), std::string::npos) << d["message"];
  EXPECT_EQ(d["step"], 1);
}

TEST_F(RolloutTest, LowTrafficWaitsInsteadOfFailingThenTakesTheConfiguredAction) {
  json options = kFastCanary;
  options["analysis"] = {{"min_requests", 50}, {"insufficient_data_timeout_s", 120},
                         {"on_insufficient_data", "pause"}};
  std::string id = Start("add_2", options);
  ASSERT_FALSE(id.empty());
  Traffic(30);  // ~3 reach the candidate: far below 50
  clock_.Advance(61'000);
  json d;
  ASSERT_TRUE(testing_util::WaitFor([&] {
    d = Get(id);
    return d["message"].get<std::string>().find("waiting for data") != std::string::npos;
  })) << d.dump();
  EXPECT_EQ(d["state"], "progressing");
  EXPECT_EQ(d["step"], 1);
  d = AdvanceAndWait(id, 121'000);
  EXPECT_EQ(d["state"], "paused") << d.dump();
  EXPECT_EQ(d["decisions"].back()["verdict"], "insufficient_data");
  // Resume restarts the step's window; with enough traffic it passes.
  HttpResult r = s_.Call("POST", "/api/v1/deployments/" + id + "/resume");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["state"], "progressing");
  Traffic(1000);
  d = AdvanceAndWait(id, 61'000);
  EXPECT_EQ(d["step"], 2) << d.dump();
}

TEST_F(RolloutTest, InsufficientDataDefaultsToRollbackAfterTheTimeout) {
  json options = kFastCanary;
  options["analysis"] = {{"min_requests", 50}, {"insufficient_data_timeout_s", 30}};
  std::string id = Start("add_2", options);
  ASSERT_FALSE(id.empty());
  clock_.Advance(61'000);
  json d = AdvanceAndWait(id, 31'000);
  EXPECT_EQ(d["state"], "rolled_back") << d.dump();
  EXPECT_NE(d["message"].get<std::string>().find("insufficient data"), std::string::npos);
}

TEST_F(RolloutTest, ManualGateHoldsUntilPromote) {
  json options = {{"strategy", "canary"},
                  {"steps", {{{"weight", 20}, {"duration_s", 10}, {"gate", "manual"}},
                             {{"weight", 60}, {"duration_s", 10}}}},
                  {"analysis", {{"min_requests", 10}}}};
  std::string id = Start("add_2", options);
  ASSERT_FALSE(id.empty());
  Traffic(200);
  json d = AdvanceAndWait(id, 11'000);
  EXPECT_EQ(d["state"], "paused") << d.dump();
  EXPECT_NE(d["message"].get<std::string>().find("manual gate"), std::string::npos);
  HttpResult r = s_.Call("POST", "/api/v1/deployments/" + id + "/promote");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["step"], 2);
  EXPECT_EQ(r.json()["weights"]["candidate"], 60.0);
  r = s_.Call("POST", "/api/v1/deployments/" + id + "/promote", {{"full", true}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["state"], "succeeded");
  EXPECT_EQ(ServingVersion(), std::to_string(versions_["add_2"]));
}

TEST_F(RolloutTest, AbortReturnsAllTrafficToStableAndRetryStartsAgain) {
  std::string id = Start("add_2", kFastCanary);
  ASSERT_FALSE(id.empty());
  HttpResult r = s_.Call("POST", "/api/v1/deployments/" + id + "/abort");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["state"], "aborted");
  EXPECT_EQ(r.json()["weights"]["candidate"], 0.0);
  auto seen = Traffic(100);
  EXPECT_EQ(seen["1"], 100);
  // A second abort or a promote of an ended rollout is a clear 409.
  HttpResult again = s_.Call("POST", "/api/v1/deployments/" + id + "/promote");
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(again.json()["error"]["code"], "failed_precondition");
  HttpResult retry = s_.Call("POST", "/api/v1/deployments/" + id + "/retry");
  ASSERT_EQ(retry.status, 202) << retry.body;
  std::string id2 = retry.json()["id"];
  EXPECT_NE(id2, id);
  EXPECT_EQ(retry.json()["strategy"], "canary");
  EXPECT_EQ(retry.json()["rollout"]["retry_of"], id);
  ASSERT_TRUE(testing_util::WaitFor([&] { return Get(id2)["state"] == "progressing"; }));
}

TEST_F(RolloutTest, OneRolloutPerEndpointAndNoDirectDeployOrUnloadMeanwhile) {
  std::string id = Start("add_2", kFastCanary);
  ASSERT_FALSE(id.empty());
  HttpResult second = s_.Call("POST", "/api/v1/deployments",
                              {{"model", "m"}, {"version", versions_["slow_add_2"]},
                               {"strategy", "canary"}});
  EXPECT_EQ(second.status, 409) << second.body;
  HttpResult direct = s_.Call("POST", "/api/v1/deployments",
                              {{"model", "m"}, {"version", versions_["add_2"]}});
  EXPECT_EQ(direct.status, 409) << direct.body;
  HttpResult unload = s_.Call("POST", "/v2/repository/models/m/unload");
  EXPECT_NE(unload.status, 200) << unload.body;
  EXPECT_EQ(Get(id)["state"], "progressing");
}

TEST_F(RolloutTest, BadRolloutRequestsAreRefusedAndChangeNothing) {
  auto count = [&] {
    return s_.Call("GET", "/api/v1/deployments").json()["deployments"].size();
  };
  size_t before = count();
  struct Case {
    json body;
    int status;
    std::string needle;
  } cases[] = {
      {{{"strategy", "canary"}, {"steps", {{{"weight", 150}}}}}, 400, "steps[0].weight"},
      {{{"strategy", "canary"}, {"steps", json::array()}}, 400, "steps"},
      {{{"strategy", "canary"}, {"steps", {{{"weight", 50}}, {{"weight", 10}}}}}, 400, "decrease"},
      {{{"strategy", "canary"}, {"analysis", {{"max_p99_ratio", 0.5}}}}, 400, "max_p99_ratio"},
      {{{"strategy", "canary"}, {"analysis", {{"colour", 1}}}}, 400, "analysis.colour"},
      {{{"strategy", "canary"}, {"batches", 3}}, 400, "batches"},
      {{{"strategy", "direct"}, {"steps", {{{"weight", 5}}}}}, 400, "direct"},
      {{{"strategy", "ab-test"}, {"metric", "clicks"}}, 400, "metric"},
      {{{"strategy", "shadow"}, {"mirror_percent", 0}}, 400, "mirror_percent"},
      {{{"strategy", "shadow"}, {"auto_promote", "yes"}}, 400, "auto_promote"},
      {{{"strategy", "sideways"}}, 400, "strategy"},
      {{{"strategy", "canary"}, {"version", 1}}, 409, "already serves"},
  };
  for (const Case& c : cases) {
    json body = c.body;
    body["model"] = "m";
    if (!body.contains("version")) body["version"] = versions_["add_2"];
    HttpResult r = s_.Call("POST", "/api/v1/deployments", body);
    EXPECT_EQ(r.status, c.status) << body.dump() << " -> " << r.body;
    EXPECT_NE(r.json()["error"]["message"].get<std::string>().find(c.needle), std::string::npos)
        << r.body;
  }
  // A rollout needs a stable version to roll out beside.
  ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "fresh"}}).status, 201);
  ASSERT_EQ(s_.Upload("fresh", {{"framework", "onnx"}}, Model("add_1")).status, 201);
  HttpResult r = s_.Call("POST", "/api/v1/deployments",
                         {{"model", "fresh"}, {"version", 1}, {"strategy", "canary"}});
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("serves nothing yet"), std::string::npos);
  EXPECT_EQ(count(), before);
  EXPECT_EQ(ServingVersion(), std::to_string(versions_["add_1"]));
  EXPECT_EQ(s_.Call("POST", "/api/v1/deployments/nope/abort").status, 404);
  EXPECT_EQ(s_.Call("POST", "/api/v1/deployments/x/frobnicate").status, 404);
}

TEST_F(RolloutTest, RoutingIsStickyByKeyAndAVariantCanBePinned) {
  std::string id = Start("add_2", kFastCanary);  // 10%
  ASSERT_FALSE(id.empty());
  std::map<std::string, std::string> first;
  for (int k = 0; k < 40; ++k) {
    std::string key = "user-" + std::to_string(k);
    auto seen = Traffic(3, 5, nullptr, {"x-hotswap-routing-key: " + key});
    ASSERT_EQ(seen.size(), 1u) << "key " << key << " moved between variants";
    first[key] = seen.begin()->first;
  }
  auto pinned = Traffic(20, 5, nullptr, {"x-hotswap-variant: candidate"});
  EXPECT_EQ(pinned[std::to_string(versions_["add_2"])], 20);
  // Raising the weight only moves keys from stable to candidate.
  clock_.Advance(61'000);
  Traffic(200);
  ASSERT_TRUE(testing_util::WaitFor([&] { return Get(id)["step"] == 2; }));
  for (const auto& [key, version] : first) {
    auto seen = Traffic(1, 5, nullptr, {"x-hotswap-routing-key: " + key});
    if (version == std::to_string(versions_["add_2"])) {
      EXPECT_EQ(seen.begin()->first, version) << key;
    }
  }
}

TEST_F(RolloutTest, RestartMidCanaryResumesAtTheSameStep) {
  std::string id = Start("add_2", kFastCanary);
  ASSERT_FALSE(id.empty());
  Traffic(300);
  json d = AdvanceAndWait(id, 61'000);
  ASSERT_EQ(d["step"], 2);
  s_.Restart();
  ASSERT_TRUE(testing_util::WaitFor([&] { return Get(id)["state"] == "progressing"; }))
      << Get(id).dump();
  d = Get(id);
  EXPECT_EQ(d["step"], 2) << d.dump();
  EXPECT_EQ(d["weights"]["candidate"], 50.0);
  auto seen = Traffic(200);
  EXPECT_GT(seen[std::to_string(versions_["add_2"])], 50) << "the candidate serves again at 50%";
  d = AdvanceAndWait(id, 61'000);
  EXPECT_EQ(d["state"], "succeeded") << d.dump();
}

TEST_F(RolloutTest, BlueGreenPreviewsSwitchesAndRollsBackInstantly) {
  json options = {{"strategy", "blue-green"}, {"preview_s", 30}, {"rollback_window_s", 120},
                  {"analysis", {{"min_requests", 20}}}};
  std::string id = Start("flaky_add_2", options);
  ASSERT_FALSE(id.empty());
  // Preview: green takes no traffic unless asked for by header.
  auto seen = Traffic(50);
  EXPECT_EQ(seen["1"], 50);
  auto preview = Traffic(5, 5, nullptr, {"x-hotswap-variant: candidate"});
  EXPECT_EQ(preview[std::to_string(versions_["flaky_add_2"])], 5);
  json d = AdvanceAndWait(id, 31'000);
  EXPECT_EQ(d["weights"]["candidate"], 100.0) << d.dump();
  // Everything goes to green, which fails on some inputs: switched back at once.
  Traffic(200, 12);
  ASSERT_TRUE(testing_util::WaitFor([&] { d = Get(id); return Ended(d); }, 10000)) << d.dump();
  EXPECT_EQ(d["state"], "rolled_back");
  EXPECT_EQ(ServingVersion(), std::to_string(versions_["add_1"]));
}

TEST_F(RolloutTest, RollingShiftsTrafficInEqualBatches) {
  json options = {{"strategy", "rolling"}, {"batches", 4}, {"pause_s", 10},
                  {"analysis", {{"min_requests", 10}}}};
  std::string id = Start("add_2", options);
  ASSERT_FALSE(id.empty());
  std::vector<double> weights;
  for (int i = 0; i < 4; ++i) {
    json d = Get(id);
    weights.push_back(d["weights"]["candidate"]);
    Traffic(150);
    AdvanceAndWait(id, 11'000);
  }
  EXPECT_EQ(weights, (std::vector<double>{25, 50, 75, 100}));
  EXPECT_EQ(Get(id)["state"], "succeeded");
}

// Mirrored copies the shadow version has run, from /metrics.
int64_t RunsOf(const TestServer& s, int64_t version) {
  std::string m = Http("GET", s.Url("/metrics"), "", {"Authorization: Bearer " + s.admin()}).body;
  std::string series = absl::StrCat("hotswap_inference_requests_total{endpoint=\"m\",model=\"m\",version=\"",
                                    version, "\",variant=\"shadow\"} ");
  size_t at = m.find(series);
  return at == std::string::npos ? 0 : std::stoll(m.substr(at + series.size()));
}

TEST_F(RolloutTest, ShadowOfAnEquivalentModelIsComparedAndPromotedAutomatically) {
  HttpResult twin = s_.Upload("m", {{"framework", "onnx"}}, Model("add_1"));
  ASSERT_EQ(twin.status, 201);
  int64_t v = twin.json()["version"];
  HttpResult c = s_.Call("POST", "/api/v1/deployments",
                         {{"model", "m"}, {"version", v}, {"strategy", "shadow"},
                          {"duration_s", 60}, {"auto_promote", true},
                          {"max_mean_abs_diff", 0.001}, {"analysis", {{"min_requests", 30}}}});
  ASSERT_EQ(c.status, 202) << c.body;
  std::string id = c.json()["id"];
  ASSERT_TRUE(testing_util::WaitFor([&] { return Get(id)["state"] == "progressing"; }));
  auto seen = Traffic(100);
  EXPECT_EQ(seen["1"], 100) << "a shadow never answers";
  ASSERT_TRUE(testing_util::WaitFor([&] { return RunsOf(s_, v) >= 100; })) << RunsOf(s_, v);
  json d = AdvanceAndWait(id, 61'000);
  EXPECT_EQ(d["state"], "succeeded") << d.dump();
  const json& shadow = d["rollout"]["shadow"];
  EXPECT_EQ(shadow["compared"], 100);
  EXPECT_EQ(shadow["dropped"], 0);
  EXPECT_EQ(shadow["mean_abs_diff"], 0.0);
  EXPECT_EQ(ServingVersion(), std::to_string(v));
}

TEST_F(RolloutTest, ShadowThatAnswersDifferentlyIsRolledBackWithoutServingAnything) {
  int64_t v = versions_["add_2"];  // y = x + 2 instead of x + 1: off by exactly 1
  HttpResult c = s_.Call("POST", "/api/v1/deployments",
                         {{"model", "m"}, {"version", v}, {"strategy", "shadow"},
                          {"duration_s", 60}, {"mirror_percent", 50},
                          {"max_mean_abs_diff", 0.5}, {"analysis", {{"min_requests", 20}}}});
  ASSERT_EQ(c.status, 202) << c.body;
  std::string id = c.json()["id"];
  ASSERT_TRUE(testing_util::WaitFor([&] { return Get(id)["state"] == "progressing"; }));
  EXPECT_EQ(Get(id)["rollout"]["mirror"], 50.0);
  auto seen = Traffic(200);
  EXPECT_EQ(seen["1"], 200);
  ASSERT_TRUE(testing_util::WaitFor([&] { return RunsOf(s_, v) >= 60; })) << RunsOf(s_, v);
  EXPECT_LT(RunsOf(s_, v), 160) << "about half the requests are mirrored";
  json d = AdvanceAndWait(id, 61'000);
  EXPECT_EQ(d["state"], "rolled_back") << d.dump();
  EXPECT_NE(d["message"].get<std::string>().find("mean absolute difference 1"), std::string::npos)
      << d["message"];
  EXPECT_EQ(ServingVersion(), std::to_string(versions_["add_1"]));
}

TEST_F(RolloutTest, FailingShadowIsRolledBackWhileThePrimaryAnswersEverything) {
  int64_t v = versions_["flaky_add_2"];
  HttpResult c = s_.Call("POST", "/api/v1/deployments",
                         {{"model", "m"}, {"version", v}, {"strategy", "shadow"},
                          {"duration_s", 600}, {"analysis", {{"min_requests", 20}}}});
  ASSERT_EQ(c.status, 202) << c.body;
  std::string id = c.json()["id"];
  ASSERT_TRUE(testing_util::WaitFor([&] { return Get(id)["state"] == "progressing"; }));
  int errors = 0;
  Traffic(300, 12, &errors);
  EXPECT_EQ(errors, 0) << "the primary answers every request; the shadow's failures stay hidden";
  json d;
  ASSERT_TRUE(testing_util::WaitFor([&] { d = Get(id); return Ended(d); }, 10000)) << d.dump();
  EXPECT_EQ(d["state"], "rolled_back");
  EXPECT_NE(d["message"].get<std::string>().find("error rate"), std::string::npos) << d["message"];
}

TEST_F(RolloutTest, IdenticalCandidatesAreNeverRolledBack) {
  // The same model as a new version, canaried 20 times in a row: no false rollback.
  HttpResult r = s_.Upload("m", {{"framework", "onnx"}}, Model("add_1"));
  ASSERT_EQ(r.status, 201);
  int64_t twin = r.json()["version"];
  for (int round = 0; round < 20; ++round) {
    int64_t candidate = round % 2 == 0 ? twin : versions_["add_1"];
    HttpResult c = s_.Call("POST", "/api/v1/deployments",
                           {{"model", "m"}, {"version", candidate}, {"strategy", "canary"},
                            {"steps", {{{"weight", 30}, {"duration_s", 5}}}},
                            {"analysis", {{"min_requests", 15}}}});
    ASSERT_EQ(c.status, 202) << c.body;
    std::string id = c.json()["id"];
    ASSERT_TRUE(testing_util::WaitFor([&] { return Get(id)["state"] == "progressing"; }));
    Traffic(80);
    json d = AdvanceAndWait(id, 6'000);
    ASSERT_EQ(d["state"], "succeeded") << "round " << round << ": " << d.dump();
  }
}

TEST_F(RolloutTest, AutomaticRollbackAndControlActionsAreInTheAuditLog) {
  auto audit = [&](const std::string& action) {
    return s_.Call("GET", "/api/v1/audit?action=" + action).json()["entries"];
  };
  // The stable deploy of SetUp: requested by admin, its outcome recorded by the server (just
  // after the state turned "succeeded": the outcome listener runs once the state is visible).
  ASSERT_TRUE(testing_util::WaitFor([&] { return audit("deployment.succeeded").size() == 1u; }, 5000));
  EXPECT_EQ(audit("deployment.succeeded")[0]["actor"], "system");
  std::string id = Start("flaky_add_2", kFastCanary);
  ASSERT_FALSE(id.empty());
  Traffic(600, 12);
  ASSERT_TRUE(testing_util::WaitFor([&] { return Ended(Get(id)); }, 10000));
  // The orchestrator's decision, appended from its thread once the rollout ended.
  ASSERT_TRUE(testing_util::WaitFor([&] { return audit("deployment.rolled_back").size() == 1; }));
  json rolled = audit("deployment.rolled_back")[0];
  EXPECT_EQ(rolled["actor"], "system");
  EXPECT_EQ(rolled["target"], "endpoint/m");
  EXPECT_EQ(rolled["after"]["id"], id);
  EXPECT_NE(rolled["after"]["message"].get<std::string>().find("error rate"), std::string::npos);
  // A control action: who asked (admin) and what the rollout ended as (system).
  std::string id2 = Start("add_2", kFastCanary);
  ASSERT_FALSE(id2.empty());
  ASSERT_EQ(s_.Call("POST", "/api/v1/deployments/" + id2 + "/abort").status, 200);
  json abort = audit("deployment.abort");
  ASSERT_EQ(abort.size(), 1u);
  EXPECT_EQ(abort[0]["actor"], "admin");
  EXPECT_EQ(abort[0]["before"]["state"], "progressing");
  EXPECT_EQ(abort[0]["after"]["state"], "aborted");
  ASSERT_EQ(audit("deployment.aborted").size(), 1u);
  EXPECT_EQ(audit("deployment.aborted")[0]["after"]["id"], id2);
  EXPECT_LT(abort[0]["seq"], audit("deployment.aborted")[0]["seq"]) << "who asked, then the outcome";
  EXPECT_EQ(audit("deployment.create").size(), 3u);
  EXPECT_TRUE(s_.Call("GET", "/api/v1/audit/verify").json()["ok"].get<bool>());
}

// ---- Quality signals and A/B tests (monitoring feeds the analysis) --------------------------------

// Model "s": sum_4 (y = sum x) stable; candidates neg_sum_4 (same output distribution for inputs
// symmetric around 0, but wrong) and sum_4_plus_3 (outputs shifted by 3). Inputs are drawn from
// [-5, 5]; the ground truth is the sum.
class QualityRolloutTest : public ::testing::Test {
 protected:
  QualityRolloutTest() : s_({}, &clock_) {}

  void SetUp() override {
    ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "s"}}).status, 201);
    for (const char* name : {"sum_4", "neg_sum_4", "sum_4_plus_3"}) {
      HttpResult r = s_.Upload("s", {{"framework", "onnx"}}, Model(name));
      ASSERT_EQ(r.status, 201) << r.body;
      versions_[name] = r.json()["version"];
    }
    HttpResult twin = s_.Upload("s", {{"framework", "onnx"}}, Model("sum_4"));
    ASSERT_EQ(twin.status, 201) << twin.body;
    versions_["sum_4_twin"] = twin.json()["version"];
    HttpResult d = s_.Call("POST", "/api/v1/deployments", {{"model", "s"}, {"version", versions_["sum_4"]}});
    ASSERT_EQ(d.status, 202) << d.body;
    ASSERT_TRUE(testing_util::WaitFor([&] { return Get(d.json()["id"])["state"] == "succeeded"; }));
  }
  json Get(const std::string& id) { return s_.Call("GET", "/api/v1/deployments/" + id).json(); }
  std::string Start(json options) {
    options["model"] = "s";
    HttpResult r = s_.Call("POST", "/api/v1/deployments", options);
    EXPECT_EQ(r.status, 202) << r.body;
    if (r.status != 202) return "";
    std::string id = r.json()["id"];
    EXPECT_TRUE(testing_util::WaitFor([&] { return Get(id)["state"] != "pending"; }));
    return id;
  }
  // `n` requests; with `label`, each answer's ground truth is posted as feedback; `outcome`
  // (when set) gives the named outcome posted for a request served by a version.
  std::map<std::string, int> Traffic(int n, bool label,
                                     std::function<double(const std::string& version, int i)> outcome = nullptr) {
    std::map<std::string, int> by_version;
    json items = json::array();
    for (int i = 0; i < n; ++i, ++seq_) {
      std::vector<double> x(4);
      double truth = 0;
      for (int k = 0; k < 4; ++k) {
        x[k] = ((seq_ * 7919 + k * 104729) % 1000) / 100.0 - 5.0;  // in [-5, 5)
        truth += x[k];
      }
      std::string id = absl::StrCat("q", seq_);
      json body = {{"id", id}, {"inputs", {{{"name", "x"}, {"shape", {1, 4}}, {"datatype", "FP32"}, {"data", x}}}}};
      HttpResult r = Http("POST", s_.Url("/v2/models/s/infer"), body.dump(),
                          {"Authorization: Bearer " + s_.admin()});
      EXPECT_EQ(r.status, 200) << r.body;
      std::string v = r.headers["x-hotswap-model-version"];
      ++by_version[v];
      json item = {{"request_id", id}};
      if (label) item["value"] = truth;
      if (outcome) item["outcome"] = {{"converted", outcome(v, seq_)}};
      if (label || outcome) items.push_back(item);
    }
    if (!items.empty()) {
      HttpResult f = s_.Call("POST", "/api/v1/feedback", {{"items", items}});
      EXPECT_EQ(f.status, 200) << f.body;
      EXPECT_EQ(f.json()["matched"], items.size()) << f.body;
    }
    return by_version;
  }
  // The analysis behind the last decision that had one.
  static json LastAnalysis(const json& d) {
    const json& list = d["decisions"];
    for (auto it = list.rbegin(); it != list.rend(); ++it) {
      if (it->contains("analysis")) return (*it)["analysis"];
    }
    return json();
  }
  json AdvanceAndWait(const std::string& id, int64_t ms) {
    json before = Get(id);
    clock_.Advance(ms);
    json now = before;
    testing_util::WaitFor([&] {
      now = Get(id);
      return now["state"] != before["state"] || now.value("step", 0) != before.value("step", 0);
    }, 5000);
    return now;
  }

  FakeClock clock_;
  TestServer s_;
  std::map<std::string, int64_t> versions_;
  int seq_ = 0;
};

const json kQualityCanary = {
    {"strategy", "canary"},
    {"steps", {{{"weight", 20}, {"duration_s", 60}}, {{"weight", 50}, {"duration_s", 60}}}},
    {"analysis", {{"min_requests", 30}, {"min_labels", 30}}}};

TEST_F(QualityRolloutTest, LessAccurateCandidateIsRolledBackOnFeedbackBeforeHalfTheTraffic) {
  json options = kQualityCanary;
  options["version"] = versions_["neg_sum_4"];
  std::string id = Start(options);
  ASSERT_FALSE(id.empty());
  Traffic(300, /*label=*/true);
  json d = AdvanceAndWait(id, 61'000);
  EXPECT_EQ(d["state"], "rolled_back") << d.dump();
  EXPECT_NE(d["message"].get<std::string>().find("MAE"), std::string::npos) << d["message"];
  EXPECT_NE(d["message"].get<std::string>().find("step 1 (20%)"), std::string::npos) << d["message"];
  // The decision carries the measured values and the statistic.
  json q = LastAnalysis(d)["quality"]["mae"];
  EXPECT_GT(q["candidate"].get<double>(), 1.0);
  EXPECT_LT(q["stable"].get<double>(), 1e-3);
  EXPECT_EQ(q["statistic"], "one-sided z-test on absolute errors");
  // Its predictions alone looked like the stable's: no prediction-drift failure was needed.
  json pv = LastAnalysis(d)["quality"]["prediction_values"];
  EXPECT_LT(pv["shift_sd"].get<double>(), 0.25) << pv.dump();
}

TEST_F(QualityRolloutTest, CandidateWithShiftedPredictionsIsRolledBackWithoutAnyFeedback) {
  json options = kQualityCanary;
  options["version"] = versions_["sum_4_plus_3"];
  std::string id = Start(options);
  ASSERT_FALSE(id.empty());
  Traffic(300, /*label=*/false);
  json d = AdvanceAndWait(id, 61'000);
  EXPECT_EQ(d["state"], "rolled_back") << d.dump();
  EXPECT_NE(d["message"].get<std::string>().find("predictions shifted"), std::string::npos) << d["message"];
}

TEST_F(QualityRolloutTest, ADriftAlertFiringOnTheCandidateRollsItBack) {
  // The same model, but the candidate's reference data (what it was trained on) is x in [5, 6),
  // while traffic is x in [-5, 5]: its inputs drift against its own reference and an alert
  // rule on drift fires on its series; the stable version has no reference data.
  std::string csv = "a,b,c,d,y\n";
  for (int i = 0; i < 300; ++i) {
    double sum = 0;
    for (int k = 0; k < 4; ++k) {
      double x = 5 + ((i * 7919 + k * 104729) % 1000) / 1000.0;
      csv += absl::StrCat(x, ",");
      sum += x;
    }
    csv += absl::StrCat(sum, "\n");
  }
  HttpResult put = Http("PUT", s_.Url(absl::StrCat("/api/v1/models/s/versions/", versions_["sum_4_twin"],
                                                   "/datasets/reference")),
                        csv, {"Authorization: Bearer " + s_.admin(), "Content-Type: text/csv"});
  ASSERT_EQ(put.status, 201) << put.body;
  json rules = {{"rules", {{{"name", "input-drift"}, {"metric", "drifted_share"}, {"threshold", 0.5},
                            {"window", "5m"}, {"min_samples", 30}}}}};
  ASSERT_EQ(s_.Call("PUT", "/api/v1/monitoring/s/alerts", rules).status, 200);
  json options = kQualityCanary;
  options["version"] = versions_["sum_4_twin"];
  std::string id = Start(options);
  ASSERT_FALSE(id.empty());
  Traffic(300, /*label=*/false);
  // A monitor tick (every 5 s of the clock) evaluates the rule; then the step ends.
  clock_.Advance(6'000);
  ASSERT_TRUE(testing_util::WaitFor([&] {
    json mon = s_.Call("GET", "/api/v1/monitoring/s?window=5m").json();
    for (const json& series : mon["series"]) {
      if (series["variant"] == "candidate" && !series["alerts_firing"].empty()) return true;
    }
    return false;
  }, 5000)) << s_.Call("GET", "/api/v1/monitoring/s/alerts").body;
  json d = AdvanceAndWait(id, 55'000);
  if (d["state"] == "progressing") d = Get(id);  // an interim look may have acted already
  EXPECT_EQ(d["state"], "rolled_back") << d.dump();
  EXPECT_NE(d["message"].get<std::string>().find("monitoring alert 'input-drift' is firing on the candidate"),
            std::string::npos) << d["message"];
}

TEST_F(QualityRolloutTest, RequireFeedbackWaitsForLabelsInsteadOfPassing) {
  json options = kQualityCanary;
  options["version"] = versions_["sum_4_twin"];
  options["analysis"]["require_feedback"] = true;
  options["analysis"]["insufficient_data_timeout_s"] = 600;
  std::string id = Start(options);
  ASSERT_FALSE(id.empty());
  Traffic(300, /*label=*/false);
  clock_.Advance(61'000);
  ASSERT_TRUE(testing_util::WaitFor([&] {
    return Get(id)["message"].get<std::string>().find("waiting for data") != std::string::npos;
  }, 5000)) << Get(id).dump();
  EXPECT_EQ(Get(id)["step"], 1);
  Traffic(300, /*label=*/true);  // labels arrive: the same model passes
  json d = AdvanceAndWait(id, 1'000);
  EXPECT_EQ(d["step"], 2) << d.dump();
}

TEST_F(QualityRolloutTest, AbTestDeclaresTheBetterVariantAndPromotesIt) {
  // The candidate converts 60% of the time, the stable 30%.
  auto outcome = [&](const std::string& version, int i) {
    bool candidate = version == std::to_string(versions_["sum_4_plus_3"]);
    return ((i * 37) % 100) < (candidate ? 60 : 30) ? 1.0 : 0.0;
  };
  std::string id = Start({{"version", versions_["sum_4_plus_3"]}, {"strategy", "ab-test"},
                          {"metric", "outcome:converted"}, {"min_samples", 100},
                          {"duration_s", 3600}, {"auto_promote", true}});
  ASSERT_FALSE(id.empty());
  json d = Get(id);
  EXPECT_EQ(d["weights"]["candidate"], 50.0);
  auto seen = Traffic(600, false, outcome);
  EXPECT_GT(seen[std::to_string(versions_["sum_4_plus_3"])], 200);
  ASSERT_TRUE(testing_util::WaitFor([&] { return Get(id)["state"] == "succeeded"; }, 5000)) << Get(id).dump();
  d = Get(id);
  EXPECT_NE(d["message"].get<std::string>().find("candidate wins"), std::string::npos) << d["message"];
  json ab = LastAnalysis(d);
  EXPECT_LT(ab["p_value"].get<double>(), 0.05);
  EXPECT_GT(ab["effect"].get<double>(), 0.2);
  EXPECT_GT(ab["srm_p"].get<double>(), 0.001);
}

TEST_F(QualityRolloutTest, AbTestOfEquivalentVariantsEndsWithNoDifferenceAtTheHorizon) {
  auto outcome = [&](const std::string&, int i) { return ((i * 37) % 100) < 40 ? 1.0 : 0.0; };
  std::string id = Start({{"version", versions_["sum_4_plus_3"]}, {"strategy", "ab-test"},
                          {"metric", "outcome:converted"}, {"min_samples", 100},
                          {"duration_s", 600}});
  ASSERT_FALSE(id.empty());
  Traffic(500, false, outcome);
  clock_.Advance(30'000);
  testing_util::WaitFor([&] { return false; }, 500);  // several looks mid-test
  EXPECT_EQ(Get(id)["state"], "progressing") << Get(id).dump();
  json d = AdvanceAndWait(id, 600'000);
  EXPECT_EQ(d["state"], "aborted") << d.dump();
  EXPECT_NE(d["message"].get<std::string>().find("no difference"), std::string::npos) << d["message"];
}

TEST_F(QualityRolloutTest, BadAbTestOptionsAreRefusedAndChangeNothing) {
  for (json bad : {json{{"metric", "profit"}}, json{{"weight", 0}}, json{{"alpha", 0.9}},
                   json{{"min_samples", 5}}, json{{"steps", json::array()}}}) {
    json body = {{"model", "s"}, {"version", versions_["neg_sum_4"]}, {"strategy", "ab-test"}};
    body.update(bad);
    HttpResult r = s_.Call("POST", "/api/v1/deployments", body);
    EXPECT_EQ(r.status, 400) << bad.dump() << " -> " << r.body;
    EXPECT_TRUE(r.json().contains("error")) << r.body;
  }
  EXPECT_EQ(s_.Call("GET", "/api/v1/deployments?endpoint=s").json()["deployments"].size(), 1u);
}

TEST(ShadowConfig, CpuShareDefaultsToATenthOfACoreAndIsValidated) {
  server::ServerConfig c;
  EXPECT_DOUBLE_EQ(c.shadow_cpu_share, 0.1);
  EXPECT_TRUE(c.Validate().ok());
  for (double bad : {0.0, 0.005, 1.5, -1.0}) {
    c.shadow_cpu_share = bad;
    absl::Status s = c.Validate();
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("shadow_cpu_share"), std::string::npos) << s;
  }
  testing_util::TempDir dir;
  std::string path = dir.path() + "/c.json";
  std::ofstream(path) << R"({"shadow_cpu_share": 0.5})";
  server::ServerConfig f;
  ASSERT_TRUE(f.MergeFile(path).ok());
  EXPECT_DOUBLE_EQ(f.shadow_cpu_share, 0.5);
  std::ofstream(path) << R"({"shadow_cpu_share": "half"})";
  EXPECT_FALSE(server::ServerConfig().MergeFile(path).ok());
}

}  // namespace
}  // namespace hotswap
