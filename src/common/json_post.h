// One HTTP POST of a JSON body with libcurl: what the alert and deployment webhooks, the approval
// webhook and the trace exporter each send. Retries, backoff and counting stay with the callers.
#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <string>

namespace hotswap {

// Resets `curl`, POSTs `body` to `url` with `Content-Type: application/json` within `timeout_ms`
// and discards the answer's body. Returns the HTTP status, or 0 when no answer came (connection
// refused, timeout, ...).
long PostJsonOnce(CURL* curl, const std::string& url, const std::string& body, int64_t timeout_ms);

inline bool IsSuccess(long http_status) { return http_status >= 200 && http_status < 300; }

}  // namespace hotswap
