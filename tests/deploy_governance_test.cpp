// Approvals with separation of duties and the validation gates before deploy, end to end: a real
// server (real SQLite, real ONNX Runtime, real HTTP) on a FakeClock (approval expiry), the models
// of tests/models/make_gate_models.py (sum_4 and its less accurate, slower, non-finite,
// renamed-input, retyped-input and unloadable variants), and holdout CSVs whose label is the
// row's sum. Also the ApprovalService's resume-after-restart rule on the stores directly.
// Built twice: on SQLite, and (deploy_governance_pg_test) with the server's registry on the
// PostgreSQL of the ctest fixture.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "api/http/http_server.h"
#include "cli/cli.h"
#include "governance/approvals.h"
#include "registry/postgres/pg_test_server.h"
#include "registry/sqlite_deployment_store.h"
#include "registry/sqlite_governance_store.h"
#include "registry/sqlite_registry.h"
#include "tests/test_util.h"

namespace hotswap {
namespace {

using nlohmann::json;
using testing_util::Http;
using testing_util::HttpResult;
using testing_util::TestServer;
using testing_util::WaitFor;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::string Model(const std::string& name) {
  return ReadAll(std::string(HOTSWAP_GATE_MODELS_DIR) + "/" + name + ".onnx");
}

// 40 rows of 4 features; label = the row's sum (sum_4 is exact, sum_4_plus_1 is off by 1).
std::string Holdout() {
  std::string csv = "a,b,c,d,label\n";
  for (int i = 0; i < 40; ++i) {
    double a = i * 0.5, b = (i % 7) - 3, c = (i % 3) * 1.25, d = 2 - i * 0.1;
    csv += absl::StrCat(a, ",", b, ",", c, ",", d, ",", a + b + c + d, "\n");
  }
  return csv;
}

json MaeBaseline(double value, double tolerated_drop) {
  return {{"quality",
           {{"name", "mae"},
            {"value", value},
            {"tolerated_drop", tolerated_drop},
            {"higher_is_better", false}}}};
}

// Collects what is POSTed to /hook.
class WebhookReceiver {
 public:
  WebhookReceiver() {
    router_.Add("POST", "/hook", "none", [this](http::HttpRequest& req) {
      absl::MutexLock lock(&mu_);
      bodies_.push_back(req.body);
      return http::HttpResponse::Json(200, json{{"ok", true}});
    });
    http::HttpServer::Options o;
    o.port = 0;
    o.threads = 1;
    server_ = std::make_unique<http::HttpServer>(
        o, &router_, [](http::HttpRequest&, const http::Route&) { return std::nullopt; },
        [](const http::HttpRequest&, const absl::Status& s) {
          return http::HttpResponse::Error(s);
        });
    EXPECT_TRUE(server_->Start().ok());
  }
  ~WebhookReceiver() { server_->Stop(); }
  std::string Url() const { return absl::StrCat("http://127.0.0.1:", server_->port(), "/hook"); }
  std::vector<std::string> Events() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const auto& b : bodies_) out.push_back(json::parse(b, nullptr, false).value("event", ""));
    return out;
  }

 private:
  http::Router router_;
  std::unique_ptr<http::HttpServer> server_;
  absl::Mutex mu_;
  std::vector<std::string> bodies_ ABSL_GUARDED_BY(mu_);
};

#ifndef HOTSWAP_GOVERNANCE_TEST_REGISTRY
#define HOTSWAP_GOVERNANCE_TEST_REGISTRY "sqlite"
#endif
constexpr bool kOnPostgres = std::string_view(HOTSWAP_GOVERNANCE_TEST_REGISTRY) == "postgresql";

// Stops the PostgreSQL server this binary started itself (none under ctest's fixture).
class PgEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { registry::testing::PgTestServer::StopShared(); }
};
const auto* const kPgEnvironment =
    kOnPostgres ? ::testing::AddGlobalTestEnvironment(new PgEnvironment) : nullptr;

