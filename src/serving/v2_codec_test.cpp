#include "serving/v2_codec.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace hotswap::serving {
namespace {

using domain::DataType;
using runtime::Tensor;
using ::testing::HasSubstr;

template <typename T>
std::string Bytes(std::initializer_list<T> values) {
  std::string out;
  for (T v : values) out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return out;
}

std::string BytesElements(std::initializer_list<std::string_view> values) {
  std::string out;
  for (std::string_view v : values) {
    const uint32_t len = static_cast<uint32_t>(v.size());
    out.append(reinterpret_cast<const char*>(&len), 4);
    out.append(v);
  }
  return out;
}

std::string ErrorOf(std::string_view body, std::optional<size_t> json_length = std::nullopt) {
  auto parsed = ParseInferRequest(body, json_length);
  EXPECT_FALSE(parsed.ok()) << body;
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

Tensor MakeTensor(std::string name, DataType type, std::vector<int64_t> shape, std::string data) {
  Tensor t;
  t.name = std::move(name);
  t.datatype = type;
  t.shape = std::move(shape);
  t.data = std::move(data);
  return t;
}

// ---- Parsing: JSON data -------------------------------------------------------------------------

TEST(V2CodecParse, Fp32FlatJsonRequest) {
  auto r = ParseInferRequest(
      R"({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2.5,-3,4e-3]}]})",
      std::nullopt);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->inputs.size(), 1u);
  const Tensor& t = r->inputs[0];
  EXPECT_EQ(t.name, "x");
  EXPECT_EQ(t.datatype, DataType::kFp32);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(t.data, Bytes<float>({1.0f, 2.5f, -3.0f, 4e-3f}));
  EXPECT_TRUE(r->id.empty());
  EXPECT_TRUE(r->outputs.empty());
  EXPECT_FALSE(r->binary_outputs_by_default);
}

TEST(V2CodecParse, NestedDataIsFlattenedRowMajor) {
  auto r = ParseInferRequest(
      R"({"inputs":[{"name":"x","shape":[2,2,2],"datatype":"INT32",
          "data":[[[1,2],[3,4]],[[5,6],[7,8]]]}]})",
      std::nullopt);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inputs[0].data, Bytes<int32_t>({1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(V2CodecParse, FieldsInAnyOrderAndUnknownFieldsIgnored) {
  auto r = ParseInferRequest(
      R"({"extra":{"a":[1]},"inputs":[{"data":[7],"datatype":"INT64","foo":1,"shape":[1],
          "name":"n"}],"id":"abc"})",
      std::nullopt);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "abc");
  EXPECT_EQ(r->inputs[0].data, Bytes<int64_t>({7}));
}

TEST(V2CodecParse, EveryDatatypeFromJson) {
  struct Case {
    const char* datatype;
    const char* data;
    DataType type;
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"BOOL", "[true,false]", DataType::kBool, std::string("\x01\x00", 2)},
      {"UINT8", "[0,255]", DataType::kUint8, Bytes<uint8_t>({0, 255})},
      {"UINT16", "[1,65535]", DataType::kUint16, Bytes<uint16_t>({1, 65535})},
      {"UINT32", "[2,4294967295]", DataType::kUint32, Bytes<uint32_t>({2, 4294967295u})},
      {"UINT64", "[3,18446744073709551615]", DataType::kUint64,
       Bytes<uint64_t>({3, 18446744073709551615ull})},
      {"INT8", "[-128,127]", DataType::kInt8, Bytes<int8_t>({-128, 127})},
      {"INT16", "[-32768,32767]", DataType::kInt16, Bytes<int16_t>({-32768, 32767})},
      {"INT32", "[-2147483648,5]", DataType::kInt32, Bytes<int32_t>({-2147483647 - 1, 5})},
      {"INT64", "[-9223372036854775808,9223372036854775807]", DataType::kInt64,
       Bytes<int64_t>({std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()})},
      {"FP16", "[1,-2.5]", DataType::kFp16, Bytes<uint16_t>({0x3C00, 0xC100})},
      {"FP32", "[0.1,3]", DataType::kFp32, Bytes<float>({0.1f, 3.0f})},
      {"FP64", "[0.1,-1e300]", DataType::kFp64, Bytes<double>({0.1, -1e300})},
      {"BYTES", R"(["héllo",""])", DataType::kBytes, BytesElements({"héllo", ""})},
  };
  for (const Case& c : cases) {
    const std::string body = std::string(R"({"inputs":[{"name":"t","shape":[2],"datatype":")") +
                             c.datatype + R"(","data":)" + c.data + "}]}";
    auto r = ParseInferRequest(body, std::nullopt);
    ASSERT_TRUE(r.ok()) << c.datatype << ": " << r.status();
    EXPECT_EQ(r->inputs[0].datatype, c.type) << c.datatype;
    EXPECT_EQ(r->inputs[0].data, c.bytes) << c.datatype;
  }
}

