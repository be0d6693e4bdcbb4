#include "registry/dataset_store.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace hotswap::registry {

bool IsDatasetKind(std::string_view kind) {
  for (std::string_view k : kDatasetKinds) {
    if (k == kind) return true;
  }
  return false;
}

absl::Status CheckDatasetKind(std::string_view kind) {
  if (IsDatasetKind(kind)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "dataset kind '", ToAbsl(kind.substr(0, 64)), "' is not one of holdout, reference, background"));
}

}  // namespace hotswap::registry
