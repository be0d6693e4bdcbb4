// The SigV4 signer and S3 client against a real S3 server: MinIO (built by
// scripts/install-deps.sh into .deps/bin/minio), started on a free loopback port with a temp
// directory and stopped at the end.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "common/sha256.h"
#include "storage/s3/s3_client.h"

namespace hotswap::storage::s3 {
namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

constexpr const char* kUser = "hotswap-test";
constexpr const char* kSecret = "hotswap-test-secret-key";

// One MinIO for the whole test binary.
class MinioServer : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* bin = HOTSWAP_MINIO_BIN;
    ASSERT_EQ(access(bin, X_OK), 0) << "MinIO is not built at " << bin
                                     << ": run scripts/install-deps.sh (it builds MinIO with go install)";
    char tmpl[] = "/tmp/hotswap-minio-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    port_ = FreePort();
    int console = FreePort();
    pid_ = fork();
    if (pid_ == 0) {
      setenv("MINIO_ROOT_USER", kUser, 1);
      setenv("MINIO_ROOT_PASSWORD", kSecret, 1);
      setenv("MINIO_BROWSER", "off", 1);
      setenv("MINIO_UPDATE", "off", 1);
      std::string address = "127.0.0.1:" + std::to_string(port_);
      std::string console_address = "127.0.0.1:" + std::to_string(console);
      if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(126);
      execl(bin, bin, "server", dir_.c_str(), "--address", address.c_str(), "--console-address",
            console_address.c_str(), "--quiet", static_cast<char*>(nullptr));
      _exit(127);
    }
    S3Options o = Options();
    for (int i = 0; i < 600; ++i) {
      S3Client c(o);
      auto r = c.Request("GET", "", "");  // ListBuckets: answers once the server is up
      if (r.ok() && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "MinIO did not start on port " << port_;
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  static S3Options Options() {
    S3Options o;
    o.endpoint = "http://127.0.0.1:" + std::to_string(port_);
    o.credentials = {kUser, kSecret, ""};
    return o;
  }

 private:
  static inline int port_ = 0;
  pid_t pid_ = -1;
  std::string dir_;
};
const auto* const kMinio = ::testing::AddGlobalTestEnvironment(new MinioServer);

TEST(MinioTest, BucketAndObjectRoundTripWithMetadata) {
  S3Client c(MinioServer::Options());
  ASSERT_TRUE(StatusOf(*c.Request("PUT", "roundtrip", "")).ok());
  std::string data(100000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  std::string digest = Sha256Hex(data);
  auto put = c.Request("PUT", "roundtrip", "models/sha256/" + digest, data,
                       {{"x-amz-meta-sha256", digest}, {"content-type", "application/octet-stream"}});
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE(StatusOf(*put).ok()) << put->body;
  auto head = c.Request("HEAD", "roundtrip", "models/sha256/" + digest);
  ASSERT_EQ(head->status, 200);
  EXPECT_EQ(head->headers["content-length"], "100000");
  EXPECT_EQ(head->headers["x-amz-meta-sha256"], digest);
  auto get = c.Request("GET", "roundtrip", "models/sha256/" + digest);
  ASSERT_EQ(get->status, 200);
  EXPECT_TRUE(get->body == data);
  EXPECT_EQ(c.Request("DELETE", "roundtrip", "models/sha256/" + digest)->status, 204);
  auto gone = c.Request("GET", "roundtrip", "models/sha256/" + digest);
  absl::Status s = StatusOf(*gone);
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_NE(s.message().find("NoSuchKey"), absl::string_view::npos);
}

TEST(MinioTest, EmptyObjectAndKeysThatNeedEncoding) {
  S3Client c(MinioServer::Options());
  ASSERT_TRUE(StatusOf(*c.Request("PUT", "encoding", "")).ok());
  ASSERT_TRUE(StatusOf(*c.Request("PUT", "encoding", "a dir/fiLe+name (1).onnx", "")).ok());
  auto get = c.Request("GET", "encoding", "a dir/fiLe+name (1).onnx");
  EXPECT_EQ(get->status, 200);
  EXPECT_TRUE(get->body.empty());
}

TEST(MinioTest, SignedQueryParametersListObjects) {
  S3Client c(MinioServer::Options());
  ASSERT_TRUE(StatusOf(*c.Request("PUT", "listing", "")).ok());
  for (const char* k : {"p/a", "p/b", "q/c"}) ASSERT_TRUE(StatusOf(*c.Request("PUT", "listing", k, k)).ok());
  auto list = c.Request("GET", "listing", "", "", {}, {{"list-type", "2"}, {"prefix", "p/"}, {"max-keys", "1"}});
  ASSERT_TRUE(StatusOf(*list).ok()) << list->body;
  EXPECT_NE(list->body.find("<Key>p/a</Key>"), std::string::npos);
  EXPECT_EQ(list->body.find("<Key>q/c</Key>"), std::string::npos);
  EXPECT_NE(list->body.find("<IsTruncated>true</IsTruncated>"), std::string::npos);
}

TEST(MinioTest, WrongSecretIsPermissionDenied) {
  S3Options o = MinioServer::Options();
  o.credentials.secret_access_key = "not-the-secret";
  S3Client c(o);
  absl::Status s = StatusOf(*c.Request("GET", "", ""));
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_NE(s.message().find("SignatureDoesNotMatch"), absl::string_view::npos) << s;
}

TEST(MinioTest, MissingBucketIsNotFound) {
  S3Client c(MinioServer::Options());
  absl::Status s = StatusOf(*c.Request("GET", "no-such-bucket", "x"));
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_NE(s.message().find("NoSuchBucket"), absl::string_view::npos);
}

TEST(MinioTest, ConflictingPayloadDigestIsRefusedAndNothingIsStored) {
  S3Client c(MinioServer::Options());
  ASSERT_TRUE(StatusOf(*c.Request("PUT", "integrity", "")).ok());
  // A second x-amz-content-sha256 naming other bytes: the signed digest no longer matches the
  // body the server receives, and the server must refuse the upload.
  auto bad = c.Request("PUT", "integrity", "k", "actual bytes",
                       {{"x-amz-content-sha256", Sha256Hex("other bytes")}});
  EXPECT_FALSE(StatusOf(*bad).ok()) << bad->body;
  EXPECT_EQ(c.Request("GET", "integrity", "k")->status, 404);
  EXPECT_TRUE(StatusOf(*c.Request("PUT", "integrity", "k", "actual bytes")).ok());
}

}  // namespace
}  // namespace hotswap::storage::s3
