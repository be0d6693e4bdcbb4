#include "runtime/onnx/onnx_backend.h"

#include <malloc.h>
#include <onnxruntime_c_api.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/backend.h"
#include "runtime/tensor.h"

namespace hotswap::runtime {
namespace {

using domain::DataType;
using domain::TensorSchema;
using domain::TensorSpec;
using Json = nlohmann::json;
using testing::ElementsAre;
using testing::HasSubstr;

constexpr double kTolerance = 1e-5;

std::string TestModel(const std::string& name) {
  return std::string(HOTSWAP_TEST_MODELS_DIR) + "/" + name;
}

// ---- building and comparing tensors -------------------------------------------------------

template <typename T>
Tensor MakeTensor(std::string name, DataType datatype, std::vector<int64_t> shape,
                  const std::vector<T>& values) {
  Tensor t{std::move(name), datatype, std::move(shape), {}};
  t.data.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

std::string EncodeBytes(const std::vector<std::string>& values) {
  std::string data;
  for (const std::string& v : values) {
    const uint32_t length = static_cast<uint32_t>(v.size());
    data.append(reinterpret_cast<const char*>(&length), 4);
    data.append(v);
  }
  return data;
}

std::vector<std::string> DecodeBytes(const Tensor& t) {
  std::vector<std::string> values;
  size_t at = 0;
  while (at + 4 <= t.data.size()) {
    uint32_t length = 0;
    std::memcpy(&length, t.data.data() + at, 4);
    values.push_back(t.data.substr(at + 4, length));
    at += 4 + length;
  }
  EXPECT_EQ(at, t.data.size()) << "malformed BYTES tensor " << t.name;
  return values;
}

Tensor BytesTensor(std::string name, std::vector<int64_t> shape,
                   const std::vector<std::string>& values) {
  return Tensor{std::move(name), DataType::kBytes, std::move(shape), EncodeBytes(values)};
}

// A V2-style JSON tensor {name, datatype, shape, data} (as the Python scripts write) -> Tensor.
Tensor TensorFromJson(const Json& j) {
  const std::string datatype = j.at("datatype").get<std::string>();
  const std::string name = j.at("name").get<std::string>();
  const auto shape = j.at("shape").get<std::vector<int64_t>>();
  if (datatype == "FP32")
    return MakeTensor(name, DataType::kFp32, shape, j["data"].get<std::vector<float>>());
  if (datatype == "FP64")
    return MakeTensor(name, DataType::kFp64, shape, j["data"].get<std::vector<double>>());
  if (datatype == "INT64")
    return MakeTensor(name, DataType::kInt64, shape, j["data"].get<std::vector<int64_t>>());
  if (datatype == "BYTES")
    return BytesTensor(name, shape, j["data"].get<std::vector<std::string>>());
  ADD_FAILURE() << "unexpected datatype " << datatype;
  return {};
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  std::vector<T> v(t.data.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), t.data.data(), v.size() * sizeof(T));
  return v;
}

template <typename T>
void ExpectNear(const std::vector<T>& expected, const std::vector<T>& actual,
                const std::string& what) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double e = expected[i], a = actual[i];
    EXPECT_LE(std::fabs(e - a), kTolerance * std::max(1.0, std::fabs(e)))
        << what << "[" << i << "]: expected " << e << ", got " << a;
  }
}

// Expects `actual` to equal the JSON tensor `expected`: integers and strings exactly, floats to
// within kTolerance.
void ExpectMatches(const Json& expected, const Tensor& actual) {
  const Tensor want = TensorFromJson(expected);
  ASSERT_EQ(actual.name, want.name);
  ASSERT_EQ(actual.datatype, want.datatype) << actual.name;
  ASSERT_EQ(actual.shape, want.shape) << actual.name;
  switch (want.datatype) {
    case DataType::kFp32:
      ExpectNear(Values<float>(want), Values<float>(actual), want.name);
      break;
    case DataType::kFp64:
      ExpectNear(Values<double>(want), Values<double>(actual), want.name);
      break;
    case DataType::kInt64:
      EXPECT_EQ(Values<int64_t>(want), Values<int64_t>(actual)) << want.name;
      break;
    case DataType::kBytes:
      EXPECT_EQ(DecodeBytes(want), DecodeBytes(actual)) << want.name;
      break;
    default:
      FAIL() << "unexpected datatype";
  }
}

