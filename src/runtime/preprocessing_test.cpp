// Tests for runtime/preprocessing.h (kept here until hs_runtime_prep moves to src/runtime/).
#include "runtime/preprocessing.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hotswap::runtime {
namespace {

using domain::DataType;
using Json = nlohmann::json;
using ::testing::ElementsAre;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <typename T>
Tensor Numeric(std::string name, DataType type, std::vector<T> values, bool column = false) {
  Tensor t{std::move(name), type, {static_cast<int64_t>(values.size())}, ""};
  if (column) t.shape.push_back(1);
  t.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
  return t;
}

Tensor Doubles(std::string name, std::vector<double> values) {
  return Numeric(std::move(name), DataType::kFp64, std::move(values));
}

Tensor Strings(std::string name, std::vector<std::string> values) {
  Tensor t{std::move(name), DataType::kBytes, {static_cast<int64_t>(values.size())}, ""};
  for (const std::string& v : values) {
    const uint32_t len = static_cast<uint32_t>(v.size());
    t.data.append(reinterpret_cast<const char*>(&len), 4);
    t.data.append(v);
  }
  return t;
}

template <typename T>
std::vector<double> Values(const Tensor& t) {
  std::vector<double> out(t.data.size() / sizeof(T));
  for (size_t i = 0; i < out.size(); ++i) {
    T v;
    std::memcpy(&v, t.data.data() + i * sizeof(T), sizeof(T));
    out[i] = static_cast<double>(v);
  }
  return out;
}

Preprocessor MustCompile(const Json& config) {
  auto pre = Preprocessor::Compile(config);
  EXPECT_TRUE(pre.ok()) << pre.status();
  return pre.ok() ? std::move(*pre) : Preprocessor();
}

// A single FP64 output "out" holding one numeric feature "x" with `steps`.
Json OneFeature(Json steps, std::string datatype = "FP64") {
  return {{"outputs",
           {{{"name", "out"},
             {"datatype", datatype},
             {"features", {{{"feature", "x"}, {"steps", std::move(steps)}}}}}}}};
}

std::vector<double> RunOne(const Json& steps, std::vector<double> x) {
  Preprocessor pre = MustCompile(OneFeature(steps));
  std::vector<Tensor> in;
  in.push_back(Doubles("x", std::move(x)));
  auto out = pre.Apply(std::move(in));
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return {};
  return Values<double>((*out)[0]);
}

std::string ApplyError(const Preprocessor& pre, std::vector<Tensor> inputs) {
  auto out = pre.Apply(std::move(inputs));
  EXPECT_FALSE(out.ok());
  if (out.ok()) return "";
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(out.status().message());
}

std::string CompileError(const Json& config) {
  auto pre = Preprocessor::Compile(config);
  EXPECT_FALSE(pre.ok()) << config.dump();
  if (pre.ok()) return "";
  EXPECT_EQ(pre.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(pre.status().message());
}

const Json kIrisConfig = Json::parse(R"({"outputs": [{"name": "input", "datatype": "FP32",
  "features": [
    {"feature": "sepal_length", "steps": [{"op": "impute", "value": 5.8},
                                          {"op": "standardize", "mean": 5.84, "std": 0.83}]},
    {"feature": "petal_width",  "steps": [{"op": "log1p"}, {"op": "clip", "min": 0, "max": 3},
                                          {"op": "min_max", "min": 0, "max": 3}]},
    {"feature": "colour", "steps": [{"op": "one_hot", "vocabulary": ["red", "green", "blue"]}]},
    {"feature": "city",   "steps": [{"op": "lookup", "vocabulary": ["a", "b"], "default": -1}]}]}]})");

