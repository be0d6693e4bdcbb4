#include "cli/api_client.h"

#include <curl/curl.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status.h"

namespace hotswap::cli {

namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

void EnsureCurl() { static CurlGlobal g; }

absl::StatusCode CodeForHttp(long status) {
  switch (status) {
    case 400: return absl::StatusCode::kInvalidArgument;
    case 401: return absl::StatusCode::kUnauthenticated;
    case 403: return absl::StatusCode::kPermissionDenied;
    case 404: return absl::StatusCode::kNotFound;
    case 409: return absl::StatusCode::kAlreadyExists;
    case 413: return absl::StatusCode::kResourceExhausted;
    case 422: return absl::StatusCode::kDataLoss;
    case 503: return absl::StatusCode::kUnavailable;
    default: return status >= 500 ? absl::StatusCode::kInternal : absl::StatusCode::kUnknown;
  }
}

struct Transfer {
  ApiResponse* resp;
  FILE* out = nullptr;  // download target, else body is buffered
  ProgressFn progress;
  bool upload = false;
};

size_t OnBody(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  size_t n = size * nmemb;
  if (t->out != nullptr && t->resp->status >= 200 && t->resp->status < 300) {
    return fwrite(ptr, 1, n, t->out);
  }
  t->resp->body.append(ptr, n);
  return n;
}

size_t OnHeader(char* buffer, size_t size, size_t nitems, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  size_t n = size * nitems;
  std::string line(buffer, n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->resp->headers.clear();
    size_t sp = line.find(' ');
    if (sp != std::string::npos) t->resp->status = std::atol(line.c_str() + sp + 1);
    return n;
  }
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string k = absl::AsciiStrToLower(line.substr(0, colon));
    std::string v(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    t->resp->headers[k] = v;
  }
  return n;
}

int OnProgress(void* userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
               curl_off_t ulnow) {
  auto* t = static_cast<Transfer*>(userdata);
  if (t->progress) {
    if (t->upload) t->progress(ulnow, ultotal);
    else t->progress(dlnow, dltotal);
  }
  return 0;
}

absl::Status ErrorFromResponse(const ApiResponse& r) {
  std::string code, message;
  nlohmann::json j = r.Json();
  if (j.is_object() && j.contains("error")) {
    const auto& e = j["error"];
    if (e.is_object()) {
      code = e.value("code", "");
      message = e.value("message", "");
    } else if (e.is_string()) {
      message = e.get<std::string>();
    }
  }
  if (message.empty()) message = r.body.empty() ? "no response body" : r.body.substr(0, 300);
  return absl::Status(CodeForHttp(r.status),
                      absl::StrCat(code.empty() ? "" : code + ": ", message, " (HTTP ", r.status, ")"));
}

}  // namespace

nlohmann::json ApiResponse::Json() const {
  return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

std::string UrlEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

absl::StatusOr<std::string> Sha256OfFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open '", path, "': ", std::strerror(errno)));
  }
  Sha256 h;
  std::string buf(1 << 20, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.Update(std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
  }
  return h.FinishHex();
}

ApiClient::ApiClient(std::string base_url, std::string token)
    : base_url_(std::move(base_url)), token_(std::move(token)) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

namespace {

using CurlPtr = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using SlistPtr = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

absl::Status Perform(CURL* curl, const std::string& base_url) {
  CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) return absl::OkStatus();
  if (rc == CURLE_COULDNT_CONNECT) {
    return absl::UnavailableError(absl::StrCat("cannot reach ", base_url,
                                               ": connection refused — is 'hotswap serve' running?"));
  }
  if (rc == CURLE_COULDNT_RESOLVE_HOST) {
    return absl::UnavailableError(absl::StrCat("cannot reach ", base_url, ": unknown host"));
  }
  return absl::UnavailableError(
      absl::StrCat("request to ", base_url, " failed: ", curl_easy_strerror(rc)));
}

}  // namespace

absl::StatusOr<ApiResponse> ApiClient::Call(const std::string& method, const std::string& path,
                                            const nlohmann::json* body) {
  if (body == nullptr) return Send(method, path, nullptr, "");
  const std::string payload = body->dump();
  return Send(method, path, &payload, "application/json");
}

