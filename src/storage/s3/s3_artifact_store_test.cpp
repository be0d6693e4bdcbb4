// S3ArtifactStore against a real MinIO (started per test process by MinioTestServer): round
// trips (small, empty, multipart), metadata, listing with continuation, deletes, credentials,
// missing bucket, objects altered or truncated behind our back, the local cache (hits, LRU
// eviction, corrupt cached copy), and retries. Faults the real server will not produce on demand
// (503s, a connection cut mid-body) come from FaultProxy, a small TCP proxy in front of the same
// MinIO.
#include "storage/s3/s3_artifact_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/sha256.h"
#include "storage/s3/minio_test_server.h"

namespace hotswap::storage::s3 {
namespace {

using testing::MinioTestServer;

class MinioEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    auto s = MinioTestServer::Start();
    ASSERT_TRUE(s.ok()) << s.status();
    server = *std::move(s);
  }
  void TearDown() override { server.reset(); }
  static inline std::unique_ptr<MinioTestServer> server;
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new MinioEnv);

std::string Bytes(size_t n, int seed) {
  std::string s(n, '\0');
  uint32_t x = static_cast<uint32_t>(seed) * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int CountFiles(const std::string& dir) {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) ++n;
  }
  return n;
}

// A fault-injecting TCP proxy in front of MinIO: answers the first `fail_next` requests (or all,
// with `fail_always`) with 503 SlowDown, or cuts successful GET bodies after `truncate_after`
// bytes; otherwise forwards each request (one per connection) to MinIO.
class FaultProxy {
 public:
  explicit FaultProxy(int upstream_port) : upstream_(upstream_port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen(fd_, 16);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FaultProxy() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::atomic<int> fail_next{0};
  std::atomic<bool> fail_always{false};
  std::atomic<int64_t> truncate_after{-1};
  std::atomic<int> fail_part{0};  // 503 for every upload of this part number
  std::atomic<int> requests{0};
  std::atomic<int> faults{0};

 private:
  static bool ReadRequest(int fd, std::string* req) {
    char buf[65536];
    size_t header_end = std::string::npos;
    while (header_end == std::string::npos) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      req->append(buf, n);
      header_end = req->find("\r\n\r\n");
    }
    size_t length = 0;
    std::string lower = req->substr(0, header_end);
    for (char& c : lower) c = static_cast<char>(std::tolower(c));
    size_t cl = lower.find("\r\ncontent-length:");
    if (cl != std::string::npos) length = std::stoull(lower.substr(cl + 17));
    while (req->size() < header_end + 4 + length) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      req->append(buf, n);
    }
    return true;
  }
  static void SendAll(int fd, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(n);
    }
  }
  void Reply503(int fd) {
    ++faults;
    std::string body =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
        "<Message>injected by FaultProxy</Message></Error>";
    SendAll(fd, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
                "Connection: close\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\n\r\n" + body);
  }
  void Handle(int client) {
    std::string req;
    if (!ReadRequest(client, &req)) return;
    ++requests;
    std::string first_line = req.substr(0, req.find("\r\n"));
    int part = fail_part.load();
    if (fail_always || fail_next.fetch_sub(1) > 0 ||
        (part > 0 && first_line.find("partNumber=" + std::to_string(part) + "&") != std::string::npos)) {
      Reply503(client);
      return;
    }
    int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(upstream_);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(up, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(up);
      return;  // upstream down: the client sees the connection close
    }
    req.insert(req.find("\r\n") + 2, "Connection: close\r\n");  // one request per connection
    SendAll(up, req);
    std::string resp;
    char buf[65536];
    ssize_t n;
    while ((n = recv(up, buf, sizeof buf, 0)) > 0) resp.append(buf, n);
    close(up);
    int64_t cut = truncate_after.load();
    size_t header_end = resp.find("\r\n\r\n");
    if (cut >= 0 && first_line.rfind("GET ", 0) == 0 && resp.rfind("HTTP/1.1 200", 0) == 0 &&
        header_end != std::string::npos && first_line.find("list-type") == std::string::npos) {
      ++faults;
      SendAll(client, std::string_view(resp).substr(0, header_end + 4 + cut));
      return;  // close early: the body is cut short
    }
    SendAll(client, resp);
  }
  void Loop() {
    while (!stop_) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stop_) return;
        continue;
      }
      Handle(c);
      close(c);
    }
  }

  int upstream_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bucket_ = "bucket-" + std::to_string(counter_++) + "-" + std::to_string(getpid());
    ASSERT_TRUE(MinioEnv::server->CreateBucket(bucket_).ok());
    char tmpl[] = "/tmp/hotswap-s3test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  S3ArtifactStore::Options Opts(const std::string& cache_name = "cache") {
    S3ArtifactStore::Options o;
    o.bucket = bucket_;
    o.prefix = "models";
    o.s3 = MinioEnv::server->Options();
    o.cache_dir = dir_ + "/" + cache_name;
    o.base_backoff_ms = 5;
    o.max_backoff_ms = 20;
    return o;
  }
  std::unique_ptr<S3ArtifactStore> Store(S3ArtifactStore::Options o) {
    auto s = S3ArtifactStore::Open(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }
  static absl::StatusOr<ArtifactInfo> Put(ArtifactStore* store, const std::string& data,
                                          std::optional<std::string> expected = std::nullopt) {
    auto w = store->NewWriter();
    if (!w.ok()) return w.status();
    for (size_t off = 0; off < data.size(); off += 100'000) {
      if (auto s = (*w)->Write(std::string_view(data).substr(off, 100'000)); !s.ok()) return s;
    }
    return (*w)->Commit(expected);
  }
  S3Response Raw(const std::string& method, const std::string& key, const std::string& body = "",
                 std::vector<std::pair<std::string, std::string>> headers = {},
                 std::vector<std::pair<std::string, std::string>> query = {}) {
    S3Client c(MinioEnv::server->Options());
    auto r = c.Request(method, bucket_, key, body, std::move(headers), std::move(query));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : S3Response{};
  }

  static inline int counter_ = 0;
  std::string bucket_;
  std::string dir_;
};

TEST_F(S3StoreTest, SmallArtifactRoundTripsThroughTheBucketWithItsDigestAsMetadata) {
  auto a = Store(Opts("a"));
  std::string data = Bytes(300'000, 1);
  auto info = Put(a.get(), data);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->sha256, Sha256Hex(data));
  EXPECT_EQ(info->size_bytes, 300'000);
  EXPECT_TRUE(info->newly_created);
  std::string key = "models/sha256/" + info->sha256.substr(0, 2) + "/" + info->sha256;
  EXPECT_EQ(a->KeyFor(info->sha256), key);
  EXPECT_EQ(a->UriFor(info->sha256), "s3://" + bucket_ + "/" + key);
  S3Response head = Raw("HEAD", key);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers["x-amz-meta-sha256"], info->sha256);
  EXPECT_EQ(head.headers["content-length"], "300000");

  // Another replica (empty cache) downloads, verifies and serves it.
  auto b = Store(Opts("b"));
  EXPECT_FALSE(b->IsCached(info->sha256));
  ASSERT_TRUE(b->FetchToFile(info->sha256, dir_ + "/out").ok());
  EXPECT_TRUE(ReadFile(dir_ + "/out") == data);
  EXPECT_TRUE(b->IsCached(info->sha256));
  EXPECT_EQ(b->Stats().downloads, 1u);
  EXPECT_EQ(b->Stats().download_bytes, 300'000u);
  EXPECT_EQ(a->Stats().uploads, 1u);
}

TEST_F(S3StoreTest, EmptyArtifactRoundTrips) {
  auto a = Store(Opts("a"));
  auto info = Put(a.get(), "");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->sha256, Sha256Hex(""));
  auto b = Store(Opts("b"));
  auto reader = b->Open(info->sha256);
  ASSERT_TRUE(reader.ok()) << reader.status();
  char buf[16];
  auto n = (*reader)->Read(buf, sizeof buf);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
}

TEST_F(S3StoreTest, LargeArtifactGoesUpInPartsAndComesBackIntact) {
  S3ArtifactStore::Options o = Opts("a");
  o.multipart_threshold_bytes = 5 << 20;
  o.part_size_bytes = 5 << 20;
  auto a = Store(o);
  std::string data = Bytes((12 << 20) + 17, 2);  // 3 parts: 5 MiB, 5 MiB, 2 MiB + 17
  auto info = Put(a.get(), data);
  ASSERT_TRUE(info.ok()) << info.status();
  S3Response head = Raw("HEAD", a->KeyFor(info->sha256));
  EXPECT_EQ(head.headers["content-length"], std::to_string(data.size()));
  EXPECT_EQ(head.headers["x-amz-meta-sha256"], info->sha256);
  EXPECT_NE(head.headers["etag"].find("-3"), std::string::npos) << head.headers["etag"];
  auto b = Store(Opts("b"));
  ASSERT_TRUE(b->FetchToFile(info->sha256, dir_ + "/out").ok());
  EXPECT_TRUE(ReadFile(dir_ + "/out") == data);
}

TEST_F(S3StoreTest, FailedMultipartUploadIsAbortedAndLeavesNothing) {
  FaultProxy proxy(MinioEnv::server->port());
  S3ArtifactStore::Options o = Opts("a");
  o.s3.endpoint = proxy.endpoint();
  o.multipart_threshold_bytes = 5 << 20;
  o.part_size_bytes = 5 << 20;
  o.max_attempts = 2;
  auto a = Store(o);
  proxy.fail_part = 2;
  std::string data = Bytes(11 << 20, 3);
  auto info = Put(a.get(), data);
  ASSERT_FALSE(info.ok());
  EXPECT_TRUE(absl::IsUnavailable(info.status())) << info.status();
  EXPECT_NE(info.status().message().find("part 2 of 3"), absl::string_view::npos) << info.status();
  EXPECT_NE(info.status().message().find("gave up after 2 attempts"), absl::string_view::npos);
  // No object, no pending multipart upload, no cached copy.
  EXPECT_EQ(Raw("HEAD", a->KeyFor(Sha256Hex(data))).status, 404);
  S3Response uploads = Raw("GET", "", "", {}, {{"uploads", ""}});
  EXPECT_EQ(uploads.body.find("<Upload>"), std::string::npos) << uploads.body;
  EXPECT_FALSE(a->IsCached(Sha256Hex(data)));
}

TEST_F(S3StoreTest, SameContentIsUploadedOnce) {
  auto a = Store(Opts("a"));
  auto b = Store(Opts("b"));
  std::string data = Bytes(1000, 4);
  auto first = Put(a.get(), data);
  auto second = Put(b.get(), data);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_TRUE(first->newly_created);
  EXPECT_FALSE(second->newly_created);
  EXPECT_EQ(a->Stats().uploads + b->Stats().uploads, 1u);
}

TEST_F(S3StoreTest, ExpectedDigestMismatchStoresNothing) {
  auto a = Store(Opts("a"));
  std::string data = Bytes(5000, 5);
  auto info = Put(a.get(), data, Sha256Hex("something else"));
  ASSERT_FALSE(info.ok());
  EXPECT_TRUE(absl::IsDataLoss(info.status())) << info.status();
  auto list = a->List();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  EXPECT_EQ(CountFiles(dir_ + "/a"), 0);
}

TEST_F(S3StoreTest, ListFollowsContinuationTokensAndSkipsForeignKeys) {
  S3ArtifactStore::Options o = Opts("a");
  o.list_page_size = 2;
  auto a = Store(o);
  std::set<std::string> want;
  for (int i = 0; i < 5; ++i) {
    auto info = Put(a.get(), Bytes(100 + i, 10 + i));
    ASSERT_TRUE(info.ok());
    want.insert(info->sha256);
  }
  Raw("PUT", "models/sha256/readme.txt", "not an artifact");
  Raw("PUT", "other/sha256/ab/" + std::string(64, 'a'), "another prefix");
  auto list = a->List();
  ASSERT_TRUE(list.ok()) << list.status();
  std::set<std::string> got;
  for (const auto& obj : *list) {
    got.insert(obj.sha256);
    EXPECT_GE(obj.size_bytes, 100);
  }
  EXPECT_EQ(got, want);
  // A store on another prefix of the same bucket sees none of them.
  S3ArtifactStore::Options other = Opts("b");
  other.prefix = "elsewhere";
  auto b = Store(other);
  EXPECT_TRUE(b->List()->empty());
}

TEST_F(S3StoreTest, DeleteRemovesObjectAndCachedCopy) {
  auto a = Store(Opts("a"));
  auto info = Put(a.get(), Bytes(2000, 6));
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(*a->Exists(info->sha256));
  EXPECT_TRUE(a->IsCached(info->sha256));
  ASSERT_TRUE(a->Delete(info->sha256).ok());
  EXPECT_FALSE(*a->Exists(info->sha256));
  EXPECT_FALSE(a->IsCached(info->sha256));
  EXPECT_TRUE(a->Delete(info->sha256).ok());  // idempotent
  absl::Status gone = a->Verify(info->sha256);
  EXPECT_TRUE(absl::IsNotFound(gone)) << gone;
  EXPECT_NE(gone.message().find("missing from s3://" + bucket_), absl::string_view::npos) << gone;
}

TEST_F(S3StoreTest, ExistsAsksTheBucketNotTheCache) {
  auto a = Store(Opts("a"));
  auto info = Put(a.get(), Bytes(2000, 7));
  ASSERT_TRUE(info.ok());
  Raw("DELETE", a->KeyFor(info->sha256));  // removed behind the store's back
  EXPECT_TRUE(a->IsCached(info->sha256));
  EXPECT_FALSE(*a->Exists(info->sha256));
  EXPECT_TRUE(absl::IsInvalidArgument(a->Exists("not-a-digest").status()));
}

TEST_F(S3StoreTest, WrongCredentialsAreAClearPermissionError) {
  S3ArtifactStore::Options o = Opts("a");
  o.s3.credentials.secret_access_key = "wrong-secret";
  auto s = S3ArtifactStore::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(s.status())) << s.status();
  EXPECT_NE(s.status().message().find("AWS_SECRET_ACCESS_KEY"), absl::string_view::npos);
  EXPECT_EQ(s.status().message().find("wrong-secret"), absl::string_view::npos);  // never echoed
  o.s3.credentials = {"no-such-user", "whatever-secret", ""};
  s = S3ArtifactStore::Open(o);
  EXPECT_TRUE(absl::IsPermissionDenied(s.status())) << s.status();
  // Uploads with wrong credentials fail the same way and store nothing.
  o = Opts("b");
  o.check_bucket = false;
  o.s3.credentials.secret_access_key = "wrong-secret";
  auto store = Store(o);
  auto info = Put(store.get(), "payload");
  EXPECT_TRUE(absl::IsPermissionDenied(info.status())) << info.status();
  EXPECT_EQ(Raw("HEAD", store->KeyFor(Sha256Hex("payload"))).status, 404);
}

TEST_F(S3StoreTest, MissingBucketAndBadOptionsAreRefusedAtOpen) {
  S3ArtifactStore::Options o = Opts("a");
  o.bucket = "no-such-bucket";
  auto s = S3ArtifactStore::Open(o);
  EXPECT_TRUE(absl::IsFailedPrecondition(s.status())) << s.status();
  EXPECT_NE(s.status().message().find("does not exist"), absl::string_view::npos);
  o = Opts("a");
  o.bucket = "Bad_Bucket";
  EXPECT_TRUE(absl::IsInvalidArgument(S3ArtifactStore::Open(o).status()));
  o = Opts("a");
  o.part_size_bytes = 1 << 20;
  EXPECT_TRUE(absl::IsInvalidArgument(S3ArtifactStore::Open(o).status()));
  o = Opts("a");
  o.s3.credentials = {};
  s = S3ArtifactStore::Open(o);
  EXPECT_TRUE(absl::IsInvalidArgument(s.status()));
  EXPECT_NE(s.status().message().find("AWS_ACCESS_KEY_ID"), absl::string_view::npos);
  o = Opts("a");
  o.s3.endpoint = "http://127.0.0.1:1";  // nothing listens
  o.max_attempts = 2;
  s = S3ArtifactStore::Open(o);
  EXPECT_TRUE(absl::IsUnavailable(s.status())) << s.status();
  EXPECT_NE(s.status().message().find("cannot reach"), absl::string_view::npos);
}

TEST_F(S3StoreTest, ObjectAlteredBehindOurBackIsRefusedCountedAndNeverCached) {
  auto a = Store(Opts("a"));
  std::string data = Bytes(4000, 8);
  auto info = Put(a.get(), data);
  ASSERT_TRUE(info.ok());
  std::string altered = data;
  altered[1234] ^= 1;
  Raw("PUT", a->KeyFor(info->sha256), altered, {{"x-amz-meta-sha256", info->sha256}});
  auto b = Store(Opts("b"));
  absl::Status s = b->FetchToFile(info->sha256, dir_ + "/out");
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("failed verification"), absl::string_view::npos) << s;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/out"));
  EXPECT_FALSE(b->IsCached(info->sha256));
  EXPECT_TRUE(absl::IsDataLoss(b->Verify(info->sha256)));
  EXPECT_TRUE(absl::IsDataLoss(b->Open(info->sha256).status()));
  EXPECT_EQ(b->Stats().integrity_failures, 3u);
  EXPECT_TRUE(absl::IsDataLoss(b->VerifyRemote(info->sha256)));
}

TEST_F(S3StoreTest, TruncatedObjectIsRefused) {
  auto a = Store(Opts("a"));
  std::string data = Bytes(10'000, 9);
  auto info = Put(a.get(), data);
  ASSERT_TRUE(info.ok());
  Raw("PUT", a->KeyFor(info->sha256), data.substr(0, 6000), {{"x-amz-meta-sha256", info->sha256}});
  auto b = Store(Opts("b"));
  absl::Status s = b->Verify(info->sha256);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("6000 bytes"), absl::string_view::npos) << s;
  EXPECT_EQ(b->Stats().integrity_failures, 1u);
  EXPECT_FALSE(b->IsCached(info->sha256));
  // Uploading the true content again notices the short object and replaces it.
  auto again = Put(b.get(), data);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->newly_created);
  EXPECT_TRUE(b->VerifyRemote(info->sha256).ok());
  EXPECT_EQ(b->Stats().integrity_failures, 2u);  // the mismatch seen before replacing
}

