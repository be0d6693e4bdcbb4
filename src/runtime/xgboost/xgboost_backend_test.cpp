#include "runtime/xgboost/xgboost_backend.h"

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
#include "runtime/feature_contributions.h"
#include "runtime/process_memory.h"

namespace hotswap::runtime {
namespace {

using domain::DataType;
using domain::TensorSchema;
using domain::TensorSpec;
using testing::HasSubstr;
using testing::StartsWith;
using namespace testing_util;  // NOLINT

// XGBoost sums 100 trees in float; Python and C++ run the same library, so the only differences
// are in summation order across threads.
constexpr double kTolerance = 1e-5;

std::string Model(const std::string& name) {
  return std::string(HOTSWAP_XGBOOST_MODELS_DIR) + "/" + name;
}
Json Case(const std::string& id) { return ReferenceCase(HOTSWAP_XGBOOST_MODELS_DIR, id); }

class XgboostBackendTest : public testing::Test {
 protected:
  void SetUp() override {
    auto backend = XgboostBackend::Create();
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
  }

  std::unique_ptr<LoadedModel> MustLoad(const std::string& name, LoadOptions options = {}) {
    auto model = backend_->Load(Model(name), options);
    EXPECT_TRUE(model.ok()) << name << ": " << model.status();
    return model.ok() ? std::move(*model) : nullptr;
  }

  absl::Status LoadError(const std::string& path) {
    auto model = backend_->Load(path, LoadOptions{});
    return model.ok() ? absl::OkStatus() : model.status();
  }

  static void ExpectContributions(const LoadedModel& model, const std::string& id) {
    const auto* explainer = dynamic_cast<const FeatureContributions*>(&model);
    ASSERT_NE(explainer, nullptr);
    const Json c = Case(id);
    absl::StatusOr<Tensor> contributions = explainer->Contributions(CaseInputs(c));
    ASSERT_TRUE(contributions.ok()) << contributions.status();
    SCOPED_TRACE(id);
    ExpectMatches(c.at("outputs")[0], *contributions, kTolerance);
  }