TEST(Preprocessor, IrisExampleMatchesHandComputedValues) {
  Preprocessor pre = MustCompile(kIrisConfig);
  EXPECT_FALSE(pre.empty());
  std::vector<Tensor> in;
  in.push_back(Doubles("sepal_length", {6.67, kNaN}));
  in.push_back(Numeric<float>("petal_width", DataType::kFp32, {1.718281828f, 100.0f}));
  in.push_back(Strings("colour", {"green", "purple"}));
  in.push_back(Strings("city", {"b", "zz"}));
  auto out = pre.Apply(std::move(in));
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 1u);
  const Tensor& t = (*out)[0];
  EXPECT_EQ(t.name, "input");
  EXPECT_EQ(t.datatype, DataType::kFp32);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 6}));
  const std::vector<double> v = Values<float>(t);
  // Row 0: (6.67-5.84)/0.83 = 1; log1p(e-1) = 1 -> clip 1 -> 1/3; green; b -> 1.
  const double expected[2][6] = {{1.0, 1.0 / 3.0, 0, 1, 0, 1},
                                 // Row 1: NaN -> 5.8 -> -0.04/0.83; log1p(100) = 4.615 -> 3 -> 1;
                                 // unknown colour -> zeros; unknown city -> -1.
                                 {-0.04 / 0.83, 1.0, 0, 0, 0, -1}};
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 6; ++c) EXPECT_NEAR(v[r * 6 + c], expected[r][c], 1e-6) << r << "," << c;
  }
}

TEST(Preprocessor, StandardizeMinMaxClipLog1pImpute) {
  EXPECT_THAT(RunOne({{{"op", "standardize"}, {"mean", 1}, {"std", 2}}}, {3, -1, 1}),
              ElementsAre(1.0, -1.0, 0.0));
  EXPECT_THAT(RunOne({{{"op", "min_max"}, {"min", 2}, {"max", 12}}}, {7, 2, 17}),
              ElementsAre(0.5, 0.0, 1.5));  // min_max does not clip
  EXPECT_THAT(RunOne({{{"op", "clip"}, {"min", 0}}}, {-5, 7}), ElementsAre(0.0, 7.0));
  EXPECT_THAT(RunOne({{{"op", "clip"}, {"max", 1}}}, {-5, 7}), ElementsAre(-5.0, 1.0));
  const std::vector<double> logs = RunOne({{{"op", "log1p"}}}, {0, std::exp(2.0) - 1, -0.5});
  ASSERT_EQ(logs.size(), 3u);
  EXPECT_DOUBLE_EQ(logs[0], 0.0);
  EXPECT_DOUBLE_EQ(logs[1], 2.0);
  EXPECT_DOUBLE_EQ(logs[2], std::log(0.5));
  EXPECT_THAT(RunOne({{{"op", "impute"}, {"value", 4}}}, {kNaN, 2}), ElementsAre(4.0, 2.0));
  EXPECT_THAT(RunOne(Json::array(), {2.5}), ElementsAre(2.5));  // no steps: identity
}

TEST(Preprocessor, StepsApplyInOrder) {
  // clip then standardize vs standardize then clip.
  EXPECT_THAT(
      RunOne({{{"op", "clip"}, {"max", 10}}, {{"op", "standardize"}, {"mean", 0}, {"std", 5}}},
             {20}),
      ElementsAre(2.0));
  EXPECT_THAT(
      RunOne({{{"op", "standardize"}, {"mean", 0}, {"std", 5}}, {{"op", "clip"}, {"max", 10}}},
             {20}),
      ElementsAre(4.0));
}

TEST(Preprocessor, MissingNumericValueWithoutImputeFlowsThroughAsNaN) {
  const std::vector<double> v = RunOne({{{"op", "standardize"}, {"mean", 1}, {"std", 2}},
                                        {{"op", "clip"}, {"min", 0}},
                                        {{"op", "log1p"}}},
                                       {kNaN});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(std::isnan(v[0]));
}

TEST(Preprocessor, Log1pRejectsValuesAtOrBelowMinusOne) {
  Preprocessor pre = MustCompile(OneFeature({{{"op", "log1p"}}}));
  std::vector<Tensor> in;
  in.push_back(Doubles("x", {0.5, -1}));
  EXPECT_EQ(ApplyError(pre, std::move(in)),
            "feature 'x': log1p needs values > -1, got -1 at row 1");
}