server::ServerConfig Config() {
  server::ServerConfig c;
  c.validation_benchmark_runs = 50;
  if (!kOnPostgres) return c;
  // A database of its own per test (named after it) on the shared PostgreSQL server.
  static int servers = 0;
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = "gov_";
  for (char ch : absl::StrCat(info->test_suite_name(), "_", info->name())) {
    name += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  if (name.size() > 50) {
    name = absl::StrFormat("%s_%08x", name.substr(0, 41),
                           static_cast<uint32_t>(std::hash<std::string>{}(name)));
  }
  absl::StrAppend(&name, "_", ++servers);
  auto pg = registry::testing::PgTestServer::Shared();
  if (!pg.ok()) throw std::runtime_error(pg.status().ToString());
  if (absl::Status s = (*pg)->CreateDatabase(name); !s.ok()) throw std::runtime_error(s.ToString());
  c.registry_url = absl::StrCat("postgresql://hotswap@127.0.0.1:", (*pg)->port(), "/", name);
  return c;
}

class GovernanceTest : public ::testing::Test {
 protected:
  explicit GovernanceTest(server::ServerConfig config = Config()) : s_(config, &clock_) {}

  void SetUp() override {
    ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "m"}}).status, 201);
    deployer_ = s_.TokenFor("deployer");
    approver1_ = s_.TokenFor("approver");
    approver2_ = s_.TokenFor("approver");
  }

  // Uploads `name` as a new version of m; returns its number.
  int64_t Register(const std::string& name, json baseline = nullptr) {
    json meta = {{"framework", "onnx"}, {"tags", {{"file", name}}}};
    if (!baseline.is_null()) meta["baseline"] = baseline;
    HttpResult r = s_.Upload("m", meta, Model(name));
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("version", int64_t{0});
  }
  void PutHoldout(int64_t version, const std::string& csv = Holdout()) {
    HttpResult r = Http(
        "PUT", s_.Url(absl::StrCat("/api/v1/models/m/versions/", version, "/datasets/holdout")),
        csv, {"Authorization: Bearer " + s_.admin(), "Content-Type: text/csv"});
    ASSERT_TRUE(r.status == 201 || r.status == 200) << r.body;
  }
  // Deploys directly (no policy on `endpoint`) and waits for it to serve.
  void Serve(int64_t version, const std::string& endpoint = "m") {
    HttpResult d = s_.Call("POST", "/api/v1/deployments",
                           {{"model", "m"}, {"version", version}, {"endpoint", endpoint}});
    ASSERT_EQ(d.status, 202) << d.body;
    ASSERT_TRUE(WaitFor([&] { return Deployment(d.json()["id"])["state"] == "succeeded"; }));
  }
  json Deployment(const std::string& id) {
    return s_.Call("GET", "/api/v1/deployments/" + id).json();
  }
  // Runs the gates now for `version` (against `endpoint` when given); returns the report.
  json Validate(int64_t version, const std::string& endpoint = "") {
    json body = json::object();
    if (!endpoint.empty()) body["endpoint"] = endpoint;
    HttpResult r =
        s_.Call("POST", absl::StrCat("/api/v1/models/m/versions/", version, "/validation"), body);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }
  static json GateOf(const json& report, const std::string& name) {
    for (const auto& g : report["gates"]) {
      if (g["name"] == name) return g;
    }
    return nullptr;
  }
  void PutPolicy(const std::string& endpoint, json policy) {
    HttpResult r = s_.Call("PUT", "/api/v1/approval-policies/" + endpoint, policy);
    ASSERT_TRUE(r.status == 201 || r.status == 200) << r.body;
  }
  HttpResult Deploy(int64_t version, const std::string& token, json extra = json::object()) {
    json body = {{"model", "m"}, {"version", version}};
    body.update(extra);
    return s_.Call("POST", "/api/v1/deployments", body, token);
  }
  HttpResult Decide(const std::string& id, const std::string& action, const std::string& token,
                    json body = json::object()) {
    return s_.Call("POST", "/api/v1/approvals/" + id + "/" + action, body, token);
  }
  json Approval(const std::string& id) { return s_.Call("GET", "/api/v1/approvals/" + id).json(); }
  // The version the endpoint serves, "" when none.
  std::string ServingVersion(const std::string& endpoint = "m") {
    json list = s_.Call("GET", "/api/v1/endpoints").json();
    for (const auto& e : list["endpoints"]) {
      if (e["endpoint"] == endpoint) return std::to_string(e["version"].get<int64_t>());
    }
    return "";
  }
  struct CliResult {
    int code;
    std::string out;
    std::string err;
  };
  CliResult Cli(std::vector<std::string> args, const std::string& token) {
    std::vector<std::string> full = {"hotswap", "--url", s_.Url(""), "--token", token};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    for (const auto& a : full) argv.push_back(a.c_str());
    std::ostringstream out, err;
    int code = cli::RunCli(static_cast<int>(argv.size()), argv.data(), out, err);
    return {code, out.str(), err.str()};
  }
  std::vector<std::string> AuditActions() {
    std::vector<std::string> out;
    json list = s_.Call("GET", "/api/v1/audit?limit=1000").json();
    for (const auto& e : list["entries"]) {
      out.push_back(e["action"]);
    }
    return out;
  }

  FakeClock clock_;
  TestServer s_;
  std::string deployer_, approver1_, approver2_;
};

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// ---- Validation gates ------------------------------------------------------------------------

