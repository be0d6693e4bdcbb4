// Monitoring building blocks without a server: fine latency buckets and their quantile error
// bound, sliding windows, accuracy maths, the feedback join store (late, out of order,
// duplicate, unknown, expired, over capacity) and alert rules. Time is a FakeClock.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "monitoring/accuracy.h"
#include "monitoring/latency_windows.h"
#include "monitoring/monitor.h"
#include "monitoring/prediction_log.h"

namespace hotswap::monitoring {
namespace {

using serving::HistogramQuantile;
using serving::kLatencyBuckets;
using serving::LatencyBucketBound;
using serving::LatencyBucketFor;
using serving::VersionMetrics;

constexpr int64_t kHour = 3600'000;

TEST(LatencyBuckets, EachBoundFallsInItsOwnBucketAndJustAboveInTheNext) {
  for (int i = 0; i < kLatencyBuckets; ++i) {
    double b = LatencyBucketBound(i);
    EXPECT_EQ(LatencyBucketFor(b), i) << i;
    EXPECT_EQ(LatencyBucketFor(b * 1.0001), std::min(i + 1, kLatencyBuckets)) << i;
    if (i > 0) {
      EXPECT_EQ(LatencyBucketFor(b * 0.9999), i) << i;
    }
  }
  EXPECT_EQ(LatencyBucketFor(0), 0);
  EXPECT_EQ(LatencyBucketFor(-1), 0);
  EXPECT_EQ(LatencyBucketFor(1e9), kLatencyBuckets);
  // Four buckets per octave: the ratio of consecutive bounds is 2^(1/4).
  EXPECT_NEAR(LatencyBucketBound(41) / LatencyBucketBound(40), std::pow(2.0, 0.25), 1e-12);
}

TEST(LatencyBuckets, QuantilesAreWithinTheStatedRelativeErrorOfTheExactOnes) {
  const double bound = (std::pow(2.0, 0.25) - 1) / (std::pow(2.0, 0.25) + 1);  // 8.64%
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(std::log(0.004), 0.8);  // ~4 ms, long tail
  std::vector<double> xs(100'000);
  std::vector<uint64_t> buckets(kLatencyBuckets + 1, 0);
  for (double& x : xs) {
    x = latency(rng);
    ++buckets[LatencyBucketFor(x)];
  }
  std::sort(xs.begin(), xs.end());
  double worst = 0;
  for (double q : {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999}) {
    size_t rank = static_cast<size_t>(std::ceil(q * xs.size()));
    double exact = xs[rank - 1];
    double est = HistogramQuantile(buckets.data(), q);
    worst = std::max(worst, std::fabs(est - exact) / exact);
  }
  EXPECT_LE(worst, bound);
  EXPECT_LE(bound, 0.10);  // the requirement
}

TEST(LatencyBuckets, EmptyHistogramHasNoQuantile) {
  std::vector<uint64_t> buckets(kLatencyBuckets + 1, 0);
  EXPECT_EQ(HistogramQuantile(buckets.data(), 0.99), 0);
}

// ---- Sliding windows ----------------------------------------------------------------------------

class WindowsTest : public ::testing::Test {
 protected:
  WindowsTest() : clock_(1'000'000'000), windows_({}, &metrics_, &clock_) {
    series_ = metrics_.GetOrCreate("ep", "m", 1);
  }
  // `n` requests of `seconds` each at the current time, then `advance_ms` of ticks every 5 s.
  void Traffic(int n, double seconds) {
    for (int i = 0; i < n; ++i) series_->RecordSuccess(0, 0, seconds, seconds);
  }
  void Advance(int64_t ms) {
    for (int64_t t = 0; t < ms; t += 5000) {
      clock_.Advance(5000);
      windows_.Tick();
    }
  }
  uint64_t Requests(int64_t window_ms) {
    auto w = windows_.ReadSeries(series_, window_ms);
    return w ? w->counts.requests : 0;
  }

  FakeClock clock_;
  serving::MetricsRegistry metrics_;
  LatencyWindows windows_;
  std::shared_ptr<VersionMetrics> series_;
};

TEST_F(WindowsTest, WindowsCountExactlyWhatHappenedInsideThem) {
  windows_.Tick();
  Traffic(100, 0.002);  // t = 0
  Advance(10 * 60'000);
  Traffic(10, 0.050);  // t = 10 min
  Advance(2 * 60'000);
  Traffic(1, 0.100);  // t = 12 min
  Advance(30'000);
  EXPECT_EQ(Requests(60'000), 1u);
  EXPECT_EQ(Requests(5 * 60'000), 11u);
  EXPECT_EQ(Requests(kHour), 111u);
  auto w = windows_.ReadSeries(series_, 5 * 60'000);
  ASSERT_TRUE(w);
  EXPECT_NEAR(w->span_s, 300, 5);
  // The 5-minute p99 sees the 50 ms and 100 ms requests, not the 2 ms ones from 12 minutes ago.
  double p50 = HistogramQuantile(w->counts.buckets[VersionMetrics::kTotal].data(), 0.5);
  EXPECT_NEAR(p50, 0.050, 0.050 * 0.0865);
}

TEST_F(WindowsTest, SeriesYoungerThanTheWindowReportsItsAgeAsSpan) {
  windows_.Tick();
  Advance(20'000);
  Traffic(5, 0.001);
  Advance(30'000);
  auto w = windows_.ReadSeries(series_, kHour);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->counts.requests, 5u);
  EXPECT_LT(w->span_s, 60);
}

TEST_F(WindowsTest, SnapshotsKeptStayBoundedOverALongRun) {
  windows_.Tick();
  for (int minute = 0; minute < 6 * 60; ++minute) {  // six hours of traffic and ticks
    Traffic(10, 0.001);
    Advance(60'000);
  }
  // Fine points for ~5 min (every 5 s) + one per minute for ~1 h.
  EXPECT_LE(windows_.snapshots_kept(), 64u + 62u);
  EXPECT_EQ(Requests(kHour), 600u);
  EXPECT_EQ(Requests(60'000), 10u);
}

TEST_F(WindowsTest, SeriesThatNeverServedAreNotReported) {
  windows_.Tick();
  auto other = metrics_.GetOrCreate("ep", "m", 2, serving::Variant::kCandidate);
  Traffic(3, 0.001);
  Advance(10'000);
  auto all = windows_.Read("ep", 60'000);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].series, series_);
  EXPECT_FALSE(windows_.ReadSeries(other, 60'000));
}

// ---- Accuracy maths -----------------------------------------------------------------------------

Prediction Class(const std::string& label, std::vector<float> probs = {}) {
  Prediction p;
  p.has_label = true;
  p.label = label;
  p.n_probabilities = static_cast<int>(probs.size());
  std::copy(probs.begin(), probs.end(), p.probabilities.begin());
  return p;
}

Prediction Value(double v) {
  Prediction p;
  p.has_value = true;
  p.value = v;
  return p;
}

TEST(AccuracySums, ClassificationMetricsMatchHandComputedValues) {
  AccuracySums s;
  // (predicted, true): 0/0 0/0 1/0 1/1 2/1 2/2
  s.AddLabel(Class("0", {0.8f, 0.1f, 0.1f}), "0");
  s.AddLabel(Class("0", {0.6f, 0.3f, 0.1f}), "0");
  s.AddLabel(Class("1", {0.3f, 0.6f, 0.1f}), "0");
  s.AddLabel(Class("1", {0.2f, 0.7f, 0.1f}), "1");
  s.AddLabel(Class("2", {0.1f, 0.4f, 0.5f}), "1");
  s.AddLabel(Class("2", {0.1f, 0.1f, 0.8f}), "2");
  auto j = s.ToJson()["classification"];
  EXPECT_EQ(j["labelled"], 6);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 4.0 / 6);
  // class 0: tp 2, fp 0, fn 1; class 1: tp 1, fp 1, fn 1; class 2: tp 1, fp 1, fn 0.
  EXPECT_DOUBLE_EQ(j["classes"]["0"]["precision"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["classes"]["0"]["recall"].get<double>(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(j["classes"]["1"]["f1"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["classes"]["2"]["recall"].get<double>(), 1.0);
  double f1_0 = 2 * 2.0 / (2 * 2 + 0 + 1), f1_1 = 0.5, f1_2 = 2.0 / (2 + 1);
  EXPECT_NEAR(j["macro_f1"].get<double>(), (f1_0 + f1_1 + f1_2) / 3, 1e-12);
  double ll = -(std::log(0.8f) + std::log(0.6f) + std::log(0.3f) + std::log(0.7f) +
                std::log(0.4f) + std::log(0.8f)) / 6;
  EXPECT_NEAR(j["log_loss"].get<double>(), ll, 1e-6);
}

TEST(AccuracySums, RegressionMetricsLeaveZeroTargetsOutOfMape) {
  AccuracySums s;
  s.AddValue(Value(2.0), 1.0);   // err 1
  s.AddValue(Value(1.0), 3.0);   // err -2
  s.AddValue(Value(0.5), 0.0);   // err -0.5, y = 0
  auto j = s.ToJson()["regression"];
  EXPECT_DOUBLE_EQ(j["mae"].get<double>(), 3.5 / 3);
  EXPECT_DOUBLE_EQ(j["rmse"].get<double>(), std::sqrt((1 + 4 + 0.25) / 3));
  EXPECT_DOUBLE_EQ(j["mape"].get<double>(), (1.0 / 1 + 2.0 / 3) / 2);
  EXPECT_EQ(j["mape_excluded"], 1);
  EXPECT_TRUE(s.ToJson()["classification"].is_null());
}

// Equal JSON, with floating-point sums equal up to summation order (relative 1e-12).
void ExpectSameJson(const nlohmann::json& a, const nlohmann::json& b, const std::string& at = "") {
  if (a.is_number_float() || b.is_number_float()) {
    ASSERT_TRUE(a.is_number() && b.is_number()) << at;
    EXPECT_NEAR(a.get<double>(), b.get<double>(), 1e-12 * std::max(1.0, std::fabs(b.get<double>())))
        << at;
  } else if (a.is_object()) {
    ASSERT_TRUE(b.is_object()) << at;
    ASSERT_EQ(a.size(), b.size()) << at;
    for (const auto& [k, v] : a.items()) {
      ASSERT_TRUE(b.contains(k)) << at << "." << k;
      ExpectSameJson(v, b[k], at + "." + k);
    }
  } else {
    EXPECT_EQ(a, b) << at;
  }
}

TEST(AccuracySums, MergingEqualsAccumulatingTheUnion) {
  AccuracySums a, b, all;
  for (int i = 0; i < 50; ++i) {
    Prediction p = Class(std::to_string(i % 3), {0.2f, 0.3f, 0.5f});
    std::string truth = std::to_string(i % 2);
    (i % 2 ? a : b).AddLabel(p, truth);
    all.AddLabel(p, truth);
    (i % 2 ? a : b).AddValue(Value(i), i * 1.5);
    all.AddValue(Value(i), i * 1.5);
    (i % 2 ? a : b).AddOutcome("revenue", i);
    all.AddOutcome("revenue", i);
  }
  a.Merge(b);
  ExpectSameJson(a.ToJson(), all.ToJson());
}

TEST(AccuracySums, OutcomesReportMeanAndSampleVariance) {
  AccuracySums s;
  for (double v : {1.0, 0.0, 1.0, 1.0}) s.AddOutcome("converted", v);
  auto o = s.ToJson()["outcomes"]["converted"];
  EXPECT_EQ(o["n"], 4);
  EXPECT_DOUBLE_EQ(o["mean"].get<double>(), 0.75);
  EXPECT_NEAR(o["variance"].get<double>(), 0.25, 1e-12);
}

// ---- Predictions from outputs -------------------------------------------------------------------

runtime::Tensor Fp32(const std::string& name, std::vector<int64_t> shape, std::vector<float> v) {
  runtime::Tensor t;
  t.name = name;
  t.datatype = domain::DataType::kFp32;
  t.shape = std::move(shape);
  t.data.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  return t;
}

runtime::Tensor Int64(const std::string& name, std::vector<int64_t> v) {
  runtime::Tensor t;
  t.name = name;
  t.datatype = domain::DataType::kInt64;
  t.shape = {static_cast<int64_t>(v.size())};
  t.data.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t));
  return t;
}

TEST(ExtractPredictions, LabelOutputWinsAndProbabilitiesAreKept) {
  auto rows = ExtractPredictions(
      {Int64("label", {2, 0}), Fp32("probabilities", {2, 3}, {0.1f, 0.2f, 0.7f, 0.5f, 0.3f, 0.2f})},
      64);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].label, "2");
  EXPECT_EQ(rows[1].label, "0");
  EXPECT_EQ(rows[0].n_probabilities, 3);
  EXPECT_FLOAT_EQ(rows[0].probabilities[2], 0.7f);
  EXPECT_FALSE(rows[0].has_value);
}

TEST(ExtractPredictions, ArgmaxWhenThereIsNoLabelAndValueForOneColumn) {
  auto cls = ExtractPredictions({Fp32("scores", {1, 4}, {0.1f, 0.5f, 0.3f, 0.1f})}, 64);
  ASSERT_EQ(cls.size(), 1u);
  EXPECT_EQ(cls[0].label, "1");
  auto reg = ExtractPredictions({Fp32("y", {3, 1}, {1.5f, 2.5f, 3.5f})}, 2);
  ASSERT_EQ(reg.size(), 2u);  // max_rows
  EXPECT_TRUE(reg[1].has_value);
  EXPECT_FALSE(reg[1].has_label);
  EXPECT_DOUBLE_EQ(reg[1].value, 2.5);
}

TEST(ExtractPredictions, BytesLabelsAreClassNames) {
  runtime::Tensor t;
  t.name = "label";
  t.datatype = domain::DataType::kBytes;
  t.shape = {2};
  for (std::string s : {"cat", "dog"}) {
    uint32_t n = s.size();
    t.data.append(reinterpret_cast<const char*>(&n), 4);
    t.data += s;
  }
  auto rows = ExtractPredictions({t}, 64);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].label, "dog");
}

// ---- Feedback join ------------------------------------------------------------------------------

class JoinTest : public ::testing::Test {
 protected:
  JoinTest() : clock_(10 * kHour) {}
  PredictionLog& Log(PredictionLog::Options o = {}) {
    log_ = std::make_unique<PredictionLog>(o, &clock_);
    return *log_;
  }
  void Predict(const VersionMetrics* series, const std::string& id, Prediction p) {
    log_->Stage({.request_id = id, .row = 0, .series = series, .ts_ms = clock_.NowMillis(),
                 .prediction = std::move(p)});
  }
  FeedbackResult Label(const std::string& id, const std::string& label) {
    log_->Drain();
    return log_->Apply({.request_id = id, .label = label});
  }

  FakeClock clock_;
  serving::MetricsRegistry metrics_;
  std::unique_ptr<PredictionLog> log_;
};

TEST_F(JoinTest, LateLabelsAreCreditedToTheVersionAndMinuteThatPredicted) {
  Log();
  auto v1 = metrics_.GetOrCreate("ep", "m", 1);
  auto v2 = metrics_.GetOrCreate("ep", "m", 2);
  int64_t t0 = clock_.NowMillis();
  Predict(v1.get(), "a", Class("1"));
  Predict(v1.get(), "b", Class("0"));
  clock_.Advance(3 * kHour);  // v2 serves now; labels arrive 3 hours late
  Predict(v2.get(), "c", Class("1"));
  EXPECT_EQ(Label("a", "1"), FeedbackResult::kMatched);
  EXPECT_EQ(Label("b", "1"), FeedbackResult::kMatched);
  AccuracySums v1_sums = log_->Window(v1.get(), t0);
  EXPECT_EQ(v1_sums.labelled(), 2u);
  EXPECT_EQ(v1_sums.correct(), 1u);
  EXPECT_EQ(log_->Window(v2.get(), t0).labelled(), 0u);
  // The last hour's window holds v1's predictions of 3 hours ago: not credited there.
  EXPECT_EQ(log_->Window(v1.get(), clock_.NowMillis() - kHour).labelled(), 0u);
}

TEST_F(JoinTest, OutOfOrderLabelsGiveTheSameSums) {
  Log();
  auto v1 = metrics_.GetOrCreate("ep", "m", 1);
  for (int i = 0; i < 20; ++i) {
    Predict(v1.get(), "r" + std::to_string(i), Class(std::to_string(i % 3)));
    clock_.Advance(7000);
  }
  for (int i = 19; i >= 0; --i) {
    ASSERT_EQ(Label("r" + std::to_string(i), std::to_string(i % 2)), FeedbackResult::kMatched);
  }
  AccuracySums s = log_->Window(v1.get(), 0);
  EXPECT_EQ(s.labelled(), 20u);
  int correct = 0;
  for (int i = 0; i < 20; ++i) correct += (i % 3) == (i % 2);
  EXPECT_EQ(s.correct(), static_cast<uint64_t>(correct));
}

TEST_F(JoinTest, DuplicateAndUnknownFeedbackIsCountedNotCredited) {
  Log();
  auto v1 = metrics_.GetOrCreate("ep", "m", 1);
  Predict(v1.get(), "a", Class("1"));
  EXPECT_EQ(Label("a", "1"), FeedbackResult::kMatched);
  EXPECT_EQ(Label("a", "0"), FeedbackResult::kDuplicate);
  EXPECT_EQ(Label("nope", "1"), FeedbackResult::kUnknown);
  EXPECT_EQ(log_->Apply({.request_id = "a", .value = 1.0}), FeedbackResult::kNotApplicable);
  auto c = log_->counters();
  EXPECT_EQ(c.matched, 1u);
  EXPECT_EQ(c.duplicate, 1u);
  EXPECT_EQ(c.unknown, 1u);
  EXPECT_EQ(c.not_applicable, 1u);
  AccuracySums s = log_->Window(v1.get(), 0);
  EXPECT_EQ(s.labelled(), 1u);
  EXPECT_EQ(s.correct(), 1u);
}

TEST_F(JoinTest, PredictionsExpireAfterTheTtlAndAreCountedUnlabelled) {
  Log({.ttl_ms = kHour});
  auto v1 = metrics_.GetOrCreate("ep", "m", 1);
  Predict(v1.get(), "old", Class("1"));
  Predict(v1.get(), "labelled", Class("1"));
  EXPECT_EQ(Label("labelled", "1"), FeedbackResult::kMatched);
  clock_.Advance(61 * 60'000);
  Predict(v1.get(), "new", Class("1"));
  log_->Drain();
  EXPECT_EQ(Label("old", "1"), FeedbackResult::kUnknown);
  EXPECT_EQ(Label("new", "1"), FeedbackResult::kMatched);
  auto c = log_->counters();
  EXPECT_EQ(c.evicted_unlabelled, 1u);
  EXPECT_EQ(c.stored, 1u);
}

TEST_F(JoinTest, StoreNeverHoldsMoreThanItsCapacity) {
  Log({.capacity = 1000});
  auto v1 = metrics_.GetOrCreate("ep", "m", 1);
  for (int i = 0; i < 50'000; ++i) {
    Predict(v1.get(), "r" + std::to_string(i), Class("1"));
    if (i % 4000 == 0) log_->Drain();
  }
  log_->Drain();
  auto c = log_->counters();
  EXPECT_EQ(c.stored, 1000u);
  EXPECT_EQ(c.recorded, 50'000u);
  EXPECT_EQ(c.evicted_unlabelled, 49'000u);
  // The newest are the ones kept.
  EXPECT_EQ(Label("r49999", "1"), FeedbackResult::kMatched);
  EXPECT_EQ(Label("r0", "1"), FeedbackResult::kUnknown);
}

TEST_F(JoinTest, FullStagingDropsAndCountsInsteadOfGrowing) {
  Log({.staging_per_stripe = 10});
  auto v1 = metrics_.GetOrCreate("ep", "m", 1);
  for (int i = 0; i < 25; ++i) Predict(v1.get(), "r" + std::to_string(i), Class("1"));
  log_->Drain();
  auto c = log_->counters();
  EXPECT_EQ(c.recorded, 10u);
  EXPECT_EQ(c.staging_dropped, 15u);
}

TEST_F(JoinTest, BatchRowsAreJoinedByRowIndex) {
  Log();
  auto v1 = metrics_.GetOrCreate("ep", "m", 1);
  log_->Stage({.request_id = "batch", .row = 0, .series = v1.get(), .ts_ms = clock_.NowMillis(),
               .prediction = Value(1.0)});
  log_->Stage({.request_id = "batch", .row = 1, .series = v1.get(), .ts_ms = clock_.NowMillis(),
               .prediction = Value(5.0)});
  log_->Drain();
  EXPECT_EQ(log_->Apply({.request_id = "batch", .row = 1, .value = 4.0}), FeedbackResult::kMatched);
  EXPECT_EQ(log_->Apply({.request_id = "batch", .row = 0, .value = 1.0}), FeedbackResult::kMatched);
  EXPECT_EQ(log_->Apply({.request_id = "batch", .row = 2, .value = 1.0}), FeedbackResult::kUnknown);
  EXPECT_DOUBLE_EQ(*log_->Window(v1.get(), 0).Mae(), 0.5);
}

TEST_F(JoinTest, HourWindowIsTheExactSumOfItsMinutes) {
  Log();
  auto v1 = metrics_.GetOrCreate("ep", "m", 1);
  int64_t start = clock_.NowMillis();
  for (int m = 0; m < 90; ++m) {
    Predict(v1.get(), "r" + std::to_string(m), Value(m));
    log_->Drain();
    ASSERT_EQ(log_->Apply({.request_id = "r" + std::to_string(m), .value = m + 1.0}),
              FeedbackResult::kMatched);
    clock_.Advance(60'000);
  }
  EXPECT_EQ(log_->Window(v1.get(), start).n_values(), 90u);
  // Predictions of the last 60 minutes (the minute containing now - 1 h included).
  EXPECT_EQ(log_->Window(v1.get(), clock_.NowMillis() - kHour).n_values(), 60u);
}

// ---- Alert rules --------------------------------------------------------------------------------

TEST(AlertRules, BadRulesAreRefusedWithTheFieldNamed) {
  using nlohmann::json;
  struct Case {
    json body;
    std::string expect;
  } cases[] = {
      {json::object(), "expected"},
      {json{{"rules", json::array({{{"metric", "nope"}, {"threshold", 1}}})}}, "rules[0].metric"},
      {json{{"rules", json::array({{{"metric", "p99_ms"}}})}}, "rules[0].threshold"},
      {json{{"rules", json::array({{{"metric", "p99_ms"}, {"threshold", 1}, {"op", ">="}}})}},
       "rules[0].op"},
      {json{{"rules", json::array({{{"metric", "p99_ms"}, {"threshold", 1}, {"window", "2m"}}})}},
       "rules[0].window"},
      {json{{"rules", json::array({{{"metric", "p99_ms"}, {"threshold", 1}, {"min_samples", 0}}})}},
       "rules[0].min_samples"},
      {json{{"rules", json::array({{{"metric", "p99_ms"}, {"threshold", 1}, {"extra", 1}}})}},
       "unknown field 'extra'"},
      {json{{"rules", json::array({{{"metric", "p99_ms"}, {"threshold", 1}},
                                   {{"metric", "p99_ms"}, {"threshold", 2}}})}},
       "used twice"},
      {json{{"rules", json::array({{{"metric", "drifted_share"}, {"threshold", 0.5}, {"window", "24h"}}})}},
       "feature windows are kept for 1h"},
  };
  for (const auto& c : cases) {
    auto r = AlertRulesFromJson(c.body);
    ASSERT_FALSE(r.ok()) << c.body.dump();
    EXPECT_NE(std::string(r.status().message()).find(c.expect), std::string::npos)
        << r.status().message();
  }
  auto ok = AlertRulesFromJson(json{{"rules", json::array({{{"metric", "accuracy"}, {"threshold", 0.9}}})}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)[0].op, "<");  // accuracy alerts when it drops
  auto drift = AlertRulesFromJson(json{{"rules", json::array({{{"metric", "max_psi"}, {"threshold", 0.2}}})}});
  ASSERT_TRUE(drift.ok()) << drift.status();
  EXPECT_EQ((*drift)[0].op, ">");  // drift alerts when it grows
}

TEST(AlertRules, FireOnceWithEnoughSamplesAndResolveWhenTheConditionGoes) {
  FakeClock clock(1'000'000'000);
  serving::MetricsRegistry metrics;
  Monitor::Options o;
  o.start_thread = false;
  Monitor monitor(o, &metrics, &clock);
  ASSERT_TRUE(monitor.Start().ok());
  auto series = metrics.GetOrCreate("ep", "m", 1);
  ASSERT_TRUE(monitor
                  .SetAlertRules("ep", {AlertRule{.name = "errors", .metric = "error_rate",
                                                  .op = ">", .threshold = 0.05, .window = "1m",
                                                  .min_samples = 50}})
                  .ok());
  monitor.TickNow();
  for (int i = 0; i < 20; ++i) series->RecordFailure(0.001);  // 100% errors but only 20 samples
  clock.Advance(5000);
  monitor.TickNow();
  EXPECT_TRUE(monitor.FiringAlerts(series.get()).empty());
  for (int i = 0; i < 40; ++i) series->RecordFailure(0.001);
  clock.Advance(5000);
  monitor.TickNow();
  EXPECT_EQ(monitor.FiringAlerts(series.get()), std::vector<std::string>{"errors"});
  monitor.TickNow();  // still firing: no second event
  // Two minutes of clean traffic.
  for (int t = 0; t < 24; ++t) {
    for (int i = 0; i < 10; ++i) series->RecordSuccess(0, 0, 0.001, 0.001);
    clock.Advance(5000);
    monitor.TickNow();
  }
  EXPECT_TRUE(monitor.FiringAlerts(series.get()).empty());
  auto events = monitor.AlertEvents("ep");
  ASSERT_EQ(events.size(), 2u) << events.dump();
  EXPECT_EQ(events[0]["state"], "firing");
  EXPECT_EQ(events[0]["samples"], 60);
  EXPECT_EQ(events[1]["state"], "resolved");
}

}  // namespace
}  // namespace hotswap::monitoring
