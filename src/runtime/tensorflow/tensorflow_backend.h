// TensorflowBackend: the "tensorflow" Backend. Loads TensorFlow SavedModels through TensorFlow's
// C API (TF_LoadSessionFromSavedModel, TF_SessionRun) and runs one of their signatures.
//
// Artifact: a SavedModel is a directory, so HotSwap takes it as a tar of that directory (plain or
// gzip-compressed; ustar, GNU or pax), with saved_model.pb at the tar's top or one directory
// down: `tar -C export_dir -cf model.tar .`. Load() extracts it into a private temporary
// directory next to the artifact (refusing absolute paths, `..`, links and devices), loads it
// with tag "serve", and removes the directory (the session keeps what it needs in memory).
//
// Signature: `serving_default`, or the one named by an optional `hotswap.json` at the top of the
// tar, `{"signature_def": "predict", "tags": "serve"}`. Inputs and outputs are the signature's
// keys (sorted by name), with the datatypes and shapes the signature declares (unknown
// dimensions -1); a signature with an input or output of unknown rank, or of a datatype with no
// KServe V2 equivalent (strings, complex, resources, quantised types), is refused with
// FailedPrecondition.
//
// Engine: libtensorflow_cc.so.2 from the tensorflow-cpu wheel (installed by
// scripts/install-deps.sh into the project venv), opened with dlopen(RTLD_LOCAL | RTLD_DEEPBIND)
// at the first Load() — from the path CMake found, or $HOTSWAP_TENSORFLOW_LIBRARY — so a server
// that serves no TensorFlow model never maps it (~300 MB resident once opened). It is not linked:
// TensorFlow carries its own protobuf and Abseil and exports their symbols, which must not bind
// to (or be bound by) the Debian protobuf that LibTorch and ONNX load in the same process.
// TF_CPP_MIN_LOG_LEVEL defaults to 2 (warnings and above).
//
// Threads: each session gets its own pools (use_per_session_threads): intra-op threads from
// LoadOptions::intra_op_threads, inter-op 1; they end with the session. Run() may be called from
// any number of threads at once (TF_SessionRun is thread-safe).
//
// Errors: a file that is not a SavedModel tar, or a SavedModel TensorFlow refuses, is
// InvalidArgument; a missing signature or unsupported datatype FailedPrecondition; errors while
// running are InvalidArgument for TensorFlow's INVALID_ARGUMENT (a shape the graph rejects),
// Internal otherwise. memory_bytes(): RSS growth around the load (serialised), at least the
// extracted SavedModel's size.
//
// Thread-safety: TensorflowBackend is thread-safe; a loaded model is immutable.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/backend.h"

namespace hotswap::runtime {

class TensorflowBackend : public Backend {
 public:
  // FailedPrecondition when TensorFlow's library is missing (whether it opens and has the C API
  // is known at the first Load()).
  static absl::StatusOr<std::unique_ptr<TensorflowBackend>> Create();

  std::string_view framework() const override { return "tensorflow"; }
  // "tensorflow 2.21.0": the opened library's TF_Version(), or before that the version CMake found.
  std::string version() const override;
  absl::StatusOr<std::unique_ptr<LoadedModel>> Load(const std::string& artifact_path,
                                                    const LoadOptions& options) override;

 private:
  TensorflowBackend() = default;
};

}  // namespace hotswap::runtime