TEST_F(GovernanceTest, RegistrationRunsEveryGateAfterTheUploadAnsweredAndStoresTheReport) {
  int64_t v = Register("sum_4", {{"latency_p99_ms", 1000.0}});
  json report;
  ASSERT_TRUE(WaitFor([&] {
    report = s_.Call("GET", absl::StrCat("/api/v1/models/m/versions/", v, "/validation")).json();
    return report["state"] == "passed" || report["state"] == "failed";
  })) << report.dump();
  EXPECT_EQ(report["state"], "passed") << report.dump();
  ASSERT_EQ(report["reports"].size(), 1u);
  const json& r = report["reports"][0]["report"];
  EXPECT_EQ(report["reports"][0]["context"], "registration");
  std::vector<std::string> names;
  for (const auto& g : r["gates"]) names.push_back(g["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"artifact", "load", "schema", "smoke", "quality",
                                             "latency"}));
  EXPECT_EQ(GateOf(r, "artifact")["status"], "passed");
  EXPECT_EQ(GateOf(r, "load")["status"], "passed");
  EXPECT_GT(GateOf(r, "load")["measurements"]["memory_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(GateOf(r, "schema")["status"], "skipped");  // no endpoint at registration
  EXPECT_EQ(GateOf(r, "smoke")["status"], "passed");
  EXPECT_EQ(GateOf(r, "quality")["status"], "skipped");  // no quality baseline
  EXPECT_EQ(GateOf(r, "latency")["status"], "passed");
}

TEST_F(GovernanceTest, ArtifactGateFailsWhenTheStoredBlobNoLongerMatchesItsDigest) {
  int64_t v = Register("sum_4");
  std::string sha = s_.Call("GET", absl::StrCat("/api/v1/models/m/versions/", v)).json()["sha256"];
  std::string blob = s_.data_dir() + "/data/artifacts/sha256/" + sha.substr(0, 2) + "/" + sha;
  ASSERT_TRUE(std::filesystem::exists(blob)) << blob;
  std::filesystem::permissions(blob, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  {
    std::ofstream out(blob, std::ios::binary | std::ios::app);
    out << "tampered";
  }
  json r = Validate(v);
  EXPECT_FALSE(r["passed"].get<bool>());
  EXPECT_EQ(GateOf(r, "artifact")["status"], "failed") << r.dump();
  EXPECT_EQ(GateOf(r, "load")["status"], "skipped");
  EXPECT_EQ(GateOf(r, "latency")["status"], "skipped");
  EXPECT_EQ(r["failed_gates"], json({"artifact"}));
}

TEST_F(GovernanceTest, LoadGateFailsForAnArtifactTheRuntimeCannotLoad) {
  int64_t v = Register("unknown_op");
  json r = Validate(v);
  EXPECT_EQ(GateOf(r, "artifact")["status"], "passed");
  EXPECT_EQ(GateOf(r, "load")["status"], "failed") << r.dump();
  EXPECT_EQ(GateOf(r, "smoke")["status"], "skipped");
  EXPECT_FALSE(r["passed"].get<bool>());
}

class GovernanceTightBudgetTest : public GovernanceTest {
 protected:
  static server::ServerConfig Tight() {
    server::ServerConfig c = Config();
    c.validation_memory_budget_bytes = 1;
    return c;
  }
  GovernanceTightBudgetTest() : GovernanceTest(Tight()) {}
};

TEST_F(GovernanceTightBudgetTest, LoadGateFailsOverTheMemoryBudget) {
  int64_t v = Register("sum_4");
  json r = Validate(v);
  json load = GateOf(r, "load");
  EXPECT_EQ(load["status"], "failed") << r.dump();
  EXPECT_NE(load["detail"].get<std::string>().find("budget is 1 bytes"), std::string::npos)
      << load.dump();
  EXPECT_EQ(load["measurements"]["memory_budget_bytes"], 1);
}

class GovernanceNoTimeTest : public GovernanceTest {
 protected:
  static server::ServerConfig NoTime() {
    server::ServerConfig c = Config();
    c.validation_load_budget_ms = 0;
    return c;
  }
  GovernanceNoTimeTest() : GovernanceTest(NoTime()) {}
};

TEST_F(GovernanceNoTimeTest, LoadGateFailsOverTheTimeBudget) {
  int64_t v = Register("sum_4");
  json load = GateOf(Validate(v), "load");
  EXPECT_EQ(load["status"], "failed") << load.dump();
  EXPECT_NE(load["detail"].get<std::string>().find("budget"), std::string::npos) << load.dump();
}

TEST_F(GovernanceTest, SchemaGatePassesForACompatibleVersion) {
  Serve(Register("sum_4"));
  int64_t v2 = Register("sum_4_plus_1");
  json schema = GateOf(Validate(v2, "m"), "schema");
  EXPECT_EQ(schema["status"], "passed") << schema.dump();
  EXPECT_EQ(schema["measurements"]["removed_inputs"], json::array());
  EXPECT_EQ(schema["measurements"]["against"]["version"], 1);
}

TEST_F(GovernanceTest, SchemaGateFailsWhenAnInputIsRemovedAndReportsTheDifference) {
  Serve(Register("sum_4"));
  int64_t v2 = Register("sum_4_renamed");
  json r = Validate(v2, "m");
  json schema = GateOf(r, "schema");
  EXPECT_EQ(schema["status"], "failed") << schema.dump();
  EXPECT_EQ(schema["measurements"]["removed_inputs"], json({"x"}));
  EXPECT_EQ(schema["measurements"]["added_inputs"], json({"features"}));
  EXPECT_NE(schema["detail"].get<std::string>().find("input 'x' removed"), std::string::npos);
  EXPECT_EQ(r["endpoint"], "m");
  EXPECT_EQ(r["serving_version"], 1);
}

TEST_F(GovernanceTest, SchemaGateFailsWhenAnInputIsRetyped) {
  Serve(Register("sum_4"));
  int64_t v2 = Register("sum_4_fp64");
  json schema = GateOf(Validate(v2, "m"), "schema");
  EXPECT_EQ(schema["status"], "failed") << schema.dump();
  ASSERT_EQ(schema["measurements"]["retyped_inputs"].size(), 1u);
  EXPECT_EQ(schema["measurements"]["retyped_inputs"][0],
            json({{"name", "x"}, {"from", "FP32"}, {"to", "FP64"}}));
}

TEST_F(GovernanceTest, SmokeGateFailsOnNonFiniteOutputs) {
  int64_t v = Register("nan_4");
  json r = Validate(v);
  json smoke = GateOf(r, "smoke");
  EXPECT_EQ(smoke["status"], "failed") << smoke.dump();
  EXPECT_NE(smoke["detail"].get<std::string>().find("non-finite"), std::string::npos);
  EXPECT_EQ(GateOf(r, "latency")["status"], "skipped");
}

TEST_F(GovernanceTest, SmokeGateRunsOnTheHoldoutRowsWhenTheVersionHasThem) {
  int64_t v = Register("sum_4");
  EXPECT_EQ(GateOf(Validate(v), "smoke")["measurements"]["example"],
            "inputs synthesised from the schema (zeros)");
  PutHoldout(v);
  json smoke = GateOf(Validate(v), "smoke");
  EXPECT_EQ(smoke["status"], "passed");
  EXPECT_EQ(smoke["measurements"]["example"], "the first 8 holdout rows");
}

TEST_F(GovernanceTest, QualityGatePassesWhenTheHoldoutMetricMeetsTheBaseline) {
  int64_t v = Register("sum_4", MaeBaseline(0.01, 0));
  PutHoldout(v);
  json quality = GateOf(Validate(v), "quality");
  EXPECT_EQ(quality["status"], "passed") << quality.dump();
  EXPECT_NEAR(quality["measurements"]["value"].get<double>(), 0.0, 1e-5);
  EXPECT_EQ(quality["measurements"]["rows"], 40);
}

TEST_F(GovernanceTest, QualityGateFailsWhenTheHoldoutMetricMissesTheBaseline) {
  int64_t v = Register("sum_4_plus_1", MaeBaseline(0.5, 0.1));
  PutHoldout(v);
  json quality = GateOf(Validate(v), "quality");
  EXPECT_EQ(quality["status"], "failed") << quality.dump();
  EXPECT_NEAR(quality["measurements"]["value"].get<double>(), 1.0, 1e-5);
  EXPECT_NE(quality["detail"].get<std::string>().find("misses the baseline"), std::string::npos);
}

TEST_F(GovernanceTest, QualityGateFailsWhenWorseThanTheServingVersionByMoreThanTheTolerance) {
  Serve(Register("sum_4"));
  // Meets its own (modest) baseline, but the serving version is exact on the same rows.
  int64_t v2 = Register("sum_4_plus_1", MaeBaseline(1.0, 0.1));
  PutHoldout(v2);
  json quality = GateOf(Validate(v2, "m"), "quality");
  EXPECT_EQ(quality["status"], "failed") << quality.dump();
  EXPECT_NEAR(quality["measurements"]["serving_value"].get<double>(), 0.0, 1e-5);
  EXPECT_NE(quality["detail"].get<std::string>().find("worse than the serving version"),
            std::string::npos);
  // Without an endpoint to compare with, the same version passes.
  EXPECT_EQ(GateOf(Validate(v2), "quality")["status"], "passed");
}

TEST_F(GovernanceTest, QualityGateIsSkippedWithoutAHoldoutDataset) {
  int64_t v = Register("sum_4", MaeBaseline(0.1, 0));
  json quality = GateOf(Validate(v), "quality");
  EXPECT_EQ(quality["status"], "skipped");
  EXPECT_NE(quality["detail"].get<std::string>().find("no holdout"), std::string::npos);
}

TEST_F(GovernanceTest, LatencyGatePassesWithinTheP99Budget) {
  int64_t v = Register("sum_4", {{"latency_p99_ms", 500.0}});
  json latency = GateOf(Validate(v), "latency");
  EXPECT_EQ(latency["status"], "passed") << latency.dump();
  EXPECT_EQ(latency["measurements"]["runs"], 50);
  EXPECT_LE(latency["measurements"]["p99_ms"].get<double>(), 500.0);
}

TEST_F(GovernanceTest, LatencyGateFailsOverTheP99Budget) {
  int64_t v = Register("slow_sum_4", {{"latency_p99_ms", 0.05}});
  json latency = GateOf(Validate(v), "latency");
  EXPECT_EQ(latency["status"], "failed") << latency.dump();
  EXPECT_GT(latency["measurements"]["p99_ms"].get<double>(), 0.05);
}

// ---- Deploys through the gates ----------------------------------------------------------------

TEST_F(GovernanceTest, AFailedGateBlocksTheDeployWith422AndTheReportAndChangesNothing) {
  Serve(Register("sum_4"));
  PutPolicy("m", {{"required_approvals", 1}});
  int64_t v2 = Register("nan_4");
  size_t deployments_before = s_.Call("GET", "/api/v1/deployments").json()["deployments"].size();
  HttpResult r = Deploy(v2, deployer_);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["error"]["code"], "validation_failed");
  EXPECT_EQ(r.json()["validation"]["failed_gates"], json({"smoke"}));
  EXPECT_EQ(s_.Call("GET", "/api/v1/approvals").json()["approvals"].size(), 0u);
  EXPECT_EQ(s_.Call("GET", "/api/v1/deployments").json()["deployments"].size(), deployments_before);
  EXPECT_EQ(ServingVersion(), "1");
  // The deploy-time report is stored for the endpoint.
  json stored =
      s_.Call("GET", absl::StrCat("/api/v1/models/m/versions/", v2, "/validation?endpoint=m"))
          .json();
  EXPECT_EQ(stored["state"], "failed");
}

TEST_F(GovernanceTest, OverrideIsRefusedWhenThePolicyDoesNotAllowIt) {
  Serve(Register("sum_4"));
  PutPolicy("m", {{"required_approvals", 1}, {"allow_override", false}});
  int64_t v2 = Register("nan_4");
  HttpResult r = Deploy(v2, s_.admin(), {{"override", {{"reason", "hotfix"}}}});
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("does not allow"),
            std::string::npos);
  EXPECT_EQ(s_.Call("GET", "/api/v1/approvals").json()["approvals"].size(), 0u);
  EXPECT_FALSE(Contains(AuditActions(), "validation.override"));
}

