// Rollout specs, the step analysis and the router, as pure functions.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <random>

#include "serving/rollout.h"
#include "serving/router.h"
#include "serving/shadow.h"

namespace hotswap::serving {
namespace {

using domain::Json;

// A window of `n` requests, `failures` of them failed, all with latency `ms`.
WindowStats Window(uint64_t n, uint64_t failures, double ms) {
  WindowStats w;
  w.requests = n;
  w.failures = failures;
  int b = 0;
  while (b < kLatencyBuckets && LatencyBucketBound(b) * 1000 < ms) ++b;
  w.buckets[b] = n;
  return w;
}

TEST(RolloutSpecTest, CanaryDefaultsAndExplicitSteps) {
  auto spec = ParseRolloutSpec("canary", Json{{"model", "m"}});
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->steps.size(), 3u);
  EXPECT_EQ(spec->steps[0].weight_bp, 500);
  EXPECT_EQ(spec->steps[0].duration_ms, 60'000);
  EXPECT_EQ(spec->steps[2].weight_bp, 5000);
  EXPECT_EQ(spec->deadline_ms, 300'000 + 600'000);
  spec = ParseRolloutSpec("canary", Json::parse(R"({"steps": [{"weight": 2.5, "duration_s": 30},
      {"weight": 40, "gate": "manual"}], "analysis": {"min_requests": 7,
      "on_insufficient_data": "promote"}, "deadline_s": 4000})"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->steps[0].weight_bp, 250);
  EXPECT_EQ(spec->steps[1].duration_ms, 60'000);
  EXPECT_TRUE(spec->steps[1].manual_gate);
  EXPECT_EQ(spec->analysis.min_requests, 7);
  EXPECT_EQ(spec->analysis.on_insufficient_data, "promote");
  EXPECT_EQ(spec->deadline_ms, 4'000'000);
}

TEST(RolloutSpecTest, RollingAndBlueGreenBecomeWeightSchedules) {
  auto rolling = ParseRolloutSpec("rolling", Json{{"batches", 3}, {"pause_s", 5}});
  ASSERT_TRUE(rolling.ok());
  ASSERT_EQ(rolling->steps.size(), 3u);
  EXPECT_EQ(rolling->steps[0].weight_bp, 3333);
  EXPECT_EQ(rolling->steps[2].weight_bp, 10000);
  EXPECT_EQ(rolling->steps[1].duration_ms, 5000);
  auto bg = ParseRolloutSpec("blue-green", Json{{"preview_s", 20}, {"rollback_window_s", 90}});
  ASSERT_TRUE(bg.ok());
  ASSERT_EQ(bg->steps.size(), 2u);
  EXPECT_EQ(bg->steps[0].weight_bp, 0);
  EXPECT_EQ(bg->steps[0].duration_ms, 20'000);
  EXPECT_EQ(bg->steps[1].weight_bp, 10000);
  auto instant = ParseRolloutSpec("blue-green", Json::object());
  ASSERT_TRUE(instant.ok());
  EXPECT_EQ(instant->steps.size(), 1u);
}

TEST(RolloutSpecTest, ShadowOptionsAndRoundTrip) {
  auto spec = ParseRolloutSpec("shadow", Json::parse(R"({"duration_s": 120, "mirror_percent": 25,
      "auto_promote": true, "min_agreement": 0.95, "max_mean_abs_diff": 0.1})"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->steps.size(), 1u);
  EXPECT_EQ(spec->steps[0].weight_bp, 0);
  EXPECT_EQ(spec->steps[0].duration_ms, 120'000);
  EXPECT_EQ(spec->shadow.mirror_bp, 2500);
  EXPECT_TRUE(spec->shadow.auto_promote);
  EXPECT_EQ(spec->shadow.max_mean_rel_diff, -1);
  auto back = RolloutSpecFromJson(ToJson(*spec));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ToJson(*back), ToJson(*spec));
  auto defaults = ParseRolloutSpec("shadow", Json::object());
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->shadow.mirror_bp, 10000);
  EXPECT_FALSE(defaults->shadow.auto_promote);
  EXPECT_FALSE(ParseRolloutSpec("shadow", Json{{"steps", Json::array()}}).ok());
}

TEST(RolloutSpecTest, BadOptionsNameTheField) {
  struct Case {
    std::string strategy;
    const char* json;
    const char* field;
  } cases[] = {
      {"canary", R"({"steps": "5:60s"})", "steps"},
      {"canary", R"({"steps": [{"duration_s": 5}]})", "steps[0].weight"},
      {"canary", R"({"steps": [{"weight": -1}]})", "steps[0].weight"},
      {"canary", R"({"steps": [{"weight": 5, "gate": "sometimes"}]})", "steps[0].gate"},
      {"canary", R"({"steps": [{"weight": 5, "speed": 1}]})", "steps[0].speed"},
      {"canary", R"({"analysis": {"max_error_rate": 2}})", "analysis.max_error_rate"},
      {"canary", R"({"analysis": {"min_requests": 0}})", "analysis.min_requests"},
      {"canary", R"({"analysis": {"on_insufficient_data": "panic"}})", "analysis.on_insufficient_data"},
      {"canary", R"({"analysis": []})", "analysis"},
      {"canary", R"({"deadline_s": 10})", "deadline_s"},
      {"rolling", R"({"batches": 0})", "batches"},
      {"rolling", R"({"steps": []})", "steps"},
      {"blue-green", R"({"preview_s": "soon"})", "preview_s"},
      {"ab-test", R"({"metric": "clicks"})", "metric"},
      {"sideways", R"({})", "strategy"},
  };
  for (const Case& c : cases) {
    auto spec = ParseRolloutSpec(c.strategy, Json::parse(c.json));
    ASSERT_FALSE(spec.ok()) << c.json;
    EXPECT_TRUE(absl::IsInvalidArgument(spec.status()));
    EXPECT_EQ(spec.status().message().find(c.field), 0u) << spec.status() << " for " << c.json;
  }
}

TEST(RolloutSpecTest, JsonRoundTrip) {
  auto spec = ParseRolloutSpec("canary", Json::parse(R"({"steps": [{"weight": 5, "duration_s": 30},
      {"weight": 50, "duration_s": 60, "gate": "manual"}], "analysis": {"max_p99_ms": 20}})"));
  ASSERT_TRUE(spec.ok());
  auto back = RolloutSpecFromJson(ToJson(*spec));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ToJson(*back), ToJson(*spec));
  EXPECT_EQ(back->steps[1].manual_gate, true);
  EXPECT_EQ(back->analysis.max_p99_ms, 20);
}