Json ReadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path << " (built by the hotswap_models target)";
  return Json::parse(in);
}

Json ReferenceCase(const std::string& id) {
  static const Json references = ReadJson(TestModel("references.json"));
  for (const Json& c : references.at("cases")) {
    if (c.at("id") == id) return c;
  }
  ADD_FAILURE() << "no reference case " << id;
  return Json::object();
}

int64_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long long total = 0, resident = 0;
  EXPECT_EQ(std::fscanf(f, "%lld %lld", &total, &resident), 2);
  std::fclose(f);
  return resident * sysconf(_SC_PAGESIZE);
}

// ---- fixture --------------------------------------------------------------------------------

class OnnxBackendTest : public testing::Test {
 protected:
  void SetUp() override {
    auto backend = OnnxBackend::Create();
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
  }

  std::unique_ptr<LoadedModel> MustLoad(const std::string& name, LoadOptions options = {}) {
    auto model = backend_->Load(TestModel(name), options);
    EXPECT_TRUE(model.ok()) << name << ": " << model.status();
    return model.ok() ? std::move(*model) : nullptr;
  }

  absl::Status LoadError(const std::string& path) {
    auto model = backend_->Load(path, LoadOptions{});
    return model.ok() ? absl::OkStatus() : model.status();
  }

  // Runs reference case `id` on `model` and checks every output against the reference.
  void ExpectReference(const LoadedModel& model, const std::string& id) {
    const Json c = ReferenceCase(id);
    std::vector<Tensor> inputs;
    for (const Json& in : c.at("inputs")) inputs.push_back(TensorFromJson(in));
    std::vector<std::string> names;
    for (const Json& out : c.at("outputs")) names.push_back(out.at("name"));
    std::vector<Tensor> outputs;
    absl::Status status = model.Run(inputs, names, &outputs);
    ASSERT_TRUE(status.ok()) << id << ": " << status;
    ASSERT_EQ(outputs.size(), c.at("outputs").size()) << id;
    for (size_t i = 0; i < outputs.size(); ++i) ExpectMatches(c.at("outputs")[i], outputs[i]);
  }

  static Tensor IrisInput(int rows) {
    std::vector<float> values;
    for (int r = 0; r < rows; ++r) {
      for (float v : {5.1f + 0.01f * r, 3.5f, 1.4f + 0.05f * r, 0.2f + 0.02f * r}) {
        values.push_back(v);
      }
    }
    return MakeTensor("input", DataType::kFp32, {rows, 4}, values);
  }

  std::unique_ptr<OnnxBackend> backend_;
};

// ---- engine ---------------------------------------------------------------------------------

TEST_F(OnnxBackendTest, ReportsFrameworkAndEngineVersion) {
  EXPECT_EQ(backend_->framework(), "onnx");
  EXPECT_THAT(backend_->version(), testing::StartsWith("onnxruntime 1."));
  EXPECT_EQ(backend_->version(), std::string("onnxruntime ") + OrtGetApiBase()->GetVersionString());
}

TEST_F(OnnxBackendTest, RuntimeLibraryServesTheHeadersApiVersion) {
  EXPECT_NE(OrtGetApiBase()->GetApi(ORT_API_VERSION), nullptr)
      << "runtime " << OrtGetApiBase()->GetVersionString() << ", headers API " << ORT_API_VERSION;
}

TEST_F(OnnxBackendTest, RegistryFindsAndListsTheOnnxBackend) {
  BackendRegistry registry;
  auto backend = OnnxBackend::Create();
  ASSERT_TRUE(backend.ok());
  registry.Register(std::move(*backend));
  ASSERT_NE(registry.Find("onnx"), nullptr);
  EXPECT_EQ(registry.Find("onnx")->framework(), "onnx");
  EXPECT_EQ(registry.Find("tensorflow"), nullptr);
  EXPECT_THAT(registry.Frameworks(), ElementsAre("onnx"));
  auto model = registry.Find("onnx")->Load(TestModel("iris.onnx"), LoadOptions{});
  EXPECT_TRUE(model.ok()) << model.status();
}

