// The optional backends through the whole server (in-process, real engines, real model files
// written by each framework's own Python package): the framework check at upload, deploy and
// infer over KServe V2 compared with the Python references, a hot swap from an ONNX version to a
// TorchScript version of the same model under load with zero failed requests, and memory over
// swaps between the two engines.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/test_util.h"

namespace hotswap {
namespace {

using nlohmann::json;
using testing_util::Http;
using testing_util::HttpResult;
using testing_util::TestServer;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::string Xgb(const std::string& name) { return ReadAll(std::string(HOTSWAP_XGBOOST_MODELS_DIR) + "/" + name); }
std::string Torch(const std::string& name) {
  return ReadAll(std::string(HOTSWAP_TORCHSCRIPT_MODELS_DIR) + "/" + name);
}
// Empty when this build has no TensorFlow backend.
std::string TfDir() { return HOTSWAP_TENSORFLOW_MODELS_DIR; }
std::string Tf(const std::string& name) { return ReadAll(TfDir() + "/" + name); }
json Case(const std::string& dir, const std::string& id) {
  const json references = json::parse(ReadAll(dir + "/references.json"));
  for (const json& c : references["cases"]) {
    if (c["id"] == id) return c;
  }
  ADD_FAILURE() << "no case " << id;
  return {};
}

int64_t RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// The TorchScript MLP's schema, as a client registers it (TorchScript keeps no dtypes/shapes).
const json kMlpSchema = {
    {"inputs", {{{"name", "input"}, {"datatype", "FP32"}, {"shape", {-1, 4}}}}},
    {"outputs", {{{"name", "output"}, {"datatype", "FP32"}, {"shape", {-1, 3}}}}}};

class BackendsServingTest : public ::testing::Test {
 protected:
  void CreateModel(const std::string& model) {
    if (s_.Call("GET", "/api/v1/models/" + model).status == 404) {
      ASSERT_EQ(s_.Call("POST", "/api/v1/models", {{"name", model}}).status, 201);
    }
  }
  int64_t Register(const std::string& model, const std::string& artifact, const json& meta) {
    CreateModel(model);
    HttpResult r = s_.Upload(model, meta, artifact);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("version", int64_t{0});
  }
  json Deploy(const std::string& model, int64_t version) {
    HttpResult r = s_.Call("POST", "/api/v1/deployments", {{"model", model}, {"version", version}});
    EXPECT_EQ(r.status, 202) << r.body;
    std::string id = r.json().value("id", "");
    json d;
    if (!testing_util::WaitFor([&] {
          d = s_.Call("GET", "/api/v1/deployments/" + id).json();
          return d.value("state", "") != "pending";
        }, 120000)) {
      ADD_FAILURE() << "deployment " << id << " did not finish";
    }
    return d;
  }
  HttpResult Infer(const std::string& model, const std::string& body) {
    return Http("POST", s_.Url("/v2/models/" + model + "/infer"), body,
                {"Authorization: Bearer " + s_.admin(), "Content-Type: application/json"});
  }
  // Sends the case's inputs and compares every output the case names.
  void ExpectCase(const std::string& model, const json& c, double tolerance) {
    json request = {{"inputs", c["inputs"]}, {"outputs", json::array()}};
    for (const json& o : c["outputs"]) request["outputs"].push_back({{"name", o["name"]}});
    HttpResult r = Infer(model, request.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    json out = r.json();
    ASSERT_EQ(out["outputs"].size(), c["outputs"].size());
    for (size_t i = 0; i < c["outputs"].size(); ++i) {
      const json& want = c["outputs"][i];
      const json& got = out["outputs"][i];
      EXPECT_EQ(got["name"], want["name"]);
      EXPECT_EQ(got["shape"], want["shape"]);
      ASSERT_EQ(got["data"].size(), want["data"].size());
      for (size_t k = 0; k < want["data"].size(); ++k) {
        const double e = want["data"][k].get<double>(), a = got["data"][k].get<double>();
        EXPECT_LE(std::fabs(e - a), tolerance * std::max(1.0, std::fabs(e)))
            << want["name"] << "[" << k << "]";
      }
    }
  }
  json Endpoint(const std::string& name) {
    const json listing = s_.Call("GET", "/api/v1/endpoints").json();
    for (const json& e : listing["endpoints"]) {
      if (e["endpoint"] == name) return e;
    }
    ADD_FAILURE() << "no endpoint " << name << " in " << listing.dump();
    return {};
  }
  size_t VersionCount(const std::string& model) {
    return s_.Call("GET", "/api/v1/models/" + model + "/versions").json()["versions"].size();
  }

  TestServer s_;
};

TEST_F(BackendsServingTest, V2ListsEveryBackendAndItsExtension) {
  json v2 = s_.Call("GET", "/v2").json();
  std::vector<std::string> frameworks;
  for (const json& b : v2["backends"]) frameworks.push_back(b["framework"]);
  for (const char* f : {"onnx", "torchscript", "xgboost"}) {
    EXPECT_NE(std::find(frameworks.begin(), frameworks.end(), f), frameworks.end()) << f;
    EXPECT_NE(std::find(v2["extensions"].begin(), v2["extensions"].end(),
                        std::string("hotswap_backend_") + f),
              v2["extensions"].end())
        << f;
  }
}

TEST_F(BackendsServingTest, ADeclaredFrameworkTheArtifactIsNotIsRefusedAtUploadAndNothingChanges) {
  CreateModel("m");
  struct Mismatch {
    std::string declared;
    std::string artifact;
    std::string says;
  };
  const std::vector<Mismatch> cases = {
      {"onnx", Torch("mlp_script.pt"), "TorchScript archive"},
      {"onnx", Xgb("xgb_binary.json"), "XGBoost model (JSON)"},
      {"torchscript", Torch("mlp.onnx"), "an ONNX model"},
      {"torchscript", Torch("state_dict.pt"), "torch.save archive"},
      {"xgboost", Torch("mlp_script.pt"), "TorchScript archive"},
      {"xgboost", Torch("mlp.onnx"), "an ONNX model"},
      {"tensorflow", Xgb("xgb_binary.ubj"), "XGBoost model (UBJSON)"},
      {"tensorflow", "not a tar", "as a tar"},
  };
  for (const Mismatch& m : cases) {
    HttpResult r = s_.Upload("m", {{"framework", m.declared}}, m.artifact);
    EXPECT_EQ(r.status, 400) << m.declared << ": " << r.body;
    EXPECT_EQ(r.json()["error"]["code"], "invalid_argument") << r.body;
    EXPECT_NE(r.body.find(m.says), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("metadata.framework is \\\"" + m.declared + "\\\""), std::string::npos)
        << r.body;
  }
  EXPECT_EQ(VersionCount("m"), 0u);
  // The right declarations are accepted.
  EXPECT_EQ(s_.Upload("m", {{"framework", "xgboost"}}, Xgb("xgb_binary.bin")).status, 201);
  EXPECT_EQ(s_.Upload("m", {{"framework", "onnx"}}, Torch("mlp.onnx")).status, 201);
  EXPECT_EQ(VersionCount("m"), 2u);
}

TEST_F(BackendsServingTest, XgboostClassifierServesPythonXgboostProbabilities) {
  int64_t v = Register("fraud", Xgb("xgb_binary.ubj"), {{"framework", "xgboost"}});
  json d = Deploy("fraud", v);
  ASSERT_EQ(d["state"], "succeeded") << d.dump();
  ExpectCase("fraud", Case(HOTSWAP_XGBOOST_MODELS_DIR, "xgb_binary_ubj_b1"), 1e-5);
  json meta = s_.Call("GET", "/v2/models/fraud").json();
  EXPECT_EQ(meta["inputs"][0]["shape"], json({-1, 8}));
  EXPECT_EQ(meta["outputs"][1]["name"], "probabilities");
  json endpoint = Endpoint("fraud");
  EXPECT_GT(endpoint.value("memory_bytes", int64_t{0}), 0) << endpoint.dump();
}

TEST_F(BackendsServingTest, TorchScriptVersionServesPyTorchOutputsAndNeedsItsSchema) {
  // Without a schema the version registers (the artifact is TorchScript) but cannot load.
  int64_t bare = Register("mlp", Torch("mlp_script.pt"), {{"framework", "torchscript"}});
  json failed = Deploy("mlp", bare);
  EXPECT_EQ(failed["state"], "failed");
  EXPECT_NE(failed.value("message", "").find("does not record"), std::string::npos)
      << failed.dump();
  int64_t v = Register("mlp", Torch("mlp_trace.pt"),
                       {{"framework", "torchscript"}, {"schema", kMlpSchema}});
  json d = Deploy("mlp", v);
  ASSERT_EQ(d["state"], "succeeded") << d.dump();
  ExpectCase("mlp", Case(HOTSWAP_TORCHSCRIPT_MODELS_DIR, "mlp_trace_b64"), 1e-5);
  json config = s_.Call("GET", "/v2/models/mlp/config").json();
  EXPECT_EQ(config["platform"], "pytorch_libtorch");
  EXPECT_EQ(config["backend"], "pytorch");
}

TEST_F(BackendsServingTest, TensorflowSavedModelTarServesPythonOutputs) {
  if (TfDir().empty()) GTEST_SKIP() << "this build has no TensorFlow backend (HOTSWAP_WITH_TENSORFLOW=OFF or the "
                    "tensorflow-cpu wheel not found); scripts/test.sh requires it";
  CreateModel("tf");
  HttpResult refused = s_.Upload("tf", {{"framework", "onnx"}}, Tf("mlp.tar"));
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("declare \\\"framework\\\": \\\"tensorflow\\\""), std::string::npos)
      << refused.body;
  EXPECT_EQ(s_.Upload("tf", {{"framework", "tensorflow"}}, Tf("no_saved_model.tar")).status, 400);
  int64_t v = Register("tf", Tf("mlp.tar.gz"), {{"framework", "tensorflow"}});
  json d = Deploy("tf", v);
  ASSERT_EQ(d["state"], "succeeded") << d.dump();
  ExpectCase("tf", Case(TfDir(), "mlp_b64"), 1e-5);
  json meta = s_.Call("GET", "/v2/models/tf").json();
  EXPECT_EQ(meta["platform"], "tensorflow_savedmodel");
  EXPECT_EQ(meta["inputs"][0]["shape"], json({-1, 4}));
  json v2 = s_.Call("GET", "/v2").json();
  EXPECT_NE(std::find(v2["extensions"].begin(), v2["extensions"].end(), "hotswap_backend_tensorflow"),
            v2["extensions"].end());
}

TEST_F(BackendsServingTest, HotSwapFromOnnxToTorchScriptUnderLoadFailsNoRequest) {
  ASSERT_EQ(Register("mlp", Torch("mlp.onnx"), {{"framework", "onnx"}}), 1);
  ASSERT_EQ(Register("mlp", Torch("mlp_script.pt"),
                     {{"framework", "torchscript"}, {"schema", kMlpSchema}}),
            2);
  ASSERT_EQ(Deploy("mlp", 1)["state"], "succeeded");
  const json c = Case(HOTSWAP_TORCHSCRIPT_MODELS_DIR, "mlp_script_b1");
  const std::string body = json({{"inputs", c["inputs"]}}).dump();
  const std::vector<double> expected = c["outputs"][0]["data"].get<std::vector<double>>();

  std::atomic<bool> stop{false};
  std::atomic<int> failed{0}, wrong{0};
  std::atomic<int> per_version[3] = {};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&] {
      while (!stop.load()) {
        HttpResult r = Infer("mlp", body);
        if (r.status != 200) {
          failed.fetch_add(1);
          continue;
        }
        json j = r.json();
        const int v = std::stoi(j["model_version"].get<std::string>());
        const auto got = j["outputs"][0]["data"].get<std::vector<double>>();
        bool same = got.size() == expected.size() && (v == 1 || v == 2);
        for (size_t i = 0; same && i < got.size(); ++i) same = std::fabs(got[i] - expected[i]) < 1e-5;
        if (!same) wrong.fetch_add(1);
        if (v == 1 || v == 2) per_version[v].fetch_add(1);
      }
    });
  }
  // Serve ONNX for a while, swap to TorchScript, and back and forth, all under load.
  usleep(200000);
  for (int i = 0; i < 10; ++i) {
    json d = Deploy("mlp", i % 2 == 0 ? 2 : 1);
    ASSERT_EQ(d["state"], "succeeded") << d.dump();
    usleep(100000);
  }
  ASSERT_EQ(Deploy("mlp", 2)["state"], "succeeded");
  usleep(200000);
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(per_version[1].load(), 0);
  EXPECT_GT(per_version[2].load(), 0);
  json endpoint = Endpoint("mlp");
  EXPECT_EQ(endpoint["framework"], "torchscript") << endpoint.dump();
  std::cout << "served " << per_version[1].load() << " requests on ONNX and " << per_version[2].load()
            << " on TorchScript across 11 swaps\n";
}

