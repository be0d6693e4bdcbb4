#include "tests/test_util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/http/http_server.h"
#include "api/http/router.h"

namespace hotswap::testing_util {

namespace fs = std::filesystem;

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/hotswap-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

nlohmann::json HttpResult::json() const {
  return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

namespace {

size_t OnBody(char* p, size_t s, size_t n, void* ud) {
  static_cast<HttpResult*>(ud)->body.append(p, s * n);
  return s * n;
}

size_t OnHeader(char* p, size_t s, size_t n, void* ud) {
  auto* r = static_cast<HttpResult*>(ud);
  std::string line(p, s * n);
  size_t colon = line.find(':');
  if (line.rfind("HTTP/", 0) != 0 && colon != std::string::npos) {
    r->headers[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return s * n;
}

}  // namespace

HttpResult Http(const std::string& method, const std::string& url, const std::string& body,
                const std::vector<std::string>& headers) {
  HttpResult r;
  CURL* c = curl_easy_init();
  curl_slist* h = nullptr;
  for (const auto& line : headers) h = curl_slist_append(h, line.c_str());
  h = curl_slist_append(h, "Expect:");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  else r.body = curl_easy_strerror(rc);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return r;
}

std::string RawHttp(int port, const std::string& raw, bool close_after_send, int read_timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  size_t off = 0;
  while (off < raw.size()) {
    ssize_t n = send(fd, raw.data() + off, raw.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  std::string out;
  if (!close_after_send) {
    char buf[65536];
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, read_timeout_ms) > 0) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

RawConnection::RawConnection(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Close();
}

RawConnection::~RawConnection() { Close(); }

bool RawConnection::Send(const std::string& bytes) {
  size_t off = 0;
  while (fd_ >= 0 && off < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return fd_ >= 0;
}

void RawConnection::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

bool WaitFor(const std::function<bool()>& predicate, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 10) {
    if (predicate()) return true;
    usleep(10000);
  }
  return predicate();
}

Multipart& Multipart::Field(const std::string& name, const std::string& value) {
  body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" +
          value + "\r\n";
  return *this;
}

Multipart& Multipart::File(const std::string& name, const std::string& filename,
                           const std::string& data) {
  body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name +
          "\"; filename=\"" + filename + "\"\r\nContent-Type: application/octet-stream\r\n\r\n" +
          data + "\r\n";
  return *this;
}

std::string Multipart::Finish() { return body + "--" + boundary + "--\r\n"; }

std::vector<std::string> ListFiles(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    // Files may vanish while we list them (the server is cleaning up): never throw.
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec)) continue;
    fs::path rel = fs::relative(it->path(), dir, file_ec);
    out.push_back(file_ec ? it->path().filename().string() : rel.string());
  }
  return out;
}

TestServer::TestServer(server::ServerConfig config, Clock* clock)
    : config_(std::move(config)), clock_(clock) {
  config_.data_dir = dir_.path() + "/data";
  config_.http_address = "127.0.0.1:0";
  config_.threads = 2;
  config_.log_level = "warn";
  auto s = server::Server::Create(config_, clock_);
  if (!s.ok()) throw std::runtime_error(std::string(s.status().message()));
  server_ = *std::move(s);
  admin_ = server_->bootstrap_token();
  if (auto st = server_->Start(); !st.ok()) throw std::runtime_error(std::string(st.message()));
  server_->WaitReady();
}

TestServer::~TestServer() {
  if (server_) server_->Stop();
}

void TestServer::Restart() {
  server_->Stop();
  server_.reset();
  auto s = server::Server::Create(config_, clock_);
  if (!s.ok()) throw std::runtime_error(std::string(s.status().message()));
  server_ = *std::move(s);
  if (auto st = server_->Start(); !st.ok()) throw std::runtime_error(std::string(st.message()));
  server_->WaitReady();
}

std::string TestServer::Url(const std::string& path) const {
  return absl::StrCat("http://127.0.0.1:", port(), path);
}

HttpResult TestServer::Call(const std::string& method, const std::string& path,
                            const nlohmann::json& body, const std::string& token) const {
  std::vector<std::string> headers;
  std::string t = token == "@admin" ? admin_ : token;
  if (!t.empty()) headers.push_back("Authorization: Bearer " + t);
  std::string payload;
  if (!body.is_null()) {
    payload = body.is_string() ? body.get<std::string>() : body.dump();
    headers.push_back("Content-Type: application/json");
  }
  return Http(method, Url(path), payload, headers);
}

std::string TestServer::TokenFor(const std::string& role) {
  static int counter = 0;
  HttpResult r = Call("POST", "/api/v1/tokens",
                      {{"name", absl::StrCat(role, "-", ++counter)}, {"role", role}});
  if (r.status != 201) throw std::runtime_error("token create failed: " + r.body);
  return r.json()["token"].get<std::string>();
}

HttpResult TestServer::Upload(const std::string& model, const nlohmann::json& metadata,
                              const std::string& data, const std::vector<std::string>& extra_headers,
                              const std::string& token) const {
  Multipart mp;
  mp.Field("metadata", metadata.dump()).File("artifact", "model.onnx", data);
  std::string body = mp.Finish();
  std::vector<std::string> headers = extra_headers;
  std::string t = token == "@admin" ? admin_ : token;
  if (!t.empty()) headers.push_back("Authorization: Bearer " + t);
  headers.push_back(mp.ContentType());
  return Http("POST", Url("/api/v1/models/" + model + "/versions"), body, headers);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct PostRecorder::Impl {
  std::string path;
  http::Router router;
  std::unique_ptr<http::HttpServer> server;
  mutable absl::Mutex mu;
  std::vector<std::string> bodies ABSL_GUARDED_BY(mu);
};

PostRecorder::PostRecorder(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  Impl* impl = impl_.get();
  impl_->router.Add("POST", path, "none", [impl](http::HttpRequest& req) {
    absl::MutexLock lock(&impl->mu);
    impl->bodies.push_back(req.body);
    return http::HttpResponse::Json(200, nlohmann::json::object());
  });
  http::HttpServer::Options o;
  o.port = 0;
  o.threads = 1;
  impl_->server = std::make_unique<http::HttpServer>(
      o, &impl_->router, [](http::HttpRequest&, const http::Route&) { return std::nullopt; },
      [](const http::HttpRequest&, const absl::Status& s) { return http::HttpResponse::Error(s); });
  if (absl::Status s = impl_->server->Start(); !s.ok()) {
    throw std::runtime_error("PostRecorder: " + std::string(s.message()));
  }
}

PostRecorder::~PostRecorder() { impl_->server->Stop(); }

std::string PostRecorder::Base() const {
  return absl::StrCat("http://127.0.0.1:", impl_->server->port());
}

std::string PostRecorder::Url() const { return Base() + impl_->path; }

std::vector<std::string> PostRecorder::Bodies() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->bodies;
}

}  // namespace hotswap::testing_util