TEST(V2CodecParse, Fp16RoundsToNearestEvenAndHandlesSubnormals) {
  auto r = ParseInferRequest(
      R"({"inputs":[{"name":"h","shape":[5],"datatype":"FP16",
          "data":[0.1,65504,5.960464477539063e-8,1.00048828125,0]}]})",
      std::nullopt);
  ASSERT_TRUE(r.ok()) << r.status();
  // 0.1 -> 0x2E66; max half; smallest subnormal; 1 + 2^-11 is a tie that rounds to even (1.0).
  EXPECT_EQ(r->inputs[0].data, Bytes<uint16_t>({0x2E66, 0x7BFF, 0x0001, 0x3C00, 0x0000}));
}

TEST(V2CodecParse, RequestParametersAndOutputSelection) {
  auto r = ParseInferRequest(
      R"({"id":"req-7","parameters":{"binary_data_output":true,"other":"x"},
          "inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],
          "outputs":[{"name":"a"},{"name":"b","parameters":{"binary_data":false}}]})",
      std::nullopt);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "req-7");
  EXPECT_TRUE(r->binary_outputs_by_default);
  // "a" inherits the request default; "b" overrides it.
  EXPECT_EQ(r->outputs, (std::vector<RequestedOutput>{{"a", true}, {"b", false}}));
}

TEST(V2CodecParse, EmptyShapeIsAScalarWithOneElement) {
  auto r = ParseInferRequest(R"({"inputs":[{"name":"s","shape":[],"datatype":"FP64","data":[2]}]})",
                             std::nullopt);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inputs[0].data, Bytes<double>({2.0}));
}

// ---- Parsing: binary extension ------------------------------------------------------------------

TEST(V2CodecParse, BinaryInputsEveryDatatype) {
  struct Case {
    const char* datatype;
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"BOOL", std::string("\x01\x00", 2)},
      {"UINT8", Bytes<uint8_t>({1, 2})},
      {"UINT16", Bytes<uint16_t>({1, 2})},
      {"UINT32", Bytes<uint32_t>({1, 2})},
      {"UINT64", Bytes<uint64_t>({1, 2})},
      {"INT8", Bytes<int8_t>({-1, 2})},
      {"INT16", Bytes<int16_t>({-1, 2})},
      {"INT32", Bytes<int32_t>({-1, 2})},
      {"INT64", Bytes<int64_t>({-1, 2})},
      {"FP16", Bytes<uint16_t>({0x3C00, 0x4000})},
      {"FP32", Bytes<float>({1.5f, -2.0f})},
      {"FP64", Bytes<double>({1.5, -2.0})},
      {"BYTES", BytesElements({"ab", "\xff\x00z"})},
  };
  for (const Case& c : cases) {
    const std::string json = std::string(R"({"inputs":[{"name":"t","shape":[2],"datatype":")") +
                             c.datatype + R"(","parameters":{"binary_data_size":)" +
                             std::to_string(c.bytes.size()) + "}}]}";
    auto r = ParseInferRequest(json + c.bytes, json.size());
    ASSERT_TRUE(r.ok()) << c.datatype << ": " << r.status();
    EXPECT_EQ(r->inputs[0].data, c.bytes) << c.datatype;
  }
}

