#include "domain/model.h"

#include <cmath>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hotswap::domain {

// Readable failure output for FieldError lists.
void PrintTo(const FieldError& e, std::ostream* os) {
  *os << "{" << e.path << ": " << e.message << "}";
}

namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

MATCHER_P2(ErrorAt, path, message_matcher, "") {
  return arg.path == path &&
         ::testing::ExplainMatchResult(message_matcher, arg.message, result_listener);
}
MATCHER_P(PathIs, path, "") { return arg.path == path; }

const std::string kSha(64, 'a');
const std::string kOtherSha =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- Fixtures: fully populated, valid objects ---------------------------------------------------

TensorSchema FullSchema() {
  TensorSchema s;
  s.inputs = {{"x", DataType::kFp32, {-1, 4}}, {"mask", DataType::kBool, {-1, 4}}};
  s.outputs = {{"label", DataType::kInt64, {-1}}, {"probabilities", DataType::kFp64, {-1, 3}}};
  return s;
}

TrainingMetadata FullTraining() {
  TrainingMetadata t;
  t.framework = "sklearn";
  t.framework_version = "1.3.2";
  t.run_id = "run-42";
  t.code_commit = "0123456789abcdef0123456789abcdef01234567";
  t.dataset_uri = "s3://data/iris.csv";
  t.dataset_sha256 = kOtherSha;
  t.hyperparameters = Json::parse(
      R"({"lr": 0.001, "layers": [64, 32], "optimizer": {"name": "adam"}, "seed": null})");
  t.metrics = {{"accuracy", 0.97}, {"f1", 0.955}, {"loss", 0.0123456789012345}};
  t.created_by = "ci-bot";
  return t;
}

PerformanceBaseline FullBaseline() {
  PerformanceBaseline b;
  b.latency_p50_ms = 2.5;
  b.latency_p99_ms = 11.75;
  b.quality = QualityMetric{"accuracy", 0.97, 0.01, true};
  b.min_throughput_rps = 250;
  return b;
}

Model FullModel() {
  Model m;
  m.name = "iris-classifier";
  m.description = "Classifies iris flowers. «Unicode» welcome.";
  m.tags = {{"team", "ml-platform"}, {"tier", "gold"}};
  m.created_at_ms = 1'700'000'000'123;
  m.updated_at_ms = 1'700'000'360'456;
  return m;
}

ModelVersion FullVersion() {
  ModelVersion v;
  v.model_name = "iris-classifier";
  v.version = 3;
  v.framework = "onnx";
  v.sha256 = kOtherSha;
  v.size_bytes = 123456;
  v.status = VersionStatus::kDeployed;
  v.schema = FullSchema();
  v.training = FullTraining();
  v.baseline = FullBaseline();
  v.preprocessing = Json::parse(R"({"steps": [{"op": "standardize", "mean": [5.8, 3.0]}]})");
  v.tags = {{"stage", "prod"}};
  v.parent_version = 2;
  v.aliases = {"production", "stable"};
  v.created_by = "alice";
  v.created_at_ms = 1'700'000'000'999;
  return v;
}

// Only what Validate requires.
ModelVersion MinimalValidVersion() {
  ModelVersion v;
  v.model_name = "iris";
  v.version = 1;
  v.framework = "xgboost";
  v.sha256 = kSha;
  return v;
}

Deployment FullDeployment() {
  Deployment d;
  d.id = "dep-7f3a";
  d.endpoint = "iris-prod";
  d.model_name = "iris-classifier";
  d.version = 3;
  d.strategy = "canary";
  d.state = "progressing";
  d.created_at_ms = 1'700'000'000'000;
  d.updated_at_ms = 1'700'000'060'001;
  return d;
}

// Round trip through the JSON value and through its text form.
template <typename T>
void ExpectRoundTrip(const T& x, std::function<absl::StatusOr<T>(const Json&)> from_json) {
  absl::StatusOr<T> direct = from_json(ToJson(x));
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(*direct, x);
  absl::StatusOr<T> via_text = from_json(Json::parse(ToJson(x).dump()));
  ASSERT_TRUE(via_text.ok()) << via_text.status();
  EXPECT_EQ(*via_text, x);
}

bool ContainsNull(const Json& j) {
  if (j.is_null()) return true;
  if (j.is_structured()) {
    for (const Json& child : j) {
      if (ContainsNull(child)) return true;
    }
  }
  return false;
}

// ---- Enums and helpers --------------------------------------------------------------------------

TEST(DataTypeTest, NamesAreKServeStringsThatParseBack) {
  const std::vector<std::pair<DataType, std::string>> all = {
      {DataType::kBool, "BOOL"},     {DataType::kUint8, "UINT8"},   {DataType::kUint16, "UINT16"},
      {DataType::kUint32, "UINT32"}, {DataType::kUint64, "UINT64"}, {DataType::kInt8, "INT8"},
      {DataType::kInt16, "INT16"},   {DataType::kInt32, "INT32"},   {DataType::kInt64, "INT64"},
      {DataType::kFp16, "FP16"},     {DataType::kFp32, "FP32"},     {DataType::kFp64, "FP64"},
      {DataType::kBytes, "BYTES"}};
  for (const auto& [type, name] : all) {
    EXPECT_EQ(DataTypeName(type), name);
    EXPECT_EQ(ParseDataType(name), type) << name;
  }
}

TEST(DataTypeTest, ParseRejectsUnknownAndWrongCaseNames) {
  EXPECT_EQ(ParseDataType("fp32"), std::nullopt);
  EXPECT_EQ(ParseDataType("FP33"), std::nullopt);
  EXPECT_EQ(ParseDataType(""), std::nullopt);
  EXPECT_EQ(ParseDataType("FP32 "), std::nullopt);
  EXPECT_EQ(ParseDataType("STRING"), std::nullopt);
}

