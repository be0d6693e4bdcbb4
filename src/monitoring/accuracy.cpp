#include "monitoring/accuracy.h"

#include <algorithm>
#include <cmath>

namespace hotswap::monitoring {
namespace {

using Json = nlohmann::json;

Json Ratio(double num, double den) { return den > 0 ? Json(num / den) : Json(nullptr); }

}  // namespace

bool AccuracySums::AddLabel(const Prediction& p, const std::string& label) {
  if (!p.has_label) return false;
  ++labelled_;
  if (p.label == label) {
    ++correct_;
    ++classes_[label].tp;
  } else {
    ++classes_[p.label].fp;
    ++classes_[label].fn;
  }
  if (p.n_probabilities > 0) {
    // Probabilities are indexed by class number: the label must name one.
    char* end = nullptr;
    long k = std::strtol(label.c_str(), &end, 10);
    if (!label.empty() && end != nullptr && *end == '\0' && k >= 0 && k < p.n_probabilities) {
      double pt = std::max(static_cast<double>(p.probabilities[k]), 1e-15);
      log_loss_sum_ += -std::log(pt);
      ++log_loss_n_;
    }
  }
  return true;
}

bool AccuracySums::AddValue(const Prediction& p, double target) {
  if (!p.has_value) return false;
  double err = target - p.value;
  ++n_values_;
  abs_err_sum_ += std::fabs(err);
  sq_err_sum_ += err * err;
  if (target != 0) {
    ape_sum_ += std::fabs(err) / std::fabs(target);
    ++ape_n_;
  } else {
    ++ape_excluded_;
  }
  return true;
}

void AccuracySums::AddOutcome(const std::string& name, double value) {
  OutcomeSums& o = outcomes_[name];
  ++o.n;
  o.sum += value;
  o.sum_sq += value * value;
}

void AccuracySums::Merge(const AccuracySums& other) {
  labelled_ += other.labelled_;
  correct_ += other.correct_;
  for (const auto& [c, n] : other.classes_) {
    ClassCounts& mine = classes_[c];
    mine.tp += n.tp;
    mine.fp += n.fp;
    mine.fn += n.fn;
  }
  log_loss_sum_ += other.log_loss_sum_;
  log_loss_n_ += other.log_loss_n_;
  n_values_ += other.n_values_;
  abs_err_sum_ += other.abs_err_sum_;
  sq_err_sum_ += other.sq_err_sum_;
  ape_sum_ += other.ape_sum_;
  ape_n_ += other.ape_n_;
  ape_excluded_ += other.ape_excluded_;
  for (const auto& [name, o] : other.outcomes_) {
    OutcomeSums& mine = outcomes_[name];
    mine.n += o.n;
    mine.sum += o.sum;
    mine.sum_sq += o.sum_sq;
  }
}

std::optional<double> AccuracySums::Accuracy() const {
  if (labelled_ == 0) return std::nullopt;
  return static_cast<double>(correct_) / static_cast<double>(labelled_);
}

std::optional<double> AccuracySums::Mae() const {
  if (n_values_ == 0) return std::nullopt;
  return abs_err_sum_ / static_cast<double>(n_values_);
}

Json AccuracySums::ToJson() const {
  Json out = Json::object();
  if (labelled_ > 0) {
    Json per_class = Json::object();
    double f1_sum = 0;
    int f1_n = 0;
    for (const auto& [c, n] : classes_) {
      Json f1 = Ratio(2.0 * n.tp, 2.0 * n.tp + n.fp + n.fn);
      if (f1.is_number()) {
        f1_sum += f1.get<double>();
        ++f1_n;
      }
      per_class[c] = {{"tp", n.tp},
                      {"fp", n.fp},
                      {"fn", n.fn},
                      {"support", n.tp + n.fn},
                      {"precision", Ratio(n.tp, n.tp + n.fp)},
                      {"recall", Ratio(n.tp, n.tp + n.fn)},
                      {"f1", f1}};
    }
    out["classification"] = {
        {"labelled", labelled_},
        {"correct", correct_},
        {"accuracy", Ratio(correct_, labelled_)},
        {"macro_f1", f1_n > 0 ? Json(f1_sum / f1_n) : Json(nullptr)},
        {"log_loss", Ratio(log_loss_sum_, log_loss_n_)},
        {"log_loss_items", log_loss_n_},
        {"classes", per_class}};
  } else {
    out["classification"] = nullptr;
  }
  if (n_values_ > 0) {
    double n = static_cast<double>(n_values_);
    out["regression"] = {{"labelled", n_values_},
                         {"mae", abs_err_sum_ / n},
                         {"rmse", std::sqrt(sq_err_sum_ / n)},
                         {"mape", Ratio(ape_sum_, ape_n_)},
                         {"mape_excluded", ape_excluded_}};
  } else {
    out["regression"] = nullptr;
  }
  Json outcomes = Json::object();
  for (const auto& [name, o] : outcomes_) {
    double mean = o.n ? o.sum / o.n : 0;
    double var = o.n > 1 ? std::max(0.0, (o.sum_sq - o.n * mean * mean) / (o.n - 1)) : 0;
    outcomes[name] = {{"n", o.n}, {"mean", mean}, {"variance", var}, {"sum", o.sum}};
  }
  out["outcomes"] = outcomes;
  return out;
}

}  // namespace hotswap::monitoring