TEST(Preprocessor, CategoricalImputeUnknownCategoriesAndLookupDefault) {
  Preprocessor pre = MustCompile(Json::parse(R"({"outputs": [{"name": "o", "datatype": "FP64",
    "features": [
      {"feature": "c", "steps": [{"op": "impute", "value": "blue"},
                                 {"op": "one_hot", "vocabulary": ["red", "blue"]}]},
      {"feature": "d", "steps": [{"op": "lookup", "vocabulary": ["x", "y", "z"]},
                                 {"op": "standardize", "mean": 1, "std": 0.5}]}]}]})"));
  std::vector<Tensor> in;
  in.push_back(Strings("c", {"", "red", "RED"}));
  in.push_back(Strings("d", {"z", "", "w"}));
  auto out = pre.Apply(std::move(in));
  ASSERT_TRUE(out.ok()) << out.status();
  // c: "" -> blue; red; RED is unknown (case-sensitive) -> zeros.
  // d: z -> 2 -> (2-1)/0.5 = 2; "" unknown -> -1 (default) -> -4; w -> -4.
  EXPECT_THAT(Values<double>((*out)[0]), ElementsAre(0, 1, 2, 1, 0, -4, 0, 0, -4));
}

TEST(Preprocessor, AnyNumericDatatypeAndColumnShapeAreAccepted) {
  Preprocessor pre = MustCompile(Json::parse(R"({"outputs": [{"name": "o", "datatype": "FP64",
    "features": [{"feature": "a"}, {"feature": "b"}, {"feature": "c"}, {"feature": "d"},
                 {"feature": "e"}, {"feature": "f"}]}]})"));
  std::vector<Tensor> in;
  in.push_back(Numeric<int32_t>("a", DataType::kInt32, {-3, 4}, /*column=*/true));
  in.push_back(Numeric<uint8_t>("b", DataType::kUint8, {200, 1}));
  in.push_back(Numeric<uint8_t>("c", DataType::kBool, {1, 0}));
  in.push_back(Numeric<uint16_t>("d", DataType::kFp16, {0x3E00, 0xC000}));  // 1.5, -2
  in.push_back(Numeric<int64_t>("e", DataType::kInt64, {-9, 1LL << 40}));
  in.push_back(Numeric<uint64_t>("f", DataType::kUint64, {7, 8}, /*column=*/true));
  auto out = pre.Apply(std::move(in));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Values<double>((*out)[0]),
              ElementsAre(-3, 200, 1, 1.5, -9, 7, 4, 1, 0, -2, 1099511627776.0, 8));
}

TEST(Preprocessor, OutputsConcatenateInConfigOrderAndOthersPassThrough) {
  Preprocessor pre = MustCompile(Json::parse(R"({"outputs": [
    {"name": "dense", "features": [{"feature": "b"}, {"feature": "a"}, {"feature": "b",
                                    "steps": [{"op": "standardize", "mean": 0, "std": 10}]}]},
    {"name": "cats", "datatype": "FP64",
     "features": [{"feature": "k", "steps": [{"op": "one_hot", "vocabulary": ["p", "q"]}]}]}]})"));
  EXPECT_EQ(pre.output_names(), (std::vector<std::string>{"dense", "cats"}));
  EXPECT_EQ(pre.feature_inputs(),
            (std::vector<Preprocessor::FeatureInput>{{"b", false}, {"a", false}, {"k", true}}));
  std::vector<Tensor> in;
  in.push_back(Numeric<int32_t>("mask", DataType::kInt32, {1, 0}));
  in.push_back(Doubles("a", {1, 2}));
  in.push_back(Doubles("b", {10, 20}));
  in.push_back(Strings("k", {"q", "p"}));
  in.push_back(Strings("note", {"keep me"}));
  const std::string mask_bytes = in[0].data;
  auto out = pre.Apply(std::move(in));
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 4u);
  EXPECT_EQ((*out)[0].name, "dense");
  EXPECT_EQ((*out)[0].datatype, DataType::kFp32);
  EXPECT_EQ((*out)[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_THAT(Values<float>((*out)[0]), ElementsAre(10, 1, 1, 20, 2, 2));
  EXPECT_EQ((*out)[1].name, "cats");
  EXPECT_THAT(Values<double>((*out)[1]), ElementsAre(0, 1, 1, 0));
  EXPECT_EQ((*out)[2].name, "mask");
  EXPECT_EQ((*out)[2].data, mask_bytes);
  EXPECT_EQ((*out)[3].name, "note");
  EXPECT_EQ((*out)[3].shape, (std::vector<int64_t>{1}));
}

TEST(Preprocessor, EmptyPipelinePassesInputsThrough) {
  Preprocessor pre = MustCompile(nullptr);
  EXPECT_TRUE(pre.empty());
  std::vector<Tensor> in;
  in.push_back(Doubles("x", {1}));
  auto out = pre.Apply(std::move(in));
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].name, "x");
}

