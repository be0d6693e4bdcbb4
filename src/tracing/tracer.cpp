#include "tracing/tracer.h"

#include <curl/curl.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/json_post.h"
#include "common/log.h"
#include "tracing/otlp_json.h"

namespace hotswap::tracing {
namespace {

bool Retryable(long http_status) {
  // OTLP/HTTP: these answers mean "try again later"; any other failure is final.
  return http_status == 429 || http_status == 502 || http_status == 503 || http_status == 504;
}

std::string TracesUrl(std::string endpoint) {
  constexpr std::string_view kPath = "/v1/traces";
  if (endpoint.size() >= kPath.size() &&
      endpoint.compare(endpoint.size() - kPath.size(), kPath.size(), kPath) == 0) {
    return endpoint;
  }
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  return endpoint + std::string(kPath);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tracer>> Tracer::Create(Options options) {
  if (options.endpoint.rfind("http://", 0) != 0 && options.endpoint.rfind("https://", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "otlp_endpoint '", options.endpoint,
        "' must be an http:// or https:// URL, e.g. http://127.0.0.1:4318"));
  }
  if (!(options.sample_ratio >= 0.0 && options.sample_ratio <= 1.0)) {
    return absl::InvalidArgumentError("trace_sample_ratio must be from 0 to 1");
  }
  if (options.queue_capacity < 1 || options.max_batch < 1 || options.max_attempts < 1 ||
      options.flush_interval_ms < 1) {
    return absl::InvalidArgumentError(
        "tracer queue_capacity, max_batch, max_attempts and flush_interval_ms must be >= 1");
  }
  std::string url = TracesUrl(options.endpoint);
  auto tracer = std::unique_ptr<Tracer>(new Tracer(std::move(options), std::move(url)));
  if (tracer->options_.start_exporter) {
    tracer->exporter_ = std::thread([t = tracer.get()] { t->ExporterLoop(); });
  }
  return tracer;
}

Tracer::Tracer(Options options, std::string url)
    : options_(std::move(options)), url_(std::move(url)) {
  sample_all_ = options_.sample_ratio >= 1.0;
  // 2^64 * ratio, below 2^64 since ratio < 1 here.
  if (!sample_all_) {
    sample_threshold_ = static_cast<uint64_t>(options_.sample_ratio * 18446744073709551616.0);
  }
}

Tracer::~Tracer() { Stop(); }

bool Tracer::ShouldSample(const std::optional<SpanContext>& parent) const {
  if (parent.has_value()) return parent->sampled();
  if (sample_all_) return true;
  return RandomU64() < sample_threshold_;
}

void Tracer::Export(Span&& span) {
  absl::MutexLock lock(&mu_);
  if (queue_.size() >= options_.queue_capacity) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  queue_.push_back(std::move(span));
  ++accepted_;
}

void Tracer::Export(std::vector<Span>&& spans) {
  absl::MutexLock lock(&mu_);
  for (Span& s : spans) {
    if (queue_.size() >= options_.queue_capacity) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    queue_.push_back(std::move(s));
    ++accepted_;
  }
}

size_t Tracer::SendOneBatch() {
  absl::MutexLock send(&send_mu_);
  std::vector<Span> batch;
  {
    absl::MutexLock lock(&mu_);
    size_t n = std::min(queue_.size(), options_.max_batch);
    batch.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  if (batch.empty()) return 0;
  bool ok = Post(EncodeOtlpJson(batch, options_.service_name));
  (ok ? exported_ : failed_).fetch_add(batch.size(), std::memory_order_relaxed);
  if (!ok) {
    log::Warn("trace export failed; spans dropped",
              {{"url", url_}, {"spans", static_cast<long long>(batch.size())}});
  }
  absl::MutexLock lock(&mu_);
  handled_ += batch.size();
  return batch.size();
}

bool Tracer::Post(const std::string& body) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return false;
  bool ok = false;
  int64_t backoff_ms = options_.retry_backoff_ms;
  for (int attempt = 1; attempt <= options_.max_attempts && !ok; ++attempt) {
    long status = PostJsonOnce(curl, url_, body, options_.request_timeout_ms);
    ok = IsSuccess(status);
    if (ok) break;
    requests_failed_.fetch_add(1, std::memory_order_relaxed);
    if (status != 0 && !Retryable(status)) break;  // the collector refused this body
    if (attempt == options_.max_attempts) break;
    // Wait before the next attempt, but not past Stop().
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(backoff_ms));
    backoff_ms *= 2;
  }
  if (ok) requests_sent_.fetch_add(1, std::memory_order_relaxed);
  curl_easy_cleanup(curl);
  return ok;
}

void Tracer::ExporterLoop() {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(options_.flush_interval_ms);
  while (true) {
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || flush_requested_ || queue_.size() >= options_.max_batch;
      };
      auto wait = deadline - std::chrono::steady_clock::now();
      if (wait > std::chrono::steady_clock::duration::zero()) {
        mu_.AwaitWithTimeout(absl::Condition(&ready), absl::FromChrono(wait));
      }
      stopping = stop_;
      flush_requested_ = false;
    }
    // Everything that waits now goes out, batch by batch.
    while (SendOneBatch() == options_.max_batch) {
    }
    if (stopping) return;
    deadline = std::chrono::steady_clock::now() +
               std::chrono::milliseconds(options_.flush_interval_ms);
  }
}

