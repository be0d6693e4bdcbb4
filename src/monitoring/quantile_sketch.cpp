#include "monitoring/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace hotswap::monitoring {

QuantileSketch::QuantileSketch(Options options)
    : options_(options),
      gamma_((1 + options.relative_accuracy) / (1 - options.relative_accuracy)),
      log_gamma_(std::log(gamma_)),
      min_index_(static_cast<int>(std::ceil(std::log(options.min_magnitude) / log_gamma_))),
      min_(std::numeric_limits<double>::infinity()),
      max_(-std::numeric_limits<double>::infinity()) {
  int max_index = static_cast<int>(std::ceil(std::log(options.max_magnitude) / log_gamma_));
  size_t n = static_cast<size_t>(std::max(max_index - min_index_ + 1, 1));
  positive_.assign(n, 0);
  negative_.assign(n, 0);
}

int QuantileSketch::BucketIndex(double magnitude) const {
  int index = static_cast<int>(std::ceil(std::log(magnitude) / log_gamma_)) - min_index_;
  return std::clamp(index, 0, static_cast<int>(positive_.size()) - 1);
}

double QuantileSketch::BucketValue(int offset) const {
  return 2 * std::pow(gamma_, offset + min_index_) / (gamma_ + 1);
}

void QuantileSketch::Add(double x, uint64_t count) {
  if (std::isnan(x) || count == 0) return;
  count_ += count;
  min_ = std::min(min_, x);
  max_ = std::max(max_, x);
  double magnitude = std::fabs(x);
  if (magnitude < options_.min_magnitude) {
    zero_ += count;
    return;
  }
  if (magnitude > options_.max_magnitude) clamped_ += count;
  int index = BucketIndex(magnitude);
  (x > 0 ? positive_ : negative_)[static_cast<size_t>(index)] += count;
}

absl::Status QuantileSketch::Merge(const QuantileSketch& other) {
  if (!(other.options_ == options_))
    return absl::FailedPreconditionError("cannot merge quantile sketches with different options");
  for (size_t i = 0; i < positive_.size(); ++i) {
    positive_[i] += other.positive_[i];
    negative_[i] += other.negative_[i];
  }
  zero_ += other.zero_;
  count_ += other.count_;
  clamped_ += other.clamped_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  return absl::OkStatus();
}

void QuantileSketch::Clear() {
  std::fill(positive_.begin(), positive_.end(), 0);
  std::fill(negative_.begin(), negative_.end(), 0);
  zero_ = count_ = clamped_ = 0;
  min_ = std::numeric_limits<double>::infinity();
  max_ = -std::numeric_limits<double>::infinity();
}

double QuantileSketch::Quantile(double q) const {
  if (count_ == 0 || std::isnan(q)) return std::numeric_limits<double>::quiet_NaN();
  q = std::clamp(q, 0.0, 1.0);
  if (q == 0.0) return min_;
  if (q == 1.0) return max_;
  const double rank = q * static_cast<double>(count_ - 1);
  double cumulative = 0;
  double value = max_;
  bool found = false;
  for (size_t i = negative_.size(); i-- > 0 && !found;) {
    cumulative += static_cast<double>(negative_[i]);
    if (negative_[i] && cumulative > rank) {
      value = -BucketValue(static_cast<int>(i));
      found = true;
    }
  }
  if (!found) {
    cumulative += static_cast<double>(zero_);
    if (zero_ && cumulative > rank) {
      value = 0.0;
      found = true;
    }
  }
  for (size_t i = 0; i < positive_.size() && !found; ++i) {
    cumulative += static_cast<double>(positive_[i]);
    if (positive_[i] && cumulative > rank) {
      value = BucketValue(static_cast<int>(i));
      found = true;
    }
  }
  return std::clamp(value, min_, max_);
}

std::vector<std::pair<double, uint64_t>> QuantileSketch::Buckets() const {
  std::vector<std::pair<double, uint64_t>> out;
  for (size_t i = negative_.size(); i-- > 0;)
    if (negative_[i]) out.emplace_back(-BucketValue(static_cast<int>(i)), negative_[i]);
  if (zero_) out.emplace_back(0.0, zero_);
  for (size_t i = 0; i < positive_.size(); ++i)
    if (positive_[i]) out.emplace_back(BucketValue(static_cast<int>(i)), positive_[i]);
  return out;
}

double QuantileSketch::Representative(double x) const {
  double magnitude = std::fabs(x);
  if (magnitude < options_.min_magnitude) return 0.0;
  double v = BucketValue(BucketIndex(magnitude));
  return x > 0 ? v : -v;
}

}  // namespace hotswap::monitoring