absl::StatusOr<ApiResponse> ApiClient::Send(const std::string& method, const std::string& path,
                                            const std::string* body,
                                            const std::string& content_type) {
  EnsureCurl();
  CurlPtr curl(curl_easy_init(), &curl_easy_cleanup);
  ApiResponse resp;
  Transfer t{&resp};
  std::string url = base_url_ + path;
  curl_slist* raw_headers = nullptr;
  std::string auth = "Authorization: Bearer " + token_;
  std::string type = "Content-Type: " + content_type;
  if (!token_.empty()) raw_headers = curl_slist_append(raw_headers, auth.c_str());
  if (body) raw_headers = curl_slist_append(raw_headers, type.c_str());
  raw_headers = curl_slist_append(raw_headers, "Expect:");
  SlistPtr headers(raw_headers, &curl_slist_free_all);
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "HEAD") curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  if (body) {
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 10L);
  HS_RETURN_IF_ERROR(Perform(curl.get(), base_url_));
  if (resp.status < 200 || resp.status >= 300) return ErrorFromResponse(resp);
  return resp;
}

absl::StatusOr<ApiResponse> ApiClient::Upload(const std::string& path,
                                              const std::string& metadata_json,
                                              const std::string& file_path,
                                              const std::string& sha256, ProgressFn progress) {
  EnsureCurl();
  CurlPtr curl(curl_easy_init(), &curl_easy_cleanup);
  ApiResponse resp;
  Transfer t{&resp};
  t.progress = std::move(progress);
  t.upload = true;
  std::string url = base_url_ + path;
  curl_mime* mime = curl_mime_init(curl.get());
  std::unique_ptr<curl_mime, decltype(&curl_mime_free)> mime_owner(mime, &curl_mime_free);
  curl_mimepart* part = curl_mime_addpart(mime);
  curl_mime_name(part, "metadata");
  curl_mime_data(part, metadata_json.c_str(), metadata_json.size());
  curl_mime_type(part, "application/json");
  part = curl_mime_addpart(mime);
  curl_mime_name(part, "artifact");
  if (curl_mime_filedata(part, file_path.c_str()) != CURLE_OK) {
    return absl::NotFoundError(absl::StrCat("cannot read '", file_path, "'"));
  }
  curl_mime_type(part, "application/octet-stream");
  curl_slist* raw_headers = nullptr;
  std::string auth = "Authorization: Bearer " + token_;
  std::string sha = "X-Content-SHA256: " + sha256;
  if (!token_.empty()) raw_headers = curl_slist_append(raw_headers, auth.c_str());
  if (!sha256.empty()) raw_headers = curl_slist_append(raw_headers, sha.c_str());
  raw_headers = curl_slist_append(raw_headers, "Expect:");
  SlistPtr headers(raw_headers, &curl_slist_free_all);
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_MIMEPOST, mime);
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 10L);
  HS_RETURN_IF_ERROR(Perform(curl.get(), base_url_));
  if (resp.status < 200 || resp.status >= 300) return ErrorFromResponse(resp);
  return resp;
}

absl::StatusOr<ApiResponse> ApiClient::Download(const std::string& path,
                                                const std::string& dest_path,
                                                ProgressFn progress) {
  EnsureCurl();
  CurlPtr curl(curl_easy_init(), &curl_easy_cleanup);
  ApiResponse resp;
  std::string part_path = dest_path + ".part";
  FILE* out = std::fopen(part_path.c_str(), "wb");
  if (out == nullptr) {
    return absl::InternalError(absl::StrCat("cannot write '", part_path, "': ", std::strerror(errno)));
  }
  Transfer t{&resp, out, std::move(progress)};
  std::string url = base_url_ + path;
  curl_slist* raw_headers = nullptr;
  std::string auth = "Authorization: Bearer " + token_;
  if (!token_.empty()) raw_headers = curl_slist_append(raw_headers, auth.c_str());
  SlistPtr headers(raw_headers, &curl_slist_free_all);
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 10L);
  absl::Status s = Perform(curl.get(), base_url_);
  bool closed_ok = std::fclose(out) == 0;
  auto fail = [&](absl::Status st) {
    std::remove(part_path.c_str());
    return st;
  };
  if (!s.ok()) return fail(s);
  if (resp.status < 200 || resp.status >= 300) return fail(ErrorFromResponse(resp));
  if (!closed_ok) return fail(absl::InternalError(absl::StrCat("cannot write '", part_path, "'")));
  auto it = resp.headers.find("x-content-sha256");
  if (it != resp.headers.end()) {
    auto got = Sha256OfFile(part_path);
    if (!got.ok()) return fail(got.status());
    if (*got != it->second) {
      return fail(absl::DataLossError(absl::StrCat("downloaded file is corrupt: expected SHA-256 ",
                                                   it->second, ", got ", *got)));
    }
  }
  if (std::rename(part_path.c_str(), dest_path.c_str()) != 0) {
    return fail(absl::InternalError(
        absl::StrCat("cannot rename to '", dest_path, "': ", std::strerror(errno))));
  }
  return resp;
}

}  // namespace hotswap::cli
