// The audit log through the server: every change made through the API appends an entry with who
// made it (token name and role, client address, request id), refused requests append nothing,
// the read routes (list, export, verify, checkpoints) and their bad input, the log's append-only
// surface, tampering found by `GET /api/v1/audit/verify` and `hotswap audit verify`, and the
// orchestrator's outcome entries. Real HTTP against an in-process server.
//
// Built twice, like api_test: audit_api_test (SQLite) and audit_api_pg_test (every server's
// registry in a fresh database of a real PostgreSQL server).
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/cli.h"
#include "common/sha256.h"
#include "registry/audit_chain.h"
#include "registry/postgres/pg_test_server.h"
#include "registry/registry_test_util.h"
#include "tests/test_util.h"

#ifndef HOTSWAP_API_TEST_REGISTRY
#define HOTSWAP_API_TEST_REGISTRY "sqlite"
#endif

namespace hotswap {
namespace {

using nlohmann::json;
using testing_util::Http;
using testing_util::HttpResult;
using testing_util::TestServer;

constexpr bool kOnPostgres = std::string_view(HOTSWAP_API_TEST_REGISTRY) == "postgresql";
const std::string kArtifact = std::string("ONNX\0fake-model-bytes", 21);

// A registry for the test's server: SQLite in its data dir, or a new PostgreSQL database.
server::ServerConfig OnTestRegistry(server::ServerConfig config = {}) {
  if (!kOnPostgres) return config;
  static int servers = 0;
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = absl::StrFormat(
      "audit_%08x_%d",
      static_cast<uint32_t>(std::hash<std::string>{}(
          absl::StrCat(info->test_suite_name(), ".", info->name(), ".", ::getpid()))),
      ++servers);
  auto pg = registry::testing::PgTestServer::Shared();
  if (!pg.ok()) throw std::runtime_error(pg.status().ToString());
  if (absl::Status s = (*pg)->CreateDatabase(name); !s.ok()) throw std::runtime_error(s.ToString());
  config.registry_url = absl::StrCat("postgresql://hotswap@127.0.0.1:", (*pg)->port(), "/", name);
  return config;
}

class PgEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { registry::testing::PgTestServer::StopShared(); }
};
const auto* const kPgEnvironment =
    kOnPostgres ? ::testing::AddGlobalTestEnvironment(new PgEnvironment) : nullptr;

std::string ErrorCode(const HttpResult& r) {
  json j = r.json();
  EXPECT_TRUE(j.is_object() && j.contains("error") && j["error"].is_object()) << r.body;
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return "";
  EXPECT_FALSE(j["error"].value("message", "").empty()) << r.body;
  return j["error"].value("code", "");
}

class AuditApiTest : public ::testing::Test {
 protected:
  // All entries (admin), oldest first.
  json Entries(const std::string& query = "") {
    HttpResult r = s_.Call("GET", "/api/v1/audit?limit=1000" + (query.empty() ? "" : "&" + query));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json().value("entries", json::array());
  }
  std::vector<std::string> Actions() {
    std::vector<std::string> out;
    for (const auto& e : Entries()) out.push_back(e["action"]);
    return out;
  }
  // A token with a known name; returns its secret.
  std::string NamedToken(const std::string& name, const std::string& role) {
    HttpResult r = s_.Call("POST", "/api/v1/tokens", {{"name", name}, {"role", role}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("token", "");
  }
  // SQL on the registry database directly, bypassing the server.
  void Tamper(const std::string& sql) {
    if (kOnPostgres) {
      PGconn* conn = PQconnectdb(s_.server().config().registry_url.c_str());
      ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
      PGresult* r = PQexec(conn, sql.c_str());
      EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << sql << ": " << PQerrorMessage(conn);
      PQclear(r);
      PQfinish(conn);
    } else {
      sqlite3* conn = nullptr;
      ASSERT_EQ(sqlite3_open((s_.server().config().data_dir + "/registry.db").c_str(), &conn),
                SQLITE_OK);
      sqlite3_busy_timeout(conn, 5000);
      char* error = nullptr;
      EXPECT_EQ(sqlite3_exec(conn, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
          << sql << ": " << (error ? error : "");
      sqlite3_free(error);
      sqlite3_close(conn);
    }
  }
  struct CliResult {
    int code;
    std::string out;
    std::string err;
  };
  CliResult Cli(std::vector<std::string> args) {
    std::vector<std::string> full = {"hotswap", "--url", s_.Url(""), "--token", s_.admin()};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    for (const auto& a : full) argv.push_back(a.c_str());
    std::ostringstream out, err;
    int code = cli::RunCli(static_cast<int>(argv.size()), argv.data(), out, err);
    return {code, out.str(), err.str()};
  }

  TestServer s_{OnTestRegistry()};
};

TEST_F(AuditApiTest, MutationRecordsActorRoleSourceAndRequestId) {
  std::string ci = NamedToken("ci-bot", "editor");
  HttpResult r = Http("POST", s_.Url("/api/v1/models"), json{{"name", "iris"}}.dump(),
                      {"Authorization: Bearer " + ci, "Content-Type: application/json",
                       "X-Request-Id: req-abc-123"});
  ASSERT_EQ(r.status, 201) << r.body;
  json entries = Entries("action=model.create");
  ASSERT_EQ(entries.size(), 1u);
  const json& e = entries[0];
  EXPECT_EQ(e["actor"], "ci-bot");
  EXPECT_EQ(e["role"], "editor");
  EXPECT_EQ(e["target"], "model/iris");
  EXPECT_EQ(e["request_id"], "req-abc-123");
  EXPECT_EQ(e["source"], "127.0.0.1");
  EXPECT_TRUE(e["before"].is_null());
  EXPECT_EQ(e["after"]["name"], "iris");
  EXPECT_EQ(e["seq"], 2);  // after the token.create by admin
  EXPECT_EQ(e["hash"].get<std::string>().size(), 64u);
  // A request without X-Request-Id is recorded with the id the server generated and echoed.
  HttpResult gen = s_.Call("PATCH", "/api/v1/models/iris", {{"description", "flowers"}});
  ASSERT_EQ(gen.status, 200);
  json update = Entries("action=model.update")[0];
  EXPECT_EQ(update["request_id"], gen.headers["x-request-id"]);
  EXPECT_EQ(update["actor"], "admin");
  EXPECT_EQ(update["before"]["description"], "");
  EXPECT_EQ(update["after"]["description"], "flowers");
}

TEST_F(AuditApiTest, EveryKindOfRegistryAndTokenChangeIsRecordedInOrder) {
  ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 201);
  ASSERT_EQ(s_.Call("PATCH", "/api/v1/models/iris", {{"tags", {{"team", "ml"}}}}).status, 200);
  ASSERT_EQ(s_.Upload("iris", {{"framework", "onnx"}}, kArtifact).status, 201);
  ASSERT_EQ(s_.Call("PATCH", "/api/v1/models/iris/versions/1", {{"status", "validated"}}).status,
            200);
  ASSERT_EQ(s_.Call("PUT", "/api/v1/models/iris/aliases/production", {{"version", 1}}).status, 200);
  ASSERT_EQ(s_.Call("DELETE", "/api/v1/models/iris/aliases/production").status, 204);
  std::string secret = NamedToken("ops", "deployer");
  ASSERT_EQ(s_.Call("DELETE", "/api/v1/tokens/ops").status, 204);
  ASSERT_EQ(s_.Call("DELETE", "/api/v1/models/iris").status, 200);

  EXPECT_EQ(Actions(), (std::vector<std::string>{"model.create", "model.update", "version.register",
                                                 "version.update", "alias.set", "alias.delete",
                                                 "token.create", "token.revoke", "model.delete"}));
  json all = Entries();
  EXPECT_EQ(all[2]["target"], "model/iris/version/1");
  EXPECT_EQ(all[2]["after"]["sha256"], Sha256Hex(kArtifact));
  EXPECT_EQ(all[3]["before"]["status"], "registered");
  EXPECT_EQ(all[3]["after"]["status"], "validated");
  EXPECT_EQ(all[4]["target"], "model/iris/alias/production");
  EXPECT_TRUE(all[4]["before"].is_null());
  EXPECT_EQ(all[4]["after"]["version"], 1);
  EXPECT_EQ(all[5]["before"]["version"], 1);
  EXPECT_EQ(all[6]["after"]["role"], "deployer");
  EXPECT_EQ(all[8]["before"]["name"], "iris");
  // The token's secret and its hash appear nowhere in the log.
  HttpResult exported = s_.Call("GET", "/api/v1/audit/export");
  EXPECT_EQ(exported.body.find(secret), std::string::npos);
  EXPECT_EQ(exported.body.find(Sha256Hex(secret)), std::string::npos);
  // target= finds the model and everything below it.
  EXPECT_EQ(Entries("target=model/iris").size(), 7u);
  EXPECT_EQ(Entries("target=model/iris/alias/production").size(), 2u);
  EXPECT_EQ(Entries("action=token").size(), 2u);
  EXPECT_EQ(Entries("actor=nobody").size(), 0u);
}

TEST_F(AuditApiTest, RefusedRequestsAppendNothing) {
  ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 201);
  std::string viewer = NamedToken("reader", "viewer");
  const size_t before = Entries().size();
  EXPECT_EQ(s_.Call("POST", "/api/v1/models", "{not json").status, 400);
  EXPECT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 409);
  EXPECT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "x"}}, "").status, 401);
  EXPECT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "x"}}, viewer).status, 403);
  EXPECT_EQ(s_.Call("PATCH", "/api/v1/models/nope", {{"description", "d"}}).status, 404);
  EXPECT_EQ(s_.Call("PUT", "/api/v1/models/iris/aliases/prod", {{"version", 9}}).status / 100, 4);
  EXPECT_EQ(s_.Call("DELETE", "/api/v1/tokens/nobody").status, 404);
  EXPECT_EQ(s_.Call("POST", "/api/v1/deployments", {{"model", "nope"}}).status / 100, 4);
  EXPECT_EQ(Entries().size(), before);
}

