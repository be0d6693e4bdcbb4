// The server with its artifacts in a real MinIO (`--artifacts-url s3://...`): uploads land in
// the bucket, deployments load from it through the cache, a corrupt object is never loaded,
// MinIO going away during an upload is a clear 503 that registers nothing, and two servers
// sharing one PostgreSQL registry and one bucket serve each other's versions.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <vector>

#include "common/log.h"
#include "common/sha256.h"
#include "registry/postgres/pg_test_server.h"
#include "storage/s3/minio_test_server.h"
#include "tests/test_util.h"

namespace hotswap {
namespace {

using nlohmann::json;
using storage::s3::S3Client;
using storage::s3::testing::MinioTestServer;
using testing_util::Http;
using testing_util::HttpResult;
using testing_util::Multipart;
using testing_util::TestServer;

const char* kIrisRequest =
    R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]})";

std::string DemoModel() {
  std::ifstream in(std::string(HOTSWAP_DEMO_MODELS_DIR) + "/iris.onnx", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<MinioTestServer> StartMinio(const std::string& bucket) {
  auto m = MinioTestServer::Start();
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return nullptr;
  EXPECT_TRUE((*m)->CreateBucket(bucket).ok());
  return *std::move(m);
}

server::ServerConfig OnS3(const MinioTestServer& m, const std::string& bucket) {
  server::ServerConfig c;
  c.artifacts_url = "s3://" + bucket + "/hotswap";
  c.s3_endpoint = m.endpoint();
  c.s3_access_key_id = MinioTestServer::kAccessKey;
  c.s3_secret_access_key = MinioTestServer::kSecretKey;
  c.s3_max_attempts = 2;
  return c;
}

// Deploys `version` of `model` and waits for the deployment to finish; returns it.
json Deploy(const TestServer& s, const std::string& model, int version,
            const std::string& token = "@admin") {
  HttpResult d = s.Call("POST", "/api/v1/deployments", {{"model", model}, {"version", version}},
                        token);
  EXPECT_EQ(d.status, 202) << d.body;
  if (d.status != 202) return json::object();
  std::string id = d.json()["id"];
  json cur;
  testing_util::WaitFor([&] {
    cur = s.Call("GET", "/api/v1/deployments/" + id, nullptr, token).json();
    return cur["state"] != "pending" && cur["state"] != "loading";
  });
  return cur;
}

// Stops the shared PostgreSQL when this binary started it itself (outside ctest's fixture).
class PgEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { registry::testing::PgTestServer::StopShared(); }
};
const auto* const kPgEnvironment = ::testing::AddGlobalTestEnvironment(new PgEnvironment);

int64_t MetricValue(const std::string& metrics, const std::string& series) {
  size_t at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(metrics.substr(at + series.size() + 2));
}

TEST(S3ServerTest, UploadsLandInTheBucketAndDeploymentsLoadFromIt) {
  auto minio = StartMinio("models");
  ASSERT_NE(minio, nullptr);
  TestServer s(OnS3(*minio, "models"));
  ASSERT_EQ(s.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 201);
  std::string model = DemoModel();
  HttpResult up = s.Upload("iris", {{"framework", "onnx"}}, model);
  ASSERT_EQ(up.status, 201) << up.body;
  std::string sha = Sha256Hex(model);
  std::string key = "hotswap/sha256/" + sha.substr(0, 2) + "/" + sha;
  EXPECT_EQ(up.json()["sha256"], sha);
  S3Client raw(minio->Options());
  auto head = raw.Request("HEAD", "models", key);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers["x-amz-meta-sha256"], sha);

  EXPECT_EQ(Deploy(s, "iris", 1)["state"], "succeeded");
  std::vector<std::string> auth = {"Authorization: Bearer " + s.admin()};
  HttpResult inf = Http("POST", s.Url("/v2/models/iris/infer"), kIrisRequest, auth);
  EXPECT_EQ(inf.status, 200) << inf.body;
  HttpResult dl = Http("GET", s.Url("/api/v1/models/iris/versions/1/artifact"), "", auth);
  EXPECT_EQ(dl.status, 200);
  EXPECT_TRUE(dl.body == model);
  std::string metrics = Http("GET", s.Url("/metrics"), "", auth).body;
  EXPECT_EQ(MetricValue(metrics, "hotswap_artifact_uploads_total{store=\"s3\"}"), 1) << metrics;
  EXPECT_EQ(MetricValue(metrics, "hotswap_artifact_integrity_failures_total{store=\"s3\"}"), 0);
  EXPECT_GT(MetricValue(metrics, "hotswap_artifact_cache_bytes{store=\"s3\"}"), 0);
}

