// Version datasets and explanations through the whole server: real HTTP, real SQLite, the real
// artifact store, real ONNX Runtime (and XGBoost when built). Kernel SHAP answers are compared
// with exact Shapley values that this test computes itself by brute force — every coalition,
// the interventional value function over the same background — evaluating the model through
// the ordinary /infer route; XGBoost's tree_shap with XGBoost's own Python pred_contribs.
//
// Built twice like api_test: explain_api_test on SQLite, explain_api_pg_test
// (HOTSWAP_EXPLAIN_TEST_REGISTRY="postgresql") with each server's registry in a fresh database of
// a real PostgreSQL server.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/sha256.h"
#include "registry/postgres/pg_test_server.h"
#include "tests/test_util.h"

#ifndef HOTSWAP_EXPLAIN_TEST_REGISTRY
#define HOTSWAP_EXPLAIN_TEST_REGISTRY "sqlite"
#endif

namespace hotswap {
namespace {

using nlohmann::json;
using testing_util::Http;
using testing_util::HttpResult;
using testing_util::TestServer;
namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr bool kOnPostgres = std::string_view(HOTSWAP_EXPLAIN_TEST_REGISTRY) == "postgresql";

// On PostgreSQL: a fresh database per server, named after the test.
void UseTestRegistry(server::ServerConfig* config) {
  if (!kOnPostgres) return;
  static int servers = 0;
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string full = info == nullptr ? "none" : absl::StrCat(info->test_suite_name(), ".", info->name());
  const std::string name = absl::StrCat("ex_", Sha256Hex(full).substr(0, 16), "_", ++servers);
  auto pg = registry::testing::PgTestServer::Shared();
  if (!pg.ok()) throw std::runtime_error(pg.status().ToString());
  if (absl::Status s = (*pg)->CreateDatabase(name); !s.ok()) throw std::runtime_error(s.ToString());
  config->registry_url = absl::StrCat("postgresql://hotswap@127.0.0.1:", (*pg)->port(), "/", name);
}

class PgEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { registry::testing::PgTestServer::StopShared(); }
};
const auto* const kPgEnvironment =
    kOnPostgres ? ::testing::AddGlobalTestEnvironment(new PgEnvironment) : nullptr;

// Deterministic pseudo-random numbers in [-2, 2].
double Noise(int i) { return std::fmod(std::sin(i * 12.9898 + 78.233) * 43758.5453, 1.0) * 2.0; }

// A CSV of `rows` rows of `features` columns f0..f{n-1} (and a trailing text column "note").
std::string BackgroundCsv(int rows, int features, int seed) {
  std::string csv;
  for (int f = 0; f < features; ++f) absl::StrAppend(&csv, "f", f, ",");
  csv += "note\n";
  for (int r = 0; r < rows; ++r) {
    for (int f = 0; f < features; ++f) absl::StrAppend(&csv, absl::StrFormat("%.17g", Noise(seed + r * 31 + f)), ",");
    absl::StrAppend(&csv, "row", r, "\n");
  }
  return csv;
}

class ExplainApiTest : public ::testing::Test {
 protected:
  std::string Auth(const std::string& token = "") const {
    return "Authorization: Bearer " + (token.empty() ? s_.admin() : token);
  }
  int64_t Register(const std::string& model, const std::string& file, const json& meta) {
    if (s_.Call("GET", "/api/v1/models/" + model).status == 404) {
      EXPECT_EQ(s_.Call("POST", "/api/v1/models", {{"name", model}}).status, 201);
    }
    HttpResult r = s_.Upload(model, meta, ReadAll(file));
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("version", int64_t{0});
  }
  void Deploy(const std::string& model, int64_t version) {
    HttpResult r = s_.Call("POST", "/api/v1/deployments", {{"model", model}, {"version", version}});
    ASSERT_EQ(r.status, 202) << r.body;
    const std::string id = r.json().value("id", "");
    json d;
    ASSERT_TRUE(testing_util::WaitFor([&] {
      d = s_.Call("GET", "/api/v1/deployments/" + id).json();
      return d.value("state", "") == "succeeded" || d.value("state", "") == "failed";
    }, 120000));
    ASSERT_EQ(d.value("state", ""), "succeeded") << d.dump();
  }
  HttpResult PutDataset(const std::string& model, const std::string& version,
                        const std::string& kind, const std::string& csv,
                        const std::string& token = "") {
    return Http("PUT", s_.Url("/api/v1/models/" + model + "/versions/" + version + "/datasets/" + kind),
                csv, {Auth(token), "Content-Type: text/csv"});
  }
  HttpResult Post(const std::string& path, const std::string& body) {
    return Http("POST", s_.Url(path), body, {Auth(), "Content-Type: application/json"});
  }
  HttpResult Explain(const std::string& model, const json& body) {
    return Post("/v2/models/" + model + "/explain", body.dump());
  }
  // Outputs of `rows` ([n][m]) through /infer: [n][k] for output `name`.
  std::vector<std::vector<double>> Infer(const std::string& model, const std::string& datatype,
                                         const std::vector<std::vector<double>>& rows,
                                         const std::string& name) {
    json data = json::array();
    for (const auto& r : rows) data.push_back(r);
    json req = {{"inputs", {{{"name", "x"}, {"datatype", datatype},
                             {"shape", {rows.size(), rows[0].size()}}, {"data", data}}}},
                {"outputs", {{{"name", name}}}}};
    HttpResult r = Post("/v2/models/" + model + "/infer", req.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    json out = r.json()["outputs"][0];
    const int64_t n = out["shape"][0];
    const int64_t k = out["shape"].size() == 2 ? out["shape"][1].get<int64_t>() : 1;
    std::vector<std::vector<double>> y(static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(k)));
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < k; ++j) y[i][j] = out["data"][i * k + j].get<double>();
    }
    return y;
  }
  int Blobs() {
    int n = 0;
    for (const auto& e : fs::recursive_directory_iterator(s_.data_dir() + "/data/artifacts/sha256")) {
      n += e.is_regular_file() ? 1 : 0;
    }
    return n;
  }

  static server::ServerConfig Config() {
    server::ServerConfig c;
    c.threads = 4;  // a running explanation holds one worker; the others must answer
    UseTestRegistry(&c);
    return c;
  }
  TestServer s_{Config()};
};

