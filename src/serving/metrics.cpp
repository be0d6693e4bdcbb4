#include "serving/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace hotswap::serving {
namespace {

std::atomic<int> g_next_stripe{0};
thread_local int t_stripe = -1;

constexpr double kBase = 6.25e-6;
constexpr double kGamma = 1.189207115002721;  // 2^(1/4)

std::string FormatDouble(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

double LatencyBucketBound(int i) {
  static const std::array<double, kLatencyBuckets> bounds = [] {
    std::array<double, kLatencyBuckets> b{};
    for (int i = 0; i < kLatencyBuckets; ++i) b[i] = kBase * std::exp2(i / 4.0);
    return b;
  }();
  return bounds[i];
}

int LatencyBucketFor(double seconds) {
  double x = seconds / kBase;
  if (!(x > 1)) return 0;  // also NaN
  int e = 0;
  double m2 = 2 * std::frexp(x, &e);  // x = m2 * 2^(e-1), m2 in [1, 2)
  int sub = m2 == 1.0 ? 0 : m2 <= 1.189207115002721 ? 1 : m2 <= 1.4142135623730951 ? 2
          : m2 <= 1.681792830507429 ? 3 : 4;
  int i = 4 * (e - 1) + sub;
  return i < kLatencyBuckets ? i : kLatencyBuckets;
}

double HistogramQuantile(const uint64_t* buckets, double q) {
  uint64_t total = 0;
  for (int i = 0; i <= kLatencyBuckets; ++i) total += buckets[i];
  if (total == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * total)));
  uint64_t seen = 0;
  for (int i = 0; i <= kLatencyBuckets; ++i) {
    seen += buckets[i];
    if (seen >= rank) {
      if (i == kLatencyBuckets) return LatencyBucketBound(kLatencyBuckets - 1);
      return 2 * LatencyBucketBound(i) / (1 + kGamma);
    }
  }
  return LatencyBucketBound(kLatencyBuckets - 1);
}

const char* VariantLabel(Variant v) {
  switch (v) {
    case Variant::kStable: return "stable";
    case Variant::kCandidate: return "candidate";
    case Variant::kShadow: return "shadow";
  }
  return "?";
}

void AppendLabelValue(const std::string& v, std::string* out) {
  for (char c : v) {
    if (c == '\\') out->append("\\\\");
    else if (c == '"') out->append("\\\"");
    else if (c == '\n') out->append("\\n");
    else out->push_back(c);
  }
}

VersionMetrics::VersionMetrics(std::string endpoint, std::string model, int64_t version,
                               Variant variant)
    : endpoint_(std::move(endpoint)),
      model_(std::move(model)),
      version_(version),
      variant_(variant),
      stripes_(new Stripe[kStripes]) {}

VersionMetrics::Stripe& VersionMetrics::Mine() {
  if (t_stripe < 0) t_stripe = g_next_stripe.fetch_add(1) % kStripes;
  return stripes_[t_stripe];
}

void VersionMetrics::Observe(Stripe& s, Phase p, double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  s.buckets[p][LatencyBucketFor(seconds)].fetch_add(1, std::memory_order_relaxed);
  s.sum_ns[p].fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

void VersionMetrics::RecordSuccess(double queue_s, double preprocess_s, double compute_s,
                                   double total_s) {
  Stripe& s = Mine();
  s.requests.fetch_add(1, std::memory_order_relaxed);
  Observe(s, kQueue, queue_s);
  Observe(s, kPreprocess, preprocess_s);
  Observe(s, kCompute, compute_s);
  Observe(s, kTotal, total_s);
}

void VersionMetrics::RecordFailure(double total_s) {
  Stripe& s = Mine();
  s.requests.fetch_add(1, std::memory_order_relaxed);
  s.failures.fetch_add(1, std::memory_order_relaxed);
  Observe(s, kTotal, total_s);
}

VersionMetrics::Snapshot VersionMetrics::Read() const {
  Snapshot out;
  for (int i = 0; i < kStripes; ++i) {
    const Stripe& s = stripes_[i];
    out.requests += s.requests.load(std::memory_order_relaxed);
    out.failures += s.failures.load(std::memory_order_relaxed);
    for (int p = 0; p < kPhases; ++p) {
      for (int b = 0; b <= kLatencyBuckets; ++b) {
        out.buckets[p][b] += s.buckets[p][b].load(std::memory_order_relaxed);
      }
      out.sum_s[p] += static_cast<double>(s.sum_ns[p].load(std::memory_order_relaxed)) / 1e9;
    }
  }
  return out;
}

void VersionMetrics::AppendPrometheus(std::string* out) const {
  Snapshot s = Read();
  std::string labels = "endpoint=\"";
  AppendLabelValue(endpoint_, &labels);
  labels += "\",model=\"";
  AppendLabelValue(model_, &labels);
  labels += "\",version=\"" + std::to_string(version_) + "\",variant=\"";
  labels += VariantLabel(variant_);
  labels += "\"";
  *out += "hotswap_inference_requests_total{" + labels + "} " + std::to_string(s.requests) + "\n";
  *out += "hotswap_inference_failures_total{" + labels + "} " + std::to_string(s.failures) + "\n";
  static const char* kNames[] = {"queue", "preprocess", "compute", "total"};
  for (int p = 0; p < kPhases; ++p) {
    std::string name = std::string("hotswap_inference_") + kNames[p] + "_seconds";
    uint64_t cumulative = 0;
    int fine = 0;
    for (int j = 0; j <= kPrometheusBuckets; ++j) {
      int upto = j == kPrometheusBuckets ? kLatencyBuckets : PrometheusBucketIndex(j);
      for (; fine <= upto; ++fine) cumulative += s.buckets[p][fine];
      std::string le = j == kPrometheusBuckets
                           ? "+Inf"
                           : FormatDouble(LatencyBucketBound(PrometheusBucketIndex(j)));
      *out += name + "_bucket{" + labels + ",le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
    }
    *out += name + "_sum{" + labels + "} " + FormatDouble(s.sum_s[p]) + "\n";
    *out += name + "_count{" + labels + "} " + std::to_string(cumulative) + "\n";
  }
}

std::shared_ptr<VersionMetrics> MetricsRegistry::GetOrCreate(const std::string& endpoint,
                                                             const std::string& model,
                                                             int64_t version, Variant variant) {
  absl::MutexLock lock(&mu_);
  auto& slot = versions_[{endpoint, model, version, static_cast<int>(variant)}];
  if (!slot) slot = std::make_shared<VersionMetrics>(endpoint, model, version, variant);
  return slot;
}

VariantMetrics MetricsRegistry::GetOrCreateAll(const std::string& endpoint,
                                               const std::string& model, int64_t version) {
  VariantMetrics m;
  for (int v = 0; v < kVariants; ++v) {
    m.by_variant[v] = GetOrCreate(endpoint, model, version, static_cast<Variant>(v));
  }
  return m;
}

std::vector<std::shared_ptr<VersionMetrics>> MetricsRegistry::All() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<VersionMetrics>> all;
  all.reserve(versions_.size());
  for (const auto& [k, v] : versions_) all.push_back(v);
  return all;
}

