#include "runtime/optional_backends.h"

#include <memory>
#include <utility>

// The only place outside the backends' own folders that knows which were compiled in.
#ifdef HOTSWAP_HAVE_XGBOOST
#include "runtime/xgboost/xgboost_backend.h"
#endif
#ifdef HOTSWAP_HAVE_TORCHSCRIPT
#include "runtime/torch/torch_backend.h"
#endif
#ifdef HOTSWAP_HAVE_TENSORFLOW
#include "runtime/tensorflow/tensorflow_backend.h"
#endif

namespace hotswap::runtime {
namespace {

template <typename B>
OptionalBackend Add(std::string framework, BackendRegistry* registry) {
  OptionalBackend report{std::move(framework), true, absl::OkStatus(), ""};
  auto backend = B::Create();
  if (!backend.ok()) {
    report.status = backend.status();
    return report;
  }
  report.version = (*backend)->version();
  registry->Register(*std::move(backend));
  return report;
}

}  // namespace

std::vector<OptionalBackend> RegisterOptionalBackends([[maybe_unused]] BackendRegistry* registry) {
  std::vector<OptionalBackend> out;
#ifdef HOTSWAP_HAVE_XGBOOST
  out.push_back(Add<XgboostBackend>("xgboost", registry));
#else
  out.push_back({"xgboost", false, absl::OkStatus(), ""});
#endif
#ifdef HOTSWAP_HAVE_TORCHSCRIPT
  out.push_back(Add<TorchBackend>("torchscript", registry));
#else
  out.push_back({"torchscript", false, absl::OkStatus(), ""});
#endif
#ifdef HOTSWAP_HAVE_TENSORFLOW
  out.push_back(Add<TensorflowBackend>("tensorflow", registry));
#else
  out.push_back({"tensorflow", false, absl::OkStatus(), ""});
#endif
  return out;
}

}  // namespace hotswap::runtime
