#include "runtime/backend.h"

#include <utility>

namespace hotswap::runtime {

void BackendRegistry::Register(std::unique_ptr<Backend> backend) {
  if (backend == nullptr) return;
  std::string framework(backend->framework());
  backends_[std::move(framework)] = std::move(backend);
}

Backend* BackendRegistry::Find(std::string_view framework) const {
  auto it = backends_.find(framework);
  return it == backends_.end() ? nullptr : it->second.get();
}

std::vector<std::string> BackendRegistry::Frameworks() const {
  std::vector<std::string> names;
  names.reserve(backends_.size());
  for (const auto& [name, backend] : backends_) names.push_back(name);
  return names;
}

}  // namespace hotswap::runtime
