// Online monitoring end to end on a real server (real ONNX Runtime, real HTTP): predictions
// joined with feedback posted later, per-version/variant windows, the API's bad-input cases,
// /metrics, and alert rules delivering events to a webhook (a real HTTP receiver).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/test_util.h"

namespace hotswap {
namespace {

using nlohmann::json;
using testing_util::Http;
using testing_util::HttpResult;
using testing_util::TestServer;

using testing_util::ReadAll;

// Alert and deployment events POSTed to /hook, parsed.
class WebhookReceiver {
 public:
  std::string Url() const { return recorder_.Url(); }
  std::vector<json> Events() const {
    std::vector<json> out;
    for (const auto& b : recorder_.Bodies()) out.push_back(json::parse(b, nullptr, false));
    return out;
  }

 private:
  testing_util::PostRecorder recorder_{"/hook"};
};

// Spread-out values in [0, 1): feature k of row i.
double SumFeature(int i, int k) { return ((i * 7919 + k * 104729) % 1000) / 1000.0; }

// The reference dataset of a sum_4 version: x in [0, 1) per column, y = the sum (the model's
// output, profiled as a prediction), and a label column the drift monitor leaves out.
HttpResult PutSumReference(TestServer& s, int64_t version) {
  std::string csv = "a,b,c,d,y,label\n";
  for (int i = 0; i < 500; ++i) {
    double sum = 0;
    for (int k = 0; k < 4; ++k) {
      csv += absl::StrCat(SumFeature(i, k), ",");
      sum += SumFeature(i, k);
    }
    csv += absl::StrCat(sum, ",", i % 2, "\n");
  }
  return Http("PUT", s.Url(absl::StrCat("/api/v1/models/sum/versions/", version, "/datasets/reference")),
              csv, {"Authorization: Bearer " + s.admin(), "Content-Type: text/csv"});
}

class MonitoringTest : public ::testing::Test {
 protected:
  explicit MonitoringTest(server::ServerConfig cfg = {}) : s_(cfg) {}

  int64_t Register(const std::string& model, const std::string& artifact) {
    if (s_.Call("GET", "/api/v1/models/" + model).status == 404) {
      EXPECT_EQ(s_.Call("POST", "/api/v1/models", {{"name", model}}).status, 201);
    }
    HttpResult r = s_.Upload(model, {{"framework", "onnx"}}, artifact);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("version", int64_t{0});
  }
  void Deploy(const std::string& model, int64_t version) {
    HttpResult r = s_.Call("POST", "/api/v1/deployments", {{"model", model}, {"version", version}});
    ASSERT_EQ(r.status, 202) << r.body;
    std::string id = r.json()["id"];
    ASSERT_TRUE(testing_util::WaitFor([&] {
      return s_.Call("GET", "/api/v1/deployments/" + id).json().value("state", "") == "succeeded";
    }));
  }
  HttpResult Infer(const std::string& model, const json& body,
                   std::vector<std::string> headers = {}) {
    headers.push_back("Authorization: Bearer " + s_.admin());
    headers.push_back("Content-Type: application/json");
    return Http("POST", s_.Url("/v2/models/" + model + "/infer"), body.dump(), headers);
  }
  json Iris() {
    return json::parse(ReadAll(std::string(HOTSWAP_DEMO_MODELS_DIR) + "/iris.samples.json"));
  }
  void DeployIris() { Deploy("iris", Register("iris", ReadAll(std::string(HOTSWAP_DEMO_MODELS_DIR) + "/iris.onnx"))); }
  void DeploySum() { Deploy("sum", Register("sum", ReadAll(std::string(HOTSWAP_SWAP_MODELS_DIR) + "/sum_4.onnx"))); }
  HttpResult InferSum(const std::string& id, std::vector<float> x) {
    json body = {{"inputs", {{{"name", "x"}, {"shape", {1, 4}}, {"datatype", "FP32"}, {"data", x}}}}};
    if (!id.empty()) body["id"] = id;
    return Infer("sum", body);
  }
  json Series(const std::string& endpoint, const std::string& variant = "stable",
              const std::string& window = "5m") {
    HttpResult r = s_.Call("GET", "/api/v1/monitoring/" + endpoint + "?window=" + window);
    EXPECT_EQ(r.status, 200) << r.body;
    json all = r.json();
    for (const auto& s : all["series"]) {
      if (s["variant"] == variant) return s;
    }
    ADD_FAILURE() << "no " << variant << " series in " << r.body;
    return json();
  }