void MetricsRegistry::RecordSwap(double seconds, bool ok) {
  absl::MutexLock lock(&mu_);
  if (ok) {
    ++swaps_ok_;
    ++swap_buckets_[LatencyBucketFor(seconds)];
    swap_sum_s_ += seconds;
  } else {
    ++swaps_failed_;
  }
}

void MetricsRegistry::RecordRejected(const std::string& endpoint) {
  absl::MutexLock lock(&mu_);
  ++rejected_[endpoint];
}

std::string MetricsRegistry::RenderPrometheus(const std::string& extra) const {
  std::string out;
  out.reserve(16384);
  out +=
      "# HELP hotswap_inference_requests_total Inference requests answered, by endpoint, model, "
      "version and variant (stable, candidate, shadow).\n# TYPE hotswap_inference_requests_total counter\n"
      "# HELP hotswap_inference_failures_total Inference requests that failed after reaching a "
      "model.\n# TYPE hotswap_inference_failures_total counter\n"
      "# HELP hotswap_inference_queue_seconds Time from the request's arrival (headers complete) "
      "to the start of its handler: body read and waiting for a worker.\n"
      "# TYPE hotswap_inference_queue_seconds histogram\n"
      "# HELP hotswap_inference_preprocess_seconds Time in the handler before the engine runs: "
      "parsing, admission, routing, preprocessing, validation.\n"
      "# TYPE hotswap_inference_preprocess_seconds histogram\n"
      "# HELP hotswap_inference_compute_seconds Time inside the backend's Run.\n"
      "# TYPE hotswap_inference_compute_seconds histogram\n"
      "# HELP hotswap_inference_total_seconds Time from arrival to the encoded response.\n"
      "# TYPE hotswap_inference_total_seconds histogram\n";
  for (const auto& v : All()) {
    // A role a version never played (most versions are never a shadow) adds no series.
    if (v->variant() != Variant::kStable && v->Read().requests == 0) continue;
    v->AppendPrometheus(&out);
  }
  absl::MutexLock lock(&mu_);
  out += "# HELP hotswap_inference_rejected_total Requests refused with 503 because the "
         "endpoint's admission limit was reached.\n# TYPE hotswap_inference_rejected_total counter\n";
  for (const auto& [endpoint, n] : rejected_) {
    std::string l;
    AppendLabelValue(endpoint, &l);
    out += "hotswap_inference_rejected_total{endpoint=\"" + l + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP hotswap_swaps_total Model version swaps (loads published), by result.\n"
         "# TYPE hotswap_swaps_total counter\n";
  out += "hotswap_swaps_total{result=\"ok\"} " + std::to_string(swaps_ok_) + "\n";
  out += "hotswap_swaps_total{result=\"failed\"} " + std::to_string(swaps_failed_) + "\n";
  out += "# HELP hotswap_swap_duration_seconds Fetch, load, warm-up and publish of a version.\n"
         "# TYPE hotswap_swap_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  int fine = 0;
  for (int j = 0; j <= kPrometheusBuckets; ++j) {
    int upto = j == kPrometheusBuckets ? kLatencyBuckets : PrometheusBucketIndex(j);
    for (; fine <= upto; ++fine) cumulative += swap_buckets_[fine];
    std::string le = j == kPrometheusBuckets
                         ? "+Inf"
                         : FormatDouble(LatencyBucketBound(PrometheusBucketIndex(j)));
    out += "hotswap_swap_duration_seconds_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += "hotswap_swap_duration_seconds_sum " + FormatDouble(swap_sum_s_) + "\n";
  out += "hotswap_swap_duration_seconds_count " + std::to_string(cumulative) + "\n";
  out += extra;
  return out;
}

}  // namespace hotswap::serving
