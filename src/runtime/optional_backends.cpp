#include "runtime/optional_backends.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

// The only place outside the backends' own folders that knows which were compiled in.
#ifdef HOTSWAP_HAVE_XGBOOST
#include "runtime/xgboost/xgboost_backend.h"
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

// Where a backend's shared library is: $HOTSWAP_BACKEND_DIR, else ../lib beside the running
// binary, else the build tree's lib/ (tests). Empty when none has it.
std::string FindPlugin(const std::string& file, std::string* tried) {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("HOTSWAP_BACKEND_DIR")) dirs.emplace_back(env);
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back((exe.parent_path().parent_path() / "lib").string());
  dirs.emplace_back(HOTSWAP_BACKEND_LIBRARY_DIR);
  for (const std::string& dir : dirs) {
    const std::string path = dir + "/" + file;
    if (::access(path.c_str(), R_OK) == 0) return path;
    absl::StrAppend(tried, tried->empty() ? "" : ", ", path);
  }
  return "";
}

// A backend whose engine lives in a shared library of its own (LibTorch's hundreds of
// dependencies stay out of the hotswap binary): opened at the first Load(), never closed (its
// models may live until exit). Thread-safe: the first Load() opens it once (std::call_once);
// afterwards everything read is immutable.
class PluginBackend : public Backend {
 public:
  PluginBackend(std::string framework, std::string version, std::string path, std::string factory)
      : framework_(std::move(framework)),
        version_(std::move(version)),
        path_(std::move(path)),
        factory_(std::move(factory)) {}

  std::string_view framework() const override { return framework_; }
  std::string version() const override { return version_; }
  absl::StatusOr<std::unique_ptr<LoadedModel>> Load(const std::string& artifact_path,
                                                    const LoadOptions& options) override {
    std::call_once(open_, [this] { Open(); });
    if (backend_ == nullptr) return status_;
    return backend_->Load(artifact_path, options);
  }

 private:
  void Open() {
    void* handle = dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* error = dlerror();
      status_ = absl::FailedPreconditionError(absl::StrCat(
          "the ", framework_, " backend's library ", path_, " cannot be opened: ",
          error ? error : "unknown error"));
      return;
    }
    using Factory = Backend* (*)();
    auto factory = reinterpret_cast<Factory>(dlsym(handle, factory_.c_str()));
    Backend* backend = factory ? factory() : nullptr;
    if (backend == nullptr) {
      status_ = absl::FailedPreconditionError(
          absl::StrCat(path_, ": ", factory_, factory ? " failed" : " not found"));
      return;
    }
    backend_.reset(backend);
  }

  const std::string framework_;
  const std::string version_;
  const std::string path_;
  const std::string factory_;
  std::once_flag open_;
  absl::Status status_;               // why the library could not be used
  std::unique_ptr<Backend> backend_;  // set once by Open()
};

[[maybe_unused]] OptionalBackend AddPlugin(std::string framework, const std::string& file,
                                           std::string version, std::string factory,
                                           BackendRegistry* registry) {
  OptionalBackend report{framework, true, absl::OkStatus(), version};
  std::string tried;
  const std::string path = FindPlugin(file, &tried);
  if (path.empty()) {
    report.status = absl::FailedPreconditionError(absl::StrCat(file, " not found (tried ", tried, ")"));
    return report;
  }
  registry->Register(std::make_unique<PluginBackend>(std::move(framework), std::move(version), path,
                                                     std::move(factory)));
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
  out.push_back(AddPlugin("torchscript", HOTSWAP_TORCHSCRIPT_PLUGIN, HOTSWAP_TORCHSCRIPT_VERSION,
                          HOTSWAP_TORCHSCRIPT_FACTORY, registry));
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