const json kNonlinearSchema = {
    {"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {-1, 5}}}}},
    {"outputs", {{{"name", "y"}, {"datatype", "FP32"}, {"shape", {-1, 2}}},
                 {{"name", "argmax"}, {"datatype", "INT64"}, {"shape", {-1}}}}}};

std::string ExplainModel(const std::string& name) {
  return std::string(HOTSWAP_EXPLAIN_MODELS_DIR) + "/" + name;
}

// ---- Datasets -------------------------------------------------------------------------------

TEST_F(ExplainApiTest, DatasetPutListAndGetRoundTripWithItsDigest) {
  const int64_t v = Register("nl", ExplainModel("nonlinear_5.onnx"),
                             {{"framework", "onnx"}, {"schema", kNonlinearSchema}});
  const std::string csv = BackgroundCsv(4, 5, 1);
  HttpResult put = PutDataset("nl", std::to_string(v), "holdout", csv);
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(put.json()["sha256"], Sha256Hex(csv));
  EXPECT_EQ(put.json()["rows"], 4);
  EXPECT_EQ(put.json()["columns"], json({"f0", "f1", "f2", "f3", "f4", "note"}));
  HttpResult again = PutDataset("nl", std::to_string(v), "holdout", BackgroundCsv(3, 5, 2));
  EXPECT_EQ(again.status, 200) << again.body;  // replaced
  ASSERT_EQ(s_.Call("PUT", "/api/v1/models/nl/aliases/production", {{"version", v}}).status, 200);
  EXPECT_EQ(PutDataset("nl", "production", "reference", csv).status, 201);  // by alias
  HttpResult list = s_.Call("GET", "/api/v1/models/nl/versions/1/datasets");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.json()["datasets"].size(), 2u);
  EXPECT_EQ(list.json()["datasets"][0]["kind"], "holdout");
  EXPECT_EQ(list.json()["datasets"][0]["rows"], 3);
  EXPECT_EQ(list.json()["datasets"][1]["kind"], "reference");
  for (const char* key : {"sha256", "size_bytes", "rows", "columns", "created_at"}) {
    EXPECT_TRUE(list.json()["datasets"][1].contains(key)) << key;
  }
  HttpResult get = Http("GET", s_.Url("/api/v1/models/nl/versions/1/datasets/reference"), "", {Auth()});
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.body, csv);
  EXPECT_EQ(get.headers["x-content-sha256"], Sha256Hex(csv));
  EXPECT_EQ(get.headers["content-type"], "text/csv");
}