TEST_F(AuditApiTest, ReadRoutesNeedAnAdminToken) {
  std::string editor = NamedToken("ed", "editor");
  for (const char* path : {"/api/v1/audit", "/api/v1/audit/export", "/api/v1/audit/verify",
                           "/api/v1/audit/checkpoints"}) {
    HttpResult none = s_.Call("GET", path, nullptr, "");
    EXPECT_EQ(none.status, 401) << path;
    EXPECT_EQ(ErrorCode(none), "unauthenticated") << path;
    HttpResult ed = s_.Call("GET", path, nullptr, editor);
    EXPECT_EQ(ed.status, 403) << path;
    EXPECT_EQ(ErrorCode(ed), "permission_denied") << path;
  }
  EXPECT_EQ(s_.Call("POST", "/api/v1/audit/checkpoints", nullptr, editor).status, 403);
}

TEST_F(AuditApiTest, BadFiltersAre400WithAJsonError) {
  for (const char* query :
       {"limit=0", "limit=1001", "limit=ten", "after_seq=-1", "after_seq=x", "since=yesterday",
        "until=2026-13-01T00:00:00Z", "since=2026-11-24T10:00:00Z&until=2026-11-24T09:00:00Z",
        "acter=admin"}) {
    HttpResult r = s_.Call("GET", std::string("/api/v1/audit?") + query);
    EXPECT_EQ(r.status, 400) << query << ": " << r.body;
    EXPECT_EQ(ErrorCode(r), "invalid_argument") << query;
  }
  HttpResult r = s_.Call("GET", "/api/v1/audit/export?limit=5");  // export has no limit
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "invalid_argument");
  EXPECT_EQ(s_.Call("GET", "/api/v1/audit/verify?fast=1").status, 400);
  // Times are RFC 3339 or epoch milliseconds.
  EXPECT_EQ(s_.Call("GET", "/api/v1/audit?since=2020-01-01T00:00:00Z&until=4102444800000").status,
            200);
}