TEST_F(GovernanceTest, OverrideNeedsThePolicyRoleAndAReasonAndIsAudited) {
  Serve(Register("sum_4"));
  PutPolicy("m", {{"required_approvals", 1}, {"allow_override", true}, {"override_role", "admin"}});
  int64_t v2 = Register("nan_4");
  HttpResult wrong_role = Deploy(v2, deployer_, {{"override", {{"reason", "hotfix"}}}});
  EXPECT_EQ(wrong_role.status, 403) << wrong_role.body;
  EXPECT_NE(wrong_role.body.find("needs the role 'admin'"), std::string::npos);
  HttpResult no_reason = Deploy(v2, s_.admin(), {{"override", {{"reason", ""}}}});
  EXPECT_EQ(no_reason.status, 400) << no_reason.body;
  HttpResult bad_shape = Deploy(v2, s_.admin(), {{"override", "please"}});
  EXPECT_EQ(bad_shape.status, 400) << bad_shape.body;
  EXPECT_EQ(s_.Call("GET", "/api/v1/approvals").json()["approvals"].size(), 0u);
  EXPECT_FALSE(Contains(AuditActions(), "validation.override"));

  HttpResult ok =
      Deploy(v2, s_.admin(), {{"override", {{"reason", "known NaN on zeros; hotfix"}}}});
  ASSERT_EQ(ok.status, 202) << ok.body;
  EXPECT_EQ(ok.json()["state"], "pending_approval");
  EXPECT_EQ(ok.json()["approval"]["override"]["reason"], "known NaN on zeros; hotfix");
  EXPECT_EQ(ok.json()["approval"]["override"]["failed_gates"], json({"smoke"}));
  json audit = s_.Call("GET", "/api/v1/audit?action=validation.override").json();
  ASSERT_EQ(audit["entries"].size(), 1u);
  EXPECT_EQ(audit["entries"][0]["actor"], "admin");
  EXPECT_EQ(audit["entries"][0]["after"]["reason"], "known NaN on zeros; hotfix");
  EXPECT_EQ(audit["entries"][0]["target"], absl::StrCat("model/m/version/", v2));
}

