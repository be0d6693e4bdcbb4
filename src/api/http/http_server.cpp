#include "api/http/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/sha256.h"

namespace hotswap::http {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 64 * 1024;        // one recv()
constexpr size_t kStreamChunk = 256 * 1024;     // one BodyStreamer call
constexpr auto kLinger = std::chrono::seconds(5);  // reading what a refused client still sends
constexpr int kAcceptBatch = 1;                 // accepts per wake-up: spreads new connections
constexpr size_t kMaxDeferredSends = 16;        // answers held back to be sent together, at most
constexpr auto kMaxDeferral = std::chrono::milliseconds(1);  // ... and for at most about this long

const char* Reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 422: return "Unprocessable Content";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error"
                                                                                  : "Server Error";
  }
}

// "Date: ..." value, formatted once per second per thread.
std::string_view HttpDate() {
  thread_local time_t cached = 0;
  thread_local char buf[64];
  thread_local size_t len = 0;
  time_t now = time(nullptr);
  if (now != cached) {
    tm t{};
    gmtime_r(&now, &t);
    len = strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &t);
    cached = now;
  }
  return {buf, len};
}

bool SaneRequestId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding (and '+' as a space in query strings); a malformed escape stays as it is.
std::string PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      int hi = HexDigit(in[i + 1]), lo = HexDigit(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

// (Debian's abseil has its own string_view type: these work on std::string_view.)
std::string_view Trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
        absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Calls f(piece) for each `sep`-separated piece of `v`.
template <typename F>
void ForEachPiece(std::string_view v, char sep, F f) {
  while (true) {
    size_t at = v.find(sep);
    f(v.substr(0, at));
    if (at == std::string_view::npos) return;
    v.remove_prefix(at + 1);
  }
}

// A non-negative decimal that fits in int64, or false.
bool ParseLength(std::string_view v, int64_t* out) {
  if (v.empty() || v.size() > 18) return false;
  int64_t n = 0;
  for (char ch : v) {
    if (ch < '0' || ch > '9') return false;
    n = n * 10 + (ch - '0');
  }
  *out = n;
  return true;
}

// Whether a comma-separated header value lists `token` (case-insensitive).
bool HasToken(std::string_view value, std::string_view token) {
  bool found = false;
  ForEachPiece(value, ',', [&](std::string_view part) { found |= EqualsNoCase(Trim(part), token); });
  return found;
}

bool IsTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

}  // namespace

// One request and its answer.
struct ServerExchange {
  HttpRequest req;
  const Route* route = nullptr;
  std::unique_ptr<BodyConsumer> consumer;
  bool consumer_done = false;
  bool head = false;
  int64_t received = 0;
  int status = 0;
  uint64_t response_bytes = 0;
  Clock::time_point start = Clock::now();
};

struct HttpServer::Connection {
  enum class State {
    kHeaders,  // reading the next request's head
    kBody,     // reading its body
    kHandling, // the handler runs on the handler pool; reading paused
    kWriting,  // an answer is being written; reading paused
    kLinger,   // answered and shut down for writing: reading until the client closes
  };
  int fd = -1;
  std::string remote;
  State state = State::kHeaders;
  std::string in;          // received, not yet consumed
  size_t scanned = 0;      // bytes of `in` already searched for the end of the head
  std::string out;         // to send
  size_t out_pos = 0;
  bool want_write = false; // EPOLLOUT armed
  Clock::time_point last_active = Clock::now();
  Clock::time_point linger_until{};
  // The request in progress.
  std::unique_ptr<ServerExchange> ex;
  bool http10 = false;
  bool keep_alive = true;
  bool expect_continue = false;
  bool peer_closed = false;    // the client shut down its side: finish writing, then close
  bool send_deferred = false;  // waiting in Worker::deferred
  bool close_after = false;  // close (after a lingering read when `linger`) once `out` is sent
  bool linger = false;
  // Body framing.
  bool chunked = false;
  int64_t body_left = 0;     // Content-Length left, or the current chunk's bytes left
  enum class Chunk { kSize, kData, kDataEnd, kTrailer } chunk = Chunk::kSize;
  // A streamed answer.
  BodyStreamer stream;
  uint64_t stream_pos = 0;
  int64_t stream_size = -1;
  bool stream_chunked = false;
};

struct HttpServer::Worker {
  HttpServer* server = nullptr;
  int epfd = -1;
  int wake_fd = -1;
  std::atomic<bool> stop{false};
  std::thread thread;
  std::unordered_map<int, std::unique_ptr<Connection>> conns;
  // Closed connections are freed after the event that closed them has been handled (callers up
  // the stack may still hold them; they check `fd < 0`).
  std::vector<std::unique_ptr<Connection>> closed;
  // Answers computed while handling one epoll batch are sent together at its end (or once
  // kMaxDeferredSends wait): the client side then wakes once for several answers instead of
  // once per answer. Measured: +20-35% served requests (docs/architecture.md).
  std::vector<Connection*> deferred;
  std::vector<Connection*> resume;     // answered, with a pipelined request waiting
  // Answers of handlers that ran on the handler pool, posted back to this worker (Wake()).
  std::mutex handled_mu;
  std::vector<std::pair<Connection*, HttpResponse>> handled;
  // Connections closed while their handler still runs: freed when its answer comes back.
  std::unordered_map<Connection*, std::unique_ptr<Connection>> orphans;
  Clock::time_point deferred_since{};  // when the oldest held-back answer was ready
  char listen_tag = 0;  // epoll data.ptr markers
  char wake_tag = 0;
  std::string read_buf = std::string(kReadChunk, '\0');
  std::string stream_buf;  // one BodyStreamer call; sized on the first streamed answer

