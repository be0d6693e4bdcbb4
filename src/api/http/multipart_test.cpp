#include "api/http/multipart.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hotswap::http {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// What a parse produced: every part's headers, data and whether it was closed.
struct RecordedPart {
  std::string name;
  std::string filename;
  std::string content_type;
  std::string data;
  bool ended = false;

  bool operator==(const RecordedPart&) const = default;
};

std::ostream& operator<<(std::ostream& os, const RecordedPart& p) {
  return os << "{name=" << p.name << " filename=" << p.filename << " type=" << p.content_type
            << " data(" << p.data.size() << ")=" << p.data.substr(0, 40) << " ended=" << p.ended
            << "}";
}

class Recorder {
 public:
  MultipartParser::Callbacks Callbacks() {
    return {
        .on_part_begin =
            [this](const MultipartParser::PartHeaders& h) {
              EXPECT_TRUE(parts.empty() || parts.back().ended) << "part began inside a part";
              parts.push_back(
                  {.name = h.name, .filename = h.filename, .content_type = h.content_type});
              return absl::OkStatus();
            },
        .on_part_data =
            [this](std::string_view d) {
              EXPECT_FALSE(parts.empty());
              EXPECT_FALSE(d.empty()) << "empty data callback";
              if (!parts.empty()) parts.back().data.append(d);
              max_data_call = std::max(max_data_call, d.size());
              return absl::OkStatus();
            },
        .on_part_end =
            [this]() {
              EXPECT_FALSE(parts.empty());
              if (!parts.empty()) parts.back().ended = true;
              return absl::OkStatus();
            },
    };
  }

  std::vector<RecordedPart> parts;
  size_t max_data_call = 0;
};

struct ParseResult {
  absl::Status feed;    // first Feed error, if any
  absl::Status finish;  // Finish() (not called after a Feed error)
  std::vector<RecordedPart> parts;
};

// Feeds `body` split at the given sizes (cycled), then calls Finish().
ParseResult Parse(const std::string& boundary, std::string_view body,
                  const std::vector<size_t>& split_sizes, size_t max_header_bytes = 16 * 1024) {
  Recorder rec;
  MultipartParser parser(boundary, rec.Callbacks(), max_header_bytes);
  ParseResult result;
  size_t k = 0;
  while (!body.empty()) {
    size_t n = std::min(body.size(), split_sizes[k++ % split_sizes.size()]);
    result.feed = parser.Feed(body.substr(0, n));
    body.remove_prefix(n);
    if (!result.feed.ok()) break;
  }
  if (result.feed.ok()) result.finish = parser.Finish();
  result.parts = rec.parts;
  return result;
}

ParseResult ParseWhole(const std::string& boundary, std::string_view body) {
  return Parse(boundary, body, {body.size() + 1});
}

// The boundary and body layout curl 7.88 produces for
//   curl -F 'metadata={"framework":"onnx"};type=application/json' -F artifact=@model.onnx
constexpr char kCurlBoundary[] = "------------------------d74496d66958873e";

std::string CurlBody(const std::string& artifact) {
  return absl::StrCat(
      "--", kCurlBoundary, "\r\n", "Content-Disposition: form-data; name=\"metadata\"\r\n",
      "Content-Type: application/json\r\n", "\r\n", "{\"framework\":\"onnx\"}\r\n", "--",
      kCurlBoundary, "\r\n",
      "Content-Disposition: form-data; name=\"artifact\"; filename=\"model.onnx\"\r\n",
      "Content-Type: application/octet-stream\r\n", "\r\n", artifact, "\r\n", "--", kCurlBoundary,
      "--\r\n");
}

std::string BinaryBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

std::vector<RecordedPart> CurlParts(const std::string& artifact) {
  return {
      {.name = "metadata",
       .content_type = "application/json",
       .data = "{\"framework\":\"onnx\"}",
       .ended = true},
      {.name = "artifact",
       .filename = "model.onnx",
       .content_type = "application/octet-stream",
       .data = artifact,
       .ended = true},
  };
}

