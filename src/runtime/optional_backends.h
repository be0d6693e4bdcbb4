// The optional backends this build has (XGBoost, TorchScript, TensorFlow — each compiled in only
// when CMake found its engine; see docs/backends.md), registered by name at start-up. ONNX
// Runtime, always built, is registered by the server itself.
//
// Engines are loaded lazily where they are heavy: TorchScript's backend lives in its own shared
// library (libhotswap_torchscript.so, found through $HOTSWAP_BACKEND_DIR, ../lib beside the
// binary, or the build tree) that is opened at the first TorchScript load, and TensorFlow's
// library is opened at the first TensorFlow load. A server that serves neither never maps them.
//
// Stateless; call once at start-up, before the registry is shared (BackendRegistry is read-only
// afterwards).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/backend.h"

namespace hotswap::runtime {

struct OptionalBackend {
  std::string framework;  // "xgboost", "torchscript", "tensorflow"
  bool built = false;     // compiled into this binary
  absl::Status status;    // built but its engine failed to start: why (then not registered)
  std::string version;    // engine version when registered
};

// Creates and registers every optional backend this build has; reports every optional
// framework, built or not, in the order above.
std::vector<OptionalBackend> RegisterOptionalBackends(BackendRegistry* registry);

}  // namespace hotswap::runtime
