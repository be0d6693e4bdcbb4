// ArtifactSniffer: tells, from an artifact's bytes as they stream in, which framework's file it
// is — without any engine, so the registry can refuse a version whose declared `framework` does
// not match its artifact at upload (400) instead of failing at deploy.
//
// Recognised (docs/backends.md, "What an artifact must be"):
//   ONNX         a protobuf ModelProto: field 1 (ir_version, 3..99) first, then only
//                ModelProto fields with their wire types
//   TorchScript  a zip holding <archive>/constants.pkl or <archive>/code/ (torch.jit.save);
//                a zip with data.pkl but neither is torch.save's pickle archive (not TorchScript)
//   XGBoost      JSON `{"learner": ...`, UBJSON `{` + length + `learner`, legacy binary "binf"
//   TensorFlow   a tar (optionally gzip-compressed) of a SavedModel directory: an entry
//                saved_model.pb (or .pbtxt) at its top or one directory down
// Anything else is kUnknown: the declared framework's engine decides at deploy (except for
// tensorflow, whose upload format is ours to define: a SavedModel must come as a tar).
//
// Memory stays bounded whatever the artifact's size: the first and last 64 KiB, the tar entry
// names, and zlib's window for a gzip stream.
//
// Not thread-safe (one sniffer per upload).
//
// Example:
//   ArtifactSniffer sniffer;
//   for (chunk : body) sniffer.Feed(chunk);
//   HS_RETURN_IF_ERROR(CheckDeclaredFramework("onnx", sniffer.Finish()));
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace hotswap::runtime {

enum class ArtifactFormat {
  kUnknown,
  kOnnx,
  kTorchScript,
  kTorchPickle,          // torch.save zip: weights, not a TorchScript program
  kXgboostJson,
  kXgboostUbjson,
  kXgboostBinary,
  kSavedModelTar,        // tar or tar.gz with saved_model.pb
  kSavedModelZip,        // a zip of a SavedModel directory (we take tars)
  kTar,                  // another tar
  kZip,                  // another zip
};

struct SniffResult {
  ArtifactFormat format = ArtifactFormat::kUnknown;
  // Where a SavedModel tar keeps saved_model.pb ("" at the top, else the directory, e.g. "m/").
  std::string saved_model_dir;
};

// "onnx", "torchscript", "xgboost", "tensorflow" for a format of that framework, else "".
std::string_view FrameworkOf(ArtifactFormat format);
// For messages: "a TorchScript archive (a zip with constants.pkl and code/)".
std::string_view DescribeFormat(ArtifactFormat format);

class ArtifactSniffer {
 public:
  ArtifactSniffer();
  ~ArtifactSniffer();
  ArtifactSniffer(const ArtifactSniffer&) = delete;
  ArtifactSniffer& operator=(const ArtifactSniffer&) = delete;

  void Feed(std::string_view chunk);
  // After the last chunk.
  SniffResult Finish();

  // Whole-file convenience (tests, the TensorFlow backend).
  static SniffResult SniffFile(const std::string& path);

 private:
  class Tar;
  class Gunzip;

  static constexpr size_t kKeep = 64 * 1024;
  std::string head_;   // first kKeep bytes
  std::string tail_;   // last kKeep..2*kKeep bytes
  int64_t size_ = 0;
  std::unique_ptr<Tar> tar_;         // walking tar headers (plain or gunzipped)
  std::unique_ptr<Gunzip> gunzip_;   // when the artifact is gzip
  bool decided_container_ = false;
};

// OK when `detected` may be an artifact of `declared`; InvalidArgument, naming what the artifact
// is, when it is recognisably another framework's (or, for tensorflow, not a SavedModel tar).
absl::Status CheckDeclaredFramework(std::string_view declared, const SniffResult& detected);

}  // namespace hotswap::runtime