TEST(Preprocessor, ZeroBatchProducesAnEmptyTensor) {
  Preprocessor pre = MustCompile(kIrisConfig);
  std::vector<Tensor> in;
  in.push_back(Doubles("sepal_length", {}));
  in.push_back(Doubles("petal_width", {}));
  in.push_back(Strings("colour", {}));
  in.push_back(Strings("city", {}));
  auto out = pre.Apply(std::move(in));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].shape, (std::vector<int64_t>{0, 6}));
  EXPECT_TRUE((*out)[0].data.empty());
}

TEST(Preprocessor, ApplyErrorsNameTheFeature) {
  Preprocessor pre = MustCompile(kIrisConfig);
  auto inputs = [] {
    std::vector<Tensor> in;
    in.push_back(Doubles("sepal_length", {1, 2}));
    in.push_back(Doubles("petal_width", {1, 2}));
    in.push_back(Strings("colour", {"red", "blue"}));
    in.push_back(Strings("city", {"a", "b"}));
    return in;
  };
  {
    auto in = inputs();
    in.erase(in.begin() + 1);
    EXPECT_EQ(ApplyError(pre, std::move(in)),
              "missing feature 'petal_width' (preprocessed into model input 'input')");
  }
  {
    auto in = inputs();
    in[1] = Doubles("petal_width", {1, 2, 3});
    EXPECT_EQ(ApplyError(pre, std::move(in)),
              "feature 'petal_width' has batch size 3 but feature 'sepal_length' has 2");
  }
  {
    auto in = inputs();
    in[2] = Doubles("colour", {1, 2});
    EXPECT_EQ(ApplyError(pre, std::move(in)),
              "feature 'colour': one_hot/lookup need BYTES input, got FP64");
  }
  {
    auto in = inputs();
    in[0] = Strings("sepal_length", {"1", "2"});
    EXPECT_EQ(ApplyError(pre, std::move(in)),
              "feature 'sepal_length': numeric steps need a numeric datatype, got BYTES");
  }
  {
    auto in = inputs();
    in[0].shape = {1, 2};
    EXPECT_EQ(ApplyError(pre, std::move(in)),
              "feature 'sepal_length': expected shape [batch] or [batch,1], got [1,2]");
  }
  {
    auto in = inputs();
    in[0].data.resize(12);
    EXPECT_EQ(ApplyError(pre, std::move(in)),
              "feature 'sepal_length': data holds 12 bytes, shape [2] of FP64 needs 16");
  }
  {
    auto in = inputs();
    in[3].data.pop_back();
    EXPECT_EQ(ApplyError(pre, std::move(in)), "feature 'city': malformed BYTES data at element 1");
  }
  {
    auto in = inputs();
    in[3].data += std::string("\0\0\0\0", 4);
    EXPECT_EQ(ApplyError(pre, std::move(in)),
              "feature 'city': BYTES data holds more than 2 elements (shape [2])");
  }
  {
    auto in = inputs();
    in[3].shape = {1000000000};
    in[0].shape = in[1].shape = in[2].shape = {1000000000};
    in[0].data.clear();  // a huge claimed batch must not allocate before the size check
    EXPECT_EQ(ApplyError(pre, std::move(in)),
              "feature 'sepal_length': data holds 0 bytes, shape [1000000000] of FP64 needs "
              "8000000000");
  }
  {
    auto in = inputs();
    in.push_back(Doubles("input", {1}));
    EXPECT_EQ(ApplyError(pre, std::move(in)),
              "request input 'input' collides with the preprocessing output of the same name; "
              "send its features instead");
  }
}

