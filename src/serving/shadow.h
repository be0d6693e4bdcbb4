// Shadow traffic: a sampled share of an endpoint's requests is copied to its candidate version
// after the primary has answered; the candidate's answer is compared with the primary's and
// recorded, never returned.
//
// The request path only decides (one random draw) and, for a sampled request, copies the request
// tensors and the primary's outputs into a bounded queue with TryEnqueue — it never waits: when
// the queue is full the copy is dropped and counted. One worker thread runs the shadow model under
// SCHED_IDLE (nice 19 if refused), so the scheduler serves request threads first, and within a
// CPU budget: after a run that took t it rests t·(1/max_cpu_share − 1), so a shadow far slower
// than the primary uses at most that share of one core (default 0.1, `shadow_cpu_share`) and
// compares a sample of the copies (the rest are dropped and counted) instead of keeping a core
// busy. A failing shadow cannot fail the primary, and a slow one costs it little: any background
// CPU use shows in the primary's p99 on a small machine, in proportion to the share
// (bench/results/shadow.md measures 0.1, 0.25 and 0.5 against an outside process doing the same).
//
// Comparison, per output the primary returned:
//   - top-1 agreement (classification): for integer outputs (labels) and for floating point
//     outputs of shape [batch, classes>1] (scores: the argmax per row), the share of rows whose
//     top-1 agrees;
//   - differences: for every floating point output (scores included), the mean absolute
//     difference and the mean relative difference |a-b| / max(|a|, 1e-9) over the elements.
// Shapes that differ count as a disagreement of every row. Errors of the shadow run are recorded
// on the candidate's metrics (its error rate), its run time as its latency.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "domain/model.h"
#include "runtime/tensor.h"

namespace hotswap::serving {

struct Endpoint;

// Counters of one shadow (endpoint × candidate), shared by every snapshot of it.
struct ShadowStats {
  std::atomic<uint64_t> mirrored{0};   // copies queued
  std::atomic<uint64_t> dropped{0};    // copies refused: queue full
  std::atomic<uint64_t> compared{0};   // shadow runs that succeeded and were compared
  std::atomic<uint64_t> failed{0};     // shadow runs that failed
  std::atomic<uint64_t> rows_compared{0};     // classification rows
  std::atomic<uint64_t> rows_agreeing{0};
  std::atomic<uint64_t> values_compared{0};   // regression elements
  std::atomic<uint64_t> abs_diff_micro{0};    // sum of |a-b|, in millionths
  std::atomic<uint64_t> rel_diff_micro{0};    // sum of relative differences, in millionths
  domain::Json ToJson() const;  // counts, agreement, mean_abs_diff, mean_rel_diff
};

// Adds the comparison of one shadow answer with the primary's to `stats`.
void CompareOutputs(const std::vector<runtime::Tensor>& primary,
                    const std::vector<runtime::Tensor>& shadow, ShadowStats* stats);

class ShadowMirror {
 public:
  struct Job {
    std::shared_ptr<const Endpoint> endpoint;  // keeps both versions alive
    std::vector<runtime::Tensor> inputs;       // as the client sent them (before preprocessing)
    std::vector<runtime::Tensor> primary_outputs;
    std::vector<std::string> output_names;
  };

  static constexpr size_t kDefaultCapacity = 256;
  explicit ShadowMirror(size_t capacity = kDefaultCapacity, double max_cpu_share = 0.1);
  ~ShadowMirror();  // drops what is queued and joins the worker
  ShadowMirror(const ShadowMirror&) = delete;
  ShadowMirror& operator=(const ShadowMirror&) = delete;

  // Never blocks; false (and `dropped` counted) when the queue is full.
  bool TryEnqueue(Job job);
  // Waits until the queue is empty and the worker idle (tests).
  void Drain();

 private:
  void Loop();
  void RunOne(Job& job);

  const size_t capacity_;
  const double max_cpu_share_;
  std::atomic<bool> stopping_{false};
  absl::Mutex mu_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread worker_;
};

// Whether this request is copied to the shadow (one thread-local random draw; `mirror_bp` in
// basis points).
bool SampleMirror(int mirror_bp);

}  // namespace hotswap::serving