TEST_F(AuditApiTest, TheLogIsAppendOnlyThroughTheApi) {
  ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 201);
  for (const char* method : {"DELETE", "PUT", "PATCH"}) {
    HttpResult r = s_.Call(method, "/api/v1/audit", json::object());
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(ErrorCode(r), "invalid_argument") << method << ": " << r.body;
    EXPECT_NE(r.body.find("not allowed"), std::string::npos) << r.body;
    EXPECT_EQ(r.headers["allow"], "GET");
  }
  HttpResult one = s_.Call("DELETE", "/api/v1/audit/1");
  EXPECT_EQ(one.status, 404);
  EXPECT_EQ(ErrorCode(one), "not_found");
  EXPECT_EQ(s_.Call("DELETE", "/api/v1/audit/checkpoints").status, 405);
  EXPECT_EQ(Entries().size(), 1u);
  EXPECT_TRUE(s_.Call("GET", "/api/v1/audit/verify").json()["ok"].get<bool>());
}

TEST_F(AuditApiTest, ListPaginatesWithAfterSeq) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", absl::StrCat("m", i)}}).status, 201);
  }
  std::vector<int64_t> seqs;
  std::string after = "0";
  for (int pages = 0; pages < 10; ++pages) {
    json page = s_.Call("GET", "/api/v1/audit?limit=2&after_seq=" + after).json();
    for (const auto& e : page["entries"]) seqs.push_back(e["seq"]);
    if (page["next_after_seq"].is_null()) break;
    after = page["next_after_seq"].dump();
  }
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4, 5}));
}