TEST_F(GovernanceTest, ADeployReusesAFreshReportForTheSameServingVersionUntilItIsStale) {
  Serve(Register("sum_4"));
  PutPolicy("m", {{"required_approvals", 1}});
  int64_t v2 = Register("sum_4_plus_1");
  HttpResult first = Deploy(v2, deployer_);
  ASSERT_EQ(first.status, 202) << first.body;
  EXPECT_FALSE(first.json()["validation"].contains("reused"));
  ASSERT_EQ(
      Decide(first.json()["approval_id"], "reject", approver1_, {{"comment", "not now"}}).status,
      200);
  HttpResult second = Deploy(v2, deployer_);
  ASSERT_EQ(second.status, 202) << second.body;
  EXPECT_EQ(second.json()["validation"]["reused"], true);
  clock_.Advance(11 * 60'000);  // past the 10-minute report TTL
  HttpResult third = Deploy(v2, deployer_);
  ASSERT_EQ(third.status, 202) << third.body;
  EXPECT_FALSE(third.json()["validation"].contains("reused"));
}

// ---- Approvals -------------------------------------------------------------------------------

TEST_F(GovernanceTest, ADeployToAProtectedEndpointIsHeldUntilTheQuorumApproves) {
  Serve(Register("sum_4"));
  PutPolicy("m", {{"required_approvals", 2}, {"environment", "production"}});
  int64_t v2 = Register("sum_4_plus_1");
  HttpResult held = Deploy(v2, deployer_);
  ASSERT_EQ(held.status, 202) << held.body;
  const std::string dep = held.json()["id"];
  const std::string id = held.json()["approval_id"];
  EXPECT_EQ(held.json()["state"], "pending_approval");
  EXPECT_EQ(held.headers["location"], "/api/v1/deployments/" + dep);
  EXPECT_EQ(Deployment(dep)["state"], "pending_approval");
  EXPECT_EQ(Approval(id)["state"], "pending");
  EXPECT_EQ(Approval(id)["requested_by"].get<std::string>().rfind("deployer-", 0), 0u);

  HttpResult one = Decide(id, "approve", approver1_, {{"comment", "looks fine"}});
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.json()["state"], "pending");
  EXPECT_EQ(one.json()["approvals"], 1);
  EXPECT_EQ(ServingVersion(), "1");  // nothing deployed on one approval

  HttpResult two = Decide(id, "approve", approver2_);
  ASSERT_EQ(two.status, 200) << two.body;
  EXPECT_EQ(two.json()["state"], "deployed") << two.body;
  ASSERT_TRUE(WaitFor([&] { return Deployment(dep)["state"] == "succeeded"; }))
      << Deployment(dep).dump();
  EXPECT_EQ(ServingVersion(), std::to_string(v2));
  json listed = s_.Call("GET", "/api/v1/approvals?state=deployed&endpoint=m").json();
  ASSERT_EQ(listed["approvals"].size(), 1u);
  EXPECT_EQ(listed["approvals"][0]["decisions"].size(), 2u);
}

TEST_F(GovernanceTest, TheRequesterCannotApproveTheirOwnDeploy) {
  PutPolicy("m", {{"required_approvals", 1}});
  int64_t v = Register("sum_4");
  HttpResult held = Deploy(v, s_.admin());  // admin holds every role, but not two of them
  ASSERT_EQ(held.status, 202) << held.body;
  const std::string id = held.json()["approval_id"];
  HttpResult self = Decide(id, "approve", s_.admin(), {{"comment", "mine"}});
  EXPECT_EQ(self.status, 403) << self.body;
  EXPECT_NE(self.body.find("separation of duties"), std::string::npos);
  EXPECT_EQ(Approval(id)["approvals"], 0);
  EXPECT_EQ(Approval(id)["state"], "pending");
  EXPECT_EQ(ServingVersion(), "");
}

TEST_F(GovernanceTest, SelfApprovalCountsWhenThePolicyAllowsIt) {
  PutPolicy("m", {{"required_approvals", 1}, {"allow_self_approval", true}});
  int64_t v = Register("sum_4");
  HttpResult held = Deploy(v, s_.admin());
  ASSERT_EQ(held.status, 202) << held.body;
  HttpResult self = Decide(held.json()["approval_id"], "approve", s_.admin());
  ASSERT_EQ(self.status, 200) << self.body;
  EXPECT_EQ(self.json()["state"], "deployed");
  ASSERT_TRUE(WaitFor([&] { return ServingVersion() == std::to_string(v); }));
}

TEST_F(GovernanceTest, APersonCountsOnceTowardsTheQuorum) {
  PutPolicy("m", {{"required_approvals", 2}});
  HttpResult held = Deploy(Register("sum_4"), deployer_);
  ASSERT_EQ(held.status, 202) << held.body;
  const std::string id = held.json()["approval_id"];
  ASSERT_EQ(Decide(id, "approve", approver1_).status, 200);
  HttpResult again = Decide(id, "approve", approver1_);
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_NE(again.body.find("counts once"), std::string::npos);
  json now = Approval(id);
  EXPECT_EQ(now["approvals"], 1);
  EXPECT_EQ(now["state"], "pending");
  EXPECT_EQ(now["decisions"].size(), 1u);
}

TEST_F(GovernanceTest, TwoApproversRacingOnTheLastApprovalStartTheDeployOnce) {
  int64_t v = Register("sum_4");
  for (int round = 0; round < 3; ++round) {
    PutPolicy(absl::StrCat("race", round), {{"required_approvals", 2}});
  }
  for (int round = 0; round < 3; ++round) {
    HttpResult held = Deploy(v, deployer_, {{"endpoint", absl::StrCat("race", round)}});
    ASSERT_EQ(held.status, 202) << held.body;
    const std::string id = held.json()["approval_id"];
    ASSERT_EQ(Decide(id, "approve", approver1_).status, 200);
    std::string admin2 = s_.TokenFor("admin");
    HttpResult a, b;
    std::thread t1([&] { a = Decide(id, "approve", approver2_); });
    std::thread t2([&] { b = Decide(id, "approve", admin2); });
    t1.join();
    t2.join();
    // Exactly one made the quorum and started the deploy; the other found it decided (409).
    EXPECT_EQ((a.status == 200) + (b.status == 200), 1) << a.body << " / " << b.body;
    EXPECT_EQ((a.status == 409) + (b.status == 409), 1) << a.body << " / " << b.body;
    json now = Approval(id);
    EXPECT_EQ(now["state"], "deployed");
    EXPECT_EQ(now["approvals"], 2);
    json list = s_.Call("GET", absl::StrCat("/api/v1/deployments?endpoint=race", round)).json();
    EXPECT_EQ(list["deployments"].size(), 1u) << list.dump();
  }
}

TEST_F(GovernanceTest, OnlyThePolicysApproverRoleOrAdminMayDecide) {
  PutPolicy("m", {{"required_approvals", 1}, {"approver_role", "approver"}});
  HttpResult held = Deploy(Register("sum_4"), deployer_);
  ASSERT_EQ(held.status, 202) << held.body;
  const std::string id = held.json()["approval_id"];
  for (const char* role : {"deployer", "viewer", "editor"}) {
    HttpResult r = Decide(id, "approve", s_.TokenFor(role));
    EXPECT_EQ(r.status, 403) << role << ": " << r.body;
    EXPECT_NE(r.body.find("needs the role 'approver'"), std::string::npos);
  }
  EXPECT_EQ(Decide(id, "approve", "").status, 401);
  EXPECT_EQ(Approval(id)["decisions"].size(), 0u);
  EXPECT_EQ(Decide(id, "approve", s_.TokenFor("admin")).status, 200);  // another admin
}