  TestServer s_;
};

TEST_F(MonitoringTest, FeedbackJoinsOnRequestIdAndGivesAccuracyPerVersion) {
  DeployIris();
  json samples = Iris()["samples"];
  json items = json::array();
  int n = 0, expect_correct = 0;
  for (const auto& sample : samples) {
    json req = {{"id", absl::StrCat("q", n)}, {"inputs", sample["inputs"]}};
    HttpResult r = Infer("iris", req);
    ASSERT_EQ(r.status, 200) << r.body;
    int64_t predicted = sample["outputs"][0]["data"][0];
    // Every third label disagrees with the model.
    bool agree = n % 3 != 0;
    expect_correct += agree;
    items.push_back({{"request_id", absl::StrCat("q", n)}, {"label", agree ? predicted : (predicted + 1) % 3}});
    ++n;
  }
  ASSERT_GE(n, 3);
  HttpResult f = s_.Call("POST", "/api/v1/feedback", {{"items", items}});
  ASSERT_EQ(f.status, 200) << f.body;
  EXPECT_EQ(f.json()["matched"], n);
  json s = Series("iris");
  EXPECT_EQ(s["version"], 1);
  EXPECT_EQ(s["requests"], n);
  json c = s["accuracy"]["classification"];
  ASSERT_TRUE(c.is_object()) << s.dump();
  EXPECT_EQ(c["labelled"], n);
  EXPECT_DOUBLE_EQ(c["accuracy"].get<double>(), static_cast<double>(expect_correct) / n);
  EXPECT_TRUE(c["log_loss"].is_number());  // iris returns probabilities
}

TEST_F(MonitoringTest, FeedbackJoinsOnXRequestIdWhenTheBodyHasNoId) {
  DeploySum();
  HttpResult r = InferSum("", {1, 2, 3, 4});
  ASSERT_EQ(r.status, 200) << r.body;
  std::string rid = r.headers["x-request-id"];
  ASSERT_FALSE(rid.empty());
  HttpResult f = s_.Call("POST", "/api/v1/feedback", {{"request_id", rid}, {"value", 12.0}});
  ASSERT_EQ(f.status, 200) << f.body;
  EXPECT_EQ(f.json()["matched"], 1);
  json reg = Series("sum")["accuracy"]["regression"];
  ASSERT_TRUE(reg.is_object());
  EXPECT_DOUBLE_EQ(reg["mae"].get<double>(), 2.0);  // predicted 10, truth 12
  EXPECT_DOUBLE_EQ(reg["mape"].get<double>(), 2.0 / 12);
}

TEST_F(MonitoringTest, BadFeedbackIsRefusedWithAClearErrorAndCreditsNothing) {
  DeploySum();
  ASSERT_EQ(InferSum("a", {1, 1, 1, 1}).status, 200);
  struct Case {
    std::string body;
    std::string expect;
  } cases[] = {
      {"", "empty"},
      {"{not json", "not valid JSON"},
      {R"({"items": []})", "non-empty array"},
      {R"({"items": [{"request_id": "a"}]})", "needs a label"},
      {R"({"items": [{"request_id": "", "value": 1}]})", "request_id"},
      {R"({"items": [{"request_id": "a", "value": "x"}]})", "items[0].value"},
      {R"({"items": [{"request_id": "a", "label": 1.5}]})", "items[0].label"},
      {R"({"items": [{"request_id": "a", "outcome": {}}]})", "items[0].outcome"},
      {R"({"items": [{"request_id": "a", "value": 1, "colour": "red"}]})", "unknown field 'colour'"},
      {R"({"items": [{"request_id": "a", "value": 1}], "extra": 1})", "beside"},
      // One good item and one bad: neither is credited.
      {R"({"items": [{"request_id": "a", "value": 4}, {"request_id": "b", "value": null}]})",
       "items[1].value"},
  };
  for (const auto& c : cases) {
    HttpResult r = Http("POST", s_.Url("/api/v1/feedback"), c.body,
                        {"Authorization: Bearer " + s_.admin(), "Content-Type: application/json"});
    EXPECT_EQ(r.status, 400) << c.body << " -> " << r.body;
    json e = r.json();
    ASSERT_TRUE(e.contains("error")) << r.body;
    EXPECT_NE(e["error"]["message"].get<std::string>().find(c.expect), std::string::npos)
        << c.body << " -> " << r.body;
  }
  EXPECT_TRUE(Series("sum")["accuracy"]["regression"].is_null());
  // Item "a" was never credited, so it is not a duplicate now.
  HttpResult ok = s_.Call("POST", "/api/v1/feedback", {{"request_id", "a"}, {"value", 4.0}});
  EXPECT_EQ(ok.json()["matched"], 1) << ok.body;
  // Unauthenticated feedback is refused.
  EXPECT_EQ(s_.Call("POST", "/api/v1/feedback", {{"request_id", "a"}, {"value", 4.0}}, "").status, 401);
}

TEST_F(MonitoringTest, UnknownAndDuplicateFeedbackIsCountedNotCredited) {
  DeploySum();
  ASSERT_EQ(InferSum("a", {1, 1, 1, 1}).status, 200);
  json items = json::array({{{"request_id", "a"}, {"value", 5.0}},
                            {{"request_id", "a"}, {"value", 6.0}},
                            {{"request_id", "never-seen"}, {"value", 1.0}},
                            {{"request_id", "a"}, {"label", "1"}}});
  HttpResult f = s_.Call("POST", "/api/v1/feedback", {{"items", items}});
  ASSERT_EQ(f.status, 200) << f.body;
  EXPECT_EQ(f.json()["matched"], 1);
  EXPECT_EQ(f.json()["duplicate"], 1);
  EXPECT_EQ(f.json()["unknown"], 1);
  EXPECT_EQ(f.json()["not_applicable"], 1);  // a class label for a regression prediction
  EXPECT_DOUBLE_EQ(Series("sum")["accuracy"]["regression"]["mae"].get<double>(), 1.0);
  HttpResult m = Http("GET", s_.Url("/metrics"));
  EXPECT_NE(m.body.find("hotswap_feedback_items_total{result=\"unknown\"} 1"), std::string::npos);
  EXPECT_NE(m.body.find("hotswap_feedback_items_total{result=\"duplicate\"} 1"), std::string::npos);
}

TEST_F(MonitoringTest, OutcomesAreSummedPerVariantForABTests) {
  DeploySum();
  for (int i = 0; i < 4; ++i) ASSERT_EQ(InferSum(absl::StrCat("o", i), {1, 1, 1, 1}).status, 200);
  json items = json::array();
  for (int i = 0; i < 4; ++i) {
    items.push_back({{"request_id", absl::StrCat("o", i)}, {"outcome", {{"converted", i % 2 == 0}}}});
  }
  ASSERT_EQ(s_.Call("POST", "/api/v1/feedback", {{"items", items}}).json()["matched"], 4);
  json o = Series("sum")["accuracy"]["outcomes"]["converted"];
  EXPECT_EQ(o["n"], 4);
  EXPECT_DOUBLE_EQ(o["mean"].get<double>(), 0.5);
}

TEST_F(MonitoringTest, MonitoringRoutesRefuseBadInput) {
  DeploySum();
  HttpResult unknown = s_.Call("GET", "/api/v1/monitoring/nope");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.json()["error"]["message"].get<std::string>().find("nope"), std::string::npos);
  HttpResult bad_window = s_.Call("GET", "/api/v1/monitoring/sum?window=7m");
  EXPECT_EQ(bad_window.status, 400);
  EXPECT_NE(bad_window.body.find("1m, 5m, 1h, 24h"), std::string::npos);
  EXPECT_EQ(s_.Call("GET", "/api/v1/monitoring/sum", nullptr, "").status, 401);
  // Alert rules: refused bodies change nothing.
  json good = {{"rules", {{{"name", "slow"}, {"metric", "p99_ms"}, {"threshold", 50}}}}};
  ASSERT_EQ(s_.Call("PUT", "/api/v1/monitoring/sum/alerts", good).status, 200);
  HttpResult bad = s_.Call("PUT", "/api/v1/monitoring/sum/alerts",
                           {{"rules", {{{"metric", "p99_ms"}, {"threshold", "high"}}}}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("rules[0].threshold"), std::string::npos);
  std::string reader = s_.TokenFor("viewer");
  EXPECT_EQ(s_.Call("PUT", "/api/v1/monitoring/sum/alerts", good, reader).status, 403);
  json rules = s_.Call("GET", "/api/v1/monitoring/sum/alerts").json()["rules"];
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0]["name"], "slow");
}