  ~Worker() {
    if (epfd >= 0) close(epfd);
    if (wake_fd >= 0) close(wake_fd);
  }

  void Wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd, &one, sizeof one);
  }

  void Run();
  void Accept();
  void OnReadable(Connection* c);
  void OnWritable(Connection* c);
  void Process(Connection* c);
  bool ParseHead(Connection* c, size_t head_end);
  void StartExchange(Connection* c);
  bool FeedBody(Connection* c);
  void Dispatch(Connection* c);
  void Answer(Connection* c, HttpResponse&& resp);
  void RefuseMalformed(Connection* c, int status, const std::string& message);
  bool Flush(Connection* c);
  void FillStream(Connection* c);
  void Written(Connection* c);
  void Finish(Connection* c, bool ok);
  void SetWriteInterest(Connection* c, bool on);
  void Close(Connection* c, bool ok);
  void Tick();
  void SendDeferred();
  void SendAllDeferred();
  void SetEvents(Connection* c, uint32_t events);
  void TakeHandled();
  void ResumeIfPipelined(Connection* c);
};

namespace {

// Appends the status line and headers.
void AppendHead(std::string* out, const HttpResponse& resp, const std::string& request_id,
                int64_t content_length, bool chunked, bool close, bool http10_keep_alive) {
  absl::StrAppend(out, "HTTP/1.1 ", resp.status, " ", Reason(resp.status), "\r\nDate: ");
  std::string_view date = HttpDate();
  out->append(date.data(), date.size());
  out->append("\r\n");
  if (!resp.content_type.empty()) absl::StrAppend(out, "Content-Type: ", resp.content_type, "\r\n");
  if (!request_id.empty()) absl::StrAppend(out, "x-request-id: ", request_id, "\r\n");
  for (const auto& [k, v] : resp.headers) absl::StrAppend(out, k, ": ", v, "\r\n");
  bool bodiless = resp.status < 200 || resp.status == 204 || resp.status == 304;
  if (!bodiless) {
    if (chunked) {
      out->append("Transfer-Encoding: chunked\r\n");
    } else if (content_length >= 0) {
      absl::StrAppend(out, "Content-Length: ", content_length, "\r\n");
    }
  }
  if (close) {
    out->append("Connection: close\r\n");
  } else if (http10_keep_alive) {
    out->append("Connection: keep-alive\r\n");
  }
  out->append("\r\n");
}

}  // namespace

HttpServer::HttpServer(Options options, const Router* router, Middleware middleware,
                       ErrorResponder error_responder)
    : options_(std::move(options)),
      router_(router),
      middleware_(std::move(middleware)),
      error_responder_(std::move(error_responder)) {
  id_prefix_ = RandomToken(6);
}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start() {
  if (listen_fd_ >= 0) return absl::FailedPreconditionError("server already started");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options_.port));
  std::string host = options_.host == "localhost" ? "127.0.0.1" : options_.host;
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen on '", options_.host, "': not an IPv4 address"));
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 1024) != 0) {
    int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.host, ":",
                                               options_.port, ": ", std::strerror(err),
                                               " (is the port in use?)"));
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  listen_fd_ = fd;
  draining_.store(false);

  unsigned threads = options_.threads > 0 ? static_cast<unsigned>(options_.threads)
                                          : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < threads; ++i) {
    auto w = std::make_unique<Worker>();
    w->server = this;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    // Not EPOLLEXCLUSIVE: that wakes the first waiting worker, nearly always the same one, which
    // then owns most connections, so one slow handler holds up more of them. Every waiting
    // worker wakes and they race for each connection instead (a few threads: a small herd).
    ev.events = EPOLLIN;
    ev.data.ptr = &w->listen_tag;
    bool ok = w->epfd >= 0 && w->wake_fd >= 0 && epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
    ev.events = EPOLLIN;
    ev.data.ptr = &w->wake_tag;
    ok = ok && epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) == 0;
    if (!ok) {
      int err = errno;
      Stop();
      return absl::InternalError(absl::StrCat("epoll set-up: ", std::strerror(err)));
    }
    workers_.push_back(std::move(w));
  }
  {
    std::lock_guard<std::mutex> lock(handler_mu_);
    handler_stop_ = false;
  }
  for (unsigned i = 0; i < std::max(2u, threads); ++i) {
    handler_threads_.emplace_back([this] { HandlerLoop(); });
  }
  for (auto& w : workers_) w->thread = std::thread([wp = w.get()] { wp->Run(); });
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (listen_fd_ < 0) return;
  // No new connections; requests in flight are answered with Connection: close, idle
  // connections are closed at the workers' next tick.
  draining_.store(true);
  for (auto& w : workers_) {
    if (w->epfd >= 0) epoll_ctl(w->epfd, EPOLL_CTL_DEL, listen_fd_, nullptr);
    if (w->wake_fd >= 0) w->Wake();
  }
  close(listen_fd_);
  auto deadline = Clock::now() + std::chrono::milliseconds(options_.drain_timeout_ms);
  while (in_flight_.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (in_flight_.load() > 0) {
    log::Warn("shutdown: closing with requests still in flight",
              {{"in_flight", static_cast<long long>(in_flight_.load())}});
  }
  // Handlers still running finish (their answers are posted to workers that still exist).
  {
    std::lock_guard<std::mutex> lock(handler_mu_);
    handler_stop_ = true;
  }
  handler_cv_.notify_all();
  for (auto& t : handler_threads_) t.join();
  handler_threads_.clear();
  for (auto& w : workers_) {
    w->stop.store(true);
    if (w->wake_fd >= 0) w->Wake();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  workers_.clear();
  listen_fd_ = -1;
}

void HttpServer::RunOnHandlerPool(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(handler_mu_);
    handler_queue_.push_back(std::move(task));
  }
  handler_cv_.notify_one();
}

