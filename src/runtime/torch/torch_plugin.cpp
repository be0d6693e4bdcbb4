// The entry point the server looks up after dlopen()ing libhotswap_torchscript.so
// (runtime/optional_backends.cpp). LibTorch lives in this shared library only, so that the
// hotswap binary (the CLI included) does not load LibTorch's ~300 shared libraries at start-up.
#include "runtime/torch/torch_backend.h"

extern "C" __attribute__((visibility("default"))) hotswap::runtime::Backend*
hotswap_create_torchscript_backend() {
  auto backend = hotswap::runtime::TorchBackend::Create();
  return backend.ok() ? backend->release() : nullptr;
}
