// Serving metrics: per endpoint/model/version request and failure counts and latency histograms
// (queue, compute, total), recorded on the request path without locks and rendered as Prometheus
// text on read.
//
// Recording: each thread writes to its own cache-line-aligned stripe with relaxed atomic adds
// (no shared lock, no allocation); reading merges the stripes. Thread-safe.
//
// Histogram buckets are exponential (factor 2 from 25 µs to ~13 s), the bucket bounds written in
// docs/metrics.md; `_sum` is in seconds.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hotswap::serving {

inline constexpr int kLatencyBuckets = 20;
// Upper bound (seconds) of bucket i: 25e-6 * 2^i.
double LatencyBucketBound(int i);

class VersionMetrics {
 public:
  enum Phase { kQueue = 0, kCompute = 1, kTotal = 2, kPhases = 3 };
  VersionMetrics(std::string endpoint, std::string model, int64_t version);

  void RecordSuccess(double queue_s, double compute_s, double total_s);
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
  std::unique_ptr<Stripe[]> stripes_;
};

// Owns every VersionMetrics ever created (counters outlive unloads, as Prometheus expects) and
// process-level serving metrics. GetOrCreate is called at load time only.
class MetricsRegistry {
 public:
  std::shared_ptr<VersionMetrics> GetOrCreate(const std::string& endpoint, const std::string& model,
                                              int64_t version);
  void RecordSwap(double seconds, bool ok);
  void RecordRejected(const std::string& endpoint);  // admission full (503)
  // Prometheus text exposition of everything, plus `extra` lines appended by the caller.
  std::string RenderPrometheus(const std::string& extra) const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::tuple<std::string, std::string, int64_t>, std::shared_ptr<VersionMetrics>> versions_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> rejected_ ABSL_GUARDED_BY(mu_);
  uint64_t swaps_ok_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t swaps_failed_ ABSL_GUARDED_BY(mu_) = 0;
  std::array<uint64_t, kLatencyBuckets + 1> swap_buckets_ ABSL_GUARDED_BY(mu_){};
  double swap_sum_s_ ABSL_GUARDED_BY(mu_) = 0;
};

// Appends a Prometheus label value with escaping (\\, \", \n).
void AppendLabelValue(const std::string& v, std::string* out);

}  // namespace hotswap::serving
