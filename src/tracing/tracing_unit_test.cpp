// W3C trace context, OTLP JSON encoding, sampling, the bounded queue, and the exporter against a
// real local HTTP receiver (an http::HttpServer on port 0 standing in for a collector).
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/http/http_server.h"
#include "tracing/otlp_json.h"
#include "tracing/span.h"
#include "tracing/tracer.h"

namespace hotswap::tracing {
namespace {

using nlohmann::json;

constexpr char kValid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// A stand-in OTLP collector: records every POST to /v1/traces; answers with the statuses queued
// in `script` first (e.g. 503), then 200.
class Collector {
 public:
  Collector() {
    router_.Add("POST", "/v1/traces", "none", [this](http::HttpRequest& req) {
      absl::MutexLock lock(&mu_);
      const std::string* ct = req.Header("content-type");
      content_types_.push_back(ct ? *ct : "");
      int status = 200;
      if (!script_.empty()) {
        status = script_.front();
        script_.erase(script_.begin());
      }
      attempts_++;
      if (status == 200) bodies_.push_back(req.body);
      return http::HttpResponse::Json(status, json::object());
    });
    http::HttpServer::Options o;
    o.port = 0;
    o.threads = 1;
    server_ = std::make_unique<http::HttpServer>(
        o, &router_, [](http::HttpRequest&, const http::Route&) { return std::nullopt; },
        [](const http::HttpRequest&, const absl::Status& s) { return http::HttpResponse::Error(s); });
    EXPECT_TRUE(server_->Start().ok());
  }
  ~Collector() { server_->Stop(); }
  std::string Base() const { return absl::StrCat("http://127.0.0.1:", server_->port()); }
  void Script(std::vector<int> statuses) {
    absl::MutexLock lock(&mu_);
    script_ = std::move(statuses);
  }
  std::vector<json> Bodies() {
    absl::MutexLock lock(&mu_);
    std::vector<json> out;
    for (const auto& b : bodies_) out.push_back(json::parse(b));
    return out;
  }
  std::vector<json> Spans() {
    std::vector<json> out;
    for (const json& b : Bodies()) {
      for (const json& s : b["resourceSpans"][0]["scopeSpans"][0]["spans"]) out.push_back(s);
    }
    return out;
  }
  int attempts() {
    absl::MutexLock lock(&mu_);
    return attempts_;
  }
  std::vector<std::string> content_types() {
    absl::MutexLock lock(&mu_);
    return content_types_;
  }

