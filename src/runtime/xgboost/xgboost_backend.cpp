#include "runtime/xgboost/xgboost_backend.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "nlohmann/json.hpp"
#include "runtime/feature_contributions.h"
#include "runtime/process_memory.h"

namespace hotswap::runtime {
namespace {

using Json = nlohmann::json;

// The message of the last failed XGBoost call on this thread.
std::string LastError() {
  const char* message = XGBGetLastError();
  std::string m = message ? message : "unknown XGBoost error";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

// Serialises loads so the RSS growth measured around one load is that load's.
ABSL_CONST_INIT absl::Mutex g_load_mu(absl::kConstInit);

struct BoosterDeleter {
  void operator()(void* booster) const { XGBoosterFree(booster); }
};
using BoosterPtr = std::unique_ptr<void, BoosterDeleter>;
struct DMatrixDeleter {
  void operator()(void* m) const { XGDMatrixFree(m); }
};
using DMatrixPtr = std::unique_ptr<void, DMatrixDeleter>;

// How the booster's predictions become outputs.
enum class Task {
  kBinaryProbability,  // binary:logistic: p -> label, [1-p, p]
  kMultiProbability,   // multi:softprob: probabilities -> label, probabilities
  kMultiSoftmax,       // multi:softmax: margins -> softmax -> label, probabilities
  kPredictions,        // everything else: predictions as XGBoost transforms them
};

// __array_interface__ (version 3) of a dense row-major float32 matrix.
std::string ArrayInterface(const float* data, int64_t rows, int64_t cols) {
  return absl::StrCat(R"({"data":[)", reinterpret_cast<uintptr_t>(data), R"(,true],"shape":[)",
                      rows, ",", cols, R"(],"typestr":"<f4","version":3})");
}

// type 0: the transformed prediction, 1: margins, 2: contributions.
std::string PredictConfig(int type, bool strict_shape) {
  return absl::StrCat(R"({"type":)", type,
                      R"(,"training":false,"iteration_begin":0,"iteration_end":0,"strict_shape":)",
                      strict_shape ? "true" : "false", R"(,"missing":NaN,"cache_id":0})");
}

class XgboostModel : public LoadedModel, public FeatureContributions {
 public:
  XgboostModel(BoosterPtr booster, Task task, int64_t features, int64_t classes, int64_t targets,
               int threads, domain::TensorSchema schema, int64_t memory_bytes)
      : booster_(std::move(booster)),
        task_(task),
        features_(features),
        classes_(classes),
        targets_(targets),
        threads_(threads),
        schema_(std::move(schema)),
        memory_bytes_(memory_bytes) {}

  const domain::TensorSchema& schema() const override { return schema_; }
  int64_t memory_bytes() const override { return memory_bytes_; }

  absl::Status Run(const std::vector<Tensor>& inputs, const std::vector<std::string>& output_names,
                   std::vector<Tensor>* outputs) const override;
  absl::StatusOr<Tensor> Contributions(const std::vector<Tensor>& inputs) const override;

  // One prediction on a row of zeros: configures the booster before it is shared.
  absl::Status Prime() const {
    std::vector<Tensor> outputs;
    Tensor row{"input", domain::DataType::kFp32, {1, features_},
               std::string(static_cast<size_t>(features_) * sizeof(float), '\0')};
    return Run({row}, {}, &outputs);
  }

 private:
  // Checks `inputs` is one FP32 [rows, features] tensor named "input"; returns rows.
  absl::StatusOr<int64_t> CheckInput(const std::vector<Tensor>& inputs) const;

  BoosterPtr booster_;
  const Task task_;
  const int64_t features_;
  const int64_t classes_;  // classifiers: number of classes (2 for binary)
  const int64_t targets_;  // kPredictions: values per row
  const int threads_;
  const domain::TensorSchema schema_;
  const int64_t memory_bytes_;
};

absl::StatusOr<int64_t> XgboostModel::CheckInput(const std::vector<Tensor>& inputs) const {
  if (inputs.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("an XGBoost model takes one input ('input'), got ", inputs.size()));
  }
  const Tensor& t = inputs[0];
  if (t.name != "input") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown input '", t.name, "'; the model's input is 'input'"));
  }
  if (t.datatype != domain::DataType::kFp32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input 'input' must be FP32, got ", ToAbsl(domain::DataTypeName(t.datatype))));
  }
  if (t.shape.size() != 2 || t.shape[1] != features_ || t.shape[0] < 0) {
    return absl::InvalidArgumentError(absl::StrCat("input 'input' must have shape [-1,", features_,
                                                   "], got ", ShapeString(t.shape)));
  }
  const int64_t rows = t.shape[0];
  if (rows > 0 && features_ > std::numeric_limits<int64_t>::max() / 4 / rows) {
    return absl::InvalidArgumentError("input 'input' is too large");
  }
  if (static_cast<int64_t>(t.data.size()) != rows * features_ * 4) {
    return absl::InvalidArgumentError(absl::StrCat("input 'input' holds ", t.data.size(),
                                                   " bytes; shape ", ShapeString(t.shape),
                                                   " needs ", rows * features_ * 4));
  }
  return rows;
}

template <typename T>
Tensor MakeOutput(std::string name, domain::DataType datatype, std::vector<int64_t> shape,
                  const T* values, size_t count) {
  Tensor t{std::move(name), datatype, std::move(shape), std::string(count * sizeof(T), '\0')};
  if (count > 0) std::memcpy(t.data.data(), values, count * sizeof(T));
  return t;
}

absl::Status XgboostModel::Run(const std::vector<Tensor>& inputs,
                               const std::vector<std::string>& output_names,
                               std::vector<Tensor>* outputs) const {
  if (outputs == nullptr) return absl::InvalidArgumentError("Run: outputs is null");
  HS_ASSIGN_OR_RETURN(const int64_t rows, CheckInput(inputs));
  for (const std::string& name : output_names) {
    if (std::none_of(schema_.outputs.begin(), schema_.outputs.end(),
                     [&](const domain::TensorSpec& s) { return s.name == name; })) {
      std::string names;
      for (const auto& s : schema_.outputs) absl::StrAppend(&names, names.empty() ? "" : ", ", s.name);
      return absl::InvalidArgumentError(
          absl::StrCat("unknown output '", name, "'; the model's outputs are: ", names));
    }
  }

  // Values per row XGBoost returns, and the raw predictions.
  const int64_t per_row = task_ == Task::kBinaryProbability ? 1
                          : task_ == Task::kPredictions     ? targets_
                                                            : classes_;
  std::vector<float> raw;
  if (rows > 0) {
    const std::string array = ArrayInterface(inputs[0].As<float>(), rows, features_);
    static const std::string kTransformed = PredictConfig(0, /*strict_shape=*/true);
    static const std::string kMargins = PredictConfig(1, /*strict_shape=*/true);
    const bst_ulong* shape = nullptr;
    bst_ulong dims = 0;
    const float* result = nullptr;
    if (XGBoosterPredictFromDense(booster_.get(), array.c_str(),
                                  (task_ == Task::kMultiSoftmax ? kMargins : kTransformed).c_str(),
                                  nullptr, &shape, &dims, &result) != 0) {
      return absl::InternalError(absl::StrCat("XGBoost failed to predict: ", LastError()));
    }
    bst_ulong count = 1;
    for (bst_ulong d = 0; d < dims; ++d) count *= shape[d];
    if (static_cast<int64_t>(count) != rows * per_row) {
      return absl::InternalError(absl::StrCat("XGBoost returned ", count, " values for ", rows,
                                              " rows; expected ", per_row, " per row"));
    }
    raw.assign(result, result + count);  // the buffer is the thread's until its next predict
  }

  // Every output, then the requested ones in the order requested.
  std::vector<Tensor> all;
  if (task_ == Task::kPredictions) {
    std::vector<int64_t> shape = targets_ == 1 ? std::vector<int64_t>{rows}
                                               : std::vector<int64_t>{rows, targets_};
    all.push_back(MakeOutput("predictions", domain::DataType::kFp32, std::move(shape), raw.data(),
                             raw.size()));
  } else {
    std::vector<float> probabilities(static_cast<size_t>(rows * classes_));
    std::vector<int64_t> labels(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      float* p = probabilities.data() + r * classes_;
      if (task_ == Task::kBinaryProbability) {
        p[0] = 1.0f - raw[r];
        p[1] = raw[r];
        labels[r] = raw[r] > 0.5f ? 1 : 0;
        continue;
      }
      const float* in = raw.data() + r * classes_;
      if (task_ == Task::kMultiSoftmax) {
        const float top = *std::max_element(in, in + classes_);
        double sum = 0;
        for (int64_t c = 0; c < classes_; ++c) sum += std::exp(static_cast<double>(in[c] - top));
        for (int64_t c = 0; c < classes_; ++c) {
          p[c] = static_cast<float>(std::exp(static_cast<double>(in[c] - top)) / sum);
        }
      } else {
        std::copy(in, in + classes_, p);
      }
      labels[r] = std::max_element(p, p + classes_) - p;
    }
    all.push_back(MakeOutput("label", domain::DataType::kInt64, {rows}, labels.data(),
                             labels.size()));
    all.push_back(MakeOutput("probabilities", domain::DataType::kFp32, {rows, classes_},
                             probabilities.data(), probabilities.size()));
  }
  if (output_names.empty()) {
    for (Tensor& t : all) outputs->push_back(std::move(t));
    return absl::OkStatus();
  }
  for (const std::string& name : output_names) {
    for (const Tensor& t : all) {
      if (t.name == name) outputs->push_back(t);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> XgboostModel::Contributions(const std::vector<Tensor>& inputs) const {
  HS_ASSIGN_OR_RETURN(const int64_t rows, CheckInput(inputs));
  const int64_t groups = task_ == Task::kBinaryProbability ? 1
                         : task_ == Task::kPredictions     ? targets_
                                                           : classes_;
  std::vector<int64_t> shape = groups == 1 ? std::vector<int64_t>{rows, features_ + 1}
                                           : std::vector<int64_t>{rows, groups, features_ + 1};
  Tensor out{"contributions", domain::DataType::kFp32, shape, {}};
  if (rows == 0) return out;
  // Contributions need a DMatrix (XGBoost has no in-place path for them).
  const std::string array = ArrayInterface(inputs[0].As<float>(), rows, features_);
  const std::string config = absl::StrCat(R"({"missing":NaN,"nthread":)", threads_, "}");
  DMatrixHandle raw_matrix = nullptr;
  if (XGDMatrixCreateFromDense(array.c_str(), config.c_str(), &raw_matrix) != 0) {
    return absl::InternalError(absl::StrCat("XGBoost could not take the input: ", LastError()));
  }
  DMatrixPtr matrix(raw_matrix);
  static const std::string kContributions = PredictConfig(2, /*strict_shape=*/false);
  const bst_ulong* result_shape = nullptr;
  bst_ulong dims = 0;
  const float* result = nullptr;
  if (XGBoosterPredictFromDMatrix(booster_.get(), matrix.get(), kContributions.c_str(),
                                  &result_shape, &dims, &result) != 0) {
    return absl::InternalError(
        absl::StrCat("XGBoost failed to compute contributions: ", LastError()));
  }
  bst_ulong count = 1;
  for (bst_ulong d = 0; d < dims; ++d) count *= result_shape[d];
  if (static_cast<int64_t>(count) != ElementCount(shape)) {
    return absl::InternalError(absl::StrCat("XGBoost returned ", count, " contributions; expected ",
                                            ElementCount(shape)));
  }
  out.data.assign(reinterpret_cast<const char*>(result), count * sizeof(float));
  return out;
}

// The booster's configuration as JSON.
absl::StatusOr<Json> BoosterConfig(void* booster) {
  bst_ulong length = 0;
  const char* text = nullptr;
  if (XGBoosterSaveJsonConfig(booster, &length, &text) != 0) {
    return absl::InternalError(absl::StrCat("reading the booster's configuration: ", LastError()));
  }
  Json config = Json::parse(text, text + length, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) {
    return absl::InternalError("the booster's configuration is not JSON");
  }
  return config;
}

// XGBoost keeps numbers in its configuration as strings.
int64_t ConfigInt(const Json& j, std::initializer_list<const char*> path, int64_t fallback) {
  const Json* at = &j;
  for (const char* key : path) {
    if (!at->is_object() || !at->contains(key)) return fallback;
    at = &(*at)[key];
  }
  if (at->is_number_integer()) return at->get<int64_t>();
  if (!at->is_string()) return fallback;
  const std::string s = at->get<std::string>();
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  return end != s.c_str() ? v : fallback;
}

std::string ConfigString(const Json& j, std::initializer_list<const char*> path) {
  const Json* at = &j;
  for (const char* key : path) {
    if (!at->is_object() || !at->contains(key)) return "";
    at = &(*at)[key];
  }
  return at->is_string() ? at->get<std::string>() : "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<XgboostBackend>> XgboostBackend::Create() {
  return std::unique_ptr<XgboostBackend>(new XgboostBackend());
}

std::string XgboostBackend::version() const {
  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  return absl::StrCat("xgboost ", major, ".", minor, ".", patch);
}

absl::StatusOr<std::unique_ptr<LoadedModel>> XgboostBackend::Load(const std::string& artifact_path,
                                                                  const LoadOptions& options) {
  if (options.intra_op_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("intra_op_threads must be >= 1, got ", options.intra_op_threads));
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(artifact_path, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("model artifact '", artifact_path, "' does not exist or is not a file"));
  }
  std::ifstream in(artifact_path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return absl::FailedPreconditionError(
        absl::StrCat("model artifact '", artifact_path, "' cannot be read"));
  }
  if (bytes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model artifact '", artifact_path, "' is empty, not an XGBoost model"));
  }

  BoosterPtr booster;
  int64_t memory_bytes = 0;
  {
    absl::MutexLock lock(&g_load_mu);
    const int64_t rss_before = ResidentSetBytes();
    BoosterHandle raw = nullptr;
    if (XGBoosterCreate(nullptr, 0, &raw) != 0) {
      return absl::InternalError(absl::StrCat("creating an XGBoost booster: ", LastError()));
    }
    booster.reset(raw);
    if (XGBoosterLoadModelFromBuffer(booster.get(), bytes.data(), bytes.size()) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("XGBoost cannot load '", artifact_path,
                                                     "': ", LastError()));
    }
    bytes.clear();
    bytes.shrink_to_fit();
    const std::string threads = std::to_string(options.intra_op_threads);
    if (XGBoosterSetParam(booster.get(), "nthread", threads.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("setting nthread: ", LastError()));
    }
    memory_bytes = ResidentSetBytes() - rss_before;
  }
  memory_bytes = std::max<int64_t>(
      memory_bytes, static_cast<int64_t>(std::filesystem::file_size(artifact_path, ec)));

  HS_ASSIGN_OR_RETURN(const Json config, BoosterConfig(booster.get()));
  const std::string booster_kind = ConfigString(config, {"learner", "gradient_booster", "name"});
  if (booster_kind != "gbtree" && booster_kind != "dart") {
    return absl::FailedPreconditionError(absl::StrCat(
        "booster '", booster_kind, "' is not a tree ensemble (gbtree or dart); HotSwap serves "
        "tree boosters"));
  }
  bst_ulong features = 0;
  if (XGBoosterGetNumFeature(booster.get(), &features) != 0) {
    return absl::InternalError(absl::StrCat("reading num_feature: ", LastError()));
  }
  if (features == 0) {
    return absl::FailedPreconditionError("the booster has no features (num_feature is 0)");
  }
  const std::string objective = ConfigString(config, {"learner", "objective", "name"});
  const int64_t num_class =
      ConfigInt(config, {"learner", "learner_model_param", "num_class"}, 0);
  const int64_t targets =
      std::max<int64_t>(1, ConfigInt(config, {"learner", "learner_model_param", "num_target"}, 1));

  Task task = Task::kPredictions;
  int64_t classes = 0;
  if (objective == "binary:logistic") {
    task = Task::kBinaryProbability;
    classes = 2;
  } else if (objective == "multi:softprob" || objective == "multi:softmax") {
    if (num_class < 2) {
      return absl::FailedPreconditionError(
          absl::StrCat(objective, " booster with num_class ", num_class));
    }
    task = objective == "multi:softprob" ? Task::kMultiProbability : Task::kMultiSoftmax;
    classes = num_class;
  }

  const int64_t f = static_cast<int64_t>(features);
  domain::TensorSchema schema;
  schema.inputs = {domain::TensorSpec{"input", domain::DataType::kFp32, {-1, f}}};
  if (task == Task::kPredictions) {
    schema.outputs = {domain::TensorSpec{"predictions", domain::DataType::kFp32,
                                         targets == 1 ? std::vector<int64_t>{-1}
                                                      : std::vector<int64_t>{-1, targets}}};
  } else {
    schema.outputs = {domain::TensorSpec{"label", domain::DataType::kInt64, {-1}},
                      domain::TensorSpec{"probabilities", domain::DataType::kFp32, {-1, classes}}};
  }
  auto model = std::make_unique<XgboostModel>(std::move(booster), task, f, classes, targets,
                                              options.intra_op_threads, std::move(schema),
                                              memory_bytes);
  if (absl::Status s = model->Prime(); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the booster failed its first prediction: ", s.message()));
  }
  return std::unique_ptr<LoadedModel>(std::move(model));
}

}  // namespace hotswap::runtime