TEST_F(GovernanceTest, ARejectionEndsTheRequestAndNothingIsDeployed) {
  PutPolicy("m", {{"required_approvals", 2}});
  HttpResult held = Deploy(Register("sum_4"), deployer_);
  ASSERT_EQ(held.status, 202) << held.body;
  const std::string id = held.json()["approval_id"];
  const std::string dep = held.json()["id"];
  ASSERT_EQ(Decide(id, "approve", approver1_).status, 200);
  HttpResult no_comment = Decide(id, "reject", approver2_);
  EXPECT_EQ(no_comment.status, 400) << no_comment.body;
  EXPECT_EQ(Approval(id)["state"], "pending");
  HttpResult rejected =
      Decide(id, "reject", approver2_, {{"comment", "fails the fairness review"}});
  ASSERT_EQ(rejected.status, 200) << rejected.body;
  EXPECT_EQ(rejected.json()["state"], "rejected");
  EXPECT_EQ(Deployment(dep)["state"], "rejected");
  HttpResult late = Decide(id, "approve", s_.TokenFor("approver"));
  EXPECT_EQ(late.status, 409) << late.body;
  EXPECT_EQ(ServingVersion(), "");
}

TEST_F(GovernanceTest, APendingRequestExpiresAndNothingIsDeployed) {
  PutPolicy("m", {{"required_approvals", 1}, {"expiry_seconds", 3600}});
  HttpResult held = Deploy(Register("sum_4"), deployer_);
  ASSERT_EQ(held.status, 202) << held.body;
  const std::string id = held.json()["approval_id"];
  const std::string dep = held.json()["id"];
  clock_.Advance(3599 * 1000);
  EXPECT_EQ(Approval(id)["state"], "pending");
  clock_.Advance(2000);
  // The sweeper marks it (no read needed); a read sees the same.
  ASSERT_TRUE(WaitFor([&] { return Deployment(dep)["state"] == "expired"; }, 5000))
      << Deployment(dep).dump();
  EXPECT_EQ(Approval(id)["state"], "expired");
  HttpResult late = Decide(id, "approve", approver1_);
  EXPECT_EQ(late.status, 409) << late.body;
  EXPECT_NE(late.body.find("expired"), std::string::npos);
  EXPECT_EQ(ServingVersion(), "");
  EXPECT_TRUE(Contains(AuditActions(), "approval.expired"));
}

TEST_F(GovernanceTest, APendingApprovalSurvivesARestartAndDeploysWhenApprovedAfterIt) {
  Serve(Register("sum_4"));
  PutPolicy("m", {{"required_approvals", 1}});
  int64_t v2 = Register("sum_4_plus_1");
  HttpResult held = Deploy(v2, deployer_);
  ASSERT_EQ(held.status, 202) << held.body;
  const std::string id = held.json()["approval_id"];
  const std::string dep = held.json()["id"];
  s_.Restart();
  EXPECT_EQ(ServingVersion(), "1");
  EXPECT_EQ(Approval(id)["state"], "pending");
  EXPECT_EQ(Deployment(dep)["state"], "pending_approval");
  HttpResult ok = Decide(id, "approve", approver1_);
  ASSERT_EQ(ok.status, 200) << ok.body;
  ASSERT_TRUE(WaitFor([&] { return Deployment(dep)["state"] == "succeeded"; }))
      << Deployment(dep).dump();
  EXPECT_EQ(ServingVersion(), std::to_string(v2));
  s_.Restart();  // the approved deploy is not started again; the endpoint keeps serving it
  EXPECT_EQ(ServingVersion(), std::to_string(v2));
  EXPECT_EQ(Approval(id)["state"], "deployed");
}

TEST_F(GovernanceTest, RequestsDecisionsAndTheApprovedDeployAreAudited) {
  PutPolicy("m", {{"required_approvals", 1}});
  HttpResult held = Deploy(Register("sum_4"), deployer_);
  ASSERT_EQ(held.status, 202) << held.body;
  const std::string id = held.json()["approval_id"];
  ASSERT_EQ(Decide(id, "approve", approver1_, {{"comment", "ok"}}).status, 200);
  json entries = s_.Call("GET", "/api/v1/audit?target=approval/" + id).json()["entries"];
  ASSERT_EQ(entries.size(), 2u) << entries.dump();
  EXPECT_EQ(entries[0]["action"], "approval.request");
  EXPECT_EQ(entries[0]["actor"], Approval(id)["requested_by"]);
  EXPECT_EQ(entries[1]["action"], "approval.approve");
  EXPECT_EQ(entries[1]["after"]["comment"], "ok");
  EXPECT_EQ(entries[1]["after"]["state"], "deployed");
  json created = s_.Call("GET", "/api/v1/audit?action=deployment.create").json()["entries"];
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0]["after"]["approval"], id);
  EXPECT_TRUE(Contains(AuditActions(), "approval_policy.set"));
  EXPECT_TRUE(s_.Call("GET", "/api/v1/audit/verify").json()["ok"].get<bool>());
}

class GovernanceWebhookTest : public GovernanceTest {
 protected:
  static server::ServerConfig WithHook(const std::string& url) {
    server::ServerConfig c = Config();
    c.approval_webhook_url = url;
    return c;
  }
  GovernanceWebhookTest() : GovernanceTest(WithHook(Receiver().Url())) {}
  // One receiver for the process (it must exist before the server the fixture starts).
  static WebhookReceiver& Receiver() {
    static WebhookReceiver* receiver = new WebhookReceiver();
    return *receiver;
  }
};

