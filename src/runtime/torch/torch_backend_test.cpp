#include "runtime/torch/torch_backend.h"

#include <malloc.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/backend_test_util.h"
#include "runtime/process_memory.h"

namespace hotswap::runtime {
namespace {

using domain::DataType;
using domain::TensorSchema;
using domain::TensorSpec;
using testing::HasSubstr;
using testing::StartsWith;
using namespace testing_util;  // NOLINT

constexpr double kTolerance = 1e-5;

std::string Model(const std::string& name) {
  return std::string(HOTSWAP_TORCHSCRIPT_MODELS_DIR) + "/" + name;
}
Json Case(const std::string& id) { return ReferenceCase(HOTSWAP_TORCHSCRIPT_MODELS_DIR, id); }

TensorSchema MlpSchema() {
  TensorSchema s;
  s.inputs = {TensorSpec{"input", DataType::kFp32, {-1, 4}}};
  s.outputs = {TensorSpec{"output", DataType::kFp32, {-1, 3}}};
  return s;
}

TensorSchema TwoIoSchema() {
  TensorSchema s;
  // Declared in the other order than forward(a, b): inputs are matched by name.
  s.inputs = {TensorSpec{"b", DataType::kFp64, {-1, 3}}, TensorSpec{"a", DataType::kFp64, {-1, 3}}};
  s.outputs = {TensorSpec{"sum", DataType::kFp64, {-1, 3}},
               TensorSpec{"scaled", DataType::kFp64, {-1, 3}}};
  return s;
}

LoadOptions WithSchema(TensorSchema schema, int threads = 1) {
  LoadOptions o;
  o.intra_op_threads = threads;
  o.declared_schema = std::move(schema);
  return o;
}

class TorchBackendTest : public testing::Test {
 protected:
  void SetUp() override {
    auto backend = TorchBackend::Create();
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
  }

  std::unique_ptr<LoadedModel> MustLoad(const std::string& name, LoadOptions options) {
    auto model = backend_->Load(Model(name), options);
    EXPECT_TRUE(model.ok()) << name << ": " << model.status();
    return model.ok() ? std::move(*model) : nullptr;
  }

  absl::Status LoadError(const std::string& path, LoadOptions options = WithSchema(MlpSchema())) {
    auto model = backend_->Load(path, options);
    return model.ok() ? absl::OkStatus() : model.status();
  }

  std::unique_ptr<TorchBackend> backend_;
};

TEST_F(TorchBackendTest, ReportsFrameworkAndEngineVersion) {
  EXPECT_EQ(backend_->framework(), "torchscript");
  EXPECT_THAT(backend_->version(), StartsWith("libtorch 1.13"));
}

TEST_F(TorchBackendTest, ScriptedAndTracedMlpMatchPyTorch) {
  for (const char* kind : {"script", "trace"}) {
    auto model = MustLoad(absl::StrCat("mlp_", kind, ".pt"), WithSchema(MlpSchema()));
    ASSERT_NE(model, nullptr) << kind;
    EXPECT_EQ(model->schema(), MlpSchema());
    ExpectReference(*model, Case(absl::StrCat("mlp_", kind, "_b1")), kTolerance);
    ExpectReference(*model, Case(absl::StrCat("mlp_", kind, "_b64")), kTolerance);
  }
}

TEST_F(TorchBackendTest, TwoInputsMatchedByNameAndTupleOutputsInOrder) {
  auto model = MustLoad("two_io.pt", WithSchema(TwoIoSchema()));
  ASSERT_NE(model, nullptr);
  ExpectReference(*model, Case("two_io"), kTolerance);
  std::vector<Tensor> outputs;
  ASSERT_TRUE(model->Run(CaseInputs(Case("two_io")), {"scaled"}, &outputs).ok());
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].name, "scaled");
}

TEST_F(TorchBackendTest, Int64StaysExact) {
  TensorSchema s;
  s.inputs = {TensorSpec{"x", DataType::kInt64, {-1, 2}}};
  s.outputs = {TensorSpec{"y", DataType::kInt64, {-1, 2}}};
  auto model = MustLoad("int64_io.pt", WithSchema(s));
  ASSERT_NE(model, nullptr);
  ExpectReference(*model, Case("int64_io"), 0);
}

TEST_F(TorchBackendTest, WithoutADeclaredSchemaTheLoadSaysWhatForwardTakes) {
  absl::Status s = LoadError(Model("two_io.pt"), LoadOptions{});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("does not record"));
  EXPECT_THAT(s.message(), HasSubstr("forward takes (a, b) and returns 2 tensor(s)"));
}

TEST_F(TorchBackendTest, ASchemaThatDoesNotFitForwardIsRefused) {
  TensorSchema wrong_name = MlpSchema();
  wrong_name.inputs[0].name = "x";
  absl::Status s = LoadError(Model("mlp_script.pt"), WithSchema(wrong_name));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("'x' is not an argument of forward; forward takes (input)"));

  TensorSchema two_outputs = MlpSchema();
  two_outputs.outputs.push_back(TensorSpec{"extra", DataType::kFp32, {-1}});
  s = LoadError(Model("mlp_script.pt"), WithSchema(two_outputs));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("declares 2 output(s)"));

  TensorSchema unsigned_input = MlpSchema();
  unsigned_input.inputs[0].datatype = DataType::kUint32;
  s = LoadError(Model("mlp_script.pt"), WithSchema(unsigned_input));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("no tensor type"));
}

