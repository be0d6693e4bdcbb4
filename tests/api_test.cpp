// Management REST API tests: real HTTP against a server started in-process on port 0 with a
// temp data dir. Bad-input tests check the status code, the error body and that nothing changed.
//
// The same tests run twice: api_test with the registry on SQLite (the default), and api_pg_test
// (built with HOTSWAP_API_TEST_REGISTRY="postgresql") with every server's registry in a fresh
// database of a real PostgreSQL server (registry/postgres/pg_test_server.h; under ctest the one
// the postgres_server fixture starts).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <stdexcept>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/sha256.h"
#include "registry/postgres/pg_test_server.h"
#include "tests/test_util.h"

#ifndef HOTSWAP_API_TEST_REGISTRY
#define HOTSWAP_API_TEST_REGISTRY "sqlite"
#endif

namespace hotswap {
namespace {

using nlohmann::json;
using testing_util::Http;
using testing_util::HttpResult;
using testing_util::Multipart;
using testing_util::RawHttp;
using testing_util::TestServer;

const std::string kArtifact = std::string("ONNX\0fake-model-bytes\r\n--not-a-boundary", 40);

constexpr bool kOnPostgres = std::string_view(HOTSWAP_API_TEST_REGISTRY) == "postgresql";

// `config` with the registry this binary tests: unchanged on SQLite (the server's data dir); on
// PostgreSQL a new database for each server a test starts, named after the test (at most 63
// characters, PostgreSQL's limit: long names keep a prefix and a hash of the whole name).
server::ServerConfig OnTestRegistry(server::ServerConfig config = {}) {
  if (!kOnPostgres) return config;
  static int servers = 0;  // numbers the servers of one test (and of one process)
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string full =
      info == nullptr ? "no_test" : absl::StrCat(info->test_suite_name(), "_", info->name());
  std::string name = "api_";
  for (char c : full) name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name.size() > 50) {
    name = absl::StrFormat("%s_%08x", name.substr(0, 41),
                           static_cast<uint32_t>(std::hash<std::string>{}(name)));
  }
  absl::StrAppend(&name, "_", ++servers);
  auto pg = registry::testing::PgTestServer::Shared();
  if (!pg.ok()) {
    throw std::runtime_error(
        absl::StrCat("cannot start PostgreSQL for the test: ", pg.status().ToString()));
  }
  if (absl::Status s = (*pg)->CreateDatabase(name); !s.ok()) throw std::runtime_error(s.ToString());
  config.registry_url = absl::StrCat("postgresql://hotswap@127.0.0.1:", (*pg)->port(), "/", name);
  return config;
}

// Stops the PostgreSQL server this binary started itself (none under ctest's fixture).
class PgEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { registry::testing::PgTestServer::StopShared(); }
};
const auto* const kPgEnvironment =
    kOnPostgres ? ::testing::AddGlobalTestEnvironment(new PgEnvironment) : nullptr;

// Asserts the management error shape and returns the code.
std::string ErrorCode(const HttpResult& r) {
  json j = r.json();
  EXPECT_TRUE(j.is_object() && j.contains("error") && j["error"].is_object()) << r.body;
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return "";
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  return j["error"]["code"].get<std::string>();
}

std::vector<std::string> Blobs(const TestServer& s) {
  return testing_util::ListFiles(s.data_dir() + "/data/artifacts/sha256");
}