void HttpServer::HandlerLoop() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(handler_mu_);
      handler_cv_.wait(lock, [this] { return handler_stop_ || !handler_queue_.empty(); });
      if (handler_queue_.empty()) return;  // stopping, and nothing left to run
      task = std::move(handler_queue_.front());
      handler_queue_.pop_front();
    }
    task();
  }
}

int64_t HttpServer::BodyLimit(const Route& route) const {
  return route.max_body_bytes >= 0 ? route.max_body_bytes : options_.max_body_bytes;
}

HttpResponse HttpServer::RespondError(const HttpRequest& req, const absl::Status& s) const {
  if (error_responder_) return error_responder_(req, s);
  return HttpResponse::Error(s);
}

// ---- the event loop -------------------------------------------------------------------------

void HttpServer::Worker::Run() {
  epoll_event events[128];
  auto next_tick = Clock::now() + std::chrono::seconds(1);
  while (!stop.load(std::memory_order_relaxed)) {
    int timeout_ms = server->draining_.load(std::memory_order_relaxed) ? 20 : 1000;
    int n = epoll_wait(epfd, events, 128, timeout_ms);
    if (n < 0 && errno != EINTR) {
      log::Error("http: epoll_wait failed", {{"error", std::strerror(errno)}});
      break;
    }
    for (int i = 0; i < n; ++i) {
      void* p = events[i].data.ptr;
      if (p == &listen_tag) {
        Accept();
      } else if (p == &wake_tag) {
        uint64_t v;
        while (read(wake_fd, &v, sizeof v) > 0) {
        }
        TakeHandled();
      } else {
        auto* c = static_cast<Connection*>(p);
        uint32_t e = events[i].events;
        if (e & EPOLLOUT) OnWritable(c);
        if (c->fd >= 0 && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
          OnReadable(c);  // reads EOF and errors too
        }
      }
      if (deferred.size() >= kMaxDeferredSends) SendDeferred();
    }
    SendAllDeferred();
    closed.clear();
    auto now = Clock::now();
    if (now >= next_tick || server->draining_.load(std::memory_order_relaxed)) {
      Tick();
      next_tick = now + std::chrono::seconds(1);
    }
  }
  // Shutting down (the handler pool has stopped): answers still posted are sent, then whatever
  // is left goes.
  TakeHandled();
  SendAllDeferred();
  std::vector<Connection*> left;
  for (auto& [fd, c] : conns) left.push_back(c.get());
  for (Connection* c : left) Close(c, false);
  closed.clear();
}

void HttpServer::Worker::Accept() {
  for (int i = 0; i < kAcceptBatch; ++i) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    int fd = accept4(server->listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        log::Warn("http: accept failed", {{"error", std::strerror(errno)}});
      }
      return;
    }
    if (server->connections_.load() >= server->options_.max_connections ||
        server->draining_.load()) {
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    char buf[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &peer.sin_addr, buf, sizeof buf)) c->remote = buf;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = c.get();
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    server->connections_.fetch_add(1);
    conns.emplace(fd, std::move(c));
  }
}

void HttpServer::Worker::SetWriteInterest(Connection* c, bool on) {
  if (c->want_write == on || c->fd < 0) return;
  // While an answer is being written, reading pauses (pipelined requests wait in the socket).
  SetEvents(c, on ? (c->peer_closed ? EPOLLOUT : EPOLLOUT | EPOLLRDHUP) : EPOLLIN | EPOLLRDHUP);
}

