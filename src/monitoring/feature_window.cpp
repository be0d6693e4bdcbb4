#include "monitoring/feature_window.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/csv.h"
#include "common/status.h"

namespace hotswap::monitoring {

FeatureWindow::FeatureWindow(std::shared_ptr<const ReferenceProfile> profile, Options options)
    : profile_(std::move(profile)), options_(options) {
  features_.resize(profile_->features().size());
  for (size_t i = 0; i < features_.size(); ++i) {
    const auto& f = profile_->features()[i];
    features_[i].bins.assign(f.bin_count(), 0);
    if (f.type == ColumnType::kNumeric) features_[i].sketch = std::make_unique<QuantileSketch>(options_.sketch);
  }
}

FeatureWindow::FeatureWindow(const FeatureWindow& other) : profile_(other.profile_), options_(other.options_) {
  features_.resize(other.features_.size());
  for (size_t i = 0; i < features_.size(); ++i) {
    const auto& o = other.features_[i];
    auto& c = features_[i];
    c.bins = o.bins;
    c.count = o.count;
    c.missing = o.missing;
    c.values = o.values;
    if (o.sketch) c.sketch = std::make_unique<QuantileSketch>(*o.sketch);
  }
}

void FeatureWindow::RecordNumber(size_t feature, double value) {
  const auto& f = profile_->features()[feature];
  auto& c = features_[feature];
  if (std::isnan(value)) {
    ++c.missing;
    return;
  }
  if (f.type == ColumnType::kCategorical) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
    ++c.count;
    ++c.bins[f.categorical.BinOf(std::string_view(buf, static_cast<size_t>(end - buf)))];
    return;
  }
  ++c.count;
  if (!c.bins.empty()) ++c.bins[f.numeric.BinOf(value)];
  c.sketch->Add(value);
  if (options_.keep_values) c.values.push_back(value);
}

void FeatureWindow::RecordCategory(size_t feature, std::string_view value) {
  const auto& f = profile_->features()[feature];
  if (f.type == ColumnType::kNumeric) {
    auto v = common::ParseNumberCell(value);
    if (!v) {
      ++features_[feature].missing;
      return;
    }
    RecordNumber(feature, *v);
    return;
  }
  auto& c = features_[feature];
  ++c.count;
  ++c.bins[f.categorical.BinOf(value)];
}

void FeatureWindow::RecordMissing(size_t feature) { ++features_[feature].missing; }

absl::Status FeatureWindow::RecordCell(size_t feature, std::string_view cell) {
  if (IsMissingCell(cell)) {
    RecordMissing(feature);
    return absl::OkStatus();
  }
  const auto& f = profile_->features()[feature];
  if (f.type == ColumnType::kNumeric) {
    auto v = common::ParseNumberCell(cell);
    if (!v)
      return absl::InvalidArgumentError(
          absl::StrCat("column '", f.name, "' is numeric in the reference, but '", std::string(cell), "' is not a number"));
    RecordNumber(feature, *v);
    return absl::OkStatus();
  }
  RecordCategory(feature, cell);
  return absl::OkStatus();
}

absl::Status FeatureWindow::Merge(const FeatureWindow& other) {
  if (other.profile_.get() != profile_.get())
    return absl::FailedPreconditionError("cannot merge feature windows of different reference profiles");
  if (!(other.options_.sketch == options_.sketch) || other.options_.keep_values != options_.keep_values)
    return absl::FailedPreconditionError("cannot merge feature windows with different options");
  for (size_t i = 0; i < features_.size(); ++i) {
    auto& c = features_[i];
    const auto& o = other.features_[i];
    for (size_t b = 0; b < c.bins.size(); ++b) c.bins[b] += o.bins[b];
    c.count += o.count;
    c.missing += o.missing;
    if (c.sketch) HS_RETURN_IF_ERROR(c.sketch->Merge(*o.sketch));
    c.values.insert(c.values.end(), o.values.begin(), o.values.end());
  }
  return absl::OkStatus();
}

void FeatureWindow::Clear() {
  for (auto& c : features_) {
    std::fill(c.bins.begin(), c.bins.end(), 0);
    c.count = c.missing = 0;
    if (c.sketch) c.sketch->Clear();
    c.values.clear();
  }
}

}  // namespace hotswap::monitoring