TEST_F(ExplainApiTest, BadCsvIsRefusedWith400AndStoresNothing) {
  const int64_t v = Register("nl", ExplainModel("nonlinear_5.onnx"),
                             {{"framework", "onnx"}, {"schema", kNonlinearSchema}});
  const int blobs = Blobs();
  struct Case { std::string csv, message; };
  for (const Case& c : {Case{"1,2,3,4,5\n6,7,8,9,10\n", "must be a header"},
                        Case{"a,b,c,d,e\n1,2,3,4,5\n1,2\n", "line 3: expected 5 fields, found 2"},
                        Case{"a,b,c,d,e\n1,2,x,4,5\n", "line 2, column 'c': 'x' is not a finite number"},
                        Case{"a,b,c\n1,2,3\n", "takes 5 features per row"},
                        Case{"", "empty"}}) {
    HttpResult r = PutDataset("nl", std::to_string(v), "background", c.csv);
    EXPECT_EQ(r.status, 400) << c.csv;
    EXPECT_EQ(r.json()["error"]["code"], "invalid_argument");
    EXPECT_NE(r.json()["error"]["message"].get<std::string>().find(c.message), std::string::npos)
        << r.body;
  }
  EXPECT_EQ(Blobs(), blobs);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/nl/versions/1/datasets").json()["datasets"].size(), 0u);
  EXPECT_EQ(Http("GET", s_.Url("/api/v1/models/nl/versions/1/datasets/background"), "", {Auth()}).status, 404);
}

TEST_F(ExplainApiTest, DatasetRoutesRefuseUnknownKindModelVersionAndReadOnlyTokens) {
  Register("nl", ExplainModel("nonlinear_5.onnx"), {{"framework", "onnx"}});
  const std::string csv = BackgroundCsv(2, 5, 3);
  HttpResult kind = PutDataset("nl", "1", "training", csv);
  EXPECT_EQ(kind.status, 400);
  EXPECT_NE(kind.body.find("holdout, reference, background"), std::string::npos);
  EXPECT_EQ(PutDataset("nope", "1", "holdout", csv).status, 404);
  EXPECT_EQ(PutDataset("nl", "7", "holdout", csv).status, 404);
  EXPECT_EQ(PutDataset("nl", "staging", "holdout", csv).status, 404);
  const std::string viewer = s_.TokenFor("viewer");
  HttpResult denied = PutDataset("nl", "1", "holdout", csv, viewer);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(Http("PUT", s_.Url("/api/v1/models/nl/versions/1/datasets/holdout"), csv, {}).status, 401);
  EXPECT_EQ(Http("GET", s_.Url("/api/v1/models/nl/versions/1/datasets"), "", {Auth(viewer)}).status, 200);
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/nl/versions/1/datasets").json()["datasets"].size(), 0u);
}

TEST_F(ExplainApiTest, CorruptedDatasetIsNeverServed) {
  Register("nl", ExplainModel("nonlinear_5.onnx"), {{"framework", "onnx"}});
  const std::string csv = BackgroundCsv(2, 5, 4);
  ASSERT_EQ(PutDataset("nl", "1", "holdout", csv).status, 201);
  const std::string sha = Sha256Hex(csv);
  const std::string path = s_.data_dir() + "/data/artifacts/sha256/" + sha.substr(0, 2) + "/" + sha;
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  { std::ofstream(path, std::ios::trunc) << "f0\n1\n"; }
  HttpResult r = Http("GET", s_.Url("/api/v1/models/nl/versions/1/datasets/holdout"), "", {Auth()});
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.json()["error"]["code"], "data_loss");
  EXPECT_EQ(r.body.find("f0\n1"), std::string::npos);
}

// ---- Kernel SHAP on ONNX models -------------------------------------------------------------

