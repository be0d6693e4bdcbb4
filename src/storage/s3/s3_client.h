// S3Client: signed (SigV4) requests to any S3 API server — AWS, MinIO, Ceph — over libcurl.
// Path-style (`http://host:port/bucket/key`, the default, what MinIO and most non-AWS servers
// want) or virtual-host addressing (`https://bucket.s3.region.amazonaws.com/key`).
// Payloads are signed (x-amz-content-sha256 = the body's SHA-256), so the server refuses a body
// that was altered on the way. Bodies can be streamed from a file range (multipart parts) and
// responses streamed into a sink (downloads), so memory use does not grow with object size.
//
// The client does not retry: the caller decides what is retryable (see S3ArtifactStore).
// Not thread-safe (one client per thread; cheap to create).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/s3/sigv4.h"

namespace hotswap::storage::s3 {

struct S3Options {
  std::string endpoint = "http://127.0.0.1:9000";  // scheme://host[:port], no path
  std::string region = "us-east-1";
  SigV4Credentials credentials;
  bool path_style = true;        // false: bucket.host (virtual-host addressing)
  long connect_timeout_s = 10;   // TCP/TLS connect
  long idle_timeout_s = 60;      // a transfer that moves no byte for this long is aborted
};

struct S3Response {
  long status = 0;
  std::string body;  // the response body (for a streamed 2xx GET: empty, the sink got it)
  std::map<std::string, std::string> headers;  // lower-case names
};

// A request body: in memory, or `length` bytes of file `fd` from `offset` (streamed, not
// loaded). `sha256` is the body's digest when already known (else it is computed: for a file
// range that is one extra pass over the bytes).
struct S3Body {
  std::string_view data;
  int fd = -1;
  int64_t offset = 0;
  int64_t length = 0;
  std::string sha256;
};

// Receives a 2xx response body in chunks; an error stops the transfer and is returned.
using S3Sink = std::function<absl::Status(std::string_view chunk)>;

class S3Client {
 public:
  explicit S3Client(S3Options options);

  // One request to bucket/key (key "" = the bucket itself, bucket "" = the service).
  // Transport failures (refused, reset, timed out, body cut short) are Unavailable; any HTTP
  // answer is returned as is (see StatusOf). With a `sink`, a 2xx body goes to the sink and an
  // error body is kept in the response.
  absl::StatusOr<S3Response> Send(const std::string& method, const std::string& bucket,
                                  const std::string& key, const S3Body& body,
                                  std::vector<std::pair<std::string, std::string>> headers = {},
                                  std::vector<std::pair<std::string, std::string>> query = {},
                                  const S3Sink* sink = nullptr);

  // Send() with an in-memory body.
  absl::StatusOr<S3Response> Request(const std::string& method, const std::string& bucket,
                                     const std::string& key, const std::string& body = "",
                                     std::vector<std::pair<std::string, std::string>> headers = {},
                                     std::vector<std::pair<std::string, std::string>> query = {});

  const S3Options& options() const { return options_; }

 private:
  S3Options options_;
  std::string scheme_;  // "http://" or "https://"
  std::string host_;    // host[:port] of the endpoint
};

// OK for 2xx; otherwise the S3 error (its XML <Code> and <Message>) as a status: 403
// PermissionDenied, 404 NotFound, 400 InvalidArgument, 409 AlreadyExists/FailedPrecondition,
// 5xx and 429 Unavailable. A HEAD error has no body: the status names the HTTP code.
absl::Status StatusOf(const S3Response& response);

// The text of the first <tag>...</tag> in `xml` ("" when absent), entities decoded.
std::string XmlField(std::string_view xml, std::string_view tag);
// Every <tag>...</tag> in `xml`, in order, entities decoded.
std::vector<std::string> XmlFields(std::string_view xml, std::string_view tag);

// "YYYYMMDD'T'HHMMSS'Z'" for a Unix time in seconds.
std::string AmzDate(int64_t unix_seconds);

}  // namespace hotswap::storage::s3
