// Serving metrics: per endpoint/model/version/variant request and failure counts and latency
// histograms (queue, preprocessing, compute, total), recorded on the request path without locks
// and merged on read.
//
// Recording: each thread writes to its own cache-line-aligned stripe with relaxed atomic adds
// (no shared lock, no allocation); reading merges the stripes. Thread-safe.
//
// Histogram buckets are exponential with four buckets per octave: bucket i holds latencies in
// (B(i-1), B(i)] with B(i) = 6.25 µs * 2^(i/4), i < kLatencyBuckets, and the last bucket holds the
// rest (+Inf). A quantile read from a bucket by log-linear interpolation is within 2^(1/8) - 1 =
// 9.05% of the true value (relative), the bound docs/monitoring.md states. /metrics exposes a
// coarser Prometheus histogram (bounds 25 µs * 2^j, which are every fourth fine bound) so scrapes
// stay small; the fine buckets feed the sliding-window quantiles of monitoring/.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hotswap::serving {

inline constexpr int kLatencyBuckets = 100;  // finite buckets; index kLatencyBuckets = +Inf
// Upper bound (seconds) of bucket i: 6.25e-6 * 2^(i/4) (the last finite one is ~ 3 min).
double LatencyBucketBound(int i);
// The bucket a latency falls in (0..kLatencyBuckets). Allocation-free, no libm call.
int LatencyBucketFor(double seconds);
// The Prometheus histogram's bounds are the fine bounds 8, 12, 16, ... (25 µs * 2^j).
inline constexpr int kPrometheusBuckets = 20;
inline constexpr int PrometheusBucketIndex(int j) { return 8 + 4 * j; }
// Quantile q (0..1) in seconds of a fine-bucket histogram (kLatencyBuckets + 1 counts): the
// bucket holding the nearest-rank element, answered with 2*B(i)/(1 + 2^(1/4)), which is within
// (2^(1/4) - 1)/(2^(1/4) + 1) = 8.64% of every value in that bucket. 0 when empty.
double HistogramQuantile(const uint64_t* buckets, double q);

// The role a version plays for the request that it answers.
enum class Variant { kStable = 0, kCandidate = 1, kShadow = 2 };
inline constexpr int kVariants = 3;
const char* VariantLabel(Variant v);  // "stable" | "candidate" | "shadow"

class VersionMetrics {
 public:
  enum Phase { kQueue = 0, kPreprocess = 1, kCompute = 2, kTotal = 3, kPhases = 4 };
  VersionMetrics(std::string endpoint, std::string model, int64_t version,
                 Variant variant = Variant::kStable);

  void RecordSuccess(double queue_s, double preprocess_s, double compute_s, double total_s);
  void RecordFailure(double total_s);

  struct Snapshot {
    uint64_t requests = 0;  // successes + failures
    uint64_t failures = 0;
    std::array<std::array<uint64_t, kLatencyBuckets + 1>, kPhases> buckets{};  // last = +Inf
    std::array<double, kPhases> sum_s{};
  };
  Snapshot Read() const;
  void AppendPrometheus(std::string* out) const;

  const std::string& endpoint() const { return endpoint_; }
  const std::string& model() const { return model_; }
  int64_t version() const { return version_; }
  Variant variant() const { return variant_; }

 private:
  static constexpr int kStripes = 16;
  struct alignas(64) Stripe {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> failures{0};
    std::atomic<uint64_t> buckets[kPhases][kLatencyBuckets + 1] = {};
    std::atomic<uint64_t> sum_ns[kPhases] = {};
  };
  Stripe& Mine();
  void Observe(Stripe& s, Phase p, double seconds);

  const std::string endpoint_, model_;
  const int64_t version_;
  const Variant variant_;
  std::unique_ptr<Stripe[]> stripes_;
};

// A loaded version's series, one per role it can play (created at load time, so the request path
// only indexes).
struct VariantMetrics {
  std::array<std::shared_ptr<VersionMetrics>, kVariants> by_variant;
  VersionMetrics& operator[](Variant v) const { return *by_variant[static_cast<int>(v)]; }
};

// Owns every VersionMetrics ever created (counters outlive unloads, as Prometheus expects) and
// process-level serving metrics. GetOrCreate is called at load time only.
class MetricsRegistry {
 public:
  std::shared_ptr<VersionMetrics> GetOrCreate(const std::string& endpoint, const std::string& model,
                                              int64_t version, Variant variant = Variant::kStable);
  // All three variants' series of a version.
  VariantMetrics GetOrCreateAll(const std::string& endpoint, const std::string& model,
                                int64_t version);
  // Every series ever created (for monitoring's window ticks and reads).
  std::vector<std::shared_ptr<VersionMetrics>> All() const;
  void RecordSwap(double seconds, bool ok);
  void RecordRejected(const std::string& endpoint);  // admission full (503)
  // Prometheus text exposition of everything, plus `extra` lines appended by the caller.
  std::string RenderPrometheus(const std::string& extra) const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::tuple<std::string, std::string, int64_t, int>, std::shared_ptr<VersionMetrics>>
      versions_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> rejected_ ABSL_GUARDED_BY(mu_);
  uint64_t swaps_ok_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t swaps_failed_ ABSL_GUARDED_BY(mu_) = 0;
  std::array<uint64_t, kLatencyBuckets + 1> swap_buckets_ ABSL_GUARDED_BY(mu_){};
  double swap_sum_s_ ABSL_GUARDED_BY(mu_) = 0;
};

// Appends a Prometheus label value with escaping (\\, \", \n).
void AppendLabelValue(const std::string& v, std::string* out);

}  // namespace hotswap::serving