TEST(RolloutSpecTest, StepListShorthand) {
  auto steps = ParseStepList("5:60s, 25:2m,50:0.5h,100:30");
  ASSERT_TRUE(steps.ok()) << steps.status();
  ASSERT_EQ(steps->size(), 4u);
  EXPECT_EQ((*steps)[1].weight_bp, 2500);
  EXPECT_EQ((*steps)[1].duration_ms, 120'000);
  EXPECT_EQ((*steps)[2].duration_ms, 1'800'000);
  EXPECT_EQ((*steps)[3].duration_ms, 30'000);
  for (const char* bad : {"", "5", "5:", "x:60s", "500:60s", "5:-1s", "5:60d"}) {
    EXPECT_FALSE(ParseStepList(bad).ok()) << bad;
  }
}

TEST(WindowStatsTest, QuantilesComeFromTheBucketHoldingTheRankWithin9Percent) {
  WindowStats w = Window(100, 0, 1.0);
  double p50 = w.QuantileMs(0.5);
  EXPECT_NEAR(p50, 1.0, 0.0865);
  EXPECT_EQ(WindowStats{}.QuantileMs(0.99), 0);
  WindowStats mixed;
  mixed.buckets[LatencyBucketFor(0.0001)] = 99;  // 0.1 ms
  mixed.buckets[LatencyBucketFor(0.025)] = 1;    // 25 ms
  mixed.requests = 100;
  EXPECT_NEAR(mixed.QuantileMs(0.5), 0.1, 0.00865);
  EXPECT_NEAR(mixed.QuantileMs(0.999), 25, 25 * 0.0865);
}

TEST(AnalyzeTest, TooFewCandidateRequestsIsInsufficientDataNotFailure) {
  AnalysisSpec spec;
  spec.min_requests = 50;
  Decision d = Analyze(spec, Window(49, 49, 100), Window(1000, 0, 1), std::nullopt);
  EXPECT_EQ(d.verdict, Verdict::kInsufficientData);
  EXPECT_NE(d.reason.find("49 of 50"), std::string::npos);
}

TEST(AnalyzeTest, PassesWhenTheCandidateMatchesTheStable) {
  AnalysisSpec spec;
  Decision d = Analyze(spec, Window(200, 1, 1), Window(2000, 10, 1), std::nullopt);
  EXPECT_EQ(d.verdict, Verdict::kPass) << d.reason;
  EXPECT_EQ(d.detail["stable_reference"], "same window");
  EXPECT_EQ(d.detail["candidate"]["requests"], 200);
}

TEST(AnalyzeTest, ErrorBudgetAndSignificantIncreaseFail) {
  AnalysisSpec spec;
  Decision over = Analyze(spec, Window(100, 15, 1), Window(1000, 0, 1), std::nullopt);
  EXPECT_EQ(over.verdict, Verdict::kFail);
  EXPECT_NE(over.reason.find("budget"), std::string::npos) << over.reason;
  // 4% vs 0.5%: under the 5% budget but a significant increase above the 1% tolerance.
  Decision inc = Analyze(spec, Window(500, 20, 1), Window(2000, 10, 1), std::nullopt);
  EXPECT_EQ(inc.verdict, Verdict::kFail) << inc.reason;
  EXPECT_LT(inc.detail["p_error_increase"].get<double>(), 1e-4);
}

TEST(AnalyzeTest, AnOverBudgetRateTheSampleCannotConfirmDoesNotFailYet) {
  AnalysisSpec spec;
  spec.min_requests = 20;
  // 2 of 20 (10%) is over the 5% budget, but P(>= 2 of 20 | 5%) = 0.26.
  // (No stable reference here, so only the budget applies.)
  Decision d = Analyze(spec, Window(20, 2, 1), Window(0, 0, 0), std::nullopt);
  EXPECT_NE(d.verdict, Verdict::kFail) << d.reason;
  // Interim looks are stricter than the step's end: P(>= 11 of 100 | 5%) ≈ 0.01 > 0.001.
  Decision end = Analyze(spec, Window(100, 12, 1), Window(0, 0, 0), std::nullopt, kFinalAlpha);
  Decision interim =
      Analyze(spec, Window(100, 12, 1), Window(0, 0, 0), std::nullopt, kInterimAlpha);
  EXPECT_EQ(end.verdict, Verdict::kFail) << end.reason;
  EXPECT_EQ(interim.verdict, Verdict::kPass) << interim.detail.dump();
}

TEST(AnalyzeTest, AnIncreaseTheSampleCannotDistinguishFromNoiseDoesNotFail) {
  AnalysisSpec spec;
  spec.min_requests = 20;
  // 2 failures in 50 (4%) vs 1 in 100 (1%): above the tolerance, but Fisher's p ≈ 0.26.
  Decision d = Analyze(spec, Window(50, 2, 1), Window(100, 1, 1), std::nullopt);
  EXPECT_EQ(d.verdict, Verdict::kPass) << d.reason;
  EXPECT_GT(d.detail["p_error_increase"].get<double>(), 0.1);
}

TEST(AnalyzeTest, LatencyRegressionFailsButJitterAndOutliersDoNot) {
  AnalysisSpec spec;
  Decision slow = Analyze(spec, Window(100, 0, 8), Window(1000, 0, 1), std::nullopt);
  EXPECT_EQ(slow.verdict, Verdict::kFail);
  EXPECT_NE(slow.reason.find("p99"), std::string::npos);
  // 1.6x but only 0.16 ms apart: under the 1 ms floor.
  Decision jitter = Analyze(spec, Window(100, 0, 0.4), Window(1000, 0, 0.25), std::nullopt);
  EXPECT_EQ(jitter.verdict, Verdict::kPass) << jitter.reason;
  // One slow request among 60 makes the small sample's p99 its maximum; not a regression.
  WindowStats outlier = Window(60, 0, 0.3);
  outlier.buckets[12] = 1;  // ~100 ms
  outlier.requests = 61;
  Decision one = Analyze(spec, outlier, Window(1000, 0, 0.3), std::nullopt);
  EXPECT_EQ(one.verdict, Verdict::kPass) << one.reason;
  // An absolute budget applies even without a stable reference.
  spec.max_p99_ms = 5;
  Decision budget = Analyze(spec, Window(100, 0, 8), Window(0, 0, 0), std::nullopt);
  EXPECT_EQ(budget.verdict, Verdict::kFail);
  EXPECT_EQ(budget.detail["stable_reference"], "none");
}

TEST(AnalyzeTest, ASlowOutlierPlusRequestsSlightlyAboveAFastStableP99IsNotARegression) {
  // What a CI run once saw with identical variants (sub-0.1 ms requests on a busy machine): the
  // stable p99 is 0.065 ms; 4 of 26 candidate requests are a little above it (0.08 ms) and one
  // took 1.2 ms, so the candidate p99 (its maximum) is 1.2 ms, > 1.5x and > 1 ms above. The
  // requests that are over the latency threshold (1.5x and 1 ms above the stable p99) are 1 in
  // 26: no evidence that more than 1% are; the 0.08 ms ones are under the 1 ms floor.
  AnalysisSpec spec;
  spec.min_requests = 15;
  WindowStats stable = Window(53, 0, 0.03);
  stable.buckets[LatencyBucketFor(0.00006)] += 1;
  stable.requests = 54;
  WindowStats candidate = Window(21, 0, 0.03);
  candidate.buckets[LatencyBucketFor(0.00008)] += 4;
  candidate.buckets[LatencyBucketFor(0.0012)] += 1;
  candidate.requests = 26;
  Decision d = Analyze(spec, candidate, stable, std::nullopt);
  EXPECT_EQ(d.verdict, Verdict::kPass) << d.reason << " " << d.detail.dump();
  EXPECT_GT(d.detail["p_latency"].get<double>(), 0.1) << d.detail.dump();
  // A real regression of part of the traffic: 30% of the candidate's requests take 2 ms.
  WindowStats partly_slow = Window(70, 0, 0.03);
  partly_slow.buckets[LatencyBucketFor(0.002)] += 30;
  partly_slow.requests = 100;
  Decision slow = Analyze(spec, partly_slow, stable, std::nullopt);
  EXPECT_EQ(slow.verdict, Verdict::kFail) << slow.detail.dump();
  EXPECT_NEAR(slow.detail["share_over_latency_threshold"].get<double>(), 0.3, 1e-9);
}

TEST(AnalyzeTest, TheLastStableWindowStandsInWhenTheStableGetsNoTraffic) {
  AnalysisSpec spec;
  WindowStats reference = Window(500, 0, 1);
  Decision d = Analyze(spec, Window(300, 0, 8), Window(0, 0, 0), reference);
  EXPECT_EQ(d.verdict, Verdict::kFail);
  EXPECT_EQ(d.detail["stable_reference"], "last stable window with enough data");
}

TEST(AnalyzeTest, IdenticalVariantsRarelyFailUnderRandomNoise) {
  // 2,000 simulated steps where both variants draw from the same error rate and latency
  // distribution: false failures stay well under 1%.
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(std::log(0.5), 0.4);
  std::bernoulli_distribution error(0.005);
  AnalysisSpec spec;
  spec.min_requests = 50;
  int failures = 0;
  for (int run = 0; run < 2000; ++run) {
    auto draw = [&](int n) {
      WindowStats w;
      for (int i = 0; i < n; ++i) {
        w.requests++;
        if (error(rng)) w.failures++;
        double ms = latency(rng);
        int b = 0;
        while (b < kLatencyBuckets && LatencyBucketBound(b) * 1000 < ms) ++b;
        w.buckets[b]++;
      }
      return w;
    };
    if (Analyze(spec, draw(60), draw(600), std::nullopt).verdict == Verdict::kFail) ++failures;
  }
  std::cout << "false failures of identical variants: " << failures << " in 2000 steps\n";
  EXPECT_LT(failures, 20) << failures << " false failures in 2000";
}

TEST(RouterTest, BucketsAreStableAndSpreadEvenly) {
  EXPECT_EQ(RoutingBucket("user-1"), RoutingBucket("user-1"));
  int below = 0;
  for (int i = 0; i < 20000; ++i) below += RoutingBucket("k" + std::to_string(i)) < 1000;
  EXPECT_NEAR(below / 20000.0, 0.10, 0.01);
}

TEST(RouterTest, ChoosesByPathVersionThenPinThenKey) {
  auto stable = std::make_shared<ServedVersion>();
  stable->version_text = "1";
  auto cand = std::make_shared<ServedVersion>();
  cand->version_text = "2";
  Endpoint ep;
  ep.primary = stable;
  EXPECT_EQ(ChooseVariant(ep, "", nullptr, nullptr, "id"), stable.get());
  ep.candidate = cand;
  ep.candidate_weight_bp = 0;
  std::string pin_c = "candidate", pin_s = "stable";
  EXPECT_EQ(ChooseVariant(ep, "", nullptr, nullptr, "id"), stable.get());
  EXPECT_EQ(ChooseVariant(ep, "", &pin_c, nullptr, "id"), cand.get());
  EXPECT_EQ(ChooseVariant(ep, "2", &pin_s, nullptr, "id"), cand.get());
  ep.candidate_weight_bp = 10000;
  EXPECT_EQ(ChooseVariant(ep, "", nullptr, nullptr, ""), cand.get());
  EXPECT_EQ(ChooseVariant(ep, "", &pin_s, nullptr, ""), stable.get());
  EXPECT_EQ(ChooseVariant(ep, "1", nullptr, nullptr, ""), stable.get());
  ep.candidate_weight_bp = 5000;
  std::string key = "user-42";
  const ServedVersion* first = ChooseVariant(ep, "", nullptr, &key, "ignored");
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(ChooseVariant(ep, "", nullptr, &key, std::to_string(i)), first);
  }
  int to_candidate = 0;
  for (int i = 0; i < 4000; ++i) {
    to_candidate += ChooseVariant(ep, "", nullptr, nullptr, "") == cand.get();  // random draw
  }
  EXPECT_NEAR(to_candidate / 4000.0, 0.5, 0.05);
}

runtime::Tensor Fp32(std::string name, std::vector<int64_t> shape, std::vector<float> v) {
  runtime::Tensor t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.data.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  return t;
}

runtime::Tensor Int64(std::string name, std::vector<int64_t> v) {
  runtime::Tensor t;
  t.name = std::move(name);
  t.datatype = domain::DataType::kInt64;
  t.shape = {static_cast<int64_t>(v.size())};
  t.data.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t));
  return t;
}