// Exact Shapley values of v(S) = mean_b f(x_S, b_notS) for one row, by enumeration of all 2^M
// coalitions, the model evaluated through /infer.
struct Exact {
  std::vector<std::vector<double>> phi;  // [k][m]
  std::vector<double> expected;          // [k]
  std::vector<double> fx;                // [k]
};
Exact BruteForce(ExplainApiTest* t, const std::vector<double>& x,
                 const std::vector<std::vector<double>>& bg,
                 const std::function<std::vector<std::vector<double>>(
                     const std::vector<std::vector<double>>&)>& infer) {
  const int m = static_cast<int>(x.size());
  std::vector<std::vector<double>> rows;
  for (int s = 0; s < (1 << m); ++s) {
    for (const auto& b : bg) {
      std::vector<double> z(b);
      for (int i = 0; i < m; ++i) if ((s >> i) & 1) z[i] = x[i];
      rows.push_back(z);
    }
  }
  auto y = infer(rows);
  const size_t k = y[0].size();
  std::vector<std::vector<double>> v(static_cast<size_t>(1 << m), std::vector<double>(k, 0.0));
  for (int s = 0; s < (1 << m); ++s) {
    for (size_t b = 0; b < bg.size(); ++b) {
      for (size_t j = 0; j < k; ++j) v[s][j] += y[s * bg.size() + b][j] / static_cast<double>(bg.size());
    }
  }
  std::vector<double> fact(static_cast<size_t>(m + 1), 1.0);
  for (int i = 1; i <= m; ++i) fact[i] = fact[i - 1] * i;
  Exact e{std::vector<std::vector<double>>(k, std::vector<double>(static_cast<size_t>(m), 0.0)), v[0],
          v[(1 << m) - 1]};
  for (int i = 0; i < m; ++i) {
    for (int s = 0; s < (1 << m); ++s) {
      if ((s >> i) & 1) continue;
      const int size = __builtin_popcount(static_cast<unsigned>(s));
      const double w = fact[size] * fact[m - size - 1] / fact[m];
      for (size_t j = 0; j < k; ++j) e.phi[j][i] += w * (v[s | (1 << i)][j] - v[s][j]);
    }
  }
  (void)t;
  return e;
}

