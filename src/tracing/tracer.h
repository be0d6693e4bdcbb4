// Tracer: HotSwap's OpenTelemetry trace pipeline — the sampling decision, a bounded queue of
// finished spans, and an exporter thread that posts them in batches to an OTLP/HTTP collector as
// JSON (docs/tracing.md). It exists only when tracing is configured (`otlp_endpoint`); with
// tracing off the server holds no Tracer and the request path pays one null check.
//
// Sampling is parent-based: a request with a valid `traceparent` is sampled exactly when its
// sampled flag is set; a new trace is sampled with probability `sample_ratio`.
//
// Export never blocks a caller: Export() appends to the queue under a short lock, and spans that
// do not fit (`queue_capacity`) are dropped and counted. The exporter thread sends a batch when
// `max_batch` spans are waiting or `flush_interval_ms` has passed; a failed POST (connection
// error, or HTTP 429/502/503/504) is retried up to `max_attempts` times with a growing pause,
// other answers are final; spans of a batch that was not accepted are counted as failed.
//
// Thread-safe. Stop() (also the destructor) makes a last attempt to send what is queued.
//
//   auto tracer = Tracer::Create({.endpoint = "http://127.0.0.1:4318"});
//   RequestTrace t(tracer->get(), req.Header("traceparent"), req.Header("tracestate"), start);
//   ... t.StartChild("run", ...) ...
//   t.Finish(end);  // queued; posted to http://127.0.0.1:4318/v1/traces within a second
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "tracing/span.h"

namespace hotswap::tracing {

class Tracer {
 public:
  struct Options {
    // The collector: a base URL ("http://127.0.0.1:4318", "/v1/traces" is appended) or the full
    // traces URL (ending in "/v1/traces", used as it is). Required.
    std::string endpoint;
    double sample_ratio = 1.0;         // share of new traces sampled, 0..1
    std::string service_name = "hotswap";
    size_t queue_capacity = 8192;      // spans waiting for export; beyond this they are dropped
    size_t max_batch = 512;            // spans per POST
    int64_t flush_interval_ms = 1000;  // a batch at least this often while spans wait
    int max_attempts = 3;              // per batch
    int64_t request_timeout_ms = 5000; // per POST
    int64_t retry_backoff_ms = 200;    // doubled after each failed attempt
    bool start_exporter = true;        // false: nothing is sent until Flush() (tests)
  };
  struct Stats {
    uint64_t exported = 0;        // spans the collector accepted
    uint64_t dropped = 0;         // spans refused because the queue was full
    uint64_t failed = 0;          // spans of batches that were not accepted
    uint64_t requests_sent = 0;   // POSTs the collector accepted
    uint64_t requests_failed = 0; // POST attempts that failed (each retry counts)
    size_t queued = 0;
  };

  // InvalidArgument for a missing or non-http(s) endpoint or a ratio outside 0..1.
  static absl::StatusOr<std::unique_ptr<Tracer>> Create(Options options);
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // The URL spans are posted to.
  const std::string& url() const { return url_; }
  const Options& options() const { return options_; }

  // Whether a span whose parent is `parent` (nullopt: a new trace) is recorded.
  bool ShouldSample(const std::optional<SpanContext>& parent) const;

  // Queues finished spans; drops (and counts) what does not fit. Never blocks on the network.
  void Export(std::vector<Span>&& spans);
  void Export(Span&& span);

  // Sends every span queued before the call (synchronously when the exporter thread is off).
  // Returns false when they were not all handled within `timeout_ms`.
  bool Flush(int64_t timeout_ms = 10'000);
  // Stops the exporter thread after a last attempt to send what is queued. Idempotent.
  void Stop();

  Stats stats() const;
  // Prometheus text: hotswap_trace_spans_total{result=...}, hotswap_trace_export_requests_total.
  std::string RenderPrometheus() const;

 private:
  explicit Tracer(Options options, std::string url);
  void ExporterLoop();
  // Takes up to max_batch spans off the queue and posts them; returns the number taken.
  size_t SendOneBatch() ABSL_LOCKS_EXCLUDED(mu_);
  // One POST with bounded retries; true when the collector accepted it.
  bool Post(const std::string& body);

  const Options options_;
  const std::string url_;
  uint64_t sample_threshold_ = 0;  // a new trace is sampled when RandomU64() < this
  bool sample_all_ = true;

  mutable absl::Mutex mu_;
  std::deque<Span> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t accepted_ ABSL_GUARDED_BY(mu_) = 0;  // spans ever queued
  uint64_t handled_ ABSL_GUARDED_BY(mu_) = 0;   // spans sent or failed
  bool flush_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex send_mu_;  // one batch in flight at a time (exporter thread or Flush)

  std::atomic<uint64_t> exported_{0}, dropped_{0}, failed_{0}, requests_sent_{0},
      requests_failed_{0};
  std::thread exporter_;
};

// RequestTrace: the spans of one incoming request — a SERVER span for the request and the child
// spans of its phases — sharing one clock reading so that children use the cheap steady clock.
// Created per request; with an unsampled trace it only carries the ids (for the response's
// `traceparent`) and allocates nothing else. Not thread-safe (one request, one thread).
class RequestTrace {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;

  // Continues the trace of a valid `traceparent` (nullptr: none) with its `tracestate`, else
  // starts a new one; the server span starts at `start`.
  RequestTrace(Tracer* tracer, const std::string* traceparent, const std::string* tracestate,
               SteadyTime start);
  bool sampled() const { return sampled_; }
  // The `traceparent` naming the server span, for the response.
  std::string Traceparent() const;
  Span& server() { return server_; }
  // A child of the server span from `start`; ended by EndChild or, still open, by Finish.
  // Returns its index. Call only when sampled().
  size_t StartChild(std::string name, SteadyTime start);
  Span& child(size_t i) { return children_[i]; }
  size_t child_count() const { return children_.size(); }
  void EndChild(size_t i, SteadyTime end);
  // The latest child that has not ended, or nullptr.
  Span* open_child();
  // Ends the server span and every open child at `end` and queues them (sampled only). Once.
  void Finish(SteadyTime end);

 private:
  uint64_t ToUnixNanos(SteadyTime t) const;

  Tracer* tracer_;
  bool sampled_ = false;
  bool finished_ = false;
  uint64_t unix_base_ = 0;
  SteadyTime steady_base_;
  Span server_;
  std::vector<Span> children_;
};

}  // namespace hotswap::tracing
