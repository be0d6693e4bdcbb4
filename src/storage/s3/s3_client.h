// S3Client: signed (SigV4) requests to any S3 API server — AWS, MinIO, Ceph — over libcurl,
// path-style (`http://host:port/bucket/key`). The building block of the S3 artifact store.
// Payloads are signed (x-amz-content-sha256 = the body's SHA-256), so the server refuses a body
// that was altered on the way.
//
// Not thread-safe (one client per thread; cheap to create).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/s3/sigv4.h"

namespace hotswap::storage::s3 {

struct S3Options {
  std::string endpoint = "http://127.0.0.1:9000";  // scheme://host[:port], no path
  std::string region = "us-east-1";
  SigV4Credentials credentials;
  long timeout_s = 60;
};

struct S3Response {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

class S3Client {
 public:
  explicit S3Client(S3Options options);

  // One request to /bucket[/key] (key "" = the bucket itself, bucket "" = the service).
  // Transport failures are Unavailable; any HTTP answer is returned as is (see StatusOf).
  absl::StatusOr<S3Response> Request(const std::string& method, const std::string& bucket,
                                     const std::string& key, const std::string& body = "",
                                     std::vector<std::pair<std::string, std::string>> headers = {},
                                     std::vector<std::pair<std::string, std::string>> query = {});

 private:
  S3Options options_;
  std::string host_;  // host[:port] as sent in the Host header
};

// OK for 2xx; otherwise the S3 error (its XML <Code> and <Message>) as a status: 403
// PermissionDenied, 404 NotFound, 400 InvalidArgument, 409 AlreadyExists/FailedPrecondition,
// 5xx and 429 Unavailable.
absl::Status StatusOf(const S3Response& response);

// "YYYYMMDD'T'HHMMSS'Z'" for a Unix time in seconds.
std::string AmzDate(int64_t unix_seconds);

}  // namespace hotswap::storage::s3