  std::unique_ptr<XgboostBackend> backend_;
};

TEST_F(XgboostBackendTest, ReportsFrameworkAndEngineVersion) {
  EXPECT_EQ(backend_->framework(), "xgboost");
  EXPECT_THAT(backend_->version(), StartsWith("xgboost 1."));
}

TEST_F(XgboostBackendTest, DescribesClassifierAndRegressorSchemasFromTheBooster) {
  auto binary = MustLoad("xgb_binary.json");
  auto multi = MustLoad("xgb_multiclass.json");
  auto regressor = MustLoad("xgb_regressor.json");
  ASSERT_TRUE(binary && multi && regressor);
  TensorSchema expected;
  expected.inputs = {TensorSpec{"input", DataType::kFp32, {-1, 8}}};
  expected.outputs = {TensorSpec{"label", DataType::kInt64, {-1}},
                      TensorSpec{"probabilities", DataType::kFp32, {-1, 2}}};
  EXPECT_EQ(binary->schema(), expected);
  expected.inputs = {TensorSpec{"input", DataType::kFp32, {-1, 6}}};
  expected.outputs = {TensorSpec{"label", DataType::kInt64, {-1}},
                      TensorSpec{"probabilities", DataType::kFp32, {-1, 3}}};
  EXPECT_EQ(multi->schema(), expected);
  expected.inputs = {TensorSpec{"input", DataType::kFp32, {-1, 5}}};
  expected.outputs = {TensorSpec{"predictions", DataType::kFp32, {-1}}};
  EXPECT_EQ(regressor->schema(), expected);
}

TEST_F(XgboostBackendTest, BinaryClassifierProbabilitiesMatchPythonXgboostInEveryFormat) {
  for (const char* format : {"json", "ubj", "bin"}) {
    auto model = MustLoad(std::string("xgb_binary.") + format);
    ASSERT_NE(model, nullptr) << format;
    for (int batch : {1, 64}) {
      ExpectReference(*model, Case(absl::StrCat("xgb_binary_", format, "_b", batch)), kTolerance);
    }
  }
}

TEST_F(XgboostBackendTest, MultiClassProbabilitiesMatchPythonXgboost) {
  auto model = MustLoad("xgb_multiclass.json");
  ASSERT_NE(model, nullptr);
  ExpectReference(*model, Case("xgb_multiclass"), kTolerance);
}

TEST_F(XgboostBackendTest, RegressorMatchesPythonXgboost) {
  auto model = MustLoad("xgb_regressor.json");
  ASSERT_NE(model, nullptr);
  ExpectReference(*model, Case("xgb_regressor_b1"), kTolerance);
  ExpectReference(*model, Case("xgb_regressor_b32"), kTolerance);
}

TEST_F(XgboostBackendTest, ContributionsMatchPredContribsAndSumToTheMargin) {
  auto binary = MustLoad("xgb_binary.json");
  auto multi = MustLoad("xgb_multiclass.json");
  auto regressor = MustLoad("xgb_regressor.json");
  ASSERT_TRUE(binary && multi && regressor);
  ExpectContributions(*binary, "xgb_binary_contribs_b1");
  ExpectContributions(*binary, "xgb_binary_contribs_b64");
  ExpectContributions(*multi, "xgb_multiclass_contribs");
  ExpectContributions(*regressor, "xgb_regressor_contribs_b32");

  // Each row's contributions sum to the logit of the predicted probability.
  const Json c = Case("xgb_binary_json_b64");
  const auto* explainer = dynamic_cast<const FeatureContributions*>(binary.get());
  absl::StatusOr<Tensor> contributions = explainer->Contributions(CaseInputs(c));
  ASSERT_TRUE(contributions.ok());
  ASSERT_EQ(contributions->shape, (std::vector<int64_t>{64, 9}));
  std::vector<Tensor> outputs;
  ASSERT_TRUE(binary->Run(CaseInputs(c), {"probabilities"}, &outputs).ok());
  const std::vector<float> sums = Values<float>(*contributions);
  const std::vector<float> probs = Values<float>(outputs[0]);
  for (int r = 0; r < 64; ++r) {
    double margin = 0;
    for (int f = 0; f < 9; ++f) margin += sums[r * 9 + f];
    EXPECT_NEAR(1.0 / (1.0 + std::exp(-margin)), probs[r * 2 + 1], 1e-5) << "row " << r;
  }
}

TEST_F(XgboostBackendTest, OutputsComeInTheOrderAskedAndEmptyMeansAll) {
  auto model = MustLoad("xgb_multiclass.json");
  ASSERT_NE(model, nullptr);
  const Json c = Case("xgb_multiclass");
  std::vector<Tensor> outputs;
  ASSERT_TRUE(model->Run(CaseInputs(c), {"probabilities", "label"}, &outputs).ok());
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].name, "probabilities");
  EXPECT_EQ(outputs[1].name, "label");
  outputs.clear();
  ASSERT_TRUE(model->Run(CaseInputs(c), {}, &outputs).ok());
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].name, "label");
}

TEST_F(XgboostBackendTest, EmptyBatchGivesEmptyOutputs) {
  auto model = MustLoad("xgb_binary.json");
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> outputs;
  ASSERT_TRUE(model->Run({Tensor{"input", DataType::kFp32, {0, 8}, ""}}, {}, &outputs).ok());
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[1].shape, (std::vector<int64_t>{0, 2}));
}

TEST_F(XgboostBackendTest, InputsThatDoNotFitAreInvalidArgument) {
  auto model = MustLoad("xgb_binary.json");
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> outputs;
  auto run = [&](Tensor t, std::vector<std::string> names = {}) {
    return model->Run({std::move(t)}, names, &outputs);
  };
  const std::vector<float> row(8, 0.5f);
  absl::Status s = run(MakeTensor("x", DataType::kFp32, {1, 8}, row));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("unknown input 'x'"));
  s = run(MakeTensor("input", DataType::kFp32, {1, 7}, std::vector<float>(7)));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("[-1,8]"));
  s = run(MakeTensor("input", DataType::kFp64, {1, 8}, std::vector<double>(8)));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = run(MakeTensor("input", DataType::kFp32, {2, 8}, row));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("needs 64"));
  s = run(MakeTensor("input", DataType::kFp32, {1, 8}, row), {"logits"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("label, probabilities"));
  EXPECT_TRUE(outputs.empty());
}