// ONNX, TorchScript, XGBoost and (when built) TensorFlow versions of one endpoint in turn.
TEST_F(BackendsServingTest, MemoryStaysFlatOverSwapsBetweenEngines) {
  ASSERT_EQ(Register("mlp", Torch("mlp.onnx"), {{"framework", "onnx"}}), 1);
  ASSERT_EQ(Register("mlp", Torch("mlp_script.pt"),
                     {{"framework", "torchscript"}, {"schema", kMlpSchema}}),
            2);
  ASSERT_EQ(Register("mlp", Xgb("xgb_multiclass.json"), {{"framework", "xgboost"}}), 3);
  const std::string torch_body = json({{"inputs", Case(HOTSWAP_TORCHSCRIPT_MODELS_DIR,
                                                       "mlp_script_b1")["inputs"]}})
                                     .dump();
  int engines = 3;
  if (!TfDir().empty()) {
    ASSERT_EQ(Register("mlp", Tf("mlp.tar"), {{"framework", "tensorflow"}}), 4);
    engines = 4;
  }
  int64_t rss_30 = 0;
  for (int i = 1; i <= 150; ++i) {
    const int v = i % engines + 1;
    ASSERT_EQ(Deploy("mlp", v)["state"], "succeeded") << "swap " << i;
    if (v != 3) {
      ASSERT_EQ(Infer("mlp", torch_body).status, 200);
    }
    if (i == 30) rss_30 = RssKiB();
  }
  const int64_t rss_150 = RssKiB();
  std::cout << "RSS after 30 swaps " << rss_30 << " KiB, after 150 " << rss_150 << " KiB\n";
  EXPECT_LE(rss_150, rss_30 * 110 / 100) << "RSS grew by more than 10% over 120 swaps";
}

}  // namespace
}  // namespace hotswap