class ApiTest : public ::testing::Test {
 protected:
  void CreateModel(const std::string& name, json extra = json::object()) {
    extra["name"] = name;
    HttpResult r = s_.Call("POST", "/api/v1/models", extra);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  int64_t UploadOk(const std::string& model, json meta = {{"framework", "onnx"}},
                   const std::string& data = kArtifact) {
    HttpResult r = s_.Upload(model, meta, data);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("version", int64_t{0});
  }
  int VersionCount(const std::string& model) {
    HttpResult r = s_.Call("GET", "/api/v1/models/" + model + "/versions");
    return r.status == 200 ? static_cast<int>(r.json()["versions"].size()) : -1;
  }
  int ModelCount() {
    HttpResult r = s_.Call("GET", "/api/v1/models");
    return static_cast<int>(r.json()["models"].size());
  }
  TestServer s_{OnTestRegistry()};
};

TEST_F(ApiTest, HealthEndpointsNeedNoToken) {
  HttpResult h = s_.Call("GET", "/healthz", nullptr, "");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.json()["status"], "ok");
  HttpResult r = s_.Call("GET", "/readyz", nullptr, "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["status"], "ready");
}

TEST_F(ApiTest, CreateModelReturns201WithLocationAndBody) {
  HttpResult r = s_.Call("POST", "/api/v1/models",
                         {{"name", "iris"}, {"description", "flowers"}, {"tags", {{"team", "ml"}}}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.headers["location"], "/api/v1/models/iris");
  json j = r.json();
  EXPECT_EQ(j["name"], "iris");
  EXPECT_EQ(j["description"], "flowers");
  EXPECT_EQ(j["tags"]["team"], "ml");
  EXPECT_TRUE(j["created_at"].is_string());
}

TEST_F(ApiTest, CreateModelWithOnlyNameUsesDefaults) {
  HttpResult r = s_.Call("POST", "/api/v1/models", {{"name", "bare"}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json()["description"], "");
}

TEST_F(ApiTest, DuplicateModelNameIs409AndKeepsTheFirst) {
  CreateModel("iris", {{"description", "first"}});
  HttpResult r = s_.Call("POST", "/api/v1/models", {{"name", "iris"}, {"description", "second"}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ErrorCode(r), "already_exists");
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris").json()["description"], "first");
}

TEST_F(ApiTest, GetModelShowsAliases) {
  CreateModel("iris");
  UploadOk("iris");
  ASSERT_EQ(s_.Call("PUT", "/api/v1/models/iris/aliases/production", {{"version", 1}}).status, 200);
  HttpResult r = s_.Call("GET", "/api/v1/models/iris");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["aliases"]["production"], 1);
}

TEST_F(ApiTest, ListModelsPaginatesWithoutGapsOrDuplicates) {
  for (int i = 0; i < 7; ++i) CreateModel("m" + std::to_string(i));
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    std::string path = "/api/v1/models?limit=3" + (token.empty() ? "" : "&page_token=" + token);
    HttpResult r = s_.Call("GET", path);
    ASSERT_EQ(r.status, 200) << r.body;
    json page = r.json();
    for (const auto& m : page["models"]) seen.push_back(m["name"]);
    token = r.json()["next_page_token"];
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4", "m5", "m6"}));
}

TEST_F(ApiTest, ListModelsFiltersByPrefixTagAndFramework) {
  CreateModel("fraud-a", {{"tags", {{"team", "risk"}}}});
  CreateModel("fraud-b");
  CreateModel("iris", {{"tags", {{"team", "risk"}}}});
  UploadOk("fraud-b", {{"framework", "xgboost"}});
  auto names = [&](const std::string& q) {
    std::vector<std::string> out;
    json page = s_.Call("GET", "/api/v1/models?" + q).json();
    for (const auto& m : page["models"]) out.push_back(m["name"]);
    return out;
  };
  EXPECT_EQ(names("name_prefix=fraud"), (std::vector<std::string>{"fraud-a", "fraud-b"}));
  EXPECT_EQ(names("tag=team=risk"), (std::vector<std::string>{"fraud-a", "iris"}));
  EXPECT_EQ(names("framework=xgboost"), (std::vector<std::string>{"fraud-b"}));
}

TEST_F(ApiTest, ListModelsRejectsBadQueryParameters) {
  EXPECT_EQ(s_.Call("GET", "/api/v1/models?limit=0").status, 400);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models?limit=abc").status, 400);
  HttpResult r = s_.Call("GET", "/api/v1/models?framework=caffe");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "invalid_argument");
  EXPECT_EQ(s_.Call("GET", "/api/v1/models?tag=novalue").status, 400);
}

TEST_F(ApiTest, PatchModelUpdatesDescriptionAndTags) {
  CreateModel("iris", {{"tags", {{"a", "1"}}}});
  HttpResult r = s_.Call("PATCH", "/api/v1/models/iris",
                         {{"description", "new"}, {"tags", {{"b", "2"}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = s_.Call("GET", "/api/v1/models/iris").json();
  EXPECT_EQ(j["description"], "new");
  EXPECT_EQ(j["tags"], (json{{"b", "2"}}));
}

TEST_F(ApiTest, PatchModelWithWrongTypeIs400AndChangesNothing) {
  CreateModel("iris", {{"description", "keep"}});
  HttpResult r = s_.Call("PATCH", "/api/v1/models/iris", {{"description", 42}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "invalid_argument");
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris").json()["description"], "keep");
}

TEST_F(ApiTest, DeleteModelRemovesVersionsAndUnreferencedArtifacts) {
  CreateModel("iris");
  UploadOk("iris");
  ASSERT_EQ(Blobs(s_).size(), 1u);
  HttpResult r = s_.Call("DELETE", "/api/v1/models/iris");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["artifacts_removed"], 1);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris").status, 404);
  EXPECT_TRUE(Blobs(s_).empty());
}

TEST_F(ApiTest, DeleteModelKeepsArtifactsSharedWithOtherModels) {
  CreateModel("a");
  CreateModel("b");
  UploadOk("a");
  UploadOk("b");  // same bytes, same blob
  ASSERT_EQ(s_.Call("DELETE", "/api/v1/models/a").status, 200);
  EXPECT_EQ(Blobs(s_).size(), 1u);
  HttpResult d = s_.Call("GET", "/api/v1/models/b/versions/1/artifact");
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(d.body, kArtifact);
}

TEST_F(ApiTest, DeleteModelIsRefusedWhileAVersionIsDeployedUnlessForced) {
  CreateModel("iris");
  UploadOk("iris");
  ASSERT_EQ(s_.Call("PATCH", "/api/v1/models/iris/versions/1", {{"status", "deployed"}}).status, 200);
  HttpResult r = s_.Call("DELETE", "/api/v1/models/iris");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ErrorCode(r), "failed_precondition");
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris").status, 200);
  EXPECT_EQ(s_.Call("DELETE", "/api/v1/models/iris?force=true").status, 200);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris").status, 404);
}

TEST_F(ApiTest, DeleteModelNeedsAdminRole) {
  CreateModel("iris");
  std::string editor = s_.TokenFor("editor");
  HttpResult r = s_.Call("DELETE", "/api/v1/models/iris", nullptr, editor);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(ErrorCode(r), "permission_denied");
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris").status, 200);
}

TEST_F(ApiTest, UploadAsCurlSendsItReturnsVersionAndSha256) {
  CreateModel("iris");
  HttpResult r = s_.Upload("iris", {{"framework", "onnx"}}, kArtifact);
  ASSERT_EQ(r.status, 201) << r.body;
  json j = r.json();
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["sha256"], Sha256Hex(kArtifact));
  EXPECT_EQ(j["size_bytes"], static_cast<int64_t>(kArtifact.size()));
  EXPECT_EQ(j["status"], "registered");
  EXPECT_EQ(j["created_by"], "admin");
  EXPECT_EQ(r.headers["location"], "/api/v1/models/iris/versions/1");
}

TEST_F(ApiTest, UploadWithFullMetadataRoundTrips) {
  CreateModel("iris");
  json meta = {
      {"framework", "onnx"},
      {"schema", {{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {-1, 4}}}}},
                  {"outputs", {{{"name", "y"}, {"datatype", "FP32"}, {"shape", {-1, 3}}}}}}},
      {"training", {{"framework", "sklearn"}, {"run_id", "run-7"},
                    {"dataset_sha256", Sha256Hex("data")}, {"hyperparameters", {{"C", 1.5}}}}},
      {"baseline", {{"latency_p50_ms", 2.0}, {"latency_p99_ms", 10.0}}},
      {"tags", {{"stage", "exp"}}}};
  HttpResult r = s_.Upload("iris", meta, kArtifact);
  ASSERT_EQ(r.status, 201) << r.body;
  json got = s_.Call("GET", "/api/v1/models/iris/versions/1").json();
  EXPECT_EQ(got["schema"], meta["schema"]);
  EXPECT_EQ(got["training"]["run_id"], "run-7");
  EXPECT_EQ(got["training"]["hyperparameters"]["C"], 1.5);
  EXPECT_EQ(got["baseline"]["latency_p99_ms"], 10.0);
  EXPECT_EQ(got["tags"]["stage"], "exp");
}

TEST_F(ApiTest, UploadedVersionsAutoIncrementAndRecordLineage) {
  CreateModel("iris");
  EXPECT_EQ(UploadOk("iris"), 1);
  EXPECT_EQ(UploadOk("iris", {{"framework", "onnx"}, {"parent_version", 1}}, "other bytes"), 2);
  json v2 = s_.Call("GET", "/api/v1/models/iris/versions/2").json();
  EXPECT_EQ(v2["parent_version"], 1);
  EXPECT_EQ(VersionCount("iris"), 2);
}

TEST_F(ApiTest, UploadWithMissingParentIs400AndRegistersNothing) {
  CreateModel("iris");
  HttpResult r = s_.Upload("iris", {{"framework", "onnx"}, {"parent_version", 5}}, kArtifact);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "invalid_argument");
  EXPECT_EQ(VersionCount("iris"), 0);
  EXPECT_TRUE(Blobs(s_).empty());
}