TEST(S3ServerTest, AnObjectAlteredInTheBucketIsRefusedCountedAndNeverLoaded) {
  auto minio = StartMinio("models");
  ASSERT_NE(minio, nullptr);
  std::string model = DemoModel();
  std::string sha = Sha256Hex(model);
  {
    TestServer a(OnS3(*minio, "models"));
    ASSERT_EQ(a.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 201);
    ASSERT_EQ(a.Upload("iris", {{"framework", "onnx"}}, model).status, 201);
  }
  // Someone rewrites the object (same metadata, one byte flipped).
  std::string altered = model;
  altered[altered.size() / 2] ^= 0x01;
  S3Client raw(minio->Options());
  std::string key = "hotswap/sha256/" + sha.substr(0, 2) + "/" + sha;
  ASSERT_EQ(raw.Request("PUT", "models", key, altered, {{"x-amz-meta-sha256", sha}})->status, 200);

  // Another server (its own SQLite registry and cache) registers the same content: the object
  // exists with matching metadata, so nothing is uploaded. The upload left the true bytes in
  // its cache; drop that copy so the deployment must download the altered object.
  TestServer b(OnS3(*minio, "models"));
  ASSERT_EQ(b.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 201);
  ASSERT_EQ(b.Upload("iris", {{"framework", "onnx"}}, model).status, 201);
  std::string cached =
      b.data_dir() + "/data/artifact-cache/sha256/" + sha.substr(0, 2) + "/" + sha;
  ASSERT_TRUE(std::filesystem::remove(cached));
  json d = Deploy(b, "iris", 1);
  EXPECT_EQ(d["state"], "failed") << d;
  EXPECT_NE(d["message"].get<std::string>().find("failed verification"), std::string::npos) << d;
  std::vector<std::string> auth = {"Authorization: Bearer " + b.admin()};
  EXPECT_EQ(Http("POST", b.Url("/v2/models/iris/infer"), kIrisRequest, auth).status, 404);
  HttpResult dl = Http("GET", b.Url("/api/v1/models/iris/versions/1/artifact"), "", auth);
  EXPECT_EQ(dl.status, 500);
  EXPECT_NE(dl.body.find("failed verification"), std::string::npos) << dl.body;
  std::string metrics = Http("GET", b.Url("/metrics"), "", auth).body;
  EXPECT_GE(MetricValue(metrics, "hotswap_artifact_integrity_failures_total{store=\"s3\"}"), 2)
      << metrics;
  EXPECT_FALSE(std::filesystem::exists(cached));
}

// Sends an upload in two halves over one connection, running `between` after the first half;
// returns the raw HTTP response.
std::string SplitUpload(int port, const std::string& token, const std::string& model,
                        const std::string& data, const std::function<void()>& between) {
  Multipart mp;
  mp.Field("metadata", R"({"framework":"onnx"})").File("artifact", "model.onnx", data);
  std::string body = mp.Finish();
  std::string head = "POST /api/v1/models/" + model + "/versions HTTP/1.1\r\nHost: x\r\n" +
                     "Authorization: Bearer " + token + "\r\n" + mp.ContentType() +
                     "\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nConnection: close\r\n\r\n";
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "";
  std::string first = head + body.substr(0, body.size() / 2);
  std::string second = body.substr(body.size() / 2);
  send(fd, first.data(), first.size(), MSG_NOSIGNAL);
  between();
  send(fd, second.data(), second.size(), MSG_NOSIGNAL);
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) resp.append(buf, n);
  close(fd);
  return resp;
}

TEST(S3ServerTest, MinioStoppedDuringAnUploadIsA503ThatRegistersNothingAndTheNextUploadWorks) {
  auto minio = StartMinio("models");
  ASSERT_NE(minio, nullptr);
  TestServer s(OnS3(*minio, "models"));
  ASSERT_EQ(s.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 201);
  std::string model = DemoModel();
  std::string resp = SplitUpload(s.port(), s.admin(), "iris", model,
                                 [&] { ASSERT_TRUE(minio->Stop().ok()); });
  ASSERT_FALSE(resp.empty());
  EXPECT_EQ(resp.rfind("HTTP/1.1 503", 0), 0u) << resp;
  json err = json::parse(resp.substr(resp.find("\r\n\r\n") + 4), nullptr, false);
  ASSERT_TRUE(err.is_object()) << resp;
  EXPECT_EQ(err["error"]["code"], "unavailable");
  std::string message = err["error"]["message"];
  EXPECT_NE(message.find("/models/hotswap/sha256/"), std::string::npos) << message;
  EXPECT_NE(message.find(minio->endpoint()), std::string::npos) << message;
  EXPECT_NE(message.find("gave up after 2 attempts"), std::string::npos) << message;
  EXPECT_EQ(s.Call("GET", "/api/v1/models/iris/versions").json()["versions"].size(), 0u);
  EXPECT_TRUE(testing_util::ListFiles(s.data_dir() + "/data/artifact-cache").empty())
      << "no staged or cached copy is left behind";

  ASSERT_TRUE(minio->Restart().ok());
  HttpResult up = s.Upload("iris", {{"framework", "onnx"}}, model);
  ASSERT_EQ(up.status, 201) << up.body;
  EXPECT_EQ(up.json()["version"], 1);
  EXPECT_EQ(Deploy(s, "iris", 1)["state"], "succeeded");
}