TEST(MultipartParserTest, ParsesTwoPartBodyAsCurlSendsIt) {
  const std::string artifact = "ONNX\x01\x02 model bytes";
  ParseResult r = ParseWhole(kCurlBoundary, CurlBody(artifact));
  ASSERT_TRUE(r.feed.ok()) << r.feed;
  ASSERT_TRUE(r.finish.ok()) << r.finish;
  EXPECT_EQ(r.parts, CurlParts(artifact));
}

TEST(MultipartParserTest, ByteByByteFeedingGivesIdenticalResult) {
  const std::string artifact = BinaryBytes(5000, 1);
  ParseResult r = Parse(kCurlBoundary, CurlBody(artifact), {1});
  ASSERT_TRUE(r.feed.ok()) << r.feed;
  ASSERT_TRUE(r.finish.ok()) << r.finish;
  EXPECT_EQ(r.parts, CurlParts(artifact));
}

TEST(MultipartParserTest, RandomChunkSplitsGiveIdenticalResult) {
  const std::string artifact =
      BinaryBytes(200'000, 2) + "\r\n--" + std::string(kCurlBoundary).substr(0, 10);
  const std::string body = CurlBody(artifact);
  std::mt19937 rng(12345);
  for (int iteration = 0; iteration < 200; ++iteration) {
    std::vector<size_t> splits(64);
    const size_t max_split = iteration % 2 == 0 ? 16 : 70'000;
    for (size_t& s : splits) s = 1 + rng() % max_split;
    ParseResult r = Parse(kCurlBoundary, body, splits);
    ASSERT_TRUE(r.feed.ok()) << "iteration " << iteration << ": " << r.feed;
    ASSERT_TRUE(r.finish.ok()) << "iteration " << iteration << ": " << r.finish;
    ASSERT_EQ(r.parts, CurlParts(artifact)) << "iteration " << iteration;
  }
}

TEST(MultipartParserTest, DataThatLooksLikePartOfTheBoundaryIsKept) {
  const std::string b = "XyZ123boundary";
  // Every proper prefix of the delimiter "\r\n--XyZ123boundary", plus near misses.
  std::string tricky;
  const std::string delimiter = "\r\n--" + b;
  for (size_t n = 1; n < delimiter.size(); ++n)
    absl::StrAppend(&tricky, delimiter.substr(0, n), "|");
  absl::StrAppend(&tricky, "--", b, " (no CRLF before) \r\n-- ", b, " \r\r\n--", b.substr(0, 13));
  const std::string body = absl::StrCat(
      "--", b, "\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n", tricky, "\r\n--", b, "--");
  for (size_t split : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, body.size()}) {
    SCOPED_TRACE(split);
    ParseResult r = Parse(b, body, {split});
    ASSERT_TRUE(r.feed.ok()) << r.feed;
    ASSERT_TRUE(r.finish.ok()) << r.finish;
    ASSERT_EQ(r.parts.size(), 1u);
    EXPECT_EQ(r.parts[0].data, tricky);
    EXPECT_TRUE(r.parts[0].ended);
  }
}

TEST(MultipartParserTest, BinaryDataWithNulAndCrlfRoundTrips) {
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  binary += std::string("\0\0\r\n\r\n\r\n--\r\n-", 13) + std::string(3, '\0') + "\r";
  const std::string body = absl::StrCat(
      "--b0undary\r\nContent-Disposition: form-data; name=\"blob\"; filename=\"w.bin\"\r\n\r\n",
      binary, "\r\n--b0undary\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n",
      "\r\n--b0undary--\r\n");
  for (size_t split : {size_t{1}, size_t{5}, body.size()}) {
    ParseResult r = Parse("b0undary", body, {split});
    ASSERT_TRUE(r.feed.ok() && r.finish.ok()) << r.feed << " " << r.finish;
    ASSERT_EQ(r.parts.size(), 2u);
    EXPECT_EQ(r.parts[0].data, binary);
    EXPECT_EQ(r.parts[0].filename, "w.bin");
    EXPECT_EQ(r.parts[1].name, "empty");
    EXPECT_EQ(r.parts[1].data, "");
    EXPECT_TRUE(r.parts[1].ended);
  }
}