// ---- schema ---------------------------------------------------------------------------------

TEST_F(OnnxBackendTest, DescribesIrisSchemaWithDynamicBatch) {
  auto model = MustLoad("iris.onnx");
  ASSERT_NE(model, nullptr);
  TensorSchema expected;
  expected.inputs = {TensorSpec{"input", DataType::kFp32, {-1, 4}}};
  expected.outputs = {TensorSpec{"label", DataType::kInt64, {-1}},
                      TensorSpec{"probabilities", DataType::kFp32, {-1, 3}}};
  EXPECT_EQ(model->schema(), expected);
}

TEST_F(OnnxBackendTest, DescribesTwoInputsAndThreeOutputsInGraphOrder) {
  auto model = MustLoad("two_inputs.onnx");
  ASSERT_NE(model, nullptr);
  TensorSchema expected;
  expected.inputs = {TensorSpec{"a", DataType::kFp32, {-1, 3}},
                     TensorSpec{"b", DataType::kFp32, {-1, 3}}};
  expected.outputs = {TensorSpec{"sum", DataType::kFp32, {-1, 3}},
                      TensorSpec{"product", DataType::kFp32, {-1, 3}},
                      TensorSpec{"dot", DataType::kFp32, {-1}}};
  EXPECT_EQ(model->schema(), expected);
}

TEST_F(OnnxBackendTest, MapsEveryOnnxElementTypeToItsV2Datatype) {
  auto model = MustLoad("dtypes.onnx");
  ASSERT_NE(model, nullptr);
  const std::vector<std::pair<std::string, DataType>> expected = {
      {"bool", DataType::kBool},     {"uint8", DataType::kUint8},   {"uint16", DataType::kUint16},
      {"uint32", DataType::kUint32}, {"uint64", DataType::kUint64}, {"int8", DataType::kInt8},
      {"int16", DataType::kInt16},   {"int32", DataType::kInt32},   {"int64", DataType::kInt64},
      {"fp16", DataType::kFp16},     {"fp32", DataType::kFp32},     {"fp64", DataType::kFp64},
      {"bytes", DataType::kBytes}};
  const TensorSchema& schema = model->schema();
  ASSERT_EQ(schema.inputs.size(), expected.size());
  ASSERT_EQ(schema.outputs.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(schema.inputs[i], (TensorSpec{"in_" + expected[i].first, expected[i].second, {-1}}));
    EXPECT_EQ(schema.outputs[i],
              (TensorSpec{"out_" + expected[i].first, expected[i].second, {-1}}));
  }
}

// ---- numerics against independent references ------------------------------------------------

TEST_F(OnnxBackendTest, IrisBatchOfOneMatchesScikitLearn) {
  auto model = MustLoad("iris.onnx");
  ASSERT_NE(model, nullptr);
  ExpectReference(*model, "iris_b1");
}

TEST_F(OnnxBackendTest, IrisBatchOf64MatchesScikitLearn) {
  auto model = MustLoad("iris.onnx");
  ASSERT_NE(model, nullptr);
  ExpectReference(*model, "iris_b64");
}

TEST_F(OnnxBackendTest, Fp64MlpMatchesNumpyAtBatch1And64) {
  auto model = MustLoad("mlp_fp64.onnx");
  ASSERT_NE(model, nullptr);
  ExpectReference(*model, "mlp_fp64_b1");
  ExpectReference(*model, "mlp_fp64_b64");
}

TEST_F(OnnxBackendTest, TwoInputModelMatchesNumpy) {
  auto model = MustLoad("two_inputs.onnx");
  ASSERT_NE(model, nullptr);
  ExpectReference(*model, "two_inputs_b1");
  ExpectReference(*model, "two_inputs_b5");
}

