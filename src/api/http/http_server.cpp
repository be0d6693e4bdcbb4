#include "api/http/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/sha256.h"

namespace hotswap::http {

struct HttpServer::RequestState {
  HttpRequest req;
  const Route* route = nullptr;
  std::unique_ptr<BodyConsumer> consumer;
  std::optional<HttpResponse> early;  // answer once the body is drained
  int64_t received = 0;
  bool answered = false;
  bool consumer_done = false;
  int status = 0;
  uint64_t response_bytes = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

namespace {

MHD_Result CollectHeader(void* cls, enum MHD_ValueKind, const char* key, const char* value) {
  auto* req = static_cast<HttpRequest*>(cls);
  std::string k = key ? key : "";
  absl::AsciiStrToLower(&k);
  req->headers.emplace_back(std::move(k), value ? value : "");
  return MHD_YES;
}

MHD_Result CollectQuery(void* cls, enum MHD_ValueKind, const char* key, const char* value) {
  auto* req = static_cast<HttpRequest*>(cls);
  if (key) req->query.emplace(key, value ? value : "");
  return MHD_YES;
}

MHD_Result AccessCallback(void* cls, MHD_Connection* connection, const char* url,
                          const char* method, const char*, const char* upload_data,
                          size_t* upload_data_size, void** con_cls) {
  return static_cast<HttpServer*>(cls)->HandleAccess(connection, url, method, upload_data,
                                                     upload_data_size, con_cls) == 1
             ? MHD_YES
             : MHD_NO;
}

void CompletedCallback(void* cls, MHD_Connection* connection, void** con_cls,
                       enum MHD_RequestTerminationCode toe) {
  static_cast<HttpServer*>(cls)->HandleCompleted(connection, con_cls, static_cast<int>(toe));
}

void MhdLogger(void*, const char* fmt, va_list ap) {
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  std::string msg(buf);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  log::Debug("http library", {{"detail", msg}});
}

bool SaneRequestId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

struct StreamHolder {
  BodyStreamer fn;
};

ssize_t StreamReader(void* cls, uint64_t pos, char* buf, size_t max) {
  auto* h = static_cast<StreamHolder*>(cls);
  ssize_t n = h->fn(pos, buf, max);
  if (n == -1) return MHD_CONTENT_READER_END_OF_STREAM;
  if (n < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
  return n;
}

void StreamFree(void* cls) { delete static_cast<StreamHolder*>(cls); }

void StringFree(void* cls) { delete static_cast<std::string*>(cls); }

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
  if (daemon_ != nullptr) return absl::FailedPreconditionError("server already started");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options_.port));
  std::string host = options_.host == "localhost" ? "127.0.0.1" : options_.host;
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen on '", options_.host, "': not an IPv4 address"));
  }
  unsigned threads = options_.threads > 0 ? static_cast<unsigned>(options_.threads)
                                          : std::max(1u, std::thread::hardware_concurrency());
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                   MHD_USE_ERROR_LOG;
  daemon_ = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &AccessCallback, this,
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&addr),
      MHD_OPTION_THREAD_POOL_SIZE, threads,
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(options_.connection_timeout_s),
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(options_.max_connections),
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(16 * 1024),
      MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
      MHD_OPTION_NOTIFY_COMPLETED, &CompletedCallback, this,
      MHD_OPTION_EXTERNAL_LOGGER, &MhdLogger, nullptr,
      MHD_OPTION_END);
  if (daemon_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.host, ":",
                                               options_.port, ": ", std::strerror(errno),
                                               " (is the port in use?)"));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info ? info->port : options_.port;
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (daemon_ == nullptr) return;
  MHD_quiesce_daemon(daemon_);
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.drain_timeout_ms);
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (in_flight_.load() > 0) {
    log::Warn("shutdown: closing with requests still in flight",
              {{"in_flight", static_cast<long long>(in_flight_.load())}});
  }
  MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
}

int64_t HttpServer::BodyLimit(const Route& route) const {
  return route.max_body_bytes >= 0 ? route.max_body_bytes : options_.max_body_bytes;
}

HttpResponse HttpServer::RespondError(const HttpRequest& req, const absl::Status& s) const {
  if (error_responder_) return error_responder_(req, s);
  return HttpResponse::Error(s);
}

int HttpServer::QueueResponse(void* connection, RequestState* st, HttpResponse&& resp) {
  auto* conn = static_cast<MHD_Connection*>(connection);
  MHD_Response* r = nullptr;
  if (resp.stream) {
    auto* holder = new StreamHolder{std::move(resp.stream)};
    uint64_t size = resp.stream_size >= 0 ? static_cast<uint64_t>(resp.stream_size) : MHD_SIZE_UNKNOWN;
    r = MHD_create_response_from_callback(size, 256 * 1024, &StreamReader, holder, &StreamFree);
    if (r == nullptr) delete holder;
    st->response_bytes = resp.stream_size >= 0 ? static_cast<uint64_t>(resp.stream_size) : 0;
  } else {
    auto* body = new std::string(std::move(resp.body));
    st->response_bytes = body->size();
    r = MHD_create_response_from_buffer_with_free_callback_cls(body->size(), body->data(),
                                                               &StringFree, body);
    if (r == nullptr) delete body;
  }
  if (r == nullptr) return 0;
  if (!resp.content_type.empty()) {
    MHD_add_response_header(r, "Content-Type", resp.content_type.c_str());
  }
  MHD_add_response_header(r, "x-request-id", st->req.request_id.c_str());
  for (const auto& [k, v] : resp.headers) MHD_add_response_header(r, k.c_str(), v.c_str());
  st->status = resp.status;
  st->answered = true;
  MHD_Result ret = MHD_queue_response(conn, static_cast<unsigned>(resp.status), r);
  MHD_destroy_response(r);
  return ret == MHD_YES ? 1 : 0;
}

