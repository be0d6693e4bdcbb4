// The null distributions against scipy 1.17 (tests/monitoring/drift_reference.json).
#include "monitoring/distributions.h"

#include <cmath>

#include "monitoring/drift_statistics.h"
#include "monitoring/test_fixture.h"

namespace hotswap::monitoring {
namespace {

using testing::GoldenSample;
using testing::MatchesScipy;
using testing::ScipyFixture;

TEST(DistributionsTest, RegularizedGammaQHasClosedFormsForSmallShapes) {
  for (double x : {0.0, 0.1, 1.0, 5.0, 30.0}) {
    EXPECT_NEAR(RegularizedGammaQ(1.0, x), std::exp(-x), 1e-14) << x;
    EXPECT_NEAR(RegularizedGammaQ(2.0, x), (1 + x) * std::exp(-x), 1e-14) << x;
    EXPECT_NEAR(RegularizedGammaQ(0.5, x), std::erfc(std::sqrt(x)), 1e-14) << x;
  }
}

TEST(DistributionsTest, ChiSquareSurvivalMatchesScipy) {
  const auto& cases = ScipyFixture().at("chi2_sf");
  ASSERT_GT(cases.size(), 50u);
  for (const auto& c : cases)
    EXPECT_TRUE(MatchesScipy(ChiSquareSf(c["x"], c["dof"]), c["sf"])) << c.dump();
}

TEST(DistributionsTest, SmirnovOneSidedSurvivalMatchesScipy) {
  for (const auto& c : ScipyFixture().at("smirnov_sf"))
    EXPECT_TRUE(MatchesScipy(SmirnovSf(c["n"], c["x"]), c["sf"])) << c.dump();
}

TEST(DistributionsTest, KolmogorovSurvivalMatchesScipyKstwoInEveryRegion) {
  // n from 1 to 400,000 and x from 5e-4 to 0.95 cover the closed forms, the Durbin matrix,
  // Pelz–Good and 2·smirnov regions.
  const auto& cases = ScipyFixture().at("kstwo_sf");
  ASSERT_GT(cases.size(), 100u);
  for (const auto& c : cases)
    EXPECT_TRUE(MatchesScipy(KolmogorovSf(c["n"], c["x"]), c["sf"])) << c.dump();
}

TEST(DistributionsTest, DurbinAndPelzGoodAgreeWhereBothApply) {
  // Pelz–Good is an asymptotic expansion; at n = 5000 it is already within 1e-5 of the exact
  // Durbin value over the body of the distribution (√n·x from 0.35 to 1.4).
  for (double x : {0.005, 0.01, 0.015, 0.02})
    EXPECT_NEAR(KolmogorovCdfDurbin(5000, x), KolmogorovCdfPelzGood(5000, x), 1e-5) << x;
}

TEST(DistributionsTest, TwoSampleKsMatchesScipyExactAndAsymptotic) {
  for (const auto& c : ScipyFixture().at("ks_2samp")) {
    auto a = c["a"], b = c["b"];
    WeightedSample s1 = WeightedSample::FromValues(GoldenSample(c["n1"], a[0], a[1], a[2]));
    WeightedSample s2 = WeightedSample::FromValues(GoldenSample(c["n2"], b[0], b[1], b[2]));
    KsPValue ks = KolmogorovSmirnovTest(s1, s2);
    EXPECT_TRUE(MatchesScipy(ks.statistic, c["statistic"])) << c["n1"] << " vs " << c["n2"];
    EXPECT_TRUE(MatchesScipy(ks.pvalue, c["pvalue"])) << c["n1"] << " vs " << c["n2"];
    EXPECT_TRUE(MatchesScipy(WassersteinDistance(s1, s2), c["wasserstein"])) << c["n1"] << " vs " << c["n2"];
  }
}

TEST(DistributionsTest, KsUsesExactMethodUpTo10000AndAsymptoticBeyond) {
  EXPECT_TRUE(KsTwoSamplePValue(37, 53, 0.2).exact);
  EXPECT_TRUE(KsTwoSamplePValue(10000, 9999, 0.01).exact);
  EXPECT_FALSE(KsTwoSamplePValue(10001, 40, 0.1).exact);
  // Like scipy, an exact sum that rounds outside [0, 1] falls back to the asymptotic method:
  // the fixture's 3000 vs 3000 case does (scipy warns "Exact calculation unsuccessful").
  for (const auto& c : ScipyFixture().at("ks_2samp")) {
    if (c["n1"] != 3000) continue;
    auto a = c["a"], b = c["b"];
    KsPValue ks = KolmogorovSmirnovTest(WeightedSample::FromValues(GoldenSample(3000, a[0], a[1], a[2])),
                                        WeightedSample::FromValues(GoldenSample(3000, b[0], b[1], b[2])));
    EXPECT_FALSE(ks.exact);
    EXPECT_TRUE(MatchesScipy(ks.pvalue, c["pvalue"]));
  }
}

TEST(DistributionsTest, KsOfIdenticalSamplesIsZeroWithPValueOne) {
  WeightedSample s = WeightedSample::FromValues({3, 1, 2, 2, 5});
  KsPValue ks = KolmogorovSmirnovTest(s, s);
  EXPECT_EQ(ks.statistic, 0.0);
  EXPECT_EQ(ks.pvalue, 1.0);
}

TEST(DistributionsTest, ExactKsOfFullySeparatedSamplesIsTheSmallestPathProbability) {
  // D = 1 for n1 = n2 = 5: only the 2 extreme orderings of C(10, 5) = 252 reach it.
  KsPValue ks = KolmogorovSmirnovTest(WeightedSample::FromValues({1, 2, 3, 4, 5}),
                                      WeightedSample::FromValues({6, 7, 8, 9, 10}));
  EXPECT_EQ(ks.statistic, 1.0);
  EXPECT_NEAR(ks.pvalue, 2.0 / 252.0, 1e-15);
}

}  // namespace
}  // namespace hotswap::monitoring