// Random tensors (any datatype, rank, shape and data length, garbage BYTES) never crash Apply;
// run under ASan/UBSan to make it meaningful.
TEST(Preprocessor, RandomInputsNeverCrash) {
  Preprocessor pre = MustCompile(kIrisConfig);
  const std::string names[] = {"sepal_length", "petal_width", "colour", "city", "other"};
  std::mt19937_64 rng(99);
  int accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<Tensor> in;
    const int64_t common_batch = static_cast<int64_t>(rng() % 4);
    for (const std::string& name : names) {
      if (rng() % 8 == 0) continue;
      Tensor t;
      t.name = name;
      t.datatype = static_cast<DataType>(rng() % 13);
      const int64_t batch = rng() % 8 == 0 ? static_cast<int64_t>(rng() % 4) : common_batch;
      t.shape = {batch};
      if (rng() % 4 == 0) t.shape.push_back(static_cast<int64_t>(rng() % 3) - 1);
      if (rng() % 16 == 0) t.shape[0] = -1;
      const bool categorical = name == "colour" || name == "city";
      if (categorical && rng() % 4 != 0) t.datatype = DataType::kBytes;
      if (!categorical && t.datatype == DataType::kBytes && rng() % 2 == 0) {
        t.datatype = DataType::kFp32;
      }
      if (t.datatype == DataType::kBytes && rng() % 2 == 0) {
        for (int64_t i = 0; i < batch; ++i) {
          const std::string v = i % 2 == 0 ? "red" : "";
          const uint32_t len = static_cast<uint32_t>(v.size());
          t.data.append(reinterpret_cast<const char*>(&len), 4);
          t.data.append(v);
        }
      } else {
        const size_t size = t.datatype == DataType::kBytes ? 0 : domain::DataTypeSize(t.datatype);
        t.data.resize(rng() % 2 == 0 ? static_cast<size_t>(batch) * size : rng() % 40);
        for (char& c : t.data) c = static_cast<char>(rng());
      }
      in.push_back(std::move(t));
    }
    auto out = pre.Apply(std::move(in));
    if (out.ok()) {
      ++accepted;
      EXPECT_EQ((*out)[0].data.size(), static_cast<size_t>((*out)[0].shape[0]) * 6 * 4);
    } else {
      EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
  EXPECT_GT(accepted, 0);
}

TEST(PreprocessorCompile, ErrorsNameTheJsonPath) {
  struct Case {
    const char* config;
    const char* message;
  };
  const Case cases[] = {
      {R"([1])", "(root): must be an object, got an array"},
      {R"({})", "outputs: missing"},
      {R"({"outputs": 1})", "outputs: must be an array, got a number"},
      {R"({"outputs": [], "extra": 1})", "(root): unknown field 'extra' (allowed: outputs)"},
      {R"({"outputs": [{"features": [{"feature": "x"}]}]})", "outputs[0].name: missing"},
      {R"({"outputs": [{"name": "o", "datatype": "INT32", "features": [{"feature": "x"}]}]})",
       "outputs[0].datatype: must be \"FP32\" or \"FP64\", got \"INT32\""},
      {R"({"outputs": [{"name": "o", "features": []}]})",
       "outputs[0].features: must be a non-empty array"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x"}]},
                       {"name": "o", "features": [{"feature": "x"}]}]})",
       "outputs[1].name: duplicate output 'o'"},
      {R"({"outputs": [{"name": "o", "features": [{"steps": []}]}]})",
       "outputs[0].features[0].feature: missing"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x", "steps": [{"op": "scale"}]}]}]})",
       "outputs[0].features[0].steps[0].op: unknown op 'scale' (known: impute, "
       "standardize, min_max, clip, log1p, one_hot, lookup)"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x", "steps": [{"value": 1}]}]}]})",
       "outputs[0].features[0].steps[0].op: missing"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x",
           "steps": [{"op": "standardize", "mean": 1, "std": 0}]}]}]})",
       "outputs[0].features[0].steps[0].std: must be > 0, got 0"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x",
           "steps": [{"op": "standardize", "mean": "1", "std": 1}]}]}]})",
       "outputs[0].features[0].steps[0].mean: must be a number, got a string"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x",
           "steps": [{"op": "standardize", "mean": 1, "stddev": 1}]}]}]})",
       "outputs[0].features[0].steps[0]: unknown field 'stddev' (allowed: op, "
       "mean, std)"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x",
           "steps": [{"op": "min_max", "min": 3, "max": 3}]}]}]})",
       "outputs[0].features[0].steps[0].max: must be > min (3), got 3"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x", "steps": [{"op": "clip"}]}]}]})",
       "outputs[0].features[0].steps[0]: clip needs 'min', 'max' or both"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x",
           "steps": [{"op": "clip", "min": 2, "max": 1}]}]}]})",
       "outputs[0].features[0].steps[0].max: must be >= min (2), got 1"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x",
           "steps": [{"op": "impute", "value": "a"}]}]}]})",
       "outputs[0].features[0].steps[0].value: must be a number, got a string"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x",
           "steps": [{"op": "impute", "value": 1}, {"op": "one_hot", "vocabulary": ["a"]}]}]}]})",
       "outputs[0].features[0].steps[0].value: must be a string (the feature is a "
       "category before its one_hot/lookup step), got a number"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x",
           "steps": [{"op": "log1p"}, {"op": "lookup", "vocabulary": ["a"]}]}]}]})",
       "outputs[0].features[0].steps[0].op: 'log1p' cannot come before 'lookup': "
       "the feature is still a category there"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x",
           "steps": [{"op": "one_hot", "vocabulary": ["a"]}, {"op": "log1p"}]}]}]})",
       "outputs[0].features[0].steps[1]: one_hot must be the last step"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x",
           "steps": [{"op": "one_hot", "vocabulary": ["a"]}, {"op": "lookup", "vocabulary": ["a"]}]}]}]})",
       "outputs[0].features[0].steps[1]: a feature can have only one one_hot/lookup "
       "step"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x",
           "steps": [{"op": "one_hot", "vocabulary": []}]}]}]})",
       "outputs[0].features[0].steps[0].vocabulary: must not be empty"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x",
           "steps": [{"op": "one_hot", "vocabulary": ["a", "b", "a"]}]}]}]})",
       "outputs[0].features[0].steps[0].vocabulary[2]: duplicate category 'a'"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x",
           "steps": [{"op": "lookup", "vocabulary": ["a", 2]}]}]}]})",
       "outputs[0].features[0].steps[0].vocabulary[1]: must be a string, got a "
       "number"},
      {R"({"outputs": [{"name": "o", "features": [{"feature": "x"},
           {"feature": "x", "steps": [{"op": "lookup", "vocabulary": ["a"]}]}]}]})",
       "outputs[0].features[1].feature: 'x' is used as categorical here but as "
       "numeric at outputs[0].features[0]"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(CompileError(Json::parse(c.config)), c.message) << c.config;
  }
}