TEST_F(S3StoreTest, DownloadCutShortIsRetriedThenRefusedAsTruncated) {
  auto a = Store(Opts("a"));
  std::string data = Bytes(200'000, 10);
  auto info = Put(a.get(), data);
  ASSERT_TRUE(info.ok());
  FaultProxy proxy(MinioEnv::server->port());
  proxy.truncate_after = 50'000;
  S3ArtifactStore::Options o = Opts("b");
  o.s3.endpoint = proxy.endpoint();
  o.max_attempts = 3;
  auto b = Store(o);
  absl::Status s = b->FetchToFile(info->sha256, dir_ + "/out");
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("truncated"), absl::string_view::npos) << s;
  EXPECT_EQ(proxy.faults.load(), 3);  // every attempt was cut short
  EXPECT_EQ(b->Stats().retries, 2u);
  EXPECT_GE(b->Stats().integrity_failures, 3u);
  EXPECT_FALSE(b->IsCached(info->sha256));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/out"));
  // One cut, then a whole body: the retry succeeds.
  proxy.truncate_after = -1;
  ASSERT_TRUE(b->FetchToFile(info->sha256, dir_ + "/out").ok());
  EXPECT_TRUE(ReadFile(dir_ + "/out") == data);
}

TEST_F(S3StoreTest, TransientServerErrorsAreRetriedWithBackoff) {
  FaultProxy proxy(MinioEnv::server->port());
  S3ArtifactStore::Options o = Opts("a");
  o.s3.endpoint = proxy.endpoint();
  o.max_attempts = 4;
  auto a = Store(o);
  proxy.fail_next = 3;  // HEAD (existence check) fails three times, then everything works
  std::string data = Bytes(3000, 11);
  auto info = Put(a.get(), data);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(proxy.faults.load(), 3);
  EXPECT_EQ(a->Stats().retries, 3u);
  EXPECT_EQ(Raw("HEAD", a->KeyFor(info->sha256)).status, 200);
}