TEST_F(MonitoringTest, WindowsReportPhasesQuantilesAndThroughput) {
  DeploySum();
  for (int i = 0; i < 50; ++i) ASSERT_EQ(InferSum("", {1, 2, 3, 4}).status, 200);
  json s = Series("sum", "stable", "1m");
  EXPECT_EQ(s["requests"], 50);
  EXPECT_EQ(s["errors"], 0);
  EXPECT_DOUBLE_EQ(s["error_rate"].get<double>(), 0.0);
  for (const char* phase : {"queue", "preprocess", "compute", "total"}) {
    EXPECT_EQ(s["latency_ms"][phase]["count"], 50) << phase;
    EXPECT_TRUE(s["latency_ms"][phase]["p99"].is_number()) << phase;
  }
  EXPECT_GE(s["latency_ms"]["total"]["p99"].get<double>(), s["latency_ms"]["compute"]["p50"].get<double>());
  HttpResult m = Http("GET", s_.Url("/metrics"));
  EXPECT_NE(m.body.find(R"(hotswap_inference_requests_total{endpoint="sum",model="sum",version="1",variant="stable"} 50)"),
            std::string::npos);
  EXPECT_NE(m.body.find("hotswap_inference_preprocess_seconds_bucket"), std::string::npos);
  EXPECT_NE(m.body.find(R"(window="1m",quantile="0.99")"), std::string::npos);
}