TEST(ShadowCompareTest, ClassificationAgreementFromProbabilitiesAndLabels) {
  ShadowStats stats;
  // Row 0: both pick class 1; row 1: 2 vs 0.
  CompareOutputs({Fp32("p", {2, 3}, {0.1f, 0.8f, 0.1f, 0.2f, 0.3f, 0.5f})},
                 {Fp32("p", {2, 3}, {0.2f, 0.7f, 0.1f, 0.6f, 0.3f, 0.1f})}, &stats);
  CompareOutputs({Int64("label", {1, 2, 3})}, {Int64("label", {1, 2, 0})}, &stats);
  Json j = stats.ToJson();
  EXPECT_EQ(j["classification_rows"], 5);
  EXPECT_DOUBLE_EQ(j["agreement"].get<double>(), 3.0 / 5.0);
  EXPECT_EQ(j["regression_values"], 6);  // the scores are compared as values too
  EXPECT_NEAR(j["mean_abs_diff"].get<double>(), (0.1 + 0.1 + 0 + 0.4 + 0 + 0.4) / 6, 1e-6);
}

TEST(ShadowCompareTest, RegressionDifferencesAndMissingOutputs) {
  ShadowStats stats;
  CompareOutputs({Fp32("y", {1, 4}, {1, 2, 4, 8})}, {Fp32("y", {1, 4}, {2, 3, 5, 9})}, &stats);
  Json j = stats.ToJson();
  EXPECT_EQ(j["regression_values"], 4);
  EXPECT_NEAR(j["mean_abs_diff"].get<double>(), 1.0, 1e-6);
  EXPECT_NEAR(j["mean_rel_diff"].get<double>(), (1 + 0.5 + 0.25 + 0.125) / 4, 1e-6);
  ShadowStats missing;
  CompareOutputs({Fp32("y", {1, 2}, {1, 2})}, {Fp32("other", {1, 2}, {1, 2})}, &missing);
  EXPECT_NEAR(missing.ToJson()["mean_rel_diff"].get<double>(), 1.0, 1e-9);
}