int HttpServer::HandleAccess(void* connection, const char* url, const char* method,
                             const char* upload_data, size_t* upload_data_size, void** con_cls) {
  auto* conn = static_cast<MHD_Connection*>(connection);
  auto* st = static_cast<RequestState*>(*con_cls);
  if (st == nullptr) {
    // First call: headers are complete, no body yet.
    st = new RequestState();
    *con_cls = st;
    in_flight_.fetch_add(1);
    HttpRequest& req = st->req;
    req.arrival = st->start;
    req.method = method ? method : "";
    req.path = url ? url : "/";
    MHD_get_connection_values(conn, MHD_HEADER_KIND, &CollectHeader, &req);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, &CollectQuery, &req);
    const std::string* rid = req.Header("x-request-id");
    if (rid != nullptr && SaneRequestId(*rid)) {
      req.request_id = *rid;
    } else {
      req.request_id = absl::StrCat(id_prefix_, "-", request_counter_.fetch_add(1) + 1);
    }
    const MHD_ConnectionInfo* ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci != nullptr && ci->client_addr != nullptr && ci->client_addr->sa_family == AF_INET) {
      char buf[INET_ADDRSTRLEN];
      const auto* sin = reinterpret_cast<const sockaddr_in*>(ci->client_addr);
      if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf)) req.remote_addr = buf;
    }
    log::ScopedRequestId scoped(req.request_id);

    Router::Match m = router_->Find(req.method, req.path);
    if (m.outcome == Router::Outcome::kNotFound) {
      st->early = RespondError(req, absl::NotFoundError(absl::StrCat("no route for ", req.method,
                                                                      " ", req.path)));
    } else if (m.outcome == Router::Outcome::kMethodNotAllowed) {
      HttpResponse r = RespondError(
          req, absl::InvalidArgumentError(absl::StrCat("method ", req.method,
                                                       " is not allowed on ", req.path)));
      r.status = 405;
      std::string allow;
      for (const auto& a : m.allowed_methods) allow += (allow.empty() ? "" : ", ") + a;
      r.headers.emplace_back("Allow", allow);
      st->early = std::move(r);
    } else {
      st->route = m.route;
      req.path_params = std::move(m.params);
      if (middleware_) {
        if (auto r = middleware_(req, *st->route)) st->early = std::move(*r);
      }
      if (!st->early) {
        const std::string* cl = req.Header("content-length");
        int64_t length = -1;
        if (cl != nullptr && !absl::SimpleAtoi(*cl, &length)) length = -1;
        if (st->route->handler && length > BodyLimit(*st->route)) {
          st->early = RespondError(
              req, absl::ResourceExhaustedError(absl::StrCat(
                       "request body of ", length, " bytes exceeds the limit of ",
                       BodyLimit(*st->route), " bytes")));
        } else if (st->route->handler && length > 0) {
          req.body.reserve(static_cast<size_t>(length));
        } else if (st->route->streaming) {
          auto consumer = st->route->streaming(req);
          if (!consumer.ok()) {
            st->early = RespondError(req, consumer.status());
          } else {
            st->consumer = std::move(*consumer);
          }
        }
      }
    }
    if (st->early) {
      // Answer now; MHD closes the connection instead of reading a body nobody wants.
      HttpResponse r = std::move(*st->early);
      st->early.reset();
      return QueueResponse(connection, st, std::move(r));
    }
    return 1;
  }

  log::ScopedRequestId scoped(st->req.request_id);
  if (*upload_data_size > 0) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (st->answered || st->early) return 1;  // discarding
    st->received += static_cast<int64_t>(n);
    if (st->consumer) {
      absl::Status s = st->consumer->OnData(std::string_view(upload_data, n));
      if (!s.ok()) {
        st->consumer->OnAbort();
        st->consumer_done = true;
        st->early = RespondError(st->req, s);
      }
    } else if (st->received > BodyLimit(*st->route)) {
      st->early = RespondError(
          st->req, absl::ResourceExhaustedError(absl::StrCat(
                       "request body exceeds the limit of ", BodyLimit(*st->route), " bytes")));
      std::string().swap(st->req.body);
    } else {
      st->req.body.append(upload_data, n);
    }
    return 1;
  }

  if (st->answered) return 1;
  // The body is complete.
  if (st->early) {
    HttpResponse r = std::move(*st->early);
    st->early.reset();
    return QueueResponse(connection, st, std::move(r));
  }
  HttpResponse resp;
  if (st->consumer) {
    st->consumer_done = true;
    resp = st->consumer->OnComplete();
  } else {
    resp = st->route->handler(st->req);
  }
  return QueueResponse(connection, st, std::move(resp));
}

void HttpServer::HandleCompleted(void*, void** con_cls, int toe) {
  auto* st = static_cast<RequestState*>(*con_cls);
  if (st == nullptr) return;
  *con_cls = nullptr;
  log::ScopedRequestId scoped(st->req.request_id);
  if (st->consumer && !st->consumer_done) st->consumer->OnAbort();
  bool ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
  if (st->route == nullptr || st->route->access_log || !ok) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                          st->start)
                    .count();
    log::Info(ok ? "request" : "request aborted",
              {{"method", st->req.method},
               {"path", st->req.path},
               {"status", st->status},
               {"duration_ms", ms},
               {"bytes_in", static_cast<long long>(st->received)},
               {"bytes_out", static_cast<long long>(st->response_bytes)},
               {"remote", st->req.remote_addr},
               {"principal", st->req.principal}});
  }
  delete st;
  in_flight_.fetch_sub(1);
}

}  // namespace hotswap::http