void HttpServer::Worker::OnReadable(Connection* c) {
  ssize_t n = recv(c->fd, read_buf.data(), read_buf.size(), 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    Close(c, false);
    return;
  }
  if (n == 0) {
    if (c->state == Connection::State::kHandling && !c->peer_closed) {
      // The client shut down its side after sending: answer when the handler is done, then
      // close.
      c->peer_closed = true;
      c->close_after = true;
      c->linger = false;
      SetEvents(c, 0);
      return;
    }
    if (c->state == Connection::State::kWriting && !c->peer_closed) {
      // The client shut down its side after sending: finish the answer, then close.
      c->peer_closed = true;
      c->close_after = true;
      c->linger = false;
      SetEvents(c, EPOLLOUT);  // no EPOLLRDHUP: it has fired
      return;
    }
    // The client closed. A lingering or idle connection just ends; a request not yet answered
    // is aborted.
    Close(c, c->state == Connection::State::kLinger || (c->ex == nullptr && c->in.empty()));
    return;
  }
  c->last_active = Clock::now();
  if (c->state == Connection::State::kLinger) return;  // discarded
  c->in.append(read_buf.data(), static_cast<size_t>(n));
  Process(c);
}

void HttpServer::Worker::OnWritable(Connection* c) {
  c->last_active = Clock::now();
  if (!Flush(c)) return;
  Written(c);
  if (c->fd >= 0 && c->state == Connection::State::kHeaders) Process(c);  // pipelined requests
}

void HttpServer::Worker::Process(Connection* c) {
  // Requests are handled one after the other; a pipelined one waits until the answer before it
  // has been written.
  while (c->fd >= 0 &&
         (c->state == Connection::State::kHeaders || c->state == Connection::State::kBody)) {
    if (c->state == Connection::State::kHeaders) {
      // Empty lines before a request are ignored (RFC 9112 2.2).
      size_t skip = 0;
      while (skip + 1 < c->in.size() && c->in[skip] == '\r' && c->in[skip + 1] == '\n') skip += 2;
      if (skip > 0) c->in.erase(0, skip);
      if (c->in.empty()) return;
      size_t from = c->scanned >= 3 ? c->scanned - 3 : 0;
      size_t end = c->in.find("\r\n\r\n", from);
      if (end == std::string::npos) {
        c->scanned = c->in.size();
        if (static_cast<int64_t>(c->in.size()) > server->options_.max_header_bytes) {
          RefuseMalformed(c, 431, absl::StrCat("request line and headers exceed ",
                                               server->options_.max_header_bytes, " bytes"));
        }
        return;
      }
      if (static_cast<int64_t>(end) > server->options_.max_header_bytes) {
        RefuseMalformed(c, 431, absl::StrCat("request line and headers exceed ",
                                             server->options_.max_header_bytes, " bytes"));
        return;
      }
      c->scanned = 0;
      if (!ParseHead(c, end)) return;  // answered (400) and closing
      c->in.erase(0, end + 4);
      StartExchange(c);
      continue;
    }
    // kBody
    if (!FeedBody(c)) return;  // needs more bytes, or answered early
    Dispatch(c);
  }
}

