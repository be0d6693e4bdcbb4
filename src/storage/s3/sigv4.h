// AWS Signature Version 4 request signing (the S3 API's authentication), implemented with
// OpenSSL — Debian bookworm has no S3 SDK for C++. Pure functions; thread-safe.
//
// Typical use (S3 GET):
//   SigV4Request r{.method = "GET", .canonical_uri = "/bucket/key",
//                  .headers = {{"host", "127.0.0.1:9000"}, {"x-amz-date", amz_date},
//                              {"x-amz-content-sha256", kEmptyPayloadSha256}},
//                  .payload_sha256 = kEmptyPayloadSha256};
//   SigV4Signature s = SignV4(r, creds, "us-east-1", "s3", amz_date);
//   // send header "Authorization: " + s.authorization
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hotswap::storage::s3 {

// SHA-256 of the empty string: the payload hash of a request without a body.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

struct SigV4Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // "" = none; sent as x-amz-security-token by the caller
};

struct SigV4Request {
  std::string method;         // "GET"
  std::string canonical_uri;  // URI-encoded absolute path, e.g. "/bucket/my%20key"
  // Query parameters, not encoded; the signer encodes and sorts them.
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign (must include host and x-amz-date); any case, any order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_sha256;  // lower-case hex, or kUnsignedPayload
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;range;x-amz-date"
  std::string signature;       // lower-case hex
  std::string authorization;   // the Authorization header value
};

// `amz_date` is the request time as "YYYYMMDD'T'HHMMSS'Z'" (the x-amz-date value).
SigV4Signature SignV4(const SigV4Request& request, const SigV4Credentials& credentials,
                      std::string_view region, std::string_view service,
                      std::string_view amz_date);

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters (A-Z a-z 0-9 - _ . ~) kept,
// everything else %XX in upper case; '/' kept when `keep_slash`.
std::string UriEncode(std::string_view s, bool keep_slash);

// The derived signing key (raw bytes) for a date "YYYYMMDD", region and service.
std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service);

// Lower-case hex of raw bytes.
std::string HexEncode(std::string_view bytes);

}  // namespace hotswap::storage::s3
