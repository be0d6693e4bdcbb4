// Feature preprocessing: turns raw per-feature request tensors into the model's input tensors.
// A pipeline is compiled once, when a version loads, from its declared `preprocessing` JSON
// (domain::ModelVersion::preprocessing), and applied to every request before the backend runs.
// docs/preprocessing.md documents the JSON, every op and the missing-value rules.
//
//   {"outputs": [{"name": "input", "datatype": "FP32",
//                 "features": [
//                   {"feature": "sepal_length",
//                    "steps": [{"op": "impute", "value": 5.8},
//                              {"op": "standardize", "mean": 5.84, "std": 0.83}]},
//                   {"feature": "colour",
//                    "steps": [{"op": "one_hot", "vocabulary": ["red", "green", "blue"]}]}]}]}
//
// Each output is a model input of shape [batch, total_columns] built by concatenating its
// features column-wise in the order listed (a feature takes 1 column, one_hot K columns). Each
// feature is a request tensor of shape [batch] or [batch, 1]: numeric (any numeric datatype, BOOL
// as 0/1, converted to double) or BYTES for features encoded by one_hot/lookup. Request inputs not
// used as a feature pass through unchanged.
//
// Errors: Compile returns InvalidArgument naming the JSON path within the preprocessing document
// ("outputs[0].features[1].steps[0].std: must be > 0, got 0"; callers add the context, e.g.
// "preprocessing: "). Apply returns
// InvalidArgument naming the feature (missing feature, wrong shape or datatype, batch sizes that
// differ, log1p of a value <= -1).
//
// Usage:
//   HS_ASSIGN_OR_RETURN(Preprocessor pre, Preprocessor::Compile(version.preprocessing));
//   HS_RETURN_IF_ERROR(pre.CheckAgainst(model->schema()));        // at load time
//   HS_ASSIGN_OR_RETURN(inputs, pre.Apply(std::move(inputs)));    // per request
//
// Thread-safety: immutable after Compile; Apply is const and safe to call concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "domain/model.h"
#include "nlohmann/json.hpp"
#include "runtime/tensor.h"

namespace hotswap::runtime {

class Preprocessor {
 public:
  // A request tensor the pipeline reads.
  struct FeatureInput {
    std::string name;
    bool categorical = false;  // BYTES (one_hot/lookup); otherwise any numeric datatype
    bool operator==(const FeatureInput&) const = default;
  };

  // An empty pipeline (Apply passes inputs through).
  Preprocessor() = default;

  // `config` null means no preprocessing (empty pipeline).
  static absl::StatusOr<Preprocessor> Compile(const nlohmann::json& config);

  // Consumes `inputs`; returns the produced outputs (in config order) followed by the inputs that
  // no feature used (in request order).
  absl::StatusOr<std::vector<Tensor>> Apply(std::vector<Tensor>&& inputs) const;

  bool empty() const { return outputs_.empty(); }

  // Request-side schema: the feature tensors Apply expects, each name once, in first-use order.
  const std::vector<FeatureInput>& feature_inputs() const { return feature_inputs_; }
  // Names of the model inputs the pipeline produces, in config order.
  std::vector<std::string> output_names() const;
  // The schema a client sees: `model_schema` with produced inputs replaced by the feature inputs
  // (numeric features listed as FP32, categorical as BYTES; shape [-1]).
  domain::TensorSchema RequestSchema(const domain::TensorSchema& model_schema) const;
  // Load-time check that each produced output is a model input with the same datatype and a
  // shape [-1 or batch, total_columns] (or -1 columns).
  absl::Status CheckAgainst(const domain::TensorSchema& model_schema) const;

 private:
  enum class Op { kImpute, kStandardize, kMinMax, kClip, kLog1p };
  // A numeric step: x -> f(x). Parameters by op: impute (a = value), standardize (a = mean,
  // b = std), min_max (a = min, b = max), clip (a = min, b = max; ±inf when absent), log1p.
  struct NumericStep {
    Op op = Op::kImpute;
    double a = 0;
    double b = 0;
  };
  enum class Encoding { kNone, kOneHot, kLookup };
  struct Feature {
    std::string input;      // request tensor name
    size_t input_slot = 0;  // index into feature_inputs_
    // Categorical features (encoding != kNone): optional category for empty strings, then the
    // encoder; numeric features skip these.
    Encoding encoding = Encoding::kNone;
    std::optional<std::string> missing_category;
    absl::flat_hash_map<std::string, int64_t> vocabulary;  // category -> index
    double lookup_default = -1;
    std::vector<NumericStep> steps;  // applied in order (after lookup for categorical ones)
    size_t columns = 1;              // 1, or the vocabulary size for one_hot
    size_t offset = 0;               // first column in the output
  };
  struct Output {
    std::string name;
    domain::DataType datatype = domain::DataType::kFp32;
    std::vector<Feature> features;
    size_t columns = 0;
  };

  template <typename OutT>
  absl::Status FillOutput(const Output& output, const std::vector<Tensor>& inputs,
                          const std::vector<size_t>& input_of_slot, int64_t batch,
                          std::vector<double>* scratch, Tensor* out) const;

  std::vector<Output> outputs_;
  std::vector<FeatureInput> feature_inputs_;
};

}  // namespace hotswap::runtime
