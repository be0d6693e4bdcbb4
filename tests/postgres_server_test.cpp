// The server with its registry on a real PostgreSQL (`--registry-url`): the same API behaviour
// as on SQLite, durability across restarts, two servers sharing one database, and PostgreSQL
// restarted under load. (The whole management API suite also runs on PostgreSQL: api_pg_test.)
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
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

TEST(PostgresServerTest, TwoServersRegisteringTheSameVersionAtOnceGiveOne201AndOne409) {
  std::string url = FreshDatabase("server_same_version");
  ASSERT_FALSE(url.empty());
  TestServer a(OnPostgres(url));
  TestServer b(OnPostgres(url));
  const std::string token = a.admin();
  ASSERT_EQ(a.Call("POST", "/api/v1/models", {{"name", "fraud"}}).status, 201);
  constexpr int kRounds = 10;
  std::barrier start(2);
  HttpResult results[kRounds][2];
  std::vector<std::thread> threads;
  for (int side = 0; side < 2; ++side) {
    threads.emplace_back([&, side] {
      const TestServer& s = side == 0 ? a : b;
      for (int round = 0; round < kRounds; ++round) {
        start.arrive_and_wait();
        results[round][side] =
            s.Upload("fraud", {{"framework", "onnx"}, {"version", round + 1}},
                     absl::StrCat("bytes from server ", side, " in round ", round), {}, token);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int round = 0; round < kRounds; ++round) {
    const HttpResult& ra = results[round][0];
    const HttpResult& rb = results[round][1];
    EXPECT_EQ((ra.status == 201) + (rb.status == 201), 1) << round << ": " << ra.body << rb.body;
    const HttpResult& loser = ra.status == 201 ? rb : ra;
    EXPECT_EQ(loser.status, 409) << loser.body;
    EXPECT_EQ(loser.json()["error"]["code"], "already_exists") << loser.body;
  }
  json listed = b.Call("GET", "/api/v1/models/fraud/versions?limit=100", nullptr, token).json();
  ASSERT_EQ(listed["versions"].size(), static_cast<size_t>(kRounds));
  for (const json& v : listed["versions"]) {
    const int round = v["version"].get<int>() - 1;
    const HttpResult& winner =
        results[round][0].status == 201 ? results[round][0] : results[round][1];
    EXPECT_EQ(v["sha256"], winner.json()["sha256"]) << "the registered bytes are the winner's";
  }
}

// PostgreSQL goes away (immediate shutdown) and comes back while clients keep writing and
// reading through one HotSwap server, which is not restarted. Writers create a model and
// register its version 1 (an explicit number, so that a retry cannot register it twice),
// retrying each 503; a 409 after a 503 means the earlier attempt committed although its answer
// was lost. A reader reads the registry and also calls /healthz, /readyz and inference.
TEST(PostgresServerTest, PostgresRestartGives503sOnlyDuringTheOutageAndLosesNothing) {
  // Its own PostgreSQL: the test stops it.
  auto pg = registry::testing::PgTestServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->CreateDatabase("outage").ok());
  TestServer s(
      OnPostgres(absl::StrCat("postgresql://hotswap@127.0.0.1:", (*pg)->port(), "/outage")));
  const std::vector<std::string> auth = {"Authorization: Bearer " + s.admin()};
  ASSERT_EQ(s.Call("POST", "/api/v1/models", {{"name", "iris"}}).status, 201);
  ASSERT_EQ(s.Upload("iris", {{"framework", "onnx"}}, DemoModel()).status, 201);
  HttpResult d = s.Call("POST", "/api/v1/deployments", {{"model", "iris"}, {"version", 1}});
  ASSERT_EQ(d.status, 202) << d.body;
  const std::string deployment = d.json()["id"];
  ASSERT_TRUE(testing_util::WaitFor([&] {
    return s.Call("GET", "/api/v1/deployments/" + deployment).json()["state"] == "succeeded";
  }));

  // Phases: 0 up, 1 stopping, 2 down, 3 starting, 4 up again.
  std::atomic<int> phase{0};
  std::atomic<bool> stop{false};
  struct Observed {
    std::string what;
    int phase_start;
    int phase_end;
    double seconds;
    HttpResult result;
  };
  std::mutex mu;
  std::vector<Observed> observed;
  const auto test_start = std::chrono::steady_clock::now();
  auto timed = [&](const std::string& what, const std::function<HttpResult()>& call) {
    const int p0 = phase.load();
    const auto t0 = std::chrono::steady_clock::now();
    HttpResult r = call();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard<std::mutex> lock(mu);
    observed.push_back({what, p0, phase.load(), seconds, r});
    return r;
  };
  auto timed_out = [&] {
    return std::chrono::steady_clock::now() - test_start > std::chrono::seconds(90);
  };

  // Calls `call` until it answers 201, retrying 503s; a 409 after a 503 counts as done.
  auto until_done = [&](const std::string& what, const std::function<HttpResult()>& call) {
    bool unavailable_before = false;
    while (!timed_out()) {
      HttpResult r = timed(what, call);
      if (r.status == 201 || (r.status == 409 && unavailable_before)) return true;
      if (r.status != 503) {
        ADD_FAILURE() << what << ": " << r.status << " " << r.body;
        return false;
      }
      unavailable_before = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << what << ": still not done after 90 s";
    return false;
  };

  constexpr int kWriters = 2;
  std::vector<std::string> created[kWriters];
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; !stop.load(); ++i) {
        const std::string name = absl::StrCat("w", w, "-", i);
        if (!until_done("create model", [&] {
              return s.Call("POST", "/api/v1/models", {{"name", name}});
            })) {
          return;
        }
        if (!until_done("register version", [&] {
              return s.Upload(name, {{"framework", "onnx"}, {"version", 1}}, "artifact of " + name);
            })) {
          return;
        }
        created[w].push_back(name);
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop.load() && !timed_out()) {
      timed("get model", [&] { return s.Call("GET", "/api/v1/models/iris"); });
      timed("healthz", [&] { return s.Call("GET", "/healthz", nullptr, ""); });
      timed("readyz", [&] { return s.Call("GET", "/readyz", nullptr, ""); });
      timed("infer",
            [&] { return Http("POST", s.Url("/v2/models/iris/infer"), kIrisRequest, auth); });
    }
  });

  std::this_thread::sleep_for(std::chrono::seconds(1));
  phase = 1;
  const auto down = std::chrono::steady_clock::now();
  absl::Status stopped = (*pg)->Stop();
  phase = 2;
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  phase = 3;
  absl::Status restarted = (*pg)->Restart();
  phase = 4;
  const double outage_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - down).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_TRUE(stopped.ok()) << stopped;
  ASSERT_TRUE(restarted.ok()) << restarted;

  std::map<std::string, std::map<long, int>> codes;  // what -> HTTP status -> count
  std::map<std::string, double> slowest_of;           // what -> longest request, seconds
  int unavailable = 0;
  int ok_after = 0;
  double slowest = 0;
  for (const Observed& o : observed) {
    const long st = o.result.status;
    ++codes[o.what][st];
    slowest = std::max(slowest, o.seconds);
    slowest_of[o.what] = std::max(slowest_of[o.what], o.seconds);
    const bool registry_call = o.what != "healthz" && o.what != "readyz" && o.what != "infer";
    if (!registry_call) {
      EXPECT_EQ(st, 200) << o.what << " in phase " << o.phase_start << ": " << o.result.body
                         << " (served from memory, PostgreSQL or not)";
      continue;
    }
    EXPECT_TRUE(st == 200 || st == 201 || st == 409 || st == 503)
        << o.what << " in phase " << o.phase_start << "-" << o.phase_end << ": " << st << " "
        << o.result.body;
    if (st == 503) {
      ++unavailable;
      EXPECT_TRUE(o.phase_end >= 1 && o.phase_start <= 3)
          << o.what << ": 503 outside the outage (phase " << o.phase_start << "-" << o.phase_end
          << "): " << o.result.body;
      json e = o.result.json();
      EXPECT_EQ(e["error"]["code"], "unavailable") << o.result.body;
      EXPECT_NE(o.result.body.find("registry database unavailable"), std::string::npos)
          << o.result.body;
      EXPECT_TRUE(o.result.headers.contains("retry-after")) << "503 without Retry-After";
      if (unavailable == 1) std::cout << "first 503: " << o.result.body << "\n";
    }
    if (o.phase_start == 2 && o.phase_end == 2) {
      EXPECT_EQ(st, 503) << o.what << " while PostgreSQL was down: " << o.result.body;
    }
    if (o.phase_start == 4 && st != 503) ++ok_after;
  }
  EXPECT_GT(unavailable, 0) << "no request saw the outage";
  EXPECT_GT(ok_after, 0) << "no registry request succeeded after PostgreSQL came back";
  EXPECT_LT(slowest, 10.0) << "a request took too long while PostgreSQL was away";
  std::string summary;
  for (const auto& [what, by_status] : codes) {
    absl::StrAppend(&summary, " ", what, ":");
    for (const auto& [st, n] : by_status) absl::StrAppend(&summary, " ", st, "x", n);
    absl::StrAppend(&summary, " (slowest ", slowest_of[what], " s);");
  }
  std::cout << "PostgreSQL away " << outage_s << " s; " << observed.size() << " requests, "
            << unavailable << " answered 503; slowest " << slowest << " s;" << summary << "\n";

  // Nothing lost, nothing duplicated: every model a writer finished exists once, with exactly
  // its version 1 and those bytes; no blob is left over from a registration that failed.
  std::set<std::string> expected = {"iris"};
  for (const auto& names : created) expected.insert(names.begin(), names.end());
  EXPECT_GT(expected.size(), 5u);
  std::multiset<std::string> listed;
  std::string page_token;
  do {
    HttpResult r = s.Call("GET", "/api/v1/models?limit=100" +
                                     (page_token.empty() ? "" : "&page_token=" + page_token));
    ASSERT_EQ(r.status, 200) << r.body;
    const json page = r.json();
    for (const json& m : page["models"]) listed.insert(m["name"].get<std::string>());
    page_token = page["next_page_token"];
  } while (!page_token.empty());
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), expected);
  EXPECT_EQ(listed.size(), expected.size()) << "a model is listed twice";
  for (const std::string& name : expected) {
    if (name == "iris") continue;
    json versions = s.Call("GET", "/api/v1/models/" + name + "/versions").json()["versions"];
    ASSERT_EQ(versions.size(), 1u) << name;
    EXPECT_EQ(versions[0]["version"], 1);
    EXPECT_EQ(versions[0]["sha256"], Sha256Hex("artifact of " + name));
  }
  EXPECT_EQ(testing_util::ListFiles(s.data_dir() + "/data/artifacts/sha256").size(),
            expected.size());
  EXPECT_EQ(Http("POST", s.Url("/v2/models/iris/infer"), kIrisRequest, auth).status, 200);
}

class PgEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { registry::testing::PgTestServer::StopShared(); }
};
const auto* const kPgEnvironment = ::testing::AddGlobalTestEnvironment(new PgEnvironment);

}  // namespace
}  // namespace hotswap