TEST(ShadowMirrorTest, AFullQueueDropsAndCountsInsteadOfWaiting) {
  ShadowMirror mirror(0);  // no room at all
  auto ep = std::make_shared<Endpoint>();
  ep->shadow_stats = std::make_shared<ShadowStats>();
  EXPECT_FALSE(mirror.TryEnqueue({ep, {}, {}, {}}));
  EXPECT_FALSE(mirror.TryEnqueue({ep, {}, {}, {}}));
  EXPECT_EQ(ep->shadow_stats->dropped.load(), 2u);
  EXPECT_EQ(ep->shadow_stats->mirrored.load(), 0u);
  ShadowMirror roomy(4);
  EXPECT_TRUE(roomy.TryEnqueue({ep, {}, {}, {}}));  // no candidate: the worker skips it
  roomy.Drain();
  EXPECT_EQ(ep->shadow_stats->mirrored.load(), 1u);
  EXPECT_TRUE(SampleMirror(10000));
  EXPECT_FALSE(SampleMirror(0));
}

// ---- Quality signals ----------------------------------------------------------------------------

QualityStats Classification(uint64_t labelled, uint64_t correct) {
  QualityStats q;
  q.labelled = labelled;
  q.correct = correct;
  return q;
}

TEST(AnalyzeQualityTest, LessAccurateCandidateFailsOnlyOnceBothSidesHaveEnoughLabels) {
  AnalysisSpec spec;
  spec.min_labels = 50;
  WindowStats w = Window(500, 0, 1.0);
  QualityStats stable = Classification(400, 360);  // 90%
  QualityStats few = Classification(40, 20);       // 50%, but only 40 labels
  Decision d = Analyze(spec, w, w, std::nullopt, kFinalAlpha, &few, &stable);
  EXPECT_EQ(d.verdict, Verdict::kPass) << d.reason;
  EXPECT_EQ(d.detail["quality"]["accuracy"]["judged"], false);
  QualityStats worse = Classification(200, 140);   // 70%
  d = Analyze(spec, w, w, std::nullopt, kFinalAlpha, &worse, &stable);
  EXPECT_EQ(d.verdict, Verdict::kFail);
  EXPECT_NE(d.reason.find("candidate accuracy 0.7 vs stable 0.9"), std::string::npos) << d.reason;
  // Within the tolerance (1 point worse): no failure however many labels.
  QualityStats close = Classification(4000, 3560);  // 89%
  QualityStats stable_big = Classification(4000, 3600);
  d = Analyze(spec, w, w, std::nullopt, kFinalAlpha, &close, &stable_big);
  EXPECT_EQ(d.verdict, Verdict::kPass) << d.reason;
}