TEST(V2CodecParse, BinaryAndJsonInputsMixInOrder) {
  const std::string a = Bytes<float>({1, 2});
  const std::string c = Bytes<int32_t>({9});
  const std::string json =
      R"({"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},
          {"name":"b","shape":[1],"datatype":"INT32","data":[5]},
          {"name":"c","shape":[1],"datatype":"INT32","parameters":{"binary_data_size":4}}]})";
  auto r = ParseInferRequest(json + a + c, json.size());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inputs[0].data, a);
  EXPECT_EQ(r->inputs[1].data, Bytes<int32_t>({5}));
  EXPECT_EQ(r->inputs[2].data, c);
}

TEST(V2CodecParse, JsonLengthEqualToBodyMeansNoBinaryPart) {
  const std::string json = R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT8","data":[1]}]})";
  EXPECT_TRUE(ParseInferRequest(json, json.size()).ok());
}

// ---- Parsing: errors ----------------------------------------------------------------------------

TEST(V2CodecParseErrors, ElementCountMustMatchShape) {
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32",
                        "data":[1,2,3,4,5,6,7]}]})"),
            "input 'x': shape [2,4] needs 8 elements, got 7");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1,2]}]})"),
            "input 'x': shape [1] needs 1 elements, got 2");
  // A huge shape with little data is rejected without allocating for the shape.
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1000000000000],"datatype":"FP64",
                        "data":[1]}]})"),
            "input 'x': shape [1000000000000] needs 1000000000000 elements, got 1");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"s","shape":[3],"datatype":"BYTES","data":["a"]}]})"),
            "input 's': shape [3] needs 3 elements, got 1");
}

TEST(V2CodecParseErrors, MalformedJsonAndWrongTopLevel) {
  EXPECT_THAT(ErrorOf(R"({"inputs":[)"), HasSubstr("malformed JSON"));
  EXPECT_THAT(ErrorOf(R"({"inputs":[]} trailing)"), HasSubstr("malformed JSON"));
  EXPECT_EQ(ErrorOf(""), "empty request: expected a JSON object");
  EXPECT_EQ(ErrorOf("[1,2]"), "request must be a JSON object, got an array");
  EXPECT_EQ(ErrorOf("{}"), "missing 'inputs'");
  EXPECT_EQ(ErrorOf(R"({"inputs":{}})"), "'inputs' must be an array, got an object");
  EXPECT_EQ(ErrorOf(R"({"inputs":[],"id":5})"), "'id' must be a string, got an integer");
  EXPECT_EQ(ErrorOf(R"({"inputs":[],"inputs":[]})"), "duplicate field 'inputs'");
  EXPECT_EQ(ErrorOf(R"({"inputs":[],"parameters":{"binary_data_output":1}})"),
            "parameters.binary_data_output must be a boolean, got 1");
}

TEST(V2CodecParseErrors, InputFieldErrorsNameTheInput) {
  EXPECT_EQ(ErrorOf(R"({"inputs":[3]})"), "inputs[0] must be an object, got an integer");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]})"),
            "inputs[0]: missing 'name'");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1],"data":[1]}]})"),
            "input 'x': missing 'datatype'");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP8","data":[1]}]})"),
            "input 'x': unknown datatype 'FP8'");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","datatype":"FP32","data":[1]}]})"),
            "input 'x': missing 'shape'");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":"1","datatype":"FP32","data":[1]}]})"),
            "input 'x': 'shape' must be an array, got a string");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1.5],"datatype":"FP32","data":[1]}]})"),
            "input 'x': 'shape' must hold integers, got 1.5");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[-1,4],"datatype":"FP32","data":[1]}]})"),
            "input 'x': negative dimension -1 in shape [-1,4]");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[4294967296,4294967296,4294967296],
                        "datatype":"FP32","data":[1]}]})"),
            "input 'x': shape [4294967296,4294967296,4294967296] is too large");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]})"),
            "input 'x': missing 'data' (or parameters.binary_data_size)");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},
                        {"name":"x","shape":[1],"datatype":"FP32","data":[2]}]})"),
            "duplicate input 'x'");
}

