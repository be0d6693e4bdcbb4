// TorchBackend: the "torchscript" Backend. Loads TorchScript archives (torch.jit.save of a
// scripted or traced module) with LibTorch's torch::jit::load and runs their `forward` under
// c10::InferenceMode. Every LibTorch call is wrapped: its exceptions (c10::Error and any
// std::exception) become absl::Status at this boundary and never reach a request thread.
//
// Schema — what LibTorch 1.13 can derive from a loaded module, and what it cannot:
//   derived:  `forward`'s argument names and count, that each is a Tensor, and the number of
//             outputs when the declared return type is a Tensor or a Tuple of Tensors;
//   not kept: dtypes and shapes. A TorchScript archive stores `forward` as TorchScript source
//             (`def forward(self, x: Tensor) -> Tensor`); traced example shapes are not saved.
// So a version must be registered with a schema (metadata.schema): inputs named as `forward`'s
// arguments (any order; they are passed by name), with their datatypes and shapes; outputs in
// the order `forward` returns them, named freely. Load() checks the declared schema against the
// module (argument names, Tensor types, output count when known) and refuses a mismatch, or no
// schema at all, with FailedPrecondition naming what the module takes. Datatypes: BOOL, UINT8,
// INT8, INT16, INT32, INT64, FP16, FP32, FP64 (LibTorch 1.13 has no UINT16/32/64 and no
// strings).
//
// Run: inputs are borrowed (torch::from_blob, no copy); the outputs (a Tensor, a Tuple or a List
// of Tensors) are made contiguous and copied into Tensors; a returned tensor whose datatype
// differs from the declared one is an Internal error. Errors the module raises while running
// (a shape mismatch inside forward) are InvalidArgument with LibTorch's message, first line.
//
// Threads: LibTorch's intra-op pool is per process, but its size is read per calling thread
// (OpenMP): Run() sets at::set_num_threads(intra_op_threads) on the calling thread when it
// differs, so every model runs with its own LoadOptions::intra_op_threads (1 = the calling
// thread only). Inter-op parallelism is fixed at 1 at first use (HotSwap runs requests in
// parallel, not the operators of one request).
//
// memory_bytes(): RSS growth around torch::jit::load (loads are serialised), never less than the
// archive's size. Run() may be called from any number of threads at once (LibTorch's graph
// executor is thread-safe; the module is never mutated after Load()).
//
// Thread-safety: TorchBackend is thread-safe; a loaded model is immutable.
//
// Example:
//   HS_ASSIGN_OR_RETURN(auto backend, TorchBackend::Create());
//   LoadOptions options;
//   options.declared_schema = schema;  // required, see above
//   HS_ASSIGN_OR_RETURN(auto model, backend->Load("/data/mlp.pt", options));
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/backend.h"

namespace hotswap::runtime {

class TorchBackend : public Backend {
 public:
  static absl::StatusOr<std::unique_ptr<TorchBackend>> Create();

  std::string_view framework() const override { return "torchscript"; }
  std::string version() const override;  // "libtorch 1.13.0"
  absl::StatusOr<std::unique_ptr<LoadedModel>> Load(const std::string& artifact_path,
                                                    const LoadOptions& options) override;

 private:
  TorchBackend() = default;
};

}  // namespace hotswap::runtime
