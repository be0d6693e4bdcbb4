#include "storage/s3/s3_client.h"

#include <curl/curl.h>

#include <ctime>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace hotswap::storage::s3 {
namespace {

size_t OnBody(char* p, size_t s, size_t n, void* ud) {
  static_cast<S3Response*>(ud)->body.append(p, s * n);
  return s * n;
}

size_t OnHeader(char* p, size_t s, size_t n, void* ud) {
  auto* r = static_cast<S3Response*>(ud);
  std::string line(p, s * n);
  size_t colon = line.find(':');
  if (line.rfind("HTTP/", 0) != 0 && colon != std::string::npos) {
    r->headers[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return s * n;
}

std::string XmlField(const std::string& xml, const std::string& tag) {
  size_t a = xml.find("<" + tag + ">");
  if (a == std::string::npos) return "";
  a += tag.size() + 2;
  size_t b = xml.find("</" + tag + ">", a);
  return b == std::string::npos ? "" : xml.substr(a, b - a);
}

}  // namespace

std::string AmzDate(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

S3Client::S3Client(S3Options options) : options_(std::move(options)) {
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/') options_.endpoint.pop_back();
  size_t scheme = options_.endpoint.find("://");
  host_ = scheme == std::string::npos ? options_.endpoint : options_.endpoint.substr(scheme + 3);
}

absl::StatusOr<S3Response> S3Client::Request(
    const std::string& method, const std::string& bucket, const std::string& key,
    const std::string& body, std::vector<std::pair<std::string, std::string>> headers,
    std::vector<std::pair<std::string, std::string>> query) {
  std::string path = "/";
  if (!bucket.empty()) path += UriEncode(bucket, false);
  if (!key.empty()) path += "/" + UriEncode(key, true);
  std::string amz_date = AmzDate(std::time(nullptr));
  std::string payload_sha = Sha256Hex(body);
  headers.emplace_back("host", host_);
  headers.emplace_back("x-amz-date", amz_date);
  headers.emplace_back("x-amz-content-sha256", payload_sha);
  if (!options_.credentials.session_token.empty()) {
    headers.emplace_back("x-amz-security-token", options_.credentials.session_token);
  }
  SigV4Request sr{method, path, query, headers, payload_sha};
  SigV4Signature sig = SignV4(sr, options_.credentials, options_.region, "s3", amz_date);

  std::string url = options_.endpoint + path;
  if (!query.empty()) {
    std::string q;
    for (const auto& [k, v] : query) {
      q += (q.empty() ? "?" : "&") + UriEncode(k, false) + "=" + UriEncode(v, false);
    }
    url += q;
  }
  S3Response resp;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  curl_slist* list = nullptr;
  for (const auto& [k, v] : headers) list = curl_slist_append(list, (k + ": " + v).c_str());
  list = curl_slist_append(list, ("Authorization: " + sig.authorization).c_str());
  list = curl_slist_append(list, "Expect:");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> owner(list, &curl_slist_free_all);
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "HEAD") curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 1L);
  if (method == "PUT" || method == "POST") {
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &resp);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &resp);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, options_.timeout_s);
  CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat("S3 request ", method, " ", path, " to ",
                                               options_.endpoint, " failed: ",
                                               curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

absl::Status StatusOf(const S3Response& r) {
  if (r.status >= 200 && r.status < 300) return absl::OkStatus();
  std::string code = XmlField(r.body, "Code");
  std::string message = XmlField(r.body, "Message");
  std::string text = absl::StrCat("S3 ", code.empty() ? "error" : code, " (HTTP ", r.status, ")",
                                  message.empty() ? "" : ": " + message);
  switch (r.status) {
    case 400: return absl::InvalidArgumentError(text);
    case 403: return absl::PermissionDeniedError(text);
    case 404: return absl::NotFoundError(text);
    case 409: return code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists"
                         ? absl::AlreadyExistsError(text)
                         : absl::FailedPreconditionError(text);
    case 429: return absl::UnavailableError(text);
    default: return r.status >= 500 ? absl::UnavailableError(text) : absl::UnknownError(text);
  }
}

}  // namespace hotswap::storage::s3