TEST(AnalyzeQualityTest, MaeIncreaseBeyondTheToleranceFails) {
  AnalysisSpec spec;
  WindowStats w = Window(500, 0, 1.0);
  auto regression = [](uint64_t n, double mae, double sd) {
    QualityStats q;
    q.n_values = n;
    q.abs_err_sum = mae * n;
    q.sq_err_sum = (sd * sd + mae * mae) * n;  // E|e|^2 = var + mean^2
    return q;
  };
  QualityStats stable = regression(300, 1.0, 0.5), same = regression(300, 1.02, 0.5);
  QualityStats worse = regression(300, 1.5, 0.5);
  EXPECT_EQ(Analyze(spec, w, w, std::nullopt, kFinalAlpha, &same, &stable).verdict, Verdict::kPass);
  Decision d = Analyze(spec, w, w, std::nullopt, kFinalAlpha, &worse, &stable);
  EXPECT_EQ(d.verdict, Verdict::kFail);
  EXPECT_NE(d.reason.find("candidate MAE 1.5"), std::string::npos) << d.reason;
  EXPECT_LT(d.detail["quality"]["mae"]["p_increase"].get<double>(), 1e-6);
}

TEST(AnalyzeQualityTest, ADifferentPredictedClassMixFailsAndTheSameMixPasses) {
  AnalysisSpec spec;
  WindowStats w = Window(1000, 0, 1.0);
  QualityStats stable, same, shifted;
  stable.predicted_classes = {{"0", 500}, {"1", 300}, {"2", 200}};
  same.predicted_classes = {{"0", 510}, {"1", 290}, {"2", 200}};
  shifted.predicted_classes = {{"0", 200}, {"1", 300}, {"2", 450}, {"3", 50}};
  EXPECT_EQ(Analyze(spec, w, w, std::nullopt, kFinalAlpha, &same, &stable).verdict, Verdict::kPass);
  Decision d = Analyze(spec, w, w, std::nullopt, kFinalAlpha, &shifted, &stable);
  EXPECT_EQ(d.verdict, Verdict::kFail);
  EXPECT_NE(d.reason.find("predicts classes differently"), std::string::npos) << d.reason;
  EXPECT_GT(d.detail["quality"]["prediction_classes"]["psi"].get<double>(), 0.2);
}