TEST_F(ApiTest, ClientNamedVersionIsKeptAndDuplicateIs409) {
  CreateModel("iris");
  EXPECT_EQ(UploadOk("iris", {{"framework", "onnx"}, {"version", 10}}), 10);
  HttpResult r = s_.Upload("iris", {{"framework", "onnx"}, {"version", 10}}, "different bytes");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ErrorCode(r), "already_exists");
  EXPECT_EQ(VersionCount("iris"), 1);
  EXPECT_EQ(Blobs(s_).size(), 1u);  // the refused upload left no blob
  EXPECT_EQ(UploadOk("iris"), 11);
}

TEST_F(ApiTest, MetadataPartMayFollowTheArtifact) {
  CreateModel("iris");
  Multipart mp;
  mp.File("artifact", "m.onnx", kArtifact).Field("metadata", R"({"framework":"onnx"})");
  HttpResult r = Http("POST", s_.Url("/api/v1/models/iris/versions"), mp.Finish(),
                      {"Authorization: Bearer " + s_.admin(), mp.ContentType()});
  EXPECT_EQ(r.status, 201) << r.body;
}

TEST_F(ApiTest, GetVersionByNumberAndByAlias) {
  CreateModel("iris");
  UploadOk("iris");
  UploadOk("iris", {{"framework", "onnx"}}, "v2");
  ASSERT_EQ(s_.Call("PUT", "/api/v1/models/iris/aliases/staging", {{"version", 2}}).status, 200);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris/versions/1").json()["version"], 1);
  json v = s_.Call("GET", "/api/v1/models/iris/versions/staging").json();
  EXPECT_EQ(v["version"], 2);
  EXPECT_EQ(v["aliases"], (json{"staging"}));
}

