// Drift reports end to end on the library: the scipy fixture, synthetic shifts that must be
// flagged, large same-distribution samples that must not be, and the edge cases.
#include "monitoring/drift_report.h"

#include <cmath>
#include <fstream>
#include <random>
#include <set>

#include "monitoring/test_fixture.h"

namespace hotswap::monitoring {
namespace {

using nlohmann::json;
using testing::MatchesScipy;
using testing::MonitoringDataDir;
using testing::ScipyFixture;

// Builds a profile from reference columns and a window from current columns (same names).
struct Comparison {
  std::shared_ptr<const ReferenceProfile> profile;
  std::unique_ptr<FeatureWindow> window;
};

Comparison Compare(const CsvTable& ref, const CsvTable& cur, bool exact, const ProfileSchema* schema = nullptr) {
  auto p = ReferenceProfile::FromTable(ref, {.sample_size = exact ? 0u : 5000u}, schema);
  EXPECT_TRUE(p.ok()) << p.status();
  Comparison c;
  c.profile = std::make_shared<const ReferenceProfile>(std::move(*p));
  c.window = std::make_unique<FeatureWindow>(c.profile, FeatureWindowOptions{.keep_values = exact});
  for (size_t i = 0; i < c.profile->features().size(); ++i) {
    const auto& column = cur.columns[static_cast<size_t>(cur.ColumnIndex(c.profile->features()[i].name))];
    for (const auto& cell : column) EXPECT_TRUE(c.window->RecordCell(i, cell).ok());
  }
  return c;
}

CsvTable Columns(std::vector<std::string> names, std::vector<std::vector<std::string>> columns) {
  CsvTable t;
  t.header = std::move(names);
  t.columns = std::move(columns);
  return t;
}

std::vector<std::string> Normal(size_t n, double mean, double sd, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(mean, sd);
  std::vector<std::string> v;
  for (size_t i = 0; i < n; ++i) v.push_back(std::to_string(d(rng)));
  return v;
}

const FeatureDrift& Feature(const DriftReport& r, std::string_view name) {
  for (const auto& f : r.features)
    if (f.name == name) return f;
  ADD_FAILURE() << "no feature " << name;
  return r.features.front();
}

TEST(DriftReportTest, MatchesScipyOnEveryCommittedDataset) {
  int compared = 0;
  for (const auto& [name, c] : ScipyFixture().at("cases").items()) {
    auto ref = ReadCsvFile(MonitoringDataDir() + "/" + c["reference"].get<std::string>());
    auto cur = ReadCsvFile(MonitoringDataDir() + "/" + c["current"].get<std::string>());
    ASSERT_TRUE(ref.ok() && cur.ok());
    std::ifstream in(MonitoringDataDir() + "/" + c["schema"].get<std::string>());
    auto schema = ProfileSchema::FromJson(json::parse(in));
    ASSERT_TRUE(schema.ok());
    Comparison cmp = Compare(*ref, *cur, /*exact=*/true, &*schema);
    json got = ComputeDrift(*cmp.window).ToJson();
    const json& want = c["expected"];
    EXPECT_EQ(got["dataset_drift"], want["dataset_drift"]) << name;
    for (const auto& [feature, wf] : want["features"].items()) {
      const json& gf = got["features"][feature];
      EXPECT_EQ(gf.size(), wf.size()) << name << "/" << feature;
      for (const auto& [key, wv] : wf.items()) {
        const json& gv = gf[key];
        if (wv.is_number()) {
          ASSERT_TRUE(gv.is_number()) << name << "/" << feature << "/" << key << ": " << gv;
          EXPECT_TRUE(MatchesScipy(gv.get<double>(), wv.get<double>())) << name << "/" << feature << "/" << key;
          ++compared;
        } else {
          EXPECT_EQ(gv, wv) << name << "/" << feature << "/" << key;
        }
      }
    }
  }
  EXPECT_GT(compared, 100);
}

TEST(DriftReportTest, FlagsAMeanShift) {
  auto ref = Columns({"x", "y"}, {Normal(5000, 0, 1, 1), Normal(5000, 0, 1, 2)});
  auto cur = Columns({"x", "y"}, {Normal(5000, 0.5, 1, 3), Normal(5000, 0, 1, 4)});
  DriftReport r = ComputeDrift(*Compare(ref, cur, true).window);
  const auto& x = Feature(r, "x");
  EXPECT_TRUE(x.drift);
  EXPECT_EQ(x.reasons, std::vector<std::string>{"distribution"});
  EXPECT_LT(*x.ks_pvalue, 1e-10);
  EXPECT_NEAR(*x.wasserstein_norm, 0.5, 0.1);
  EXPECT_FALSE(Feature(r, "y").drift);
  EXPECT_TRUE(r.dataset_drift);  // 1 of 2 features = 50%
}

TEST(DriftReportTest, FlagsANewCategory) {
  std::vector<std::string> ref_col, cur_col;
  const char* colors[] = {"red", "green", "blue"};
  for (int i = 0; i < 3000; ++i) ref_col.push_back(colors[i % 3]);
  for (int i = 0; i < 3000; ++i) cur_col.push_back(i % 10 == 0 ? "purple" : colors[i % 3]);
  DriftReport r = ComputeDrift(*Compare(Columns({"c"}, {ref_col}), Columns({"c"}, {cur_col}), true).window);
  const auto& c = Feature(r, "c");
  EXPECT_TRUE(c.drift);
  EXPECT_NEAR(*c.unseen_rate, 0.1, 1e-12);
  EXPECT_LT(*c.chi2_pvalue, 1e-10);
  EXPECT_NE(std::find(c.reasons.begin(), c.reasons.end(), "unseen"), c.reasons.end());
}

TEST(DriftReportTest, FlagsInjectedMissingValues) {
  auto ref = Normal(4000, 5, 1, 5);
  auto cur = Normal(4000, 5, 1, 6);
  for (size_t i = 0; i < cur.size(); i += 7) cur[i] = "NA";  // ~14% missing
  DriftReport r = ComputeDrift(*Compare(Columns({"v"}, {ref}), Columns({"v"}, {cur}), true).window);
  const auto& v = Feature(r, "v");
  EXPECT_TRUE(v.drift);
  EXPECT_EQ(v.reasons, std::vector<std::string>{"missing_rate"});
  EXPECT_DOUBLE_EQ(*v.missing_rate_ref, 0.0);
  EXPECT_NEAR(*v.missing_rate_cur, 572.0 / 4000.0, 1e-12);
}

// Two samples of the same distributions, 100k rows each: numeric with ties, skewed, and
// categorical with more categories than top-K. The default rule must flag nothing, both on
// raw values (offline) and through the sketch (online).
TEST(DriftReportTest, FlagsNothingOnTwoLargeSamplesOfTheSameDistribution) {
  auto make = [](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(50, 10);
    std::lognormal_distribution<double> lognormal(0, 1);
    std::poisson_distribution<int> poisson(3);
    std::vector<double> weights;
    for (int i = 1; i <= 40; ++i) weights.push_back(1.0 / i);
    std::discrete_distribution<int> zipf(weights.begin(), weights.end());
    std::vector<std::vector<std::string>> cols(5);
    std::uniform_real_distribution<double> u(0, 1);
    for (int i = 0; i < 100000; ++i) {
      cols[0].push_back(std::to_string(normal(rng)));
      cols[1].push_back(std::to_string(lognormal(rng)));
      cols[2].push_back(std::to_string(poisson(rng)));
      cols[3].push_back("cat" + std::to_string(zipf(rng)));
      cols[4].push_back(u(rng) < 0.05 ? "NA" : std::to_string(u(rng)));
    }
    return Columns({"normal", "lognormal", "poisson", "category", "sometimes_missing"}, std::move(cols));
  };
  CsvTable ref = make(11), cur = make(12);
  for (bool exact : {true, false}) {
    DriftReport r = ComputeDrift(*Compare(ref, cur, exact).window);
    for (const auto& f : r.features) {
      EXPECT_FALSE(f.drift) << (exact ? "exact " : "sketch ") << f.name << ": psi " << f.psi.value_or(-1)
                            << " w " << f.wasserstein_norm.value_or(-1);
      EXPECT_LT(f.psi.value_or(0), 0.01) << f.name;
    }
    EXPECT_FALSE(r.dataset_drift);
    EXPECT_EQ(r.drifted_features, 0u);
  }
}

TEST(DriftReportTest, SmallSameDistributionSamplesAreNotFlaggedDespiteLargePsi) {
  auto ref = Normal(30, 0, 1, 21), cur = Normal(30, 0, 1, 22);
  DriftReport r = ComputeDrift(*Compare(Columns({"x"}, {ref}), Columns({"x"}, {cur}), true).window);
  EXPECT_GT(*r.features[0].psi, 0.1);  // 22 bins on 30 rows: PSI alone would cry wolf
  EXPECT_FALSE(r.features[0].drift);
}

TEST(DriftReportTest, SketchStatisticsStayCloseToExactOnes) {
  auto ref = Columns({"x"}, {Normal(20000, 100, 15, 31)});
  auto cur = Columns({"x"}, {Normal(20000, 103, 15, 32)});
  const auto& exact = ComputeDrift(*Compare(ref, cur, true).window).features[0];
  const auto& sketch = ComputeDrift(*Compare(ref, cur, false).window).features[0];
  EXPECT_EQ(*exact.psi, *sketch.psi);  // bins are counted exactly either way
  EXPECT_NEAR(*sketch.ks_statistic, *exact.ks_statistic, 0.01);
  EXPECT_NEAR(*sketch.wasserstein_norm, *exact.wasserstein_norm, 0.02);
  EXPECT_TRUE(exact.drift);
  EXPECT_TRUE(sketch.drift);
}

TEST(DriftReportTest, EmptyCurrentSampleHasNoStatisticsAndNoDistributionDrift) {
  auto ref = Columns({"x", "c"}, {Normal(100, 0, 1, 41), std::vector<std::string>(100, "a")});
  DriftReport none = ComputeDrift(*Compare(ref, Columns({"x", "c"}, {{}, {}}), true).window);
  for (const auto& f : none.features) {
    EXPECT_FALSE(f.psi || f.ks_pvalue || f.chi2_pvalue || f.missing_rate_cur || f.unseen_rate) << f.name;
    EXPECT_FALSE(f.drift);
  }
  EXPECT_FALSE(none.dataset_drift);
  // Rows that are all missing: no distribution statistics, but the missing rate is a signal.
  DriftReport missing = ComputeDrift(
      *Compare(ref, Columns({"x", "c"}, {std::vector<std::string>(50, "NA"), std::vector<std::string>(50, "")}), true)
           .window);
  for (const auto& f : missing.features) {
    EXPECT_FALSE(f.psi) << f.name;
    EXPECT_EQ(*f.missing_rate_cur, 1.0);
    EXPECT_TRUE(f.drift) << f.name;
    EXPECT_EQ(f.reasons, std::vector<std::string>{"missing_rate"});
  }
}

TEST(DriftReportTest, AllMissingReferenceColumnComparesOnlyMissingness) {
  auto ref = Columns({"e", "k"}, {std::vector<std::string>(200, "NA"), std::vector<std::string>(200, "")});
  auto cur = Columns({"e", "k"}, {Normal(200, 0, 1, 51), std::vector<std::string>(200, "new")});
  // With no values to type it, "e" is numeric; "k" is declared categorical.
  auto schema = ProfileSchema::FromJson(json::parse(R"({"columns": {"k": {"type": "categorical"}}})"));
  DriftReport r = ComputeDrift(*Compare(ref, cur, true, &*schema).window);
  const auto& e = Feature(r, "e");
  EXPECT_FALSE(e.psi || e.ks_statistic || e.wasserstein_norm);
  EXPECT_EQ(*e.missing_rate_ref, 1.0);
  EXPECT_EQ(*e.missing_rate_cur, 0.0);
  EXPECT_TRUE(e.drift);
  const auto& k = Feature(r, "k");
  EXPECT_EQ(e.type, ColumnType::kNumeric);
  EXPECT_EQ(*k.unseen_rate, 1.0);  // every current value is one the reference never had
  EXPECT_FALSE(k.chi2_pvalue);
  EXPECT_TRUE(k.drift);
}

TEST(DriftReportTest, SingleValueColumnThatMovesIsFlagged) {
  auto ref = Columns({"c"}, {std::vector<std::string>(500, "7")});
  DriftReport same = ComputeDrift(*Compare(ref, Columns({"c"}, {std::vector<std::string>(400, "7")}), true).window);
  EXPECT_EQ(*same.features[0].psi, 0.0);
  EXPECT_EQ(*same.features[0].ks_pvalue, 1.0);
  EXPECT_FALSE(same.features[0].drift);
  DriftReport moved = ComputeDrift(*Compare(ref, Columns({"c"}, {std::vector<std::string>(400, "8")}), true).window);
  const auto& f = moved.features[0];
  EXPECT_EQ(*f.ks_statistic, 1.0);
  EXPECT_EQ(*f.wasserstein_norm, 1.0);  // reference std is 0: the distance is not normalised
  EXPECT_TRUE(f.drift);
}

TEST(DriftReportTest, JsonHasExactlyTheDocumentedShape) {
  auto ref = Columns({"n", "c"}, {Normal(300, 0, 1, 61), std::vector<std::string>(300, "a")});
  auto cur = Columns({"n", "c"}, {Normal(300, 0, 1, 62), std::vector<std::string>(300, "a")});
  json j = ComputeDrift(*Compare(ref, cur, true).window).ToJson();
  EXPECT_EQ(j.size(), 2u);
  EXPECT_TRUE(j["dataset_drift"].is_boolean());
  const std::set<std::string> keys{"type", "psi", "js_distance", "hellinger", "ks_statistic", "ks_pvalue",
                                   "chi2_statistic", "chi2_pvalue", "wasserstein_norm", "missing_rate_ref",
                                   "missing_rate_cur", "unseen_rate", "drift"};
  for (const auto& [name, f] : j["features"].items()) {
    std::set<std::string> got;
    for (const auto& [k, _] : f.items()) got.insert(k);
    EXPECT_EQ(got, keys) << name;
  }
  const json& n = j["features"]["n"];
  EXPECT_EQ(n["type"], "numeric");
  EXPECT_TRUE(n["chi2_statistic"].is_null() && n["chi2_pvalue"].is_null() && n["unseen_rate"].is_null());
  EXPECT_TRUE(n["ks_pvalue"].is_number() && n["wasserstein_norm"].is_number());
  const json& c = j["features"]["c"];
  EXPECT_EQ(c["type"], "categorical");
  EXPECT_TRUE(c["ks_statistic"].is_null() && c["ks_pvalue"].is_null() && c["wasserstein_norm"].is_null());
  EXPECT_TRUE(c["chi2_pvalue"].is_number() && c["unseen_rate"].is_number());
}

}  // namespace
}  // namespace hotswap::monitoring
