// Rollout strategies as weight schedules, and the analysis that gates every step.
//
// Every progressive strategy is a list of steps, each a candidate weight held for a duration,
// followed by promotion:
//   canary      user steps (default 5% 60 s → 25% 120 s → 50% 120 s), analysis at every step;
//   rolling     `batches` equal steps (default 4: 25/50/75/100%) of `pause_s` each, with a health
//               analysis between them;
//   blue-green  green (the candidate) loaded beside blue at 0% for `preview_s` (reachable with
//               `x-hotswap-variant: candidate`), then an instant switch to 100% held for
//               `rollback_window_s` with blue kept warm (post-promotion analysis; a failure
//               switches back at once), then blue is released.
// A step may carry `"gate": "manual"`: the rollout pauses there until `promote`.
//
// Analysis compares the candidate with the stable variant over the same window (since the step
// began): error rate, p50/p99 latency. Outcomes: pass, fail, or insufficient data (fewer than
// `min_requests` candidate requests): the rollout waits — up to `insufficient_data_timeout_s`
// past the step's end — and then does `on_insufficient_data` (rollback, promote or pause), so
// low traffic never causes a false rollback or a silent stall. A step fails when any of these is
// both over its threshold and statistically significant (one-sided, level alpha):
//   - candidate error rate > max_error_rate, by a binomial test against that budget;
//   - candidate error rate − stable error rate > max_error_rate_increase, by a Fisher exact test
//     (exact for the small counts canaries see, where a normal approximation over-fires);
//   - candidate p99 > max_p99_ms when that is > 0 (an absolute budget, e.g. from the version's
//     PerformanceBaseline; no test);
//   - candidate p99 > max_p99_ratio × stable p99 and more than min_latency_delta_ms above it
//     (sub-millisecond jitter is not a regression), and a binomial test says more than 1% of
//     the candidate's requests are over that same threshold — a single outlier in a small
//     sample (whose p99 is its maximum) is not a regression, and neither are requests a little
//     above a sub-millisecond stable p99.
// The stable side needs min_requests too; when it got too little traffic in the window (e.g. at
// 100%), its last window with enough data is the reference.
// Looking again and again inflates false alarms, so failure checks during a step (which let a
// bad candidate be rolled back without waiting for the step's end) run only when the
// candidate's sample has doubled since the previous look, at alpha = 0.001 each; the step's end
// is judged at alpha = 0.01. A pass needs the whole step.
//
// With monitoring on, quality signals join in (QualityStats, from the prediction store and the
// feedback joined to it, over the same window):
//   - accuracy (classification feedback): candidate accuracy below the stable's by more than
//     max_accuracy_decrease, by a one-sided Fisher exact test on wrong answers;
//   - MAE (regression feedback): candidate MAE above the stable's by more than max_mae_increase
//     (relative), by a one-sided z-test on the absolute errors;
//   - prediction drift (no feedback needed): predicted classes distributed differently (two-
//     sample chi-square p < alpha and PSI > max_prediction_psi), or predicted values shifted
//     (two-sided z-test p < alpha and a mean shift > max_prediction_shift pooled SDs).
// A feedback signal with fewer than min_labels items on either side is not judged (reported as
// such) unless require_feedback, which makes it insufficient data. A monitoring alert rule
// (docs/monitoring.md) firing on the candidate and not on the stable fails the step too.
//
// ab-test: a fixed split (`weight`, default 50%) held for `duration_s` (the horizon); a
// sequential test on `metric` (accuracy, mae, or outcome:NAME from feedback) that may be looked at
// continuously: mSPRT with a normal mixture (Johari, Pekelis & Walsh, "Always valid inference",
// 2017), whose always-valid p-value is the running minimum of 1/Λ_n; a winner is declared once
// both variants have min_samples and p < alpha; at the horizon without one, "no difference". A
// sample-ratio-mismatch check (chi-square goodness of fit of the request counts against the
// split, p < srm_alpha) stops a broken experiment. See docs/rollouts.md.
//
// Latency quantiles come from the serving metrics' fine histograms (within 8.64%, see
// serving/metrics.h); the default ratio 1.5 with a 1 ms floor leaves room for that and jitter.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "domain/model.h"
#include "serving/metrics.h"