TEST_F(ApiTest, ListVersionsPaginates) {
  CreateModel("iris");
  for (int i = 0; i < 5; ++i) UploadOk("iris", {{"framework", "onnx"}}, "bytes" + std::to_string(i));
  HttpResult p1 = s_.Call("GET", "/api/v1/models/iris/versions?limit=3");
  ASSERT_EQ(p1.status, 200);
  EXPECT_EQ(p1.json()["versions"].size(), 3u);
  std::string token = p1.json()["next_page_token"];
  ASSERT_FALSE(token.empty());
  HttpResult p2 = s_.Call("GET", "/api/v1/models/iris/versions?limit=3&page_token=" + token);
  ASSERT_EQ(p2.json()["versions"].size(), 2u);
  EXPECT_EQ(p2.json()["versions"][0]["version"], 4);
  EXPECT_EQ(p2.json()["next_page_token"], "");
}

TEST_F(ApiTest, PatchVersionSetsStatusAndTagsAndRejectsUnknownStatus) {
  CreateModel("iris");
  UploadOk("iris");
  HttpResult r = s_.Call("PATCH", "/api/v1/models/iris/versions/1",
                         {{"status", "validated"}, {"tags", {{"k", "v"}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["status"], "validated");
  EXPECT_EQ(r.json()["tags"]["k"], "v");
  HttpResult bad = s_.Call("PATCH", "/api/v1/models/iris/versions/1", {{"status", "shipped"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris/versions/1").json()["status"], "validated");
}

TEST_F(ApiTest, DownloadReturnsTheExactBytesWithDigestHeader) {
  CreateModel("iris");
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + 7);
  UploadOk("iris", {{"framework", "onnx"}}, big);
  HttpResult r = s_.Call("GET", "/api/v1/models/iris/versions/1/artifact");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), big.size());
  EXPECT_TRUE(r.body == big);
  EXPECT_EQ(r.headers["x-content-sha256"], Sha256Hex(big));
  EXPECT_EQ(r.headers["content-type"], "application/octet-stream");
}

TEST_F(ApiTest, CorruptArtifactIsRefusedNotServed) {
  CreateModel("iris");
  UploadOk("iris");
  std::string digest = Sha256Hex(kArtifact);
  std::string path = s_.data_dir() + "/data/artifacts/sha256/" + digest.substr(0, 2) + "/" + digest;
  ASSERT_TRUE(std::filesystem::exists(path));
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1);
    f.put('#');  // was 'N'
  }
  HttpResult r = s_.Call("GET", "/api/v1/models/iris/versions/1/artifact");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(ErrorCode(r), "data_loss");
  EXPECT_EQ(r.body.find("fake-model-bytes"), std::string::npos);
}

TEST_F(ApiTest, AliasIsCreatedMovedAndDeleted) {
  CreateModel("iris");
  UploadOk("iris");
  UploadOk("iris", {{"framework", "onnx"}}, "v2");
  ASSERT_EQ(s_.Call("PUT", "/api/v1/models/iris/aliases/production", {{"version", 1}}).status, 200);
  HttpResult moved = s_.Call("PUT", "/api/v1/models/iris/aliases/production", {{"version", 2}});
  ASSERT_EQ(moved.status, 200);
  EXPECT_EQ(moved.json()["version"], 2);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris/aliases").json()["aliases"]["production"], 2);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris/versions/1").json()["aliases"], json::array());
  EXPECT_EQ(s_.Call("DELETE", "/api/v1/models/iris/aliases/production").status, 204);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris/versions/production").status, 404);
  EXPECT_EQ(s_.Call("DELETE", "/api/v1/models/iris/aliases/production").status, 404);
}