TEST_F(AuditApiTest, ExportIsJsonLinesWhoseHashesRecomputeAndChain) {
  ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "iris"}, {"description", "é ünïcode"}})
                .status,
            201);
  ASSERT_EQ(s_.Upload("iris", {{"framework", "onnx"}}, kArtifact).status, 201);
  HttpResult r = s_.Call("GET", "/api/v1/audit/export");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/x-ndjson");
  std::vector<std::string> lines = absl::StrSplit(r.body, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  std::string prev(registry::kAuditGenesisHash);
  for (const std::string& line : lines) {
    json j = json::parse(line);
    registry::AuditEntry e{.seq = j["seq"], .ts_ms = j["ts_ms"], .actor = j["actor"],
                           .role = j["role"], .action = j["action"], .target = j["target"],
                           .before_json = j["before_json"], .after_json = j["after_json"],
                           .source = j["source"], .request_id = j["request_id"],
                           .prev_hash = j["prev_hash"], .hash = j["hash"]};
    EXPECT_EQ(registry::AuditEntryHash(e), e.hash) << line;
    EXPECT_EQ(e.prev_hash, prev);
    prev = e.hash;
  }
  // Filters apply to the export too.
  HttpResult only = s_.Call("GET", "/api/v1/audit/export?action=version");
  EXPECT_EQ(std::count(only.body.begin(), only.body.end(), '\n'), 1);
}

TEST_F(AuditApiTest, VerifyIsCleanThenNamesTheEditedEntryAndTheCliExitsNonZero) {
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", absl::StrCat("m", i)}}).status, 201);
  }
  json ok = s_.Call("GET", "/api/v1/audit/verify").json();
  EXPECT_TRUE(ok["ok"].get<bool>()) << ok.dump();
  EXPECT_EQ(ok["entries"], 4);
  EXPECT_TRUE(ok["first_bad_seq"].is_null());
  CliResult clean = Cli({"audit", "verify"});
  EXPECT_EQ(clean.code, 0) << clean.err;
  EXPECT_NE(clean.out.find("audit log verified: 4 entries"), std::string::npos) << clean.out;

  Tamper("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3");
  json bad = s_.Call("GET", "/api/v1/audit/verify").json();
  EXPECT_FALSE(bad["ok"].get<bool>());
  EXPECT_EQ(bad["first_bad_seq"], 3);
  EXPECT_EQ(bad["problems"][0]["kind"], "edited");
  CliResult broken = Cli({"audit", "verify"});
  EXPECT_EQ(broken.code, 4);
  EXPECT_NE(broken.out.find("first bad entry is seq 3"), std::string::npos) << broken.out;
  CliResult broken_json = Cli({"--json", "audit", "verify"});
  EXPECT_EQ(broken_json.code, 4);
  EXPECT_EQ(json::parse(broken_json.out)["first_bad_seq"], 3);
}

TEST_F(AuditApiTest, DeletedEntryIsNamedThroughTheApi) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", absl::StrCat("m", i)}}).status, 201);
  }
  Tamper("DELETE FROM audit_log WHERE seq = 2");
  json bad = s_.Call("GET", "/api/v1/audit/verify").json();
  EXPECT_EQ(bad["first_bad_seq"], 2) << bad.dump();
  EXPECT_EQ(bad["problems"][0]["kind"], "deleted");
}

