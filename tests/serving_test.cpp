// Inference serving end to end, in-process with the real ONNX Runtime: direct deployments, the
// KServe V2 REST protocol (JSON and binary tensors), admission control, metrics, zero-failure
// hot swap under load, memory after many swaps, failed loads, restart.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "tests/test_util.h"

namespace hotswap {
namespace {

using nlohmann::json;
using testing_util::Http;
using testing_util::HttpResult;
using testing_util::TestServer;

using testing_util::ReadAll;

std::string DemoModel() { return ReadAll(std::string(HOTSWAP_DEMO_MODELS_DIR) + "/iris.onnx"); }
std::string TestModel(const std::string& name) {
  return ReadAll(std::string(HOTSWAP_TEST_MODELS_DIR) + "/" + name);
}
std::string SwapModel(int k) {
  return ReadAll(absl::StrCat(HOTSWAP_SWAP_MODELS_DIR, "/add_", k, ".onnx"));
}

int64_t RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

const char* kIrisRequest =
    R"({"id":"req-7","inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2,6.7,3.0,5.2,2.3]}]})";

class ServingTest : public ::testing::Test {
 protected:
  explicit ServingTest(server::ServerConfig cfg = {}) : s_(cfg) {}

  int64_t Register(const std::string& model, const std::string& artifact,
                   json meta = {{"framework", "onnx"}}) {
    if (s_.Call("GET", "/api/v1/models/" + model).status == 404) {
      EXPECT_EQ(s_.Call("POST", "/api/v1/models", {{"name", model}}).status, 201);
    }
    HttpResult r = s_.Upload(model, meta, artifact);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("version", int64_t{0});
  }
  // Deploys and waits for the outcome; returns the final deployment.
  json Deploy(const std::string& model, int64_t version, const std::string& endpoint = "") {
    json body = {{"model", model}, {"version", version}};
    if (!endpoint.empty()) body["endpoint"] = endpoint;
    HttpResult r = s_.Call("POST", "/api/v1/deployments", body);
    EXPECT_EQ(r.status, 202) << r.body;
    std::string id = r.json().value("id", "");
    json d;
    bool done = testing_util::WaitFor([&] {
      d = s_.Call("GET", "/api/v1/deployments/" + id).json();
      return d.value("state", "") != "pending";
    }, 60000);
    if (!done) ADD_FAILURE() << "deployment " << id << " did not finish within 60 s";
    return d;
  }
  HttpResult Infer(const std::string& model, const std::string& body,
                   std::vector<std::string> headers = {}) {
    headers.push_back("Authorization: Bearer " + s_.admin());
    headers.push_back("Content-Type: application/json");
    return Http("POST", s_.Url("/v2/models/" + model + "/infer"), body, headers);
  }

  TestServer s_;
};