TEST(V2CodecParseErrors, ElementsOfTheWrongType) {
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,"2"]}]})"),
            "input 'x': data element 1 is not a valid FP32: \"2\"");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1.5]}]})"),
            "input 'x': data element 0 is not a valid INT32: 1.5");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1],"datatype":"UINT8","data":[256]}]})"),
            "input 'x': data element 0 is not a valid UINT8: 256");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1],"datatype":"UINT32","data":[-1]}]})"),
            "input 'x': data element 0 is not a valid UINT32: -1");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT64",
                        "data":[9223372036854775808]}]})"),
            "input 'x': data element 0 is not a valid INT64: 9223372036854775808");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1],"datatype":"BOOL","data":[1]}]})"),
            "input 'x': data element 0 is not a valid BOOL: 1");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP16","data":[70000]}]})"),
            "input 'x': data element 0 is not a valid FP16: 70000");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1e39]}]})"),
            "input 'x': data element 0 is not a valid FP32: 1e+39");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[null]}]})"),
            "input 'x': data element 0 is not a valid FP32: null");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":[1]}]})"),
            "input 'x': data element 0 must be a string for BYTES, got an integer");
  EXPECT_EQ(ErrorOf(R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,{}]}]})"),
            "input 'x': data element 1 is not a valid FP32: {}");
}

TEST(V2CodecParseErrors, BinaryExtensionErrors) {
  const std::string json =
      R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]})";
  const std::string data = Bytes<float>({1, 2});
  const size_t body_size = json.size() + data.size();
  EXPECT_EQ(ErrorOf(json + data, body_size + 1),
            "Inference-Header-Content-Length " + std::to_string(body_size + 1) +
                " exceeds the body size " + std::to_string(body_size));
  EXPECT_EQ(ErrorOf(json + data.substr(0, 5), json.size()),
            "input 'x': binary_data_size 8 exceeds the 5 bytes of binary data left");
  EXPECT_EQ(ErrorOf(json + data + "xyz", json.size()),
            "binary data has 3 bytes left over after the last binary input (11 bytes after the "
            "JSON, 8 claimed by binary_data_size)");
  EXPECT_EQ(ErrorOf(json),
            "input 'x': parameters.binary_data_size is set but the request has no binary part "
            "(missing Inference-Header-Content-Length)");
  // Leftover bytes also when no input is binary.
  const std::string plain = R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]})";
  EXPECT_THAT(ErrorOf(plain + "zz", plain.size()), HasSubstr("2 bytes left over"));

  const std::string wrong_size =
      R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":4}}]})";
  EXPECT_EQ(ErrorOf(wrong_size + "abcd", wrong_size.size()),
            "input 'x': binary_data_size 4 does not match shape [2] of FP32 (needs 2 elements of 4 "
            "bytes)");
  const std::string both =
      R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":{"binary_data_size":4}}]})";
  EXPECT_EQ(ErrorOf(both + "abcd", both.size()),
            "input 'x': has both 'data' and parameters.binary_data_size");
  const std::string negative =
      R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":-4}}]})";
  EXPECT_EQ(ErrorOf(negative, negative.size()),
            "input 'x': parameters.binary_data_size must be a non-negative integer, got -4");

  const std::string bytes_json =
      R"({"inputs":[{"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":7}}]})";
  std::string bad_prefix = BytesElements({"ab"});
  bad_prefix.push_back('\x09');  // a truncated second length prefix
  EXPECT_EQ(ErrorOf(bytes_json + bad_prefix, bytes_json.size()),
            "input 's': binary BYTES data is malformed (a length prefix runs past the end of its 7 "
            "bytes)");
  const std::string one = BytesElements({"abc"});  // 7 bytes, one element
  EXPECT_EQ(ErrorOf(bytes_json + one, bytes_json.size()),
            "input 's': shape [2] needs 2 elements, got 1");
}