TEST(MultipartParserTest, PreambleEpilogueAndBoundaryPaddingAreIgnored) {
  const std::string body =
      "preamble --abc not at line start\r\n--abc \t\r\n"
      "Content-Disposition: form-data; name=\"a\"\r\n\r\nA\r\n"
      "--abc--\r\nepilogue --abc\r\n garbage";
  ParseResult r = ParseWhole("abc", body);
  ASSERT_TRUE(r.feed.ok()) << r.feed;
  ASSERT_TRUE(r.finish.ok()) << r.finish;
  ASSERT_EQ(r.parts.size(), 1u);
  EXPECT_EQ(r.parts[0], (RecordedPart{.name = "a", .data = "A", .ended = true}));
}

TEST(MultipartParserTest, MissingClosingBoundaryFailsFinish) {
  const std::string full = CurlBody("artifact bytes");
  const size_t cuts[] = {0,
                         10,
                         full.find("model.onnx"),
                         full.find("artifact bytes") + 5,
                         full.size() - 4 /* after the last boundary */,
                         full.size() - 3 /* inside the closing "--" */};
  for (size_t cut : cuts) {
    SCOPED_TRACE(cut);
    Recorder rec;
    MultipartParser parser(kCurlBoundary, rec.Callbacks());
    ASSERT_TRUE(parser.Feed(std::string_view(full).substr(0, cut)).ok());
    EXPECT_FALSE(parser.complete());
    absl::Status s = parser.Finish();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), StartsWith("truncated multipart body"));
    EXPECT_EQ(parser.Finish(), s);
  }
  // A part cut off in its data is never closed.
  Recorder rec;
  MultipartParser cut_in_data(kCurlBoundary, rec.Callbacks());
  ASSERT_TRUE(
      cut_in_data.Feed(std::string_view(full).substr(0, full.find("artifact bytes") + 5)).ok());
  ASSERT_EQ(rec.parts.size(), 2u);
  EXPECT_TRUE(rec.parts[0].ended);
  EXPECT_FALSE(rec.parts[1].ended);
  EXPECT_EQ(rec.parts[1].data, "artif");
  EXPECT_FALSE(cut_in_data.Finish().ok());
  // The complete body is complete.
  Recorder whole;
  MultipartParser parser(kCurlBoundary, whole.Callbacks());
  ASSERT_TRUE(parser.Feed(full).ok());
  EXPECT_TRUE(parser.complete());
  EXPECT_TRUE(parser.Finish().ok());
}

TEST(MultipartParserTest, OversizeHeadersAreRejected) {
  const std::string header = absl::StrCat("Content-Disposition: form-data; name=\"f\"; filename=\"",
                                          std::string(200, 'x'), "\"");
  const std::string body = absl::StrCat("--b\r\n", header, "\r\n\r\ndata\r\n--b--");
  for (size_t split : {size_t{1}, body.size()}) {
    ParseResult r = Parse("b", body, {split}, /*max_header_bytes=*/100);
    EXPECT_EQ(r.feed.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.feed.message()), HasSubstr("headers exceed 100 bytes"));
    EXPECT_TRUE(r.parts.empty());
  }
  // Never-ending headers fail once past the limit instead of buffering forever.
  Recorder rec;
  MultipartParser parser("b", rec.Callbacks(), 1024);
  ASSERT_TRUE(parser.Feed("--b\r\nX-Filler: ").ok());
  absl::Status s;
  for (int i = 0; i < 100 && s.ok(); ++i) s = parser.Feed(std::string(100, 'y'));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  // Exactly at the limit is accepted.
  const std::string at_limit = absl::StrCat("--b\r\n", header, "\r\n\r\nd\r\n--b--");
  ParseResult ok = Parse("b", at_limit, {1}, header.size());
  EXPECT_TRUE(ok.feed.ok() && ok.finish.ok()) << ok.feed << ok.finish;
}