TEST_F(OnnxBackendTest, InputsMayComeInAnyOrder) {
  auto model = MustLoad("two_inputs.onnx");
  ASSERT_NE(model, nullptr);
  const Json c = ReferenceCase("two_inputs_b5");
  std::vector<Tensor> reversed = {TensorFromJson(c["inputs"][1]), TensorFromJson(c["inputs"][0])};
  std::vector<Tensor> outputs;
  ASSERT_TRUE(model->Run(reversed, {}, &outputs).ok());
  ASSERT_EQ(outputs.size(), 3u);
  for (size_t i = 0; i < 3; ++i) ExpectMatches(c["outputs"][i], outputs[i]);
}

TEST_F(OnnxBackendTest, Int64StaysExactBeyondFloatRange) {
  auto model = MustLoad("int64.onnx");
  ASSERT_NE(model, nullptr);
  ExpectReference(*model, "int64");
}

TEST_F(OnnxBackendTest, BytesInputsAndOutputsRoundTrip) {
  auto model = MustLoad("strings.onnx");
  ASSERT_NE(model, nullptr);
  ExpectReference(*model, "strings");
}

TEST_F(OnnxBackendTest, BytesElementsMayHoldNulBytes) {
  auto model = MustLoad("strings.onnx");
  ASSERT_NE(model, nullptr);
  const std::string with_nul("se\0tosa", 7);
  std::vector<Tensor> outputs;
  ASSERT_TRUE(
      model->Run({BytesTensor("text", {2}, {with_nul, "setosa"})}, {"echo", "id"}, &outputs).ok());
  EXPECT_THAT(DecodeBytes(outputs[0]), ElementsAre(with_nul, "setosa"));
  EXPECT_THAT(Values<int64_t>(outputs[1]), ElementsAre(-1, 0));
}

TEST_F(OnnxBackendTest, EveryDatatypeRoundTripsBitForBit) {
  auto model = MustLoad("dtypes.onnx");
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> inputs;
  for (const TensorSpec& spec : model->schema().inputs) {
    if (spec.datatype == DataType::kBytes) {
      inputs.push_back(BytesTensor(spec.name, {3}, {"a", "", "xyz"}));
      continue;
    }
    const size_t size = domain::DataTypeSize(spec.datatype);
    Tensor t{spec.name, spec.datatype, {3}, std::string(3 * size, '\0')};
    for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<char>(i * 7 + 1);
    if (spec.datatype == DataType::kBool) t.data = std::string("\1\0\1", 3);
    inputs.push_back(std::move(t));
  }
  std::vector<Tensor> outputs;
  absl::Status status = model->Run(inputs, {}, &outputs);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(outputs.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(outputs[i].name, "out_" + inputs[i].name.substr(3));
    EXPECT_EQ(outputs[i].datatype, inputs[i].datatype) << outputs[i].name;
    EXPECT_EQ(outputs[i].shape, inputs[i].shape) << outputs[i].name;
    EXPECT_EQ(outputs[i].data, inputs[i].data) << outputs[i].name;
  }
}

TEST_F(OnnxBackendTest, DemoModelReproducesItsSamples) {
  auto model = backend_->Load(std::string(HOTSWAP_DEMO_MODELS_DIR) + "/iris.onnx", LoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  const Json samples = ReadJson(std::string(HOTSWAP_DEMO_MODELS_DIR) + "/iris.samples.json");
  ASSERT_FALSE(samples.at("samples").empty());
  for (const Json& s : samples.at("samples")) {
    std::vector<Tensor> outputs;
    ASSERT_TRUE((*model)->Run({TensorFromJson(s["inputs"][0])}, {}, &outputs).ok());
    ASSERT_EQ(outputs.size(), 2u);
    ExpectMatches(s["outputs"][0], outputs[0]);
    ExpectMatches(s["outputs"][1], outputs[1]);
  }
}

TEST_F(OnnxBackendTest, EmptyBatchGivesEmptyOutputs) {
  auto model = MustLoad("iris.onnx");
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> outputs;
  absl::Status status = model->Run({IrisInput(0)}, {}, &outputs);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].shape, (std::vector<int64_t>{0}));
  EXPECT_EQ(outputs[1].shape, (std::vector<int64_t>{0, 3}));
  EXPECT_TRUE(outputs[1].data.empty());
}

