#include "common/names.h"

#include "absl/strings/str_cat.h"

namespace hotswap {
namespace {

// Debian's Abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0),
// which does not convert from std::string_view, so StrCat cannot take our parameters directly.
absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

absl::Status ValidateName(std::string_view name_in, std::string_view what_in) {
  const absl::string_view name = AsAbsl(name_in);
  const absl::string_view what = AsAbsl(what_in);
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": must not be empty"));
  if (name.size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": longer than 128 characters"));
  }
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0])) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", name, "' must start with a letter or digit"));
  }
  for (char c : name) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": '", name, "' may contain only letters, digits, '.', '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace hotswap
