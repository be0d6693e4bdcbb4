#include "api/http/http_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"

namespace hotswap::http {
namespace {

struct Result {
  long status = 0;
  std::string body;
};

size_t Append(char* p, size_t s, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, s * n);
  return s * n;
}

Result Fetch(const std::string& method, const std::string& url, const std::string& body = "",
             std::vector<std::string> headers = {}) {
  Result r;
  CURL* c = curl_easy_init();
  curl_slist* h = nullptr;
  for (auto& line : headers) h = curl_slist_append(h, line.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  if (!body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return r;
}

// A raw TCP client: what the server sends back for exactly the bytes given, read until the
// server closes or `idle_ms` pass without data.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{0, 200 * 1000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawClient() { close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& bytes) {
    ASSERT_EQ(send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  // Reads until the peer closes (closed() then true) or nothing arrives for ~idle_ms.
  std::string Read(int idle_ms = 400) {
    std::string got;
    char buf[65536];
    int idle = 0;
    while (idle < idle_ms) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        got.append(buf, static_cast<size_t>(n));
        idle = 0;
      } else if (n == 0) {
        closed_ = true;
        break;
      } else {
        idle += 200;
      }
    }
    return got;
  }
  bool closed() const { return closed_; }
  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
};

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

class CountingConsumer : public BodyConsumer {
 public:
  explicit CountingConsumer(std::atomic<int64_t>* total) : total_(total) {}
  absl::Status OnData(std::string_view chunk) override {
    bytes_ += static_cast<int64_t>(chunk.size());
    if (bytes_ > 100000) return absl::ResourceExhaustedError("too much");
    return absl::OkStatus();
  }
  HttpResponse OnComplete() override {
    total_->store(bytes_);
    return HttpResponse::Json(200, {{"bytes", bytes_}});
  }
  void OnAbort() override {}

 private:
  std::atomic<int64_t>* total_;
  int64_t bytes_ = 0;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add("GET", "/hello/{who}", "none", [](HttpRequest& req) {
      return HttpResponse::Json(200, {{"hello", req.Param("who")}, {"q", req.QueryOr("q", "")}});
    });
    router_.Add("POST", "/echo", "none", [](HttpRequest& req) {
      HttpResponse r;
      r.content_type = "text/plain";
      r.body = req.body;
      return r;
    });
    router_.Add("HEAD", "/h", "none", [](HttpRequest&) {
      HttpResponse r;
      r.content_type = "text/plain";
      r.body = "twelve bytes";
      return r;
    });
    router_.Add("GET", "/secret", "admin", [](HttpRequest&) { return HttpResponse::Json(200, {}); });
    router_.Add("GET", "/slow", "none", [this](HttpRequest&) {
      slow_started_ = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      slow_done_ = true;
      return HttpResponse::Json(200, {{"slow", true}});
    });
    router_.Add("GET", "/stream", "none", [](HttpRequest&) {
      HttpResponse r;
      r.content_type = "application/octet-stream";
      r.stream_size = 100000;
      r.stream = [](uint64_t pos, char* buf, size_t max) -> ssize_t {
        if (pos >= 100000) return -1;
        size_t n = std::min<size_t>(max, 100000 - pos);
        for (size_t i = 0; i < n; ++i) buf[i] = static_cast<char>('a' + (pos + i) % 26);
        return static_cast<ssize_t>(n);
      };
      return r;
    });
    router_.Add("GET", "/stream-chunked", "none", [](HttpRequest&) {
      HttpResponse r;  // size unknown: chunked transfer coding
      r.content_type = "application/octet-stream";
      r.stream = [](uint64_t pos, char* buf, size_t max) -> ssize_t {
        if (pos >= 300000) return -1;
        size_t n = std::min<size_t>({max, 300000 - pos, 70000});
        for (size_t i = 0; i < n; ++i) buf[i] = static_cast<char>('a' + (pos + i) % 26);
        return static_cast<ssize_t>(n);
      };
      return r;
    });
    router_.AddStreaming("PUT", "/upload", "none", [this](HttpRequest&) {
      return absl::StatusOr<std::unique_ptr<BodyConsumer>>(
          std::make_unique<CountingConsumer>(&uploaded_));
    });
    HttpServer::Options o;
    o.port = 0;
    o.threads = 2;
    o.max_body_bytes = 1000;
    server_ = std::make_unique<HttpServer>(
        o, &router_,
        [](HttpRequest& req, const Route& route) -> std::optional<HttpResponse> {
          if (route.permission == "admin" && req.Header("x-admin") == nullptr) {
            return HttpResponse::Error(absl::PermissionDeniedError("admins only"));
          }
          return std::nullopt;
        },
        nullptr);
    ASSERT_TRUE(server_->Start().ok());
  }
  std::string Url(const std::string& p) { return absl::StrCat("http://127.0.0.1:", server_->port(), p); }