TEST_F(ServingTest, DirectDeployServesTheDemoModelWithReferenceNumerics) {
  int64_t v = Register("iris", DemoModel());
  json d = Deploy("iris", v);
  ASSERT_EQ(d["state"], "succeeded") << d.dump();
  EXPECT_NE(d["message"].get<std::string>().find("warmed up"), std::string::npos);
  json samples = json::parse(ReadAll(std::string(HOTSWAP_DEMO_MODELS_DIR) + "/iris.samples.json"));
  ASSERT_FALSE(samples["samples"].empty());
  for (const auto& sample : samples["samples"]) {
    json req = {{"inputs", sample["inputs"]}};
    HttpResult r = Infer("iris", req.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    json out = r.json();
    EXPECT_EQ(out["model_name"], "iris");
    EXPECT_EQ(out["model_version"], "1");
    EXPECT_EQ(r.headers["x-hotswap-model-version"], "1");
    for (const auto& expected : sample["outputs"]) {
      const json* got = nullptr;
      for (const auto& o : out["outputs"]) {
        if (o["name"] == expected["name"]) got = &o;
      }
      ASSERT_NE(got, nullptr) << expected["name"];
      EXPECT_EQ((*got)["shape"], expected["shape"]);
      ASSERT_EQ((*got)["data"].size(), expected["data"].size());
      for (size_t i = 0; i < expected["data"].size(); ++i) {
        EXPECT_NEAR((*got)["data"][i].get<double>(), expected["data"][i].get<double>(), 1e-5);
      }
    }
  }
}

TEST_F(ServingTest, DeploymentRecordGoesFromPendingToSucceededAndIsListed) {
  int64_t v = Register("iris", DemoModel());
  HttpResult r = s_.Call("POST", "/api/v1/deployments", {{"model", "iris"}, {"version", v}, {"strategy", "direct"}});
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.json()["state"], "pending");
  EXPECT_EQ(r.json()["endpoint"], "iris");
  std::string id = r.json()["id"];
  EXPECT_EQ(r.headers["location"], "/api/v1/deployments/" + id);
  ASSERT_TRUE(testing_util::WaitFor([&] {
    return s_.Call("GET", "/api/v1/deployments/" + id).json()["state"] != "pending";
  }));
  EXPECT_EQ(s_.Call("GET", "/api/v1/deployments/" + id).json()["state"], "succeeded");
  json d = Deploy("iris", v);  // a second deploy of the same version also works
  EXPECT_EQ(d["state"], "succeeded");
  json list = s_.Call("GET", "/api/v1/deployments?endpoint=iris").json();
  EXPECT_EQ(list["deployments"].size(), 2u);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/iris/versions/1").json()["status"], "deployed");
  json eps = s_.Call("GET", "/api/v1/endpoints").json();
  ASSERT_EQ(eps["endpoints"].size(), 1u);
  EXPECT_EQ(eps["endpoints"][0]["version"], 1);
  EXPECT_GT(eps["endpoints"][0]["memory_bytes"].get<int64_t>(), 0);
}

TEST_F(ServingTest, InferEchoesIdAndReturnsOnlyRequestedOutputs) {
  Deploy("iris", Register("iris", DemoModel()));
  json req = json::parse(kIrisRequest);
  req["outputs"] = {{{"name", "probabilities"}}};
  HttpResult r = Infer("iris", req.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["id"], "req-7");
  ASSERT_EQ(r.json()["outputs"].size(), 1u);
  EXPECT_EQ(r.json()["outputs"][0]["name"], "probabilities");
  EXPECT_EQ(r.json()["outputs"][0]["shape"], (json{2, 3}));
}

TEST_F(ServingTest, BinaryTensorExtensionInAndOut) {
  Deploy("iris", Register("iris", DemoModel()));
  float x[8] = {5.1f, 3.5f, 1.4f, 0.2f, 6.7f, 3.0f, 5.2f, 2.3f};
  json header = {{"inputs", {{{"name", "input"}, {"shape", {2, 4}}, {"datatype", "FP32"},
                              {"parameters", {{"binary_data_size", 32}}}}}},
                 {"outputs", {{{"name", "probabilities"}, {"parameters", {{"binary_data", true}}}}}}};
  std::string h = header.dump();
  std::string body = h + std::string(reinterpret_cast<const char*>(x), sizeof x);
  HttpResult r = Infer("iris", body, {"Inference-Header-Content-Length: " + std::to_string(h.size())});
  ASSERT_EQ(r.status, 200) << r.body;
  size_t json_len = std::stoul(r.headers["inference-header-content-length"]);
  json meta = json::parse(r.body.substr(0, json_len));
  ASSERT_EQ(meta["outputs"][0]["parameters"]["binary_data_size"], 24);
  ASSERT_EQ(r.body.size(), json_len + 24);
  float p[6];
  std::memcpy(p, r.body.data() + json_len, sizeof p);
  EXPECT_NEAR(p[0] + p[1] + p[2], 1.0, 1e-5);
  EXPECT_GT(p[0], 0.9f);  // the first row is a setosa
  EXPECT_GT(p[5], 0.5f);  // the second a virginica
  // And the same answer as JSON.
  HttpResult j = Infer("iris", kIrisRequest);
  EXPECT_NEAR(j.json()["outputs"][1]["data"][0].get<double>(), p[0], 1e-6);
}

