#include "api/http/http_server.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

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
    router_.Add("GET", "/secret", "admin", [](HttpRequest&) { return HttpResponse::Json(200, {}); });
    router_.Add("GET", "/slow", "none", [this](HttpRequest&) {
      slow_started_ = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
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

TEST_F(HttpServerTest, StopWaitsForRequestsInFlight) {
  Result slow;
  std::thread t([&] { slow = Fetch("GET", Url("/slow")); });
  while (!slow_started_) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  server_->Stop();
  t.join();
  EXPECT_EQ(slow.status, 200);
  EXPECT_EQ(server_->requests_in_flight(), 0);
}

TEST_F(HttpServerTest, StartFailsClearlyWhenPortIsTaken) {
  HttpServer::Options o;
  o.port = server_->port();
  HttpServer second(o, &router_, nullptr, nullptr);
  absl::Status s = second.Start();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("cannot listen"), std::string::npos);
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