TEST(AnalyzeQualityTest, PredictedValuesShiftedByMoreThanTheToleranceFail) {
  AnalysisSpec spec;
  WindowStats w = Window(2000, 0, 1.0);
  auto values = [](uint64_t n, double mean, double sd) {
    QualityStats q;
    q.n_predicted_values = n;
    q.predicted_sum = mean * n;
    q.predicted_sq_sum = (sd * sd + mean * mean) * n;
    return q;
  };
  QualityStats stable = values(2000, 10, 2);
  // Significant at this n but a tiny shift (0.05 SD): not a regression.
  QualityStats tiny = values(2000, 10.1, 2);
  EXPECT_EQ(Analyze(spec, w, w, std::nullopt, kFinalAlpha, &tiny, &stable).verdict, Verdict::kPass);
  QualityStats moved = values(2000, 11.5, 2);  // 0.75 SD
  Decision d = Analyze(spec, w, w, std::nullopt, kFinalAlpha, &moved, &stable);
  EXPECT_EQ(d.verdict, Verdict::kFail);
  EXPECT_NE(d.reason.find("predictions shifted"), std::string::npos) << d.reason;
}

TEST(AnalyzeQualityTest, TheVersionsBaselineSetsAbsoluteBudgets) {
  domain::PerformanceBaseline b;
  b.latency_p99_ms = 20;
  b.quality = domain::QualityMetric{.name = "accuracy", .value = 0.9, .tolerated_drop = 0.05};
  AnalysisSpec spec;
  ApplyBaseline(b, &spec);
  EXPECT_EQ(spec.max_p99_ms, 20);
  EXPECT_NEAR(spec.min_accuracy, 0.85, 1e-12);
  AnalysisSpec explicit_spec;
  explicit_spec.max_p99_ms = 5;  // a budget given in the request wins
  ApplyBaseline(b, &explicit_spec);
  EXPECT_EQ(explicit_spec.max_p99_ms, 5);
  // Both variants equally bad (no relative failure), but below the absolute budget.
  WindowStats w = Window(500, 0, 1.0);
  QualityStats cand = Classification(400, 300), stable = Classification(400, 300);  // 75%
  Decision d = Analyze(spec, w, w, std::nullopt, kFinalAlpha, &cand, &stable);
  EXPECT_EQ(d.verdict, Verdict::kFail);
  EXPECT_NE(d.reason.find("candidate accuracy 0.75 < budget 0.85"), std::string::npos) << d.reason;
  domain::PerformanceBaseline mae;
  mae.quality = domain::QualityMetric{.name = "mae", .value = 1.0, .tolerated_drop = 0.5,
                                      .higher_is_better = false};
  AnalysisSpec reg;
  ApplyBaseline(mae, &reg);
  EXPECT_EQ(reg.max_mae, 1.5);
}

