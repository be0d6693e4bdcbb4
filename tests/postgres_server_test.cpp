// The server with its registry on a real PostgreSQL (`--registry-url`): the same API behaviour
// as on SQLite, durability across restarts, and two servers sharing one database.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "registry/postgres/pg_test_server.h"
#include "tests/test_util.h"

namespace hotswap {
namespace {

using nlohmann::json;
using testing_util::Http;
using testing_util::HttpResult;
using testing_util::TestServer;

std::string DemoModel() {
  std::ifstream in(std::string(HOTSWAP_DEMO_MODELS_DIR) + "/iris.onnx", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string FreshDatabase(const std::string& name) {
  auto pg = registry::testing::PgTestServer::Shared();
  if (!pg.ok()) {
    ADD_FAILURE() << "cannot start PostgreSQL for the test: " << pg.status();
    return "";
  }
  absl::Status s = (*pg)->CreateDatabase(name);
  EXPECT_TRUE(s.ok()) << s;
  return "postgresql://hotswap@127.0.0.1:" + std::to_string((*pg)->port()) + "/" + name;
}

server::ServerConfig OnPostgres(const std::string& url) {
  server::ServerConfig c;
  c.registry_url = url;
  return c;
}

const char* kIrisRequest =
    R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]})";

TEST(PostgresServerTest, RegistersDeploysServesAndSurvivesARestart) {
  std::string url = FreshDatabase("server_restart");
  ASSERT_FALSE(url.empty());
  TestServer s(OnPostgres(url));
  ASSERT_EQ(s.Call("POST", "/api/v1/models", {{"name", "iris"}, {"tags", {{"team", "ml"}}}}).status, 201);
  HttpResult dup = s.Call("POST", "/api/v1/models", {{"name", "iris"}});
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(dup.json()["error"]["code"], "already_exists");
  EXPECT_EQ(s.Call("GET", "/api/v1/models/nope").status, 404);
  HttpResult up = s.Upload("iris", {{"framework", "onnx"}}, DemoModel());
  ASSERT_EQ(up.status, 201) << up.body;
  ASSERT_EQ(s.Call("PUT", "/api/v1/models/iris/aliases/production", {{"version", 1}}).status, 200);
  HttpResult d = s.Call("POST", "/api/v1/deployments", {{"model", "iris"}, {"alias", "production"}});
  ASSERT_EQ(d.status, 202) << d.body;
  std::string id = d.json()["id"];
  ASSERT_TRUE(testing_util::WaitFor(
      [&] { return s.Call("GET", "/api/v1/deployments/" + id).json()["state"] != "pending"; }));
  EXPECT_EQ(s.Call("GET", "/api/v1/deployments/" + id).json()["state"], "succeeded");
  std::vector<std::string> auth = {"Authorization: Bearer " + s.admin()};
  EXPECT_EQ(Http("POST", s.Url("/v2/models/iris/infer"), kIrisRequest, auth).status, 200);

  s.Restart();
  json v = s.Call("GET", "/api/v1/models/iris/versions/production").json();
  EXPECT_EQ(v["version"], 1);
  EXPECT_EQ(v["status"], "deployed");
  EXPECT_EQ(s.Call("GET", "/api/v1/models?tag=team=ml").json()["models"].size(), 1u);
  HttpResult after = Http("POST", s.Url("/v2/models/iris/infer"), kIrisRequest, auth);
  EXPECT_EQ(after.status, 200) << "the deployment is restored from PostgreSQL";
  EXPECT_EQ(after.headers["x-hotswap-model-version"], "1");
}

TEST(PostgresServerTest, TwoServersShareOneRegistry) {
  std::string url = FreshDatabase("server_shared");
  ASSERT_FALSE(url.empty());
  TestServer a(OnPostgres(url));
  TestServer b(OnPostgres(url));
  EXPECT_FALSE(a.admin().empty());
  EXPECT_TRUE(b.admin().empty()) << "the admin token is created once per registry";
  const std::string token = a.admin();
  ASSERT_EQ(a.Call("POST", "/api/v1/models", {{"name", "fraud"}}).status, 201);
  ASSERT_EQ(a.Upload("fraud", {{"framework", "onnx"}}, "bytes").status, 201);
  json listed = b.Call("GET", "/api/v1/models/fraud/versions", nullptr, token).json();
  ASSERT_EQ(listed["versions"].size(), 1u);
  EXPECT_EQ(listed["versions"][0]["sha256"].get<std::string>().size(), 64u);
  // Both register the same explicit version: exactly one wins.
  HttpResult ra = a.Upload("fraud", {{"framework", "onnx"}, {"version", 5}}, "a");
  HttpResult rb = b.Upload("fraud", {{"framework", "onnx"}, {"version", 5}}, "b", {}, token);
  EXPECT_EQ((ra.status == 201) + (rb.status == 201), 1) << ra.body << rb.body;
  EXPECT_EQ((ra.status == 409) + (rb.status == 409), 1);
}

class PgEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { registry::testing::PgTestServer::StopShared(); }
};
const auto* const kPgEnvironment = ::testing::AddGlobalTestEnvironment(new PgEnvironment);

}  // namespace
}  // namespace hotswap
