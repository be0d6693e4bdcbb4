#include "runtime/artifact_format.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hotswap::runtime {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Feeds `bytes` in chunks of `chunk` bytes.
SniffResult Sniff(const std::string& bytes, size_t chunk = 65536) {
  ArtifactSniffer sniffer;
  for (size_t at = 0; at < bytes.size(); at += chunk) {
    sniffer.Feed(std::string_view(bytes).substr(at, chunk));
  }
  return sniffer.Finish();
}

std::string Models(const std::string& dir, const std::string& name) {
  return std::string(HOTSWAP_MODELS_ROOT) + "/" + dir + "/" + name;
}

// A fake SavedModel directory under a temp dir, archived with the system's tar.
class SavedModelTarTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(testing::TempDir()) / ("sniff_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "model/variables");
    std::ofstream(root_ / "model/variables/variables.data-00000-of-00001")
        << std::string(300000, 'v');
    std::ofstream(root_ / "model/variables/variables.index") << "index";
    std::ofstream(root_ / "model/saved_model.pb") << "\x08\x01\x12\x04meta";
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Tar(const std::string& flags, const std::string& what = ".") {
    const std::string out = (root_ / "out.tar").string();
    const std::string cmd = "tar " + flags + " -f " + out + " -C " + (root_ / "model").string() +
                            " " + what + " 2>/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return ReadAll(out);
  }

  fs::path root_;
};

TEST(ArtifactSnifferTest, RecognisesOnnxModelsFromTwoExporters) {
  EXPECT_EQ(ArtifactSniffer::SniffFile(Models("test", "iris.onnx")).format, ArtifactFormat::kOnnx);
  EXPECT_EQ(ArtifactSniffer::SniffFile(Models("test", "large.onnx")).format, ArtifactFormat::kOnnx);
  if (fs::exists(Models("torchscript", "mlp.onnx"))) {
    EXPECT_EQ(ArtifactSniffer::SniffFile(Models("torchscript", "mlp.onnx")).format,
              ArtifactFormat::kOnnx);
  }
}

TEST(ArtifactSnifferTest, RecognisesTorchScriptAndTellsATorchSavePickleApart) {
  if (!fs::exists(Models("torchscript", "mlp_script.pt"))) GTEST_SKIP()
      << "TorchScript test models are built only when the TorchScript backend is "
         "(HOTSWAP_WITH_TORCHSCRIPT, LibTorch found); scripts/test.sh requires it";
  for (const char* name : {"mlp_script.pt", "mlp_trace.pt", "two_io.pt", "bench_mlp.pt"}) {
    EXPECT_EQ(ArtifactSniffer::SniffFile(Models("torchscript", name)).format,
              ArtifactFormat::kTorchScript)
        << name;
  }
  EXPECT_EQ(ArtifactSniffer::SniffFile(Models("torchscript", "state_dict.pt")).format,
            ArtifactFormat::kTorchPickle);
  // Streamed one byte at a time, the answer is the same.
  EXPECT_EQ(Sniff(ReadAll(Models("torchscript", "mlp_script.pt")), 1).format,
            ArtifactFormat::kTorchScript);
}

TEST(ArtifactSnifferTest, RecognisesEveryXgboostFormat) {
  if (!fs::exists(Models("xgboost", "xgb_binary.json"))) GTEST_SKIP()
      << "XGBoost test models are built only when the XGBoost backend is "
         "(HOTSWAP_WITH_XGBOOST, libxgboost found); scripts/test.sh requires it";
  EXPECT_EQ(ArtifactSniffer::SniffFile(Models("xgboost", "xgb_binary.json")).format,
            ArtifactFormat::kXgboostJson);
  EXPECT_EQ(ArtifactSniffer::SniffFile(Models("xgboost", "xgb_binary.ubj")).format,
            ArtifactFormat::kXgboostUbjson);
  EXPECT_EQ(ArtifactSniffer::SniffFile(Models("xgboost", "xgb_binary.bin")).format,
            ArtifactFormat::kXgboostBinary);
  EXPECT_EQ(Sniff(" \n{ \"learner\": {}}", 3).format, ArtifactFormat::kXgboostJson);
}