TEST_F(MonitoringTest, CandidateTrafficIsItsOwnVariantSeries) {
  std::string add = ReadAll(std::string(HOTSWAP_SWAP_MODELS_DIR) + "/add_1.onnx");
  Deploy("m", Register("m", add));
  int64_t v2 = Register("m", ReadAll(std::string(HOTSWAP_SWAP_MODELS_DIR) + "/add_2.onnx"));
  HttpResult r = s_.Call("POST", "/api/v1/deployments",
                         {{"model", "m"}, {"version", v2}, {"strategy", "canary"},
                          {"steps", {{{"weight", 10}, {"duration_s", 3600}}}}});
  ASSERT_EQ(r.status, 202) << r.body;
  std::string id = r.json()["id"];
  ASSERT_TRUE(testing_util::WaitFor([&] {
    return s_.Call("GET", "/api/v1/deployments/" + id).json().value("state", "") == "progressing";
  }));
  json body = {{"inputs", {{{"name", "x"}, {"shape", {1, 4}}, {"datatype", "FP32"}, {"data", {1, 2, 3, 4}}}}}};
  for (int i = 0; i < 7; ++i) ASSERT_EQ(Infer("m", body, {"x-hotswap-variant: candidate"}).status, 200);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Infer("m", body, {"x-hotswap-variant: stable"}).status, 200);
  json cand = Series("m", "candidate");
  EXPECT_EQ(cand["version"], v2);
  EXPECT_EQ(cand["requests"], 7);
  EXPECT_EQ(Series("m", "stable")["requests"], 5);
  s_.Call("POST", "/api/v1/deployments/" + id + "/abort");
}