TEST_F(S3StoreTest, PersistentServerErrorsGiveUpWithAClearErrorAndStoreNothing) {
  FaultProxy proxy(MinioEnv::server->port());
  S3ArtifactStore::Options o = Opts("a");
  o.s3.endpoint = proxy.endpoint();
  o.max_attempts = 3;
  auto a = Store(o);
  proxy.fail_always = true;
  std::string data = Bytes(3000, 12);
  auto info = Put(a.get(), data);
  ASSERT_FALSE(info.ok());
  EXPECT_TRUE(absl::IsUnavailable(info.status())) << info.status();
  EXPECT_NE(info.status().message().find("HTTP 503"), absl::string_view::npos) << info.status();
  EXPECT_NE(info.status().message().find("gave up after 3 attempts"), absl::string_view::npos);
  EXPECT_EQ(proxy.faults.load(), 3);
  EXPECT_FALSE(a->IsCached(Sha256Hex(data)));
  EXPECT_EQ(Raw("HEAD", a->KeyFor(Sha256Hex(data))).status, 404);
}

TEST_F(S3StoreTest, CachedArtifactsAreServedWithoutTheNetwork) {
  auto a = Store(Opts("a"));
  std::string data = Bytes(5000, 13);
  auto info = Put(a.get(), data);
  ASSERT_TRUE(info.ok());
  S3ArtifactStore::Options o = Opts("b");
  {
    FaultProxy proxy(MinioEnv::server->port());
    o.s3.endpoint = proxy.endpoint();
    auto b = Store(o);
    ASSERT_TRUE(b->Verify(info->sha256).ok());
    EXPECT_EQ(b->Stats().downloads, 1u);
  }
  // The proxy is gone: nothing answers at that endpoint any more.
  o.check_bucket = false;
  o.max_attempts = 1;
  auto b = Store(o);
  ASSERT_TRUE(b->FetchToFile(info->sha256, dir_ + "/out").ok());
  EXPECT_TRUE(ReadFile(dir_ + "/out") == data);
  EXPECT_EQ(b->Stats().downloads, 0u);
  EXPECT_EQ(b->Stats().cache_hits, 1u);
  EXPECT_TRUE(absl::IsUnavailable(b->Exists(info->sha256).status()));
}

