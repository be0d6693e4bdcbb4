// The drift statistics, each a pure function with its exact definition (docs/monitoring.md
// repeats them with the edge cases). Histogram statistics take two count vectors over the same
// bins (reference first); p = ref / Σref and q = cur / Σcur. Sample statistics take
// WeightedSamples, so the same code serves raw values (weight 1, what scipy sees), a profile's
// order-statistic summary and a QuantileSketch's buckets. Thread-safe (no state).
#pragma once

#include <cstdint>
#include <vector>

#include "monitoring/distributions.h"
#include "monitoring/quantile_sketch.h"
#include "monitoring/reference_profile.h"

namespace hotswap::monitoring {

// Values in ascending order with positive weights, standing for `n` observations.
struct WeightedSample {
  std::vector<double> values;
  std::vector<double> weights;
  uint64_t n = 0;

  // Raw observations (sorted here), weight 1 each.
  static WeightedSample FromValues(std::vector<double> values);
  // A sketch's buckets at their representative values.
  static WeightedSample FromSketch(const QuantileSketch& sketch);
  // A reference profile's sample: weight 1 each when exact, else count / sample size each.
  static WeightedSample FromProfile(const NumericProfile& profile, uint64_t count);
  bool empty() const { return values.empty(); }
};

// Default ε of the PSI smoothing.
inline constexpr double kPsiEpsilon = 1e-4;

// Population Stability Index. p̃_i = max(p_i, ε) / Σ_j max(p_j, ε), likewise q̃ (ε-smoothed and
// renormalised, so empty bins give finite terms), PSI = Σ_i (q̃_i - p̃_i) · ln(q̃_i / p̃_i).
// Natural log. Both vectors must have a non-zero total.
double PopulationStabilityIndex(const std::vector<uint64_t>& ref, const std::vector<uint64_t>& cur,
                                double epsilon = kPsiEpsilon);

// Jensen–Shannon distance, base 2 (in [0, 1]): sqrt(½ KL(p‖m) + ½ KL(q‖m)) with m = (p + q)/2
// and 0·log 0 = 0; scipy.spatial.distance.jensenshannon(p, q, base=2). No smoothing.
double JensenShannonDistance(const std::vector<uint64_t>& ref, const std::vector<uint64_t>& cur);

// Hellinger distance (in [0, 1]): sqrt(½ Σ_i (√p_i - √q_i)²).
double HellingerDistance(const std::vector<uint64_t>& ref, const std::vector<uint64_t>& cur);

// Two-sample Kolmogorov–Smirnov test, two-sided, as scipy.stats.ks_2samp(ref, cur) with its
// default method='auto'. D = max_x |F_ref(x) - F_cur(x)| over all sample values (right-continuous
// empirical CDFs from the weights); p-value from KsTwoSamplePValue(ref.n, cur.n, D) (exact when
// both n <= 10000, else the asymptotic kstwo distribution). Both samples must be non-empty.
KsPValue KolmogorovSmirnovTest(const WeightedSample& ref, const WeightedSample& cur);

// Wasserstein-1 distance ∫ |F_ref(x) - F_cur(x)| dx, as scipy.stats.wasserstein_distance(ref, cur)
// (with u_weights / v_weights for weighted samples). Both samples must be non-empty.
double WassersteinDistance(const WeightedSample& ref, const WeightedSample& cur);

struct ChiSquareResult {
  double statistic = 0;
  double pvalue = 1;
  int dof = 0;
};

// Chi-square test of homogeneity on the 2×k table [ref; cur] over the bins that are non-empty
// in at least one sample (the union of categories): scipy.stats.chi2_contingency(table) with its
// default correction=True. statistic = Σ (O - E)² / E with E = row total · column total / N,
// dof = k - 1, p = chi2.sf(statistic, dof). When dof == 1 (2×2), Yates' continuity correction
// moves each O towards E by min(0.5, |O - E|) first, as scipy does. When dof == 0 (a single
// non-empty bin), statistic 0 and p 1. Both totals must be non-zero.
ChiSquareResult ChiSquareTwoSample(const std::vector<uint64_t>& ref, const std::vector<uint64_t>& cur);

// Benjamini–Hochberg at false discovery rate q: with p-values sorted p_(1) <= ... <= p_(m),
// rejects the hypotheses with the k smallest p-values, k = max{i : p_(i) <= i·q/m} (none if no
// such i). Returns one flag per input, in input order.
std::vector<bool> BenjaminiHochberg(const std::vector<double>& pvalues, double q);

}  // namespace hotswap::monitoring