TEST_F(MonitoringTest, FeatureDriftIsComputedOnlineAgainstTheVersionsReferenceData) {
  int64_t v = Register("sum", ReadAll(std::string(HOTSWAP_SWAP_MODELS_DIR) + "/sum_4.onnx"));
  HttpResult put = PutSumReference(s_, v);
  ASSERT_EQ(put.status, 201) << put.body;
  Deploy("sum", v);
  for (int i = 0; i < 300; ++i) {
    std::vector<float> row;
    for (int k = 0; k < 4; ++k) row.push_back(static_cast<float>(SumFeature(i + 1000, k)));
    ASSERT_EQ(InferSum("", row).status, 200);
  }
  HttpResult r = s_.Call("GET", "/api/v1/monitoring/sum/features?window=5m");
  ASSERT_EQ(r.status, 200) << r.body;
  json ver = r.json()["versions"][0];
  EXPECT_EQ(ver["version"], v);
  EXPECT_EQ(ver["reference_rows"], 500);
  // a..d bound by position to x's columns, y to the output; the label is left out.
  EXPECT_EQ(ver["bindings"]["c"]["column"], 2);
  EXPECT_EQ(ver["bindings"]["y"]["tensor"], "y");
  EXPECT_FALSE(ver["features"].contains("label"));
  json a = ver["features"]["a"];
  uint64_t seen = 0;
  for (const auto& n : a["bins"]["current"]) seen += n.get<uint64_t>();
  EXPECT_EQ(seen, 300u);
  EXPECT_EQ(a["bins"]["reference"].size(), a["bins"]["current"].size());
  EXPECT_TRUE(a["quantiles"]["current"]["p50"].is_number());
  EXPECT_EQ(ver["dataset_drift"], false) << ver.dump();
  // The same inputs shifted by 2: every feature and the prediction drift.
  for (int i = 0; i < 300; ++i) {
    std::vector<float> row;
    for (int k = 0; k < 4; ++k) row.push_back(static_cast<float>(SumFeature(i + 2000, k) + 2));
    ASSERT_EQ(InferSum("", row).status, 200);
  }
  ver = s_.Call("GET", "/api/v1/monitoring/sum/features?window=5m").json()["versions"][0];
  EXPECT_EQ(ver["dataset_drift"], true) << ver.dump();
  for (const char* f : {"a", "b", "c", "d", "y"}) {
    EXPECT_EQ(ver["features"][f]["drift"], true) << f;
    EXPECT_GT(ver["features"][f]["psi"].get<double>(), 0.2) << f;
  }
  // The profile the server built from the dataset (every column, typed from the data).
  HttpResult prof = s_.Call("GET", absl::StrCat("/api/v1/models/sum/versions/", v, "/profile?bins=10"));
  ASSERT_EQ(prof.status, 200) << prof.body;
  EXPECT_EQ(prof.json()["format"], "hotswap.reference_profile/v1");
  EXPECT_EQ(prof.json()["row_count"], 500);
  EXPECT_EQ(s_.Call("GET", absl::StrCat("/api/v1/models/sum/versions/", v, "/profile?bins=0")).status, 400);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/sum/versions/99/profile").status, 404);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/sum/versions/one/profile").status, 400);
  // Feature windows keep one hour; an unknown endpoint is a 404.
  EXPECT_EQ(s_.Call("GET", "/api/v1/monitoring/sum/features?window=24h").status, 400);
  EXPECT_EQ(s_.Call("GET", "/api/v1/monitoring/nope/features").status, 404);
}

TEST_F(MonitoringTest, AVersionWithoutReferenceDataHasNoFeatureReport) {
  DeploySum();
  ASSERT_EQ(InferSum("", {1, 2, 3, 4}).status, 200);
  HttpResult r = s_.Call("GET", "/api/v1/monitoring/sum/features");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.json()["versions"].empty());
}

class MonitoringOffTest : public MonitoringTest {
 protected:
  static server::ServerConfig Off() {
    server::ServerConfig c;
    c.monitoring = false;
    return c;
  }
  MonitoringOffTest() : MonitoringTest(Off()) {}
};

TEST_F(MonitoringOffTest, NoPredictionsAreRememberedWhenMonitoringIsOff) {
  DeploySum();
  ASSERT_EQ(InferSum("a", {1, 1, 1, 1}).status, 200);
  HttpResult f = s_.Call("POST", "/api/v1/feedback", {{"request_id", "a"}, {"value", 4.0}});
  EXPECT_EQ(f.json()["unknown"], 1) << f.body;
  EXPECT_EQ(Series("sum")["requests"], 1);  // latency windows still work
}

// Alerts with a fast monitor tick and a webhook.
class AlertTest : public ::testing::Test {
 protected:
  server::ServerConfig Config() {
    server::ServerConfig c;
    c.monitor_tick_ms = 100;
    c.alert_webhook_url = receiver_.Url();
    return c;
  }
  // Registers sum_4 as version 1 of "sum" (with its reference dataset when asked) and deploys it.
  void DeploySum(TestServer& s, bool with_reference) {
    ASSERT_EQ(s.Call("POST", "/api/v1/models", {{"name", "sum"}}).status, 201);
    HttpResult up = s.Upload("sum", {{"framework", "onnx"}},
                             ReadAll(std::string(HOTSWAP_SWAP_MODELS_DIR) + "/sum_4.onnx"));
    ASSERT_EQ(up.status, 201) << up.body;
    if (with_reference) {
      HttpResult put = PutSumReference(s, 1);
      ASSERT_EQ(put.status, 201) << put.body;
    }
    HttpResult d = s.Call("POST", "/api/v1/deployments", {{"model", "sum"}, {"version", 1}});
    ASSERT_EQ(d.status, 202);
    ASSERT_TRUE(testing_util::WaitFor([&] {
      return s.Call("GET", "/api/v1/deployments/" + d.json()["id"].get<std::string>()).json()["state"] ==
             "succeeded";
    }));
  }
  WebhookReceiver receiver_;
};

