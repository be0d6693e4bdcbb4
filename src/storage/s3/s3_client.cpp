#include "storage/s3/s3_client.h"

#include <curl/curl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace hotswap::storage::s3 {
namespace {

struct Transfer {
  CURL* curl = nullptr;
  S3Response* response = nullptr;
  const S3Sink* sink = nullptr;
  absl::Status sink_status;
  // File-range body.
  int fd = -1;
  int64_t offset = 0;
  int64_t remaining = 0;
  int read_errno = 0;
};

size_t OnBody(char* p, size_t s, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t len = s * n;
  long code = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
  if (t->sink != nullptr && code >= 200 && code < 300) {
    t->sink_status = (*t->sink)(std::string_view(p, len));
    return t->sink_status.ok() ? len : 0;  // 0 aborts the transfer
  }
  t->response->body.append(p, len);
  return len;
}

size_t OnHeader(char* p, size_t s, size_t n, void* ud) {
  auto* r = static_cast<Transfer*>(ud)->response;
  std::string_view line(p, s * n);
  if (line.rfind("HTTP/", 0) == 0) {
    r->headers.clear();  // a new response (e.g. after "100 Continue")
    return s * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    r->headers[absl::AsciiStrToLower(std::string(line.substr(0, colon)))] =
        std::string(absl::StripAsciiWhitespace(std::string(line.substr(colon + 1))));
  }
  return s * n;
}

size_t OnRead(char* buf, size_t s, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t want = std::min<int64_t>(static_cast<int64_t>(s * n), t->remaining);
  if (want == 0) return 0;
  ssize_t got = ::pread(t->fd, buf, want, t->offset);
  if (got <= 0) {
    t->read_errno = got < 0 ? errno : EIO;  // a file shorter than promised
    return CURL_READFUNC_ABORT;
  }
  t->offset += got;
  t->remaining -= got;
  return static_cast<size_t>(got);
}

absl::StatusOr<std::string> HashFileRange(int fd, int64_t offset, int64_t length) {
  Sha256 h;
  std::string buf(1 << 20, '\0');
  while (length > 0) {
    ssize_t got = ::pread(fd, buf.data(), std::min<int64_t>(length, buf.size()), offset);
    if (got <= 0) {
      return absl::InternalError(absl::StrCat("reading the upload's staging file: ",
                                              got < 0 ? std::strerror(errno) : "unexpected end"));
    }
    h.Update(std::string_view(buf.data(), got));
    offset += got;
    length -= got;
  }
  return h.FinishHex();
}

std::string DecodeEntities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '&') {
      static constexpr std::pair<std::string_view, char> kEntities[] = {
          {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
      bool done = false;
      for (const auto& [e, c] : kEntities) {
        if (s.substr(i, e.size()) == e) {
          out += c;
          i += e.size() - 1;
          done = true;
          break;
        }
      }
      if (done) continue;
    }
    out += s[i];
  }
  return out;
}

}  // namespace

std::vector<std::string> XmlFields(std::string_view xml, std::string_view tag) {
  std::vector<std::string> out;
  std::string open = absl::StrCat("<", std::string(tag), ">");
  std::string close = absl::StrCat("</", std::string(tag), ">");
  size_t pos = 0;
  while (true) {
    size_t a = xml.find(open, pos);
    if (a == std::string_view::npos) break;
    a += open.size();
    size_t b = xml.find(close, a);
    if (b == std::string_view::npos) break;
    out.push_back(DecodeEntities(xml.substr(a, b - a)));
    pos = b + close.size();
  }
  return out;
}

std::string XmlField(std::string_view xml, std::string_view tag) {
  std::vector<std::string> all = XmlFields(xml, tag);
  return all.empty() ? "" : all.front();
}

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
  scheme_ = scheme == std::string::npos ? "http://" : options_.endpoint.substr(0, scheme + 3);
  host_ = scheme == std::string::npos ? options_.endpoint : options_.endpoint.substr(scheme + 3);
}

absl::StatusOr<S3Response> S3Client::Request(
    const std::string& method, const std::string& bucket, const std::string& key,
    const std::string& body, std::vector<std::pair<std::string, std::string>> headers,
    std::vector<std::pair<std::string, std::string>> query) {
  S3Body b;
  b.data = body;
  return Send(method, bucket, key, b, std::move(headers), std::move(query));
}