TEST_F(TorchBackendTest, OutputOfAnotherDatatypeThanDeclaredIsAnError) {
  TensorSchema s = MlpSchema();
  s.outputs[0].datatype = DataType::kFp64;
  auto model = MustLoad("mlp_script.pt", WithSchema(s));
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> outputs;
  absl::Status status = model->Run(CaseInputs(Case("mlp_script_b1")), {}, &outputs);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("schema declares FP64"));
  EXPECT_TRUE(outputs.empty());
}

TEST_F(TorchBackendTest, ErrorsInsideForwardAreInvalidArgumentAndTheModelStaysUsable) {
  auto model = MustLoad("mlp_script.pt", WithSchema(MlpSchema()));
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> outputs;
  // 5 features where the first Linear takes 4.
  absl::Status s = model->Run(
      {MakeTensor("input", DataType::kFp32, {2, 5}, std::vector<float>(10, 1.0f))}, {}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("the model failed"));
  s = model->Run({MakeTensor("input", DataType::kFp64, {1, 4}, std::vector<double>(4))}, {},
                 &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = model->Run({MakeTensor("input", DataType::kFp32, {2, 4}, std::vector<float>(4))}, {}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = model->Run({MakeTensor("nope", DataType::kFp32, {1, 4}, std::vector<float>(4))}, {}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(outputs.empty());
  ExpectReference(*model, Case("mlp_script_b64"), kTolerance);
}

TEST_F(TorchBackendTest, CorruptEmptyMissingAndOtherFrameworksFilesAreRefused) {
  absl::Status s = LoadError(Model("corrupt.pt"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("cannot load"));
  // torch.save of a state_dict: a PyTorch zip, but not TorchScript.
  s = LoadError(Model("state_dict.pt"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  // The same MLP exported to ONNX.
  s = LoadError(Model("mlp.onnx"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(LoadError(Model("missing.pt")).code(), absl::StatusCode::kFailedPrecondition);
  const std::string dir = testing::TempDir();
  std::ofstream(dir + "/empty.pt").flush();
  EXPECT_EQ(LoadError(dir + "/empty.pt").code(), absl::StatusCode::kInvalidArgument);
  std::ofstream(dir + "/text.pt") << "not a model";
  EXPECT_EQ(LoadError(dir + "/text.pt").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TorchBackendTest, ConcurrentRunsGiveTheSerialResult) {
  auto model = MustLoad("mlp_script.pt", WithSchema(MlpSchema()));
  ASSERT_NE(model, nullptr);
  const std::vector<Tensor> inputs = CaseInputs(Case("mlp_script_b64"));
  std::vector<Tensor> baseline;
  ASSERT_TRUE(model->Run(inputs, {}, &baseline).ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        std::vector<Tensor> outputs;
        if (!model->Run(inputs, {}, &outputs).ok() || outputs.size() != 1 ||
            outputs[0].data != baseline[0].data) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ExpectReference(*model, Case("mlp_script_b64"), kTolerance);
}

TEST_F(TorchBackendTest, SeveralIntraOpThreadsGiveTheSameResults) {
  auto model = MustLoad("mlp_trace.pt", WithSchema(MlpSchema(), 2));
  ASSERT_NE(model, nullptr);
  ExpectReference(*model, Case("mlp_trace_b64"), kTolerance);
  EXPECT_EQ(LoadError(Model("mlp_trace.pt"), WithSchema(MlpSchema(), 0)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TorchBackendTest, MemoryBytesCoversTheArchive) {
  auto model = MustLoad("bench_mlp.pt", [] {
    TensorSchema s;
    s.inputs = {TensorSpec{"input", DataType::kFp32, {-1, 32}}};
    s.outputs = {TensorSpec{"output", DataType::kFp32, {-1, 8}}};
    return WithSchema(s);
  }());
  ASSERT_NE(model, nullptr);
  EXPECT_GE(model->memory_bytes(),
            static_cast<int64_t>(std::filesystem::file_size(Model("bench_mlp.pt"))));
}

TEST_F(TorchBackendTest, UnloadFreesMemoryOverManyCycles) {
  const std::vector<Tensor> inputs = CaseInputs(Case("mlp_script_b64"));
  auto cycle = [&] {
    auto model = MustLoad("mlp_script.pt", WithSchema(MlpSchema()));
    ASSERT_NE(model, nullptr);
    std::vector<Tensor> outputs;
    ASSERT_TRUE(model->Run(inputs, {}, &outputs).ok());
  };
  for (int i = 0; i < 10; ++i) cycle();
  malloc_trim(0);
  const int64_t after_10 = ResidentSetBytes();
  for (int i = 10; i < 200; ++i) cycle();
  malloc_trim(0);
  const int64_t after_200 = ResidentSetBytes();
  // A module with its compiled code takes ~100 KB; a leak per cycle would add ~20 MB.
  EXPECT_LT(after_200 - after_10, 8 << 20)
      << "RSS after 10 cycles " << after_10 << ", after 200 " << after_200;
}

}  // namespace
}  // namespace hotswap::runtime
