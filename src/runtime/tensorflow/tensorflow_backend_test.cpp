#include "runtime/tensorflow/tensorflow_backend.h"

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
#include "runtime/tensorflow/saved_model_archive.h"

namespace hotswap::runtime {
namespace {

namespace fs = std::filesystem;
using domain::DataType;
using domain::TensorSchema;
using domain::TensorSpec;
using testing::HasSubstr;
using testing::StartsWith;
using namespace testing_util;  // NOLINT

constexpr double kTolerance = 1e-5;

std::string Model(const std::string& name) {
  return std::string(HOTSWAP_TENSORFLOW_MODELS_DIR) + "/" + name;
}
Json Case(const std::string& id) { return ReferenceCase(HOTSWAP_TENSORFLOW_MODELS_DIR, id); }

class TensorflowBackendTest : public testing::Test {
 protected:
  void SetUp() override {
    auto backend = TensorflowBackend::Create();
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
    // Load() extracts beside the artifact: work on copies in a private directory.
    dir_ = fs::path(testing::TempDir()) / ("tf_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Copy(const std::string& name) {
    const fs::path to = dir_ / name;
    fs::copy_file(Model(name), to, fs::copy_options::overwrite_existing);
    return to.string();
  }
  std::unique_ptr<LoadedModel> MustLoad(const std::string& name, LoadOptions options = {}) {
    auto model = backend_->Load(Copy(name), options);
    EXPECT_TRUE(model.ok()) << name << ": " << model.status();
    return model.ok() ? std::move(*model) : nullptr;
  }
  absl::Status LoadError(const std::string& path) {
    auto model = backend_->Load(path, LoadOptions{});
    return model.ok() ? absl::OkStatus() : model.status();
  }
  // Nothing left beside the artifacts but the artifacts themselves.
  void ExpectNoExtractionLeft() {
    for (const auto& entry : fs::directory_iterator(dir_)) {
      EXPECT_TRUE(entry.is_regular_file()) << "left behind: " << entry.path();
    }
  }

  std::unique_ptr<TensorflowBackend> backend_;
  fs::path dir_;
};

TEST_F(TensorflowBackendTest, ReportsFrameworkAndEngineVersion) {
  EXPECT_EQ(backend_->framework(), "tensorflow");
  EXPECT_THAT(backend_->version(), StartsWith("tensorflow 2."));
}

TEST_F(TensorflowBackendTest, DescribesTheServingDefaultSignature) {
  auto model = MustLoad("mlp.tar");
  ASSERT_NE(model, nullptr);
  TensorSchema expected;
  expected.inputs = {TensorSpec{"input", DataType::kFp32, {-1, 4}}};
  expected.outputs = {TensorSpec{"output", DataType::kFp32, {-1, 3}},
                      TensorSpec{"probabilities", DataType::kFp32, {-1, 3}}};
  EXPECT_EQ(model->schema(), expected);
  ExpectNoExtractionLeft();
}

TEST_F(TensorflowBackendTest, MlpMatchesTheSavedModelCalledFromPython) {
  for (const char* file : {"mlp.tar", "mlp.tar.gz"}) {
    auto model = MustLoad(file);
    ASSERT_NE(model, nullptr) << file;
    ExpectReference(*model, Case("mlp_b1"), kTolerance);
    ExpectReference(*model, Case("mlp_b64"), kTolerance);
  }
  ExpectNoExtractionLeft();
}

TEST_F(TensorflowBackendTest, HotswapJsonChoosesAnotherSignature) {
  auto model = MustLoad("mlp_custom_signature.tar");
  ASSERT_NE(model, nullptr);
  TensorSchema expected;
  expected.inputs = {TensorSpec{"input", DataType::kFp32, {-1, 4}}};
  expected.outputs = {TensorSpec{"label", DataType::kInt64, {-1}}};
  EXPECT_EQ(model->schema(), expected);
  ExpectReference(*model, Case("mlp_argmax_b64"), 0);
}

TEST_F(TensorflowBackendTest, TwoInputsOfDifferentDatatypes) {
  auto model = MustLoad("two_io.tar");
  ASSERT_NE(model, nullptr);
  TensorSchema expected;
  expected.inputs = {TensorSpec{"a", DataType::kFp64, {-1, 3}},
                     TensorSpec{"b", DataType::kInt32, {-1}}};
  expected.outputs = {TensorSpec{"total", DataType::kFp64, {-1, 3}}};
  EXPECT_EQ(model->schema(), expected);
  ExpectReference(*model, Case("two_io"), 1e-12);
}

TEST_F(TensorflowBackendTest, BadInputsAreInvalidArgumentAndTheModelStaysUsable) {
  auto model = MustLoad("mlp.tar");
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> outputs;
  absl::Status s = model->Run(
      {MakeTensor("input", DataType::kFp32, {2, 5}, std::vector<float>(10, 1.0f))}, {}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  s = model->Run({MakeTensor("input", DataType::kFp64, {1, 4}, std::vector<double>(4))}, {},
                 &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = model->Run({MakeTensor("x", DataType::kFp32, {1, 4}, std::vector<float>(4))}, {}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = model->Run({MakeTensor("input", DataType::kFp32, {1, 4}, std::vector<float>(4))}, {"nope"},
                 &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(outputs.empty());
  ExpectReference(*model, Case("mlp_b64"), kTolerance);
}

TEST_F(TensorflowBackendTest, CorruptEmptyMissingAndOtherFrameworksFilesAreRefused) {
  absl::Status s = LoadError(Copy("corrupt.tar"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  s = LoadError(Copy("no_saved_model.tar"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("without saved_model.pb"));
  EXPECT_EQ(LoadError((dir_ / "missing.tar").string()).code(), absl::StatusCode::kFailedPrecondition);
  std::ofstream(dir_ / "empty.tar").flush();
  EXPECT_EQ(LoadError((dir_ / "empty.tar").string()).code(), absl::StatusCode::kInvalidArgument);
  std::ofstream(dir_ / "text.tar") << "not a tar";
  EXPECT_EQ(LoadError((dir_ / "text.tar").string()).code(), absl::StatusCode::kInvalidArgument);
  const std::string onnx = std::string(HOTSWAP_TENSORFLOW_MODELS_DIR) + "/../test/iris.onnx";
  if (fs::exists(onnx)) {
    s = LoadError(onnx);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("ONNX"));
  }
  ExpectNoExtractionLeft();
}

TEST_F(TensorflowBackendTest, ExtractionRefusesEntriesThatLeaveTheDirectoryAndLinks) {
  // Tars written with Python's tarfile: one with "../escape.txt", one with a symlink.
  const std::string script = absl::StrCat(
      "import io, tarfile\n"
      "def tar(path, info, data=b''):\n"
      "    with tarfile.open(path, 'w') as t:\n"
      "        good = tarfile.TarInfo('saved_model.pb'); good.size = 1\n"
      "        t.addfile(good, io.BytesIO(b'x'))\n"
      "        info.size = len(data); t.addfile(info, io.BytesIO(data))\n"
      "tar('", (dir_ / "escape.tar").string(), "', tarfile.TarInfo('../escape.txt'), b'bad')\n"
      "link = tarfile.TarInfo('variables'); link.type = tarfile.SYMTYPE; link.linkname = '/etc'\n"
      "tar('", (dir_ / "link.tar").string(), "', link)\n");
  std::ofstream(dir_ / "make.py") << script;
  ASSERT_EQ(std::system(("python3 " + (dir_ / "make.py").string()).c_str()), 0);
  for (const char* name : {"escape.tar", "link.tar"}) {
    const fs::path out = dir_ / (std::string(name) + ".d");
    fs::create_directories(out);
    int64_t bytes = 0;
    absl::Status s = ExtractTar((dir_ / name).string(), out.string(), &bytes);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name << ": " << s;
    EXPECT_FALSE(fs::exists(dir_ / "escape.txt"));
    EXPECT_FALSE(fs::is_symlink(out / "variables"));
    fs::remove_all(out);
  }
  fs::remove(dir_ / "make.py");
}

TEST_F(TensorflowBackendTest, ConcurrentRunsGiveTheSerialResult) {
  auto model = MustLoad("mlp.tar", LoadOptions{.intra_op_threads = 2});
  ASSERT_NE(model, nullptr);
  const std::vector<Tensor> inputs = CaseInputs(Case("mlp_b64"));
  std::vector<Tensor> baseline;
  ASSERT_TRUE(model->Run(inputs, {}, &baseline).ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        std::vector<Tensor> outputs;
        if (!model->Run(inputs, {}, &outputs).ok() || outputs.size() != 2 ||
            outputs[0].data != baseline[0].data || outputs[1].data != baseline[1].data) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ExpectReference(*model, Case("mlp_b64"), kTolerance);
}

TEST_F(TensorflowBackendTest, MemoryBytesCoversTheSavedModel) {
  auto model = MustLoad("bench_mlp.tar");
  ASSERT_NE(model, nullptr);
  EXPECT_GE(model->memory_bytes(), 20000);
}

TEST_F(TensorflowBackendTest, UnloadFreesMemoryOverManyCycles) {
  const std::vector<Tensor> inputs = CaseInputs(Case("mlp_b64"));
  const std::string path = Copy("mlp.tar");
  auto cycle = [&] {
    auto model = backend_->Load(path, LoadOptions{});
    ASSERT_TRUE(model.ok()) << model.status();
    std::vector<Tensor> outputs;
    ASSERT_TRUE((*model)->Run(inputs, {}, &outputs).ok());
  };
  for (int i = 0; i < 10; ++i) cycle();
  malloc_trim(0);
  const int64_t after_10 = ResidentSetBytes();
  for (int i = 10; i < 60; ++i) cycle();
  malloc_trim(0);
  const int64_t after_60 = ResidentSetBytes();
  // A session with its graph and thread pools takes a few MB; a leak per cycle would add more
  // than 100 MB.
  EXPECT_LT(after_60 - after_10, 24 << 20)
      << "RSS after 10 cycles " << after_10 << ", after 60 " << after_60;
  ExpectNoExtractionLeft();
}

}  // namespace
}  // namespace hotswap::runtime