TEST_F(AlertTest, FiringAlertIsPostedToTheWebhookAndRulesSurviveARestart) {
  TestServer s(Config());
  ASSERT_NO_FATAL_FAILURE(DeploySum(s, /*with_reference=*/false));
  // Any latency at all exceeds this threshold: the rule fires once 5 requests are seen.
  json rules = {{"rules", {{{"name", "any-latency"}, {"metric", "p99_ms"}, {"op", ">"},
                            {"threshold", 0.000001}, {"window", "1m"}, {"min_samples", 5}}}}};
  ASSERT_EQ(s.Call("PUT", "/api/v1/monitoring/sum/alerts", rules).status, 200);
  json body = {{"inputs", {{{"name", "x"}, {"shape", {1, 4}}, {"datatype", "FP32"}, {"data", {1, 2, 3, 4}}}}}};
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(Http("POST", s.Url("/v2/models/sum/infer"), body.dump(),
                   {"Authorization: Bearer " + s.admin()}).status, 200);
  }
  ASSERT_TRUE(testing_util::WaitFor([&] { return !receiver_.Events().empty(); }, 10000));
  json e = receiver_.Events()[0];
  EXPECT_EQ(e["state"], "firing");
  EXPECT_EQ(e["endpoint"], "sum");
  EXPECT_EQ(e["version"], 1);
  EXPECT_EQ(e["variant"], "stable");
  EXPECT_EQ(e["rule"]["name"], "any-latency");
  EXPECT_GT(e["value"].get<double>(), 0);
  EXPECT_GE(e["samples"].get<int>(), 5);
  json mon = s.Call("GET", "/api/v1/monitoring/sum?window=1m").json();
  EXPECT_EQ(mon["series"][0]["alerts_firing"], json::array({"any-latency"}));
  EXPECT_EQ(s.Call("GET", "/api/v1/monitoring/sum/alerts").json()["events"].size(), 1u);
  s.Restart();
  json after = s.Call("GET", "/api/v1/monitoring/sum/alerts").json();
  ASSERT_EQ(after["rules"].size(), 1u);
  EXPECT_EQ(after["rules"][0]["name"], "any-latency");
}

