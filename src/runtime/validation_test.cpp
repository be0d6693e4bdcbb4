// Tests for runtime/validation.h (kept here until hs_runtime_prep moves to src/runtime/).
#include "runtime/validation.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hotswap::runtime {
namespace {

using domain::DataType;
using domain::TensorSchema;

TensorSchema TwoInputSchema() {
  TensorSchema schema;
  schema.inputs = {{"x", DataType::kFp32, {-1, 4}}, {"y", DataType::kBytes, {-1}}};
  schema.outputs = {{"out", DataType::kFp32, {-1, 3}}};
  return schema;
}

Tensor Fp32(std::string name, std::vector<int64_t> shape, size_t elements) {
  return Tensor{std::move(name), DataType::kFp32, std::move(shape),
                std::string(elements * 4, '\0')};
}

std::string BytesData(std::initializer_list<std::string_view> values) {
  std::string out;
  for (std::string_view v : values) {
    const uint32_t len = static_cast<uint32_t>(v.size());
    out.append(reinterpret_cast<const char*>(&len), 4);
    out.append(v);
  }
  return out;
}

Tensor Strings(std::string name, std::vector<int64_t> shape, std::string data) {
  return Tensor{std::move(name), DataType::kBytes, std::move(shape), std::move(data)};
}

std::string Message(const absl::Status& s) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  return std::string(s.message());
}

TEST(ValidateInputs, AcceptsMatchingInputsInAnyOrder) {
  const TensorSchema schema = TwoInputSchema();
  EXPECT_TRUE(
      ValidateInputs(schema, {Strings("y", {2}, BytesData({"a", ""})), Fp32("x", {2, 4}, 8)}).ok());
  EXPECT_TRUE(ValidateInputs(schema, {Fp32("x", {0, 4}, 0), Strings("y", {0}, "")}).ok());
}

TEST(ValidateInputs, MissingUnexpectedAndDuplicateInputs) {
  const TensorSchema schema = TwoInputSchema();
  EXPECT_EQ(Message(ValidateInputs(schema, {Fp32("x", {1, 4}, 4)})), "missing input 'y'");
  EXPECT_EQ(
      Message(ValidateInputs(
          schema, {Fp32("x", {1, 4}, 4), Strings("y", {1}, BytesData({"a"})), Fp32("z", {1}, 1)})),
      "unexpected input 'z' (model inputs: x, y)");
  EXPECT_EQ(Message(ValidateInputs(schema, {Fp32("x", {1, 4}, 4), Fp32("x", {1, 4}, 4)})),
            "duplicate input 'x'");
}

TEST(ValidateInputs, DatatypeMismatchNamesBoth) {
  Tensor x{"x", DataType::kInt64, {1, 4}, std::string(32, '\0')};
  EXPECT_EQ(Message(ValidateInputs(TwoInputSchema(), {x, Strings("y", {1}, BytesData({"a"}))})),
            "input 'x': expected datatype FP32, got INT64");
}

TEST(ValidateInputs, ShapeMismatchShowsExpectedAndActual) {
  const TensorSchema schema = TwoInputSchema();
  const Tensor y = Strings("y", {1}, BytesData({"a"}));
  EXPECT_EQ(Message(ValidateInputs(schema, {Fp32("x", {2, 5}, 10), y})),
            "input 'x': expected shape [-1,4], got [2,5]");
  EXPECT_EQ(Message(ValidateInputs(schema, {Fp32("x", {8}, 8), y})),
            "input 'x': expected shape [-1,4], got [8]");
  EXPECT_EQ(Message(ValidateInputs(schema, {Fp32("x", {-2, 4}, 0), y})),
            "input 'x': expected shape [-1,4], got [-2,4]");
}

TEST(ValidateInputs, DataSizeMustMatchShape) {
  const TensorSchema schema = TwoInputSchema();
  const Tensor y = Strings("y", {1}, BytesData({"a"}));
  Tensor x = Fp32("x", {2, 4}, 8);
  x.data.resize(28);
  EXPECT_EQ(Message(ValidateInputs(schema, {x, y})),
            "input 'x': shape [2,4] of FP32 needs 32 bytes, got 28");
}

TEST(ValidateInputs, BytesLengthPrefixesAndCount) {
  const TensorSchema schema = TwoInputSchema();
  const Tensor x = Fp32("x", {1, 4}, 4);
  EXPECT_EQ(Message(ValidateInputs(schema, {x, Strings("y", {3}, BytesData({"a", "b"}))})),
            "input 'y': shape [3] needs 3 BYTES elements, got 2");
  std::string truncated = BytesData({"abc"});
  truncated.pop_back();
  EXPECT_EQ(Message(ValidateInputs(schema, {x, Strings("y", {1}, truncated)})),
            "input 'y': malformed BYTES data: element 0 claims 3 bytes but only 2 remain");
  EXPECT_EQ(Message(ValidateInputs(schema, {x, Strings("y", {2}, BytesData({"a"}) + "\x01\x00")})),
            "input 'y': malformed BYTES data: element 1 has a truncated length prefix");
}

TEST(ValidateInputs, ManySchemaInputsBeyondTheBitMask) {
  TensorSchema schema;
  std::vector<Tensor> inputs;
  for (int i = 0; i < 70; ++i) {
    schema.inputs.push_back({"in" + std::to_string(i), DataType::kFp32, {1}});
    inputs.push_back(Fp32("in" + std::to_string(i), {1}, 1));
  }
  EXPECT_TRUE(ValidateInputs(schema, inputs).ok());
  inputs.pop_back();
  EXPECT_EQ(Message(ValidateInputs(schema, inputs)), "missing input 'in69'");
}

TEST(SynthesizeInputs, ProducesValidZeroTensors) {
  TensorSchema schema;
  schema.inputs = {{"x", DataType::kFp32, {-1, 4}},
                   {"ids", DataType::kInt64, {-1, -1}},
                   {"s", DataType::kBytes, {-1}},
                   {"fixed", DataType::kFp16, {2, -1}}};
  schema.outputs = {{"o", DataType::kFp32, {-1}}};
  const std::vector<Tensor> inputs = SynthesizeInputs(schema, 8);
  ASSERT_EQ(inputs.size(), 4u);
  EXPECT_EQ(inputs[0].shape, (std::vector<int64_t>{8, 4}));
  EXPECT_EQ(inputs[0].data, std::string(8 * 4 * 4, '\0'));
  EXPECT_EQ(inputs[1].shape, (std::vector<int64_t>{8, 1}));
  EXPECT_EQ(inputs[2].shape, (std::vector<int64_t>{8}));
  EXPECT_EQ(inputs[2].data, std::string(8 * 4, '\0'));  // 8 empty strings
  EXPECT_EQ(inputs[3].shape, (std::vector<int64_t>{2, 1}));
  EXPECT_TRUE(ValidateInputs(schema, inputs).ok());
  EXPECT_EQ(SynthesizeInputs(schema, 0)[0].shape, (std::vector<int64_t>{1, 4}));
}

}  // namespace
}  // namespace hotswap::runtime