bool Tracer::Flush(int64_t timeout_ms) {
  if (!exporter_.joinable()) {
    while (SendOneBatch() > 0) {
    }
    return true;
  }
  absl::MutexLock lock(&mu_);
  uint64_t target = accepted_;
  flush_requested_ = true;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return handled_ >= target; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), absl::Milliseconds(timeout_ms));
}

void Tracer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    stop_ = true;
  }
  if (exporter_.joinable()) exporter_.join();
}

Tracer::Stats Tracer::stats() const {
  Stats s;
  s.exported = exported_.load();
  s.dropped = dropped_.load();
  s.failed = failed_.load();
  s.requests_sent = requests_sent_.load();
  s.requests_failed = requests_failed_.load();
  absl::MutexLock lock(&mu_);
  s.queued = queue_.size();
  return s;
}

std::string Tracer::RenderPrometheus() const {
  Stats s = stats();
  return absl::StrCat(
      "# HELP hotswap_trace_spans_total Finished spans by what became of them (exported to the "
      "collector, dropped because the export queue was full, failed to export).\n"
      "# TYPE hotswap_trace_spans_total counter\n",
      "hotswap_trace_spans_total{result=\"exported\"} ", s.exported, "\n",
      "hotswap_trace_spans_total{result=\"dropped\"} ", s.dropped, "\n",
      "hotswap_trace_spans_total{result=\"failed\"} ", s.failed, "\n",
      "# HELP hotswap_trace_export_requests_total OTLP export POSTs by result (each retry counts).\n"
      "# TYPE hotswap_trace_export_requests_total counter\n",
      "hotswap_trace_export_requests_total{result=\"sent\"} ", s.requests_sent, "\n",
      "hotswap_trace_export_requests_total{result=\"failed\"} ", s.requests_failed, "\n",
      "# HELP hotswap_trace_queue_spans Spans waiting for export.\n"
      "# TYPE hotswap_trace_queue_spans gauge\n",
      "hotswap_trace_queue_spans ", s.queued, "\n");
}

// ---- RequestTrace ---------------------------------------------------------------------------

RequestTrace::RequestTrace(Tracer* tracer, const std::string* traceparent,
                           const std::string* tracestate, SteadyTime start)
    : tracer_(tracer), steady_base_(start) {
  std::optional<SpanContext> parent;
  if (traceparent != nullptr) parent = ParseTraceparent(*traceparent);
  sampled_ = tracer_->ShouldSample(parent);
  server_.span_id = NewSpanId();
  if (parent) {
    server_.trace_id = parent->trace_id;
    server_.parent_span_id = parent->span_id;
    server_.flags = parent->flags;
    // tracestate travels only with a valid traceparent (W3C).
    if (tracestate != nullptr) server_.trace_state = *tracestate;
  } else {
    server_.trace_id = NewTraceId();
    server_.flags = sampled_ ? kSampledFlag : 0;
  }
  if (!sampled_) return;
  server_.kind = SpanKind::kServer;
  // One wall-clock reading; the spans' times are offsets on the steady clock from it.
  unix_base_ = UnixNanosNow() -
               static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now() - start)
                                         .count());
  server_.start_unix_nanos = unix_base_;
  children_.reserve(4);
}

std::string RequestTrace::Traceparent() const {
  return FormatTraceparent(server_.trace_id, server_.span_id, server_.flags);
}

uint64_t RequestTrace::ToUnixNanos(SteadyTime t) const {
  return unix_base_ + static_cast<uint64_t>(std::max<int64_t>(
                          0, std::chrono::duration_cast<std::chrono::nanoseconds>(t - steady_base_)
                                 .count()));
}

size_t RequestTrace::StartChild(std::string name, SteadyTime start) {
  Span& c = children_.emplace_back();
  c.trace_id = server_.trace_id;
  c.span_id = NewSpanId();
  c.parent_span_id = server_.span_id;
  c.trace_state = server_.trace_state;
  c.flags = server_.flags;
  c.name = std::move(name);
  c.kind = SpanKind::kInternal;
  c.start_unix_nanos = ToUnixNanos(start);
  return children_.size() - 1;
}

void RequestTrace::EndChild(size_t i, SteadyTime end) {
  children_[i].end_unix_nanos = std::max(ToUnixNanos(end), children_[i].start_unix_nanos);
}

Span* RequestTrace::open_child() {
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    if (it->end_unix_nanos == 0) return &*it;
  }
  return nullptr;
}

void RequestTrace::Finish(SteadyTime end) {
  if (!sampled_ || finished_) return;
  finished_ = true;
  server_.end_unix_nanos = std::max(ToUnixNanos(end), server_.start_unix_nanos);
  for (Span& c : children_) {
    if (c.end_unix_nanos == 0) c.end_unix_nanos = std::max(server_.end_unix_nanos, c.start_unix_nanos);
  }
  children_.push_back(std::move(server_));
  tracer_->Export(std::move(children_));
}

}  // namespace hotswap::tracing
