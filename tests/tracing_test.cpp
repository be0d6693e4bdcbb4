// Tracing end to end: a real server (real ONNX Runtime, real HTTP) exporting OTLP/HTTP JSON to a
// local collector stand-in (a real http::HttpServer on port 0) — inference spans in the caller's
// trace, rollout step spans, sampling, failures, and tracing off.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/http/http_server.h"
#include "api/http/router.h"
#include "tests/test_util.h"

namespace hotswap {
namespace {

using nlohmann::json;
using testing_util::Http;
using testing_util::HttpResult;
using testing_util::TestServer;

constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kParentId[] = "00f067aa0ba902b7";

using testing_util::ReadAll;

std::string Model(const std::string& name) {
  return ReadAll(std::string(HOTSWAP_SWAP_MODELS_DIR) + "/" + name + ".onnx");
}

// Records the spans POSTed to /v1/traces, as an OpenTelemetry Collector's OTLP/HTTP receiver
// would get them.
class Collector {
 public:
  std::string Base() const { return recorder_.Base(); }
  std::vector<json> Spans() const {
    std::vector<json> spans;
    for (const auto& b : recorder_.Bodies()) {
      json body = json::parse(b, nullptr, false);
      if (!body.is_object()) continue;
      for (const json& rs : body["resourceSpans"]) {
        for (const json& ss : rs["scopeSpans"]) {
          for (const json& s : ss["spans"]) spans.push_back(s);
        }
      }
    }
    return spans;
  }
  std::vector<std::string> Services() const {
    std::vector<std::string> services;
    for (const auto& b : recorder_.Bodies()) {
      json body = json::parse(b, nullptr, false);
      if (!body.is_object()) continue;
      for (const json& rs : body["resourceSpans"]) {
        services.push_back(rs["resource"]["attributes"][0]["value"]["stringValue"]);
      }
    }
    return services;
  }
  // The spans of `trace_id` once at least `n` have arrived (the exporter sends every second).
  std::vector<json> WaitForTrace(const std::string& trace_id, size_t n) {
    std::vector<json> out;
    testing_util::WaitFor(
        [&] {
          out.clear();
          for (const json& s : Spans()) {
            if (s["traceId"] == trace_id) out.push_back(s);
          }
          return out.size() >= n;
        },
        10'000);
    return out;
  }

 private:
  testing_util::PostRecorder recorder_{"/v1/traces"};
};

const json* Named(const std::vector<json>& spans, const std::string& name) {
  for (const json& s : spans) {
    if (s["name"] == name) return &s;
  }
  return nullptr;
}

// An attribute's value as JSON (its stringValue / intValue / doubleValue / boolValue), or null.
json Attr(const json& span, const std::string& key) {
  for (const json& a : span["attributes"]) {
    if (a["key"] == key) return a["value"].begin().value();
  }
  return nullptr;
}

server::ServerConfig Traced(const Collector& c, double ratio = 1.0) {
  server::ServerConfig cfg;
  cfg.otlp_endpoint = c.Base();
  cfg.trace_sample_ratio = ratio;
  return cfg;
}

class TracingTest : public ::testing::Test {
 protected:
  // Registers m with add_1 (y = x + 1), add_2 and flaky_add_2 (fails when x[0] >= 10) as
  // versions 1-3, and deploys add_1 directly.
  void Setup(TestServer& s) {
    ASSERT_EQ(s.Call("POST", "/api/v1/models", {{"name", "m"}}).status, 201);
    for (const char* name : {"add_1", "add_2", "flaky_add_2"}) {
      HttpResult r = s.Upload("m", {{"framework", "onnx"}}, Model(name));
      ASSERT_EQ(r.status, 201) << r.body;
    }
    HttpResult d = s.Call("POST", "/api/v1/deployments", {{"model", "m"}, {"version", 1}});
    ASSERT_EQ(d.status, 202) << d.body;
    std::string id = d.json()["id"];
    ASSERT_TRUE(testing_util::WaitFor([&] {
      return s.Call("GET", "/api/v1/deployments/" + id).json().value("state", "") == "succeeded";
    }));
  }
  HttpResult Infer(TestServer& s, std::vector<std::string> headers, int width = 4,
                   const std::string& model = "m", float value = 1.0f) {
    headers.push_back("Authorization: Bearer " + s.admin());
    json body = {{"inputs",
                  {{{"name", "x"},
                    {"shape", {1, width}},
                    {"datatype", "FP32"},
                    {"data", std::vector<float>(width, value)}}}}};
    return Http("POST", s.Url("/v2/models/" + model + "/infer"), body.dump(), headers);
  }
};

TEST_F(TracingTest, InferSpansJoinTheCallersTraceWithRoutePreprocessAndRunChildren) {
  Collector collector;
  TestServer s(Traced(collector));
  Setup(s);
  std::string incoming = absl::StrCat("00-", kTraceId, "-", kParentId, "-01");
  HttpResult r = Infer(s, {"traceparent: " + incoming, "tracestate: congo=t61rcWkgMzE"});
  ASSERT_EQ(r.status, 200) << r.body;

  std::vector<json> spans = collector.WaitForTrace(kTraceId, 4);
  ASSERT_EQ(spans.size(), 4u) << json(spans).dump(2);
  const json* server = Named(spans, "POST /v2/models/{model}/infer");
  const json* route = Named(spans, "route");
  const json* pre = Named(spans, "preprocess");
  const json* run = Named(spans, "run");
  ASSERT_TRUE(server && route && pre && run) << json(spans).dump(2);

  // The response names the server span, in the caller's trace, still sampled.
  EXPECT_EQ(r.headers["traceparent"],
            absl::StrCat("00-", kTraceId, "-", (*server)["spanId"].get<std::string>(), "-01"));
  EXPECT_EQ((*server)["parentSpanId"], kParentId);
  EXPECT_EQ((*server)["kind"], 2);
  EXPECT_EQ((*server)["traceState"], "congo=t61rcWkgMzE");
  for (const json* child : {route, pre, run}) {
    EXPECT_EQ((*child)["parentSpanId"], (*server)["spanId"]) << (*child)["name"];
    EXPECT_EQ((*child)["kind"], 1);
    EXPECT_GE(std::stoull((*child)["startTimeUnixNano"].get<std::string>()),
              std::stoull((*server)["startTimeUnixNano"].get<std::string>()));
    EXPECT_LE(std::stoull((*child)["endTimeUnixNano"].get<std::string>()),
              std::stoull((*server)["endTimeUnixNano"].get<std::string>()));
  }
  // Phases in order: route, then preprocess, then run.
  EXPECT_LE(std::stoull((*route)["endTimeUnixNano"].get<std::string>()),
            std::stoull((*pre)["startTimeUnixNano"].get<std::string>()));
  EXPECT_LE(std::stoull((*pre)["endTimeUnixNano"].get<std::string>()),
            std::stoull((*run)["startTimeUnixNano"].get<std::string>()));

  EXPECT_EQ(Attr(*server, "http.request.method"), "POST");
  EXPECT_EQ(Attr(*server, "http.route"), "/v2/models/{model}/infer");
  EXPECT_EQ(Attr(*server, "url.path"), "/v2/models/m/infer");
  EXPECT_EQ(Attr(*server, "http.response.status_code"), "200");  // intValue: a string in OTLP JSON
  EXPECT_EQ(Attr(*server, "hotswap.endpoint"), "m");
  EXPECT_EQ(Attr(*server, "hotswap.model"), "m");
  EXPECT_EQ(Attr(*server, "hotswap.version"), "1");
  EXPECT_EQ(Attr(*server, "hotswap.variant"), "stable");
  EXPECT_EQ(Attr(*server, "hotswap.request_id"), r.headers["x-request-id"]);
  EXPECT_EQ((*server)["status"]["code"], 0);
  EXPECT_EQ(Attr(*route, "hotswap.variant"), "stable");
  EXPECT_EQ(Attr(*route, "hotswap.version"), "1");
  EXPECT_EQ(Attr(*run, "hotswap.framework"), "onnx");
  EXPECT_EQ(Attr(*run, "hotswap.version"), "1");
  EXPECT_EQ(collector.Services().at(0), "hotswap");

  // Without a traceparent the request starts a new trace, named in the response.
  HttpResult fresh = Infer(s, {});
  ASSERT_EQ(fresh.status, 200);
  std::string tp = fresh.headers["traceparent"];
  ASSERT_EQ(tp.size(), 55u) << tp;
  EXPECT_NE(tp.substr(3, 32), kTraceId);
  EXPECT_EQ(tp.substr(53), "01");
  std::vector<json> fresh_spans = collector.WaitForTrace(tp.substr(3, 32), 4);
  ASSERT_EQ(fresh_spans.size(), 4u);
  EXPECT_FALSE(Named(fresh_spans, "POST /v2/models/{model}/infer")->contains("parentSpanId"));
}

TEST_F(TracingTest, FailedRequestsCarryTheStatusCodeAndMarkTheFailingPhase) {
  Collector collector;
  TestServer s(Traced(collector));
  Setup(s);
  // A shape the model does not take: 400, found while preprocessing/validating.
  std::string bad_trace = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
  HttpResult bad = Infer(s, {absl::StrCat("traceparent: 00-", bad_trace, "-", kParentId, "-01")}, 3);
  ASSERT_EQ(bad.status, 400) << bad.body;
  std::string message = bad.json()["error"];
  std::vector<json> spans = collector.WaitForTrace(bad_trace, 3);
  const json* server = Named(spans, "POST /v2/models/{model}/infer");
  const json* pre = Named(spans, "preprocess");
  ASSERT_TRUE(server && pre) << json(spans).dump(2);
  EXPECT_EQ(Named(spans, "run"), nullptr);  // never reached the engine
  EXPECT_EQ(Attr(*server, "http.response.status_code"), "400");
  EXPECT_EQ(Attr(*server, "error.type"), "400");
  EXPECT_EQ((*server)["status"]["code"], 0);  // a client error is not the server's (HTTP semconv)
  EXPECT_EQ((*pre)["status"]["code"], 2);
  EXPECT_EQ((*pre)["status"]["message"], message);

  // An unknown model: 404, a server span without children.
  std::string missing_trace = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2";
  HttpResult missing =
      Infer(s, {absl::StrCat("traceparent: 00-", missing_trace, "-", kParentId, "-01")}, 4, "nope");
  ASSERT_EQ(missing.status, 404);
  EXPECT_EQ(missing.headers["traceparent"].substr(3, 32), missing_trace);
  spans = collector.WaitForTrace(missing_trace, 1);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(Attr(spans[0], "http.response.status_code"), "404");
  EXPECT_EQ(Attr(spans[0], "hotswap.endpoint"), "nope");
  EXPECT_EQ(Attr(spans[0], "url.path"), "/v2/models/nope/infer");
}

TEST_F(TracingTest, UnsampledRequestsPropagateTheTraceButSendNoSpans) {
  Collector collector;
  TestServer s(Traced(collector, /*ratio=*/0.0));
  Setup(s);
  // The caller decided not to sample: its trace id and flag come back, nothing is recorded.
  std::string unsampled = "cccccccccccccccccccccccccccccc03";
  HttpResult r = Infer(s, {absl::StrCat("traceparent: 00-", unsampled, "-", kParentId, "-00")});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["traceparent"].substr(0, 36), absl::StrCat("00-", unsampled, "-"));
  EXPECT_EQ(r.headers["traceparent"].substr(52), "-00");
  // No traceparent and ratio 0: a new unsampled trace.
  HttpResult fresh = Infer(s, {});
  ASSERT_EQ(fresh.status, 200);
  EXPECT_EQ(fresh.headers["traceparent"].substr(52), "-00");
  // A sampled caller overrides the ratio (parent-based). Its spans are queued after the others
  // would have been, so once they arrive, anything from the first two would have too.
  std::string sampled = "dddddddddddddddddddddddddddddd04";
  ASSERT_EQ(Infer(s, {absl::StrCat("traceparent: 00-", sampled, "-", kParentId, "-01")}).status, 200);
  ASSERT_EQ(collector.WaitForTrace(sampled, 4).size(), 4u);
  for (const json& span : collector.Spans()) EXPECT_EQ(span["traceId"], sampled) << span.dump();
}

TEST_F(TracingTest, TracingOffAddsNoHeaderAndNoMetrics) {
  TestServer s;  // no otlp_endpoint: the default
  Setup(s);
  HttpResult r = Infer(s, {absl::StrCat("traceparent: 00-", kTraceId, "-", kParentId, "-01")});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.count("traceparent"), 0u);
  HttpResult m = Http("GET", s.Url("/metrics"));
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.body.find("hotswap_trace_"), std::string::npos);
  // A rollout started with a traceparent records no trace context either.
  HttpResult d = Http("POST", s.Url("/api/v1/deployments"),
                      json({{"model", "m"}, {"version", 2}, {"strategy", "canary"}}).dump(),
                      {"Authorization: Bearer " + s.admin(),
                       absl::StrCat("traceparent: 00-", kTraceId, "-", kParentId, "-01")});
  ASSERT_EQ(d.status, 202) << d.body;
  EXPECT_FALSE(d.json()["rollout"].contains("trace"));
}