TEST(V2CodecParseErrors, OutputListErrors) {
  const std::string in = R"("inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}])";
  EXPECT_EQ(ErrorOf("{" + in + R"(,"outputs":{}})"), "'outputs' must be an array, got an object");
  EXPECT_EQ(ErrorOf("{" + in + R"(,"outputs":[{}]})"), "outputs[0]: missing 'name'");
  EXPECT_EQ(ErrorOf("{" + in + R"(,"outputs":[{"name":"a"},{"name":"a"}]})"),
            "duplicate output 'a'");
  EXPECT_EQ(ErrorOf("{" + in + R"(,"outputs":[{"name":"a","parameters":{"binary_data":"yes"}}]})"),
            "outputs[0].parameters.binary_data must be a boolean, got \"yes\"");
}

TEST(V2CodecParseErrors, ManyDuplicateInputsUseTheHashPath) {
  std::string body = R"({"inputs":[)";
  for (int i = 0; i < 40; ++i) {
    body += R"({"name":"in)" + std::to_string(i % 39) +
            R"(","shape":[1],"datatype":"INT8","data":[1]},)";
  }
  body.back() = ']';
  body += "}";
  EXPECT_EQ(ErrorOf(body), "duplicate input 'in0'");
}

// Feeds random mutations of valid requests (flips, truncations, insertions of JSON-significant
// bytes, random Inference-Header-Content-Length) and checks that parsing never crashes; run it
// under ASan/UBSan to make it meaningful.
TEST(V2CodecParseFuzz, RandomMutationsNeverCrash) {
  const std::string bin = Bytes<float>({1, 2, 3, 4});
  const std::string seeds_json[] = {
      R"({"id":"a","parameters":{"binary_data_output":true},"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4]]},{"name":"s","shape":[2],"datatype":"BYTES","data":["ab","c"]}],"outputs":[{"name":"y","parameters":{"binary_data":false}}]})",
      R"({"inputs":[{"name":"x","shape":[4],"datatype":"FP32","parameters":{"binary_data_size":16}},{"name":"h","shape":[1],"datatype":"FP16","data":[1.5]}]})",
      R"({"inputs":[{"name":"u","shape":[3],"datatype":"UINT64","data":[1,18446744073709551615,0]},{"name":"b","shape":[1],"datatype":"BOOL","data":[true]}]})",
  };
  const char kInteresting[] = "{}[]\",:0123456789-.eE tfn\\\x00\xff";
  std::mt19937_64 rng(12345);
  int accepted = 0;
  // HOTSWAP_FUZZ_ITERATIONS scales the run up (e.g. under ASan); the default keeps it fast.
  const char* env = std::getenv("HOTSWAP_FUZZ_ITERATIONS");
  const int iterations = env != nullptr ? std::atoi(env) : 20000;
  for (int iter = 0; iter < iterations; ++iter) {
    const std::string& seed = seeds_json[iter % 3];
    std::string body = seed + (iter % 3 == 1 ? bin : "");
    std::optional<size_t> json_length;
    if (iter % 3 == 1) json_length = seed.size();
    const int mutations = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations && !body.empty(); ++m) {
      const size_t pos = rng() % body.size();
      switch (rng() % 5) {
        case 0:
          body[pos] = static_cast<char>(rng());
          break;
        case 1:
          body[pos] = kInteresting[rng() % (sizeof(kInteresting) - 1)];
          break;
        case 2:
          body.insert(pos, 1, kInteresting[rng() % (sizeof(kInteresting) - 1)]);
          break;
        case 3:
          body.erase(pos, 1 + rng() % 8);
          break;
        case 4:
          body.resize(pos);
          break;
      }
    }
    if (rng() % 8 == 0) json_length = rng() % (body.size() + 3);
    auto r = ParseInferRequest(body, json_length);
    if (r.ok()) {
      ++accepted;
      for (const Tensor& t : r->inputs) {
        if (t.datatype != DataType::kBytes) {
          int64_t n = 1;
          for (int64_t d : t.shape) n *= d;
          EXPECT_EQ(t.data.size(), static_cast<size_t>(n) * domain::DataTypeSize(t.datatype));
        }
      }
    } else {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
  EXPECT_GT(accepted, 0);  // some mutations (e.g. in digits) still form valid requests
}

// ---- Encoding -----------------------------------------------------------------------------------