TEST_F(OnnxBackendTest, SeveralIntraOpThreadsGiveTheSameResults) {
  auto model = MustLoad("iris.onnx", LoadOptions{.intra_op_threads = 4});
  ASSERT_NE(model, nullptr);
  ExpectReference(*model, "iris_b64");
}

TEST_F(OnnxBackendTest, WithTheMemoryArenaAsWithoutTheResultsAgreeWithTheReference) {
  // Off is the default; both must match the reference computed outside ONNX Runtime.
  for (bool arena : {false, true}) {
    auto model = MustLoad("iris.onnx", LoadOptions{.memory_arena = arena});
    ASSERT_NE(model, nullptr) << arena;
    ExpectReference(*model, "iris_b64");
    ExpectReference(*model, "iris_b1");
  }
  EXPECT_FALSE(LoadOptions{}.memory_arena);
}

// ---- output selection -----------------------------------------------------------------------

TEST_F(OnnxBackendTest, SelectsOutputsByNameInTheRequestedOrder) {
  auto model = MustLoad("iris.onnx");
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> all, some;
  ASSERT_TRUE(model->Run({IrisInput(3)}, {}, &all).ok());
  ASSERT_TRUE(model->Run({IrisInput(3)}, {"probabilities", "label"}, &some).ok());
  ASSERT_EQ(all.size(), 2u);
  ASSERT_EQ(some.size(), 2u);
  EXPECT_EQ(all[0].name, "label");
  EXPECT_EQ(some[0].name, "probabilities");
  EXPECT_EQ(some[0].data, all[1].data);
  EXPECT_EQ(some[1].data, all[0].data);

  std::vector<Tensor> one;
  ASSERT_TRUE(model->Run({IrisInput(3)}, {"probabilities"}, &one).ok());
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].name, "probabilities");
  EXPECT_EQ(one[0].shape, (std::vector<int64_t>{3, 3}));
}

TEST_F(OnnxBackendTest, AppendsToOutputsAlreadyThere) {
  auto model = MustLoad("iris.onnx");
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> outputs(1);
  outputs[0].name = "kept";
  ASSERT_TRUE(model->Run({IrisInput(1)}, {"label"}, &outputs).ok());
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].name, "kept");
  EXPECT_EQ(outputs[1].name, "label");
}

TEST_F(OnnxBackendTest, UnknownOutputNameIsInvalidArgumentListingOutputs) {
  auto model = MustLoad("iris.onnx");
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> outputs;
  absl::Status status = model->Run({IrisInput(1)}, {"label", "scores"}, &outputs);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("unknown output 'scores'"));
  EXPECT_THAT(status.message(), HasSubstr("label, probabilities"));
  EXPECT_TRUE(outputs.empty());
}

// ---- concurrency ----------------------------------------------------------------------------

TEST_F(OnnxBackendTest, ConcurrentRunsFromEightThreadsGiveIdenticalResults) {
  auto model = MustLoad("iris.onnx");
  ASSERT_NE(model, nullptr);
  const Tensor input = IrisInput(64);
  std::vector<Tensor> expected;
  ASSERT_TRUE(model->Run({input}, {}, &expected).ok());

  constexpr int kThreads = 8;
  constexpr int kRunsPerThread = 200;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRunsPerThread; ++i) {
        std::vector<Tensor> outputs;
        absl::Status status = model->Run({input}, {}, &outputs);
        if (!status.ok() || outputs.size() != 2 || outputs[0].data != expected[0].data ||
            outputs[1].data != expected[1].data) {
          ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(mismatches, testing::Each(0));
}

// ---- load errors ----------------------------------------------------------------------------

TEST_F(OnnxBackendTest, MissingFileIsFailedPrecondition) {
  absl::Status status = LoadError(TestModel("no_such_model.onnx"));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("no_such_model.onnx' does not exist"));
}

TEST_F(OnnxBackendTest, DirectoryIsFailedPrecondition) {
  absl::Status status = LoadError(HOTSWAP_TEST_MODELS_DIR);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("not a regular file"));
}