bool HttpServer::Worker::ParseHead(Connection* c, size_t head_end) {
  std::string_view head(c->in.data(), head_end);
  size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  std::string_view rest = line_end == std::string_view::npos ? std::string_view()
                                                             : head.substr(line_end + 2);
  // Request line: METHOD SP TARGET SP HTTP/1.x
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    RefuseMalformed(c, 400, "malformed request line");
    return false;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  for (char ch : method) {
    if (!IsTokenChar(ch)) {
      RefuseMalformed(c, 400, "malformed request method");
      return false;
    }
  }
  if (version == "HTTP/1.1") {
    c->http10 = false;
  } else if (version == "HTTP/1.0") {
    c->http10 = true;
  } else {
    RefuseMalformed(c, version.rfind("HTTP/", 0) == 0 ? 505 : 400,
                    absl::StrCat("unsupported protocol version '", std::string(version.substr(0, 16)), "'"));
    return false;
  }
  if (target.empty()) {
    RefuseMalformed(c, 400, "empty request target");
    return false;
  }
  auto ex = std::make_unique<ServerExchange>();
  HttpRequest& req = ex->req;
  req.arrival = ex->start;
  req.method = std::string(method);
  req.remote_addr = c->remote;
  // Absolute form (http://host/path) is reduced to its path.
  if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) {
    size_t slash = target.find('/', target.find("//") + 2);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  size_t q = target.find('?');
  req.path = PercentDecode(target.substr(0, q), false);
  if (q != std::string_view::npos) {
    ForEachPiece(target.substr(q + 1), '&', [&](std::string_view pair) {
      if (pair.empty()) return;
      size_t eq = pair.find('=');
      std::string key = PercentDecode(pair.substr(0, eq), true);
      std::string value =
          eq == std::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1), true);
      req.query.emplace(std::move(key), std::move(value));
    });
  }
  // Headers.
  bool has_length = false, has_te = false, expect_continue = false;
  int64_t length = 0;
  c->keep_alive = !c->http10;
  while (!rest.empty()) {
    size_t e = rest.find("\r\n");
    std::string_view h = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
    if (h.empty()) continue;
    size_t colon = h.find(':');
    if (colon == 0 || colon == std::string_view::npos || h[0] == ' ' || h[0] == '\t') {
      RefuseMalformed(c, 400, "malformed header line");
      return false;
    }
    std::string name(h.substr(0, colon));
    for (char& ch : name) {
      if (!IsTokenChar(ch)) {
        RefuseMalformed(c, 400, "malformed header name");
        return false;
      }
      ch = absl::ascii_tolower(static_cast<unsigned char>(ch));
    }
    std::string_view value = Trim(h.substr(colon + 1));
    if (name == "content-length") {
      int64_t v = -1;
      if (!ParseLength(value, &v) || (has_length && v != length)) {
        RefuseMalformed(c, 400, "invalid Content-Length");
        return false;
      }
      has_length = true;
      length = v;
    } else if (name == "transfer-encoding") {
      if (!EqualsNoCase(value, "chunked")) {
        RefuseMalformed(c, 501, absl::StrCat("Transfer-Encoding '", std::string(value.substr(0, 32)),
                                             "' is not supported (only chunked)"));
        return false;
      }
      has_te = true;
    } else if (name == "connection") {
      if (HasToken(value, "close")) c->keep_alive = false;
      if (c->http10 && HasToken(value, "keep-alive")) c->keep_alive = true;
    } else if (name == "expect") {
      if (!EqualsNoCase(value, "100-continue")) {
        RefuseMalformed(c, 417, "only Expect: 100-continue is supported");
        return false;
      }
      expect_continue = true;
    }
    req.headers.emplace_back(std::move(name), std::string(value));
  }
  if (has_te && has_length) {
    RefuseMalformed(c, 400, "both Content-Length and Transfer-Encoding");
    return false;
  }
  c->chunked = has_te;
  c->chunk = Connection::Chunk::kSize;
  c->body_left = has_te ? 0 : length;
  ex->head = req.method == "HEAD";
  c->ex = std::move(ex);
  // Expect: 100-continue is answered once the request is accepted (StartExchange).
  c->expect_continue = expect_continue;
  return true;
}

void HttpServer::Worker::StartExchange(Connection* c) {
  server->in_flight_.fetch_add(1);
  ServerExchange& ex = *c->ex;
  HttpRequest& req = ex.req;
  const std::string* rid = req.Header("x-request-id");
  if (rid != nullptr && SaneRequestId(*rid)) {
    req.request_id = *rid;
  } else {
    req.request_id =
        absl::StrCat(server->id_prefix_, "-", server->request_counter_.fetch_add(1) + 1);
  }
  log::ScopedRequestId scoped(req.request_id);
  bool has_body = c->chunked || c->body_left > 0;
  std::optional<HttpResponse> early;
  Router::Match m = server->router_->Find(req.method, req.path);
  if (m.outcome == Router::Outcome::kNotFound) {
    early = server->RespondError(
        req, absl::NotFoundError(absl::StrCat("no route for ", req.method, " ", req.path)));
  } else if (m.outcome == Router::Outcome::kMethodNotAllowed) {
    HttpResponse r = server->RespondError(
        req, absl::InvalidArgumentError(
                 absl::StrCat("method ", req.method, " is not allowed on ", req.path)));
    r.status = 405;
    std::string allow;
    for (const auto& a : m.allowed_methods) allow += (allow.empty() ? "" : ", ") + a;
    r.headers.emplace_back("Allow", allow);
    early = std::move(r);
  } else {
    ex.route = m.route;
    req.path_params = std::move(m.params);
    if (server->middleware_) {
      if (auto r = server->middleware_(req, *ex.route)) early = std::move(*r);
    }
    if (!early) {
      if (ex.route->handler && !c->chunked && c->body_left > server->BodyLimit(*ex.route)) {
        early = server->RespondError(
            req, absl::ResourceExhaustedError(
                     absl::StrCat("request body of ", c->body_left, " bytes exceeds the limit of ",
                                  server->BodyLimit(*ex.route), " bytes")));
      } else if (ex.route->handler && c->body_left > 0) {
        req.body.reserve(static_cast<size_t>(c->body_left));
      } else if (ex.route->streaming) {
        auto consumer = ex.route->streaming(req);
        if (!consumer.ok()) {
          early = server->RespondError(req, consumer.status());
        } else {
          ex.consumer = std::move(*consumer);
        }
      }
    }
  }
  if (early) {
    // Answered before the body: a body still on its way is not read (the connection closes
    // after a lingering read).
    if (has_body) {
      c->close_after = true;
      c->linger = true;
    }
    Answer(c, std::move(*early));
    return;
  }
  if (c->expect_continue && has_body) {
    // Tiny and first on the connection's send buffer: sent at once (a client that misses it
    // sends the body after its own timeout anyway).
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    [[maybe_unused]] ssize_t n = send(c->fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL);
  }
  if (has_body) {
    c->state = Connection::State::kBody;
  } else {
    Dispatch(c);
  }
}