TEST_F(GovernanceWebhookTest, RequestsAndDecisionsArePostedToTheWebhookAndCounted) {
  PutPolicy("m", {{"required_approvals", 1}});
  HttpResult held = Deploy(Register("sum_4"), deployer_);
  ASSERT_EQ(held.status, 202) << held.body;
  ASSERT_EQ(Decide(held.json()["approval_id"], "reject", approver1_, {{"comment", "no"}}).status,
            200);
  std::vector<std::string> events;
  ASSERT_TRUE(WaitFor(
      [&] {
        events = Receiver().Events();
        return Contains(events, "approval.rejected");
      },
      10000));
  EXPECT_TRUE(Contains(events, "approval.requested"));
  EXPECT_TRUE(Contains(events, "approval.reject"));
  ASSERT_TRUE(WaitFor(
      [&] {
        return Http("GET", s_.Url("/metrics"))
                   .body.find("hotswap_approval_webhook_total{result=\"sent\"} 3") !=
               std::string::npos;
      },
      10000))
      << Http("GET", s_.Url("/metrics")).body.substr(0, 200);
}

TEST_F(GovernanceTest, TheCliListsShowsApprovesAndRejectsAndShowsValidation) {
  CliResult set = Cli({"approval", "policy", "set", "m", "--required", "1"}, s_.admin());
  ASSERT_EQ(set.code, 0) << set.err;
  int64_t v = Register("sum_4", {{"latency_p99_ms", 1000.0}});
  CliResult deploy = Cli({"deploy", "m", "--version", std::to_string(v)}, deployer_);
  ASSERT_EQ(deploy.code, 0) << deploy.err;
  EXPECT_NE(deploy.out.find("pending_approval"), std::string::npos) << deploy.out;
  EXPECT_NE(deploy.out.find("hotswap approval show apr-"), std::string::npos) << deploy.out;
  CliResult list = Cli({"--json", "approval", "list", "--state", "pending"}, approver1_);
  ASSERT_EQ(list.code, 0) << list.err;
  json listed = json::parse(list.out);
  ASSERT_EQ(listed["approvals"].size(), 1u);
  const std::string id = listed["approvals"][0]["id"];
  CliResult self = Cli({"approval", "approve", id}, deployer_);
  EXPECT_EQ(self.code, 1);
  EXPECT_NE(self.err.find("needs the role 'approver'"), std::string::npos) << self.err;
  CliResult no_comment = Cli({"approval", "reject", id}, approver1_);
  EXPECT_EQ(no_comment.code, 2) << no_comment.err;  // --comment is required
  CliResult ok = Cli({"approval", "approve", id, "--comment", "ship it"}, approver1_);
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("deployed (1 of 1 approvals)"), std::string::npos) << ok.out;
  CliResult show = Cli({"approval", "show", id}, approver1_);
  ASSERT_EQ(show.code, 0) << show.err;
  EXPECT_NE(show.out.find("approve: ship it"), std::string::npos) << show.out;
  CliResult val = Cli({"validation", "show", "m", std::to_string(v)}, deployer_);
  ASSERT_EQ(val.code, 0) << val.err;
  EXPECT_NE(val.out.find("(endpoint:m): passed"), std::string::npos) << val.out;
  EXPECT_NE(val.out.find("latency"), std::string::npos) << val.out;
  CliResult version = Cli({"version", "show", "m", std::to_string(v)}, deployer_);
  ASSERT_EQ(version.code, 0) << version.err;
  EXPECT_NE(version.out.find("validation: endpoint:m passed"), std::string::npos) << version.out;
}

TEST_F(GovernanceTest, TritonsRepositoryLoadAndRolloutRetryCannotBypassAPolicy) {
  Serve(Register("sum_4"));
  int64_t v2 = Register("sum_4_plus_1");
  HttpResult canary = Deploy(
      v2, deployer_, {{"strategy", "canary"}, {"steps", {{{"weight", 50}, {"duration_s", 600}}}}});
  ASSERT_EQ(canary.status, 202) << canary.body;
  const std::string rollout = canary.json()["id"];
  ASSERT_TRUE(WaitFor([&] { return Deployment(rollout)["state"] == "progressing"; }))
      << Deployment(rollout).dump();
  ASSERT_EQ(s_.Call("POST", "/api/v1/deployments/" + rollout + "/abort", nullptr, deployer_).status,
            200);
  PutPolicy("m", {{"required_approvals", 1}});
  size_t before = s_.Call("GET", "/api/v1/deployments").json()["deployments"].size();
  HttpResult retry =
      s_.Call("POST", "/api/v1/deployments/" + rollout + "/retry", nullptr, deployer_);
  EXPECT_EQ(retry.status, 409) << retry.body;
  EXPECT_NE(retry.body.find("approval policy"), std::string::npos) << retry.body;
  HttpResult load = s_.Call("POST", "/v2/repository/models/m/load", nullptr, deployer_);
  EXPECT_EQ(load.status, 409) << load.body;
  EXPECT_TRUE(load.json()["error"].is_string()) << load.body;  // the V2 error shape
  EXPECT_EQ(s_.Call("GET", "/api/v1/deployments").json()["deployments"].size(), before);
  EXPECT_EQ(ServingVersion(), "1");
}

// ---- Bad input ------------------------------------------------------------------------------

TEST_F(GovernanceTest, PolicyRoutesRefuseBadInputAndChangeNothing) {
  PutPolicy("m", {{"required_approvals", 2}});
  json before = s_.Call("GET", "/api/v1/approval-policies/m").json();
  struct Case {
    json body;
    int status;
    std::string token;
  };
  std::vector<Case> cases = {
      {json("not json"), 400, "@admin"},
      {{{"required_approvals", 0}}, 400, "@admin"},
      {{{"required_approvals", "two"}}, 400, "@admin"},
      {{{"approver_role", "wizard"}}, 400, "@admin"},
      {{{"expiry_seconds", 5}}, 400, "@admin"},
      {{{"surprise", true}}, 400, "@admin"},
      {{{"required_approvals", 3}}, 403, deployer_},
      {{{"required_approvals", 3}}, 401, ""},
  };
  for (const auto& c : cases) {
    HttpResult r = s_.Call("PUT", "/api/v1/approval-policies/m", c.body, c.token);
    EXPECT_EQ(r.status, c.status) << c.body.dump() << " -> " << r.body;
    EXPECT_TRUE(r.json()["error"].is_object()) << r.body;
  }
  EXPECT_EQ(s_.Call("PUT", "/api/v1/approval-policies/-bad", json::object()).status, 400);
  EXPECT_EQ(s_.Call("GET", "/api/v1/approval-policies/m").json(), before);
  EXPECT_EQ(s_.Call("GET", "/api/v1/approval-policies/nope").status, 404);
  EXPECT_EQ(s_.Call("DELETE", "/api/v1/approval-policies/nope").status, 404);
  EXPECT_EQ(s_.Call("DELETE", "/api/v1/approval-policies/m", nullptr, approver1_).status, 403);
  EXPECT_EQ(s_.Call("GET", "/api/v1/approval-policies").json()["policies"].size(), 1u);
  EXPECT_EQ(s_.Call("DELETE", "/api/v1/approval-policies/m").status, 204);
  EXPECT_EQ(s_.Call("GET", "/api/v1/approval-policies").json()["policies"].size(), 0u);
}