TEST_F(ServingTest, ProtocolErrorsUseTheV2ErrorShape) {
  Deploy("iris", Register("iris", DemoModel()));
  auto expect_error = [&](const HttpResult& r, long status, const std::string& fragment) {
    EXPECT_EQ(r.status, status) << r.body;
    json j = r.json();
    ASSERT_TRUE(j.is_object() && j["error"].is_string()) << r.body;
    EXPECT_NE(j["error"].get<std::string>().find(fragment), std::string::npos) << r.body;
  };
  expect_error(Infer("nope", kIrisRequest), 404, "not loaded");
  expect_error(Http("POST", s_.Url("/v2/models/iris/versions/9/infer"), kIrisRequest,
                    {"Authorization: Bearer " + s_.admin()}), 404, "version 9");
  expect_error(Infer("iris", "{not json"), 400, "");
  expect_error(Infer("iris", R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"INT64","data":[1,2,3,4]}]})"),
               400, "input");
  expect_error(Infer("iris", R"({"inputs":[{"name":"input","shape":[1,5],"datatype":"FP32","data":[1,2,3,4,5]}]})"),
               400, "shape");
  expect_error(Infer("iris", R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3]}]})"),
               400, "");
  expect_error(Infer("iris", R"({"inputs":[{"name":"wrong","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})"),
               400, "input");
  json bad_out = json::parse(kIrisRequest);
  bad_out["outputs"] = {{{"name", "nothing"}}};
  expect_error(Infer("iris", bad_out.dump()), 400, "unknown output 'nothing'");
  expect_error(Infer("iris", kIrisRequest, {"Inference-Header-Content-Length: 99999"}), 400, "");
  HttpResult unauth = Http("POST", s_.Url("/v2/models/iris/infer"), kIrisRequest);
  expect_error(unauth, 401, "token");
  // Failures are counted against the version.
  std::string metrics = Http("GET", s_.Url("/metrics")).body;
  EXPECT_NE(metrics.find(R"(hotswap_inference_failures_total{endpoint="iris",model="iris",version="1",variant="stable"} 7)"),
            std::string::npos)
      << metrics.substr(0, 2000);
}

TEST_F(ServingTest, MetadataReadyConfigAndRepositoryIndex) {
  Deploy("iris", Register("iris", DemoModel()));
  std::string auth = "Authorization: Bearer " + s_.admin();
  json meta = Http("GET", s_.Url("/v2/models/iris"), "", {auth}).json();
  EXPECT_EQ(meta["name"], "iris");
  EXPECT_EQ(meta["versions"], (json{"1"}));
  EXPECT_EQ(meta["platform"], "onnxruntime_onnx");
  EXPECT_EQ(meta["inputs"][0]["shape"], (json{-1, 4}));
  EXPECT_EQ(Http("GET", s_.Url("/v2/models/iris/versions/1"), "", {auth}).status, 200);
  EXPECT_EQ(Http("GET", s_.Url("/v2/models/iris/ready"), "", {auth}).json()["ready"], true);
  EXPECT_EQ(Http("GET", s_.Url("/v2/models/iris/versions/1/ready"), "", {auth}).status, 200);
  HttpResult versioned = Http("POST", s_.Url("/v2/models/iris/versions/1/infer"), kIrisRequest, {auth});
  EXPECT_EQ(versioned.status, 200) << versioned.body;
  EXPECT_EQ(versioned.json()["model_version"], "1");
  EXPECT_EQ(Http("GET", s_.Url("/v2/models/iris/versions/2"), "", {auth}).status, 404);
  EXPECT_EQ(Http("GET", s_.Url("/v2/models/nope/ready"), "", {auth}).status, 404);
  json cfg = Http("GET", s_.Url("/v2/models/iris/config"), "", {auth}).json();
  EXPECT_EQ(cfg["max_batch_size"], 64);
  EXPECT_EQ(cfg["input"][0]["name"], "input");
  EXPECT_EQ(cfg["input"][0]["data_type"], "TYPE_FP32");
  EXPECT_EQ(cfg["input"][0]["dims"], (json{4}));
  EXPECT_EQ(cfg["output"][1]["dims"], (json{3}));
  json index = Http("POST", s_.Url("/v2/repository/index"), "", {auth}).json();
  ASSERT_EQ(index.size(), 1u);
  EXPECT_EQ(index[0]["name"], "iris");
  EXPECT_EQ(index[0]["state"], "READY");
  json server = Http("GET", s_.Url("/v2"), "", {auth}).json();
  EXPECT_EQ(server["name"], "hotswap");
  EXPECT_NE(std::find(server["extensions"].begin(), server["extensions"].end(), "binary_tensor_data"),
            server["extensions"].end());
  EXPECT_EQ(server["backends"][0]["framework"], "onnx");
  EXPECT_EQ(Http("GET", s_.Url("/v2/health/live")).status, 200);
  EXPECT_EQ(Http("GET", s_.Url("/v2/health/ready")).status, 200);
}