TEST_F(OnnxBackendTest, CorruptFileIsInvalidArgument) {
  absl::Status status = LoadError(TestModel("corrupt.onnx"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("cannot load '" + TestModel("corrupt.onnx") +
                                          "': Protobuf parsing failed"));
}

TEST_F(OnnxBackendTest, TextFileIsInvalidArgument) {
  absl::Status status = LoadError(TestModel("not_onnx.onnx"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("cannot load"));
}

TEST_F(OnnxBackendTest, EmptyFileIsInvalidArgument) {
  absl::Status status = LoadError(TestModel("empty.onnx"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("is empty"));
}

TEST_F(OnnxBackendTest, InvalidGraphIsInvalidArgument) {
  absl::Status status = LoadError(TestModel("invalid_graph.onnx"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("nowhere"));
}

TEST_F(OnnxBackendTest, UnknownOperatorIsFailedPrecondition) {
  absl::Status status = LoadError(TestModel("custom_op.onnx"));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("Frobnicate"));
}

TEST_F(OnnxBackendTest, SequenceOutputIsRefusedWithAHint) {
  absl::Status status = LoadError(TestModel("zipmap.onnx"));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("is a sequence"));
  EXPECT_THAT(status.message(), HasSubstr("zipmap"));
}

TEST_F(OnnxBackendTest, ElementTypeWithoutV2DatatypeIsRefused) {
  absl::Status status = LoadError(TestModel("bfloat16.onnx"));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("input 'x' has ONNX element type bfloat16"));
}

TEST_F(OnnxBackendTest, IntraOpThreadsBelowOneIsInvalidArgument) {
  auto model = backend_->Load(TestModel("iris.onnx"), LoadOptions{.intra_op_threads = 0});
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- run errors -----------------------------------------------------------------------------

TEST_F(OnnxBackendTest, WrongInputCountIsInvalidArgument) {
  auto model = MustLoad("two_inputs.onnx");
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> outputs;
  absl::Status none = model->Run({}, {}, &outputs);
  EXPECT_EQ(none.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(none.message(), HasSubstr("takes 2 input(s) (a, b), got 0"));
  const Tensor a = MakeTensor<float>("a", DataType::kFp32, {1, 3}, {1, 2, 3});
  absl::Status one = model->Run({a}, {}, &outputs);
  EXPECT_EQ(one.code(), absl::StatusCode::kInvalidArgument);
  absl::Status three = model->Run({a, a, a}, {}, &outputs);
  EXPECT_EQ(three.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(outputs.empty());
}

TEST_F(OnnxBackendTest, UnknownOrDuplicateInputNameIsInvalidArgument) {
  auto model = MustLoad("two_inputs.onnx");
  ASSERT_NE(model, nullptr);
  const Tensor a = MakeTensor<float>("a", DataType::kFp32, {1, 3}, {1, 2, 3});
  const Tensor c = MakeTensor<float>("c", DataType::kFp32, {1, 3}, {1, 2, 3});
  std::vector<Tensor> outputs;
  absl::Status unknown = model->Run({a, c}, {}, &outputs);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.message(), HasSubstr("unknown input 'c'; the model's inputs are: a, b"));
  absl::Status twice = model->Run({a, a}, {}, &outputs);
  EXPECT_EQ(twice.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(twice.message(), HasSubstr("input 'a' given twice"));
}

TEST_F(OnnxBackendTest, WrongDatatypeIsInvalidArgument) {
  auto model = MustLoad("iris.onnx");
  ASSERT_NE(model, nullptr);
  const Tensor fp64 = MakeTensor<double>("input", DataType::kFp64, {1, 4}, {5.1, 3.5, 1.4, 0.2});
  std::vector<Tensor> outputs;
  absl::Status status = model->Run({fp64}, {}, &outputs);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("input 'input': the model takes FP32, got FP64"));
}

TEST_F(OnnxBackendTest, DataSizeNotMatchingShapeIsInvalidArgument) {
  auto model = MustLoad("iris.onnx");
  ASSERT_NE(model, nullptr);
  Tensor input = IrisInput(1);
  input.shape = {2, 4};  // claims 32 bytes, holds 16
  std::vector<Tensor> outputs;
  absl::Status status = model->Run({input}, {}, &outputs);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("needs 32 bytes, got 16"));

  input.shape = {-1, 4};
  status = model->Run({input}, {}, &outputs);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("negative dimension"));
}

TEST_F(OnnxBackendTest, ShapeTheModelRejectsIsInvalidArgumentFromTheEngine) {
  auto model = MustLoad("iris.onnx");
  ASSERT_NE(model, nullptr);
  const Tensor five = MakeTensor<float>("input", DataType::kFp32, {1, 5}, {1, 2, 3, 4, 5});
  std::vector<Tensor> outputs;
  absl::Status status = model->Run({five}, {}, &outputs);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("input"));
  const Tensor flat = MakeTensor<float>("input", DataType::kFp32, {4}, {1, 2, 3, 4});
  EXPECT_EQ(model->Run({flat}, {}, &outputs).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(OnnxBackendTest, MalformedBytesTensorIsInvalidArgument) {
  auto model = MustLoad("strings.onnx");
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> outputs;
  Tensor overlong = BytesTensor("text", {1}, {"setosa"});
  overlong.data[0] = 100;  // length prefix beyond the data
  EXPECT_EQ(model->Run({overlong}, {}, &outputs).code(), absl::StatusCode::kInvalidArgument);
  Tensor trailing = BytesTensor("text", {1}, {"setosa"});
  trailing.data += "xx";
  EXPECT_EQ(model->Run({trailing}, {}, &outputs).code(), absl::StatusCode::kInvalidArgument);
  Tensor missing = BytesTensor("text", {3}, {"setosa", "x"});
  absl::Status status = model->Run({missing}, {}, &outputs);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("ends before element 2 of 3"));
  Tensor huge = BytesTensor("text", {int64_t{1} << 40}, {"setosa"});
  status = model->Run({huge}, {}, &outputs);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("the data holds at most 2"));
  EXPECT_TRUE(outputs.empty());
}

