// Accuracy against ground truth: what a prediction said, what the label says, and the running
// sums from which accuracy, per-class precision/recall/F1, log-loss, MAE, RMSE and MAPE are
// computed for any window. Sums are exact and mergeable (adding two accumulators gives the
// accumulator of the union), so minute buckets add up to 5 min, 1 h or 24 h windows.
//
// Definitions (docs/monitoring.md, "Accuracy"):
//   accuracy   = correct / labelled (classification items)
//   precision_c = tp_c / (tp_c + fp_c), recall_c = tp_c / (tp_c + fn_c),
//   f1_c = 2 tp_c / (2 tp_c + fp_c + fn_c); macro_f1 = mean of f1_c over classes seen in labels
//   or predictions; a ratio with a zero denominator is null.
//   log_loss   = mean of -ln(max(p_true, 1e-15)) over items whose prediction carried
//                probabilities and whose label names one of their classes.
//   mae = mean |y - ŷ|, rmse = sqrt(mean (y - ŷ)^2), mape = mean |y - ŷ| / |y| over y != 0
//   (items with y == 0 are left out of MAPE and counted in `mape_excluded`).
//   outcomes: per named outcome, n, mean and variance of the posted values (A/B tests).
//
// Not thread-safe: owned by PredictionLog, which serialises access.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "nlohmann/json.hpp"

namespace hotswap::monitoring {

// What a model answered for one row, reduced to what the join needs (no allocation beyond the
// label string, which fits the small-string buffer for short class names).
struct Prediction {
  static constexpr int kMaxProbabilities = 16;
  bool has_label = false;  // classification: predicted class (from a label output or argmax)
  std::string label;
  bool has_value = false;  // regression: predicted value
  double value = 0;
  int n_probabilities = 0;  // class probabilities, class i = "i" (when <= kMaxProbabilities)
  std::array<float, kMaxProbabilities> probabilities{};
};

struct OutcomeSums {
  uint64_t n = 0;
  double sum = 0, sum_sq = 0;
};

class AccuracySums {
 public:
  // A classification label for `p`. Returns false (nothing counted) when `p` has no class.
  bool AddLabel(const Prediction& p, const std::string& label);
  // A regression target for `p`. Returns false when `p` has no value.
  bool AddValue(const Prediction& p, double target);
  void AddOutcome(const std::string& name, double value);
  void Merge(const AccuracySums& other);
  bool empty() const { return labelled_ == 0 && n_values_ == 0 && outcomes_.empty(); }

  // {"classification": {...} | null, "regression": {...} | null, "outcomes": {...}}
  nlohmann::json ToJson() const;

  uint64_t labelled() const { return labelled_; }
  uint64_t correct() const { return correct_; }
  uint64_t n_values() const { return n_values_; }
  std::optional<double> Accuracy() const;
  std::optional<double> Mae() const;
  const std::map<std::string, OutcomeSums>& outcomes() const { return outcomes_; }
  double abs_err_sum() const { return abs_err_sum_; }
  double sq_err_sum() const { return sq_err_sum_; }

 private:
  struct ClassCounts {
    uint64_t tp = 0, fp = 0, fn = 0;
  };
  uint64_t labelled_ = 0, correct_ = 0;
  std::map<std::string, ClassCounts> classes_;
  double log_loss_sum_ = 0;
  uint64_t log_loss_n_ = 0;
  uint64_t n_values_ = 0;
  double abs_err_sum_ = 0, sq_err_sum_ = 0, ape_sum_ = 0;
  uint64_t ape_n_ = 0, ape_excluded_ = 0;
  std::map<std::string, OutcomeSums> outcomes_;
};

}  // namespace hotswap::monitoring