TEST_F(ServingTest, RepositoryLoadAndUnload) {
  Register("iris", DemoModel());
  std::string auth = "Authorization: Bearer " + s_.admin();
  EXPECT_EQ(Http("POST", s_.Url("/v2/repository/models/iris/load"), "", {auth}).status, 200);
  EXPECT_EQ(Infer("iris", kIrisRequest).status, 200);
  EXPECT_EQ(Http("POST", s_.Url("/v2/repository/models/iris/unload"), "", {auth}).status, 200);
  EXPECT_EQ(Infer("iris", kIrisRequest).status, 404);
  EXPECT_EQ(Http("POST", s_.Url("/v2/repository/models/iris/unload"), "", {auth}).status, 404);
  EXPECT_EQ(Http("POST", s_.Url("/v2/repository/models/nope/load"), "", {auth}).status, 404);
  std::string viewer = "Authorization: Bearer " + s_.TokenFor("viewer");
  EXPECT_EQ(Http("POST", s_.Url("/v2/repository/models/iris/load"), "", {viewer}).status, 403);
}

TEST_F(ServingTest, MetricsCountRequestsPerVersionWithHistograms) {
  Deploy("iris", Register("iris", DemoModel()));
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Infer("iris", kIrisRequest).status, 200);
  HttpResult m = Http("GET", s_.Url("/metrics"));
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.headers["content-type"].find("text/plain"), std::string::npos);
  const std::string labels = R"({endpoint="iris",model="iris",version="1",variant="stable")";
  EXPECT_NE(m.body.find("hotswap_inference_requests_total" + labels + "} 5"), std::string::npos);
  EXPECT_NE(m.body.find("hotswap_inference_compute_seconds_count" + labels + "} 5"), std::string::npos);
  EXPECT_NE(m.body.find("hotswap_inference_queue_seconds_bucket" + labels + R"(,le="+Inf"} 5)"),
            std::string::npos);
  EXPECT_NE(m.body.find(R"(hotswap_swaps_total{result="ok"} 1)"), std::string::npos);
  EXPECT_NE(m.body.find("hotswap_loaded_models 1"), std::string::npos);
  EXPECT_NE(m.body.find("hotswap_model_memory_bytes{endpoint=\"iris\""), std::string::npos);
}

TEST_F(ServingTest, HotSwapUnderLoadFailsNoRequestAndEveryAnswerMatchesItsVersion) {
  ASSERT_EQ(Register("adder", SwapModel(1)), 1);
  ASSERT_EQ(Register("adder", SwapModel(2)), 2);
  ASSERT_EQ(Deploy("adder", 1)["state"], "succeeded");
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, inconsistent{0};
  std::atomic<int> per_version[3] = {};
  const std::string body =
      R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})";
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      while (!stop.load()) {
        HttpResult r = Infer("adder", body);
        if (r.status != 200) {
          failed.fetch_add(1);
          continue;
        }
        json j = r.json();
        int v = std::stoi(j["model_version"].get<std::string>());
        double y0 = j["outputs"][0]["data"][0].get<double>();
        if ((v != 1 && v != 2) || std::fabs(y0 - (1.0 + v)) > 1e-6 ||
            r.headers["x-hotswap-model-version"] != std::to_string(v)) {
          inconsistent.fetch_add(1);
        } else {
          per_version[v].fetch_add(1);
        }
        ok.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    json d = Deploy("adder", i % 2 == 0 ? 2 : 1);
    ASSERT_EQ(d["state"], "succeeded") << d.dump();
    usleep(2000);
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_GT(per_version[1].load(), 0);
  EXPECT_GT(per_version[2].load(), 0);
  EXPECT_GT(ok.load(), 100);
  std::string metrics = Http("GET", s_.Url("/metrics")).body;
  EXPECT_NE(metrics.find(R"(hotswap_swaps_total{result="ok"} 51)"), std::string::npos);
}