TEST_F(S3StoreTest, CacheEvictsLeastRecentlyUsedBeyondItsBound) {
  auto a = Store(Opts("a"));
  std::vector<std::string> sha;
  for (int i = 0; i < 3; ++i) sha.push_back(Put(a.get(), Bytes(1000, 20 + i))->sha256);
  S3ArtifactStore::Options o = Opts("b");
  o.cache_max_bytes = 2500;
  auto b = Store(o);
  ASSERT_TRUE(b->Verify(sha[0]).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(b->Verify(sha[1]).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(b->Verify(sha[0]).ok());  // a hit: 0 is now more recent than 1
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(b->Verify(sha[2]).ok());  // over the bound: 1 goes
  EXPECT_TRUE(b->IsCached(sha[0]));
  EXPECT_FALSE(b->IsCached(sha[1]));
  EXPECT_TRUE(b->IsCached(sha[2]));
  EXPECT_EQ(b->Stats().cache_evictions, 1u);
  EXPECT_EQ(b->Stats().cache_bytes, 2000);
  EXPECT_EQ(b->Stats().downloads, 3u);
  EXPECT_EQ(b->Stats().cache_hits, 1u);
}

TEST_F(S3StoreTest, CorruptCachedCopyIsDroppedAndDownloadedAgain) {
  auto a = Store(Opts("a"));
  std::string data = Bytes(3000, 14);
  auto info = Put(a.get(), data);
  ASSERT_TRUE(info.ok());
  std::string cached = dir_ + "/a/sha256/" + info->sha256.substr(0, 2) + "/" + info->sha256;
  ASSERT_TRUE(std::filesystem::exists(cached));
  std::filesystem::permissions(cached, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  {
    std::fstream f(cached, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('\x7f');
  }
  ASSERT_TRUE(a->FetchToFile(info->sha256, dir_ + "/out").ok());
  EXPECT_TRUE(ReadFile(dir_ + "/out") == data);
  EXPECT_EQ(a->Stats().downloads, 1u);
  EXPECT_GE(a->Stats().integrity_failures, 1u);
  EXPECT_TRUE(a->Verify(info->sha256).ok());
}

TEST_F(S3StoreTest, ConcurrentReadersOfOneArtifactDownloadItOnce) {
  auto a = Store(Opts("a"));
  std::string data = Bytes(2 << 20, 15);
  auto info = Put(a.get(), data);
  ASSERT_TRUE(info.ok());
  auto b = Store(Opts("b"));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      if (b->FetchToFile(info->sha256, dir_ + "/out" + std::to_string(i)).ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(b->Stats().downloads, 1u);
  EXPECT_EQ(b->Stats().cache_hits, 7u);
}

TEST_F(S3StoreTest, VirtualHostAddressingReachesTheSameBucket) {
  // MinIO serves bucket.localhost:PORT as the bucket (MINIO_DOMAIN=localhost); curl resolves
  // *.localhost to the loopback address.
  S3ArtifactStore::Options o = Opts("a");
  o.s3.endpoint = "http://localhost:" + std::to_string(MinioEnv::server->port());
  o.s3.path_style = false;
  auto a = Store(o);
  ASSERT_NE(a, nullptr);
  std::string data = Bytes(777, 16);
  auto info = Put(a.get(), data);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(Raw("HEAD", a->KeyFor(info->sha256)).status, 200);  // seen path-style too
}

}  // namespace
}  // namespace hotswap::storage::s3