 private:
  http::Router router_;
  std::unique_ptr<http::HttpServer> server_;
  absl::Mutex mu_;
  std::vector<std::string> bodies_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> content_types_ ABSL_GUARDED_BY(mu_);
  std::vector<int> script_ ABSL_GUARDED_BY(mu_);
  int attempts_ ABSL_GUARDED_BY(mu_) = 0;
};

Span MakeSpan(const std::string& name) {
  Span s;
  s.trace_id = NewTraceId();
  s.span_id = NewSpanId();
  s.name = name;
  s.start_unix_nanos = 1'700'000'000'000'000'000ULL;
  s.end_unix_nanos = s.start_unix_nanos + 1500;
  return s;
}

// ---- traceparent ---------------------------------------------------------------------------

TEST(Traceparent, ParsesAValidHeader) {
  auto c = ParseTraceparent(kValid);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->trace_id.Hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(SpanIdHex(c->span_id), "00f067aa0ba902b7");
  EXPECT_EQ(c->flags, 1);
  EXPECT_TRUE(c->sampled());
  auto unsampled = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled.has_value());
  EXPECT_FALSE(unsampled->sampled());
  // Other flag bits do not make it sampled; bit 0 does, whatever else is set.
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02")->sampled());
  EXPECT_TRUE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09")->sampled());
}

TEST(Traceparent, RejectsWrongLengthsAndSeparators) {
  for (const char* bad : {
           "",
           "00",
           "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",     // trace id 31 digits
           "00-4bf92f3577b34da6a3ce929d0e0e47361-00f067aa0ba902b7-01",   // 33 digits
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",     // parent id 15 digits
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",     // flags 1 digit
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",   // version 00 + more
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-ab",
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // separator
           "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
           " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
       }) {
    EXPECT_FALSE(ParseTraceparent(bad).has_value()) << bad;
  }
}

TEST(Traceparent, RejectsUpperCaseAndNonHexDigits) {
  EXPECT_FALSE(ParseTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"));
  EXPECT_FALSE(ParseTraceparent("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0F"));
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"));
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bx-01"));
  EXPECT_FALSE(ParseTraceparent("00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST(Traceparent, RejectsVersionFfAndAllZeroIds) {
  EXPECT_FALSE(ParseTraceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(ParseTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  // Only all-zero is invalid: a zero half of the trace id is fine.
  EXPECT_TRUE(ParseTraceparent("00-00000000000000000000000000000001-00f067aa0ba902b7-01"));
}

TEST(Traceparent, ReadsAFutureVersionsKnownFieldsAndIgnoresTheRest) {
  auto c = ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->trace_id.Hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_TRUE(c->sampled());
  EXPECT_TRUE(ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  // Future versions still need the separator after the flags.
  EXPECT_FALSE(ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
}

TEST(Traceparent, FormatRoundTripsAndIdsAreNonZeroAndDistinct) {
  auto c = ParseTraceparent(kValid);
  ASSERT_TRUE(c);
  EXPECT_EQ(FormatTraceparent(c->trace_id, c->span_id, c->flags), kValid);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    TraceId t = NewTraceId();
    SpanId s = NewSpanId();
    ASSERT_TRUE(t.valid());
    ASSERT_NE(s, 0u);
    std::string tp = FormatTraceparent(t, s, 0);
    ASSERT_TRUE(ParseTraceparent(tp).has_value()) << tp;
    seen.insert(tp);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

// ---- OTLP JSON -----------------------------------------------------------------------------

TEST(OtlpJson, HasTheExportTraceServiceRequestStructure) {
  Span s;
  s.trace_id = ParseTraceparent(kValid)->trace_id;
  s.span_id = 0x1122334455667788ULL;
  s.parent_span_id = 0x00f067aa0ba902b7ULL;
  s.trace_state = "vendor=x";
  s.name = "POST /v2/models/{model}/infer";
  s.kind = SpanKind::kServer;
  s.start_unix_nanos = 1'700'000'000'123'456'789ULL;
  s.end_unix_nanos = 1'700'000'000'223'456'789ULL;
  s.SetString("http.request.method", "POST");
  s.SetInt("http.response.status_code", 500);
  s.SetError("inference failed: boom");
  Span root = MakeSpan("rollout");
  json body = json::parse(EncodeOtlpJson({s, root}, "hotswap"));
  json expected_first = {
      {"traceId", "4bf92f3577b34da6a3ce929d0e0e4736"},
      {"spanId", "1122334455667788"},
      {"parentSpanId", "00f067aa0ba902b7"},
      {"traceState", "vendor=x"},
      {"name", "POST /v2/models/{model}/infer"},
      {"kind", 2},
      {"flags", 1},
      {"startTimeUnixNano", "1700000000123456789"},
      {"endTimeUnixNano", "1700000000223456789"},
      {"attributes",
       {{{"key", "http.request.method"}, {"value", {{"stringValue", "POST"}}}},
        {{"key", "http.response.status_code"}, {"value", {{"intValue", "500"}}}}}},
      {"status", {{"code", 2}, {"message", "inference failed: boom"}}}};
  json expected = {
      {"resourceSpans",
       {{{"resource",
          {{"attributes", {{{"key", "service.name"}, {"value", {{"stringValue", "hotswap"}}}}}}}},
         {"scopeSpans", {{{"scope", {{"name", "hotswap"}}}, {"spans", {expected_first, json()}}}}}}}}};
  // The second span is a root: no parentSpanId, no traceState, status unset.
  json second = body["resourceSpans"][0]["scopeSpans"][0]["spans"][1];
  EXPECT_FALSE(second.contains("parentSpanId"));
  EXPECT_FALSE(second.contains("traceState"));
  EXPECT_EQ(second["status"], json({{"code", 0}}));
  EXPECT_EQ(second["kind"], 1);
  EXPECT_EQ(second["name"], "rollout");
  expected["resourceSpans"][0]["scopeSpans"][0]["spans"][1] = second;
  EXPECT_EQ(body, expected) << body.dump(2);
}

TEST(OtlpJson, EncodesEachAttributeTypeAsTheProtobufJsonMappingSays) {
  Span s = MakeSpan("x");
  s.SetString("s", "text");
  s.SetInt("i", -9'000'000'000'000LL);
  s.SetDouble("d", 0.25);
  s.SetBool("b", true);
  s.SetDouble("nan", std::nan(""));
  s.SetString("s", "replaced");  // Set replaces, order kept
  json j = SpanToOtlpJson(s);
  ASSERT_EQ(j["attributes"].size(), 5u);
  EXPECT_EQ(j["attributes"][0], json({{"key", "s"}, {"value", {{"stringValue", "replaced"}}}}));
  EXPECT_EQ(j["attributes"][1]["value"], json({{"intValue", "-9000000000000"}}));
  EXPECT_EQ(j["attributes"][2]["value"], json({{"doubleValue", 0.25}}));
  EXPECT_EQ(j["attributes"][3]["value"], json({{"boolValue", true}}));
  EXPECT_EQ(j["attributes"][4]["value"], json({{"doubleValue", "NaN"}}));
  // Strings are escaped; valid UTF-8 is kept, invalid bytes (names come from request paths)
  // become U+FFFD instead of breaking the body.
  s.name = "q\"b\\n\n\x01 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 bad\xff\xc3 \xed\xa0\x80";
  json body = json::parse(EncodeOtlpJson({s}, "hot\"swap"));
  EXPECT_EQ(body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"],
            "q\"b\\n\n\x01 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 bad\xef\xbf\xbd\xef\xbf\xbd "
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "hot\"swap");
}

// ---- sampling ------------------------------------------------------------------------------

std::unique_ptr<Tracer> MakeTracer(Tracer::Options o) {
  if (o.endpoint.empty()) o.endpoint = "http://127.0.0.1:1";
  auto t = Tracer::Create(std::move(o));
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : nullptr;
}

TEST(Sampler, FollowsTheParentsSampledFlagWhateverTheRatio) {
  auto none = MakeTracer({.sample_ratio = 0.0, .start_exporter = false});
  auto all = MakeTracer({.sample_ratio = 1.0, .start_exporter = false});
  auto sampled = ParseTraceparent(kValid);
  auto unsampled = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(none->ShouldSample(sampled));
    EXPECT_FALSE(all->ShouldSample(unsampled));
  }
  EXPECT_FALSE(none->ShouldSample(std::nullopt));
  EXPECT_TRUE(all->ShouldSample(std::nullopt));
}

TEST(Sampler, SamplesNewTracesAtTheConfiguredRatio) {
  auto quarter = MakeTracer({.sample_ratio = 0.25, .start_exporter = false});
  int n = 40'000, hits = 0;
  for (int i = 0; i < n; ++i) hits += quarter->ShouldSample(std::nullopt) ? 1 : 0;
  // Binomial(40000, 0.25): sd ~87; 6 sd either side.
  EXPECT_NEAR(hits, n / 4, 520);
}

TEST(Sampler, UnsampledRequestCarriesIdsForPropagationButRecordsNothing) {
  auto none = MakeTracer({.sample_ratio = 0.0, .start_exporter = false});
  auto now = std::chrono::steady_clock::now();
  RequestTrace t(none.get(), nullptr, nullptr, now);
  EXPECT_FALSE(t.sampled());
  auto c = ParseTraceparent(t.Traceparent());
  ASSERT_TRUE(c.has_value()) << t.Traceparent();
  EXPECT_FALSE(c->sampled());
  t.Finish(now);
  EXPECT_EQ(none->stats().queued, 0u);
  // An unsampled incoming trace keeps its trace id and flag.
  std::string in = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
  RequestTrace t2(none.get(), &in, nullptr, now);
  EXPECT_EQ(t2.Traceparent().substr(0, 36), in.substr(0, 36));
  EXPECT_EQ(t2.Traceparent().substr(52), "-00");
}

// ---- RequestTrace --------------------------------------------------------------------------

TEST(RequestTraceTest, ContinuesAValidIncomingTraceAndLinksChildrenToTheServerSpan) {
  auto tracer = MakeTracer({.sample_ratio = 0.0, .retry_backoff_ms = 1, .start_exporter = false});
  std::string tp = kValid, ts = "congo=t61rcWkgMzE";
  auto start = std::chrono::steady_clock::now();
  RequestTrace t(tracer.get(), &tp, &ts, start);
  ASSERT_TRUE(t.sampled());  // the parent is sampled, the ratio does not matter
  size_t route = t.StartChild("route", start + std::chrono::microseconds(10));
  t.EndChild(route, start + std::chrono::microseconds(20));
  t.StartChild("run", start + std::chrono::microseconds(30));  // left open: ends with Finish
  t.Finish(start + std::chrono::microseconds(100));
  ASSERT_TRUE(tracer->Flush());  // no collector listens: the batch fails, and is counted
  EXPECT_EQ(tracer->stats().failed, 3u);
}

TEST(RequestTraceTest, InvalidTraceparentStartsANewTraceAndDropsTracestate) {
  auto tracer = MakeTracer({.start_exporter = false});
  std::string tp = "00-00000000000000000000000000000000-00f067aa0ba902b7-01", ts = "a=b";
  RequestTrace t(tracer.get(), &tp, &ts, std::chrono::steady_clock::now());
  EXPECT_TRUE(t.sampled());
  EXPECT_TRUE(t.server().trace_id.valid());
  EXPECT_EQ(t.server().parent_span_id, 0u);
  EXPECT_EQ(t.server().trace_state, "");
}

// ---- queue and exporter --------------------------------------------------------------------

TEST(Exporter, QueueIsBoundedAndCountsWhatItDrops) {
  auto tracer = MakeTracer({.queue_capacity = 3, .start_exporter = false});
  tracer->Export(MakeSpan("a"));
  tracer->Export(std::vector<Span>{MakeSpan("b"), MakeSpan("c"), MakeSpan("d"), MakeSpan("e")});
  Tracer::Stats s = tracer->stats();
  EXPECT_EQ(s.queued, 3u);
  EXPECT_EQ(s.dropped, 2u);
  EXPECT_NE(tracer->RenderPrometheus().find("hotswap_trace_spans_total{result=\"dropped\"} 2"),
            std::string::npos);
}

TEST(Exporter, PostsOtlpJsonToV1TracesAndLinksParentAndChildren) {
  Collector collector;
  auto tracer = MakeTracer({.endpoint = collector.Base() + "/", .flush_interval_ms = 50});
  EXPECT_EQ(tracer->url(), collector.Base() + "/v1/traces");
  std::string tp = kValid;
  auto start = std::chrono::steady_clock::now();
  RequestTrace t(tracer.get(), &tp, nullptr, start);
  t.server().name = "POST /x";
  size_t c = t.StartChild("run", start + std::chrono::microseconds(5));
  t.child(c).SetString("hotswap.framework", "onnx");
  t.EndChild(c, start + std::chrono::microseconds(50));
  t.Finish(start + std::chrono::microseconds(60));
  ASSERT_TRUE(tracer->Flush());
  std::vector<json> spans = collector.Spans();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(collector.content_types().at(0), "application/json");
  const json& run = spans[0];
  const json& server = spans[1];
  EXPECT_EQ(server["name"], "POST /x");
  EXPECT_EQ(server["kind"], 2);
  EXPECT_EQ(server["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(server["parentSpanId"], "00f067aa0ba902b7");
  EXPECT_EQ(run["traceId"], server["traceId"]);
  EXPECT_EQ(run["parentSpanId"], server["spanId"]);
  EXPECT_EQ(run["attributes"][0]["value"]["stringValue"], "onnx");
  uint64_t s0 = std::stoull(server["startTimeUnixNano"].get<std::string>());
  uint64_t r0 = std::stoull(run["startTimeUnixNano"].get<std::string>());
  uint64_t r1 = std::stoull(run["endTimeUnixNano"].get<std::string>());
  uint64_t s1 = std::stoull(server["endTimeUnixNano"].get<std::string>());
  EXPECT_EQ(r0 - s0, 5000u);
  EXPECT_EQ(r1 - r0, 45000u);
  EXPECT_EQ(s1 - s0, 60000u);
  EXPECT_EQ(tracer->stats().exported, 2u);
}

TEST(Exporter, SendsAFullBatchWithoutWaitingForTheIntervalAndSplitsLargeQueues) {
  Collector collector;
  auto tracer = MakeTracer({.endpoint = collector.Base(), .max_batch = 10,
                            .flush_interval_ms = 60'000});
  std::vector<Span> spans;
  for (int i = 0; i < 25; ++i) spans.push_back(MakeSpan(absl::StrCat("s", i)));
  tracer->Export(std::move(spans));
  // A full batch wakes the exporter at once (not after the minute-long interval); it then sends
  // everything waiting, at most max_batch spans per POST.
  for (int i = 0; i < 500 && tracer->stats().exported < 25; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(tracer->stats().exported, 25u);
  std::vector<json> bodies = collector.Bodies();
  ASSERT_EQ(bodies.size(), 3u);
  EXPECT_EQ(bodies[0]["resourceSpans"][0]["scopeSpans"][0]["spans"].size(), 10u);
  EXPECT_EQ(bodies[2]["resourceSpans"][0]["scopeSpans"][0]["spans"].size(), 5u);
  EXPECT_EQ(collector.Spans().size(), 25u);
}

TEST(Exporter, RetriesRetryableAnswersAndGivesUpOnOthers) {
  Collector collector;
  auto tracer = MakeTracer({.endpoint = collector.Base(), .max_attempts = 3,
                            .retry_backoff_ms = 10, .start_exporter = false});
  collector.Script({503, 429});  // two retryable refusals, then accepted
  tracer->Export(MakeSpan("a"));
  ASSERT_TRUE(tracer->Flush());
  EXPECT_EQ(collector.attempts(), 3);
  EXPECT_EQ(tracer->stats().exported, 1u);
  EXPECT_EQ(tracer->stats().requests_failed, 2u);

  collector.Script({400});  // a refusal that retrying cannot fix: one attempt
  tracer->Export(MakeSpan("b"));
  ASSERT_TRUE(tracer->Flush());
  EXPECT_EQ(collector.attempts(), 4);
  EXPECT_EQ(tracer->stats().failed, 1u);

  collector.Script({503, 503, 503, 503});  // retryable, but only max_attempts times
  tracer->Export(MakeSpan("c"));
  ASSERT_TRUE(tracer->Flush());
  EXPECT_EQ(collector.attempts(), 7);
  EXPECT_EQ(tracer->stats().failed, 2u);
  EXPECT_EQ(collector.Spans().size(), 1u);
}

TEST(Exporter, StopSendsWhatIsStillQueued) {
  Collector collector;
  auto tracer = MakeTracer({.endpoint = collector.Base(), .flush_interval_ms = 60'000});
  tracer->Export(MakeSpan("last"));
  tracer->Stop();
  ASSERT_EQ(collector.Spans().size(), 1u);
  EXPECT_EQ(collector.Spans()[0]["name"], "last");
}

TEST(TracerCreate, RejectsABadEndpointOrRatio) {
  EXPECT_FALSE(Tracer::Create({.endpoint = ""}).ok());
  EXPECT_FALSE(Tracer::Create({.endpoint = "127.0.0.1:4318"}).ok());
  EXPECT_FALSE(Tracer::Create({.endpoint = "http://h:4318", .sample_ratio = 1.5}).ok());
  EXPECT_FALSE(Tracer::Create({.endpoint = "http://h:4318", .sample_ratio = -0.1}).ok());
  auto ok = Tracer::Create({.endpoint = "https://collector:4318/v1/traces", .start_exporter = false});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)->url(), "https://collector:4318/v1/traces");
}

}  // namespace
}  // namespace hotswap::tracing