TEST(PreprocessorSchema, RequestSchemaAndCheckAgainstModel) {
  Preprocessor pre = MustCompile(kIrisConfig);
  domain::TensorSchema model;
  model.inputs = {{"input", DataType::kFp32, {-1, 6}}, {"extra", DataType::kInt64, {-1}}};
  model.outputs = {{"probs", DataType::kFp32, {-1, 3}}};
  EXPECT_TRUE(pre.CheckAgainst(model).ok());

  const domain::TensorSchema request = pre.RequestSchema(model);
  ASSERT_EQ(request.inputs.size(), 5u);
  EXPECT_EQ(request.inputs[0].name, "extra");
  EXPECT_EQ(request.inputs[1], (domain::TensorSpec{"sepal_length", DataType::kFp32, {-1}}));
  EXPECT_EQ(request.inputs[3], (domain::TensorSpec{"colour", DataType::kBytes, {-1}}));
  EXPECT_EQ(request.outputs, model.outputs);

  model.inputs[0].shape = {-1, 4};
  EXPECT_EQ(pre.CheckAgainst(model).message(),
            "preprocessing output 'input' produces FP32 [batch,6] but the model expects FP32 "
            "[-1,4]");
  model.inputs[0] = {"features", DataType::kFp32, {-1, 6}};
  EXPECT_EQ(pre.CheckAgainst(model).message(),
            "preprocessing output 'input' is not a model input (model inputs: features, extra)");
}

}  // namespace
}  // namespace hotswap::runtime