TEST(AnalyzeQualityTest, AnAlertFiringOnlyOnTheCandidateFailsTheStep) {
  AnalysisSpec spec;
  WindowStats w = Window(500, 0, 1.0);
  QualityStats cand, stable;
  cand.firing_alerts = {"slow"};
  stable.firing_alerts = {"slow"};
  EXPECT_EQ(Analyze(spec, w, w, std::nullopt, kFinalAlpha, &cand, &stable).verdict, Verdict::kPass);
  cand.firing_alerts = {"slow", "accuracy-drop"};
  Decision d = Analyze(spec, w, w, std::nullopt, kFinalAlpha, &cand, &stable);
  EXPECT_EQ(d.verdict, Verdict::kFail);
  EXPECT_NE(d.reason.find("alert 'accuracy-drop'"), std::string::npos) << d.reason;
}

TEST(AnalyzeQualityTest, RequireFeedbackTurnsMissingLabelsIntoInsufficientData) {
  AnalysisSpec spec;
  WindowStats w = Window(500, 0, 1.0);
  QualityStats none;
  EXPECT_EQ(Analyze(spec, w, w, std::nullopt, kFinalAlpha, &none, &none).verdict, Verdict::kPass);
  spec.require_feedback = true;
  Decision d = Analyze(spec, w, w, std::nullopt, kFinalAlpha, &none, &none);
  EXPECT_EQ(d.verdict, Verdict::kInsufficientData);
  EXPECT_NE(d.reason.find("feedback"), std::string::npos) << d.reason;
}

// ---- A/B tests ----------------------------------------------------------------------------------

// Simulates one A/B experiment on Bernoulli outcomes with looks every `step` samples per arm up
// to `max_n`; returns "candidate_wins", "stable_wins" or "continue" (no winner by max_n).
std::string SimulateAb(std::mt19937_64& rng, double p_candidate, double p_stable, int max_n,
                       int step, const AbTestSpec& spec) {
  std::bernoulli_distribution c(p_candidate), s(p_stable);
  QualityStats qc, qs;
  AbState state;
  for (int n = step; n <= max_n; n += step) {
    for (int i = 0; i < step; ++i) {
      double vc = c(rng), vs = s(rng);
      auto& oc = qc.outcomes["converted"];
      auto& os = qs.outcomes["converted"];
      ++oc.n; oc.sum += vc; oc.sum_sq += vc * vc;
      ++os.n; os.sum += vs; os.sum_sq += vs * vs;
    }
    AbLook look = LookAtAbTest(spec, n, n, qc, qs, &state);
    if (look.outcome != "continue") return look.outcome;
  }
  return "continue";
}

TEST(AbTestTest, AaRunsLookedAtContinuouslyDeclareAFalseWinnerAtMostAlphaOfTheTime) {
  AbTestSpec spec;
  spec.metric = "outcome:converted";
  spec.alpha = 0.05;
  spec.min_samples = 100;
  std::mt19937_64 rng(2026);
  const int kRuns = 2000;
  int false_winners = 0;
  for (int r = 0; r < kRuns; ++r) {
    // 100 looks per experiment, up to 5,000 samples per arm.
    if (SimulateAb(rng, 0.3, 0.3, 5000, 50, spec) != "continue") ++false_winners;
  }
  double rate = static_cast<double>(false_winners) / kRuns;
  std::cout << "A/A false-winner rate with 100 looks: " << rate << " (alpha 0.05)\n";
  EXPECT_LE(rate, spec.alpha);
  // Contrast: a fixed-horizon z-test peeked at the same 100 times fires far more often.
  std::mt19937_64 rng2(2026);
  int naive = 0;
  for (int r = 0; r < 500; ++r) {
    std::bernoulli_distribution a(0.3), b(0.3);
    double sa = 0, sb = 0;
    for (int n = 1; n <= 5000; ++n) {
      sa += a(rng2);
      sb += b(rng2);
      if (n % 50 == 0 && n >= 100) {
        double pa = sa / n, pb = sb / n, pp = (sa + sb) / (2.0 * n);
        double se = std::sqrt(2 * pp * (1 - pp) / n);
        if (se > 0 && std::fabs(pa - pb) / se > 1.96) {
          ++naive;
          break;
        }
      }
    }
  }
  std::cout << "the same with a naive z-test: " << naive / 500.0 << "\n";
  EXPECT_GT(naive / 500.0, 2 * spec.alpha);
}