TEST_F(ServingTest, MemoryStaysFlatOver500Swaps) {
  ASSERT_EQ(Register("adder", SwapModel(1)), 1);
  ASSERT_EQ(Register("adder", SwapModel(2)), 2);
  const std::string body =
      R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})";
  int64_t rss_20 = 0;
  for (int i = 1; i <= 500; ++i) {
    ASSERT_EQ(Deploy("adder", i % 2 + 1)["state"], "succeeded");
    ASSERT_EQ(Infer("adder", body).status, 200);
    if (i == 20) rss_20 = RssKiB();
  }
  int64_t rss_500 = RssKiB();
  RecordProperty("rss_after_20_kib", std::to_string(rss_20));
  RecordProperty("rss_after_500_kib", std::to_string(rss_500));
  std::cout << "RSS after 20 swaps " << rss_20 << " KiB, after 500 swaps " << rss_500 << " KiB\n";
  EXPECT_LE(rss_500, rss_20 * 110 / 100) << "RSS grew by more than 10% over 480 swaps";
}

TEST_F(ServingTest, FailedLoadsLeaveTheServingVersionUntouched) {
  ASSERT_EQ(Register("iris", DemoModel()), 1);
  ASSERT_EQ(Deploy("iris", 1)["state"], "succeeded");
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, answered{0};
  std::thread client([&] {
    while (!stop.load()) {
      HttpResult r = Infer("iris", kIrisRequest);
      if (r.status != 200 || r.headers["x-hotswap-model-version"] != "1") failures.fetch_add(1);
      answered.fetch_add(1);
    }
  });
  // An operator the runtime does not know: the engine refuses it at load.
  int64_t custom = Register("iris", TestModel("custom_op.onnx"));
  json d1 = Deploy("iris", custom);
  EXPECT_EQ(d1["state"], "failed");
  EXPECT_FALSE(d1["message"].get<std::string>().empty());
  // A model that throws when it runs: warm-up catches it before any request does.
  int64_t throws = Register("iris", TestModel("reshape_fail.onnx"));
  json d2 = Deploy("iris", throws);
  EXPECT_EQ(d2["state"], "failed");
  EXPECT_NE(d2["message"].get<std::string>().find("warm-up"), std::string::npos) << d2.dump();
  // A corrupt artifact: altered on disk after registration.
  std::string bytes = SwapModel(3);
  int64_t corrupt = Register("iris", bytes);
  std::string digest = Sha256Hex(bytes);
  {
    std::fstream f(s_.data_dir() + "/data/artifacts/sha256/" + digest.substr(0, 2) + "/" + digest,
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('\x7f');
  }
  json d3 = Deploy("iris", corrupt);
  EXPECT_EQ(d3["state"], "failed");
  EXPECT_NE(d3["message"].get<std::string>().find("mismatch"), std::string::npos) << d3.dump();
  while (answered.load() < 20) usleep(1000);
  stop = true;
  client.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Infer("iris", kIrisRequest).headers["x-hotswap-model-version"], "1");
  std::string metrics = Http("GET", s_.Url("/metrics")).body;
  EXPECT_NE(metrics.find(R"(hotswap_swaps_total{result="failed"} 3)"), std::string::npos);
}

class TimeoutServingTest : public ServingTest {
 protected:
  static server::ServerConfig Config() {
    server::ServerConfig c;
    c.load_timeout_ms = 1;
    c.warmup_runs = 2000;  // on top of creating the session: far more than 1 ms
    return c;
  }
  TimeoutServingTest() : ServingTest(Config()) {}
};

