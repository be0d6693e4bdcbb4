#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "common/names.h"
#include "common/sha256.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace hotswap {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

// ---- clock --------------------------------------------------------------------------------------

TEST(TimestampTest, FormatWritesRfc3339UtcWithMilliseconds) {
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(1'700'000'000'123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(FormatTimestamp(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatTimestamp(951'782'400'007), "2000-02-29T00:00:00.007Z");
}

TEST(TimestampTest, ParseRoundTripsFormat) {
  for (int64_t ms : {int64_t{0}, int64_t{-1}, int64_t{1}, int64_t{951'782'400'007},
                     int64_t{1'700'000'000'123}, int64_t{4'102'444'799'999}}) {
    int64_t parsed = 42;
    ASSERT_TRUE(ParseTimestamp(FormatTimestamp(ms), &parsed)) << FormatTimestamp(ms);
    EXPECT_EQ(parsed, ms);
  }
}

TEST(TimestampTest, ParseAcceptsNoFractionShortFractionAndZeroOffset) {
  int64_t ms = 0;
  ASSERT_TRUE(ParseTimestamp("2023-11-14T22:13:20Z", &ms));
  EXPECT_EQ(ms, 1'700'000'000'000);
  ASSERT_TRUE(ParseTimestamp("2023-11-14T22:13:20.5+00:00", &ms));
  EXPECT_EQ(ms, 1'700'000'000'500);
  ASSERT_TRUE(ParseTimestamp("2023-11-14T22:13:20.123456Z", &ms));  // truncated to ms
  EXPECT_EQ(ms, 1'700'000'000'123);
}

TEST(TimestampTest, ParseRejectsMalformedText) {
  for (const char* bad : {"", "yesterday", "2023-11-14", "2023-11-14T22:13:20",
                          "2023-11-14 22:13:20Z", "2023-11-14T22:13:20+01:00",
                          "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20ZZ",
                          "2023-13-01T00:00:00Z", "2023-00-01T00:00:00Z", "2023-02-29T00:00:00Z",
                          "2023-04-31T00:00:00Z", "2023-11-14T24:00:00Z", "2023-11-14T22:60:00Z",
                          " 2023-11-14T22:13:20Z", "2023-+1-14T22:13:20Z",
                          "2023-11-14T-1:13:20Z", "-023-11-14T22:13:20Z", "2023-1-014T22:13:20Z"}) {
    int64_t ms = 77;
    EXPECT_FALSE(ParseTimestamp(bad, &ms)) << "'" << bad << "'";
    EXPECT_EQ(ms, 77) << "output must be untouched on failure";
  }
  int64_t ms = 0;
  EXPECT_TRUE(ParseTimestamp("2024-02-29T00:00:00Z", &ms)) << "leap day";
}

TEST(FakeClockTest, AdvancesAndSetsTime) {
  FakeClock clock(1000);
  EXPECT_EQ(clock.NowMillis(), 1000);
  clock.Advance(250);
  EXPECT_EQ(clock.NowMillis(), 1250);
  clock.Set(5);
  EXPECT_EQ(clock.NowMillis(), 5);
  EXPECT_GT(SystemClock::Get()->NowMillis(), 1'600'000'000'000);
}

// ---- names --------------------------------------------------------------------------------------

TEST(ValidateNameTest, AcceptsLettersDigitsDotUnderscoreDashUpTo128) {
  for (const std::string& ok : std::vector<std::string>{"a", "9", "iris", "Iris-v2.1_final",
                                                        std::string(128, 'x')}) {
    EXPECT_TRUE(ValidateName(ok, "name").ok()) << ok;
  }
}

TEST(ValidateNameTest, RejectsEmptyLongLeadingPunctuationAndOtherCharacters) {
  for (const std::string& bad : std::vector<std::string>{
           "", std::string(129, 'x'), "-a", ".a", "_a", "a b", "a/b", "a:b", "é", "a\nb"}) {
    absl::Status s = ValidateName(bad, "alias");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()), ::testing::StartsWith("alias: ")) << bad;
  }
}

TEST(Sha256HexTest, IsSha256HexRequires64LowerCaseHex) {
  EXPECT_TRUE(IsSha256Hex(std::string(64, '0')));
  EXPECT_TRUE(IsSha256Hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(65, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'A')));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a') + "g"));
  EXPECT_FALSE(IsSha256Hex(""));
}

// ---- sha256 -------------------------------------------------------------------------------------

TEST(Sha256Test, MatchesKnownVectorsOneShotAndIncremental) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 h;
  h.Update("a");
  h.Update("");
  h.Update("bc");
  EXPECT_EQ(h.FinishHex(), Sha256Hex("abc"));
}

TEST(ConstantTimeEqualsTest, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret-token", "secret-token"));
  EXPECT_FALSE(ConstantTimeEquals("secret-token", "secret-tokem"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret-token"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
}

TEST(RandomTokenTest, IsUnpaddedBase64UrlOfTheRequestedBytes) {
  EXPECT_EQ(RandomToken(0), "");
  EXPECT_THAT(RandomToken(1), SizeIs(2));
  EXPECT_THAT(RandomToken(2), SizeIs(3));
  EXPECT_THAT(RandomToken(3), SizeIs(4));
  EXPECT_THAT(RandomToken(32), SizeIs(43));
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    std::string t = RandomToken(32);
    EXPECT_EQ(t.find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos)
        << t;
    seen.insert(t);
  }
  EXPECT_THAT(seen, SizeIs(50));
}

// ---- status -------------------------------------------------------------------------------------

TEST(StatusTest, CodeNamesAndHttpStatusesForCanonicalCodes) {
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kOk), "ok");
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kInvalidArgument), "invalid_argument");
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kNotFound), "not_found");
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kFailedPrecondition), "failed_precondition");
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kUnauthenticated), "unauthenticated");
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnknown), 500);
}

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::Status Quarter(int x, int* out) {
  HS_ASSIGN_OR_RETURN(int half, Half(x));
  HS_ASSIGN_OR_RETURN(*out, Half(half));
  HS_RETURN_IF_ERROR(absl::OkStatus());
  return absl::OkStatus();
}