  Router router_;
  std::unique_ptr<HttpServer> server_;
  std::atomic<int64_t> uploaded_{0};
  std::atomic<bool> slow_started_{false};
  std::atomic<bool> slow_done_{false};
};

TEST_F(HttpServerTest, RoutesPathParamsAndDecodedQuery) {
  Result r = Fetch("GET", Url("/hello/world?q=a%20b"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"hello":"world","q":"a b"})");
}

TEST_F(HttpServerTest, EchoesBufferedBody) {
  Result r = Fetch("POST", Url("/echo"), "payload");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "payload");
}

TEST_F(HttpServerTest, BufferedBodyOverLimitIs413) {
  Result r = Fetch("POST", Url("/echo"), std::string(5000, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("resource_exhausted"), std::string::npos);
}

TEST_F(HttpServerTest, MiddlewareCanAnswerFirst) {
  EXPECT_EQ(Fetch("GET", Url("/secret")).status, 403);
  EXPECT_EQ(Fetch("GET", Url("/secret"), "", {"X-Admin: 1"}).status, 200);
}

TEST_F(HttpServerTest, UnknownPathIs404AndWrongMethodIs405) {
  EXPECT_EQ(Fetch("GET", Url("/nope")).status, 404);
  EXPECT_EQ(Fetch("DELETE", Url("/echo")).status, 405);
}

TEST_F(HttpServerTest, StreamingUploadSeesEveryByte) {
  Result r = Fetch("PUT", Url("/upload"), std::string(50000, 'u'));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(uploaded_.load(), 50000);
}

TEST_F(HttpServerTest, StreamingUploadErrorBecomesTheResponse) {
  Result r = Fetch("PUT", Url("/upload"), std::string(200000, 'u'));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(uploaded_.load(), 0);
}

TEST_F(HttpServerTest, StreamsResponseBodies) {
  Result r = Fetch("GET", Url("/stream"));
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body.size(), 100000u);
  EXPECT_EQ(r.body[26], 'a');
  EXPECT_EQ(r.body[99999], static_cast<char>('a' + 99999 % 26));
}

TEST_F(HttpServerTest, StreamsBodiesOfUnknownSizeChunked) {
  Result r = Fetch("GET", Url("/stream-chunked"));
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body.size(), 300000u);
  EXPECT_EQ(r.body[69999], static_cast<char>('a' + 69999 % 26));
  EXPECT_EQ(r.body[299999], static_cast<char>('a' + 299999 % 26));
  RawClient c(server_->port());
  c.Send("GET /stream-chunked HTTP/1.1\r\n\r\n");
  std::string raw = c.Read();
  EXPECT_NE(raw.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_NE(raw.find("\r\n\r\n11170\r\n"), std::string::npos) << "70000 = 0x11170";
  EXPECT_EQ(raw.substr(raw.size() - 5), "0\r\n\r\n");
}

TEST_F(HttpServerTest, StopWaitsForRequestsInFlight) {
  Result slow;
  std::thread t([&] { slow = Fetch("GET", Url("/slow")); });
  while (!slow_started_) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  server_->Stop();
  t.join();
  EXPECT_EQ(slow.status, 200);
  EXPECT_EQ(server_->requests_in_flight(), 0);
}

