// XgboostBackend: the "xgboost" Backend. Loads XGBoost boosters (JSON, UBJSON or the legacy
// binary format — told apart by their first bytes, whatever the file is called) through
// XGBoost's C API and predicts with them. The C API reports errors as return codes with a
// thread-local message, so no engine exception reaches a request thread.
//
// Schema (derived from the booster's own configuration, XGBoosterSaveJsonConfig):
//   input   "input"  FP32 [-1, num_feature]   (NaN = missing value, as XGBoost's default)
//   outputs by objective:
//     binary:logistic            "label" INT64 [-1] (p > 0.5), "probabilities" FP32 [-1, 2]
//                                ([1 - p, p], like scikit-learn's predict_proba)
//     multi:softprob/softmax     "label" INT64 [-1] (argmax), "probabilities" FP32 [-1, classes]
//                                (for multi:softmax the softmax of the margins, i.e. what
//                                softprob would give)
//     anything else (reg:*, count:*, survival:*, rank:*, binary:logitraw, binary:hinge, ...)
//                                "predictions" FP32 [-1] (or [-1, targets] for a multi-target
//                                model), XGBoost's transformed prediction
//
// Contributions: XgboostModel also implements runtime::FeatureContributions — exact TreeSHAP
// per-feature contributions (XGBoost's pred_contribs), for the explanation endpoint.
//
// Threads: LoadOptions::intra_op_threads becomes the booster's `nthread` (1 = the calling
// thread only). Run() and Contributions() may be called from any number of threads at once:
// XGBoost's predict functions keep their output buffer per thread and per booster, and the
// booster is configured (a first prediction) inside Load() so that no lazy configuration races.
//
// Load errors: a missing or unreadable file is FailedPrecondition; a file XGBoost cannot parse
// (corrupt, truncated, another framework's) is InvalidArgument; a booster that is not a tree
// ensemble or has no features is FailedPrecondition.
//
// memory_bytes(): RSS growth around the load (loads are serialised so the growth is this
// load's), never less than the artifact's size.
//
// Thread-safety: XgboostBackend is thread-safe; a loaded model is immutable after Load().
//
// Example:
//   HS_ASSIGN_OR_RETURN(auto backend, XgboostBackend::Create());
//   HS_ASSIGN_OR_RETURN(auto model, backend->Load("/data/fraud.json", LoadOptions{}));
//   std::vector<Tensor> outputs;
//   HS_RETURN_IF_ERROR(model->Run({input}, {"probabilities"}, &outputs));
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/backend.h"

namespace hotswap::runtime {

class XgboostBackend : public Backend {
 public:
  static absl::StatusOr<std::unique_ptr<XgboostBackend>> Create();

  std::string_view framework() const override { return "xgboost"; }
  std::string version() const override;  // "xgboost 1.7.4"
  absl::StatusOr<std::unique_ptr<LoadedModel>> Load(const std::string& artifact_path,
                                                    const LoadOptions& options) override;

 private:
  XgboostBackend() = default;
};

}  // namespace hotswap::runtime