TEST_F(TimeoutServingTest, ALoadThatTimesOutIsNotPublished) {
  int64_t v = Register("iris", DemoModel());
  json d = Deploy("iris", v);
  EXPECT_EQ(d["state"], "failed");
  EXPECT_NE(d["message"].get<std::string>().find("did not finish within 1 ms"), std::string::npos)
      << d.dump();
  EXPECT_EQ(Infer("iris", kIrisRequest).status, 404);
}

TEST_F(ServingTest, RestartRestoresWhatWasServingAndUndeployIsRemembered) {
  Deploy("iris", Register("iris", DemoModel()));
  Deploy("adder", Register("adder", SwapModel(2)));
  s_.Restart();
  s_.server().WaitReady();
  HttpResult r = Infer("iris", kIrisRequest);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["x-hotswap-model-version"], "1");
  EXPECT_EQ(s_.Call("DELETE", "/api/v1/endpoints/adder").status, 204);
  EXPECT_EQ(s_.Call("DELETE", "/api/v1/endpoints/adder").status, 404);
  s_.Restart();
  s_.server().WaitReady();
  EXPECT_EQ(Infer("iris", kIrisRequest).status, 200);
  EXPECT_EQ(Infer("adder", R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})").status,
            404);
}

TEST_F(ServingTest, DeploymentBadInputIsRefusedAndChangesNothing) {
  Register("iris", DemoModel());
  auto code = [&](const json& body) {
    HttpResult r = s_.Call("POST", "/api/v1/deployments", body);
    EXPECT_TRUE(r.json()["error"].is_object()) << r.body;
    return r.status;
  };
  EXPECT_EQ(code({{"model", "nope"}, {"version", 1}}), 404);
  EXPECT_EQ(code({{"model", "iris"}, {"version", 9}}), 404);
  EXPECT_EQ(code({{"model", "iris"}, {"version", "one"}}), 400);
  EXPECT_EQ(code({{"version", 1}}), 400);
  EXPECT_EQ(code({{"model", "iris"}, {"strategy", "yolo"}}), 400);
  // A canary or an A/B test needs a serving version to roll out beside.
  EXPECT_EQ(code({{"model", "iris"}, {"strategy", "canary"}}), 409);
  EXPECT_EQ(code({{"model", "iris"}, {"strategy", "ab-test"}}), 409);
  EXPECT_EQ(code({{"model", "iris"}, {"colour", "red"}}), 400);
  EXPECT_EQ(code({{"model", "iris"}, {"endpoint", "bad name!"}}), 400);
  EXPECT_EQ(s_.Call("POST", "/api/v1/deployments", json("[")).status, 400);
  EXPECT_EQ(s_.Call("GET", "/api/v1/deployments/nope").status, 404);
  std::string viewer = s_.TokenFor("viewer");
  EXPECT_EQ(s_.Call("POST", "/api/v1/deployments", {{"model", "iris"}}, viewer).status, 403);
  EXPECT_EQ(s_.Call("GET", "/api/v1/deployments").json()["deployments"].size(), 0u);
  EXPECT_EQ(s_.Call("GET", "/api/v1/endpoints").json()["endpoints"].size(), 0u);
}

TEST_F(ServingTest, DeployWithoutVersionUsesTheAliasOrTheLatest) {
  Register("adder", SwapModel(1));
  Register("adder", SwapModel(2));
  HttpResult latest = s_.Call("POST", "/api/v1/deployments", {{"model", "adder"}});
  ASSERT_EQ(latest.status, 202);
  EXPECT_EQ(latest.json()["version"], 2);
  ASSERT_EQ(s_.Call("PUT", "/api/v1/models/adder/aliases/production", {{"version", 1}}).status, 200);
  std::string first = latest.json()["id"];
  ASSERT_TRUE(testing_util::WaitFor([&] {
    return s_.Call("GET", "/api/v1/deployments/" + first).json()["state"] != "pending";
  }, 30000));
  HttpResult aliased = s_.Call("POST", "/api/v1/deployments", {{"model", "adder"}, {"alias", "production"}});
  ASSERT_EQ(aliased.status, 202) << aliased.body;
  EXPECT_EQ(aliased.json()["version"], 1);
}

