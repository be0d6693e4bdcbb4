// Status helpers shared by every component. One error model across our interfaces:
// absl::Status / absl::StatusOr<T>. Third-party exceptions are caught at the boundary and
// converted with these helpers. Header-only; thread-safe (stateless).
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define HS_CONCAT_INNER_(a, b) a##b
#define HS_CONCAT_(a, b) HS_CONCAT_INNER_(a, b)

// Returns from the current function when `expr` (an absl::Status) is not OK.
#define HS_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::absl::Status hs_status_ = (expr);       \
    if (!hs_status_.ok()) return hs_status_;  \
  } while (0)

// `HS_ASSIGN_OR_RETURN(auto x, Foo());` declares x from an absl::StatusOr or returns its error.
#define HS_ASSIGN_OR_RETURN(lhs, rexpr) \
  HS_ASSIGN_OR_RETURN_IMPL_(HS_CONCAT_(hs_statusor_, __LINE__), lhs, rexpr)
#define HS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                              \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

namespace hotswap {

// Debian's Abseil is built with its own absl::string_view (not an alias of std::string_view);
// these convert between the two without copying.
inline std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }
inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }

// Canonical lower-case name of a status code, e.g. "not_found"; used in JSON error bodies.
std::string_view StatusCodeName(absl::StatusCode code);

// HTTP status code that corresponds to a canonical status code.
int HttpStatusFor(absl::StatusCode code);

}  // namespace hotswap