TEST(DataTypeTest, SizeIsElementWidthAndZeroForVariableLengthBytes) {
  EXPECT_EQ(DataTypeSize(DataType::kBool), 1u);
  EXPECT_EQ(DataTypeSize(DataType::kUint8), 1u);
  EXPECT_EQ(DataTypeSize(DataType::kInt8), 1u);
  EXPECT_EQ(DataTypeSize(DataType::kUint16), 2u);
  EXPECT_EQ(DataTypeSize(DataType::kInt16), 2u);
  EXPECT_EQ(DataTypeSize(DataType::kFp16), 2u);
  EXPECT_EQ(DataTypeSize(DataType::kUint32), 4u);
  EXPECT_EQ(DataTypeSize(DataType::kInt32), 4u);
  EXPECT_EQ(DataTypeSize(DataType::kFp32), 4u);
  EXPECT_EQ(DataTypeSize(DataType::kUint64), 8u);
  EXPECT_EQ(DataTypeSize(DataType::kInt64), 8u);
  EXPECT_EQ(DataTypeSize(DataType::kFp64), 8u);
  EXPECT_EQ(DataTypeSize(DataType::kBytes), 0u);
}

TEST(VersionStatusTest, NamesAreLowerCaseAndParseBack) {
  const std::vector<std::pair<VersionStatus, std::string>> all = {
      {VersionStatus::kRegistered, "registered"}, {VersionStatus::kValidated, "validated"},
      {VersionStatus::kApproved, "approved"},     {VersionStatus::kDeployed, "deployed"},
      {VersionStatus::kArchived, "archived"}};
  for (const auto& [status, name] : all) {
    EXPECT_EQ(VersionStatusName(status), name);
    EXPECT_EQ(ParseVersionStatus(name), status);
  }
  EXPECT_EQ(ParseVersionStatus("Registered"), std::nullopt);
  EXPECT_EQ(ParseVersionStatus("retired"), std::nullopt);
}

TEST(FrameworkTest, OnlyListedFrameworksAreKnown) {
  for (std::string_view f : kFrameworks) EXPECT_TRUE(IsKnownFramework(f)) << f;
  EXPECT_FALSE(IsKnownFramework("pytorch"));
  EXPECT_FALSE(IsKnownFramework("ONNX"));
  EXPECT_FALSE(IsKnownFramework(""));
}

TEST(FieldErrorTest, JoinSeparatesPathAndMessageWithSemicolons) {
  EXPECT_EQ(JoinFieldErrors({}), "");
  EXPECT_EQ(JoinFieldErrors({{"name", "must not be empty"},
                             {"inputs[2].shape", "dimension -3 is invalid"}}),
            "name: must not be empty; inputs[2].shape: dimension -3 is invalid");
  EXPECT_EQ(JoinFieldErrors({{"", "whole object is wrong"}}), "whole object is wrong");
}