TEST_F(AlertTest, DataDriftFiresAnAlertOnTheVersionsSeries) {
  TestServer s(Config());
  ASSERT_NO_FATAL_FAILURE(DeploySum(s, /*with_reference=*/true));
  // A drift metric keeps at most an hour: a 24h window is refused and changes nothing.
  json day = {{"rules", {{{"name", "drift"}, {"metric", "drifted_share"}, {"window", "24h"},
                          {"threshold", 0.5}}}}};
  HttpResult bad = s.Call("PUT", "/api/v1/monitoring/sum/alerts", day);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json()["error"]["code"], "invalid_argument") << bad.body;
  EXPECT_NE(bad.json()["error"]["message"].get<std::string>().find("kept for 1h"), std::string::npos)
      << bad.body;
  EXPECT_TRUE(s.Call("GET", "/api/v1/monitoring/sum/alerts").json()["rules"].empty());
  json rules = {{"rules", {{{"name", "drift"}, {"metric", "drifted_share"}, {"threshold", 0.5},
                            {"window", "5m"}, {"min_samples", 100}},
                           {{"name", "psi"}, {"metric", "max_psi"}, {"threshold", 0.2},
                            {"window", "5m"}, {"min_samples", 100}}}}};
  ASSERT_EQ(s.Call("PUT", "/api/v1/monitoring/sum/alerts", rules).status, 200);
  auto send = [&](int from, double shift) {
    for (int i = from; i < from + 150; ++i) {
      std::vector<float> row;
      for (int k = 0; k < 4; ++k) row.push_back(static_cast<float>(SumFeature(i, k) + shift));
      json body = {{"inputs", {{{"name", "x"}, {"shape", {1, 4}}, {"datatype", "FP32"}, {"data", row}}}}};
      ASSERT_EQ(Http("POST", s.Url("/v2/models/sum/infer"), body.dump(),
                     {"Authorization: Bearer " + s.admin()}).status, 200);
    }
  };
  // Data like the reference: the rules are evaluated (several 100 ms ticks) and stay quiet.
  send(1000, 0);
  ASSERT_TRUE(testing_util::WaitFor([&] {
    json f = s.Call("GET", "/api/v1/monitoring/sum/features?window=5m").json();
    return !f["versions"].empty() && f["versions"][0]["features"]["a"]["current_count"] == 150;
  }, 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(receiver_.Events().empty()) << receiver_.Events()[0].dump();
  // The same inputs shifted by 2: every feature drifts, and both rules fire once.
  send(2000, 2);
  send(3000, 2);
  ASSERT_TRUE(testing_util::WaitFor([&] { return receiver_.Events().size() >= 2; }, 10000));
  std::map<std::string, json> fired;
  for (const json& e : receiver_.Events()) fired[e["rule"]["name"].get<std::string>()] = e;
  ASSERT_EQ(fired.count("drift"), 1u);
  ASSERT_EQ(fired.count("psi"), 1u);
  EXPECT_EQ(fired["drift"]["state"], "firing");
  EXPECT_EQ(fired["drift"]["version"], 1);
  EXPECT_EQ(fired["drift"]["variant"], "stable");
  EXPECT_GT(fired["drift"]["value"].get<double>(), 0.5);
  EXPECT_GE(fired["drift"]["samples"].get<int>(), 100);
  EXPECT_GT(fired["psi"]["value"].get<double>(), 0.2);
  json mon = s.Call("GET", "/api/v1/monitoring/sum?window=5m").json();
  json firing = mon["series"][0]["alerts_firing"];
  std::sort(firing.begin(), firing.end());
  EXPECT_EQ(firing, json::array({"drift", "psi"}));
}

TEST_F(AlertTest, DeploymentOutcomesAndRolloutDecisionsArePostedToTheDeploymentWebhook) {
  server::ServerConfig c;
  c.deployment_webhook_url = receiver_.Url();
  TestServer s(c);
  ASSERT_EQ(s.Call("POST", "/api/v1/models", {{"name", "sum"}}).status, 201);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(s.Upload("sum", {{"framework", "onnx"}},
                       ReadAll(std::string(HOTSWAP_SWAP_MODELS_DIR) + "/sum_4.onnx")).status, 201);
  }
  HttpResult d = s.Call("POST", "/api/v1/deployments", {{"model", "sum"}, {"version", 1}});
  ASSERT_EQ(d.status, 202);
  ASSERT_TRUE(testing_util::WaitFor([&] { return !receiver_.Events().empty(); }, 10000));
  json e = receiver_.Events()[0];
  EXPECT_EQ(e["type"], "deployment.outcome");
  EXPECT_EQ(e["state"], "succeeded");
  EXPECT_EQ(e["endpoint"], "sum");
  EXPECT_EQ(e["deployment"], d.json()["id"]);
  // A canary: its first step is a decision event, its abort an outcome.
  HttpResult r = s.Call("POST", "/api/v1/deployments",
                        {{"model", "sum"}, {"version", 2}, {"strategy", "canary"},
                         {"steps", {{{"weight", 10}, {"duration_s", 3600}}}}});
  ASSERT_EQ(r.status, 202) << r.body;
  std::string id = r.json()["id"];
  ASSERT_TRUE(testing_util::WaitFor([&] {
    for (const auto& ev : receiver_.Events()) {
      if (ev["type"] == "rollout.decision" && ev["deployment"] == id) return true;
    }
    return false;
  }, 10000));
  ASSERT_EQ(s.Call("POST", "/api/v1/deployments/" + id + "/abort").status, 200);
  ASSERT_TRUE(testing_util::WaitFor([&] {
    for (const auto& ev : receiver_.Events()) {
      if (ev["type"] == "deployment.outcome" && ev["deployment"] == id && ev["state"] == "aborted") return true;
    }
    return false;
  }, 10000));
  EXPECT_NE(Http("GET", s.Url("/metrics")).body.find("hotswap_deployment_webhook_total{result=\"sent\"}"),
            std::string::npos);
}

}  // namespace
}  // namespace hotswap
