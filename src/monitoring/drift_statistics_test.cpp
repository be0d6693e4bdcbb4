// Histogram and sample statistics: definitions, edge cases and hand-checked values.
#include "monitoring/drift_statistics.h"

#include <cmath>

#include "gtest/gtest.h"

namespace hotswap::monitoring {
namespace {

TEST(DriftStatisticsTest, IdenticalHistogramsHaveZeroDistance) {
  std::vector<uint64_t> a{5, 0, 10, 3};
  std::vector<uint64_t> b{10, 0, 20, 6};  // same proportions, twice the counts
  EXPECT_NEAR(PopulationStabilityIndex(a, b), 0.0, 1e-15);
  EXPECT_NEAR(JensenShannonDistance(a, b), 0.0, 1e-7);
  EXPECT_NEAR(HellingerDistance(a, b), 0.0, 1e-15);
}

TEST(DriftStatisticsTest, PsiSmoothsEmptyBinsWithEpsilonAndRenormalises) {
  // p = (1, 0), q = (0.5, 0.5); ε = 1e-4 → p̃ = (1, 1e-4) / 1.0001.
  double e = 1e-4;
  double p0 = 1 / (1 + e), p1 = e / (1 + e), q0 = 0.5, q1 = 0.5;
  double want = (q0 - p0) * std::log(q0 / p0) + (q1 - p1) * std::log(q1 / p1);
  EXPECT_NEAR(PopulationStabilityIndex({10, 0}, {5, 5}), want, 1e-12);
  EXPECT_TRUE(std::isfinite(PopulationStabilityIndex({10, 0}, {0, 10})));
  EXPECT_GT(PopulationStabilityIndex({10, 0}, {5, 5}, 1e-6), PopulationStabilityIndex({10, 0}, {5, 5}, 1e-2));
}

TEST(DriftStatisticsTest, DisjointHistogramsHaveDistanceOne) {
  EXPECT_NEAR(JensenShannonDistance({4, 0}, {0, 7}), 1.0, 1e-12);
  EXPECT_NEAR(HellingerDistance({4, 0}, {0, 7}), 1.0, 1e-12);
}

TEST(DriftStatisticsTest, JensenShannonMatchesItsDefinition) {
  // p = (0.25, 0.75), q = (0.5, 0.5), m = (0.375, 0.625).
  double kl_pm = 0.25 * std::log2(0.25 / 0.375) + 0.75 * std::log2(0.75 / 0.625);
  double kl_qm = 0.5 * std::log2(0.5 / 0.375) + 0.5 * std::log2(0.5 / 0.625);
  EXPECT_NEAR(JensenShannonDistance({1, 3}, {2, 2}), std::sqrt((kl_pm + kl_qm) / 2), 1e-12);
}

TEST(DriftStatisticsTest, ChiSquareUsesOnlyBinsSeenInEitherSample) {
  ChiSquareResult with_empty = ChiSquareTwoSample({10, 0, 20, 30}, {15, 0, 15, 30});
  ChiSquareResult without = ChiSquareTwoSample({10, 20, 30}, {15, 15, 30});
  EXPECT_EQ(with_empty.dof, 2);
  EXPECT_DOUBLE_EQ(with_empty.statistic, without.statistic);
  EXPECT_DOUBLE_EQ(with_empty.pvalue, without.pvalue);
}

TEST(DriftStatisticsTest, ChiSquareTwoByTwoAppliesYatesCorrectionLikeScipy) {
  // scipy.stats.chi2_contingency([[10, 20], [20, 10]]): E = 15 everywhere, |O - E| = 5 → 4.5 after
  // Yates; statistic = 4 · 4.5² / 15 = 5.4, p = chi2.sf(5.4, 1) = 0.02013675...
  ChiSquareResult r = ChiSquareTwoSample({10, 20}, {20, 10});
  EXPECT_EQ(r.dof, 1);
  EXPECT_NEAR(r.statistic, 5.4, 1e-12);
  EXPECT_NEAR(r.pvalue, 0.02013675155034633, 1e-12);
  // Three columns: no correction, statistic = Σ (O - E)² / E.
  ChiSquareResult k3 = ChiSquareTwoSample({10, 20, 30}, {20, 10, 30});
  EXPECT_NEAR(k3.statistic, 4 * 25.0 / 15.0, 1e-12);
}

TEST(DriftStatisticsTest, ChiSquareWithASingleNonEmptyBinHasNoEvidence) {
  ChiSquareResult r = ChiSquareTwoSample({0, 12, 0}, {0, 40, 0});
  EXPECT_EQ(r.dof, 0);
  EXPECT_EQ(r.statistic, 0.0);
  EXPECT_EQ(r.pvalue, 1.0);
}

TEST(DriftStatisticsTest, BenjaminiHochbergRejectsUpToTheLargestPassingRank) {
  // m = 6, q = 0.05: thresholds i·q/m = .0083 .0167 .025 .033 .0417 .05. p_(4) = 0.03 passes,
  // so the four smallest are rejected although p_(3) = 0.026 > 0.025 on its own.
  std::vector<double> p{0.2, 0.001, 0.026, 0.03, 0.012, 0.9};
  std::vector<bool> want{false, true, true, true, true, false};
  EXPECT_EQ(BenjaminiHochberg(p, 0.05), want);
  EXPECT_EQ(BenjaminiHochberg({0.5, 0.6}, 0.05), (std::vector<bool>{false, false}));
  EXPECT_TRUE(BenjaminiHochberg({}, 0.05).empty());
}

TEST(DriftStatisticsTest, WassersteinOfAShiftedSampleIsTheShift) {
  WeightedSample a = WeightedSample::FromValues({1, 2, 3, 4});
  WeightedSample b = WeightedSample::FromValues({1.5, 2.5, 3.5, 4.5});
  EXPECT_NEAR(WassersteinDistance(a, b), 0.5, 1e-12);
  EXPECT_NEAR(WassersteinDistance(a, a), 0.0, 1e-15);
}

TEST(DriftStatisticsTest, WeightedSamplesEqualTheirExpandedForm) {
  WeightedSample expanded = WeightedSample::FromValues({1, 1, 1, 2, 5, 5});
  WeightedSample weighted;
  weighted.values = {1, 2, 5};
  weighted.weights = {3, 1, 2};
  weighted.n = 6;
  WeightedSample other = WeightedSample::FromValues({0.5, 2, 3, 4, 6});
  EXPECT_DOUBLE_EQ(WassersteinDistance(expanded, other), WassersteinDistance(weighted, other));
  EXPECT_DOUBLE_EQ(KolmogorovSmirnovTest(expanded, other).statistic, KolmogorovSmirnovTest(weighted, other).statistic);
  EXPECT_DOUBLE_EQ(KolmogorovSmirnovTest(expanded, other).pvalue, KolmogorovSmirnovTest(weighted, other).pvalue);
}

}  // namespace
}  // namespace hotswap::monitoring
