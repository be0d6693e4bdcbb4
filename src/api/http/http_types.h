// Request/response value types of the HTTP layer, independent of the server library.
// Plain values; not synchronised (one request belongs to one thread at a time).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace hotswap::http {

struct HttpRequest {
  std::string method;                                        // "GET"
  std::string path;                                          // decoded, without the query
  std::map<std::string, std::string> query;                  // decoded ?k=v pairs
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::map<std::string, std::string> path_params;            // from the route pattern
  std::string body;                                          // buffered routes only
  std::string remote_addr;                                   // "127.0.0.1"
  std::string request_id;                                    // x-request-id or generated
  // Set by the middleware (e.g. the authenticated principal) for handlers to read.
  std::string principal;
  std::string principal_role;
  // When the request's headers were complete (latency accounting).
  std::chrono::steady_clock::time_point arrival;

  // The first header with this lower-case name, or nullptr.
  const std::string* Header(std::string_view lower_name) const;
  // Query parameter or `def`.
  std::string QueryOr(const std::string& key, std::string def) const;
  const std::string& Param(const std::string& name) const;  // path param ("" when absent)
};

// Streams a response body: fills `buf` (at most `max` bytes) from offset `pos`; returns bytes
// written, 0 is not allowed; -1 end of stream, -2 error (the connection is closed).
using BodyStreamer = std::function<ssize_t(uint64_t pos, char* buf, size_t max)>;

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  BodyStreamer stream;       // when set, `body` is ignored
  int64_t stream_size = -1;  // -1 = unknown (chunked)

  static HttpResponse Json(int status, const nlohmann::json& body);
  // Management style: {"error": {"code": "not_found", "message": "..."}} with the mapped status;
  // Unavailable (503, e.g. the registry database is restarting) also gets "Retry-After: 1".
  static HttpResponse Error(const absl::Status& status);
  static HttpResponse Error(int http_status, std::string_view code, std::string_view message);
  // KServe V2 style: {"error": "..."}.
  static HttpResponse V2Error(int http_status, std::string_view message);
  static HttpResponse NoContent();
};

// Consumes a request body as it arrives (uploads). Created by a StreamingHandler after the
// headers were read; OnData is called per chunk, then exactly one of OnComplete or OnAbort.
class BodyConsumer {
 public:
  virtual ~BodyConsumer() = default;
  // A non-OK status stops the upload: the status becomes the response, the rest is discarded.
  virtual absl::Status OnData(std::string_view chunk) = 0;
  // The whole body arrived.
  virtual HttpResponse OnComplete() = 0;
  // The client went away or the body was refused; release what was written.
  virtual void OnAbort() = 0;
};

using Handler = std::function<HttpResponse(HttpRequest& req)>;
// Returns the consumer for the body, or an error status that is answered at once.
using StreamingHandler =
    std::function<absl::StatusOr<std::unique_ptr<BodyConsumer>>(HttpRequest& req)>;

}  // namespace hotswap::http
