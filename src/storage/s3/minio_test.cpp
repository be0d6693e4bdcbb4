// The SigV4 signer and S3 client against a real S3 server: MinIO (built by
// scripts/install-deps.sh into .deps/bin/minio), started on a free loopback port with a temp
// directory and stopped at the end.
#include <gtest/gtest.h>

#include <memory>

#include "common/sha256.h"
#include "storage/s3/minio_test_server.h"
#include "storage/s3/s3_client.h"

namespace hotswap::storage::s3 {
namespace {

// One MinIO for the whole test binary (each ctest process starts its own; it takes < 1 s).
class MinioServer : public ::testing::Environment {
 public:
  void SetUp() override {
    auto s = testing::MinioTestServer::Start();
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }
  void TearDown() override { server_.reset(); }
  static S3Options Options() { return server_->Options(); }

 private:
  static inline std::unique_ptr<testing::MinioTestServer> server_;
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
