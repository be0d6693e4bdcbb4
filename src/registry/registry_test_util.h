// Helpers for the registry tests: status matchers and a scratch directory.
//
//   EXPECT_THAT(StatusOf(reg->GetModel("x")), StatusIs(absl::StatusCode::kNotFound));
//   EXPECT_THAT(StatusOf(...), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sha256")));
//   HS_ASSERT_OK_AND_ASSIGN(domain::Model m, reg->GetModel("iris"));
// Test-only. Not synchronised; ScratchDir belongs to one test.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hotswap::registry::testing {

inline absl::Status StatusOf(const absl::Status& s) { return s; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") { return arg.ok(); }

MATCHER_P(StatusIs, code, "has code " + ::testing::PrintToString(code)) {
  return arg.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + ::testing::PrintToString(code) + " and a message that " +
               ::testing::DescribeMatcher<std::string>(message_matcher)) {
  return arg.code() == code && ::testing::ExplainMatchResult(
                                   message_matcher, std::string(arg.message()), result_listener);
}

// A fresh empty directory under the gtest temp dir, removed with its contents on destruction.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = std::filesystem::path(::testing::TempDir()) / "hotswap_registry_XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace hotswap::registry::testing

#define HS_ASSERT_OK(expr) \
  ASSERT_THAT(::hotswap::registry::testing::StatusOf(expr), ::hotswap::registry::testing::IsOk())
#define HS_EXPECT_OK(expr) \
  EXPECT_THAT(::hotswap::registry::testing::StatusOf(expr), ::hotswap::registry::testing::IsOk())

// Declares `lhs` from an OK StatusOr, or fails the test (fatally) with its status.
#define HS_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  HS_ASSERT_OK_AND_ASSIGN_IMPL_(HS_CONCAT_(hs_test_statusor_, __LINE__), lhs, expr)
#define HS_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  ASSERT_TRUE(tmp.ok()) << tmp.status();              \
  lhs = std::move(tmp).value()
