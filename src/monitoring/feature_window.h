// FeatureWindow: the online side of drift monitoring. For one time window it counts every
// feature's values in the reference profile's frozen bins (plus missing), and keeps a
// QuantileSketch per numeric feature for quantiles, KS and Wasserstein. Counts are integers in
// fixed bins, so windows merge exactly: a 1 h window is the sum of its 1 min windows, and the
// result does not depend on how values were split between threads or windows.
//
// Recording allocates nothing (all arrays are sized from the profile at construction; a numeric
// value costs one binary search over ≤ 21 edges and one log() for the sketch; a category one
// hash lookup with no copy), unless Options::keep_values is set (the offline CLI keeps raw
// values to match scipy exactly).
//
// Thread-safety: none inside. One writer per window and no reader while it writes; the server
// keeps one window per thread and merges copies on read (Merge under its own lock).
//
// Example:
//   auto profile = std::make_shared<const ReferenceProfile>(std::move(*ReferenceProfile::FromJson(j)));
//   FeatureWindow w(profile);                        // one per thread
//   w.RecordNumber(profile->FeatureIndex("age"), 41.0);
//   w.RecordCategory(profile->FeatureIndex("country"), "NL");
//   FeatureWindow total(profile); total.Merge(w);    // on read
//   auto report = ComputeDrift(total, DriftOptions{});
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "monitoring/quantile_sketch.h"
#include "monitoring/reference_profile.h"

namespace hotswap::monitoring {

struct FeatureWindowOptions {
  QuantileSketchOptions sketch;
  bool keep_values = false;  // keep raw numeric values (allocates; offline use)
};

class FeatureWindow {
 public:
  using Options = FeatureWindowOptions;

  // What one feature saw in this window.
  struct Counts {
    std::vector<uint64_t> bins;  // same layout as the profile's bin_counts
    uint64_t count = 0;          // non-missing values
    uint64_t missing = 0;
    std::unique_ptr<QuantileSketch> sketch;  // numeric features only
    std::vector<double> values;              // with keep_values, unsorted
  };

  explicit FeatureWindow(std::shared_ptr<const ReferenceProfile> profile, Options options = {});
  FeatureWindow(const FeatureWindow& other);
  FeatureWindow& operator=(const FeatureWindow&) = delete;
  FeatureWindow(FeatureWindow&&) = default;

  // A value of a numeric feature; NaN counts as missing. On a categorical feature the number is
  // matched by its shortest decimal text ("3", "0.5"), still without allocating.
  void RecordNumber(size_t feature, double value);
  // A value of a categorical feature. On a numeric feature the text is parsed (a non-number is
  // counted as missing).
  void RecordCategory(size_t feature, std::string_view value);
  void RecordMissing(size_t feature);
  // A CSV cell: missing cells (IsMissingCell) count as missing; numeric features parse the text
  // and return InvalidArgument for a non-number.
  absl::Status RecordCell(size_t feature, std::string_view cell);

  // Adds the other window's counts. FailedPrecondition unless both use the same profile object
  // and the same options.
  absl::Status Merge(const FeatureWindow& other);
  void Clear();

  const ReferenceProfile& profile() const { return *profile_; }
  const std::shared_ptr<const ReferenceProfile>& shared_profile() const { return profile_; }
  const Counts& feature(size_t i) const { return features_[i]; }
  size_t feature_count() const { return features_.size(); }
  const Options& options() const { return options_; }

 private:
  std::shared_ptr<const ReferenceProfile> profile_;
  Options options_;
  std::vector<Counts> features_;
};

}  // namespace hotswap::monitoring