TEST(AbTestTest, ATrulyBetterVariantIsDeclaredTheWinner) {
  AbTestSpec spec;
  spec.metric = "outcome:converted";
  spec.min_samples = 100;
  std::mt19937_64 rng(7);
  int wins = 0, wrong = 0;
  const int kRuns = 300;
  for (int r = 0; r < kRuns; ++r) {
    std::string o = SimulateAb(rng, 0.36, 0.30, 5000, 50, spec);
    wins += o == "candidate_wins";
    wrong += o == "stable_wins";
  }
  std::cout << "power at +6 points with 5,000 per arm: " << static_cast<double>(wins) / kRuns << "\n";
  EXPECT_GE(wins, kRuns * 8 / 10);
  EXPECT_EQ(wrong, 0);
}

TEST(AbTestTest, NoWinnerBeforeTheMinimumSampleHoweverLargeTheEffect) {
  AbTestSpec spec;
  spec.metric = "accuracy";
  spec.min_samples = 200;
  AbState state;
  QualityStats c = Classification(150, 150), s = Classification(150, 30);
  EXPECT_EQ(LookAtAbTest(spec, 150, 150, c, s, &state).outcome, "continue");
  EXPECT_EQ(state.looks, 0);
  c = Classification(250, 240);
  s = Classification(250, 60);
  EXPECT_EQ(LookAtAbTest(spec, 250, 250, c, s, &state).outcome, "candidate_wins");
}

TEST(AbTestTest, SampleRatioMismatchStopsTheExperiment) {
  EXPECT_GT(SampleRatioMismatchP(505, 495, 0.5), 0.5);
  EXPECT_LT(SampleRatioMismatchP(600, 400, 0.5), 1e-9);
  EXPECT_GT(SampleRatioMismatchP(100, 900, 0.1), 0.9);
  AbTestSpec spec;
  AbState state;
  QualityStats q;
  EXPECT_EQ(LookAtAbTest(spec, 600, 400, q, q, &state).outcome, "srm");
  EXPECT_EQ(LookAtAbTest(spec, 12, 3, q, q, &state).outcome, "continue");  // too few to tell
}

TEST(AbTestTest, MaeIsAMetricWhereLowerWins) {
  AbTestSpec spec;
  spec.metric = "mae";
  spec.min_samples = 100;
  QualityStats better, worse;
  better.n_values = worse.n_values = 1000;
  better.abs_err_sum = 500;   // MAE 0.5
  better.sq_err_sum = 500;    // E e^2 = 0.5 → var 0.25
  worse.abs_err_sum = 1000;   // MAE 1.0
  worse.sq_err_sum = 1250;    // var 0.25
  AbState state;
  AbLook look = LookAtAbTest(spec, 1000, 1000, better, worse, &state);
  EXPECT_EQ(look.outcome, "candidate_wins");
  EXPECT_DOUBLE_EQ(look.detail["candidate"]["mean"].get<double>(), 0.5);
  EXPECT_NEAR(look.detail["effect"].get<double>(), -0.5, 1e-12);
}

TEST(AbTestTest, OptionsParseRoundTripAndRefuseBadValues) {
  auto spec = ParseRolloutSpec("ab-test", Json{{"weight", 20}, {"metric", "outcome:revenue"},
                                               {"alpha", 0.01}, {"min_samples", 500},
                                               {"duration_s", 7200}, {"auto_promote", true}});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->ab.weight_bp, 2000);
  EXPECT_EQ(spec->steps.size(), 1u);
  EXPECT_EQ(spec->steps[0].duration_ms, 7'200'000);
  auto back = RolloutSpecFromJson(ToJson(*spec));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ab.metric, "outcome:revenue");
  EXPECT_EQ(back->ab.min_samples, 500);
  EXPECT_TRUE(back->ab.auto_promote);
  for (const Json& bad : {Json{{"metric", "revenue"}}, Json{{"weight", 100}}, Json{{"alpha", 0}},
                          Json{{"min_samples", 10}}, Json{{"steps", Json::array()}},
                          Json{{"auto_promote", "yes"}}}) {
    EXPECT_FALSE(ParseRolloutSpec("ab-test", bad).ok()) << bad.dump();
  }
}

}  // namespace
}  // namespace hotswap::serving