// Moves body bytes from `in` to the request or its consumer. True when the body is complete.
bool HttpServer::Worker::FeedBody(Connection* c) {
  ServerExchange& ex = *c->ex;
  auto deliver = [&](std::string_view piece) -> bool {
    if (piece.empty()) return true;
    ex.received += static_cast<int64_t>(piece.size());
    if (ex.consumer) {
      log::ScopedRequestId scoped(ex.req.request_id);
      absl::Status s = ex.consumer->OnData(piece);
      if (!s.ok()) {
        ex.consumer->OnAbort();
        ex.consumer_done = true;
        c->close_after = c->linger = true;
        Answer(c, server->RespondError(ex.req, s));
        return false;
      }
    } else if (ex.received > server->BodyLimit(*ex.route)) {
      c->close_after = c->linger = true;
      HttpResponse r = server->RespondError(
          ex.req, absl::ResourceExhaustedError(absl::StrCat(
                      "request body exceeds the limit of ", server->BodyLimit(*ex.route),
                      " bytes")));
      std::string().swap(ex.req.body);
      Answer(c, std::move(r));
      return false;
    } else {
      ex.req.body.append(piece);
    }
    return true;
  };
  if (!c->chunked) {
    size_t take = static_cast<size_t>(std::min<int64_t>(c->body_left,
                                                        static_cast<int64_t>(c->in.size())));
    bool ok = deliver(std::string_view(c->in.data(), take));
    c->in.erase(0, take);
    if (!ok) return false;
    c->body_left -= static_cast<int64_t>(take);
    return c->body_left == 0;
  }
  // Chunked: size line, data, CRLF, ... a zero size, trailers, an empty line.
  size_t pos = 0;
  bool done = false, ok = true;
  while (ok && !done) {
    if (c->chunk == Connection::Chunk::kData) {
      size_t take = static_cast<size_t>(
          std::min<int64_t>(c->body_left, static_cast<int64_t>(c->in.size() - pos)));
      if (take == 0) break;
      ok = deliver(std::string_view(c->in.data() + pos, take));
      pos += take;
      c->body_left -= static_cast<int64_t>(take);
      if (c->body_left == 0) c->chunk = Connection::Chunk::kDataEnd;
      continue;
    }
    size_t eol = c->in.find("\r\n", pos);
    if (eol == std::string::npos) {
      if (c->in.size() - pos > 4096) {
        c->in.erase(0, pos);
        RefuseMalformed(c, 400, "malformed chunked body");
        return false;
      }
      break;
    }
    std::string_view line(c->in.data() + pos, eol - pos);
    pos = eol + 2;
    if (c->chunk == Connection::Chunk::kDataEnd) {
      if (!line.empty()) {
        RefuseMalformed(c, 400, "malformed chunked body (no CRLF after a chunk)");
        return false;
      }
      c->chunk = Connection::Chunk::kSize;
    } else if (c->chunk == Connection::Chunk::kSize) {
      std::string_view hex = line.substr(0, line.find(';'));
      hex = Trim(hex);
      uint64_t size = 0;
      if (hex.empty() || hex.size() > 15) {
        RefuseMalformed(c, 400, "malformed chunk size");
        return false;
      }
      for (char ch : hex) {
        int d = HexDigit(ch);
        if (d < 0) {
          RefuseMalformed(c, 400, "malformed chunk size");
          return false;
        }
        size = size * 16 + static_cast<uint64_t>(d);
      }
      c->body_left = static_cast<int64_t>(size);
      c->chunk = size == 0 ? Connection::Chunk::kTrailer : Connection::Chunk::kData;
    } else {  // kTrailer: ignored until the empty line
      if (line.empty()) done = true;
    }
  }
  if (c->state != Connection::State::kBody && c->state != Connection::State::kHeaders) {
    return false;  // answered early above; `in` no longer matters
  }
  c->in.erase(0, pos);
  return ok && done;
}

void HttpServer::Worker::Dispatch(Connection* c) {
  ServerExchange& ex = *c->ex;
  if (!deferred.empty() && (ex.consumer || Clock::now() - deferred_since > kMaxDeferral)) {
    SendDeferred();  // nothing ready waits behind a body consumer, which may be slow
  }
  if (!ex.consumer && !ex.route->batch_answers) {
    // Any other handler may take long (an explanation, a deploy): it runs on the handler pool,
    // so this worker's other connections are not held up; the answer comes back through Wake().
    c->state = Connection::State::kHandling;
    SetEvents(c, c->peer_closed ? 0u : static_cast<uint32_t>(EPOLLRDHUP));
    server->RunOnHandlerPool([this, c] {
      ServerExchange& e = *c->ex;
      HttpResponse r;
      {
        log::ScopedRequestId scoped(e.req.request_id);
        r = e.route->handler(e.req);
      }
      {
        std::lock_guard<std::mutex> lock(handled_mu);
        handled.emplace_back(c, std::move(r));
      }
      Wake();
    });
    return;
  }
  log::ScopedRequestId scoped(ex.req.request_id);
  HttpResponse resp;
  if (ex.consumer) {
    ex.consumer_done = true;
    resp = ex.consumer->OnComplete();
  } else {
    resp = ex.route->handler(ex.req);
  }
  Answer(c, std::move(resp));
}