TEST(V2CodecEncode, JsonOutputsWithIdAndShortestFloats) {
  std::vector<Tensor> outputs = {
      MakeTensor("probs", DataType::kFp32, {1, 3}, Bytes<float>({0.1f, 0.2f, 0.7f})),
      MakeTensor("label", DataType::kInt64, {1}, Bytes<int64_t>({-2})),
  };
  EncodedResponse r = EncodeInferResponse("iris", "3", "req-1", outputs, {}, false);
  EXPECT_FALSE(r.json_length.has_value());
  EXPECT_EQ(r.body, R"({"model_name":"iris","model_version":"3","id":"req-1","outputs":[)"
                    R"({"name":"probs","datatype":"FP32","shape":[1,3],"data":[0.1,0.2,0.7]},)"
                    R"({"name":"label","datatype":"INT64","shape":[1],"data":[-2]}]})");
}

TEST(V2CodecEncode, IdOmittedWhenEmpty) {
  EncodedResponse r = EncodeInferResponse("m", "1", "", {}, {}, false);
  EXPECT_EQ(r.body, R"({"model_name":"m","model_version":"1","outputs":[]})");
}

TEST(V2CodecEncode, EveryDatatypeAsJson) {
  std::vector<Tensor> outputs = {
      MakeTensor("b", DataType::kBool, {2}, std::string("\x01\x00", 2)),
      MakeTensor("u8", DataType::kUint8, {1}, Bytes<uint8_t>({255})),
      MakeTensor("u16", DataType::kUint16, {1}, Bytes<uint16_t>({65535})),
      MakeTensor("u32", DataType::kUint32, {1}, Bytes<uint32_t>({4294967295u})),
      MakeTensor("u64", DataType::kUint64, {1}, Bytes<uint64_t>({18446744073709551615ull})),
      MakeTensor("i8", DataType::kInt8, {1}, Bytes<int8_t>({-128})),
      MakeTensor("i16", DataType::kInt16, {1}, Bytes<int16_t>({-32768})),
      MakeTensor("i32", DataType::kInt32, {1}, Bytes<int32_t>({-7})),
      MakeTensor("i64", DataType::kInt64, {1},
                 Bytes<int64_t>({std::numeric_limits<int64_t>::min()})),
      MakeTensor("f16", DataType::kFp16, {3}, Bytes<uint16_t>({0x3C00, 0x2E66, 0x0001})),
      MakeTensor("f32", DataType::kFp32, {3},
                 Bytes<float>({1e-45f, 3.4028235e38f, std::numeric_limits<float>::quiet_NaN()})),
      MakeTensor("f64", DataType::kFp64, {2}, Bytes<double>({0.1, -HUGE_VAL})),
      MakeTensor("s", DataType::kBytes, {3}, BytesElements({"a\"b\\c\n", "\x01", "ok\xff"})),
  };
  EncodedResponse r = EncodeInferResponse("m", "1", "", outputs, {}, false);
  nlohmann::json j = nlohmann::json::parse(r.body);  // valid JSON (strict UTF-8)
  auto data = [&](size_t i) { return j["outputs"][i]["data"].dump(); };
  EXPECT_EQ(data(0), "[true,false]");
  EXPECT_EQ(data(1), "[255]");
  EXPECT_EQ(data(2), "[65535]");
  EXPECT_EQ(data(3), "[4294967295]");
  EXPECT_EQ(data(4), "[18446744073709551615]");
  EXPECT_EQ(data(5), "[-128]");
  EXPECT_EQ(data(6), "[-32768]");
  EXPECT_EQ(data(7), "[-7]");
  EXPECT_EQ(data(8), "[-9223372036854775808]");
  // FP16 uses the shortest decimal that rounds back to the same half.
  EXPECT_THAT(r.body, HasSubstr(R"("data":[1,0.1,6e-08])"));
  EXPECT_THAT(r.body, HasSubstr(R"("data":[1e-45,3.4028235e+38,null])"));
  EXPECT_THAT(r.body, HasSubstr(R"("data":[0.1,null])"));
  EXPECT_THAT(r.body, HasSubstr(R"("data":["a\"b\\c\n","\u0001","ok)"
                                "\xEF\xBF\xBD"
                                R"("])"));
  EXPECT_EQ(j["outputs"][12]["data"][0], "a\"b\\c\n");
}