TEST_F(ServingTest, PreprocessingRunsBeforeTheModel) {
  json meta = {{"framework", "onnx"},
               {"preprocessing",
                {{"outputs",
                  {{{"name", "x"},
                    {"datatype", "FP32"},
                    {"features",
                     {{{"feature", "a"}, {"steps", {{{"op", "standardize"}, {"mean", 10}, {"std", 2}}}}},
                      {{"feature", "b"}, {"steps", {{{"op", "impute"}, {"value", 7}}}}},
                      {{"feature", "c"}, {"steps", {{{"op", "clip"}, {"min", 0}, {"max", 1}}}}},
                      {{"feature", "d"}, {"steps", {{{"op", "log1p"}}}}}}}}}}}}};
  Deploy("adder", Register("adder", SwapModel(1), meta));
  std::string auth = "Authorization: Bearer " + s_.admin();
  json model_meta = Http("GET", s_.Url("/v2/models/adder"), "", {auth}).json();
  EXPECT_EQ(model_meta["inputs"].size(), 4u) << model_meta.dump();  // the features clients send
  json req = {{"inputs",
               {{{"name", "a"}, {"shape", {1}}, {"datatype", "FP32"}, {"data", {14}}},
                {{"name", "b"}, {"shape", {1}}, {"datatype", "FP32"}, {"data", {7}}},
                {{"name", "c"}, {"shape", {1}}, {"datatype", "FP32"}, {"data", {5}}},
                {{"name", "d"}, {"shape", {1}}, {"datatype", "FP32"}, {"data", {0}}}}}};
  HttpResult r = Infer("adder", req.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  json y = r.json()["outputs"][0]["data"];
  // x = [(14-10)/2, 7, clip(5) = 1, log1p(0) = 0]; y = x + 1.
  EXPECT_NEAR(y[0].get<double>(), 3.0, 1e-6);
  EXPECT_NEAR(y[1].get<double>(), 8.0, 1e-6);
  EXPECT_NEAR(y[2].get<double>(), 2.0, 1e-6);
  EXPECT_NEAR(y[3].get<double>(), 1.0, 1e-6);
  HttpResult missing = Infer("adder", R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]}]})");
  EXPECT_EQ(missing.status, 400);
}

class AdmissionTest : public ServingTest {
 protected:
  static server::ServerConfig Config() {
    server::ServerConfig c;
    c.max_inflight_per_endpoint = 1;
    return c;
  }
  AdmissionTest() : ServingTest(Config()) {}
};

TEST_F(AdmissionTest, BeyondTheLimitRequestsGet503WithRetryAfter) {
  Deploy("large", Register("large", TestModel("large.onnx")));
  std::string auth = "Authorization: Bearer " + s_.admin();
  json meta = Http("GET", s_.Url("/v2/models/large"), "", {auth}).json();
  std::string input = meta["inputs"][0]["name"];
  json req = {{"inputs", {{{"name", input}, {"shape", {64, 1024}}, {"datatype", "FP32"},
                           {"data", std::vector<float>(64 * 1024, 0.5f)}}}}};
  std::string body = req.dump();
  std::atomic<int> ok{0}, rejected{0}, other{0};
  std::atomic<bool> retry_after_seen{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 6; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < 15; ++i) {
        HttpResult r = Infer("large", body);
        if (r.status == 200) {
          ok.fetch_add(1);
        } else if (r.status == 503) {
          rejected.fetch_add(1);
          if (r.headers["retry-after"] == "1" && r.json()["error"].is_string()) retry_after_seen = true;
        } else {
          other.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(rejected.load(), 0) << "six clients against a limit of one never collided";
  EXPECT_TRUE(retry_after_seen.load());
  EXPECT_EQ(other.load(), 0);
  EXPECT_NE(Http("GET", s_.Url("/metrics")).body.find("hotswap_inference_rejected_total{endpoint=\"large\"}"),
            std::string::npos);
}

}  // namespace
}  // namespace hotswap
