// QuantileSketch: a mergeable quantile sketch with a relative-error guarantee (DDSketch,
// Masson, Rim & Lee, VLDB 2019), used for the online feature windows. A value x with
// min_magnitude <= |x| <= max_magnitude goes to the log bucket i = ⌈log_γ |x|⌉ (one store for
// each sign), γ = (1 + α) / (1 - α); the bucket answers with 2γ^i / (γ + 1), which is within
// relative error α of every value in (γ^(i-1), γ^i]. Values with |x| < min_magnitude share a
// zero bucket (absolute error < min_magnitude); values beyond max_magnitude are clamped into the
// outermost bucket and counted (clamped_count) because the bound does not hold for them.
//
// Guarantee: for 0 <= q <= 1, Quantile(q) is within α·|x| of x = the element of rank
// ⌊q·(n-1)⌋ (0-based) of the sorted values added, when that element is inside the magnitude
// range; the exact min and max are kept, so Quantile(0) and Quantile(1) are exact. Merging adds
// bucket counts, so a merged sketch is identical to one fed all the values, and the guarantee
// survives any number of merges (1 min → 1 h → 24 h windows).
//
// Memory is fixed at construction: 2·(⌈log_γ max⌉ - ⌈log_γ min⌉ + 1) counters of 8 bytes
// (α = 0.01 over [1e-9, 1e12]: 4,838 counters, 38 KiB). Add() never allocates.
// Not thread-safe: one writer, no concurrent readers (keep one per thread; merge on read).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace hotswap::monitoring {

struct QuantileSketchOptions {
  double relative_accuracy = 0.01;  // α, in (0, 1)
  double min_magnitude = 1e-9;      // smaller |x| count as zero
  double max_magnitude = 1e12;      // larger |x| are clamped (and counted)
  bool operator==(const QuantileSketchOptions&) const = default;
};

class QuantileSketch {
 public:
  using Options = QuantileSketchOptions;

  explicit QuantileSketch(Options options = {});

  // Adds `count` copies of x (NaN is ignored). Never allocates.
  void Add(double x, uint64_t count = 1);
  // Adds the other sketch's counts. FailedPrecondition when the options differ.
  absl::Status Merge(const QuantileSketch& other);
  void Clear();

  // The value at quantile q in [0, 1] (see the guarantee above); NaN when empty.
  double Quantile(double q) const;

  uint64_t count() const { return count_; }
  uint64_t clamped_count() const { return clamped_; }
  double min() const { return min_; }
  double max() const { return max_; }
  const Options& options() const { return options_; }

  // Non-empty buckets in ascending order as (representative value, count): a weighted sample
  // that stands for the values added (each within the bucket's relative error).
  std::vector<std::pair<double, uint64_t>> Buckets() const;

  // Representative value of the bucket that x falls in (what Buckets() reports for x).
  double Representative(double x) const;

 private:
  int BucketIndex(double magnitude) const;  // offset into the stores
  double BucketValue(int offset) const;

  Options options_;
  double gamma_;
  double log_gamma_;
  int min_index_;  // ⌈log_γ min_magnitude⌉
  std::vector<uint64_t> positive_;
  std::vector<uint64_t> negative_;
  uint64_t zero_ = 0;
  uint64_t count_ = 0;
  uint64_t clamped_ = 0;
  double min_;
  double max_;
};

}  // namespace hotswap::monitoring