TEST_F(ApiTest, AliasToMissingVersionIs404AndBadBodyIs400) {
  CreateModel("iris");
  UploadOk("iris");
  HttpResult r = s_.Call("PUT", "/api/v1/models/iris/aliases/production", {{"version", 9}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorCode(r), "not_found");
  HttpResult t = s_.Call("PUT", "/api/v1/models/iris/aliases/production", {{"version", "one"}});
  EXPECT_EQ(t.status, 400);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris/aliases").json()["aliases"], json::object());
}

TEST_F(ApiTest, TokensAreCreatedListedAndRevoked) {
  HttpResult c = s_.Call("POST", "/api/v1/tokens", {{"name", "ci"}, {"role", "viewer"}});
  ASSERT_EQ(c.status, 201) << c.body;
  std::string secret = c.json()["token"];
  EXPECT_EQ(secret.rfind("hs_", 0), 0u);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models", nullptr, secret).status, 200);
  HttpResult l = s_.Call("GET", "/api/v1/tokens");
  ASSERT_EQ(l.status, 200);
  EXPECT_EQ(l.json()["tokens"].size(), 2u);
  EXPECT_EQ(l.body.find(secret), std::string::npos);  // secrets are never listed
  EXPECT_EQ(s_.Call("DELETE", "/api/v1/tokens/ci").status, 204);
  HttpResult after = s_.Call("GET", "/api/v1/models", nullptr, secret);
  EXPECT_EQ(after.status, 401);
  EXPECT_EQ(ErrorCode(after), "unauthenticated");
}

TEST_F(ApiTest, TokenCreateRejectsUnknownRoleAndDuplicateName) {
  EXPECT_EQ(s_.Call("POST", "/api/v1/tokens", {{"name", "x"}, {"role", "root"}}).status, 400);
  ASSERT_EQ(s_.Call("POST", "/api/v1/tokens", {{"name", "x"}, {"role", "viewer"}}).status, 201);
  EXPECT_EQ(s_.Call("POST", "/api/v1/tokens", {{"name", "x"}, {"role", "admin"}}).status, 409);
  EXPECT_EQ(s_.Call("GET", "/api/v1/tokens").json()["tokens"].size(), 2u);
}

TEST_F(ApiTest, NonAdminCannotManageTokens) {
  std::string editor = s_.TokenFor("editor");
  HttpResult r = s_.Call("POST", "/api/v1/tokens", {{"name", "sneaky"}, {"role", "admin"}}, editor);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(s_.Call("GET", "/api/v1/tokens").json()["tokens"].size(), 2u);
}

// ---- bad input -------------------------------------------------------------------------------

TEST_F(ApiTest, MissingTokenIs401WithChallengeAndWritesNothing) {
  HttpResult r = s_.Call("POST", "/api/v1/models", {{"name", "iris"}}, "");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(ErrorCode(r), "unauthenticated");
  EXPECT_EQ(r.headers["www-authenticate"], "Bearer");
  EXPECT_EQ(ModelCount(), 0);
}

TEST_F(ApiTest, UnknownTokenIs401AndMalformedHeaderIs401) {
  EXPECT_EQ(s_.Call("GET", "/api/v1/models", nullptr, "hs_not-a-real-token").status, 401);
  HttpResult r = Http("GET", s_.Url("/api/v1/models"), "", {"Authorization: Basic abc"});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(ErrorCode(r), "unauthenticated");
}

TEST_F(ApiTest, ViewerCannotWriteAndNothingIsWritten) {
  std::string viewer = s_.TokenFor("viewer");
  HttpResult r = s_.Call("POST", "/api/v1/models", {{"name", "iris"}}, viewer);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(ErrorCode(r), "permission_denied");
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("viewer"), std::string::npos);
  EXPECT_EQ(ModelCount(), 0);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models", nullptr, viewer).status, 200);
}

