// MultipartParser: a streaming multipart/form-data parser (RFC 7578 over RFC 2046) for uploads
// that may be far larger than memory.
//
// The body is fed in chunks split anywhere (inside a boundary, a header, a CRLF). For every part
// the parser calls on_part_begin(headers), then on_part_data(bytes) as many times as the bytes
// arrive, then on_part_end() once the next boundary is seen. Data is passed on as soon as it
// cannot be the start of a delimiter, so memory stays bounded (about 64 KiB plus
// max_header_bytes) whatever the size of the parts or of the chunks fed.
//
// Grammar handled: a preamble before the first "--boundary" is ignored; each boundary line may
// carry trailing spaces/tabs; part headers end at CRLFCRLF, names are case-insensitive, folded
// lines are joined; Content-Disposition must be `form-data` with a non-empty `name`
// (quoted-string values; `\"` and `\\` are unescaped, other backslashes kept as sent by old
// browsers); the body ends at "--boundary--" and anything after it (the epilogue) is ignored.
//
// Errors: the first non-OK status a callback returns is returned by Feed() unchanged; malformed
// input is InvalidArgument. After an error the parser calls no more callbacks and keeps
// returning that error. A part cut off by the end of the body gets no on_part_end; Finish()
// reports the truncation.
//
// Not thread-safe: one parser belongs to one request. The string_view passed to on_part_data is
// valid only during the call.
//
// Example:
//   HS_ASSIGN_OR_RETURN(std::string boundary, MultipartBoundary(content_type));
//   MultipartParser parser(boundary, {.on_part_begin = ..., .on_part_data = ...,
//                                     .on_part_end = ...});
//   while (more body) HS_RETURN_IF_ERROR(parser.Feed(chunk));
//   HS_RETURN_IF_ERROR(parser.Finish());
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hotswap::http {

// Extracts the boundary from a Content-Type header value such as
// `multipart/form-data; boundary=----abc` (quoted boundary allowed). InvalidArgument otherwise,
// including for boundaries that are not 1-70 RFC 2046 boundary characters.
absl::StatusOr<std::string> MultipartBoundary(std::string_view content_type);

class MultipartParser {
 public:
  struct PartHeaders {
    std::string name;          // Content-Disposition name (never empty)
    std::string filename;      // Content-Disposition filename; empty when absent
    std::string content_type;  // Content-Type header; empty when absent
  };
  // Any callback may be empty (then it is skipped). A non-OK status stops the parse.
  struct Callbacks {
    std::function<absl::Status(const PartHeaders&)> on_part_begin;
    // May be called many times per part.
    std::function<absl::Status(std::string_view data)> on_part_data;
    std::function<absl::Status()> on_part_end;
  };

  // An empty `boundary` makes every Feed()/Finish() fail with InvalidArgument.
  MultipartParser(std::string boundary, Callbacks cb, size_t max_header_bytes = 16 * 1024);
  MultipartParser(const MultipartParser&) = delete;
  MultipartParser& operator=(const MultipartParser&) = delete;

  // Feeds the next chunk of the body (chunks split anywhere, even inside the boundary or headers).
  // Returns the first error from a callback or InvalidArgument for malformed input. Bytes after
  // the closing boundary are ignored.
  absl::Status Feed(std::string_view chunk);
  // Call at the end of the body: InvalidArgument("truncated multipart body ...") unless the closing
  // boundary was seen.
  absl::Status Finish();
  // True once the closing boundary has been seen (and no error occurred).
  bool complete() const { return state_ == State::kDone; }

 private:
  enum class State { kPreamble, kAfterDelimiter, kHeaders, kData, kDone, kFailed };

  absl::Status Process();
  absl::Status BeginPart(std::string_view header_block);
  absl::Status Emit(std::string_view data);
  // Length of the longest suffix of `data` that is a proper prefix of delimiter_.
  size_t HeldBackLength(std::string_view data) const;

  const std::string delimiter_;  // "\r\n--" + boundary
  Callbacks cb_;
  const size_t max_header_bytes_;
  State state_ = State::kPreamble;
  std::string buffer_;    // input not yet consumed
  size_t scan_from_ = 0;  // kHeaders: where the search for CRLFCRLF resumes in buffer_
  size_t padding_ = 0;    // kAfterDelimiter: spaces/tabs seen after the boundary
  absl::Status status_;   // the error, once state_ == kFailed
};

}  // namespace hotswap::http