namespace hotswap::serving {

struct RolloutStep {
  int weight_bp = 0;          // candidate share, basis points (0..10000)
  int64_t duration_ms = 0;
  bool manual_gate = false;   // pause before this step's analysis can advance
};

struct AnalysisSpec {
  double max_error_rate = 0.05;
  double max_error_rate_increase = 0.01;
  double max_p99_ms = 0;            // 0 = no absolute budget
  double max_p99_ratio = 1.5;
  double min_latency_delta_ms = 1.0;
  int64_t min_requests = 50;        // per variant and window
  int64_t insufficient_data_timeout_ms = 300'000;
  std::string on_insufficient_data = "rollback";  // rollback | promote | pause
  // Quality (with monitoring on).
  double max_accuracy_decrease = 0.02;  // absolute
  double max_mae_increase = 0.10;       // relative to the stable MAE
  int64_t min_labels = 30;              // feedback items per variant before judging quality
  bool require_feedback = false;        // too few labels = insufficient data
  double max_prediction_psi = 0.2;      // predicted-class distribution
  double max_prediction_shift = 0.25;   // predicted-value mean shift, in pooled SDs
  // Absolute quality budgets (0 = none); a rollout takes them from the candidate version's
  // PerformanceBaseline when not given (quality accuracy: value − tolerated_drop; mae: value +
  // tolerated_drop), as it takes max_p99_ms from latency_p99_ms.
  double min_accuracy = 0;
  double max_mae = 0;
};

// Fills the budgets `analysis` leaves at 0 from a version's PerformanceBaseline.
void ApplyBaseline(const domain::PerformanceBaseline& baseline, AnalysisSpec* analysis);

// ab-test options.
struct AbTestSpec {
  int weight_bp = 5000;               // candidate share
  std::string metric = "accuracy";    // accuracy | mae | outcome:NAME
  double alpha = 0.05;
  int64_t min_samples = 200;          // feedback items per variant before a winner
  double tau_sd = 0.1;                // mixture SD of the effect, in pooled SDs of the metric
  double srm_alpha = 0.001;
  bool auto_promote = false;          // else a candidate winner waits for `promote`
};

// What monitoring knows about one variant over a window: feedback joined to its predictions (by
// prediction time) and the predictions themselves.
struct QualityStats {
  uint64_t labelled = 0, correct = 0;          // classification feedback
  uint64_t n_values = 0;                       // regression feedback
  double abs_err_sum = 0, sq_err_sum = 0;
  struct Outcome {
    uint64_t n = 0;
    double sum = 0, sum_sq = 0;
  };
  std::map<std::string, Outcome> outcomes;
  std::map<std::string, uint64_t> predicted_classes;  // predictions made, by class
  uint64_t n_predicted_values = 0;
  double predicted_sum = 0, predicted_sq_sum = 0;
  std::vector<std::string> firing_alerts;  // monitoring alert rules firing on this series now
};
// Quality of a series since a time; nullopt when monitoring is off.
using QualitySource =
    std::function<std::optional<QualityStats>(const VersionMetrics& series, int64_t since_ms)>;

// shadow: the candidate gets a copy of `mirror_bp` of the requests (never answers them) for the
// step's duration; then its comparison with the stable version decides.
struct ShadowSpec {
  int mirror_bp = 10000;
  bool auto_promote = false;        // else: pause at "criteria met" until promote
  double min_agreement = 0.99;      // classification: share of identical top-1
  double max_mean_abs_diff = -1;    // regression; < 0 = not checked
  double max_mean_rel_diff = -1;
};

struct RolloutSpec {
  std::string strategy;  // canary | rolling | blue-green | shadow | ab-test
  ShadowSpec shadow;     // strategy shadow only
  AbTestSpec ab;         // strategy ab-test only
  std::vector<RolloutStep> steps;
  AnalysisSpec analysis;
  int64_t deadline_ms = 0;  // whole rollout; 0 = sum of step durations + 10 min
};

// Parses the strategy options of a deploy request body: `steps` (canary: [{"weight": 5,
// "duration_s": 60, "gate": "manual"}...]), `batches` and `pause_s` (rolling), `preview_s` and
// `rollback_window_s` (blue-green), `duration_s`, `mirror_percent`, `auto_promote`,
// `min_agreement`, `max_mean_abs_diff`, `max_mean_rel_diff` (shadow), `analysis` {...the AnalysisSpec fields, `_ms` as `_s` for
// durations...}, `deadline_s`. Unknown options and out-of-range values are InvalidArgument naming
// the field.
absl::StatusOr<RolloutSpec> ParseRolloutSpec(const std::string& strategy,
                                             const domain::Json& options);
domain::Json ToJson(const RolloutSpec& spec);
absl::StatusOr<RolloutSpec> RolloutSpecFromJson(const domain::Json& j);  // ToJson's inverse

// "5:60s,25:120s,50:2m" (weight percent : duration with s|m|h) → steps.
absl::StatusOr<std::vector<RolloutStep>> ParseStepList(const std::string& text);

// Counters of one variant over a window (a difference of two VersionMetrics snapshots).
struct WindowStats {
  uint64_t requests = 0;
  uint64_t failures = 0;
  std::array<uint64_t, kLatencyBuckets + 1> buckets{};  // total latency
  double error_rate() const { return requests ? static_cast<double>(failures) / requests : 0; }
  // Latency quantile in ms (q in (0,1)); 0 when empty.
  double QuantileMs(double q) const;
  domain::Json ToJson() const;
};
WindowStats Delta(const VersionMetrics::Snapshot& now, const VersionMetrics::Snapshot& then);

enum class Verdict { kPass, kFail, kInsufficientData };
const char* VerdictName(Verdict v);

struct Decision {
  Verdict verdict = Verdict::kInsufficientData;
  std::string reason;   // human summary
  domain::Json detail;  // measured values, thresholds, sample sizes, statistic used
};

// Judges the candidate against the stable over one window. `stable_reference` stands in for the
// stable window when that has fewer than min_requests.
// `alpha` is the one-sided significance level of this look (see the header comment).
// With both QualityStats given, the quality signals are judged too.
Decision Analyze(const AnalysisSpec& spec, const WindowStats& candidate, const WindowStats& stable,
                 const std::optional<WindowStats>& stable_reference, double alpha = 0.01,
                 const QualityStats* candidate_quality = nullptr,
                 const QualityStats* stable_quality = nullptr);

// ---- A/B tests ----------------------------------------------------------------------------------

// One variant's metric: sample size, mean and variance ("higher is better" already applied:
// for mae the mean is negated).
struct MetricSample {
  uint64_t n = 0;
  double mean = 0, variance = 0;
};
// The A/B metric of a variant from its QualityStats (InvalidArgument for an unknown metric).
MetricSample AbMetric(const std::string& metric, const QualityStats& q);
// mSPRT likelihood ratio Λ for the difference of means (candidate − stable) with a N(0, tau²)
// mixture, normal approximation: sqrt(V/(V+τ²))·exp(θ̂²τ²/(2V(V+τ²))), V = var_c/n_c + var_s/n_s.
double MsprtLikelihoodRatio(const MetricSample& candidate, const MetricSample& stable, double tau);
// P-value of a sample ratio mismatch: chi-square goodness of fit (1 dof) of the request counts
// against the expected candidate share.
double SampleRatioMismatchP(uint64_t candidate_requests, uint64_t stable_requests,
                            double candidate_share);

struct AbState {
  double p_value = 1;  // always-valid p: running minimum of min(1, 1/Λ) over the looks
  int64_t looks = 0;
};
struct AbLook {
  std::string outcome;  // continue | candidate_wins | stable_wins | srm
  domain::Json detail;  // samples, means, effect, Λ, p-value, SRM p, thresholds
};
// One look at an A/B test: updates `state` and says whether it is decided.
AbLook LookAtAbTest(const AbTestSpec& spec, uint64_t candidate_requests, uint64_t stable_requests,
                    const QualityStats& candidate, const QualityStats& stable, AbState* state);

// Significance levels: interim looks during a step (taken only when the candidate's sample has
// doubled since the last one, so at most ~log2(traffic) looks per step) and the step's end.
inline constexpr double kInterimAlpha = 0.001;
inline constexpr double kFinalAlpha = 0.01;

}  // namespace hotswap::serving