TEST(FieldErrorTest, ToStatusIsOkWhenEmptyAndInvalidArgumentPrefixedOtherwise) {
  EXPECT_TRUE(FieldErrorsToStatus("model", {}).ok());
  absl::Status s = FieldErrorsToStatus("invalid model", {{"name", "must not be empty"},
                                                         {"tags.a b", "bad"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "invalid model: name: must not be empty; tags.a b: bad");
}

// ---- TensorSchema validation --------------------------------------------------------------------

TEST(TensorSchemaTest, FullSchemaIsValid) { EXPECT_THAT(Validate(FullSchema()), IsEmpty()); }

TEST(TensorSchemaTest, RequiresAtLeastOneInputAndOneOutput) {
  EXPECT_THAT(Validate(TensorSchema{}),
              ElementsAre(ErrorAt("inputs", HasSubstr("at least one input")),
                          ErrorAt("outputs", HasSubstr("at least one output"))));
}

TEST(TensorSchemaTest, RejectsNegativeDimensionWithFieldPath) {
  TensorSchema s = FullSchema();
  s.inputs.push_back({"z", DataType::kFp32, {2, -3}});
  EXPECT_THAT(Validate(s), ElementsAre(FieldError{"inputs[2].shape", "dimension -3 is invalid"}));
}

TEST(TensorSchemaTest, RejectsZeroDimensionInOutputs) {
  TensorSchema s = FullSchema();
  s.outputs[1].shape = {0, 3};
  EXPECT_THAT(Validate(s), ElementsAre(FieldError{"outputs[1].shape", "dimension 0 is invalid"}));
}

TEST(TensorSchemaTest, AcceptsVariableDimensionsAndScalars) {
  TensorSchema s;
  s.inputs = {{"scalar", DataType::kFp64, {}}, {"batch", DataType::kBytes, {-1, -1, 1}}};
  s.outputs = {{"y", DataType::kFp32, {-1}}};
  EXPECT_THAT(Validate(s), IsEmpty());
}

TEST(TensorSchemaTest, AllowsRankEightAndRejectsRankNine) {
  TensorSchema s = FullSchema();
  s.inputs[0].shape = std::vector<int64_t>(8, 2);
  EXPECT_THAT(Validate(s), IsEmpty());
  s.inputs[0].shape = std::vector<int64_t>(9, 2);
  EXPECT_THAT(Validate(s), ElementsAre(ErrorAt("inputs[0].shape", HasSubstr("rank 9"))));
}

TEST(TensorSchemaTest, RejectsDuplicateNamesWithinOneListButNotAcrossLists) {
  TensorSchema s;
  s.inputs = {{"y", DataType::kFp32, {1}}};
  s.outputs = {{"y", DataType::kFp32, {1}}, {"y", DataType::kFp32, {1}}};
  EXPECT_THAT(Validate(s), ElementsAre(FieldError{"outputs[1].name", "duplicate name 'y'"}));
}

TEST(TensorSchemaTest, RejectsEmptyTensorNames) {
  TensorSchema s = FullSchema();
  s.inputs[1].name = "";
  EXPECT_THAT(Validate(s), ElementsAre(FieldError{"inputs[1].name", "must not be empty"}));
}

TEST(TensorSchemaTest, ReportsEveryProblemNotJustTheFirst) {
  TensorSchema s;
  s.inputs = {{"", DataType::kFp32, {-2}}, {"a", DataType::kFp32, std::vector<int64_t>(9, 1)}};
  EXPECT_THAT(Validate(s), ElementsAre(PathIs("inputs[0].name"), PathIs("inputs[0].shape"),
                                       PathIs("inputs[1].shape"), PathIs("outputs")));
}

// ---- TrainingMetadata validation ----------------------------------------------------------------

TEST(TrainingMetadataTest, FullAndEmptyMetadataAreValid) {
  EXPECT_THAT(Validate(FullTraining()), IsEmpty());
  EXPECT_THAT(Validate(TrainingMetadata{}), IsEmpty());
}

TEST(TrainingMetadataTest, CodeCommitMustBeSevenToFortyHex) {
  TrainingMetadata t;
  for (const std::string& ok :
       std::vector<std::string>{"abcdef0", "ABCDEF0123", std::string(40, 'f')}) {
    t.code_commit = ok;
    EXPECT_THAT(Validate(t), IsEmpty()) << ok;
  }
  for (const std::string& bad :
       std::vector<std::string>{"abcdef", std::string(41, 'a'), "abcdefg", "1234567 "}) {
    t.code_commit = bad;
    EXPECT_THAT(Validate(t), ElementsAre(PathIs("code_commit"))) << bad;
  }
}

TEST(TrainingMetadataTest, DatasetShaMustBe64LowerCaseHex) {
  TrainingMetadata t;
  t.dataset_sha256 = std::string(64, 'A');
  EXPECT_THAT(Validate(t), ElementsAre(ErrorAt("dataset_sha256", HasSubstr("64 lower-case hex"))));
  t.dataset_sha256 = std::string(63, 'a');
  EXPECT_THAT(Validate(t), ElementsAre(PathIs("dataset_sha256")));
  t.dataset_sha256 = kSha;
  EXPECT_THAT(Validate(t), IsEmpty());
}

TEST(TrainingMetadataTest, HyperparametersMustBeAJsonObject) {
  TrainingMetadata t;
  t.hyperparameters = Json::array({1, 2});
  EXPECT_THAT(Validate(t), ElementsAre(FieldError{"hyperparameters",
                                                  "must be a JSON object, got array"}));
  t.hyperparameters = nullptr;
  EXPECT_THAT(Validate(t), ElementsAre(PathIs("hyperparameters")));
}

TEST(TrainingMetadataTest, MetricsMustBeFiniteAndNamed) {
  TrainingMetadata t;
  t.metrics = {{"accuracy", kNaN}, {"loss", -kInf}, {"ok", 1.0}, {"", 0.5}};
  EXPECT_THAT(Validate(t), ElementsAre(ErrorAt("metrics.", HasSubstr("name must not be empty")),
                                       ErrorAt("metrics.accuracy", HasSubstr("finite")),
                                       ErrorAt("metrics.loss", HasSubstr("finite"))));
}

// ---- PerformanceBaseline validation -------------------------------------------------------------

TEST(PerformanceBaselineTest, FullAndEmptyBaselinesAreValid) {
  EXPECT_THAT(Validate(FullBaseline()), IsEmpty());
  EXPECT_THAT(Validate(PerformanceBaseline{}), IsEmpty());
}

TEST(PerformanceBaselineTest, RejectsNonPositiveOrNonFiniteValues) {
  PerformanceBaseline b;
  b.latency_p50_ms = 0;
  b.latency_p99_ms = kNaN;
  b.min_throughput_rps = -5;
  EXPECT_THAT(Validate(b), ElementsAre(ErrorAt("latency_p50_ms", HasSubstr("> 0")),
                                       ErrorAt("latency_p99_ms", HasSubstr("> 0")),
                                       ErrorAt("min_throughput_rps", HasSubstr("> 0"))));
  b = PerformanceBaseline{};
  b.latency_p99_ms = kInf;
  EXPECT_THAT(Validate(b), ElementsAre(PathIs("latency_p99_ms")));
}

TEST(PerformanceBaselineTest, RejectsP99BelowP50) {
  PerformanceBaseline b;
  b.latency_p50_ms = 10;
  b.latency_p99_ms = 9.5;
  EXPECT_THAT(Validate(b),
              ElementsAre(FieldError{"latency_p99_ms", "must be >= latency_p50_ms"}));
  b.latency_p99_ms = 10;
  EXPECT_THAT(Validate(b), IsEmpty());
}

TEST(PerformanceBaselineTest, QualityNeedsNameFiniteValueAndNonNegativeDrop) {
  PerformanceBaseline b;
  b.quality = QualityMetric{"", kInf, -0.1, false};
  EXPECT_THAT(Validate(b), ElementsAre(FieldError{"quality.name", "must not be empty"},
                                       ErrorAt("quality.value", HasSubstr("finite")),
                                       ErrorAt("quality.tolerated_drop", HasSubstr(">= 0"))));
  b.quality = QualityMetric{"auc", 0.9, kNaN, true};
  EXPECT_THAT(Validate(b), ElementsAre(PathIs("quality.tolerated_drop")));
  b.quality = QualityMetric{"auc", 0.9, 0, true};
  EXPECT_THAT(Validate(b), IsEmpty());
}

// ---- Model validation ---------------------------------------------------------------------------

TEST(ModelTest, FullModelIsValid) { EXPECT_THAT(Validate(FullModel()), IsEmpty()); }

TEST(ModelTest, NameFollowsNameRulesReportedUnderName) {
  Model m = FullModel();
  for (std::string bad : {std::string(), std::string("-leading"), std::string("has space"),
                          std::string("slash/name"), std::string(129, 'a')}) {
    m.name = bad;
    std::vector<FieldError> errors = Validate(m);
    ASSERT_THAT(errors, ElementsAre(PathIs("name"))) << bad;
    // The path is not repeated inside the message.
    EXPECT_THAT(errors[0].message, Not(HasSubstr("name:")));
  }
  m.name = std::string(128, 'a');
  EXPECT_THAT(Validate(m), IsEmpty());
  m.name = "v1.2_final-B";
  EXPECT_THAT(Validate(m), IsEmpty());
}

TEST(ModelTest, DescriptionIsLimitedTo4096Characters) {
  Model m = FullModel();
  m.description = std::string(4096, 'd');
  EXPECT_THAT(Validate(m), IsEmpty());
  m.description.push_back('d');
  EXPECT_THAT(Validate(m), ElementsAre(ErrorAt("description", HasSubstr("4096"))));
  // Characters, not bytes: 4096 two-byte characters are fine.
  m.description.clear();
  for (int i = 0; i < 4096; ++i) m.description += "é";
  EXPECT_THAT(Validate(m), IsEmpty());
}

TEST(ModelTest, TagKeysFollowNameRulesAndValuesAreAtMost256Characters) {
  Model m = FullModel();
  m.tags = {{"ok", std::string(256, 'v')},
            {"bad key", "v"},
            {"long", std::string(257, 'v')},
            {"", "empty key"}};
  EXPECT_THAT(Validate(m), ElementsAre(ErrorAt("tags.", HasSubstr("must not be empty")),
                                       ErrorAt("tags.bad key", HasSubstr("may contain only")),
                                       ErrorAt("tags.long", HasSubstr("256"))));
}

// ---- ModelVersion validation --------------------------------------------------------------------

TEST(ModelVersionTest, FullAndMinimalVersionsAreValid) {
  EXPECT_THAT(Validate(FullVersion()), IsEmpty());
  EXPECT_THAT(Validate(MinimalValidVersion()), IsEmpty());
  for (std::string_view f : kFrameworks) {
    ModelVersion v = MinimalValidVersion();
    v.framework = std::string(f);
    EXPECT_THAT(Validate(v), IsEmpty()) << f;
  }
}

TEST(ModelVersionTest, DefaultVersionReportsEveryCoreFieldProblem) {
  ModelVersion v;
  v.size_bytes = -1;
  EXPECT_THAT(Validate(v), ElementsAre(PathIs("model_name"), ErrorAt("version", HasSubstr(">= 1")),
                                       ErrorAt("framework", HasSubstr("onnx, tensorflow")),
                                       ErrorAt("sha256", HasSubstr("64 lower-case hex")),
                                       ErrorAt("size_bytes", HasSubstr(">= 0"))));
}

TEST(ModelVersionTest, RejectsUpperCaseSha256AndUnknownFramework) {
  ModelVersion v = MinimalValidVersion();
  v.sha256 = std::string(64, 'F');
  v.framework = "pytorch";
  EXPECT_THAT(Validate(v), ElementsAre(ErrorAt("framework", HasSubstr("'pytorch'")),
                                       PathIs("sha256")));
}

TEST(ModelVersionTest, ParentVersionMustBePositiveAndBelowVersion) {
  ModelVersion v = MinimalValidVersion();
  v.version = 5;
  v.parent_version = 4;
  EXPECT_THAT(Validate(v), IsEmpty());
  v.parent_version = 5;
  EXPECT_THAT(Validate(v), ElementsAre(ErrorAt("parent_version", HasSubstr("< version"))));
  v.parent_version = 9;
  EXPECT_THAT(Validate(v), ElementsAre(PathIs("parent_version")));
  v.parent_version = 0;
  EXPECT_THAT(Validate(v), ElementsAre(ErrorAt("parent_version", HasSubstr(">= 1"))));
}

TEST(ModelVersionTest, PrefixesNestedSchemaTrainingAndBaselineErrors) {
  ModelVersion v = FullVersion();
  v.schema->inputs[0].shape = {-3};
  v.schema->outputs[0].name = "probabilities";
  v.training->dataset_sha256 = "abc";
  v.baseline->latency_p99_ms = 1.0;  // below p50 (2.5)
  EXPECT_THAT(Validate(v),
              ElementsAre(FieldError{"schema.inputs[0].shape", "dimension -3 is invalid"},
                          FieldError{"schema.outputs[1].name", "duplicate name 'probabilities'"},
                          ErrorAt("training.dataset_sha256", HasSubstr("hex")),
                          FieldError{"baseline.latency_p99_ms", "must be >= latency_p50_ms"}));
}

TEST(ModelVersionTest, TagsFollowTheModelTagRules) {
  ModelVersion v = MinimalValidVersion();
  v.tags = {{"_private", "x"}, {"fine", std::string(300, 'x')}};
  EXPECT_THAT(Validate(v), ElementsAre(PathIs("tags._private"), PathIs("tags.fine")));
}

// ---- Deployment validation ----------------------------------------------------------------------

TEST(DeploymentTest, FullDeploymentIsValidForEveryStrategyAndState) {
  EXPECT_THAT(Validate(FullDeployment()), IsEmpty());
  Deployment d = FullDeployment();
  for (const char* strategy : {"direct", "canary", "blue-green", "ab-test", "shadow", "rolling"}) {
    d.strategy = strategy;
    EXPECT_THAT(Validate(d), IsEmpty()) << strategy;
  }
  for (const char* state : {"pending", "progressing", "paused", "promoting", "succeeded",
                            "aborted", "rolled_back", "failed"}) {
    d.state = state;
    EXPECT_THAT(Validate(d), IsEmpty()) << state;
  }
}

TEST(DeploymentTest, ReportsEveryInvalidField) {
  Deployment d;
  d.endpoint = "bad endpoint";
  d.strategy = "big-bang";
  d.state = "rolled-back";
  EXPECT_THAT(Validate(d),
              ElementsAre(FieldError{"id", "must not be empty"}, PathIs("endpoint"),
                          ErrorAt("model_name", HasSubstr("must not be empty")),
                          ErrorAt("version", HasSubstr(">= 1")),
                          ErrorAt("strategy", HasSubstr("'big-bang'")),
                          ErrorAt("state", HasSubstr("rolled_back"))));
}

// ---- JSON shape ---------------------------------------------------------------------------------

TEST(JsonTest, TensorSchemaUsesKServeFieldNames) {
  TensorSchema s;
  s.inputs = {{"x", DataType::kFp16, {-1, 3}}};
  s.outputs = {{"y", DataType::kBytes, {}}};
  EXPECT_EQ(ToJson(s), Json::parse(R"({
      "inputs": [{"name": "x", "datatype": "FP16", "shape": [-1, 3]}],
      "outputs": [{"name": "y", "datatype": "BYTES", "shape": []}]})"));
}

TEST(JsonTest, ModelUsesRfc3339TimestampsNamedCreatedAtAndUpdatedAt) {
  Json j = ToJson(FullModel());
  EXPECT_EQ(j, Json::parse(R"({
      "name": "iris-classifier",
      "description": "Classifies iris flowers. «Unicode» welcome.",
      "tags": {"team": "ml-platform", "tier": "gold"},
      "created_at": "2023-11-14T22:13:20.123Z",
      "updated_at": "2023-11-14T22:19:20.456Z"})"));
}

TEST(JsonTest, FullVersionUsesSnakeCaseNamesAndEnumStrings) {
  Json j = ToJson(FullVersion());
  EXPECT_EQ(j["status"], "deployed");
  EXPECT_EQ(j["parent_version"], 2);
  EXPECT_EQ(j["created_at"], "2023-11-14T22:13:20.999Z");
  EXPECT_EQ(j["aliases"], Json::array({"production", "stable"}));
  EXPECT_EQ(j["schema"]["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(j["baseline"]["quality"],
            Json::parse(R"({"name": "accuracy", "value": 0.97, "tolerated_drop": 0.01,
                            "higher_is_better": true})"));
  EXPECT_EQ(j["training"]["hyperparameters"], FullTraining().hyperparameters);
  EXPECT_EQ(j["preprocessing"], FullVersion().preprocessing);
  EXPECT_FALSE(j.contains("created_at_ms"));
}

TEST(JsonTest, MinimalVersionOmitsUnsetOptionalsAndWritesNoNull) {
  Json j = ToJson(MinimalValidVersion());
  for (const char* key : {"schema", "training", "baseline", "preprocessing", "parent_version"}) {
    EXPECT_FALSE(j.contains(key)) << key;
  }
  EXPECT_FALSE(ContainsNull(j)) << j.dump();
  Json b = ToJson(PerformanceBaseline{});
  EXPECT_EQ(b, Json::object());
  PerformanceBaseline partial;
  partial.latency_p99_ms = 4;
  EXPECT_EQ(ToJson(partial), Json::parse(R"({"latency_p99_ms": 4.0})"));
}

// ---- JSON round trips ---------------------------------------------------------------------------

TEST(JsonRoundTripTest, TensorSchemaFullAndMinimal) {
  ExpectRoundTrip<TensorSchema>(FullSchema(), TensorSchemaFromJson);
  ExpectRoundTrip<TensorSchema>(TensorSchema{}, TensorSchemaFromJson);
}

TEST(JsonRoundTripTest, TrainingMetadataFullAndMinimal) {
  ExpectRoundTrip<TrainingMetadata>(FullTraining(), TrainingMetadataFromJson);
  ExpectRoundTrip<TrainingMetadata>(TrainingMetadata{}, TrainingMetadataFromJson);
}

TEST(JsonRoundTripTest, PerformanceBaselineFullPartialAndMinimal) {
  ExpectRoundTrip<PerformanceBaseline>(FullBaseline(), PerformanceBaselineFromJson);
  ExpectRoundTrip<PerformanceBaseline>(PerformanceBaseline{}, PerformanceBaselineFromJson);
  PerformanceBaseline partial;
  partial.quality = QualityMetric{"rmse", 1.5, 0.25, false};
  ExpectRoundTrip<PerformanceBaseline>(partial, PerformanceBaselineFromJson);
}

TEST(JsonRoundTripTest, ModelFullAndMinimal) {
  ExpectRoundTrip<Model>(FullModel(), ModelFromJson);
  ExpectRoundTrip<Model>(Model{}, ModelFromJson);
  Model before_epoch = FullModel();
  before_epoch.created_at_ms = -1;  // 1969-12-31T23:59:59.999Z
  ExpectRoundTrip<Model>(before_epoch, ModelFromJson);
}

TEST(JsonRoundTripTest, ModelVersionFullAndMinimal) {
  ExpectRoundTrip<ModelVersion>(FullVersion(), ModelVersionFromJson);
  ExpectRoundTrip<ModelVersion>(ModelVersion{}, ModelVersionFromJson);
  ExpectRoundTrip<ModelVersion>(MinimalValidVersion(), ModelVersionFromJson);
  for (VersionStatus s : {VersionStatus::kRegistered, VersionStatus::kValidated,
                          VersionStatus::kApproved, VersionStatus::kArchived}) {
    ModelVersion v = FullVersion();
    v.status = s;
    ExpectRoundTrip<ModelVersion>(v, ModelVersionFromJson);
  }
}

TEST(JsonRoundTripTest, ModelVersionKeepsInvalidValuesVerbatim) {
  // Round trips do not depend on validity: FromJson never validates.
  ModelVersion v = FullVersion();
  v.version = 0;
  v.framework = "unknown";
  v.size_bytes = -1;
  v.training->hyperparameters = Json::array({1, "two"});
  v.preprocessing = "just a string";
  v.parent_version = -4;
  ExpectRoundTrip<ModelVersion>(v, ModelVersionFromJson);
}

TEST(JsonRoundTripTest, DeploymentFullAndMinimal) {
  ExpectRoundTrip<Deployment>(FullDeployment(), DeploymentFromJson);
  ExpectRoundTrip<Deployment>(Deployment{}, DeploymentFromJson);
}

// ---- FromJson: required fields, defaults, leniency ----------------------------------------------

TEST(FromJsonTest, ModelRequiresOnlyNameAndDefaultsTheRest) {
  absl::StatusOr<Model> m = ModelFromJson(Json::parse(R"({"name": "iris"})"));
  ASSERT_TRUE(m.ok()) << m.status();
  Model expected;
  expected.name = "iris";
  EXPECT_EQ(*m, expected);

  absl::StatusOr<Model> missing = ModelFromJson(Json::parse(R"({"description": "no name"})"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.status().message(), "name: required field is missing");
}

TEST(FromJsonTest, ModelVersionRequiresModelNameVersionAndFramework) {
  const Json complete = Json::parse(R"({"model_name": "iris", "version": 2, "framework": "onnx"})");
  absl::StatusOr<ModelVersion> v = ModelVersionFromJson(complete);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->version, 2);
  EXPECT_EQ(v->status, VersionStatus::kRegistered);
  EXPECT_EQ(v->schema, std::nullopt);
  EXPECT_TRUE(v->preprocessing.is_null());
  EXPECT_EQ(v->parent_version, std::nullopt);
  for (const char* key : {"model_name", "version", "framework"}) {
    Json j = complete;
    j.erase(key);
    absl::StatusOr<ModelVersion> r = ModelVersionFromJson(j);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(r.status().message(), std::string(key) + ": required field is missing");
  }
}

TEST(FromJsonTest, DeploymentDefaultsIdStrategyAndState) {
  absl::StatusOr<Deployment> d = DeploymentFromJson(
      Json::parse(R"({"endpoint": "iris-prod", "model_name": "iris", "version": 1})"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->id, "");
  EXPECT_EQ(d->strategy, "direct");
  EXPECT_EQ(d->state, "pending");
  EXPECT_EQ(DeploymentFromJson(Json::parse(R"({"endpoint": "e", "model_name": "m"})"))
                .status()
                .message(),
            "version: required field is missing");
}

TEST(FromJsonTest, IgnoresUnknownFields) {
  Json j = ToJson(FullVersion());
  j["future_field"] = {{"nested", true}};
  j["schema"]["inputs"][0]["parameters"] = {{"binary_data", true}};
  absl::StatusOr<ModelVersion> v = ModelVersionFromJson(j);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, FullVersion());
}

TEST(FromJsonTest, NullOptionalMembersAreUnset) {
  Json j = ToJson(FullVersion());
  for (const char* key : {"schema", "training", "baseline", "parent_version", "preprocessing"}) {
    j[key] = nullptr;
  }
  j["baseline"] = {{"latency_p50_ms", nullptr}, {"quality", nullptr}};
  absl::StatusOr<ModelVersion> v = ModelVersionFromJson(j);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->schema, std::nullopt);
  EXPECT_EQ(v->training, std::nullopt);
  EXPECT_EQ(v->parent_version, std::nullopt);
  EXPECT_TRUE(v->preprocessing.is_null());
  ASSERT_TRUE(v->baseline.has_value());
  EXPECT_EQ(*v->baseline, PerformanceBaseline{});
}

TEST(FromJsonTest, DoesNotValidate) {
  absl::StatusOr<ModelVersion> v = ModelVersionFromJson(
      Json::parse(R"({"model_name": "bad name!", "version": -3, "framework": "caffe",
                      "schema": {"inputs": [{"name": "", "datatype": "FP32", "shape": [-7]}]}})"));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_THAT(Validate(*v), SizeIs(7));
}

TEST(FromJsonTest, AcceptsTimestampWithoutFractionOrWithUtcOffset) {
  absl::StatusOr<Model> m = ModelFromJson(Json::parse(
      R"({"name": "m", "created_at": "2023-11-14T22:13:20Z",
          "updated_at": "2023-11-14T22:13:20.5+00:00"})"));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->created_at_ms, 1'700'000'000'000);
  EXPECT_EQ(m->updated_at_ms, 1'700'000'000'500);
}

TEST(FromJsonTest, MetricsAcceptIntegerValues) {
  absl::StatusOr<TrainingMetadata> t =
      TrainingMetadataFromJson(Json::parse(R"({"metrics": {"epochs_run": 12, "acc": 0.5}})"));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->metrics, (std::map<std::string, double>{{"epochs_run", 12.0}, {"acc", 0.5}}));
}

// ---- FromJson: errors name the field ------------------------------------------------------------

TEST(FromJsonErrorTest, NamesNestedArrayElementOnWrongType) {
  Json j = ToJson(FullVersion());
  j["schema"]["inputs"][0]["shape"][1] = "4";
  absl::StatusOr<ModelVersion> v = ModelVersionFromJson(j);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(v.status().message(), "schema.inputs[0].shape[1]: expected integer, got string");
}

TEST(FromJsonErrorTest, RejectsUnknownDatatypeAndVersionStatus) {
  Json j = ToJson(FullVersion());
  j["schema"]["outputs"][1]["datatype"] = "FP33";
  EXPECT_EQ(ModelVersionFromJson(j).status().message(),
            "schema.outputs[1].datatype: unknown datatype 'FP33'");
  j = ToJson(FullVersion());
  j["status"] = "retired";
  EXPECT_EQ(ModelVersionFromJson(j).status().message(), "status: unknown version status 'retired'");
  EXPECT_EQ(TensorSchemaFromJson(Json::parse(R"({"inputs": [{"name": "x", "datatype": "fp32",
                                                             "shape": [1]}]})"))
                .status()
                .message(),
            "inputs[0].datatype: unknown datatype 'fp32'");
}

