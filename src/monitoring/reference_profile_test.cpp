// Reference profiles: binning, typing, schema, edge cases and the JSON round trip.
#include "monitoring/reference_profile.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "gtest/gtest.h"

namespace hotswap::monitoring {
namespace {

CsvTable Table(std::vector<std::string> header, std::vector<std::vector<std::string>> columns) {
  CsvTable t;
  t.header = std::move(header);
  t.columns = std::move(columns);
  return t;
}

std::vector<std::string> Numbers(int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i <= to; ++i) v.push_back(std::to_string(i));
  return v;
}

TEST(ReferenceProfileTest, NumericEdgesAreNumpyLinearQuantiles) {
  // 1..101 with 4 bins: numpy.quantile(x, [0, .25, .5, .75, 1]) = 1, 26, 51, 76, 101.
  auto p = ReferenceProfile::FromTable(Table({"x"}, {Numbers(1, 101)}), {.bins = 4});
  ASSERT_TRUE(p.ok()) << p.status();
  const auto& n = p->features()[0].numeric;
  EXPECT_EQ(n.edges, (std::vector<double>{1, 26, 51, 76, 101}));
  // [1,26) [26,51) [51,76) [76,101] plus empty underflow and overflow.
  EXPECT_EQ(n.bin_counts, (std::vector<uint64_t>{0, 25, 25, 25, 26, 0}));
  EXPECT_EQ(n.BinOf(0.5), 0u);
  EXPECT_EQ(n.BinOf(26), 2u);
  EXPECT_EQ(n.BinOf(101), 4u);
  EXPECT_EQ(n.BinOf(101.5), 5u);
  EXPECT_DOUBLE_EQ(n.mean, 51);
  EXPECT_NEAR(n.std, std::sqrt((101.0 * 101.0 - 1) / 12.0), 1e-12);
  // Interpolated edges: 1..4 with 3 bins → 1, 2, 3, 4; 1..5 with 2 bins → 1, 3, 5.
  EXPECT_DOUBLE_EQ(LinearQuantile({1, 2, 3, 4}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(LinearQuantile({1, 2, 3, 4}, 1.0 / 3.0), 2.0);
}

TEST(ReferenceProfileTest, EqualQuantileEdgesAreMerged) {
  std::vector<std::string> skewed(90, "0");
  for (int i = 1; i <= 10; ++i) skewed.push_back(std::to_string(i));
  auto p = ReferenceProfile::FromTable(Table({"x"}, {skewed}), {.bins = 10});
  ASSERT_TRUE(p.ok());
  const auto& n = p->features()[0].numeric;
  EXPECT_TRUE(std::adjacent_find(n.edges.begin(), n.edges.end()) == n.edges.end());
  EXPECT_LT(n.edges.size(), 11u);
  EXPECT_EQ(n.bin_counts.size(), n.regular_bins() + 2);
  EXPECT_EQ(n.bin_counts[1], 90u);  // every zero in the first bin [0, next edge)
}

TEST(ReferenceProfileTest, SingleValueColumnHasOneClosedBin) {
  auto p = ReferenceProfile::FromTable(Table({"c"}, {{"7", "7", "7.0", "NA"}}), {});
  ASSERT_TRUE(p.ok());
  const auto& f = p->features()[0];
  EXPECT_EQ(f.type, ColumnType::kNumeric);
  EXPECT_EQ(f.numeric.edges, std::vector<double>{7});
  EXPECT_EQ(f.numeric.bin_counts, (std::vector<uint64_t>{0, 3, 0}));  // under, [7, 7], over
  EXPECT_EQ(f.numeric.BinOf(6.9), 0u);
  EXPECT_EQ(f.numeric.BinOf(7), 1u);
  EXPECT_EQ(f.numeric.BinOf(7.1), 2u);
  EXPECT_EQ(f.numeric.std, 0.0);
  EXPECT_DOUBLE_EQ(*f.missing_rate(), 0.25);
}

TEST(ReferenceProfileTest, AllMissingColumnIsNumericWithoutBins) {
  auto p = ReferenceProfile::FromTable(Table({"e"}, {{"NA", "", "null"}}), {});
  ASSERT_TRUE(p.ok());
  const auto& f = p->features()[0];
  EXPECT_EQ(f.type, ColumnType::kNumeric);
  EXPECT_EQ(f.count, 0u);
  EXPECT_TRUE(f.numeric.edges.empty());
  EXPECT_TRUE(f.numeric.bin_counts.empty());
  EXPECT_DOUBLE_EQ(*f.missing_rate(), 1.0);
}

TEST(ReferenceProfileTest, CategoricalKeepsTopKThenOtherAndUnseen) {
  // counts: a 4, b 3, c 3, d 1, e 1 → top-2 = a, then b before c (tie broken by byte order).
  auto p = ReferenceProfile::FromTable(
      Table({"k"}, {{"a", "a", "a", "a", "c", "c", "c", "b", "b", "b", "d", "e", "NA"}}), {.top_k = 2});
  ASSERT_TRUE(p.ok());
  const auto& f = p->features()[0];
  EXPECT_EQ(f.type, ColumnType::kCategorical);
  const auto& c = f.categorical;
  EXPECT_EQ(c.categories, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.bin_counts, (std::vector<uint64_t>{4, 3, 5, 0}));  // a, b, OTHER (c, d, e), UNSEEN
  EXPECT_EQ(c.other_values, (std::vector<std::string>{"c", "d", "e"}));
  EXPECT_EQ(c.BinOf("a"), 0u);
  EXPECT_EQ(c.BinOf("d"), c.other_bin());
  EXPECT_EQ(c.BinOf("never"), c.unseen_bin());
  EXPECT_EQ(f.missing, 1u);
}

TEST(ReferenceProfileTest, ColumnsAreNumericOnlyWhenEveryValueIsAFiniteNumber) {
  auto p = ReferenceProfile::FromTable(
      Table({"n", "mixed", "inf"}, {{" 1.5", "+2", "-3e2"}, {"1", "2", "x"}, {"1", "inf", "2"}}), {});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->features()[0].type, ColumnType::kNumeric);
  EXPECT_EQ(p->features()[0].numeric.min, -300);
  EXPECT_EQ(p->features()[1].type, ColumnType::kCategorical);
  EXPECT_EQ(p->features()[2].type, ColumnType::kCategorical);
}

TEST(ReferenceProfileTest, SchemaSetsTypesAndRoles) {
  auto schema = ProfileSchema::FromJson(
      nlohmann::json::parse(R"({"columns": {"code": {"type": "categorical"}, "pred": {"role": "output"}}})"));
  ASSERT_TRUE(schema.ok()) << schema.status();
  auto p = ReferenceProfile::FromTable(Table({"code", "pred"}, {{"1", "2", "2"}, {"0.1", "0.9", "0.5"}}), {},
                                       &*schema);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->features()[0].type, ColumnType::kCategorical);
  EXPECT_EQ(p->features()[0].categorical.categories, (std::vector<std::string>{"2", "1"}));
  EXPECT_EQ(p->features()[1].type, ColumnType::kNumeric);
  EXPECT_EQ(p->features()[1].role, ColumnRole::kOutput);
}

TEST(ReferenceProfileTest, BadSchemasAndDataAreRejectedWithTheReason) {
  auto unknown_column = ProfileSchema::FromJson(nlohmann::json::parse(R"({"columns": {"nope": {}}})"));
  ASSERT_TRUE(unknown_column.ok());
  auto p = ReferenceProfile::FromTable(Table({"x"}, {{"1"}}), {}, &*unknown_column);
  EXPECT_EQ(p.status().message(), "schema names column 'nope', which is not in the data");

  auto numeric = ProfileSchema::FromJson(nlohmann::json::parse(R"({"columns": {"x": {"type": "numeric"}}})"));
  auto q = ReferenceProfile::FromTable(Table({"x"}, {{"1", "NA", "abc"}}), {}, &*numeric);
  EXPECT_EQ(q.status().message(), "column 'x', data row 3: 'abc' is not a number (the schema says numeric)");

  EXPECT_FALSE(ProfileSchema::FromJson(nlohmann::json::parse(R"({"columns": {"x": {"type": "text"}}})")).ok());
  EXPECT_FALSE(ProfileSchema::FromJson(nlohmann::json::parse(R"({"cols": {}})")).ok());
  EXPECT_FALSE(ReferenceProfile::FromTable(Table({"x"}, {{"1"}}), {.bins = 0}).ok());
}

TEST(ReferenceProfileTest, JsonRoundTripKeepsEverything) {
  auto p = ReferenceProfile::FromTable(
      Table({"x", "k", "e"}, {{"1.25", "2", "NA", "-3", "8"}, {"a", "b", "a", "", "c"}, {"", "", "", "", ""}}),
      {.bins = 3, .top_k = 1});
  ASSERT_TRUE(p.ok());
  nlohmann::json j = p->ToJson();
  auto back = ReferenceProfile::FromJson(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ToJson(), j);
  EXPECT_EQ(back->features()[1].categorical.BinOf("b"), back->features()[1].categorical.other_bin());
  EXPECT_EQ(j["format"], "hotswap.reference_profile/v1");
  EXPECT_EQ(j["features"][0]["quantiles"].size(), 7u);
}

TEST(ReferenceProfileTest, InconsistentProfileJsonIsRejected) {
  auto p = ReferenceProfile::FromTable(Table({"x"}, {Numbers(1, 50)}), {.bins = 5});
  nlohmann::json j = p->ToJson();
  nlohmann::json wrong_bins = j;
  wrong_bins["features"][0]["bin_counts"].push_back(1);
  EXPECT_FALSE(ReferenceProfile::FromJson(wrong_bins).ok());
  nlohmann::json unsorted = j;
  std::swap(unsorted["features"][0]["edges"][0], unsorted["features"][0]["edges"][1]);
  EXPECT_FALSE(ReferenceProfile::FromJson(unsorted).ok());
  nlohmann::json wrong_count = j;
  wrong_count["features"][0]["count"] = 49;
  EXPECT_FALSE(ReferenceProfile::FromJson(wrong_count).ok());
  EXPECT_EQ(ReferenceProfile::FromJson(nlohmann::json{{"format", "other"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ReferenceProfileTest, LargeReferenceKeepsAnOrderStatisticSummaryWithinItsBound) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  std::vector<std::string> cells;
  std::vector<double> values;
  for (int i = 0; i < 50000; ++i) {
    values.push_back(normal(rng));
    cells.push_back(std::to_string(values.back()));
  }
  auto p = ReferenceProfile::FromTable(Table({"x"}, {cells}), {.sample_size = 1000});
  ASSERT_TRUE(p.ok());
  const auto& n = p->features()[0].numeric;
  EXPECT_FALSE(n.sample_exact);
  ASSERT_EQ(n.sample.size(), 1000u);
  // sup |F_summary - F_data| <= 1/k + 1/n, checked at every data value.
  std::vector<double> sorted;
  for (const auto& c : cells) sorted.push_back(std::stod(c));
  std::sort(sorted.begin(), sorted.end());
  double worst = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    double f_data = static_cast<double>(std::upper_bound(sorted.begin(), sorted.end(), sorted[i]) - sorted.begin()) / 50000.0;
    double f_sum = static_cast<double>(std::upper_bound(n.sample.begin(), n.sample.end(), sorted[i]) - n.sample.begin()) / 1000.0;
    worst = std::max(worst, std::fabs(f_data - f_sum));
  }
  EXPECT_LE(worst, 1.0 / 1000 + 1.0 / 50000);
}

}  // namespace
}  // namespace hotswap::monitoring
