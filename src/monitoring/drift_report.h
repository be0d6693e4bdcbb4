// Drift of a window of live (or offline "current") data against a reference profile: every
// statistic per feature, a per-feature drift flag and the dataset-level flag. The rule
// (docs/monitoring.md, "Drift and feature distributions"):
//   tests      numeric: KS p-value; categorical: chi-square p-value (bins: top-K, OTHER, UNSEEN);
//              every feature: missing-rate chi-square p-value (2×2, Yates). All the p-values of
//              one comparison go through Benjamini–Hochberg at `fdr` together.
//   a feature drifts when a BH-significant test also shows a large enough effect:
//              distribution test significant and (PSI >= psi_threshold, or for numeric features
//              normalised Wasserstein >= wasserstein_threshold, or for categorical ones
//              unseen_rate >= unseen_threshold); or missing-rate test significant and
//              |missing_rate_cur - missing_rate_ref| >= missing_rate_threshold.
//              Significance alone would flag negligible shifts at large n (100k vs 100k makes
//              any real difference significant, and 5% of null comparisons too); effect size
//              alone would flag noise at small n (PSI over 22 bins is ~0.4 on 100 rows of the
//              same distribution). Requiring both keeps the false-alarm rate low at every n.
//   dataset    drifts when drifted features / features >= dataset_drift_share.
// Pure computation over its inputs; thread-safe as long as the window is not being written.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "monitoring/drift_statistics.h"
#include "monitoring/feature_window.h"
#include "nlohmann/json.hpp"

namespace hotswap::monitoring {

struct DriftOptions {
  double psi_epsilon = kPsiEpsilon;
  double fdr = 0.05;                     // Benjamini–Hochberg false discovery rate
  double psi_threshold = 0.1;
  double wasserstein_threshold = 0.1;    // Wasserstein-1 / reference std
  double unseen_threshold = 0.05;        // share of current values never seen in the reference
  double missing_rate_threshold = 0.05;  // absolute change of the missing rate
  double dataset_drift_share = 0.5;
};

struct FeatureDrift {
  std::string name;
  ColumnType type = ColumnType::kNumeric;
  ColumnRole role = ColumnRole::kInput;
  uint64_t reference_count = 0, current_count = 0;  // non-missing values
  // nullopt = does not apply to the type, or undefined (an empty side; see the docs).
  std::optional<double> psi, js_distance, hellinger;
  std::optional<double> ks_statistic, ks_pvalue, wasserstein_norm;  // numeric
  std::optional<double> chi2_statistic, chi2_pvalue, unseen_rate;   // categorical
  std::optional<double> missing_rate_ref, missing_rate_cur, missing_pvalue;
  bool distribution_significant = false;  // after Benjamini–Hochberg
  bool missing_significant = false;
  bool drift = false;
  std::vector<std::string> reasons;  // "distribution", "unseen", "missing_rate"
};

struct DriftReport {
  std::vector<FeatureDrift> features;  // in profile order
  size_t drifted_features = 0;
  double drifted_share = 0;
  bool dataset_drift = false;

  // Exactly {"features": {"<name>": {"type", "psi", "js_distance", "hellinger",
  // "ks_statistic", "ks_pvalue", "chi2_statistic", "chi2_pvalue", "wasserstein_norm",
  // "missing_rate_ref", "missing_rate_cur", "unseen_rate", "drift"}}, "dataset_drift"}, with
  // null for what does not apply. `detailed` adds "role", counts, "missing_pvalue" and
  // "reasons" per feature and "drifted_share" at the top.
  nlohmann::json ToJson(bool detailed = false) const;
};

// Compares the window with its profile. Numeric KS / Wasserstein use the window's raw values
// when it keeps them (exact), else its sketch's buckets.
DriftReport ComputeDrift(const FeatureWindow& current, const DriftOptions& options = {});

}  // namespace hotswap::monitoring