// Tolerance: the explained model computes in FP32; both sides evaluate the same FP32 model on
// the same rows, so only the order of double sums differs — 1e-4 absolute is generous.
TEST_F(ExplainApiTest, KernelShapOnAnOnnxModelEqualsBruteForceShapleyValues) {
  const int64_t v = Register("nl", ExplainModel("nonlinear_5.onnx"),
                             {{"framework", "onnx"}, {"schema", kNonlinearSchema}});
  Deploy("nl", v);
  const std::string csv = BackgroundCsv(12, 5, 7);
  ASSERT_EQ(PutDataset("nl", "1", "background", csv).status, 201);
  std::vector<std::vector<double>> bg;
  for (int r = 0; r < 12; ++r) {
    bg.emplace_back();
    for (int f = 0; f < 5; ++f) bg.back().push_back(static_cast<float>(Noise(7 + r * 31 + f)));
  }
  const std::vector<std::vector<double>> x = {{0.5, -1.0, 1.5, 0.25, -0.75}, {-1.2, 0.3, 0.0, 2.0, 1.0}};
  HttpResult r = Explain("nl", {{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {2, 5}},
                                             {"data", x}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j["model_name"], "nl");
  EXPECT_EQ(j["model_version"], "1");
  EXPECT_EQ(j["method"], "exact");  // 2^5 - 2 = 30 coalitions fit the default budget
  EXPECT_EQ(j["parameters"]["background_source"], "dataset:background");
  EXPECT_EQ(j["parameters"]["background_rows"], 12);
  ASSERT_EQ(j["explanations"].size(), 1u);  // argmax is INT64: not explained
  const json& e = j["explanations"][0];
  EXPECT_EQ(e["output"], "y");
  EXPECT_EQ(e["feature_names"], json({"f0", "f1", "f2", "f3", "f4"}));
  ASSERT_EQ(e["shap_values"].size(), 2u);     // two output columns
  ASSERT_EQ(e["shap_values"][0].size(), 2u);  // two rows
  auto infer = [&](const std::vector<std::vector<double>>& rows) { return Infer("nl", "FP32", rows, "y"); };
  for (size_t row = 0; row < 2; ++row) {
    std::vector<double> xf;
    for (double d : x[row]) xf.push_back(static_cast<float>(d));
    Exact exact = BruteForce(this, xf, bg, infer);
    for (size_t k = 0; k < 2; ++k) {
      EXPECT_NEAR(e["expected_value"][k].get<double>(), exact.expected[k], 1e-4);
      double sum = e["expected_value"][k].get<double>();
      for (size_t f = 0; f < 5; ++f) {
        const double got = e["shap_values"][k][row][f].get<double>();
        EXPECT_NEAR(got, exact.phi[k][f], 1e-4) << "row " << row << " output " << k << " feature " << f;
        sum += got;
      }
      // Additivity: attributions plus the expected value give the prediction.
      EXPECT_NEAR(sum, e["raw_prediction"][row][k].get<double>(), 1e-6);
      EXPECT_NEAR(sum, exact.fx[k], 1e-4);
    }
  }
}

TEST_F(ExplainApiTest, SampledKernelShapIsExactForAnAdditiveModelAndDeterministicWithASeed) {
  const int64_t v = Register("lin", ExplainModel("linear_8.onnx"), {{"framework", "onnx"}});
  Deploy("lin", v);
  const std::string csv = BackgroundCsv(30, 8, 11);
  ASSERT_EQ(PutDataset("lin", "1", "reference", csv).status, 201);  // reference as fallback
  const std::vector<double> x = {1, -2, 0.5, 3, -1, 0, 2, -0.5};
  json body = {{"inputs", {{{"name", "x"}, {"datatype", "FP64"}, {"shape", {1, 8}}, {"data", x}}}},
               {"parameters", {{"nsamples", 40}, {"seed", 5}, {"max_background_rows", 10}}}};
  HttpResult a = Explain("lin", body);
  ASSERT_EQ(a.status, 200) << a.body;
  json j = a.json();
  EXPECT_EQ(j["method"], "kernel_shap");  // 40 < 2^8 - 2: sampled
  EXPECT_EQ(j["parameters"]["coalitions"], 40);
  EXPECT_EQ(j["parameters"]["background_rows"], 10);
  EXPECT_EQ(j["parameters"]["background_source"], "dataset:reference");
  // Additivity: attributions plus the expected value give f(x) = x . w + 0.5.
  const json e = j["explanations"][0];
  double sum = e["expected_value"][0].get<double>();
  for (int i = 0; i < 8; ++i) sum += e["shap_values"][0][0][i].get<double>();
  const double fx = 0.5 + [&] { double s = 0; for (int i = 0; i < 8; ++i) s += x[i] * (i + 1) / 4.0; return s; }();
  EXPECT_NEAR(sum, fx, 1e-9);
  EXPECT_NEAR(e["raw_prediction"][0][0].get<double>(), fx, 1e-9);
  // With the whole background (max_background_rows >= 30) the means are the CSV's columns.
  body["parameters"]["max_background_rows"] = 100;
  HttpResult full = Explain("lin", body);
  ASSERT_EQ(full.status, 200) << full.body;
  const json ef = full.json()["explanations"][0];
  for (int i = 0; i < 8; ++i) {
    double mean = 0;
    for (int r = 0; r < 30; ++r) mean += Noise(11 + r * 31 + i) / 30.0;
    EXPECT_NEAR(ef["shap_values"][0][0][i].get<double>(), (i + 1) / 4.0 * (x[i] - mean), 1e-6) << i;
  }
  // Same seed, same answer.
  body["parameters"]["max_background_rows"] = 10;
  HttpResult b = Explain("lin", body);
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(a.json()["explanations"], b.json()["explanations"]);
}

TEST_F(ExplainApiTest, RequestBackgroundIsUsedWhenTheVersionHasNoDataset) {
  const int64_t v = Register("lin", ExplainModel("linear_8.onnx"), {{"framework", "onnx"}});
  Deploy("lin", v);
  json x = {{1, 1, 1, 1, 1, 1, 1, 1}};
  HttpResult none = Explain("lin", {{"inputs", {{{"name", "x"}, {"datatype", "FP64"}, {"shape", {1, 8}}, {"data", x}}}}});
  EXPECT_EQ(none.status, 400);
  EXPECT_NE(none.json()["error"].get<std::string>().find("/datasets/background"), std::string::npos)
      << none.body;
  json bg = {{0, 0, 0, 0, 0, 0, 0, 0}};
  HttpResult r = Explain("lin", {{"inputs", {{{"name", "x"}, {"datatype", "FP64"}, {"shape", {1, 8}}, {"data", x}}}},
                                 {"parameters", {{"background", bg}, {"feature_names", {"a", "b", "c", "d", "e", "f", "g", "h"}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json e = r.json()["explanations"][0];
  EXPECT_EQ(r.json()["parameters"]["background_source"], "request");
  EXPECT_EQ(e["feature_names"][7], "h");
  EXPECT_NEAR(e["expected_value"][0].get<double>(), 0.5, 1e-12);
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(e["shap_values"][0][0][i].get<double>(), (i + 1) / 4.0, 1e-9);
}

// ---- Bad input --------------------------------------------------------------------------------

TEST_F(ExplainApiTest, MalformedExplainRequestsAre400AndChangeNothing) {
  const int64_t v = Register("nl", ExplainModel("nonlinear_5.onnx"),
                             {{"framework", "onnx"}, {"schema", kNonlinearSchema}});
  Deploy("nl", v);
  ASSERT_EQ(PutDataset("nl", "1", "background", BackgroundCsv(5, 5, 9)).status, 201);
  const json good_input = {{"name", "x"}, {"datatype", "FP32"}, {"shape", {1, 5}}, {"data", {1, 2, 3, 4, 5}}};
  struct Case { std::string body, message; };
  std::vector<Case> cases = {
      {"{not json", ""},
      {json{{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {5}}, {"data", {1, 2, 3, 4, 5}}}}}}.dump(), "2-D"},
      {json{{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {1, 3}}, {"data", {1, 2, 3}}}}}}.dump(), "shape"},
      {json{{"inputs", {{{"name", "x"}, {"datatype", "INT64"}, {"shape", {1, 5}}, {"data", {1, 2, 3, 4, 5}}}}}}.dump(), "FP32 or FP64"},
      {json{{"inputs", {good_input}}, {"parameters", {{"nsampels", 10}}}}.dump(), "unknown parameter 'nsampels'"},
      {json{{"inputs", {good_input}}, {"parameters", {{"nsamples", -3}}}}.dump(), "nsamples"},
      {json{{"inputs", {good_input}}, {"parameters", {{"method", "lime"}}}}.dump(), "method"},
      {json{{"inputs", {good_input}}, {"parameters", {{"method", "tree_shap"}}}}.dump(), "tree_shap needs"},
      {json{{"inputs", {good_input}}, {"outputs", {{{"name", "argmax"}}}}}.dump(), "only FP32/FP64"},
      {json{{"inputs", {good_input}}, {"outputs", {{{"name", "nope"}}}}}.dump(), "unknown output"},
      {json{{"inputs", {good_input}}, {"parameters", {{"feature_names", {"a"}}}}}.dump(), "feature_names"},
  };
  for (const Case& c : cases) {
    HttpResult r = Post("/v2/models/nl/explain", c.body);
    EXPECT_EQ(r.status, 400) << c.body << " -> " << r.body;
    ASSERT_TRUE(r.json().is_object() && r.json()["error"].is_string()) << r.body;
    EXPECT_NE(r.json()["error"].get<std::string>().find(c.message), std::string::npos) << r.body;
  }
  // Nothing changed: the same model serves, the dataset is the same.
  EXPECT_EQ(s_.Call("GET", "/api/v1/models/nl/versions/1/datasets").json()["datasets"].size(), 1u);
  EXPECT_EQ(Explain("nl", {{"inputs", {good_input}}}).status, 200);
}