TEST_F(XgboostBackendTest, CorruptEmptyMissingAndOtherFrameworksFilesAreRefused) {
  absl::Status s = LoadError(Model("corrupt.json"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("XGBoost cannot load"));
  s = LoadError(Model("does-not-exist.json"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  const std::string dir = testing::TempDir();
  std::ofstream(dir + "/empty.json").flush();
  EXPECT_EQ(LoadError(dir + "/empty.json").code(), absl::StatusCode::kInvalidArgument);
  std::ofstream(dir + "/text.json") << "this is not a model\n";
  EXPECT_EQ(LoadError(dir + "/text.json").code(), absl::StatusCode::kInvalidArgument);
  std::ofstream(dir + "/other.json") << R"({"learner": 3})";
  EXPECT_FALSE(LoadError(dir + "/other.json").ok());
  // Another framework's artifacts (built by the ONNX test models, next to this build's models).
  const std::string onnx = std::string(HOTSWAP_XGBOOST_MODELS_DIR) + "/../test/iris.onnx";
  if (std::filesystem::exists(onnx)) {
    EXPECT_EQ(LoadError(onnx).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(XgboostBackendTest, ConcurrentRunsAndContributionsAgreeWithSerialOnes) {
  auto model = MustLoad("xgb_multiclass.json", LoadOptions{.intra_op_threads = 2});
  ASSERT_NE(model, nullptr);
  const Json c = Case("xgb_multiclass");
  const std::vector<Tensor> inputs = CaseInputs(c);
  const auto* explainer = dynamic_cast<const FeatureContributions*>(model.get());
  std::vector<Tensor> baseline;
  ASSERT_TRUE(model->Run(inputs, {}, &baseline).ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        std::vector<Tensor> outputs;
        // Bit-identical to a serial run of the same model.
        if (!model->Run(inputs, {}, &outputs).ok() || outputs.size() != 2 ||
            outputs[0].data != baseline[0].data || outputs[1].data != baseline[1].data) {
          failures.fetch_add(1);
        }
        if (t % 2 == 0 && i % 10 == 0) {
          auto cs = explainer->Contributions(inputs);
          if (!cs.ok() || cs->shape != (std::vector<int64_t>{16, 3, 7})) failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ExpectReference(*model, c, kTolerance);
  ExpectContributions(*model, "xgb_multiclass_contribs");
}

TEST_F(XgboostBackendTest, SeveralIntraOpThreadsGiveTheSameResults) {
  auto model = MustLoad("xgb_binary.json", LoadOptions{.intra_op_threads = 4});
  ASSERT_NE(model, nullptr);
  ExpectReference(*model, Case("xgb_binary_json_b64"), kTolerance);
  EXPECT_EQ(backend_->Load(Model("xgb_binary.json"), LoadOptions{.intra_op_threads = 0})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(XgboostBackendTest, MemoryBytesCoversTheModel) {
  auto model = MustLoad("xgb_multiclass.json");
  ASSERT_NE(model, nullptr);
  EXPECT_GE(model->memory_bytes(),
            static_cast<int64_t>(std::filesystem::file_size(Model("xgb_multiclass.json"))));
}

TEST_F(XgboostBackendTest, UnloadFreesMemoryOverManyCycles) {
  const Json c = Case("xgb_multiclass");
  auto cycle = [&] {
    auto model = MustLoad("xgb_multiclass.json");
    ASSERT_NE(model, nullptr);
    std::vector<Tensor> outputs;
    ASSERT_TRUE(model->Run(CaseInputs(c), {}, &outputs).ok());
  };
  for (int i = 0; i < 5; ++i) cycle();
  malloc_trim(0);
  const int64_t after_5 = ResidentSetBytes();
  for (int i = 5; i < 100; ++i) cycle();
  malloc_trim(0);
  const int64_t after_100 = ResidentSetBytes();
  // One booster holds ~2 MB of trees; a leak of one per cycle would add ~190 MB.
  EXPECT_LT(after_100 - after_5, 8 << 20)
      << "RSS after 5 cycles " << after_5 << ", after 100 " << after_100;
}

}  // namespace
}  // namespace hotswap::runtime
