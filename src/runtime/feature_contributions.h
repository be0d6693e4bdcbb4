// FeatureContributions: an optional capability of a LoadedModel — exact per-feature
// contributions to each prediction (SHAP values), for the explanation endpoint. A model offers
// it by also deriving from this interface; callers ask with
//
//   if (auto* explainer = dynamic_cast<const runtime::FeatureContributions*>(model.get())) {
//     HS_ASSIGN_OR_RETURN(runtime::Tensor contributions, explainer->Contributions(inputs));
//   }
//
// Today the XGBoost backend offers it (TreeSHAP through XGBoost's pred_contribs, exact for tree
// ensembles). Same thread-safety as Run(): callable from many threads at once.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tensor.h"

namespace hotswap::runtime {

class FeatureContributions {
 public:
  virtual ~FeatureContributions() = default;
  // `inputs` as for LoadedModel::Run. Returns an FP32 tensor named "contributions":
  // [batch, features + 1] for a model with one output per row, [batch, outputs, features + 1]
  // for one with several (a multi-class classifier: one row of contributions per class). The
  // last column is the bias (the expected margin); each row sums to the model's raw margin
  // (before the link function, e.g. the logit for binary:logistic).
  virtual absl::StatusOr<Tensor> Contributions(const std::vector<Tensor>& inputs) const = 0;
};

}  // namespace hotswap::runtime