TEST(ArtifactSnifferTest, ArbitraryBytesAreUnknown) {
  EXPECT_EQ(Sniff("").format, ArtifactFormat::kUnknown);
  EXPECT_EQ(Sniff("artifact-bytes").format, ArtifactFormat::kUnknown);
  EXPECT_EQ(Sniff(std::string(8 << 20, 'x'), 1 << 20).format, ArtifactFormat::kUnknown);
  EXPECT_EQ(Sniff("{\"name\": \"not xgboost\"}").format, ArtifactFormat::kUnknown);
  EXPECT_EQ(Sniff(std::string("\x08\x01\x12\x04meta", 7)).format, ArtifactFormat::kUnknown);
}

TEST_F(SavedModelTarTest, FindsSavedModelPbInPlainGzipAndPaxTarsWhateverTheChunking) {
  for (const std::string flags : {"-c", "-cz", "--format=pax -c", "--format=gnu -cz"}) {
    const std::string tar = Tar(flags);
    for (size_t chunk : {size_t{1} << 20, size_t{4096}, size_t{511}}) {
      const SniffResult r = Sniff(tar, chunk);
      EXPECT_EQ(r.format, ArtifactFormat::kSavedModelTar) << flags << " chunk " << chunk;
      EXPECT_EQ(r.saved_model_dir, "") << flags;
    }
  }
}

TEST_F(SavedModelTarTest, FindsItOneDirectoryDownAndAfterLongNames) {
  fs::create_directories(root_ / "model" / std::string(120, 'd'));
  std::ofstream(root_ / "model" / std::string(120, 'd') / "x.txt") << "long";
  const std::string tar = Tar("-c", ". ");
  EXPECT_EQ(Sniff(tar).format, ArtifactFormat::kSavedModelTar);
  const std::string out = (root_ / "up.tar").string();
  ASSERT_EQ(std::system(("tar -cf " + out + " -C " + root_.string() + " model").c_str()), 0);
  const SniffResult r = Sniff(ReadAll(out));
  EXPECT_EQ(r.format, ArtifactFormat::kSavedModelTar);
  EXPECT_EQ(r.saved_model_dir, "model/");
}

TEST_F(SavedModelTarTest, ATarWithoutSavedModelPbIsJustATar) {
  EXPECT_EQ(Sniff(Tar("-c", "variables")).format, ArtifactFormat::kTar);
}

TEST(CheckDeclaredFrameworkTest, AMatchOrAnUnrecognisedFileIsAccepted) {
  EXPECT_TRUE(CheckDeclaredFramework("onnx", {ArtifactFormat::kOnnx, ""}).ok());
  EXPECT_TRUE(CheckDeclaredFramework("xgboost", {ArtifactFormat::kXgboostUbjson, ""}).ok());
  EXPECT_TRUE(CheckDeclaredFramework("torchscript", {ArtifactFormat::kTorchScript, ""}).ok());
  EXPECT_TRUE(CheckDeclaredFramework("tensorflow", {ArtifactFormat::kSavedModelTar, ""}).ok());
  for (const char* f : {"onnx", "xgboost", "torchscript"}) {
    EXPECT_TRUE(CheckDeclaredFramework(f, {ArtifactFormat::kUnknown, ""}).ok()) << f;
  }
}

TEST(CheckDeclaredFrameworkTest, AnotherFrameworksArtifactIsRefusedWithWhatItIs) {
  absl::Status s = CheckDeclaredFramework("onnx", {ArtifactFormat::kTorchScript, ""});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("metadata.framework is \"onnx\" but the artifact is a "
                                     "TorchScript archive"));
  EXPECT_THAT(s.message(), HasSubstr("declare \"framework\": \"torchscript\""));
  s = CheckDeclaredFramework("torchscript", {ArtifactFormat::kTorchPickle, ""});
  EXPECT_THAT(s.message(), HasSubstr("torch.jit.save"));
  s = CheckDeclaredFramework("xgboost", {ArtifactFormat::kOnnx, ""});
  EXPECT_THAT(s.message(), HasSubstr("an ONNX model"));
  s = CheckDeclaredFramework("tensorflow", {ArtifactFormat::kUnknown, ""});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("as a tar"));
  s = CheckDeclaredFramework("tensorflow", {ArtifactFormat::kTar, ""});
  EXPECT_THAT(s.message(), HasSubstr("without saved_model.pb"));
  s = CheckDeclaredFramework("onnx", {ArtifactFormat::kSavedModelTar, ""});
  EXPECT_THAT(s.message(), HasSubstr("declare \"framework\": \"tensorflow\""));
}

}  // namespace
}  // namespace hotswap::runtime
