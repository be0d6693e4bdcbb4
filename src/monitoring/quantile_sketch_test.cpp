// The quantile sketch: its relative-error bound, exact merging, and the edges of its range.
#include "monitoring/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "gtest/gtest.h"

namespace hotswap::monitoring {
namespace {

std::vector<double> MixedSample(size_t n, uint64_t seed) {
  // Log-normal magnitudes over ~8 decades, a third of them negative, some exact zeros.
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 3.0);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> v;
  for (size_t i = 0; i < n; ++i) {
    double r = u(rng);
    double x = r < 0.02 ? 0.0 : std::exp(normal(rng));
    v.push_back(r < 0.35 ? -x : x);
  }
  return v;
}

TEST(QuantileSketchTest, EveryQuantileIsWithinTheRelativeAccuracy) {
  for (double alpha : {0.01, 0.05}) {
    QuantileSketch sketch({.relative_accuracy = alpha});
    std::vector<double> values = MixedSample(100000, 1);
    for (double v : values) sketch.Add(v);
    std::sort(values.begin(), values.end());
    for (int i = 0; i <= 1000; ++i) {
      double q = i / 1000.0;
      double exact = values[static_cast<size_t>(std::floor(q * static_cast<double>(values.size() - 1)))];
      double got = sketch.Quantile(q);
      EXPECT_LE(std::fabs(got - exact), alpha * std::fabs(exact) + 1e-12) << "alpha " << alpha << " q " << q;
    }
    EXPECT_EQ(sketch.Quantile(0), values.front());
    EXPECT_EQ(sketch.Quantile(1), values.back());
  }
}

TEST(QuantileSketchTest, MergingEqualsOneSketchOfAllValues) {
  std::vector<double> values = MixedSample(30000, 2);
  QuantileSketch all, merged;
  std::vector<QuantileSketch> parts(7);
  for (size_t i = 0; i < values.size(); ++i) {
    all.Add(values[i]);
    parts[i % parts.size()].Add(values[i]);
  }
  for (const auto& p : parts) ASSERT_TRUE(merged.Merge(p).ok());
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.Buckets(), all.Buckets());
  for (double q : {0.0, 0.01, 0.3, 0.5, 0.77, 0.999, 1.0}) EXPECT_EQ(merged.Quantile(q), all.Quantile(q)) << q;
}

TEST(QuantileSketchTest, SketchesWithDifferentOptionsDoNotMerge) {
  QuantileSketch a({.relative_accuracy = 0.01}), b({.relative_accuracy = 0.02});
  EXPECT_EQ(a.Merge(b).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(QuantileSketchTest, TinyValuesShareTheZeroBucketAndHugeOnesAreCountedAsClamped) {
  QuantileSketch s({.relative_accuracy = 0.01, .min_magnitude = 1e-6, .max_magnitude = 1e6});
  s.Add(1e-8);
  s.Add(-1e-9);
  s.Add(5e7, 3);
  s.Add(std::nan(""));
  EXPECT_EQ(s.count(), 5u);
  EXPECT_EQ(s.clamped_count(), 3u);
  EXPECT_EQ(s.Representative(1e-8), 0.0);
  EXPECT_EQ(s.Quantile(0.25), 0.0);
  EXPECT_EQ(s.Quantile(1), 5e7);  // exact max is kept
}

TEST(QuantileSketchTest, EmptySketchHasNoQuantiles) {
  QuantileSketch s;
  EXPECT_TRUE(std::isnan(s.Quantile(0.5)));
  EXPECT_TRUE(s.Buckets().empty());
  s.Add(2.0);
  s.Clear();
  EXPECT_EQ(s.count(), 0u);
  EXPECT_TRUE(std::isnan(s.Quantile(0.5)));
}

}  // namespace
}  // namespace hotswap::monitoring
