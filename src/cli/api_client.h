// ApiClient: the CLI's HTTP client for a HotSwap server (libcurl). Turns transport failures and
// error responses into absl::Status with messages a person can act on, e.g.
//   "cannot reach http://127.0.0.1:8080: connection refused — is 'hotswap serve' running?"
//   "not_found: model 'iris' not found (HTTP 404)"
// Uploads and downloads stream from/to files and can report progress.
//
// Not thread-safe: one client per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace hotswap::cli {

struct ApiResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  nlohmann::json Json() const;                 // null when the body is not JSON
};

// Called with (bytes done, bytes total or 0 when unknown).
using ProgressFn = std::function<void(int64_t done, int64_t total)>;

class ApiClient {
 public:
  ApiClient(std::string base_url, std::string token);

  // Sends a request with an optional JSON body. Non-2xx answers become errors whose code follows
  // the HTTP status and whose message is the server's error message.
  absl::StatusOr<ApiResponse> Call(const std::string& method, const std::string& path,
                                   const nlohmann::json* body = nullptr);
  // Same, with a body of any content type (nullptr = none), e.g. a CSV dataset.
  absl::StatusOr<ApiResponse> Send(const std::string& method, const std::string& path,
                                   const std::string* body, const std::string& content_type);
  // multipart/form-data: a `metadata` JSON part and an `artifact` file part streamed from disk;
  // sends X-Content-SHA256 when `sha256` is not empty.
  absl::StatusOr<ApiResponse> Upload(const std::string& path, const std::string& metadata_json,
                                     const std::string& file_path, const std::string& sha256,
                                     ProgressFn progress);
  // Streams the response body into `dest_path` (via a .part file renamed at the end). Verifies
  // the X-Content-SHA256 header when the server sends it.
  absl::StatusOr<ApiResponse> Download(const std::string& path, const std::string& dest_path,
                                       ProgressFn progress);

  const std::string& base_url() const { return base_url_; }

 private:
  std::string base_url_;
  std::string token_;
};

// URL-encodes a path segment or query value.
std::string UrlEncode(const std::string& s);

// SHA-256 of a file, streamed.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path);

}  // namespace hotswap::cli
