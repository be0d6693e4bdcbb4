// PredictionLog: remembers what each version predicted, keyed by request id, so that ground truth
// posted later (POST /api/v1/feedback, minutes or hours after) is credited to the version,
// variant and minute that made the prediction — whatever serves the endpoint when the label
// arrives, and in whatever order labels arrive.
//
// Request path: Stage() appends to one of 16 staging stripes chosen per thread (a mutex per
// stripe, which other request threads only share when more than 16 threads record; never a lock
// the drainer holds for longer than a vector swap). A stripe holds at most
// `staging_per_stripe` records; beyond that a record is dropped and counted.
//
// Background: Drain() moves staged records into the bounded store (a hash map by request id) and
// evicts records older than `ttl_ms` or beyond `capacity` (oldest first), counting those that
// never got feedback. Apply() joins one feedback item; Window() sums the accuracy of one series
// over the minutes since a time. Accuracy is kept per series and per minute of prediction time
// for `retention_ms` (default 25 h), so windows up to 24 h are exact sums of minutes.
//
// Memory is bounded by capacity (records) + 16 x staging_per_stripe + series x minutes retained,
// independent of traffic. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "monitoring/accuracy.h"
#include "runtime/tensor.h"
#include "serving/metrics.h"

namespace hotswap::monitoring {

struct PredictionRecord {
  std::string request_id;
  int32_t row = 0;
  const serving::VersionMetrics* series = nullptr;  // endpoint, model, version, variant
  int64_t ts_ms = 0;
  Prediction prediction;
};

// Reduces a response's outputs to one Prediction per row (at most `max_rows`): the class from
// the first integer or BYTES output with one element per row (else the argmax of the first
// floating output with several elements per row, class = its index), probabilities from that
// floating output when it has at most Prediction::kMaxProbabilities columns, the value from the
// first floating output with one element per row.
std::vector<Prediction> ExtractPredictions(const std::vector<runtime::Tensor>& outputs,
                                           int max_rows);

struct FeedbackItem {
  std::string request_id;
  int row = 0;
  std::optional<std::string> label;  // classification ground truth (numbers as decimal text)
  std::optional<double> value;       // regression ground truth
  std::vector<std::pair<std::string, double>> outcomes;  // named business outcomes (A/B tests)
};

enum class FeedbackResult {
  kMatched,        // credited
  kUnknown,        // no prediction with that id (never made, evicted or expired)
  kDuplicate,      // this kind of feedback was already credited to that prediction
  kNotApplicable,  // e.g. a label for a prediction that has no class
};
const char* FeedbackResultName(FeedbackResult r);

class PredictionLog {
 public:
  struct Options {
    int64_t ttl_ms = 24LL * 3600 * 1000;       // predictions wait this long for feedback
    size_t capacity = 200'000;                 // predictions remembered at most
    size_t staging_per_stripe = 8192;          // staged, not yet drained, per stripe
    int64_t retention_ms = 25LL * 3600 * 1000; // accuracy minutes kept
  };
  struct Counters {
    uint64_t recorded = 0;            // predictions stored
    uint64_t staging_dropped = 0;     // dropped because a staging stripe was full
    uint64_t replaced = 0;            // a new prediction reused a stored request id
    uint64_t evicted_unlabelled = 0;  // expired or pushed out before any feedback
    uint64_t matched = 0, unknown = 0, duplicate = 0, not_applicable = 0;
    size_t stored = 0;                // predictions in the store now
  };

  PredictionLog(Options options, Clock* clock);

  // Request path.
  void Stage(PredictionRecord&& r);

  void Drain();
  // Joins one item (Drain() first so predictions made just now are found).
  FeedbackResult Apply(const FeedbackItem& item);
  // Accuracy of `series` for predictions made at or after `since_ms` (minute granularity: the
  // minute containing since_ms is included).
  AccuracySums Window(const serving::VersionMetrics* series, int64_t since_ms) const;
  // What `series` predicted (no feedback needed) since `since_ms`, minute granularity.
  struct PredictionCounts {
    std::map<std::string, uint64_t> classes;  // at most kMaxClasses names, the rest as "(other)"
    uint64_t n_values = 0;
    double value_sum = 0, value_sq_sum = 0;
    void Merge(const PredictionCounts& o);
  };
  static constexpr size_t kMaxClasses = 64;
  PredictionCounts Predictions(const serving::VersionMetrics* series, int64_t since_ms) const;
  Counters counters() const;

 private:
  static constexpr int kStripes = 16;
  struct alignas(64) Stripe {
    absl::Mutex mu;
    std::vector<PredictionRecord> items ABSL_GUARDED_BY(mu);
  };
  struct Stored {
    const serving::VersionMetrics* series = nullptr;
    int64_t ts_ms = 0;
    Prediction prediction;
    bool label_done = false, value_done = false;
    std::vector<std::string> outcomes_done;
    bool any_feedback = false;
  };
  // The store's key: a 64-bit hash of (request id, row). Two different ids share a key with
  // probability ~ n²/2⁶⁵ (about 1e-9 for the default 200,000 stored): the cost of a join with
  // no string copies on the monitor thread.
  static uint64_t Key(const std::string& request_id, int row);
  void EvictLocked(int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  Clock* clock_;
  std::unique_ptr<Stripe[]> stripes_;
  std::atomic<uint64_t> staging_dropped_{0};

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, Stored> store_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<int64_t, uint64_t>> order_ ABSL_GUARDED_BY(mu_);  // (ts, key)
  std::vector<PredictionRecord> spare_ ABSL_GUARDED_BY(mu_);
  std::map<const serving::VersionMetrics*, std::map<int64_t, AccuracySums>> minutes_
      ABSL_GUARDED_BY(mu_);
  std::map<const serving::VersionMetrics*, std::map<int64_t, PredictionCounts>> predicted_
      ABSL_GUARDED_BY(mu_);
  Counters counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hotswap::monitoring
