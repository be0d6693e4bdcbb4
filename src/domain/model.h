// The product's domain model: Model, ModelVersion, Deployment and their value objects
// (TensorSchema, TrainingMetadata, PerformanceBaseline).
//
// Plain value types (copyable, no behaviour beyond validation and JSON). Not synchronised: share
// them between threads only as const. Every type has
//   std::vector<FieldError> Validate(const T&)  — every problem found, each with its field path,
//                                                  e.g. {"inputs[2].shape", "dimension -3 is invalid"}
//   nlohmann::json ToJson(const T&)
//   absl::StatusOr<T> T##FromJson(const nlohmann::json&) — InvalidArgument naming the field for
//                                                  wrong types or unknown enum values.
// JSON round-trip is lossless: FromJson(ToJson(x)) == x.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace hotswap::domain {

using Json = nlohmann::json;

// One validation problem: where (a JSON-path-like field path) and what.
struct FieldError {
  std::string path;
  std::string message;
  bool operator==(const FieldError&) const = default;
};
// "path: message; path: message" — for error messages.
std::string JoinFieldErrors(const std::vector<FieldError>& errors);
// InvalidArgument with JoinFieldErrors(errors) prefixed by `what`, or OK when errors is empty.
absl::Status FieldErrorsToStatus(std::string_view what, const std::vector<FieldError>& errors);

// KServe V2 tensor datatypes.
enum class DataType { kBool, kUint8, kUint16, kUint32, kUint64, kInt8, kInt16, kInt32, kInt64,
                      kFp16, kFp32, kFp64, kBytes };
std::string_view DataTypeName(DataType t);                        // "FP32"
std::optional<DataType> ParseDataType(std::string_view name);     // "FP32" -> kFp32
// Size of one element in bytes; 0 for BYTES (variable length).
size_t DataTypeSize(DataType t);

// One named tensor: datatype and shape; -1 marks a variable dimension.
struct TensorSpec {
  std::string name;
  DataType datatype = DataType::kFp32;
  std::vector<int64_t> shape;
  bool operator==(const TensorSpec&) const = default;
};

struct TensorSchema {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  bool operator==(const TensorSchema&) const = default;
};

// Rules: at least one input and one output; names non-empty and unique within inputs and within
// outputs; every dimension is -1 (variable) or >= 1; rank <= 8.
std::vector<FieldError> Validate(const TensorSchema& s);
Json ToJson(const TensorSchema& s);
absl::StatusOr<TensorSchema> TensorSchemaFromJson(const Json& j);

// How a version was trained.
struct TrainingMetadata {
  std::string framework;          // e.g. "sklearn", "pytorch"
  std::string framework_version;  // e.g. "1.3.2"
  std::string run_id;
  std::string code_commit;        // git SHA (7-40 hex) when set
  std::string dataset_uri;
  std::string dataset_sha256;     // 64 lower-case hex when set
  Json hyperparameters = Json::object();       // any JSON object; kept verbatim
  std::map<std::string, double> metrics;       // e.g. {"accuracy": 0.97}; finite values
  std::string created_by;
  bool operator==(const TrainingMetadata&) const = default;
};
std::vector<FieldError> Validate(const TrainingMetadata& t);
Json ToJson(const TrainingMetadata& t);
absl::StatusOr<TrainingMetadata> TrainingMetadataFromJson(const Json& j);

// A quality metric and how much of a drop is tolerated (absolute, same unit as value).
struct QualityMetric {
  std::string name;        // e.g. "accuracy"
  double value = 0;
  double tolerated_drop = 0;  // >= 0
  bool higher_is_better = true;
  bool operator==(const QualityMetric&) const = default;
};

// What production must hold for this version.
struct PerformanceBaseline {
  std::optional<double> latency_p50_ms;   // > 0
  std::optional<double> latency_p99_ms;   // > 0, >= p50 when both set
  std::optional<QualityMetric> quality;
  std::optional<double> min_throughput_rps;  // > 0
  bool operator==(const PerformanceBaseline&) const = default;
};
std::vector<FieldError> Validate(const PerformanceBaseline& b);
Json ToJson(const PerformanceBaseline& b);
absl::StatusOr<PerformanceBaseline> PerformanceBaselineFromJson(const Json& j);

enum class VersionStatus { kRegistered, kValidated, kApproved, kDeployed, kArchived };
std::string_view VersionStatusName(VersionStatus s);              // "registered"
std::optional<VersionStatus> ParseVersionStatus(std::string_view s);

// Frameworks a version's artifact may be in.
inline constexpr std::string_view kFrameworks[] = {"onnx", "tensorflow", "torchscript", "xgboost"};
bool IsKnownFramework(std::string_view f);

// A named model: the container of versions.
struct Model {
  std::string name;  // common/names.h rules
  std::string description;  // <= 4096 chars
  std::map<std::string, std::string> tags;  // keys follow name rules; values <= 256 chars
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  bool operator==(const Model&) const = default;
};
std::vector<FieldError> Validate(const Model& m);
Json ToJson(const Model& m);  // timestamps as RFC 3339 "created_at"/"updated_at"
absl::StatusOr<Model> ModelFromJson(const Json& j);

// One immutable artifact of a model plus its metadata.
struct ModelVersion {
  std::string model_name;
  int64_t version = 0;            // >= 1
  std::string framework;          // one of kFrameworks
  std::string sha256;             // artifact digest, 64 lower-case hex
  int64_t size_bytes = 0;         // >= 0
  VersionStatus status = VersionStatus::kRegistered;
  std::optional<TensorSchema> schema;
  std::optional<TrainingMetadata> training;
  std::optional<PerformanceBaseline> baseline;
  Json preprocessing = nullptr;   // declared feature preprocessing (serving issue); null = none
  std::map<std::string, std::string> tags;
  std::optional<int64_t> parent_version;  // lineage: the version this one derives from
  std::vector<std::string> aliases;       // derived from the registry's alias table (sorted)
  std::string created_by;                 // token name
  int64_t created_at_ms = 0;
  bool operator==(const ModelVersion&) const = default;
};
std::vector<FieldError> Validate(const ModelVersion& v);
Json ToJson(const ModelVersion& v);
absl::StatusOr<ModelVersion> ModelVersionFromJson(const Json& j);

// A model version deployed to a serving endpoint (the serving/rollout issues extend this).
struct Deployment {
  std::string id;            // non-empty
  std::string endpoint;      // name rules
  std::string model_name;
  int64_t version = 0;       // >= 1
  std::string strategy = "direct";  // direct|canary|blue-green|ab-test|shadow|rolling
  std::string state = "pending";    // pending|progressing|paused|promoting|succeeded|aborted|rolled_back|failed|undeployed,
                                    // and pending_approval|rejected|expired (docs/governance.md)
  std::string message;              // why it failed, or what it is doing; "" = nothing to say
  std::optional<int64_t> previous_version;  // the version the endpoint served before, if any
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  // Strategies other than direct: the rollout's options ("spec") and progress ("step",
  // "weights", "decisions", ...) as serving/rollout.h writes them; {} for direct deployments.
  Json rollout = Json::object();
  bool operator==(const Deployment&) const = default;
};
std::vector<FieldError> Validate(const Deployment& d);
Json ToJson(const Deployment& d);
absl::StatusOr<Deployment> DeploymentFromJson(const Json& j);

}  // namespace hotswap::domain
