// VersionDrift: online drift monitoring of one served version against its reference profile.
//
// The profile comes from the version's `reference` dataset (docs/datasets.md), restricted to the
// columns the version's inputs and outputs can be matched with:
//   - inputs by name: every request input whose name is a CSV column and that has one element
//     per row;
//   - else by position: a version with a single 2-D request input [-1, M] takes the first M
//     columns of the CSV as its M features (the convention of docs/datasets.md);
//   - outputs by name: a CSV column named like an output with one element per row is profiled
//     as a prediction (role output).
// Other columns (e.g. a label) are left out.
//
// Request path: ObserveInputs/ObserveOutputs record the rows (at most 64 per request) into the
// calling thread's stripe (16 stripes, a mutex each, shared only when more threads record);
// nothing allocates in the steady state (FeatureWindow preallocates). The monitor thread calls
// Roll() every tick: each stripe is merged into the current minute's window and cleared. Minutes
// are kept for 1 h; Window() merges the minutes of a window. Counts are exact; the sketch's
// quantiles are within α = 2% (relative) online (monitoring.md).
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "domain/model.h"
#include "monitoring/feature_window.h"
#include "monitoring/reference_profile.h"
#include "serving/model_manager.h"

namespace hotswap::monitoring {

class VersionDrift final : public serving::VersionObserver {
 public:
  // Builds the profile from the reference table for a version with this request schema and
  // outputs. FailedPrecondition when no column matches an input.
  static absl::StatusOr<std::shared_ptr<VersionDrift>> Create(
      const CsvTable& reference, const domain::TensorSchema& request_schema,
      const domain::TensorSchema& outputs, std::string endpoint, std::string model,
      int64_t version);

  void ObserveInputs(const std::vector<runtime::Tensor>& inputs) override;
  void ObserveOutputs(const std::vector<runtime::Tensor>& outputs) override;

  void Roll(int64_t now_ms);
  // The merged window of predictions recorded at or after `since_ms` (minute granularity).
  FeatureWindow Window(int64_t since_ms) const;
  const ReferenceProfile& profile() const { return *profile_; }
  const std::string& endpoint() const { return endpoint_; }
  const std::string& model() const { return model_; }
  int64_t version() const { return version_; }
  // Which tensor column feeds each profile feature (for the API and docs).
  nlohmann::json BindingsJson() const;

  struct Binding {
    size_t feature;     // index in the profile
    std::string tensor; // input or output name
    int64_t column;     // column within a row of that tensor
  };

 private:
  VersionDrift(std::shared_ptr<const ReferenceProfile> profile, std::vector<Binding> inputs,
               std::vector<Binding> outputs, std::string endpoint, std::string model,
               int64_t version);
  void Observe(const std::vector<Binding>& bindings, const std::vector<runtime::Tensor>& tensors);
  static FeatureWindow::Options WindowOptions();

  static constexpr int kStripes = 16;
  struct alignas(64) Stripe {
    absl::Mutex mu;
    std::unique_ptr<FeatureWindow> window ABSL_GUARDED_BY(mu);
  };
  const std::shared_ptr<const ReferenceProfile> profile_;
  const std::vector<Binding> inputs_, outputs_;
  const std::string endpoint_, model_;
  const int64_t version_;
  std::unique_ptr<Stripe[]> stripes_;
  mutable absl::Mutex mu_;
  std::map<int64_t, FeatureWindow> minutes_ ABSL_GUARDED_BY(mu_);
};

// GET /api/v1/monitoring/{endpoint}/features for one version: per feature the reference and
// current histograms (same bins), quantiles, and every drift statistic with the flag.
nlohmann::json FeaturesJson(const VersionDrift& drift, const FeatureWindow& current);

}  // namespace hotswap::monitoring