TEST_F(AuditApiTest, CheckpointOnDemandIsSignedOnceAndListed) {
  HttpResult empty = s_.Call("POST", "/api/v1/audit/checkpoints");
  EXPECT_EQ(empty.status, 409);
  EXPECT_EQ(ErrorCode(empty), "failed_precondition");
  ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 201);
  HttpResult cp = s_.Call("POST", "/api/v1/audit/checkpoints");
  ASSERT_EQ(cp.status, 201) << cp.body;
  EXPECT_EQ(cp.json()["seq"], 1);
  EXPECT_EQ(cp.json()["hmac"].get<std::string>().size(), 64u);
  HttpResult again = s_.Call("POST", "/api/v1/audit/checkpoints");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(ErrorCode(again), "already_exists");
  json list = s_.Call("GET", "/api/v1/audit/checkpoints").json();
  ASSERT_EQ(list["checkpoints"].size(), 1u);
  // Truncating the checkpointed entry is now detected.
  Tamper("DELETE FROM audit_log WHERE seq = 1");
  json bad = s_.Call("GET", "/api/v1/audit/verify").json();
  EXPECT_EQ(bad["first_bad_seq"], 1) << bad.dump();
  EXPECT_EQ(bad["problems"][0]["kind"], "truncated");
}

TEST_F(AuditApiTest, AppendFailureIsCountedInMetricsAndTheChangeStands) {
  Tamper("DROP TABLE audit_log");
  HttpResult r = s_.Call("POST", "/api/v1/models", {{"name", "iris"}});
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris").status, 200);
  HttpResult metrics = Http("GET", s_.Url("/metrics"));
  EXPECT_NE(metrics.body.find("hotswap_audit_append_failures_total 1\n"), std::string::npos);
  HttpResult list = s_.Call("GET", "/api/v1/audit");
  EXPECT_EQ(list.status / 100, 5);  // the table is gone: an error, not an empty log
  ErrorCode(list);
}

TEST_F(AuditApiTest, DeploymentOutcomeIsRecordedBySystem) {
  ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 201);
  ASSERT_EQ(s_.Upload("iris", {{"framework", "onnx"}}, kArtifact).status, 201);
  std::string deployer = NamedToken("release", "deployer");
  HttpResult d = s_.Call("POST", "/api/v1/deployments", {{"model", "iris"}, {"version", 1}}, deployer);
  ASSERT_EQ(d.status, 202) << d.body;
  const std::string id = d.json()["id"];
  // The fake artifact cannot load: the deployment fails, and the loader thread records it.
  ASSERT_TRUE(testing_util::WaitFor([&] { return Entries("action=deployment.failed").size() == 1; }));
  json created = Entries("action=deployment.create")[0];
  EXPECT_EQ(created["actor"], "release");
  EXPECT_EQ(created["role"], "deployer");
  EXPECT_EQ(created["target"], "endpoint/iris");
  EXPECT_EQ(created["after"]["id"], id);
  json failed = Entries("action=deployment.failed")[0];
  EXPECT_EQ(failed["actor"], "system");
  EXPECT_EQ(failed["role"], "system");
  EXPECT_EQ(failed["target"], "endpoint/iris");
  EXPECT_EQ(failed["after"]["id"], id);
  EXPECT_GT(failed["seq"].get<int64_t>(), created["seq"].get<int64_t>());
}

TEST_F(AuditApiTest, CliListsExportsAndCheckpoints) {
  ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 201);
  ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", "wine"}}).status, 201);
  CliResult list = Cli({"audit", "list", "--target", "model/wine"});
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("model.create"), std::string::npos);
  EXPECT_NE(list.out.find("model/wine"), std::string::npos);
  EXPECT_EQ(list.out.find("model/iris"), std::string::npos) << list.out;
  CliResult js = Cli({"--json", "audit", "list", "--limit", "1"});
  ASSERT_EQ(js.code, 0);
  json j = json::parse(js.out);
  EXPECT_EQ(j["entries"].size(), 1u);
  EXPECT_EQ(j["next_after_seq"], 1);
  const std::string file = s_.data_dir() + "/audit.jsonl";
  CliResult exp = Cli({"audit", "export", "-o", file});
  EXPECT_EQ(exp.code, 0) << exp.err;
  std::ifstream in(file);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) lines += json::parse(line)["action"] == "model.create" ? 1 : 0;
  EXPECT_EQ(lines, 2);
  CliResult cp = Cli({"audit", "checkpoint"});
  EXPECT_EQ(cp.code, 0) << cp.err;
  EXPECT_NE(cp.out.find("checkpoint signed at seq 2"), std::string::npos) << cp.out;
  CliResult bad = Cli({"audit", "list", "--since", "garbage"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("since"), std::string::npos) << bad.err;
}