TEST_F(ExplainApiTest, ExplanationBudgetsAreEnforcedWith400) {
  const int64_t v = Register("lin", ExplainModel("linear_8.onnx"), {{"framework", "onnx"}});
  Deploy("lin", v);
  json many = json::array();
  for (int r = 0; r < 65; ++r) many.push_back(std::vector<double>(8, 1.0));
  HttpResult rows = Explain("lin", {{"inputs", {{{"name", "x"}, {"datatype", "FP64"}, {"shape", {65, 8}}, {"data", many}}}}});
  EXPECT_EQ(rows.status, 400);
  EXPECT_NE(rows.body.find("at most 64 rows"), std::string::npos) << rows.body;
  // 10 rows x 254 coalitions x 1000 background rows + 1000 + 10 = 2,541,010 model rows > 2M.
  json ten = json::array();
  for (int r = 0; r < 10; ++r) ten.push_back(std::vector<double>(8, 1.0));
  json background = json::array();
  for (int r = 0; r < 1000; ++r) background.push_back(std::vector<double>(8, r * 0.001));
  HttpResult cost = Explain("lin", {{"inputs", {{{"name", "x"}, {"datatype", "FP64"}, {"shape", {10, 8}}, {"data", ten}}}},
                                    {"parameters", {{"background", background}, {"max_background_rows", 1000}}}});
  EXPECT_EQ(cost.status, 400);
  EXPECT_NE(cost.body.find("2541010 model rows"), std::string::npos) << cost.body;
  json one = {std::vector<double>(8, 1.0)};
  HttpResult too_many = Explain("lin", {{"inputs", {{{"name", "x"}, {"datatype", "FP64"}, {"shape", {1, 8}}, {"data", one}}}},
                                        {"parameters", {{"nsamples", 100001}}}});
  EXPECT_EQ(too_many.status, 400);
  EXPECT_NE(too_many.body.find("limit"), std::string::npos);
}