TEST_F(HttpServerTest, ANewConnectionIsServedWhileAnotherWorkerIsBusy) {
  // Two workers; one sleeps in a handler. A new connection must be taken by the idle one, not
  // wait for the busy one (which EPOLLEXCLUSIVE on the listening socket could do). Repeated:
  // which worker the kernel picks varies.
  for (int i = 0; i < 8; ++i) {
    slow_started_ = false;
    slow_done_ = false;
    std::thread t([&] { Fetch("GET", Url("/slow")); });
    while (!slow_started_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    Result quick = Fetch("GET", Url("/hello/q"));
    EXPECT_EQ(quick.status, 200);
    EXPECT_FALSE(slow_done_.load()) << "round " << i << ": the new connection waited for the busy worker";
    t.join();
  }
}

TEST_F(HttpServerTest, StartFailsClearlyWhenPortIsTaken) {
  HttpServer::Options o;
  o.port = server_->port();
  HttpServer second(o, &router_, nullptr, nullptr);
  absl::Status s = second.Start();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("cannot listen"), std::string::npos);
}

TEST_F(HttpServerTest, KeepAliveAnswersPipelinedRequestsInOrder) {
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Send("GET /hello/a HTTP/1.1\r\nHost: x\r\n\r\n"
         "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
         "GET /hello/b HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got = c.Read();
  EXPECT_FALSE(c.closed()) << "HTTP/1.1 keeps the connection open";
  EXPECT_EQ(Count(got, "HTTP/1.1 200 OK\r\n"), 3u) << got;
  size_t a = got.find(R"({"hello":"a")"), e = got.find("first"), b = got.find(R"({"hello":"b")");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  EXPECT_LT(a, e);
  EXPECT_LT(e, b);
  EXPECT_NE(got.find("\r\nDate: "), std::string::npos);
  EXPECT_NE(got.find("\r\nx-request-id: "), std::string::npos);
}

TEST_F(HttpServerTest, ChunkedRequestBodiesAreDecoded) {
  RawClient c(server_->port());
  c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         "4;ext=1\r\nchun\r\n6\r\nked-ok\r\n0\r\nTrailer: t\r\n\r\n");
  std::string got = c.Read();
  EXPECT_NE(got.find("HTTP/1.1 200 OK"), std::string::npos) << got;
  EXPECT_NE(got.find("Content-Length: 10\r\n"), std::string::npos) << got;
  EXPECT_NE(got.find("\r\n\r\nchunked-ok"), std::string::npos) << got;
  // A streaming route sees every byte of a chunked upload too.
  RawClient u(server_->port());
  u.Send("PUT /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_NE(u.Read().find(R"({"bytes":5})"), std::string::npos);
  EXPECT_EQ(uploaded_.load(), 5);
}

TEST_F(HttpServerTest, ExpectContinueGets100BeforeTheBody) {
  RawClient c(server_->port());
  c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(c.Read(), "HTTP/1.1 100 Continue\r\n\r\n");
  c.Send("abc");
  std::string got = c.Read();
  EXPECT_NE(got.find("HTTP/1.1 200 OK"), std::string::npos) << got;
  EXPECT_NE(got.find("\r\n\r\nabc"), std::string::npos) << got;
}

TEST_F(HttpServerTest, EarlyAnswerSkipsTheContinueAndClosesAfterIt) {
  // Too large for the route: 413 at once, no 100 Continue, the connection closes.
  RawClient c(server_->port());
  c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
  std::string got = c.Read();
  EXPECT_EQ(got.find("100 Continue"), std::string::npos) << got;
  EXPECT_NE(got.find("HTTP/1.1 413 Content Too Large"), std::string::npos) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
  EXPECT_NE(got.find("resource_exhausted"), std::string::npos) << got;
}

TEST_F(HttpServerTest, MalformedRequestsAre400WithAJsonBodyAndClose) {
  for (const char* bad : {"NONSENSE\r\n\r\n", "GET /hello/a HTTP/1.1 extra\r\n\r\n",
                          "GET /hello/a HTTP/1.1\r\nno colon here\r\n\r\n",
                          "POST /echo HTTP/1.1\r\nContent-Length: x1\r\n\r\n",
                          "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                          "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
    RawClient c(server_->port());
    c.Send(bad);
    std::string got = c.Read();
    EXPECT_NE(got.find("HTTP/1.1 400 Bad Request"), std::string::npos) << bad << " -> " << got;
    EXPECT_NE(got.find(R"({"error":)"), std::string::npos) << got;
    EXPECT_TRUE(c.closed()) << bad;
  }
  RawClient v(server_->port());
  v.Send("GET / HTTP/2.0\r\n\r\n");
  EXPECT_NE(v.Read().find("HTTP/1.1 505"), std::string::npos);
  // The server still answers afterwards.
  EXPECT_EQ(Fetch("GET", Url("/hello/x")).status, 200);
}

TEST_F(HttpServerTest, HeadersBeyondTheLimitAre431) {
  RawClient c(server_->port());
  c.Send("GET /hello/a HTTP/1.1\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n");
  std::string got = c.Read();
  EXPECT_NE(got.find("HTTP/1.1 431 Request Header Fields Too Large"), std::string::npos)
      << got.substr(0, 200);
  EXPECT_TRUE(c.closed());
}

TEST_F(HttpServerTest, Http10ClosesUnlessKeepAliveAndConnectionCloseIsHonoured) {
  RawClient a(server_->port());
  a.Send("GET /hello/a HTTP/1.0\r\n\r\n");
  std::string got = a.Read();
  EXPECT_NE(got.find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(a.closed());
  RawClient b(server_->port());
  b.Send("GET /hello/a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  got = b.Read();
  EXPECT_NE(got.find("Connection: keep-alive"), std::string::npos);
  EXPECT_FALSE(b.closed());
  RawClient c(server_->port());
  c.Send("GET /hello/a HTTP/1.1\r\nConnection: close\r\n\r\n");
  got = c.Read();
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(c.closed());
}

TEST_F(HttpServerTest, HeadAnswersHeadersOnly) {
  RawClient c(server_->port());
  c.Send("HEAD /h HTTP/1.1\r\n\r\nGET /hello/z HTTP/1.1\r\n\r\n");
  std::string got = c.Read();
  EXPECT_NE(got.find("Content-Length: 12\r\n"), std::string::npos) << got;
  EXPECT_EQ(got.find("twelve bytes"), std::string::npos) << got;
  EXPECT_NE(got.find(R"({"hello":"z")"), std::string::npos) << got;
}

TEST_F(HttpServerTest, ClientThatHalfClosesStillGetsItsAnswer) {
  RawClient c(server_->port());
  c.Send("GET /hello/half HTTP/1.1\r\n\r\n");
  c.ShutdownWrite();
  std::string got = c.Read();
  EXPECT_NE(got.find(R"({"hello":"half")"), std::string::npos) << got;
  EXPECT_TRUE(c.closed());
}

TEST(RouterTest, MatchesLiteralBeforeFallingThroughAndListsAllowedMethods) {
  Router r;
  r.Add("GET", "/a/{x}", "none", nullptr);
  r.Add("POST", "/a/{x}", "none", nullptr);
  r.Add("GET", "/a/{x}/b", "none", nullptr);
  auto m = r.Find("GET", "/a/1/b");
  ASSERT_EQ(m.outcome, Router::Outcome::kFound);
  EXPECT_EQ(m.params["x"], "1");
  auto n = r.Find("PUT", "/a/1");
  EXPECT_EQ(n.outcome, Router::Outcome::kMethodNotAllowed);
  EXPECT_EQ(n.allowed_methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_EQ(r.Find("GET", "/a").outcome, Router::Outcome::kNotFound);
  EXPECT_EQ(r.Find("GET", "/a//b").outcome, Router::Outcome::kNotFound);
  EXPECT_EQ(SplitPath("/x/y/"), (std::vector<std::string>{"x", "y"}));
}

}  // namespace
}  // namespace hotswap::http
