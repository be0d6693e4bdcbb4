// OnnxBackend: the "onnx" Backend. Loads .onnx artifacts into ONNX Runtime sessions and runs
// them, through ONNX Runtime's C API only — it reports errors as OrtStatus values, so no engine
// exception can exist, let alone escape onto a request thread.
//
// Engine set-up: one OrtEnv per process, created by the first OnnxBackend::Create() and kept
// until exit (ONNX Runtime requires the env to outlive every session); its log lines go to
// hotswap::log at warning level and above. Each session: intra-op threads from
// LoadOptions::intra_op_threads (1 = the calling thread only), inter-op 1, sequential execution,
// every graph optimisation, no spinning threads (session.intra_op/inter_op.allow_spinning = 0),
// and, unless LoadOptions::memory_arena, no CPU memory arena and no memory-pattern planning.
//
// Schema: inputs and outputs as the session describes them; ONNX element types map to
// domain::DataType (STRING -> BYTES), symbolic or unknown dimensions -> -1. A model with a
// non-tensor input/output (sequence, map: e.g. skl2onnx's ZipMap) or an element type without a
// V2 datatype (bfloat16, float8, int4, complex) is refused at load with FailedPrecondition.
//
// Run: numeric inputs are passed to the engine without a copy (the OrtValue borrows the
// Tensor's buffer); BYTES inputs become string tensors; outputs are copied into Tensors. Names,
// allocator and memory info are prepared once at load. Every input of the model must be given
// exactly once; a missing, unknown or duplicate name, a datatype other than the model's, or a
// data size that does not match the shape is InvalidArgument (the serving layer validates first,
// but the backend does not trust it). Engine failures while running return the engine's message
// (InvalidArgument for its argument errors, Internal otherwise) and leave the model usable.
//
// Load errors: a missing or unreadable file is FailedPrecondition; a file that is not ONNX or is
// corrupt or whose graph is invalid is InvalidArgument; operators or types this runtime cannot
// run are FailedPrecondition. LoadOptions::declared_schema is not checked here (the loader
// compares it with schema()).
//
// memory_bytes(): RSS growth measured around session creation (loads are serialised by a
// process-wide mutex so the growth belongs to that load), never less than the artifact's size.
// The first load in a process also carries the engine's one-time set-up (~10 MB); memory freed
// by earlier unloads and reused makes later figures low, hence the artifact-size floor.
//
// Thread-safety: OnnxBackend is thread-safe (Load() may be called from several loader threads;
// they take turns). A loaded model is immutable; Run() may be called from any number of threads
// at once. Destroying a model releases its session and its memory.
//
// Example:
//   HS_ASSIGN_OR_RETURN(std::unique_ptr<OnnxBackend> backend, OnnxBackend::Create());
//   HS_ASSIGN_OR_RETURN(auto model, backend->Load("/data/iris.onnx", LoadOptions{}));
//   std::vector<Tensor> outputs;
//   HS_RETURN_IF_ERROR(model->Run({input}, {"probabilities"}, &outputs));
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/backend.h"

namespace hotswap::runtime {

class OnnxBackend : public Backend {
 public:
  // Initialises the process's ONNX Runtime env on first use. FailedPrecondition when the shared
  // library does not serve the C API version the headers were built for.
  static absl::StatusOr<std::unique_ptr<OnnxBackend>> Create();

  std::string_view framework() const override { return "onnx"; }
  std::string version() const override;  // "onnxruntime 1.30.0"
  absl::StatusOr<std::unique_ptr<LoadedModel>> Load(const std::string& artifact_path,
                                                    const LoadOptions& options) override;

 private:
  OnnxBackend() = default;
};

}  // namespace hotswap::runtime