TEST_F(ExplainApiTest, ExplanationsBeyondTheConcurrencyLimitGet503WithRetryAfter) {
  const int64_t v = Register("lin", ExplainModel("linear_8.onnx"), {{"framework", "onnx"}});
  Deploy("lin", v);
  json seven = json::array();
  for (int r = 0; r < 7; ++r) seven.push_back(std::vector<double>(8, 1.0));
  json background = json::array();
  for (int r = 0; r < 1000; ++r) background.push_back(std::vector<double>(8, r * 0.001));
  // ~1.8M model rows: long enough (0.6 s here) for other requests to arrive meanwhile.
  const json slow = {{"inputs", {{{"name", "x"}, {"datatype", "FP64"}, {"shape", {7, 8}}, {"data", seven}}}},
                     {"parameters", {{"background", background}, {"max_background_rows", 1000}}}};
  const json quick = {{"inputs", {{{"name", "x"}, {"datatype", "FP64"}, {"shape", {1, 8}}, {"data", {std::vector<double>(8, 1.0)}}}}},
                      {"parameters", {{"background", {std::vector<double>(8, 0.0)}}}}};
  std::atomic<bool> done{false};
  HttpResult first;
  std::thread t([&] {
    first = Explain("lin", slow);
    done = true;
  });
  int busy = 0;
  while (!done) {
    HttpResult r = Explain("lin", quick);
    if (r.status == 503) {
      ++busy;
      EXPECT_EQ(r.headers["retry-after"], "1");
      EXPECT_NE(r.json()["error"].get<std::string>().find("limit of 1 explanations"), std::string::npos);
    } else {
      EXPECT_EQ(r.status, 200) << r.body;
    }
    // Inference is served meanwhile (by another worker).
    EXPECT_NEAR(Infer("lin", "FP64", {std::vector<double>(8, 1.0)}, "y")[0][0], 9.5, 1e-12);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  t.join();
  // Whichever of the overlapping explanations came second was refused.
  EXPECT_TRUE(first.status == 200 || first.status == 503) << first.body;
  EXPECT_GE(busy + (first.status == 503 ? 1 : 0), 1);
  EXPECT_EQ(Explain("lin", quick).status, 200);  // served again once the slot is free
}

TEST_F(ExplainApiTest, UnknownModelOrVersionIs404AndATokenIsNeeded) {
  json body = {{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {1, 5}}, {"data", {1, 2, 3, 4, 5}}}}}};
  HttpResult r = Explain("ghost", body);
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(r.json()["error"].is_string());
  const int64_t v = Register("nl", ExplainModel("nonlinear_5.onnx"), {{"framework", "onnx"}});
  Deploy("nl", v);
  HttpResult wrong = Post("/v2/models/nl/versions/9/explain", body.dump());
  EXPECT_EQ(wrong.status, 404);
  EXPECT_NE(wrong.body.find("not loaded"), std::string::npos);
  HttpResult anon = Http("POST", s_.Url("/v2/models/nl/explain"), body.dump(), {"Content-Type: application/json"});
  EXPECT_EQ(anon.status, 401);
}

