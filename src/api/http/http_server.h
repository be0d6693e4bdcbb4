// HttpServer: HTTP/1.1 (keep-alive, pipelining, chunked and Content-Length bodies, Expect:
// 100-continue, streaming uploads and downloads) on its own epoll event loops: one per worker
// thread, all waiting on the one listening socket (idle workers race for each new connection),
// each connection owned by the thread that accepted it. Answers computed in one epoll batch are
// sent together at its end. Why our own loop and not a library: docs/architecture.md ("HTTP
// stack").
//
// Request flow: headers arrive → route lookup (404/405) → middleware (auth; may answer at once)
// → for buffered routes the body is collected up to Options::max_body_bytes (413 beyond) and the
// handler runs; for streaming routes the StreamingHandler returns a BodyConsumer that receives
// the body chunk by chunk. A client that disconnects mid-body triggers BodyConsumer::OnAbort.
// Quick handlers (Route::batch_answers: V2 infer) and body consumers run on the worker thread
// that read the request; every other handler runs on a handler pool (as many threads as
// workers, at least 2), so a slow one (an explanation, a deploy) does not hold up the other
// connections of its worker.
//
// Limits: request line + headers at most Options::max_header_bytes (431 beyond); a malformed
// request is a 400 and the connection is closed; a connection idle for connection_timeout_s is
// closed. An answer given before the body was read (401, 404, 413...) closes the connection
// after a lingering read, so the client sees the answer rather than a reset.
//
// Every response carries `x-request-id` (the client's, when it sent a sane one, else generated)
// and `Date`; log lines written while handling the request carry the same id.
//
// Thread-safety: Start/Stop from one controlling thread. Handlers run concurrently on the worker
// threads and must be thread-safe. The Router must not change after Start.
//
// Shutdown (Stop): stop accepting new connections, answer what is in flight (with `Connection:
// close`) for up to `drain_timeout_ms`, close idle connections, then close everything.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "api/http/http_types.h"
#include "api/http/router.h"

namespace hotswap::http {

class HttpServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 8080;                       // 0 = any free port (see port())
    int threads = 0;                       // 0 = number of cores
    int64_t max_body_bytes = 1 << 20;      // buffered routes; streaming routes set their own
    int connection_timeout_s = 120;        // idle keep-alive connections are closed after this
    int max_connections = 4096;
    int drain_timeout_ms = 30000;
    int64_t max_header_bytes = 16 * 1024;  // request line + headers; 431 beyond
  };
  // Runs before the handler. Return a response to answer at once (e.g. 401), or nullopt.
  using Middleware = std::function<std::optional<HttpResponse>(HttpRequest&, const Route&)>;
  // Formats errors the server generates itself (404, 405, 413, 400), per path style.
  using ErrorResponder = std::function<HttpResponse(const HttpRequest&, const absl::Status&)>;

  HttpServer(Options options, const Router* router, Middleware middleware,
             ErrorResponder error_responder);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  absl::Status Start();
  void Stop();
  int port() const { return port_; }
  int64_t requests_in_flight() const { return in_flight_.load(); }

  // Implementation details (http_server.cpp).
  struct Connection;
  struct Worker;

 private:
  friend struct Worker;
  HttpResponse RespondError(const HttpRequest& req, const absl::Status& s) const;
  void RunOnHandlerPool(std::function<void()> task);
  void HandlerLoop();
  int64_t BodyLimit(const Route& route) const;

  Options options_;
  const Router* router_;
  Middleware middleware_;
  ErrorResponder error_responder_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::vector<std::unique_ptr<Worker>> workers_;
  // Handlers other than the quick ones (Route::batch_answers) run here, off the event loops.
  std::vector<std::thread> handler_threads_;
  std::mutex handler_mu_;
  std::condition_variable handler_cv_;
  std::deque<std::function<void()>> handler_queue_;
  bool handler_stop_ = false;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> connections_{0};
  std::atomic<uint64_t> request_counter_{0};
  std::string id_prefix_;
};

}  // namespace hotswap::http