TEST(S3ServerTest, TwoServersSharingPostgresAndABucketServeEachOthersVersions) {
  auto pg = registry::testing::PgTestServer::Shared();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->CreateDatabase("s3_two_servers").ok());
  auto minio = StartMinio("shared");
  ASSERT_NE(minio, nullptr);
  server::ServerConfig config = OnS3(*minio, "shared");
  config.registry_url =
      "postgresql://hotswap@127.0.0.1:" + std::to_string((*pg)->port()) + "/s3_two_servers";
  TestServer a(config);
  TestServer b(config);
  const std::string token = a.admin();
  ASSERT_FALSE(token.empty());
  ASSERT_EQ(a.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 201);
  ASSERT_EQ(a.Upload("iris", {{"framework", "onnx"}}, DemoModel()).status, 201);

  json listed = b.Call("GET", "/api/v1/models/iris/versions", nullptr, token).json();
  ASSERT_EQ(listed["versions"].size(), 1u);
  EXPECT_EQ(Deploy(b, "iris", 1, token)["state"], "succeeded");
  std::vector<std::string> auth = {"Authorization: Bearer " + token};
  HttpResult inf = Http("POST", b.Url("/v2/models/iris/infer"), kIrisRequest, auth);
  EXPECT_EQ(inf.status, 200) << inf.body;
  EXPECT_EQ(inf.headers["x-hotswap-model-version"], "1");
  std::string metrics = Http("GET", b.Url("/metrics"), "", auth).body;
  EXPECT_EQ(MetricValue(metrics, "hotswap_artifact_downloads_total{store=\"s3\"}"), 1) << metrics;
  EXPECT_EQ(MetricValue(metrics, "hotswap_artifact_uploads_total{store=\"s3\"}"), 0);
}

TEST(S3ServerTest, BadS3ConfigurationStopsStartUpWithAClearErrorAndNoSecretInIt) {
  auto minio = StartMinio("models");
  ASSERT_NE(minio, nullptr);
  testing_util::TempDir dir;
  static std::mutex mu;
  static std::vector<std::string> lines;
  log::SetSink([](const std::string& line) {
    std::lock_guard<std::mutex> l(mu);
    lines.push_back(line);
  });
  auto create = [&](server::ServerConfig c) {
    c.data_dir = dir.path() + "/data";
    c.http_address = "127.0.0.1:0";
    return server::Server::Create(c);
  };
  server::ServerConfig c = OnS3(*minio, "models");
  c.s3_secret_access_key = "super-secret-value-123";
  auto s = create(c);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(s.status())) << s.status();
  EXPECT_EQ(std::string(s.status().message()).find("super-secret-value-123"), std::string::npos);

  c = OnS3(*minio, "no-such-bucket");
  s = create(c);
  EXPECT_TRUE(absl::IsFailedPrecondition(s.status())) << s.status();
  EXPECT_NE(s.status().message().find("does not exist"), absl::string_view::npos);

  c = OnS3(*minio, "models");
  c.artifacts_url = "gs://models";
  s = create(c);
  EXPECT_TRUE(absl::IsInvalidArgument(s.status()));
  EXPECT_NE(s.status().message().find("s3://bucket"), absl::string_view::npos);

  // A good configuration starts, and the secret appears in no log line.
  c = OnS3(*minio, "models");
  c.s3_secret_access_key = MinioTestServer::kSecretKey;
  s = create(c);
  ASSERT_TRUE(s.ok()) << s.status();
  log::SetSink(nullptr);
  std::lock_guard<std::mutex> l(mu);
  bool saw_store_line = false;
  for (const std::string& line : lines) {
    EXPECT_EQ(line.find(MinioTestServer::kSecretKey), std::string::npos) << line;
    EXPECT_EQ(line.find("super-secret-value-123"), std::string::npos) << line;
    if (line.find("artifact store: S3") != std::string::npos) saw_store_line = true;
  }
  EXPECT_TRUE(saw_store_line);
}

}  // namespace
}  // namespace hotswap