TEST_F(GovernanceTest, ApprovalRoutesRefuseBadInputAndChangeNothing) {
  PutPolicy("m", {{"required_approvals", 1}});
  HttpResult held = Deploy(Register("sum_4"), deployer_);
  ASSERT_EQ(held.status, 202) << held.body;
  const std::string id = held.json()["approval_id"];
  EXPECT_EQ(Decide("apr-nope", "approve", approver1_).status, 404);
  EXPECT_EQ(Decide(id, "maybe", approver1_).status, 404);
  EXPECT_EQ(s_.Call("POST", "/api/v1/approvals/" + id + "/approve", json("[1]"), approver1_).status,
            400);
  EXPECT_EQ(Decide(id, "approve", approver1_, {{"comment", 5}}).status, 400);
  EXPECT_EQ(Decide(id, "approve", approver1_, {{"comment", "x"}, {"extra", 1}}).status, 400);
  EXPECT_EQ(s_.Call("GET", "/api/v1/approvals/apr-nope").status, 404);
  EXPECT_EQ(s_.Call("GET", "/api/v1/approvals?state=maybe").status, 400);
  EXPECT_EQ(s_.Call("GET", "/api/v1/approvals?limit=0").status, 400);
  EXPECT_EQ(s_.Call("GET", "/api/v1/approvals?colour=red").status, 400);
  EXPECT_EQ(s_.Call("GET", "/api/v1/approvals", nullptr, "").status, 401);
  json now = Approval(id);
  EXPECT_EQ(now["state"], "pending");
  EXPECT_EQ(now["decisions"].size(), 0u);
}

TEST_F(GovernanceTest, ValidationRoutesAndOverrideRefuseBadInput) {
  int64_t v = Register("sum_4");
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/m/versions/99/validation").status, 404);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/nope/versions/1/validation").status, 404);
  EXPECT_EQ(s_.Call("GET", absl::StrCat("/api/v1/models/m/versions/", v, "/validation?x=1")).status,
            400);
  EXPECT_EQ(
      s_.Call("GET", absl::StrCat("/api/v1/models/m/versions/", v, "/validation?endpoint=none"))
          .status,
      404);
  EXPECT_EQ(s_.Call("POST", absl::StrCat("/api/v1/models/m/versions/", v, "/validation"),
                    {{"endpoint", 3}})
                .status,
            400);
  EXPECT_EQ(s_.Call("POST", absl::StrCat("/api/v1/models/m/versions/", v, "/validation"),
                    json::object(), s_.TokenFor("viewer"))
                .status,
            403);
  // An override on an endpoint without gates has nothing to override.
  HttpResult r = Deploy(v, s_.admin(), {{"override", {{"reason", "why not"}}}});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(ServingVersion(), "");
}

// ---- The service on the stores: an approved deploy a restart interrupted starts once ----------

TEST(ApprovalServiceTest, AnApprovedDeployInterruptedByARestartStartsExactlyOnce) {
  testing_util::TempDir dir;
  FakeClock clock;
  auto db = registry::SqliteDatabase::Open(dir.path() + "/registry.db");
  ASSERT_TRUE(db.ok()) << db.status();
  registry::SqliteGovernanceStore store(*db);
  registry::SqliteDeploymentStore deployments(*db);
  governance::ApprovalService::Options o;
  o.start_threads = false;
  int started = 0;
  auto make = [&] {
    auto s = std::make_unique<governance::ApprovalService>(o, &store, &deployments, &clock);
    s->SetDeployStarter(
        [&](const registry::ApprovalRequest& r) -> absl::StatusOr<domain::Deployment> {
          ++started;
          auto d = deployments.Get(r.deployment_id);
          if (!d.ok()) return d.status();
          d->state = "pending";  // what DeploymentService::Create does to the held record
          if (absl::Status s = deployments.Update(*d); !s.ok()) return s;
          return *d;
        });
    return s;
  };
  registry::ApprovalPolicy policy;
  policy.endpoint = "m";
  domain::ModelVersion v;
  v.model_name = "m";
  v.version = 1;
  auto service = make();
  auto held = service->Open(policy, "m", v, "direct", std::nullopt, {{"model", "m"}}, "alice",
                            "deployer", nullptr, nullptr);
  ASSERT_TRUE(held.ok()) << held.status();
  // The process died right after the request became approved, before it started the deploy.
  auto r = store.GetRequest(held->request.id);
  ASSERT_TRUE(r.ok());
  r->state = "approved";
  ASSERT_TRUE(store.UpdateRequest(*r).ok());
  service = make();
  service->Resume();
  EXPECT_EQ(started, 1);
  EXPECT_EQ(store.GetRequest(held->request.id)->state, "deployed");
  service = make();
  service->Resume();  // another restart: nothing starts again
  EXPECT_EQ(started, 1);
  // And a request approved whose deploy had started before the crash is only recorded.
  auto second = service->Open(policy, "m", v, "direct", std::nullopt, {{"model", "m"}}, "alice",
                              "deployer", nullptr, nullptr);
  ASSERT_TRUE(second.ok());
  auto d = deployments.Get(second->deployment.id);
  d->state = "succeeded";
  ASSERT_TRUE(deployments.Update(*d).ok());
  auto r2 = store.GetRequest(second->request.id);
  r2->state = "approved";
  ASSERT_TRUE(store.UpdateRequest(*r2).ok());
  make()->Resume();
  EXPECT_EQ(started, 1);
  EXPECT_EQ(store.GetRequest(second->request.id)->state, "deployed");
}

}  // namespace
}  // namespace hotswap
