// Helpers for integration tests: temp dirs, HTTP calls over real sockets, multipart bodies and
// a server started in-process on port 0.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "server/server.h"

namespace hotswap::testing_util {

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct HttpResult {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  nlohmann::json json() const;                 // discarded value when not JSON
};

// One HTTP request with libcurl. `headers` are "Name: value" lines.
HttpResult Http(const std::string& method, const std::string& url, const std::string& body = "",
                const std::vector<std::string>& headers = {});

// Sends `raw` bytes on a new TCP connection to 127.0.0.1:port, then reads the answer until the
// server closes or `read_timeout_ms` passes. With `close_after_send`, closes right after
// sending without reading (a client that goes away mid-upload).
std::string RawHttp(int port, const std::string& raw, bool close_after_send = false,
                    int read_timeout_ms = 3000);

// A client TCP connection to 127.0.0.1:port for tests that control exactly when bytes go out
// and when the client goes away.
class RawConnection {
 public:
  explicit RawConnection(int port);
  ~RawConnection();
  bool connected() const { return fd_ >= 0; }
  bool Send(const std::string& bytes);
  void Close();

 private:
  int fd_ = -1;
};

// Polls `predicate` every 10 ms until it holds or `timeout_ms` passes; returns its last value.
bool WaitFor(const std::function<bool()>& predicate, int timeout_ms = 30000);

// A multipart/form-data body as `curl -F metadata=... -F artifact=@file` sends it.
struct Multipart {
  std::string boundary = "------------------------hotswaptestboundary";
  std::string body;
  Multipart& Field(const std::string& name, const std::string& value);
  Multipart& File(const std::string& name, const std::string& filename, const std::string& data);
  std::string Finish();  // appends the closing delimiter and returns the body
  std::string ContentType() const { return "Content-Type: multipart/form-data; boundary=" + boundary; }
};

// Files (recursively) below `dir`, as paths relative to it.
std::vector<std::string> ListFiles(const std::string& dir);

// A server on 127.0.0.1:0 with a temp data dir, started and ready (endpoints restored); the
// bootstrap admin token in `admin`.
class TestServer {
 public:
  explicit TestServer(server::ServerConfig config = {}, Clock* clock = SystemClock::Get());
  ~TestServer();
  std::string Url(const std::string& path) const;
  // Request with the given token ("" = none) and JSON body (null = none).
  HttpResult Call(const std::string& method, const std::string& path,
                  const nlohmann::json& body = nullptr, const std::string& token = "@admin") const;
  // Creates a token with `role` and returns its secret.
  std::string TokenFor(const std::string& role);
  // Uploads `data` as a new version of `model` with the metadata; returns the response.
  HttpResult Upload(const std::string& model, const nlohmann::json& metadata,
                    const std::string& data, const std::vector<std::string>& extra_headers = {},
                    const std::string& token = "@admin") const;
  void Restart();

  int port() const { return server_->http_port(); }
  const std::string& data_dir() const { return dir_.path(); }
  const std::string& admin() const { return admin_; }
  server::Server& server() { return *server_; }

 private:
  TempDir dir_;
  server::ServerConfig config_;
  Clock* clock_;
  std::unique_ptr<server::Server> server_;
  std::string admin_;
};

// The whole file (binary), "" when it cannot be read.
std::string ReadAll(const std::string& path);

// An HTTP server on 127.0.0.1:0 that records the bodies POSTed to `path` and answers 200: the
// receiving end of webhooks and of OTLP exports in tests.
class PostRecorder {
 public:
  explicit PostRecorder(const std::string& path);
  ~PostRecorder();
  PostRecorder(const PostRecorder&) = delete;
  PostRecorder& operator=(const PostRecorder&) = delete;
  std::string Base() const;  // http://127.0.0.1:PORT
  std::string Url() const;   // Base() + path
  std::vector<std::string> Bodies() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hotswap::testing_util