TEST_F(ApiTest, ViewerCannotUploadAndNoBlobIsWritten) {
  CreateModel("iris");
  std::string viewer = s_.TokenFor("viewer");
  HttpResult r = s_.Upload("iris", {{"framework", "onnx"}}, kArtifact, {}, viewer);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(VersionCount("iris"), 0);
  EXPECT_TRUE(Blobs(s_).empty());
}

TEST_F(ApiTest, MalformedJsonIs400AndWritesNothing) {
  HttpResult r = s_.Call("POST", "/api/v1/models", json("{\"name\": \"iris\""));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "invalid_argument");
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("malformed JSON"), std::string::npos);
  EXPECT_EQ(ModelCount(), 0);
}

TEST_F(ApiTest, WrongTypesAndUnknownFieldsAre400) {
  EXPECT_EQ(s_.Call("POST", "/api/v1/models", {{"name", 5}}).status, 400);
  EXPECT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "a"}, {"tags", {{"k", 1}}}}).status, 400);
  HttpResult r = s_.Call("POST", "/api/v1/models", {{"name", "a"}, {"descripton", "typo"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("descripton"), std::string::npos);
  EXPECT_EQ(s_.Call("POST", "/api/v1/models", json("[1,2]")).status, 400);
  EXPECT_EQ(ModelCount(), 0);
}

TEST_F(ApiTest, InvalidModelNameIs400WithFieldPath) {
  HttpResult r = s_.Call("POST", "/api/v1/models", {{"name", "bad name!"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("name"), std::string::npos);
  EXPECT_EQ(s_.Call("POST", "/api/v1/models", {{"name", ""}}).status, 400);
  EXPECT_EQ(ModelCount(), 0);
}

TEST_F(ApiTest, UnknownModelIs404Everywhere) {
  EXPECT_EQ(ErrorCode(s_.Call("GET", "/api/v1/models/nope")), "not_found");
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/nope/versions").status, 404);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/nope/versions/1").status, 404);
  EXPECT_EQ(s_.Call("PATCH", "/api/v1/models/nope", {{"description", "x"}}).status, 404);
  EXPECT_EQ(s_.Call("DELETE", "/api/v1/models/nope").status, 404);
  HttpResult up = s_.Upload("nope", {{"framework", "onnx"}}, kArtifact);
  EXPECT_EQ(up.status, 404);
  EXPECT_TRUE(Blobs(s_).empty());
}

TEST_F(ApiTest, JsonBodyOverTheLimitIs413) {
  std::string huge = "{\"name\":\"x\",\"description\":\"" + std::string(2 << 20, 'a') + "\"}";
  HttpResult r = s_.Call("POST", "/api/v1/models", json(huge));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(ErrorCode(r), "resource_exhausted");
  EXPECT_EQ(ModelCount(), 0);
}

TEST_F(ApiTest, ChecksumMismatchIs422AndStoresNothing) {
  CreateModel("iris");
  HttpResult r = s_.Upload("iris", {{"framework", "onnx"}}, kArtifact,
                           {"X-Content-SHA256: " + Sha256Hex("something else")});
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(ErrorCode(r), "data_loss");
  EXPECT_EQ(VersionCount("iris"), 0);
  EXPECT_TRUE(Blobs(s_).empty());
  HttpResult ok = s_.Upload("iris", {{"framework", "onnx"}}, kArtifact,
                            {"X-Content-SHA256: " + Sha256Hex(kArtifact)});
  EXPECT_EQ(ok.status, 201) << ok.body;
}

TEST_F(ApiTest, MalformedChecksumHeaderIs400) {
  CreateModel("iris");
  HttpResult r = s_.Upload("iris", {{"framework", "onnx"}}, kArtifact, {"X-Content-SHA256: xyz"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(VersionCount("iris"), 0);
}

TEST_F(ApiTest, UploadWithoutArtifactOrMetadataIs400) {
  CreateModel("iris");
  Multipart only_meta;
  only_meta.Field("metadata", R"({"framework":"onnx"})");
  HttpResult a = Http("POST", s_.Url("/api/v1/models/iris/versions"), only_meta.Finish(),
                      {"Authorization: Bearer " + s_.admin(), only_meta.ContentType()});
  EXPECT_EQ(a.status, 400);
  EXPECT_NE(a.body.find("artifact"), std::string::npos);
  Multipart only_file;
  only_file.File("artifact", "m.onnx", kArtifact);
  HttpResult b = Http("POST", s_.Url("/api/v1/models/iris/versions"), only_file.Finish(),
                      {"Authorization: Bearer " + s_.admin(), only_file.ContentType()});
  EXPECT_EQ(b.status, 400);
  EXPECT_NE(b.body.find("metadata"), std::string::npos);
  EXPECT_EQ(VersionCount("iris"), 0);
  EXPECT_TRUE(Blobs(s_).empty());
}

TEST_F(ApiTest, UploadThatIsNotMultipartIs400) {
  CreateModel("iris");
  HttpResult r = Http("POST", s_.Url("/api/v1/models/iris/versions"), "raw bytes",
                      {"Authorization: Bearer " + s_.admin(), "Content-Type: application/octet-stream"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "invalid_argument");
  EXPECT_EQ(VersionCount("iris"), 0);
}

TEST_F(ApiTest, InvalidMetadataIs400WithFieldPathsAndStoresNothing) {
  CreateModel("iris");
  json meta = {{"framework", "onnx"},
               {"schema", {{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {-3}}}}},
                           {"outputs", {{{"name", "y"}, {"datatype", "FP32"}, {"shape", {1}}}}}}}};
  HttpResult r = s_.Upload("iris", meta, kArtifact);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("inputs[0].shape"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(s_.Upload("iris", {{"framework", "caffe"}}, kArtifact).status, 400);
  EXPECT_EQ(s_.Upload("iris", {{"framework", "onnx"}, {"bogus", 1}}, kArtifact).status, 400);
  HttpResult mal = s_.Upload("iris", json("not json"), kArtifact);
  EXPECT_EQ(mal.status, 400);
  EXPECT_EQ(VersionCount("iris"), 0);
  EXPECT_TRUE(Blobs(s_).empty());
}

TEST_F(ApiTest, TruncatedMultipartBodyRegistersNothing) {
  CreateModel("iris");
  Multipart mp;
  mp.Field("metadata", R"({"framework":"onnx"})").File("artifact", "m.onnx", kArtifact);
  std::string body = mp.body;  // no closing delimiter
  HttpResult r = Http("POST", s_.Url("/api/v1/models/iris/versions"), body,
                      {"Authorization: Bearer " + s_.admin(), mp.ContentType()});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(VersionCount("iris"), 0);
  EXPECT_TRUE(Blobs(s_).empty());
}

TEST_F(ApiTest, ClientDisconnectMidUploadRegistersNothingAndLeavesNoTempFile) {
  CreateModel("iris");
  Multipart mp;
  mp.Field("metadata", R"({"framework":"onnx"})").File("artifact", "m.onnx", std::string(1 << 20, 'z'));
  std::string body = mp.Finish();
  std::string head = "POST /api/v1/models/iris/versions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                     s_.admin() + "\r\n" + mp.ContentType() + "\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n";
  std::string tmp_dir = s_.data_dir() + "/data/artifacts/tmp";
  testing_util::RawConnection conn(s_.port());
  ASSERT_TRUE(conn.Send(head + body.substr(0, body.size() / 2)));
  // The server is writing the artifact's temp file; now the client goes away.
  ASSERT_TRUE(testing_util::WaitFor([&] { return !testing_util::ListFiles(tmp_dir).empty(); }));
  conn.Close();
  EXPECT_TRUE(testing_util::WaitFor([&] { return testing_util::ListFiles(tmp_dir).empty(); }));
  EXPECT_EQ(VersionCount("iris"), 0);
  EXPECT_TRUE(Blobs(s_).empty());
  EXPECT_EQ(UploadOk("iris"), 1);  // the next upload works
}

TEST_F(ApiTest, ArtifactOverTheLimitIs413AndLeavesNothing) {
  server::ServerConfig cfg;
  cfg.max_artifact_bytes = 1000;
  TestServer small(OnTestRegistry(cfg));
  ASSERT_EQ(small.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 201);
  HttpResult r = small.Upload("iris", {{"framework", "onnx"}}, std::string(5000, 'q'));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(ErrorCode(r), "resource_exhausted");
  EXPECT_EQ(small.Call("GET", "/api/v1/models/iris/versions").json()["versions"].size(), 0u);
  EXPECT_TRUE(Blobs(small).empty());
  EXPECT_EQ(small.Upload("iris", {{"framework", "onnx"}}, std::string(900, 'q')).status, 201);
}

TEST_F(ApiTest, ArtifactStreamedOverTheLimitWithoutContentLengthIs413) {
  server::ServerConfig cfg;
  cfg.max_artifact_bytes = 1000;
  TestServer small(OnTestRegistry(cfg));
  ASSERT_EQ(small.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 201);
  Multipart mp;
  mp.Field("metadata", R"({"framework":"onnx"})").File("artifact", "m", std::string(5000, 'q'));
  std::string body = mp.Finish();
  char size_hex[32];
  snprintf(size_hex, sizeof size_hex, "%zx", body.size());
  std::string raw = "POST /api/v1/models/iris/versions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                    small.admin() + "\r\n" + mp.ContentType() +
                    "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + size_hex + "\r\n" +
                    body + "\r\n0\r\n\r\n";
  std::string resp = RawHttp(small.port(), raw);
  EXPECT_NE(resp.find("413"), std::string::npos) << resp;
  EXPECT_NE(resp.find("resource_exhausted"), std::string::npos);
  EXPECT_TRUE(Blobs(small).empty());
}

TEST_F(ApiTest, UnknownRouteIs404AndWrongMethodIs405WithJsonBodies) {
  HttpResult r = s_.Call("GET", "/api/v1/nothing-here");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorCode(r), "not_found");
  HttpResult m = s_.Call("PUT", "/api/v1/models");
  EXPECT_EQ(m.status, 405);
  EXPECT_NE(m.headers["allow"].find("GET"), std::string::npos);
  HttpResult v2 = s_.Call("GET", "/v2/nothing");
  EXPECT_EQ(v2.status, 404);
  EXPECT_TRUE(v2.json()["error"].is_string());  // the V2 protocol's error shape
}

TEST_F(ApiTest, RequestIdIsEchoedOrGenerated) {
  HttpResult mine = Http("GET", s_.Url("/healthz"), "", {"X-Request-Id: abc-123"});
  EXPECT_EQ(mine.headers["x-request-id"], "abc-123");
  HttpResult gen = Http("GET", s_.Url("/healthz"));
  EXPECT_FALSE(gen.headers["x-request-id"].empty());
  HttpResult gen2 = Http("GET", s_.Url("/healthz"));
  EXPECT_NE(gen.headers["x-request-id"], gen2.headers["x-request-id"]);
}

TEST_F(ApiTest, RegisteredModelSurvivesRestart) {
  CreateModel("iris");
  UploadOk("iris");
  ASSERT_EQ(s_.Call("PUT", "/api/v1/models/iris/aliases/production", {{"version", 1}}).status, 200);
  s_.Restart();
  json v = s_.Call("GET", "/api/v1/models/iris/versions/production").json();
  EXPECT_EQ(v["version"], 1);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris/versions/1/artifact").body, kArtifact);
}

TEST_F(ApiTest, KeepAliveServesManyRequestsOnOneConnection) {
  std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string many;
  for (int i = 0; i < 5; ++i) many += req;
  std::string resp = RawHttp(s_.port(), many + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  size_t count = 0;
  for (size_t p = resp.find("HTTP/1.1 200"); p != std::string::npos; p = resp.find("HTTP/1.1 200", p + 1)) ++count;
  EXPECT_EQ(count, 6u);
}

}  // namespace
}  // namespace hotswap

namespace hotswap {
namespace {

// The OpenAPI document in docs/ must list exactly the routes the server has.
TEST(OpenApiTest, DocumentListsExactlyTheServersRoutes) {
  std::ifstream in(std::string(HOTSWAP_SOURCE_DIR) + "/docs/openapi.json");
  ASSERT_TRUE(in.good()) << "docs/openapi.json is missing";
  nlohmann::json doc = nlohmann::json::parse(in);
  std::set<std::string> documented;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (method == "parameters") continue;
      std::string upper = method;
      for (char& c : upper) c = static_cast<char>(std::toupper(c));
      documented.insert(upper + " " + path);
    }
  }
  testing_util::TestServer s(OnTestRegistry());
  std::set<std::string> served;
  for (const auto& r : s.server().routes()) served.insert(r.method + " " + r.pattern);
  EXPECT_EQ(documented, served);
}

}  // namespace
}  // namespace hotswap