// ---- tree_shap on XGBoost ---------------------------------------------------------------------

json XgbCase(const std::string& id) {
  const json refs = json::parse(ReadAll(std::string(HOTSWAP_XGBOOST_MODELS_DIR) + "/references.json"));
  for (const json& c : refs["cases"]) {
    if (c["id"] == id) return c;
  }
  ADD_FAILURE() << "no case " << id;
  return {};
}

// XGBoost's pred_contribs are path-dependent TreeSHAP (they use the trees' cover statistics, not
// an interventional background), so the comparison is with XGBoost's own Python
// Booster.predict(pred_contribs=True) on the same model and rows, written by
// tests/models/make_backend_models.py; plus additivity against the prediction.
TEST_F(ExplainApiTest, TreeShapOnXgboostEqualsXgboostsOwnPredContribs) {
  if (std::string(HOTSWAP_XGBOOST_MODELS_DIR).empty()) GTEST_SKIP() << "XGBoost backend not built";
  const int64_t v = Register("xreg", std::string(HOTSWAP_XGBOOST_MODELS_DIR) + "/xgb_regressor.json",
                             {{"framework", "xgboost"}});
  Deploy("xreg", v);
  const json c = XgbCase("xgb_regressor_contribs_b32");
  const json prediction = XgbCase("xgb_regressor_b32")["outputs"][0];
  HttpResult r = Explain("xreg", {{"inputs", c["inputs"]}});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j["method"], "tree_shap");
  const json& e = j["explanations"][0];
  const json& ref = c["outputs"][0];  // [32, 6]: 5 features + bias
  ASSERT_EQ(e["shap_values"][0].size(), 32u);
  for (int row = 0; row < 32; ++row) {
    double sum = e["expected_value"][0].get<double>();
    EXPECT_NEAR(e["expected_value"][0].get<double>(), ref["data"][row * 6 + 5].get<double>(), 1e-6);
    for (int f = 0; f < 5; ++f) {
      EXPECT_NEAR(e["shap_values"][0][row][f].get<double>(), ref["data"][row * 6 + f].get<double>(), 1e-6);
      sum += e["shap_values"][0][row][f].get<double>();
    }
    EXPECT_NEAR(sum, prediction["data"][row].get<double>(), 1e-4);  // reg:squarederror: margin = prediction
  }
  // binary:logistic: attributions are log-odds; the sigmoid of their sum is the probability.
  const int64_t vb = Register("xbin", std::string(HOTSWAP_XGBOOST_MODELS_DIR) + "/xgb_binary.json",
                              {{"framework", "xgboost"}});
  Deploy("xbin", vb);
  const json bc = XgbCase("xgb_binary_contribs_b1");
  const json probs = XgbCase("xgb_binary_json_b1")["outputs"][1];  // [1, 2]
  HttpResult rb = Explain("xbin", {{"inputs", bc["inputs"]}});
  ASSERT_EQ(rb.status, 200) << rb.body;
  const json eb = rb.json()["explanations"][0];
  EXPECT_EQ(eb["output_space"], "margin");
  double margin = eb["expected_value"][0].get<double>();
  for (int f = 0; f < 8; ++f) {
    EXPECT_NEAR(eb["shap_values"][0][0][f].get<double>(), bc["outputs"][0]["data"][f].get<double>(), 1e-6);
    margin += eb["shap_values"][0][0][f].get<double>();
  }
  EXPECT_NEAR(1.0 / (1.0 + std::exp(-margin)), probs["data"][1].get<double>(), 1e-5);
  // Kernel SHAP on the same model is available on request (interventional, needs a background).
  HttpResult k = Explain("xreg", {{"inputs", c["inputs"]}, {"parameters", {{"method", "kernel_shap"}, {"background", {std::vector<double>(5, 0.0)}}}}});
  ASSERT_EQ(k.status, 200) << k.body;
  EXPECT_EQ(k.json()["method"], "exact");
  EXPECT_EQ(k.json()["explanations"][0]["output"], "predictions");
}

}  // namespace
}  // namespace hotswap