TEST(FromJsonErrorTest, RejectsMalformedTimestamps) {
  for (const Json& bad : {Json("yesterday"), Json("2023-11-14 22:13:20Z"),
                          Json("2023-02-30T00:00:00Z"), Json("2023-11-14T22:13:20+01:00")}) {
    absl::StatusOr<Model> m = ModelFromJson({{"name", "m"}, {"created_at", bad}});
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(m.status().message()),
                AllOf(HasSubstr("created_at: malformed timestamp"),
                      HasSubstr(bad.get<std::string>())));
  }
  absl::StatusOr<Deployment> d = DeploymentFromJson(
      {{"endpoint", "e"}, {"model_name", "m"}, {"version", 1}, {"updated_at", 1700000000000}});
  EXPECT_EQ(d.status().message(), "updated_at: expected RFC 3339 timestamp string, got integer");
}

TEST(FromJsonErrorTest, RejectsNonObjectTopLevelValues) {
  for (const Json& j : {Json(nullptr), Json(1), Json("x"), Json::array()}) {
    EXPECT_EQ(ModelFromJson(j).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ModelVersionFromJson(j).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(DeploymentFromJson(j).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(TensorSchemaFromJson(j).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(TrainingMetadataFromJson(j).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(PerformanceBaselineFromJson(j).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(ModelFromJson(Json::array()).status().message(), "expected object, got array");
}

TEST(FromJsonErrorTest, RejectsIntegerOutsideInt64AndNonIntegralNumbers) {
  Json j = ToJson(MinimalValidVersion());
  j["size_bytes"] = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(ModelVersionFromJson(j).status().message(), "size_bytes: integer out of range");
  j = ToJson(MinimalValidVersion());
  j["version"] = 1.5;
  EXPECT_EQ(ModelVersionFromJson(j).status().message(), "version: expected integer, got number");
  // The largest int64 is fine.
  j["version"] = std::numeric_limits<int64_t>::max();
  absl::StatusOr<ModelVersion> v = ModelVersionFromJson(j);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->version, std::numeric_limits<int64_t>::max());
}

struct WrongTypeCase {
  std::string json_pointer;  // member to overwrite in ToJson(full object)
  Json value;
  std::string message;
};

void ExpectWrongTypeErrors(const Json& full, std::function<absl::Status(const Json&)> parse,
                           const std::vector<WrongTypeCase>& cases) {
  for (const WrongTypeCase& c : cases) {
    Json j = full;
    j[Json::json_pointer(c.json_pointer)] = c.value;
    absl::Status s = parse(j);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.json_pointer;
    EXPECT_EQ(s.message(), c.message) << c.json_pointer;
  }
}

TEST(FromJsonErrorTest, ModelWrongTypesNameTheField) {
  ExpectWrongTypeErrors(ToJson(FullModel()),
                        [](const Json& j) { return ModelFromJson(j).status(); },
                        {{"/name", 7, "name: expected string, got integer"},
                         {"/name", nullptr, "name: expected string, got null"},
                         {"/description", true, "description: expected string, got boolean"},
                         {"/tags", Json::array(), "tags: expected object, got array"},
                         {"/tags/team", 1.5, "tags.team: expected string, got number"},
                         {"/updated_at", Json::object(),
                          "updated_at: expected RFC 3339 timestamp string, got object"}});
}

TEST(FromJsonErrorTest, ModelVersionWrongTypesNameTheField) {
  ExpectWrongTypeErrors(
      ToJson(FullVersion()), [](const Json& j) { return ModelVersionFromJson(j).status(); },
      {{"/model_name", 1, "model_name: expected string, got integer"},
       {"/version", "3", "version: expected integer, got string"},
       {"/framework", Json::array(), "framework: expected string, got array"},
       {"/sha256", false, "sha256: expected string, got boolean"},
       {"/size_bytes", "big", "size_bytes: expected integer, got string"},
       {"/status", 2, "status: expected string, got integer"},
       {"/schema", "none", "schema: expected object, got string"},
       {"/schema/inputs", Json::object(), "schema.inputs: expected array, got object"},
       {"/schema/inputs/1", "x", "schema.inputs[1]: expected object, got string"},
       {"/schema/inputs/1/name", 5, "schema.inputs[1].name: expected string, got integer"},
       {"/schema/outputs/0/datatype", 32,
        "schema.outputs[0].datatype: expected string, got integer"},
       {"/schema/outputs/0/shape", 3, "schema.outputs[0].shape: expected array, got integer"},
       {"/training", 1, "training: expected object, got integer"},
       {"/training/framework", 1, "training.framework: expected string, got integer"},
       {"/training/framework_version", 1.3,
        "training.framework_version: expected string, got number"},
       {"/training/run_id", nullptr, "training.run_id: expected string, got null"},
       {"/training/code_commit", 1234567, "training.code_commit: expected string, got integer"},
       {"/training/dataset_uri", true, "training.dataset_uri: expected string, got boolean"},
       {"/training/dataset_sha256", Json::array(),
        "training.dataset_sha256: expected string, got array"},
       {"/training/metrics", Json::array(), "training.metrics: expected object, got array"},
       {"/training/metrics/accuracy", "high",
        "training.metrics.accuracy: expected number, got string"},
       {"/training/created_by", 0, "training.created_by: expected string, got integer"},
       {"/baseline", Json::array(), "baseline: expected object, got array"},
       {"/baseline/latency_p50_ms", "fast", "baseline.latency_p50_ms: expected number, got string"},
       {"/baseline/latency_p99_ms", true, "baseline.latency_p99_ms: expected number, got boolean"},
       {"/baseline/min_throughput_rps", Json::object(),
        "baseline.min_throughput_rps: expected number, got object"},
       {"/baseline/quality", 0.9, "baseline.quality: expected object, got number"},
       {"/baseline/quality/name", 1, "baseline.quality.name: expected string, got integer"},
       {"/baseline/quality/value", "0.9", "baseline.quality.value: expected number, got string"},
       {"/baseline/quality/tolerated_drop", nullptr,
        "baseline.quality.tolerated_drop: expected number, got null"},
       {"/baseline/quality/higher_is_better", "yes",
        "baseline.quality.higher_is_better: expected boolean, got string"},
       {"/tags", "stage=prod", "tags: expected object, got string"},
       {"/tags/stage", 1, "tags.stage: expected string, got integer"},
       {"/parent_version", "2", "parent_version: expected integer, got string"},
       {"/aliases", "production", "aliases: expected array, got string"},
       {"/aliases/1", 1, "aliases[1]: expected string, got integer"},
       {"/created_by", Json::object(), "created_by: expected string, got object"},
       {"/created_at", 5, "created_at: expected RFC 3339 timestamp string, got integer"}});
}

TEST(FromJsonErrorTest, RequiredNestedFieldsAreNamed) {
  Json j = ToJson(FullVersion());
  j["schema"]["inputs"][1].erase("shape");
  EXPECT_EQ(ModelVersionFromJson(j).status().message(),
            "schema.inputs[1].shape: required field is missing");
  j = ToJson(FullVersion());
  j["baseline"]["quality"].erase("name");
  EXPECT_EQ(ModelVersionFromJson(j).status().message(),
            "baseline.quality.name: required field is missing");
  EXPECT_EQ(PerformanceBaselineFromJson(Json::parse(R"({"quality": {"name": "acc"}})"))
                .status()
                .message(),
            "quality.value: required field is missing");
}

TEST(FromJsonErrorTest, DeploymentWrongTypesNameTheField) {
  ExpectWrongTypeErrors(
      ToJson(FullDeployment()), [](const Json& j) { return DeploymentFromJson(j).status(); },
      {{"/id", 1, "id: expected string, got integer"},
       {"/endpoint", Json::array(), "endpoint: expected string, got array"},
       {"/model_name", false, "model_name: expected string, got boolean"},
       {"/version", "3", "version: expected integer, got string"},
       {"/strategy", 1, "strategy: expected string, got integer"},
       {"/state", nullptr, "state: expected string, got null"},
       {"/created_at", "noon",
        "created_at: malformed timestamp 'noon' (expected RFC 3339 UTC, e.g. "
        "2026-11-24T01:02:03.456Z)"}});
}

TEST(FromJsonErrorTest, NeverThrowsOnArbitraryJson) {
  const std::vector<Json> shapes = {
      nullptr, true, 0, -1, 1.5, "s", Json::array(), Json::object(), Json::array({nullptr}),
      Json::object({{"x", nullptr}}), std::numeric_limits<uint64_t>::max(), Json::binary({1, 2})};
  const std::vector<std::string> pointers = {
      "/name", "/model_name", "/version", "/framework", "/schema", "/schema/inputs",
      "/schema/inputs/0", "/schema/inputs/0/shape", "/schema/inputs/0/shape/0",
      "/schema/inputs/0/datatype", "/training", "/training/hyperparameters", "/training/metrics",
      "/baseline", "/baseline/quality", "/baseline/quality/value", "/tags", "/aliases",
      "/created_at", "/updated_at", "/endpoint", "/status", "/preprocessing", "/parent_version"};
  std::vector<Json> bases = {ToJson(FullVersion()), ToJson(FullModel()), ToJson(FullDeployment()),
                             ToJson(FullSchema()), ToJson(FullTraining()), ToJson(FullBaseline())};
  for (const Json& base : bases) {
    for (const std::string& p : pointers) {
      for (const Json& value : shapes) {
        Json j = base;
        j[Json::json_pointer(p)] = value;  // creates missing parents
        EXPECT_NO_THROW({
          (void)ModelFromJson(j);
          (void)ModelVersionFromJson(j);
          (void)DeploymentFromJson(j);
          (void)TensorSchemaFromJson(j);
          (void)TrainingMetadataFromJson(j);
          (void)PerformanceBaselineFromJson(j);
        }) << p << " = " << value;
      }
    }
  }
}

}  // namespace
}  // namespace hotswap::domain
