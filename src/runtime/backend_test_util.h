// Test helpers shared by the backend tests (xgboost/, torch/, tensorflow/): reference cases
// written by the frameworks' own Python packages (V2-style JSON tensors), tensor comparison to a
// tolerance, resident memory. Header-only, for tests only; not thread-safe.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/backend.h"
#include "runtime/tensor.h"

namespace hotswap::runtime::testing_util {

using Json = nlohmann::json;

template <typename T>
Tensor MakeTensor(std::string name, domain::DataType datatype, std::vector<int64_t> shape,
                  const std::vector<T>& values) {
  Tensor t{std::move(name), datatype, std::move(shape), {}};
  t.data.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  std::vector<T> v(t.data.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), t.data.data(), v.size() * sizeof(T));
  return v;
}

// {name, datatype, shape, data} -> Tensor (FP32, FP64, INT32, INT64). JSON has no NaN: the
// scripts write null for a missing value.
inline Tensor TensorFromJson(const Json& j) {
  const std::string datatype = j.at("datatype").get<std::string>();
  const std::string name = j.at("name").get<std::string>();
  const auto shape = j.at("shape").get<std::vector<int64_t>>();
  auto floats = [&]() {
    std::vector<double> v;
    for (const Json& x : j.at("data")) v.push_back(x.is_null() ? NAN : x.get<double>());
    return v;
  };
  if (datatype == "FP32") {
    std::vector<double> d = floats();
    return MakeTensor(name, domain::DataType::kFp32, shape, std::vector<float>(d.begin(), d.end()));
  }
  if (datatype == "FP64") return MakeTensor(name, domain::DataType::kFp64, shape, floats());
  if (datatype == "INT64") {
    return MakeTensor(name, domain::DataType::kInt64, shape, j["data"].get<std::vector<int64_t>>());
  }
  if (datatype == "INT32") {
    return MakeTensor(name, domain::DataType::kInt32, shape, j["data"].get<std::vector<int32_t>>());
  }
  ADD_FAILURE() << "unexpected datatype " << datatype;
  return {};
}

template <typename T>
void ExpectNear(const std::vector<T>& expected, const std::vector<T>& actual, double tolerance,
                const std::string& what) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double e = expected[i], a = actual[i];
    EXPECT_LE(std::fabs(e - a), tolerance * std::max(1.0, std::fabs(e)))
        << what << "[" << i << "]: expected " << e << ", got " << a;
  }
}

// `actual` equals the JSON tensor `expected`: integers exactly, floats within `tolerance`
// (relative above 1, absolute below).
inline void ExpectMatches(const Json& expected, const Tensor& actual, double tolerance) {
  const Tensor want = TensorFromJson(expected);
  ASSERT_EQ(actual.name, want.name);
  ASSERT_EQ(actual.datatype, want.datatype) << actual.name;
  ASSERT_EQ(actual.shape, want.shape) << actual.name;
  switch (want.datatype) {
    case domain::DataType::kFp32:
      ExpectNear(Values<float>(want), Values<float>(actual), tolerance, want.name);
      break;
    case domain::DataType::kFp64:
      ExpectNear(Values<double>(want), Values<double>(actual), tolerance, want.name);
      break;
    case domain::DataType::kInt64:
      EXPECT_EQ(Values<int64_t>(want), Values<int64_t>(actual)) << want.name;
      break;
    case domain::DataType::kInt32:
      EXPECT_EQ(Values<int32_t>(want), Values<int32_t>(actual)) << want.name;
      break;
    default:
      FAIL() << "unexpected datatype";
  }
}

inline Json ReadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path << " (built by the test's models target)";
  return Json::parse(in);
}

// The case `id` of the references.json in `dir`.
inline Json ReferenceCase(const std::string& dir, const std::string& id) {
  const Json references = ReadJson(dir + "/references.json");
  for (const Json& c : references.at("cases")) {
    if (c.at("id") == id) return c;
  }
  ADD_FAILURE() << "no reference case " << id << " in " << dir;
  return Json::object();
}

inline std::vector<Tensor> CaseInputs(const Json& c) {
  std::vector<Tensor> inputs;
  for (const Json& in : c.at("inputs")) inputs.push_back(TensorFromJson(in));
  return inputs;
}

// Runs `c` on `model` (asking for the case's outputs by name) and compares every output.
inline void ExpectReference(const LoadedModel& model, const Json& c, double tolerance) {
  std::vector<std::string> names;
  for (const Json& out : c.at("outputs")) names.push_back(out.at("name"));
  std::vector<Tensor> outputs;
  absl::Status status = model.Run(CaseInputs(c), names, &outputs);
  ASSERT_TRUE(status.ok()) << c.at("id") << ": " << status;
  ASSERT_EQ(outputs.size(), c.at("outputs").size()) << c.at("id");
  for (size_t i = 0; i < outputs.size(); ++i) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    ExpectMatches(c.at("outputs")[i], outputs[i], tolerance);
  }
}

}  // namespace hotswap::runtime::testing_util