TEST(MultipartParserTest, PartWithoutNameIsRejected) {
  for (const std::string& headers : {
           std::string("Content-Disposition: form-data; filename=\"a.bin\""),
           std::string("Content-Disposition: form-data; name=\"\""),
           std::string("Content-Disposition: form-data"),
           std::string("Content-Type: text/plain"),
           std::string(""),
       }) {
    SCOPED_TRACE(headers);
    const std::string body =
        absl::StrCat("--b\r\n", headers, headers.empty() ? "" : "\r\n", "\r\nx\r\n--b--");
    ParseResult r = ParseWhole("b", body);
    EXPECT_EQ(r.feed.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(r.parts.empty());
  }
}

TEST(MultipartParserTest, MalformedHeadersAreRejected) {
  for (const std::string& headers : {
           std::string("Content-Disposition: attachment; name=\"a\""),
           std::string("Content-Disposition: form-data; name=\"a"),
           std::string("Content-Disposition: form-data; name=\"a\"; name=\"b\""),
           std::string("Content-Disposition: form-data; name=\"a\"\r\nContent-Disposition: "
                       "form-data; name=\"b\""),
           std::string("no colon here\r\nContent-Disposition: form-data; name=\"a\""),
       }) {
    SCOPED_TRACE(headers);
    ParseResult r = ParseWhole("b", absl::StrCat("--b\r\n", headers, "\r\n\r\nx\r\n--b--"));
    EXPECT_EQ(r.feed.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(r.parts.empty());
  }
}

TEST(MultipartParserTest, HeaderNamesAreCaseInsensitiveAndQuotedValuesUnescaped) {
  const std::string body =
      "--b\r\n"
      "CONTENT-disposition:FORM-DATA;  NAME=\"say \\\"hi\\\"; now\" ;\r\n"
      "\tfilename=\"C:\\dir\\model.onnx\"\r\n"
      "content-TYPE:   application/x-onnx  \r\n"
      "X-Other: ignored\r\n"
      "\r\n"
      "z\r\n--b--";
  ParseResult r = ParseWhole("b", body);
  ASSERT_TRUE(r.feed.ok()) << r.feed;
  ASSERT_EQ(r.parts.size(), 1u);
  EXPECT_EQ(r.parts[0].name, "say \"hi\"; now");
  EXPECT_EQ(r.parts[0].filename, "C:\\dir\\model.onnx");
  EXPECT_EQ(r.parts[0].content_type, "application/x-onnx");
}

TEST(MultipartParserTest, BoundaryFollowedByOtherTextIsRejected) {
  ParseResult r = ParseWhole(
      "b", "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--bX\r\n--b--");
  EXPECT_EQ(r.feed.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(r.parts.size(), 1u);
  EXPECT_EQ(r.parts[0].data, "x");
}

TEST(MultipartParserTest, CallbackErrorPropagatesAndStopsParsing) {
  int data_calls = 0;
  int begin_calls = 0;
  MultipartParser parser(kCurlBoundary,
                         {.on_part_begin =
                              [&](const MultipartParser::PartHeaders& h) {
                                ++begin_calls;
                                if (h.name == "artifact")
                                  return absl::ResourceExhaustedError("quota exceeded");
                                return absl::OkStatus();
                              },
                          .on_part_data =
                              [&](std::string_view) {
                                ++data_calls;
                                return absl::OkStatus();
                              }});
  const std::string body = CurlBody("abc");
  absl::Status s = parser.Feed(body);
  EXPECT_EQ(s, absl::ResourceExhaustedError("quota exceeded"));
  EXPECT_EQ(begin_calls, 2);
  const int calls_before = data_calls;
  EXPECT_EQ(parser.Feed("more"), s);
  EXPECT_EQ(parser.Finish(), s);
  EXPECT_EQ(data_calls, calls_before);
  EXPECT_FALSE(parser.complete());

  // An error from on_part_data and from on_part_end propagates the same way.
  MultipartParser data_fails(kCurlBoundary, {.on_part_data = [](std::string_view) {
                               return absl::DataLossError("disk");
                             }});
  EXPECT_EQ(data_fails.Feed(body).code(), absl::StatusCode::kDataLoss);
  MultipartParser end_fails(kCurlBoundary,
                            {.on_part_end = [] { return absl::AbortedError("stop"); }});
  EXPECT_EQ(end_fails.Feed(body).code(), absl::StatusCode::kAborted);
}

TEST(MultipartParserTest, LargePartIsStreamedWithBoundedBuffering) {
  const std::string artifact = BinaryBytes(8 << 20, 3);
  const std::string body = CurlBody(artifact);
  Recorder rec;
  MultipartParser parser(kCurlBoundary, rec.Callbacks());
  const size_t artifact_start = body.find("\r\n\r\n", body.find("model.onnx")) + 4;
  ASSERT_TRUE(parser.Feed(std::string_view(body).substr(0, artifact_start + (3 << 20))).ok());
  // Everything but a possible delimiter prefix has been passed on already.
  ASSERT_EQ(rec.parts.size(), 2u);
  EXPECT_GE(rec.parts[1].data.size(), (3u << 20) - std::string(kCurlBoundary).size() - 4);
  ASSERT_TRUE(parser.Feed(std::string_view(body).substr(artifact_start + (3 << 20))).ok());
  ASSERT_TRUE(parser.Finish().ok());
  EXPECT_TRUE(rec.parts[1].data == artifact);
  // At most one 64 KiB slice plus a held-back partial delimiter per call.
  EXPECT_LE(rec.max_data_call, 64u * 1024 + std::string(kCurlBoundary).size() + 4);
}

TEST(MultipartParserTest, BodyWithNoPartsIsComplete) {
  ParseResult r = ParseWhole("b", "--b--\r\n");
  EXPECT_TRUE(r.feed.ok() && r.finish.ok());
  EXPECT_TRUE(r.parts.empty());
}

TEST(MultipartParserTest, EmptyBoundaryIsRejected) {
  MultipartParser parser("", {});
  EXPECT_EQ(parser.Feed("--\r\n").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parser.Finish().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MultipartBoundaryTest, ExtractsPlainAndQuotedBoundaries) {
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; boundary=----abc"), "----abc");
  EXPECT_EQ(*MultipartBoundary(absl::StrCat("multipart/form-data; boundary=", kCurlBoundary)),
            kCurlBoundary);
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; boundary=\"a b:c=d?\""), "a b:c=d?");
  EXPECT_EQ(*MultipartBoundary("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"xyz\" ;"), "xyz");
  EXPECT_EQ(
      *MultipartBoundary("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW"),
      "----WebKitFormBoundary7MA4YWxkTrZu0gW");
}

TEST(MultipartBoundaryTest, RejectsBadContentTypes) {
  for (const std::string& ct : {
           std::string(""),
           std::string("application/json"),
           std::string("application/octet-stream; boundary=abc"),
           std::string("multipart/mixed; boundary=abc"),
           std::string("multipart/form-data"),
           std::string("multipart/form-data; charset=utf-8"),
           std::string("multipart/form-data; boundary="),
           std::string("multipart/form-data; boundary=\"\""),
           std::string("multipart/form-data; boundary=\"abc"),
           std::string("multipart/form-data; boundary=" + std::string(71, 'a')),
           std::string("multipart/form-data; boundary=\"abc \""),
           std::string("multipart/form-data; boundary=\"a\\\"b\""),
           std::string("multipart/form-data; boundary=a;b"),
           std::string("multipart/form-data; boundary=a; boundary=b"),
           std::string("multipart/form-data; boundary=a\r\nb"),
       }) {
    SCOPED_TRACE(ct);
    EXPECT_EQ(MultipartBoundary(ct).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(MultipartBoundary("multipart/form-data; boundary=" + std::string(70, 'a')).ok());
}

}  // namespace
}  // namespace hotswap::http
