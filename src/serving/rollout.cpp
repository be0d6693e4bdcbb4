#include "serving/rollout.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "monitoring/drift_statistics.h"

namespace hotswap::serving {
namespace {

using domain::Json;

absl::Status Bad(const std::string& field, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

absl::Status CheckKeys(const Json& obj, const std::string& where,
                       const std::set<std::string>& allowed) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!allowed.count(it.key())) {
      std::string list;
      for (const auto& k : allowed) list += (list.empty() ? "" : ", ") + k;
      return Bad(where.empty() ? it.key() : where + "." + it.key(),
                 absl::StrCat("unknown option (known: ", list, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<double> Number(const Json& obj, const std::string& key, const std::string& path,
                              double fallback, double lo, double hi) {
  if (!obj.contains(key)) return fallback;
  const Json& v = obj[key];
  if (!v.is_number()) return Bad(path, "expected a number");
  double d = v.get<double>();
  if (!(d >= lo && d <= hi)) return Bad(path, absl::StrCat("must be from ", lo, " to ", hi));
  return d;
}

absl::StatusOr<std::vector<RolloutStep>> ParseSteps(const Json& steps) {
  if (!steps.is_array() || steps.empty()) {
    return Bad("steps", "expected a non-empty array of {\"weight\": percent, \"duration_s\": seconds}");
  }
  std::vector<RolloutStep> out;
  for (size_t i = 0; i < steps.size(); ++i) {
    std::string path = absl::StrCat("steps[", i, "]");
    const Json& s = steps[i];
    if (!s.is_object()) return Bad(path, "expected an object");
    HS_RETURN_IF_ERROR(CheckKeys(s, path, {"weight", "duration_s", "gate"}));
    if (!s.contains("weight")) return Bad(path + ".weight", "required (candidate percent, 0-100)");
    HS_ASSIGN_OR_RETURN(double w, Number(s, "weight", path + ".weight", 0, 0, 100));
    HS_ASSIGN_OR_RETURN(double d, Number(s, "duration_s", path + ".duration_s", 60, 0, 7 * 86400));
    RolloutStep step;
    step.weight_bp = static_cast<int>(std::lround(w * 100));
    step.duration_ms = static_cast<int64_t>(std::llround(d * 1000));
    if (s.contains("gate")) {
      if (!s["gate"].is_string() || (s["gate"] != "manual" && s["gate"] != "auto")) {
        return Bad(path + ".gate", "expected \"manual\" or \"auto\"");
      }
      step.manual_gate = s["gate"] == "manual";
    }
    if (!out.empty() && step.weight_bp < out.back().weight_bp) {
      return Bad(path + ".weight", "weights must not decrease from one step to the next");
    }
    out.push_back(step);
  }
  return out;
}

absl::StatusOr<AnalysisSpec> ParseAnalysis(const Json& j) {
  AnalysisSpec a;
  if (j.is_null()) return a;
  if (!j.is_object()) return Bad("analysis", "expected an object");
  HS_RETURN_IF_ERROR(CheckKeys(j, "analysis",
                               {"max_error_rate", "max_error_rate_increase", "max_p99_ms",
                                "max_p99_ratio", "min_latency_delta_ms", "min_requests",
                                "insufficient_data_timeout_s", "on_insufficient_data",
                                "max_accuracy_decrease", "max_mae_increase", "min_labels",
                                "require_feedback", "max_prediction_psi",
                                "max_prediction_shift", "min_accuracy", "max_mae"}));
  HS_ASSIGN_OR_RETURN(a.max_error_rate, Number(j, "max_error_rate", "analysis.max_error_rate",
                                               a.max_error_rate, 0, 1));
  HS_ASSIGN_OR_RETURN(a.max_error_rate_increase,
                      Number(j, "max_error_rate_increase", "analysis.max_error_rate_increase",
                             a.max_error_rate_increase, 0, 1));
  HS_ASSIGN_OR_RETURN(a.max_p99_ms, Number(j, "max_p99_ms", "analysis.max_p99_ms", a.max_p99_ms,
                                           0, 3.6e6));
  HS_ASSIGN_OR_RETURN(a.max_p99_ratio, Number(j, "max_p99_ratio", "analysis.max_p99_ratio",
                                              a.max_p99_ratio, 1, 1000));
  HS_ASSIGN_OR_RETURN(a.min_latency_delta_ms,
                      Number(j, "min_latency_delta_ms", "analysis.min_latency_delta_ms",
                             a.min_latency_delta_ms, 0, 3.6e6));
  HS_ASSIGN_OR_RETURN(double min_requests, Number(j, "min_requests", "analysis.min_requests",
                                                  static_cast<double>(a.min_requests), 1, 1e9));
  a.min_requests = static_cast<int64_t>(min_requests);
  HS_ASSIGN_OR_RETURN(double timeout_s,
                      Number(j, "insufficient_data_timeout_s",
                             "analysis.insufficient_data_timeout_s",
                             a.insufficient_data_timeout_ms / 1000.0, 0, 7 * 86400));
  a.insufficient_data_timeout_ms = static_cast<int64_t>(std::llround(timeout_s * 1000));
  if (j.contains("on_insufficient_data")) {
    const Json& v = j["on_insufficient_data"];
    if (!v.is_string() || (v != "rollback" && v != "promote" && v != "pause")) {
      return Bad("analysis.on_insufficient_data", "expected rollback, promote or pause");
    }
    a.on_insufficient_data = v.get<std::string>();
  }
  HS_ASSIGN_OR_RETURN(a.max_accuracy_decrease,
                      Number(j, "max_accuracy_decrease", "analysis.max_accuracy_decrease",
                             a.max_accuracy_decrease, 0, 1));
  HS_ASSIGN_OR_RETURN(a.max_mae_increase, Number(j, "max_mae_increase", "analysis.max_mae_increase",
                                                 a.max_mae_increase, 0, 1e6));
  HS_ASSIGN_OR_RETURN(double min_labels, Number(j, "min_labels", "analysis.min_labels",
                                                static_cast<double>(a.min_labels), 1, 1e9));
  a.min_labels = static_cast<int64_t>(min_labels);
  if (j.contains("require_feedback")) {
    if (!j["require_feedback"].is_boolean()) {
      return Bad("analysis.require_feedback", "expected true or false");
    }
    a.require_feedback = j["require_feedback"].get<bool>();
  }
  HS_ASSIGN_OR_RETURN(a.max_prediction_psi,
                      Number(j, "max_prediction_psi", "analysis.max_prediction_psi",
                             a.max_prediction_psi, 0, 100));
  HS_ASSIGN_OR_RETURN(a.max_prediction_shift,
                      Number(j, "max_prediction_shift", "analysis.max_prediction_shift",
                             a.max_prediction_shift, 0, 100));
  HS_ASSIGN_OR_RETURN(a.min_accuracy,
                      Number(j, "min_accuracy", "analysis.min_accuracy", a.min_accuracy, 0, 1));
  HS_ASSIGN_OR_RETURN(a.max_mae, Number(j, "max_mae", "analysis.max_mae", a.max_mae, 0, 1e12));
  return a;
}

absl::Status ParseAbOptions(const Json& options, AbTestSpec* ab) {
  HS_ASSIGN_OR_RETURN(double weight, Number(options, "weight", "weight", 50, 1, 99));
  ab->weight_bp = static_cast<int>(std::lround(weight * 100));
  if (options.contains("metric")) {
    const Json& m = options["metric"];
    std::string s = m.is_string() ? m.get<std::string>() : "";
    bool ok = s == "accuracy" || s == "mae" || (s.rfind("outcome:", 0) == 0 && s.size() > 8);
    if (!ok) return Bad("metric", "expected accuracy, mae or outcome:NAME");
    ab->metric = s;
  }
  HS_ASSIGN_OR_RETURN(ab->alpha, Number(options, "alpha", "alpha", ab->alpha, 1e-6, 0.5));
  HS_ASSIGN_OR_RETURN(double min_samples, Number(options, "min_samples", "min_samples",
                                                 static_cast<double>(ab->min_samples), 30, 1e9));
  ab->min_samples = static_cast<int64_t>(min_samples);
  HS_ASSIGN_OR_RETURN(ab->tau_sd, Number(options, "tau_sd", "tau_sd", ab->tau_sd, 1e-4, 10));
  HS_ASSIGN_OR_RETURN(ab->srm_alpha,
                      Number(options, "srm_alpha", "srm_alpha", ab->srm_alpha, 1e-12, 0.5));
  if (options.contains("auto_promote")) {
    if (!options["auto_promote"].is_boolean()) return Bad("auto_promote", "expected true or false");
    ab->auto_promote = options["auto_promote"].get<bool>();
  }
  return absl::OkStatus();
}

double LogChoose(double n, double k) {
  return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1);
}

// One-sided Fisher exact test: P(X >= f1) for X ~ Hypergeometric(N = n1 + n2, K = f1 + f2, n1),
// i.e. how surprising this many candidate failures are if both variants fail alike.
double FisherGreater(uint64_t f1, uint64_t n1, uint64_t f2, uint64_t n2) {
  double N = static_cast<double>(n1 + n2), K = static_cast<double>(f1 + f2);
  if (n1 == 0 || K == 0) return 1;
  double denom = LogChoose(N, static_cast<double>(n1));
  double p = 0;
  uint64_t hi = std::min<uint64_t>(f1 + f2, n1);
  for (uint64_t k = f1; k <= hi; ++k) {
    double kk = static_cast<double>(k);
    if (K - kk > static_cast<double>(n2)) continue;
    p += std::exp(LogChoose(K, kk) + LogChoose(N - K, static_cast<double>(n1) - kk) - denom);
  }
  return std::min(1.0, p);
}

// One-sided binomial test: P(X >= k) for X ~ Binomial(n, p0).
double BinomialGreater(uint64_t k, uint64_t n, double p0) {
  if (k == 0) return 1;
  if (p0 <= 0) return 0;
  if (p0 >= 1) return 1;
  double below = 0;  // P(X < k)
  for (uint64_t i = 0; i < k && i <= n; ++i) {
    double di = static_cast<double>(i), dn = static_cast<double>(n);
    below += std::exp(LogChoose(dn, di) + di * std::log(p0) + (dn - di) * std::log1p(-p0));
  }
  return std::max(0.0, 1 - below);
}

double Round3(double v) { return std::round(v * 1000) / 1000; }

// Upper tail of the standard normal.
double NormalUpper(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

double MeanOf(double sum, uint64_t n) { return n ? sum / static_cast<double>(n) : 0; }
// Sample variance from sums (0 below two items).
double VarianceOf(double sum, double sum_sq, uint64_t n) {
  if (n < 2) return 0;
  double dn = static_cast<double>(n), mean = sum / dn;
  return std::max(0.0, (sum_sq - dn * mean * mean) / (dn - 1));
}

// Quality signals of Analyze (see the header). Appends failures to `fails`, details to `detail`;
// returns true when a required feedback signal lacks data.
bool JudgeQuality(const AnalysisSpec& spec, const QualityStats& c, const QualityStats& s,
                  double alpha, std::vector<std::string>* fails, Json* detail) {
  Json q = Json::object();
  bool labels_short = true;
  auto enough = [&](uint64_t a, uint64_t b) {
    return static_cast<int64_t>(a) >= spec.min_labels && static_cast<int64_t>(b) >= spec.min_labels;
  };
  if (enough(c.labelled, s.labelled)) {
    labels_short = false;
    double ca = MeanOf(static_cast<double>(c.correct), c.labelled);
    double sa = MeanOf(static_cast<double>(s.correct), s.labelled);
    double p = FisherGreater(c.labelled - c.correct, c.labelled, s.labelled - s.correct, s.labelled);
    q["accuracy"] = {{"candidate", Round3(ca)}, {"stable", Round3(sa)}, {"labelled_candidate", c.labelled},
                     {"labelled_stable", s.labelled}, {"p_decrease", p},
                     {"statistic", "one-sided Fisher exact test on wrong answers"}};
    if (spec.min_accuracy > 0) {
      // Absolute budget: more wrong answers than 1 - min_accuracy allows, by a binomial test.
      double p_budget = BinomialGreater(c.labelled - c.correct, c.labelled, 1 - spec.min_accuracy);
      q["accuracy"]["min_accuracy"] = spec.min_accuracy;
      q["accuracy"]["p_below_budget"] = p_budget;
      if (ca < spec.min_accuracy && p_budget < alpha) {
        fails->push_back(absl::StrCat("candidate accuracy ", Round3(ca), " < budget ",
                                      spec.min_accuracy, " (p=", p_budget, ", n=", c.labelled, ")"));
      }
    }
    if (sa - ca > spec.max_accuracy_decrease && p < alpha) {
      fails->push_back(absl::StrCat("candidate accuracy ", Round3(ca), " vs stable ", Round3(sa),
                                    " (-", Round3(sa - ca), " > tolerance ",
                                    spec.max_accuracy_decrease, ", p=", p, ", n=", c.labelled,
                                    "/", s.labelled, ")"));
    }
  } else if (c.labelled + s.labelled > 0) {
    q["accuracy"] = {{"labelled_candidate", c.labelled}, {"labelled_stable", s.labelled},
                     {"judged", false}, {"min_labels", spec.min_labels}};
  }
  if (enough(c.n_values, s.n_values)) {
    labels_short = false;
    double cm = MeanOf(c.abs_err_sum, c.n_values), sm = MeanOf(s.abs_err_sum, s.n_values);
    double cv = VarianceOf(c.abs_err_sum, c.sq_err_sum, c.n_values);
    double sv = VarianceOf(s.abs_err_sum, s.sq_err_sum, s.n_values);
    double se = std::sqrt(cv / static_cast<double>(c.n_values) + sv / static_cast<double>(s.n_values));
    double p = se > 0 ? NormalUpper((cm - sm) / se) : (cm > sm ? 0.0 : 1.0);
    q["mae"] = {{"candidate", cm}, {"stable", sm}, {"labelled_candidate", c.n_values},
                {"labelled_stable", s.n_values}, {"p_increase", p},
                {"statistic", "one-sided z-test on absolute errors"}};
    if (spec.max_mae > 0) {
      double cse = std::sqrt(cv / static_cast<double>(c.n_values));
      double p_budget = cse > 0 ? NormalUpper((cm - spec.max_mae) / cse) : (cm > spec.max_mae ? 0.0 : 1.0);
      q["mae"]["max_mae"] = spec.max_mae;
      q["mae"]["p_above_budget"] = p_budget;
      if (cm > spec.max_mae && p_budget < alpha) {
        fails->push_back(absl::StrCat("candidate MAE ", cm, " > budget ", spec.max_mae, " (p=",
                                      p_budget, ", n=", c.n_values, ")"));
      }
    }
    if (cm > sm * (1 + spec.max_mae_increase) + 1e-12 && p < alpha) {
      fails->push_back(absl::StrCat("candidate MAE ", cm, " vs stable ", sm, " (> +",
                                    spec.max_mae_increase * 100, "%, p=", p, ", n=", c.n_values,
                                    "/", s.n_values, ")"));
    }
  } else if (c.n_values + s.n_values > 0) {
    q["mae"] = {{"labelled_candidate", c.n_values}, {"labelled_stable", s.n_values},
                {"judged", false}, {"min_labels", spec.min_labels}};
  }
  // Prediction drift between the variants (no feedback needed).
  uint64_t c_classes = 0, s_classes = 0;
  for (const auto& [k, n] : c.predicted_classes) c_classes += n;
  for (const auto& [k, n] : s.predicted_classes) s_classes += n;
  if (static_cast<int64_t>(c_classes) >= spec.min_requests &&
      static_cast<int64_t>(s_classes) >= spec.min_requests) {
    std::set<std::string> keys;
    for (const auto& [k, n] : c.predicted_classes) keys.insert(k);
    for (const auto& [k, n] : s.predicted_classes) keys.insert(k);
    std::vector<uint64_t> sv, cv;
    for (const auto& k : keys) {
      auto ci = c.predicted_classes.find(k);
      auto si = s.predicted_classes.find(k);
      cv.push_back(ci == c.predicted_classes.end() ? 0 : ci->second);
      sv.push_back(si == s.predicted_classes.end() ? 0 : si->second);
    }
    monitoring::ChiSquareResult chi = monitoring::ChiSquareTwoSample(sv, cv);
    double psi = monitoring::PopulationStabilityIndex(sv, cv);
    q["prediction_classes"] = {{"psi", Round3(psi)}, {"chi2", chi.statistic}, {"p", chi.pvalue},
                               {"classes", keys.size()},
                               {"statistic", "two-sample chi-square on predicted classes, and PSI"}};
    if (chi.pvalue < alpha && psi > spec.max_prediction_psi) {
      fails->push_back(absl::StrCat("candidate predicts classes differently (PSI ", Round3(psi),
                                    " > ", spec.max_prediction_psi, ", chi-square p=", chi.pvalue,
                                    ")"));
    }
  }
  if (static_cast<int64_t>(c.n_predicted_values) >= spec.min_requests &&
      static_cast<int64_t>(s.n_predicted_values) >= spec.min_requests) {
    double cm = MeanOf(c.predicted_sum, c.n_predicted_values);
    double sm = MeanOf(s.predicted_sum, s.n_predicted_values);
    double cv = VarianceOf(c.predicted_sum, c.predicted_sq_sum, c.n_predicted_values);
    double sv = VarianceOf(s.predicted_sum, s.predicted_sq_sum, s.n_predicted_values);
    double se = std::sqrt(cv / static_cast<double>(c.n_predicted_values) +
                          sv / static_cast<double>(s.n_predicted_values));
    double pooled = std::sqrt((cv + sv) / 2);
    double delta = cm - sm;
    double shift = pooled > 0 ? std::fabs(delta) / pooled : (delta != 0 ? 1e9 : 0.0);
    double p = se > 0 ? 2 * NormalUpper(std::fabs(delta) / se) : (delta != 0 ? 0.0 : 1.0);
    q["prediction_values"] = {{"candidate_mean", cm}, {"stable_mean", sm},
                              {"shift_sd", Round3(std::min(shift, 1e6))}, {"p", p},
                              {"statistic", "two-sided z-test on predicted values"}};
    if (p < alpha && shift > spec.max_prediction_shift) {
      fails->push_back(absl::StrCat("candidate predictions shifted: mean ", cm, " vs stable ", sm,
                                    " (", Round3(std::min(shift, 1e6)), " pooled SDs > ",
                                    spec.max_prediction_shift, ", p=", p, ")"));
    }
  }
  for (const std::string& alert : c.firing_alerts) {
    if (std::find(s.firing_alerts.begin(), s.firing_alerts.end(), alert) != s.firing_alerts.end()) {
      continue;  // the endpoint's problem, not the candidate's
    }
    fails->push_back(absl::StrCat("monitoring alert '", alert, "' is firing on the candidate"));
  }
  if (!c.firing_alerts.empty() || !s.firing_alerts.empty()) {
    q["alerts_firing"] = {{"candidate", c.firing_alerts}, {"stable", s.firing_alerts}};
  }
  (*detail)["quality"] = q;
  return spec.require_feedback && labels_short;
}

}  // namespace

void ApplyBaseline(const domain::PerformanceBaseline& baseline, AnalysisSpec* analysis) {
  if (analysis->max_p99_ms == 0 && baseline.latency_p99_ms) {
    analysis->max_p99_ms = *baseline.latency_p99_ms;
  }
  if (!baseline.quality) return;
  const domain::QualityMetric& q = *baseline.quality;
  if (q.name == "accuracy" && q.higher_is_better && analysis->min_accuracy == 0) {
    analysis->min_accuracy = std::clamp(q.value - q.tolerated_drop, 0.0, 1.0);
  } else if (q.name == "mae" && !q.higher_is_better && analysis->max_mae == 0) {
    analysis->max_mae = q.value + q.tolerated_drop;
  }
}

MetricSample AbMetric(const std::string& metric, const QualityStats& q) {
  MetricSample m;
  if (metric == "accuracy") {
    m.n = q.labelled;
    m.mean = MeanOf(static_cast<double>(q.correct), q.labelled);
    m.variance = m.mean * (1 - m.mean);
  } else if (metric == "mae") {
    m.n = q.n_values;
    m.mean = -MeanOf(q.abs_err_sum, q.n_values);  // lower error is better
    m.variance = VarianceOf(q.abs_err_sum, q.sq_err_sum, q.n_values);
  } else if (metric.rfind("outcome:", 0) == 0) {
    auto it = q.outcomes.find(metric.substr(8));
    if (it != q.outcomes.end()) {
      m.n = it->second.n;
      m.mean = MeanOf(it->second.sum, it->second.n);
      m.variance = VarianceOf(it->second.sum, it->second.sum_sq, it->second.n);
    }
  }
  return m;
}

double MsprtLikelihoodRatio(const MetricSample& c, const MetricSample& s, double tau) {
  if (c.n == 0 || s.n == 0 || tau <= 0) return 1;
  double v = c.variance / static_cast<double>(c.n) + s.variance / static_cast<double>(s.n);
  v = std::max(v, 1e-12);
  double t2 = tau * tau;
  double theta = c.mean - s.mean;
  double log_l = 0.5 * std::log(v / (v + t2)) + theta * theta * t2 / (2 * v * (v + t2));
  return std::exp(std::min(log_l, 700.0));
}

double SampleRatioMismatchP(uint64_t candidate_requests, uint64_t stable_requests,
                            double candidate_share) {
  double total = static_cast<double>(candidate_requests + stable_requests);
  if (total == 0 || candidate_share <= 0 || candidate_share >= 1) return 1;
  double ec = total * candidate_share, es = total - ec;
  double dc = static_cast<double>(candidate_requests) - ec;
  double chi2 = dc * dc / ec + dc * dc / es;
  return std::erfc(std::sqrt(chi2 / 2));  // chi-square survival function, 1 dof
}

AbLook LookAtAbTest(const AbTestSpec& spec, uint64_t candidate_requests, uint64_t stable_requests,
                    const QualityStats& candidate, const QualityStats& stable, AbState* state) {
  AbLook look;
  look.outcome = "continue";
  double share = spec.weight_bp / 10000.0;
  double srm_p = SampleRatioMismatchP(candidate_requests, stable_requests, share);
  MetricSample c = AbMetric(spec.metric, candidate), s = AbMetric(spec.metric, stable);
  bool enough = static_cast<int64_t>(c.n) >= spec.min_samples &&
                static_cast<int64_t>(s.n) >= spec.min_samples;
  double pooled_sd = std::sqrt((c.variance + s.variance) / 2);
  double tau = spec.tau_sd * pooled_sd;
  double lambda = 1;
  if (enough && tau > 0) {
    lambda = MsprtLikelihoodRatio(c, s, tau);
    state->p_value = std::min(state->p_value, std::min(1.0, 1 / lambda));
    ++state->looks;
  }
  bool higher_better = spec.metric != "mae";
  auto shown = [&](double m) { return higher_better ? m : -m; };
  look.detail = Json{{"metric", spec.metric},
                     {"candidate", {{"n", c.n}, {"mean", shown(c.mean)}, {"variance", c.variance},
                                    {"requests", candidate_requests}}},
                     {"stable", {{"n", s.n}, {"mean", shown(s.mean)}, {"variance", s.variance},
                                 {"requests", stable_requests}}},
                     {"effect", shown(c.mean) - shown(s.mean)},
                     {"likelihood_ratio", lambda},
                     {"p_value", state->p_value},
                     {"looks", state->looks},
                     {"alpha", spec.alpha},
                     {"min_samples", spec.min_samples},
                     {"tau", tau},
                     {"srm_p", srm_p},
                     {"statistic", "mSPRT, normal mixture N(0, tau^2), always-valid p-value"}};
  // A mismatch needs enough requests to mean something (20 expected on each side).
  double total = static_cast<double>(candidate_requests + stable_requests);
  if (total * std::min(share, 1 - share) >= 20 && srm_p < spec.srm_alpha) {
    look.outcome = "srm";
    return look;
  }
  if (enough && state->p_value < spec.alpha) {
    look.outcome = c.mean > s.mean ? "candidate_wins" : "stable_wins";
  }
  return look;
}

Json ToJsonBase(const RolloutSpec& spec);

absl::StatusOr<std::vector<RolloutStep>> ParseStepList(const std::string& text) {
  std::vector<RolloutStep> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::vector<absl::string_view> wd = absl::StrSplit(part, ':');
    double w = 0;
    if (wd.size() != 2 || !absl::SimpleAtod(wd[0], &w) || w < 0 || w > 100) {
      return Bad("steps", absl::StrCat("'", std::string(part),
                                       "' is not WEIGHT:DURATION (e.g. 5:60s, 25:2m)"));
    }
    absl::string_view d = wd[1];
    double mult = 1;
    if (!d.empty() && (d.back() == 's' || d.back() == 'm' || d.back() == 'h')) {
      mult = d.back() == 's' ? 1 : d.back() == 'm' ? 60 : 3600;
      d.remove_suffix(1);
    }
    double secs = 0;
    if (!absl::SimpleAtod(d, &secs) || secs < 0) {
      return Bad("steps", absl::StrCat("'", std::string(part), "': bad duration"));
    }
    out.push_back({static_cast<int>(std::lround(w * 100)),
                   static_cast<int64_t>(std::llround(secs * mult * 1000)), false});
  }
  if (out.empty()) return Bad("steps", "no steps given");
  return out;
}

absl::StatusOr<RolloutSpec> ParseRolloutSpec(const std::string& strategy, const Json& options) {
  if (!options.is_object()) return Bad("request body", "expected a JSON object");
  RolloutSpec spec;
  spec.strategy = strategy;
  std::set<std::string> common = {"model", "version", "alias", "endpoint", "strategy",
                                  "analysis", "deadline_s"};
  auto allow = [&](std::initializer_list<const char*> extra) {
    std::set<std::string> keys = common;
    for (const char* k : extra) keys.insert(k);
    return CheckKeys(options, "", keys);
  };
  if (strategy == "canary") {
    HS_RETURN_IF_ERROR(allow({"steps"}));
    if (options.contains("steps")) {
      HS_ASSIGN_OR_RETURN(spec.steps, ParseSteps(options["steps"]));
    } else {
      spec.steps = {{500, 60'000, false}, {2500, 120'000, false}, {5000, 120'000, false}};
    }
  } else if (strategy == "rolling") {
    HS_RETURN_IF_ERROR(allow({"batches", "pause_s"}));
    HS_ASSIGN_OR_RETURN(double batches, Number(options, "batches", "batches", 4, 1, 100));
    HS_ASSIGN_OR_RETURN(double pause_s, Number(options, "pause_s", "pause_s", 60, 0, 86400));
    int n = static_cast<int>(batches);
    for (int i = 1; i <= n; ++i) {
      spec.steps.push_back({10000 * i / n, static_cast<int64_t>(pause_s * 1000), false});
    }
  } else if (strategy == "blue-green") {
    HS_RETURN_IF_ERROR(allow({"preview_s", "rollback_window_s"}));
    HS_ASSIGN_OR_RETURN(double preview_s, Number(options, "preview_s", "preview_s", 0, 0, 86400));
    HS_ASSIGN_OR_RETURN(double window_s, Number(options, "rollback_window_s", "rollback_window_s",
                                                300, 0, 7 * 86400));
    if (preview_s > 0) spec.steps.push_back({0, static_cast<int64_t>(preview_s * 1000), false});
    spec.steps.push_back({10000, static_cast<int64_t>(window_s * 1000), false});
  } else if (strategy == "shadow") {
    HS_RETURN_IF_ERROR(allow({"duration_s", "mirror_percent", "auto_promote", "min_agreement",
                              "max_mean_abs_diff", "max_mean_rel_diff"}));
    HS_ASSIGN_OR_RETURN(double duration_s,
                        Number(options, "duration_s", "duration_s", 600, 0, 30 * 86400));
    HS_ASSIGN_OR_RETURN(double mirror, Number(options, "mirror_percent", "mirror_percent", 100,
                                              0.01, 100));
    HS_ASSIGN_OR_RETURN(spec.shadow.min_agreement,
                        Number(options, "min_agreement", "min_agreement", 0.99, 0, 1));
    HS_ASSIGN_OR_RETURN(spec.shadow.max_mean_abs_diff,
                        Number(options, "max_mean_abs_diff", "max_mean_abs_diff", -1, 0, 1e12));
    HS_ASSIGN_OR_RETURN(spec.shadow.max_mean_rel_diff,
                        Number(options, "max_mean_rel_diff", "max_mean_rel_diff", -1, 0, 1e6));
    if (options.contains("auto_promote")) {
      if (!options["auto_promote"].is_boolean()) return Bad("auto_promote", "expected true or false");
      spec.shadow.auto_promote = options["auto_promote"].get<bool>();
    }
    spec.shadow.mirror_bp = static_cast<int>(std::lround(mirror * 100));
    spec.steps.push_back({0, static_cast<int64_t>(duration_s * 1000), false});
  } else if (strategy == "ab-test") {
    HS_RETURN_IF_ERROR(allow({"weight", "metric", "alpha", "min_samples", "tau_sd", "srm_alpha",
                              "auto_promote", "duration_s"}));
    HS_RETURN_IF_ERROR(ParseAbOptions(options, &spec.ab));
    HS_ASSIGN_OR_RETURN(double duration_s,
                        Number(options, "duration_s", "duration_s", 86400, 1, 90 * 86400));
    spec.steps.push_back({spec.ab.weight_bp, static_cast<int64_t>(duration_s * 1000), false});
  } else {
    return Bad("strategy", absl::StrCat("'", strategy, "' is not a progressive strategy"));
  }
  HS_ASSIGN_OR_RETURN(spec.analysis,
                      ParseAnalysis(options.contains("analysis") ? options["analysis"] : Json()));
  int64_t total = 0;
  for (const auto& s : spec.steps) total += s.duration_ms;
  HS_ASSIGN_OR_RETURN(double deadline_s, Number(options, "deadline_s", "deadline_s",
                                                (total + 600'000) / 1000.0, 1, 30 * 86400));
  spec.deadline_ms = static_cast<int64_t>(std::llround(deadline_s * 1000));
  if (spec.deadline_ms < total) {
    return Bad("deadline_s", absl::StrCat("is shorter than the steps' total of ", total / 1000.0,
                                          " s"));
  }
  return spec;
}

Json ToJson(const RolloutSpec& spec) {
  Json j = ToJsonBase(spec);
  if (spec.strategy == "shadow") {
    j["shadow"] = {{"mirror_percent", spec.shadow.mirror_bp / 100.0},
                   {"auto_promote", spec.shadow.auto_promote},
                   {"min_agreement", spec.shadow.min_agreement},
                   {"max_mean_abs_diff", spec.shadow.max_mean_abs_diff},
                   {"max_mean_rel_diff", spec.shadow.max_mean_rel_diff}};
  }
  if (spec.strategy == "ab-test") {
    j["ab"] = {{"weight", spec.ab.weight_bp / 100.0},     {"metric", spec.ab.metric},
               {"alpha", spec.ab.alpha},                  {"min_samples", spec.ab.min_samples},
               {"tau_sd", spec.ab.tau_sd},                {"srm_alpha", spec.ab.srm_alpha},
               {"auto_promote", spec.ab.auto_promote}};
  }
  return j;
}

Json ToJsonBase(const RolloutSpec& spec) {
  Json steps = Json::array();
  for (const auto& s : spec.steps) {
    Json j = {{"weight", s.weight_bp / 100.0}, {"duration_s", s.duration_ms / 1000.0}};
    if (s.manual_gate) j["gate"] = "manual";
    steps.push_back(j);
  }
  const AnalysisSpec& a = spec.analysis;
  return Json{{"strategy", spec.strategy},
              {"steps", steps},
              {"analysis",
               {{"max_error_rate", a.max_error_rate},
                {"max_error_rate_increase", a.max_error_rate_increase},
                {"max_p99_ms", a.max_p99_ms},
                {"max_p99_ratio", a.max_p99_ratio},
                {"min_latency_delta_ms", a.min_latency_delta_ms},
                {"min_requests", a.min_requests},
                {"insufficient_data_timeout_s", a.insufficient_data_timeout_ms / 1000.0},
                {"on_insufficient_data", a.on_insufficient_data},
                {"max_accuracy_decrease", a.max_accuracy_decrease},
                {"max_mae_increase", a.max_mae_increase},
                {"min_labels", a.min_labels},
                {"require_feedback", a.require_feedback},
                {"max_prediction_psi", a.max_prediction_psi},
                {"max_prediction_shift", a.max_prediction_shift},
                {"min_accuracy", a.min_accuracy},
                {"max_mae", a.max_mae}}},
              {"deadline_s", spec.deadline_ms / 1000.0}};
}

absl::StatusOr<RolloutSpec> RolloutSpecFromJson(const Json& j) {
  if (!j.is_object() || !j.contains("strategy") || !j["strategy"].is_string()) {
    return absl::InvalidArgumentError("stored rollout spec has no strategy");
  }
  Json options = {{"steps", j.value("steps", Json::array())},
                  {"analysis", j.value("analysis", Json::object())},
                  {"deadline_s", j.value("deadline_s", 1.0)}};
  RolloutSpec spec;
  spec.strategy = j["strategy"].get<std::string>();
  HS_ASSIGN_OR_RETURN(spec.steps, ParseSteps(options["steps"]));
  HS_ASSIGN_OR_RETURN(spec.analysis, ParseAnalysis(options["analysis"]));
  spec.deadline_ms = static_cast<int64_t>(std::llround(options["deadline_s"].get<double>() * 1000));
  if (j.contains("shadow") && j["shadow"].is_object()) {
    const Json& sh = j["shadow"];
    spec.shadow.mirror_bp = static_cast<int>(std::lround(sh.value("mirror_percent", 100.0) * 100));
    spec.shadow.auto_promote = sh.value("auto_promote", false);
    spec.shadow.min_agreement = sh.value("min_agreement", 0.99);
    spec.shadow.max_mean_abs_diff = sh.value("max_mean_abs_diff", -1.0);
    spec.shadow.max_mean_rel_diff = sh.value("max_mean_rel_diff", -1.0);
  }
  if (j.contains("ab") && j["ab"].is_object()) {
    HS_RETURN_IF_ERROR(ParseAbOptions(j["ab"], &spec.ab));
  }
  return spec;
}

double WindowStats::QuantileMs(double q) const {
  return HistogramQuantile(buckets.data(), q) * 1000;
}

Json WindowStats::ToJson() const {
  return Json{{"requests", requests},
              {"failures", failures},
              {"error_rate", Round3(error_rate())},
              {"p50_ms", Round3(QuantileMs(0.5))},
              {"p99_ms", Round3(QuantileMs(0.99))}};
}

WindowStats Delta(const VersionMetrics::Snapshot& now, const VersionMetrics::Snapshot& then) {
  WindowStats w;
  w.requests = now.requests - then.requests;
  w.failures = now.failures - then.failures;
  for (int i = 0; i <= kLatencyBuckets; ++i) {
    w.buckets[i] = now.buckets[VersionMetrics::kTotal][i] - then.buckets[VersionMetrics::kTotal][i];
  }
  return w;
}

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kPass: return "pass";
    case Verdict::kFail: return "fail";
    case Verdict::kInsufficientData: return "insufficient_data";
  }
  return "?";
}

Decision Analyze(const AnalysisSpec& spec, const WindowStats& candidate, const WindowStats& stable,
                 const std::optional<WindowStats>& stable_reference, double alpha,
                 const QualityStats* candidate_quality, const QualityStats* stable_quality) {
  Decision d;
  const WindowStats* ref = nullptr;
  std::string ref_kind = "none";
  if (static_cast<int64_t>(stable.requests) >= spec.min_requests) {
    ref = &stable;
    ref_kind = "same window";
  } else if (stable_reference &&
             static_cast<int64_t>(stable_reference->requests) >= spec.min_requests) {
    ref = &*stable_reference;
    ref_kind = "last stable window with enough data";
  }
  d.detail = Json{{"candidate", candidate.ToJson()},
                  {"stable", stable.ToJson()},
                  {"stable_reference", ref_kind},
                  {"alpha", alpha},
                  {"thresholds",
                   {{"max_error_rate", spec.max_error_rate},
                    {"max_error_rate_increase", spec.max_error_rate_increase},
                    {"max_p99_ms", spec.max_p99_ms},
                    {"max_p99_ratio", spec.max_p99_ratio},
                    {"min_latency_delta_ms", spec.min_latency_delta_ms},
                    {"min_requests", spec.min_requests}}},
                  {"statistics",
                   "error budget: one-sided binomial test against max_error_rate; error increase: "
                   "one-sided Fisher exact test against the stable; latency: p99 from the "
                   "total-latency histogram plus a one-sided binomial test that more than 1% of "
                   "candidate requests are over the latency threshold (max_p99_ratio x the stable p99 "
                   "and min_latency_delta_ms above it)"}};
  if (static_cast<int64_t>(candidate.requests) < spec.min_requests) {
    d.verdict = Verdict::kInsufficientData;
    d.reason = absl::StrCat("insufficient data: candidate has ", candidate.requests, " of ",
                            spec.min_requests, " requests needed");
    return d;
  }
  std::vector<std::string> fails;
  double cer = candidate.error_rate();
  double p_budget = BinomialGreater(candidate.failures, candidate.requests, spec.max_error_rate);
  d.detail["p_error_budget"] = p_budget;
  if (cer > spec.max_error_rate && p_budget < alpha) {
    fails.push_back(absl::StrCat("candidate error rate ", Round3(cer), " > budget ",
                                 spec.max_error_rate, " (", candidate.failures, " of ",
                                 candidate.requests, ", p=", p_budget, ")"));
  }
  double cp99 = candidate.QuantileMs(0.99);
  if (spec.max_p99_ms > 0 && cp99 > spec.max_p99_ms) {
    fails.push_back(absl::StrCat("candidate p99 ", Round3(cp99), " ms > budget ", spec.max_p99_ms,
                                 " ms"));
  }
  if (ref != nullptr) {
    double increase = cer - ref->error_rate();
    double p_inc = FisherGreater(candidate.failures, candidate.requests, ref->failures,
                                 ref->requests);
    d.detail["error_rate_increase"] = Round3(increase);
    d.detail["p_error_increase"] = p_inc;
    if (increase > spec.max_error_rate_increase && p_inc < alpha) {
      fails.push_back(absl::StrCat("candidate error rate ", Round3(cer), " vs stable ",
                                   Round3(ref->error_rate()), " (+", Round3(increase),
                                   " > tolerance ", spec.max_error_rate_increase, ", p=", p_inc,
                                   ")"));
    }
    double sp99 = ref->QuantileMs(0.99);
    d.detail["p99_ratio"] = sp99 > 0 ? Round3(cp99 / sp99) : 0.0;
    // The latency threshold is what the p99 comparison asks for: max_p99_ratio x the stable
    // p99 and min_latency_delta_ms above it. The candidate fails only when significantly more
    // than 1% of its requests are over that threshold (counting only buckets wholly above it):
    // the p99 of a small sample is its maximum, so one outlier must not decide, and requests a
    // little above a sub-millisecond stable p99 are jitter, not a regression.
    double threshold_ms = std::max(spec.max_p99_ratio * sp99, sp99 + spec.min_latency_delta_ms);
    uint64_t over = 0, total = 0;
    for (int i = 0; i <= kLatencyBuckets; ++i) {
      total += candidate.buckets[i];
      double lower_ms = i == 0 ? 0 : LatencyBucketBound(i - 1) * 1000;
      if (lower_ms >= threshold_ms) over += candidate.buckets[i];
    }
    double over_share = total ? static_cast<double>(over) / total : 0;
    double p_slow = BinomialGreater(over, total, 0.01);
    d.detail["latency_threshold_ms"] = Round3(threshold_ms);
    d.detail["share_over_latency_threshold"] = Round3(over_share);
    d.detail["p_latency"] = p_slow;
    if (cp99 > threshold_ms && p_slow < alpha) {
      fails.push_back(absl::StrCat("candidate p99 ", Round3(cp99), " ms vs stable ", Round3(sp99),
                                   " ms (> ", spec.max_p99_ratio, "x and > ",
                                   spec.min_latency_delta_ms, " ms above; ",
                                   Round3(over_share * 100), "% of candidate requests over ",
                                   Round3(threshold_ms), " ms, p=", p_slow, ")"));
    }
  }
  bool quality_short = false;
  if (candidate_quality != nullptr && stable_quality != nullptr) {
    quality_short =
        JudgeQuality(spec, *candidate_quality, *stable_quality, alpha, &fails, &d.detail);
  }
  if (!fails.empty()) {
    d.verdict = Verdict::kFail;
    d.reason = fails.front();
    for (size_t i = 1; i < fails.size(); ++i) d.reason += "; " + fails[i];
    return d;
  }
  if (quality_short) {
    d.verdict = Verdict::kInsufficientData;
    d.reason = absl::StrCat("insufficient data: fewer than ", spec.min_labels,
                            " feedback labels per variant (require_feedback)");
    return d;
  }
  d.verdict = Verdict::kPass;
  d.reason = absl::StrCat("candidate error rate ", Round3(cer), ", p99 ", Round3(cp99), " ms",
                          ref ? absl::StrCat(" (stable ", Round3(ref->error_rate()), ", ",
                                             Round3(ref->QuantileMs(0.99)), " ms)")
                              : std::string(" (no stable reference)"));
  return d;
}

}  // namespace hotswap::serving