TEST_F(AuditApiTest, GeneratedKeyFileIsPrivateAndCheckpointsEveryNEntries) {
  struct stat st {};
  ASSERT_EQ(::stat((s_.server().config().data_dir + "/audit.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  server::ServerConfig config = OnTestRegistry();
  config.audit_checkpoint_every = 2;
  TestServer every2(config);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(every2.Call("POST", "/api/v1/models", {{"name", absl::StrCat("m", i)}}).status, 201);
  }
  json list = every2.Call("GET", "/api/v1/audit/checkpoints").json();
  ASSERT_EQ(list["checkpoints"].size(), 2u);
  EXPECT_EQ(list["checkpoints"][0]["seq"], 2);
  EXPECT_EQ(list["checkpoints"][1]["seq"], 4);
  json verify = every2.Call("GET", "/api/v1/audit/verify").json();
  EXPECT_TRUE(verify["ok"].get<bool>());
  EXPECT_EQ(verify["last_checkpoint_seq"], 4);
  EXPECT_EQ(verify["unprotected_entries"], 1);
}

TEST_F(AuditApiTest, ConfigFileTakesTheAuditKeysAndRefusesBadValues) {
  const std::string dir = s_.data_dir();
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  };
  server::ServerConfig c;
  HS_ASSERT_OK(c.MergeFile(write("ok.json", R"({"audit_key_file": "/etc/k", "audit_checkpoint_every": 5})")));
  EXPECT_EQ(c.audit_key_file, "/etc/k");
  EXPECT_EQ(c.audit_checkpoint_every, 5);
  HS_EXPECT_OK(c.Validate());
  server::ServerConfig bad_type;
  absl::Status s = bad_type.MergeFile(write("type.json", R"({"audit_key_file": 7})"));
  EXPECT_NE(std::string(s.message()).find("audit_key_file"), std::string::npos) << s;
  server::ServerConfig negative;
  HS_ASSERT_OK(negative.MergeFile(write("neg.json", R"({"audit_checkpoint_every": -1})")));
  EXPECT_NE(std::string(negative.Validate().message()).find("audit_checkpoint_every"),
            std::string::npos);
  // A configured key file that is missing stops the start-up, naming it.
  server::ServerConfig missing = OnTestRegistry();
  missing.data_dir = dir + "/other";
  missing.http_address = "127.0.0.1:0";
  missing.audit_key_file = dir + "/no-such.key";
  auto created = server::Server::Create(missing);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(std::string(created.status().message()).find("no-such.key"), std::string::npos);
}

TEST_F(AuditApiTest, ReplicasWithOneKeyFileShareOneChainAndVerifyEachOther) {
  if (!kOnPostgres) GTEST_SKIP() << "two servers share a registry only on PostgreSQL";
  const std::string key = s_.data_dir() + "/shared.key";
  std::ofstream(key) << std::string(64, 'c') << "\n";
  server::ServerConfig config = OnTestRegistry();
  config.audit_key_file = key;
  config.audit_checkpoint_every = 1;  // every entry signed, by whichever server appended it
  TestServer a(config);
  TestServer b(config);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(a.Call("POST", "/api/v1/models", {{"name", absl::StrCat("a", i)}}).status, 201);
    ASSERT_EQ(b.Call("POST", "/api/v1/models", {{"name", absl::StrCat("b", i)}}, a.admin()).status,
              201);
  }
  // The admin token is created once per registry: the first server printed it.
  for (TestServer* s : {&a, &b}) {
    json v = s->Call("GET", "/api/v1/audit/verify", nullptr, a.admin()).json();
    EXPECT_TRUE(v["ok"].get<bool>()) << v.dump();
    EXPECT_EQ(v["entries"], 6);
    EXPECT_EQ(v["checkpoints"], 6);
    EXPECT_EQ(v["unprotected_entries"], 0);
  }
  // A third replica with its own generated key reads the same chain but not the signatures.
  server::ServerConfig own = config;
  own.audit_key_file.clear();
  TestServer c(own);
  json v = c.Call("GET", "/api/v1/audit/verify", nullptr, a.admin()).json();
  EXPECT_FALSE(v["ok"].get<bool>());
  EXPECT_EQ(v["problems"][0]["kind"], "checkpoint_forged");
  EXPECT_NE(v["problems"][0]["message"].get<std::string>().find("another audit key"),
            std::string::npos);
}

}  // namespace
}  // namespace hotswap
