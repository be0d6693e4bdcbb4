// Backend: one inference engine (ONNX Runtime, and later TorchScript, XGBoost, TensorFlow). A
// backend loads an artifact file into a LoadedModel; the serving layer publishes LoadedModels in
// immutable snapshots and calls Run from many request threads at once.
//
// Contract:
//   - Load() runs on the loader executor, never on a request thread; it may take seconds.
//   - LoadedModel is immutable after Load(); Run() is thread-safe and may be called concurrently.
//   - Errors are absl::Status: InvalidArgument for inputs that do not fit the model,
//     FailedPrecondition/InvalidArgument for an artifact the engine refuses, Internal for engine
//     failures. Engine exceptions never escape.
//   - Destroying a LoadedModel frees its memory (the serving layer drops it only after the last
//     request using it has finished).
//
// BackendRegistry maps framework names ("onnx", ...) to backends; filled at start-up, read-only
// afterwards, so Find() is thread-safe.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "domain/model.h"
#include "runtime/tensor.h"

namespace hotswap::runtime {

struct LoadOptions {
  int intra_op_threads = 1;  // engine threads per Run; 1 = the request thread only
  // ONNX Runtime: the engine's own CPU memory arena and memory-pattern planning. Off by
  // default: on small models each Run then allocates straight from malloc, which measured
  // 3.66 vs 4.28 µs per Run on the demo model and +5-10% served requests with two request
  // threads (the arena takes a lock per allocation). Large models with big intermediate tensors
  // may want it on (bench/results/runtime_onnx.md).
  bool memory_arena = false;
  // The schema registered with the version, when there is one; backends describe the model from
  // the artifact and the loader checks the two agree.
  std::optional<domain::TensorSchema> declared_schema;
};

class LoadedModel {
 public:
  virtual ~LoadedModel() = default;
  // Inputs and outputs as the engine describes them (-1 for dynamic dimensions).
  virtual const domain::TensorSchema& schema() const = 0;
  // Runs one batch. `inputs` are validated by the caller against schema() (names, datatypes,
  // shapes); `output_names` empty means every output. Outputs are appended to `outputs` in the
  // order requested.
  virtual absl::Status Run(const std::vector<Tensor>& inputs,
                           const std::vector<std::string>& output_names,
                           std::vector<Tensor>* outputs) const = 0;
  // Approximate bytes held by this model (weights and session state).
  virtual int64_t memory_bytes() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view framework() const = 0;  // "onnx"
  // Engine version for `GET /v2` and logs, e.g. "onnxruntime 1.20.1".
  virtual std::string version() const = 0;
  virtual absl::StatusOr<std::unique_ptr<LoadedModel>> Load(const std::string& artifact_path,
                                                            const LoadOptions& options) = 0;
};

class BackendRegistry {
 public:
  // A second backend for the same framework replaces the first; nullptr is ignored.
  void Register(std::unique_ptr<Backend> backend);
  // nullptr when no backend serves the framework.
  Backend* Find(std::string_view framework) const;
  std::vector<std::string> Frameworks() const;

 private:
  std::map<std::string, std::unique_ptr<Backend>, std::less<>> backends_;
};

}  // namespace hotswap::runtime