TEST(V2CodecEncode, BinaryOutputsAppendedAfterJson) {
  std::vector<Tensor> outputs = {
      MakeTensor("a", DataType::kFp32, {2}, Bytes<float>({1, 2})),
      MakeTensor("b", DataType::kInt32, {1}, Bytes<int32_t>({3})),
      MakeTensor("c", DataType::kBytes, {1}, BytesElements({"xyz"})),
  };
  const std::vector<RequestedOutput> requested = {{"a", true}, {"b", false}, {"c", true}};
  EncodedResponse r = EncodeInferResponse("m", "2", "i", outputs, requested, false);
  ASSERT_TRUE(r.json_length.has_value());
  const std::string json = r.body.substr(0, *r.json_length);
  EXPECT_EQ(json,
            R"({"model_name":"m","model_version":"2","id":"i","outputs":[)"
            R"({"name":"a","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}},)"
            R"({"name":"b","datatype":"INT32","shape":[1],"data":[3]},)"
            R"({"name":"c","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":7}}]})");
  EXPECT_EQ(r.body.substr(*r.json_length), outputs[0].data + outputs[2].data);
}

TEST(V2CodecEncode, BinaryByDefaultAppliesWhenNoOutputsRequested) {
  std::vector<Tensor> outputs = {MakeTensor("a", DataType::kFp64, {1}, Bytes<double>({4}))};
  EncodedResponse r = EncodeInferResponse("m", "1", "", outputs, {}, true);
  ASSERT_TRUE(r.json_length.has_value());
  EXPECT_EQ(r.body.substr(*r.json_length), outputs[0].data);
  EXPECT_THAT(r.body.substr(0, *r.json_length), HasSubstr(R"("binary_data_size":8)"));
}

TEST(V2CodecEncode, RequestedOutputsFilterWhatIsWritten) {
  std::vector<Tensor> outputs = {
      MakeTensor("a", DataType::kInt8, {1}, Bytes<int8_t>({1})),
      MakeTensor("b", DataType::kInt8, {1}, Bytes<int8_t>({2})),
  };
  EncodedResponse r = EncodeInferResponse("m", "1", "", outputs, {{"b", false}}, true);
  EXPECT_FALSE(r.json_length.has_value());
  EXPECT_EQ(r.body, R"({"model_name":"m","model_version":"1","outputs":[)"
                    R"({"name":"b","datatype":"INT8","shape":[1],"data":[2]}]})");
}

TEST(V2CodecEncode, LargeFloatOutputRoundTripsExactly) {
  std::vector<float> values(20000);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1e6f, 1e6f);
  for (float& v : values) v = dist(rng);
  std::string data(reinterpret_cast<const char*>(values.data()), values.size() * 4);
  std::vector<Tensor> outputs = {
      MakeTensor("y", DataType::kFp32, {static_cast<int64_t>(values.size())}, data)};
  EncodedResponse r = EncodeInferResponse("m", "1", "", outputs, {}, false);
  // Feed the response's output back through the request parser: same bytes.
  nlohmann::json j = nlohmann::json::parse(r.body);
  nlohmann::json request = {{"inputs", j["outputs"]}};
  auto parsed = ParseInferRequest(request.dump(), std::nullopt);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->inputs[0].data, data);
}

TEST(V2CodecEncode, TruncatedTensorDataIsNeverReadPastItsEnd) {
  std::vector<Tensor> outputs = {
      MakeTensor("f", DataType::kFp32, {4}, std::string("\0\0\x80\x3f\x01", 5)),
      MakeTensor("s", DataType::kBytes, {2}, std::string("\x01\0\0\0a\x09\0\0\0b", 10)),
  };
  EncodedResponse r = EncodeInferResponse("m", "1", "", outputs, {}, false);
  EXPECT_THAT(r.body, HasSubstr(R"("data":[1])"));
  EXPECT_THAT(r.body, HasSubstr(R"("data":["a"])"));
}

}  // namespace
}  // namespace hotswap::serving