TEST_F(OnnxBackendTest, RunTimeFailureReturnsTheEngineMessageAndModelStaysUsable) {
  auto model = MustLoad("reshape_fail.onnx");
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> outputs;
  const Tensor four = MakeTensor<float>("x", DataType::kFp32, {4}, {1, 2, 3, 4});
  absl::Status status = model->Run({four}, {}, &outputs);
  EXPECT_THAT(status.code(),
              testing::AnyOf(absl::StatusCode::kInternal, absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status.message(), HasSubstr("Reshape"));
  EXPECT_TRUE(outputs.empty());
  ExpectReference(*model, "reshape_ok");
  EXPECT_FALSE(model->Run({four}, {}, &outputs).ok());
  ExpectReference(*model, "reshape_ok");
}

// ---- memory ---------------------------------------------------------------------------------

TEST_F(OnnxBackendTest, MemoryBytesCoversTheWeights) {
  auto model = MustLoad("large.onnx");
  ASSERT_NE(model, nullptr);
  EXPECT_GE(model->memory_bytes(),
            static_cast<int64_t>(std::filesystem::file_size(TestModel("large.onnx"))));
  auto small = MustLoad("iris.onnx");
  ASSERT_NE(small, nullptr);
  EXPECT_GT(small->memory_bytes(), 0);
}

TEST_F(OnnxBackendTest, UnloadFreesMemoryOverManyCycles) {
  const Tensor x = MakeTensor("x", DataType::kFp32, {2, 1024}, std::vector<float>(2048, 0.5f));
  auto cycle = [&] {
    auto model = MustLoad("large.onnx");
    ASSERT_NE(model, nullptr);
    std::vector<Tensor> outputs;
    ASSERT_TRUE(model->Run({x}, {}, &outputs).ok());
  };
  for (int i = 0; i < 5; ++i) cycle();
  malloc_trim(0);
  const int64_t after_5 = ResidentBytes();
  for (int i = 5; i < 50; ++i) cycle();
  malloc_trim(0);
  const int64_t after_50 = ResidentBytes();
  // Each load holds >= 8 MiB; a leak of one model per cycle would add > 360 MiB.
  EXPECT_LT(after_50 - after_5, 16 << 20)
      << "RSS after 5 cycles " << after_5 << ", after 50 " << after_50;
}

}  // namespace
}  // namespace hotswap::runtime