absl::StatusOr<S3Response> S3Client::Send(
    const std::string& method, const std::string& bucket, const std::string& key,
    const S3Body& body, std::vector<std::pair<std::string, std::string>> headers,
    std::vector<std::pair<std::string, std::string>> query, const S3Sink* sink) {
  // Path-style: host/bucket/key. Virtual-host: bucket.host/key.
  std::string host = host_;
  std::string path = "/";
  if (!bucket.empty()) {
    if (options_.path_style) {
      path += UriEncode(bucket, false);
      if (!key.empty()) path += "/";
    } else {
      host = bucket + "." + host_;
    }
  }
  if (!key.empty()) path += UriEncode(key, true);

  bool from_file = body.fd >= 0;
  std::string payload_sha = body.sha256;
  if (payload_sha.empty()) {
    if (from_file) {
      auto h = HashFileRange(body.fd, body.offset, body.length);
      if (!h.ok()) return h.status();
      payload_sha = *h;
    } else {
      payload_sha = Sha256Hex(body.data);
    }
  }
  std::string amz_date = AmzDate(std::time(nullptr));
  headers.emplace_back("host", host);
  headers.emplace_back("x-amz-date", amz_date);
  headers.emplace_back("x-amz-content-sha256", payload_sha);
  if (!options_.credentials.session_token.empty()) {
    headers.emplace_back("x-amz-security-token", options_.credentials.session_token);
  }
  SigV4Request sr{method, path, query, headers, payload_sha};
  SigV4Signature sig = SignV4(sr, options_.credentials, options_.region, "s3", amz_date);

  std::string url = scheme_ + host + path;
  if (!query.empty()) {
    std::string q;
    for (const auto& [k, v] : query) {
      q += (q.empty() ? "?" : "&") + UriEncode(k, false) + "=" + UriEncode(v, false);
    }
    url += q;
  }
  S3Response resp;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return absl::InternalError("curl_easy_init failed");
  Transfer t;
  t.curl = curl.get();
  t.response = &resp;
  t.sink = sink;
  curl_slist* list = nullptr;
  for (const auto& [k, v] : headers) list = curl_slist_append(list, (k + ": " + v).c_str());
  list = curl_slist_append(list, ("Authorization: " + sig.authorization).c_str());
  list = curl_slist_append(list, "Expect:");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> owner(list, &curl_slist_free_all);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (from_file) {
    t.fd = body.fd;
    t.offset = body.offset;
    t.remaining = body.length;
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, &OnRead);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.length));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  } else if (method == "PUT" || method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.data.size()));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, options_.idle_timeout_s);
  CURLcode rc = curl_easy_perform(c);
  if (!t.sink_status.ok()) return t.sink_status;
  if (t.read_errno != 0) {
    return absl::InternalError(absl::StrCat("S3 ", method, " ", path,
                                            ": reading the body from its file failed: ",
                                            std::strerror(t.read_errno)));
  }
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat("S3 ", method, " ", path, " to ", scheme_, host,
                                               " failed: ", curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

absl::Status StatusOf(const S3Response& r) {
  if (r.status >= 200 && r.status < 300) return absl::OkStatus();
  std::string code = XmlField(r.body, "Code");
  std::string message = XmlField(r.body, "Message");
  if (code.empty()) {
    switch (r.status) {  // HEAD answers carry no body
      case 403: code = "AccessDenied"; break;
      case 404: code = "NotFound"; break;
      case 503: code = "ServiceUnavailable"; break;
      default: code = "error";
    }
  }
  std::string text = absl::StrCat("S3 ", code, " (HTTP ", r.status, ")",
                                  message.empty() ? "" : ": " + message);
  switch (r.status) {
    case 400: return absl::InvalidArgumentError(text);
    case 403: return absl::PermissionDeniedError(text);
    case 404: return absl::NotFoundError(text);
    case 409: return code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists"
                         ? absl::AlreadyExistsError(text)
                         : absl::FailedPreconditionError(text);
    case 408:
    case 429: return absl::UnavailableError(text);
    default: return r.status >= 500 ? absl::UnavailableError(text) : absl::UnknownError(text);
  }
}

}  // namespace hotswap::storage::s3