TEST_F(TracingTest, CollectorDownDoesNotDisturbInferenceAndFailuresAreCounted) {
  server::ServerConfig cfg;
  cfg.otlp_endpoint = "http://127.0.0.1:1";  // nothing listens there
  TestServer s(cfg);
  Setup(s);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(Infer(s, {}).status, 200);
  EXPECT_TRUE(testing_util::WaitFor(
      [&] {
        std::string m = Http("GET", s.Url("/metrics")).body;
        return m.find("hotswap_trace_spans_total{result=\"failed\"} 80") != std::string::npos;
      },
      20'000))
      << Http("GET", s.Url("/metrics")).body;
}

TEST_F(TracingTest, RolloutStepsAreSpansInTheTraceOfTheRequestThatStartedTheRollout) {
  Collector collector;
  FakeClock clock;
  TestServer s(Traced(collector), &clock);
  Setup(s);
  std::string rollout_trace = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeee05";
  json options = {{"model", "m"},
                  {"version", 2},
                  {"strategy", "canary"},
                  {"steps", {{{"weight", 10}, {"duration_s", 60}}, {{"weight", 50}, {"duration_s", 60}}}},
                  {"analysis", {{"min_requests", 20}}}};
  HttpResult created =
      Http("POST", s.Url("/api/v1/deployments"), options.dump(),
           {"Authorization: Bearer " + s.admin(),
            absl::StrCat("traceparent: 00-", rollout_trace, "-", kParentId, "-01")});
  ASSERT_EQ(created.status, 202) << created.body;
  std::string id = created.json()["id"];
  // The rollout's trace context is part of its persisted state.
  std::string rollout_tp = created.json()["rollout"]["trace"]["traceparent"];
  EXPECT_EQ(rollout_tp.substr(3, 32), rollout_trace);
  auto get = [&] { return s.Call("GET", "/api/v1/deployments/" + id).json(); };
  ASSERT_TRUE(testing_util::WaitFor([&] { return get()["state"] == "progressing"; }));
  for (int step = 1; step <= 2; ++step) {
    // Enough traffic for the analysis (min_requests 20 on the candidate at 10% and 50%).
    for (int i = 0; i < (step == 1 ? 400 : 100); ++i) ASSERT_EQ(Infer(s, {}).status, 200);
    json before = get();
    clock.Advance(61'000);
    ASSERT_TRUE(testing_util::WaitFor([&] {
      json now = get();
      return now["state"] != before["state"] || now["step"] != before["step"];
    })) << get().dump();
  }
  ASSERT_EQ(get()["state"], "succeeded") << get().dump();

  std::vector<json> spans = collector.WaitForTrace(rollout_trace, 3);
  ASSERT_EQ(spans.size(), 3u) << json(spans).dump(2);
  const json* rollout = Named(spans, "rollout");
  ASSERT_NE(rollout, nullptr);
  EXPECT_EQ((*rollout)["spanId"], rollout_tp.substr(36, 16));
  EXPECT_EQ((*rollout)["parentSpanId"], kParentId);
  EXPECT_EQ(Attr(*rollout, "hotswap.deployment.id"), id);
  EXPECT_EQ(Attr(*rollout, "hotswap.rollout.strategy"), "canary");
  EXPECT_EQ(Attr(*rollout, "hotswap.rollout.state"), "succeeded");
  EXPECT_EQ(Attr(*rollout, "hotswap.version"), "2");
  // Times on the rollout clock: created at its start, ended two 61 s steps later.
  uint64_t r0 = std::stoull((*rollout)["startTimeUnixNano"].get<std::string>());
  uint64_t r1 = std::stoull((*rollout)["endTimeUnixNano"].get<std::string>());
  EXPECT_EQ(r1 - r0, 122'000'000'000ULL);

  std::vector<json> steps;
  for (const json& sp : spans) {
    if (sp["name"] == "rollout.step") steps.push_back(sp);
  }
  ASSERT_EQ(steps.size(), 2u);
  std::sort(steps.begin(), steps.end(), [](const json& a, const json& b) {
    return Attr(a, "hotswap.rollout.step").get<std::string>() <
           Attr(b, "hotswap.rollout.step").get<std::string>();
  });
  for (size_t i = 0; i < 2; ++i) {
    const json& st = steps[i];
    EXPECT_EQ(st["parentSpanId"], (*rollout)["spanId"]);
    EXPECT_EQ(Attr(st, "hotswap.deployment.id"), id);
    EXPECT_EQ(Attr(st, "hotswap.rollout.strategy"), "canary");
    EXPECT_EQ(Attr(st, "hotswap.rollout.step"), std::to_string(i + 1));
    EXPECT_EQ(Attr(st, "hotswap.rollout.weight"), i == 0 ? 10.0 : 50.0);
    EXPECT_EQ(Attr(st, "hotswap.rollout.verdict"), "pass") << st.dump();
    EXPECT_EQ(st["status"]["code"], 0);
  }
  EXPECT_EQ(Attr(steps[0], "hotswap.rollout.action"), "advance");
  EXPECT_EQ(Attr(steps[1], "hotswap.rollout.action"), "promote");
}

TEST_F(TracingTest, RolloutRolledBackByItsAnalysisEndsWithErrorSpans) {
  Collector collector;
  FakeClock clock;
  TestServer s(Traced(collector), &clock);
  Setup(s);
  json options = {{"model", "m"},
                  {"version", 3},  // flaky_add_2
                  {"strategy", "canary"},
                  {"steps", {{{"weight", 10}, {"duration_s", 60}}, {{"weight", 50}, {"duration_s", 60}}}},
                  {"analysis", {{"min_requests", 20}}}};
  HttpResult created = s.Call("POST", "/api/v1/deployments", options);
  ASSERT_EQ(created.status, 202) << created.body;
  std::string id = created.json()["id"];
  std::string tp = created.json()["rollout"]["trace"]["traceparent"];
  auto state = [&] { return s.Call("GET", "/api/v1/deployments/" + id).json()["state"]; };
  ASSERT_TRUE(testing_util::WaitFor([&] { return state() == "progressing"; }));
  // x[0] = 20: the candidate fails every request it gets; its interim analysis rolls it back.
  for (int i = 0; i < 400 && state() == "progressing"; ++i) Infer(s, {}, 4, "m", 20.0f);
  ASSERT_TRUE(testing_util::WaitFor([&] { return state() == "rolled_back"; }, 10'000)) << state();
  std::vector<json> spans = collector.WaitForTrace(tp.substr(3, 32), 2);
  const json* rollout = Named(spans, "rollout");
  const json* step = Named(spans, "rollout.step");
  ASSERT_TRUE(rollout && step) << json(spans).dump(2);
  EXPECT_EQ(Attr(*step, "hotswap.rollout.step"), "1");
  EXPECT_EQ(Attr(*step, "hotswap.rollout.action"), "rollback");
  EXPECT_EQ(Attr(*step, "hotswap.rollout.verdict"), "fail");
  EXPECT_EQ((*step)["status"]["code"], 2);
  EXPECT_EQ(Attr(*rollout, "hotswap.rollout.state"), "rolled_back");
  EXPECT_EQ((*rollout)["status"]["code"], 2);
  EXPECT_NE((*rollout)["status"]["message"].get<std::string>().find("analysis failed"),
            std::string::npos);
}

TEST_F(TracingTest, AbortedRolloutWithoutTraceparentIsANewTraceAndEndsItsOpenStep) {
  Collector collector;
  FakeClock clock;
  TestServer s(Traced(collector), &clock);
  Setup(s);
  HttpResult created = s.Call("POST", "/api/v1/deployments",
                              {{"model", "m"}, {"version", 2}, {"strategy", "canary"}});
  ASSERT_EQ(created.status, 202) << created.body;
  std::string id = created.json()["id"];
  // No traceparent: a new trace (sampled at ratio 1), named in the rollout's state.
  std::string tp = created.json()["rollout"]["trace"]["traceparent"];
  ASSERT_EQ(tp.size(), 55u);
  ASSERT_TRUE(testing_util::WaitFor(
      [&] { return s.Call("GET", "/api/v1/deployments/" + id).json()["state"] == "progressing"; }));
  ASSERT_EQ(s.Call("POST", "/api/v1/deployments/" + id + "/abort").status, 200);
  std::vector<json> spans = collector.WaitForTrace(tp.substr(3, 32), 2);
  ASSERT_EQ(spans.size(), 2u);
  const json* rollout = Named(spans, "rollout");
  const json* step = Named(spans, "rollout.step");
  ASSERT_TRUE(rollout && step);
  EXPECT_FALSE(rollout->contains("parentSpanId"));
  EXPECT_EQ(Attr(*rollout, "hotswap.rollout.state"), "aborted");
  EXPECT_EQ(Attr(*step, "hotswap.rollout.action"), "abort");
  EXPECT_EQ(Attr(*step, "hotswap.rollout.step"), "1");
}

TEST_F(TracingTest, RolloutResumedAfterARestartStaysInItsTrace) {
  Collector collector;
  FakeClock clock;
  TestServer s(Traced(collector), &clock);
  Setup(s);
  std::string trace = "ffffffffffffffffffffffffffffff06";
  HttpResult created = Http("POST", s.Url("/api/v1/deployments"),
                            json({{"model", "m"}, {"version", 2}, {"strategy", "canary"}}).dump(),
                            {"Authorization: Bearer " + s.admin(),
                             absl::StrCat("traceparent: 00-", trace, "-", kParentId, "-01")});
  ASSERT_EQ(created.status, 202) << created.body;
  std::string id = created.json()["id"];
  std::string rollout_span = created.json()["rollout"]["trace"]["traceparent"].get<std::string>().substr(36, 16);
  auto state = [&] { return s.Call("GET", "/api/v1/deployments/" + id).json()["state"]; };
  ASSERT_TRUE(testing_util::WaitFor([&] { return state() == "progressing"; }));
  auto decisions = [&] { return s.Call("GET", "/api/v1/deployments/" + id).json()["decisions"].size(); };
  size_t before = decisions();
  s.Restart();
  // Resumed once the candidate is loaded again and the step re-entered (a new "step" decision).
  ASSERT_TRUE(testing_util::WaitFor([&] { return decisions() > before; }));
  ASSERT_EQ(s.Call("POST", "/api/v1/deployments/" + id + "/abort").status, 200);
  std::vector<json> spans = collector.WaitForTrace(trace, 2);
  const json* rollout = Named(spans, "rollout");
  ASSERT_NE(rollout, nullptr) << json(spans).dump(2);
  // The same rollout span as before the restart, still the caller's child.
  EXPECT_EQ((*rollout)["spanId"], rollout_span);
  EXPECT_EQ((*rollout)["parentSpanId"], kParentId);
  EXPECT_EQ(Attr(*rollout, "hotswap.rollout.state"), "aborted");
  // The step open at the restart is not exported; the resumed step is, under the same rollout.
  const json* step = Named(spans, "rollout.step");
  ASSERT_NE(step, nullptr);
  EXPECT_EQ((*step)["parentSpanId"], rollout_span);
  EXPECT_EQ(Attr(*step, "hotswap.rollout.action"), "abort");
}

TEST(TracingConfig, RejectsABadEndpointOrRatio) {
  server::ServerConfig c;
  c.otlp_endpoint = "127.0.0.1:4318";
  EXPECT_FALSE(c.Validate().ok());
  c.otlp_endpoint = "http://127.0.0.1:4318";
  EXPECT_TRUE(c.Validate().ok());
  c.trace_sample_ratio = 1.5;
  EXPECT_FALSE(c.Validate().ok());
  c.trace_sample_ratio = -0.5;
  EXPECT_FALSE(c.Validate().ok());
  testing_util::TempDir dir;
  std::string path = dir.path() + "/c.json";
  std::ofstream(path) << R"({"otlp_endpoint": "http://collector:4318", "trace_sample_ratio": 0.1})";
  server::ServerConfig f;
  ASSERT_TRUE(f.MergeFile(path).ok());
  EXPECT_EQ(f.otlp_endpoint, "http://collector:4318");
  EXPECT_DOUBLE_EQ(f.trace_sample_ratio, 0.1);
  std::ofstream(path) << R"({"trace_sample_ratio": "all"})";
  EXPECT_FALSE(server::ServerConfig().MergeFile(path).ok());
}

}  // namespace
}  // namespace hotswap