void HttpServer::Worker::SetEvents(Connection* c, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = c;
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
  c->want_write = (events & EPOLLOUT) != 0;
}

// An answered connection with a pipelined request waiting goes on `resume`, handled by the
// event loop, so answering never re-enters request handling.
void HttpServer::Worker::ResumeIfPipelined(Connection* c) {
  if (c->fd >= 0 && c->state == Connection::State::kHeaders && !c->in.empty()) {
    resume.push_back(c);
  }
}

// Answers what the handler pool finished.
void HttpServer::Worker::TakeHandled() {
  std::vector<std::pair<Connection*, HttpResponse>> batch;
  {
    std::lock_guard<std::mutex> lock(handled_mu);
    batch.swap(handled);
  }
  for (auto& [c, resp] : batch) {
    auto orphan = orphans.find(c);
    if (orphan != orphans.end()) {  // the client went away meanwhile
      Finish(c, false);
      orphans.erase(orphan);
      continue;
    }
    if (!c->peer_closed) SetEvents(c, EPOLLIN | EPOLLRDHUP);
    Answer(c, std::move(resp));
    ResumeIfPipelined(c);
  }
}

void HttpServer::Worker::Answer(Connection* c, HttpResponse&& resp) {
  ServerExchange* ex = c->ex.get();
  if (server->draining_.load(std::memory_order_relaxed) || !c->keep_alive) c->close_after = true;
  bool http10_ka = c->http10 && !c->close_after;
  static const std::string kNoRequestId;  // a request too malformed to have one
  const std::string& rid = ex != nullptr ? ex->req.request_id : kNoRequestId;
  bool head = ex != nullptr && ex->head;
  if (ex != nullptr) ex->status = resp.status;
  if (resp.stream) {
    bool chunked = resp.stream_size < 0 && !c->http10;
    if (resp.stream_size < 0 && c->http10) c->close_after = true;  // close-delimited
    AppendHead(&c->out, resp, rid, resp.stream_size, chunked, c->close_after, http10_ka);
    if (ex != nullptr) {
      ex->response_bytes = resp.stream_size >= 0 ? static_cast<uint64_t>(resp.stream_size) : 0;
    }
    if (!head) {
      c->stream = std::move(resp.stream);
      c->stream_pos = 0;
      c->stream_size = resp.stream_size;
      c->stream_chunked = chunked;
    }
  } else {
    AppendHead(&c->out, resp, rid, static_cast<int64_t>(resp.body.size()), false, c->close_after,
               http10_ka);
    bool bodiless = resp.status < 200 || resp.status == 204 || resp.status == 304;
    if (!head && !bodiless) c->out.append(resp.body);
    if (ex != nullptr) ex->response_bytes = resp.body.size();
  }
  c->state = Connection::State::kWriting;
  if (c->stream) FillStream(c);
  if (ex != nullptr && ex->route != nullptr && ex->route->batch_answers && !c->send_deferred) {
    if (deferred.empty()) deferred_since = Clock::now();
    c->send_deferred = true;
    deferred.push_back(c);
    return;
  }
  if (!Flush(c)) return;  // the rest when the socket is writable (or the connection is gone)
  Written(c);
}

// Sends the answers held back.
void HttpServer::Worker::SendDeferred() {
  if (deferred.empty()) return;
  std::vector<Connection*> batch;
  batch.swap(deferred);
  for (Connection* c : batch) {
    c->send_deferred = false;
    if (c->fd < 0 || !Flush(c)) continue;
    Written(c);
    ResumeIfPipelined(c);
  }
  batch.clear();
  if (deferred.empty()) deferred.swap(batch);  // keep the capacity
}

void HttpServer::Worker::SendAllDeferred() {
  SendDeferred();
  while (!resume.empty()) {
    std::vector<Connection*> again;
    again.swap(resume);
    for (Connection* c : again) {
      if (c->fd >= 0 && c->state == Connection::State::kHeaders) Process(c);
    }
    SendDeferred();
  }
}

void HttpServer::Worker::RefuseMalformed(Connection* c, int status, const std::string& message) {
  HttpRequest blank;
  HttpResponse r = server->RespondError(blank, absl::InvalidArgumentError(message));
  r.status = status;
  c->keep_alive = false;
  c->close_after = true;
  c->linger = true;
  c->in.clear();
  Answer(c, std::move(r));
}