TEST(StatusTest, MacrosPropagateErrorsAndAssignValues) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  EXPECT_EQ(Quarter(6, &out).message(), "odd");
}

// ---- log ----------------------------------------------------------------------------------------

std::vector<std::string>* g_lines = nullptr;
void CaptureLine(const std::string& line) { g_lines->push_back(line); }

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_lines = &lines_;
    log::SetSink(&CaptureLine);
    saved_level_ = log::GetLevel();
    log::SetLevel(log::Level::kInfo);
  }
  void TearDown() override {
    log::SetSink(nullptr);
    log::SetLevel(saved_level_);
    g_lines = nullptr;
  }
  std::vector<std::string> lines_;
  log::Level saved_level_ = log::Level::kInfo;
};

TEST_F(LogTest, WritesOneJsonObjectPerLineWithRequestIdInsideScope) {
  {
    log::ScopedRequestId rid("r-1f");
    EXPECT_EQ(log::CurrentRequestId(), "r-1f");
    log::Info("model \"created\"\n", {{"model", "iris"}, {"version", 3}, {"ok", true},
                                     {"p99_ms", 2.5}, {"nan", std::nan("")}});
  }
  EXPECT_EQ(log::CurrentRequestId(), "");
  log::Warn("outside");
  log::Debug("dropped below level");
  ASSERT_THAT(lines_, SizeIs(2));

  nlohmann::json first = nlohmann::json::parse(lines_[0], nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(first.is_discarded()) << lines_[0];
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["msg"], "model \"created\"\n");
  EXPECT_EQ(first["request_id"], "r-1f");
  EXPECT_EQ(first["model"], "iris");
  EXPECT_EQ(first["version"], 3);
  EXPECT_EQ(first["ok"], true);
  EXPECT_DOUBLE_EQ(first["p99_ms"].get<double>(), 2.5);
  EXPECT_TRUE(first["nan"].is_string()) << "NaN must not break the JSON line";
  int64_t ts = 0;
  EXPECT_TRUE(ParseTimestamp(first["ts"].get<std::string>(), &ts));

  nlohmann::json second = nlohmann::json::parse(lines_[1], nullptr, false);
  ASSERT_FALSE(second.is_discarded()) << lines_[1];
  EXPECT_EQ(second["level"], "warn");
  EXPECT_FALSE(second.contains("request_id"));
}

TEST_F(LogTest, NestedRequestIdsRestoreTheOuterOne) {
  log::ScopedRequestId outer("outer");
  {
    log::ScopedRequestId inner("inner");
    log::Error("x");
  }
  log::Error("y");
  ASSERT_THAT(lines_, SizeIs(2));
  EXPECT_EQ(nlohmann::json::parse(lines_[0])["request_id"], "inner");
  EXPECT_EQ(nlohmann::json::parse(lines_[1])["request_id"], "outer");
}

TEST(LogLevelTest, ParseLevelAcceptsOnlyKnownNames) {
  log::Level l = log::Level::kInfo;
  EXPECT_TRUE(log::ParseLevel("debug", &l));
  EXPECT_EQ(l, log::Level::kDebug);
  EXPECT_TRUE(log::ParseLevel("error", &l));
  EXPECT_EQ(l, log::Level::kError);
  EXPECT_FALSE(log::ParseLevel("verbose", &l));
  EXPECT_FALSE(log::ParseLevel("INFO", &l));
  EXPECT_EQ(l, log::Level::kError);
}

}  // namespace
}  // namespace hotswap
