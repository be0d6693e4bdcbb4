// Validation of user-chosen identifiers (model names, alias names, tag keys, token names).
// Stateless; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace hotswap {

// Model, alias and token names: 1-128 chars of [A-Za-z0-9._-], starting with a letter or digit.
// `what` names the field in the error, e.g. "name" or "alias".
absl::Status ValidateName(std::string_view name, std::string_view what);

// True when `s` is 64 lower-case hex characters (a SHA-256 digest).
bool IsSha256Hex(std::string_view s);

}  // namespace hotswap