void HttpServer::Worker::FillStream(Connection* c) {
  // Keeps one piece of the stream ready behind what is being sent.
  if (!c->stream || c->out.size() - c->out_pos >= kStreamChunk) return;
  size_t want = kStreamChunk;
  if (c->stream_size >= 0) {
    uint64_t left = static_cast<uint64_t>(c->stream_size) - c->stream_pos;
    want = static_cast<size_t>(std::min<uint64_t>(want, left));
  }
  bool end = want == 0;
  if (!end) {
    if (stream_buf.size() < kStreamChunk) stream_buf.resize(kStreamChunk);
    ssize_t n = c->stream(c->stream_pos, stream_buf.data(), want);
    if (n > 0) {
      c->stream_pos += static_cast<uint64_t>(n);
      if (c->stream_chunked) absl::StrAppend(&c->out, absl::Hex(n), "\r\n");
      c->out.append(stream_buf.data(), static_cast<size_t>(n));
      if (c->stream_chunked) c->out.append("\r\n");
      return;
    }
    end = n == -1;
  }
  if (end && (c->stream_size < 0 || c->stream_pos == static_cast<uint64_t>(c->stream_size))) {
    if (c->stream_chunked) c->out.append("0\r\n\r\n");
    c->stream = nullptr;
    return;
  }
  // The streamer failed (or ended short of the announced size): the answer cannot be completed.
  log::Warn("http: response stream failed", {{"request_id", c->ex ? c->ex->req.request_id : ""}});
  c->stream = nullptr;
  c->close_after = true;
  c->linger = false;
  if (c->ex) c->ex->status = -1;
}

// Sends what is queued; true when everything (including a stream) has been handed to the kernel.
bool HttpServer::Worker::Flush(Connection* c) {
  while (true) {
    while (c->out_pos < c->out.size()) {
      ssize_t n = send(c->fd, c->out.data() + c->out_pos, c->out.size() - c->out_pos,
                       MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          SetWriteInterest(c, true);
          return false;
        }
        Close(c, false);
        return false;
      }
      c->out_pos += static_cast<size_t>(n);
    }
    c->out.clear();
    c->out_pos = 0;
    if (!c->stream) return true;
    FillStream(c);
  }
}

void HttpServer::Worker::Written(Connection* c) {
  SetWriteInterest(c, false);
  if (c->ex && c->state == Connection::State::kWriting) Finish(c, c->ex->status >= 0);
  if (c->close_after) {
    if (c->linger) {
      shutdown(c->fd, SHUT_WR);
      c->state = Connection::State::kLinger;
      c->in.clear();
      c->linger_until = Clock::now() + kLinger;
    } else {
      Close(c, true);
    }
    return;
  }
  if (c->state == Connection::State::kWriting) c->state = Connection::State::kHeaders;
}

// The exchange is over: access log, then it is released.
void HttpServer::Worker::Finish(Connection* c, bool ok) {
  std::unique_ptr<ServerExchange> ex = std::move(c->ex);
  if (!ex) return;
  log::ScopedRequestId scoped(ex->req.request_id);
  if (ex->consumer && !ex->consumer_done) ex->consumer->OnAbort();
  if (ex->route == nullptr || ex->route->access_log || !ok) {
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - ex->start).count();
    log::Info(ok ? "request" : "request aborted",
              {{"method", ex->req.method},
               {"path", ex->req.path},
               {"status", ex->status},
               {"duration_ms", ms},
               {"bytes_in", static_cast<long long>(ex->received)},
               {"bytes_out", static_cast<long long>(ex->response_bytes)},
               {"remote", ex->req.remote_addr},
               {"principal", ex->req.principal}});
  }
  ex.reset();
  server->in_flight_.fetch_sub(1);
}

void HttpServer::Worker::Close(Connection* c, bool ok) {
  if (c->fd < 0) return;
  bool handling = c->state == Connection::State::kHandling;
  if (c->ex && !handling) Finish(c, ok && c->state == Connection::State::kWriting);
  int fd = c->fd;
  // Leave the epoll set explicitly: close() alone does not while a forked child (the process
  // starting a helper) still holds the socket, and events would then name a freed connection.
  epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  c->fd = -1;
  server->connections_.fetch_sub(1);
  auto it = conns.find(fd);
  if (handling) {
    orphans.emplace(c, std::move(it->second));  // its handler still reads the request
  } else {
    closed.push_back(std::move(it->second));
  }
  conns.erase(it);
}

void HttpServer::Worker::Tick() {
  auto now = Clock::now();
  bool draining = server->draining_.load(std::memory_order_relaxed);
  auto idle_limit = std::chrono::seconds(server->options_.connection_timeout_s);
  std::vector<Connection*> expired;
  for (auto& [fd, c] : conns) {
    if (c->state == Connection::State::kHandling) continue;  // the handler decides how long
    bool idle = c->ex == nullptr && c->in.empty() && c->state == Connection::State::kHeaders;
    if (c->state == Connection::State::kLinger) {
      if (now >= c->linger_until) expired.push_back(c.get());
    } else if ((draining && idle) || now - c->last_active > idle_limit) {
      expired.push_back(c.get());
    }
  }
  for (Connection* c : expired) Close(c, c->state == Connection::State::kLinger || c->ex == nullptr);
}

}  // namespace hotswap::http
