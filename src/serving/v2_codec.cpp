#include "serving/v2_codec.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "simdjson.h"

namespace hotswap::serving {
namespace {

using domain::DataType;
using runtime::Tensor;
namespace dom = simdjson::dom;

// JSON bodies up to this size are parsed with the thread's cached parser (which then retains about
// 15 bytes per body byte: tape, strings, structural indexes); larger ones with a parser of their
// own, so one huge request does not pin memory in every thread that ever saw one.
constexpr size_t kMaxCachedParseBytes = 256 * 1024;

// Above this many names, duplicate detection uses a hash set instead of a pairwise scan.
constexpr size_t kLinearDuplicateScanLimit = 16;

// ---- Small helpers ------------------------------------------------------------------------------

using runtime::FloatToHalf;
using runtime::HalfToFloat;
using runtime::ShapeString;


std::string_view TypeName(dom::element_type t) {
  switch (t) {
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
      return "an integer";
    case dom::element_type::DOUBLE:
      return "a number";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::BOOL:
      return "a boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

// The element, minified, for error messages (bounded in length).
std::string Excerpt(dom::element e) {
  std::string s = simdjson::minify(e);
  if (s.size() > 40) {
    s.resize(37);
    s.append("...");
  }
  return s;
}

template <typename... Args>
absl::Status Invalid(const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat(args...));
}

// Walks the scalars of a possibly nested array in row-major order. `fn(element)` returns false to
// stop. Returns false when stopped.
template <typename Fn>
bool WalkScalars(dom::element e, Fn& fn) {
  if (e.type() == dom::element_type::ARRAY) {
    dom::array array;
    if (e.get_array().get(array) != simdjson::SUCCESS) return false;
    for (dom::element child : array) {
      if (!WalkScalars(child, fn)) return false;
    }
    return true;
  }
  return fn(e);
}

size_t CountScalars(dom::element e) {
  size_t count = 0;
  auto counter = [&count](dom::element) {
    ++count;
    return true;
  };
  WalkScalars(e, counter);
  return count;
}

// ---- Scalar conversion from JSON ----------------------------------------------------------------

template <typename T>
bool IntegerFromJson(dom::element e, T* out) {
  switch (e.type()) {
    case dom::element_type::INT64: {
      const int64_t v = e.get_int64().value_unsafe();
      if constexpr (std::is_signed_v<T>) {
        if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) return false;
      } else {
        if (v < 0 || static_cast<uint64_t>(v) > std::numeric_limits<T>::max()) return false;
      }
      *out = static_cast<T>(v);
      return true;
    }
    case dom::element_type::UINT64: {  // only values above INT64_MAX land here
      if constexpr (std::is_same_v<T, uint64_t>) {
        *out = e.get_uint64().value_unsafe();
        return true;
      }
      return false;
    }
    default:
      return false;
  }
}

bool NumberFromJson(dom::element e, double* out) {
  switch (e.type()) {
    case dom::element_type::INT64:
      *out = static_cast<double>(e.get_int64().value_unsafe());
      return true;
    case dom::element_type::UINT64:
      *out = static_cast<double>(e.get_uint64().value_unsafe());
      return true;
    case dom::element_type::DOUBLE:
      *out = e.get_double().value_unsafe();
      return true;
    default:
      return false;
  }
}

// Converts one JSON scalar to a `kType` element at `dst` (DataTypeSize(kType) bytes). A template
// so the datatype dispatch happens once per tensor, not once per element.
template <DataType kType>
bool FixedScalarFromJson(dom::element e, char* dst) {
  auto store = [dst](auto v) {
    std::memcpy(dst, &v, sizeof(v));
    return true;
  };
  if constexpr (kType == DataType::kBool) {
    bool b;
    if (e.get_bool().get(b) != simdjson::SUCCESS) return false;
    return store(static_cast<uint8_t>(b ? 1 : 0));
  } else if constexpr (kType == DataType::kFp16 || kType == DataType::kFp32) {
    double d;
    if (!NumberFromJson(e, &d) || !(std::fabs(d) <= std::numeric_limits<float>::max())) {
      return false;
    }
    if constexpr (kType == DataType::kFp16) {
      const uint16_t h = FloatToHalf(static_cast<float>(d));
      if ((h & 0x7FFFu) == 0x7C00u) return false;  // rounds to infinity: out of FP16 range
      return store(h);
    } else {
      return store(static_cast<float>(d));
    }
  } else if constexpr (kType == DataType::kFp64) {
    double d;
    return NumberFromJson(e, &d) && store(d);
  } else {
    using T = std::conditional_t<
        kType == DataType::kUint8, uint8_t,
        std::conditional_t<
            kType == DataType::kUint16, uint16_t,
            std::conditional_t<
                kType == DataType::kUint32, uint32_t,
                std::conditional_t<
                    kType == DataType::kUint64, uint64_t,
                    std::conditional_t<
                        kType == DataType::kInt8, int8_t,
                        std::conditional_t<
                            kType == DataType::kInt16, int16_t,
                            std::conditional_t<kType == DataType::kInt32, int32_t, int64_t>>>>>>>;
    T v;
    return IntegerFromJson(e, &v) && store(v);
  }
}

void AppendBytesElement(std::string_view s, std::string* out) {
  const uint32_t len = static_cast<uint32_t>(s.size());
  char prefix[4] = {static_cast<char>(len & 0xFF), static_cast<char>((len >> 8) & 0xFF),
                    static_cast<char>((len >> 16) & 0xFF), static_cast<char>((len >> 24) & 0xFF)};
  out->append(prefix, 4);
  out->append(s.data(), s.size());
}

uint32_t ReadLe32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | (static_cast<uint32_t>(u[1]) << 8) |
         (static_cast<uint32_t>(u[2]) << 16) | (static_cast<uint32_t>(u[3]) << 24);
}

// Counts the elements of Triton-layout BYTES data; false when a length prefix runs past the end.
bool CountBytesElements(std::string_view data, int64_t* count) {
  int64_t n = 0;
  size_t pos = 0;
  while (pos < data.size()) {
    if (data.size() - pos < 4) return false;
    const uint32_t len = ReadLe32(data.data() + pos);
    pos += 4;
    if (data.size() - pos < len) return false;
    pos += len;
    ++n;
  }
  *count = n;
  return true;
}

// ---- Request parsing ----------------------------------------------------------------------------

struct BinaryCursor {
  std::string_view bytes;  // the binary part of the body
  size_t offset = 0;
  bool present = false;  // Inference-Header-Content-Length was given
};

template <DataType kType>
absl::Status FillFixed(dom::element data, int64_t expected, Tensor* tensor) {
  const size_t element_size = domain::DataTypeSize(kType);
  tensor->data.resize(static_cast<size_t>(expected) * element_size);
  char* out = tensor->data.data();
  int64_t index = 0;
  std::optional<dom::element> bad;
  auto store = [&](dom::element e) {
    if (index < expected) {
      if (!FixedScalarFromJson<kType>(e, out + static_cast<size_t>(index) * element_size)) {
        bad = e;
        return false;
      }
    }
    ++index;
    return true;
  };
  if (!WalkScalars(data, store)) {
    return Invalid("input '", tensor->name, "': data element ", index, " is not a valid ",
                   ToAbsl(domain::DataTypeName(kType)), ": ", Excerpt(*bad));
  }
  if (index != expected) {
    return Invalid("input '", tensor->name, "': shape ", ShapeString(tensor->shape), " needs ",
                   expected, " elements, got ", index);
  }
  return absl::OkStatus();
}

absl::Status FillFromJsonData(dom::element data, int64_t expected, size_t json_size,
                              Tensor* tensor) {
  auto label = [tensor] { return absl::StrCat("input '", tensor->name, "'"); };
  const DataType type = tensor->datatype;
  if (type == DataType::kBytes) {
    // Each element needs at least 2 JSON bytes (`"",`), so this bounds the reservation.
    tensor->data.reserve(
        static_cast<size_t>(std::min<int64_t>(expected, static_cast<int64_t>(json_size))) * 4 + 64);
    int64_t index = 0;
    std::optional<dom::element> bad;
    auto append = [&](dom::element e) {
      std::string_view s;
      if (e.get_string().get(s) != simdjson::SUCCESS) {
        bad = e;
        return false;
      }
      AppendBytesElement(s, &tensor->data);
      ++index;
      return true;
    };
    if (!WalkScalars(data, append)) {
      return Invalid(label(), ": data element ", index, " must be a string for BYTES, got ",
                     ToAbsl(TypeName(bad->type())));
    }
    if (index != expected) {
      return Invalid(label(), ": shape ", ShapeString(tensor->shape), " needs ", expected,
                     " elements, got ", index);
    }
    return absl::OkStatus();
  }

  if (expected > static_cast<int64_t>(json_size)) {
    // The JSON cannot hold that many elements; count them only for the message.
    return Invalid(label(), ": shape ", ShapeString(tensor->shape), " needs ", expected,
                   " elements, got ", CountScalars(data));
  }
  switch (type) {
    case DataType::kBool:
      return FillFixed<DataType::kBool>(data, expected, tensor);
    case DataType::kUint8:
      return FillFixed<DataType::kUint8>(data, expected, tensor);
    case DataType::kUint16:
      return FillFixed<DataType::kUint16>(data, expected, tensor);
    case DataType::kUint32:
      return FillFixed<DataType::kUint32>(data, expected, tensor);
    case DataType::kUint64:
      return FillFixed<DataType::kUint64>(data, expected, tensor);
    case DataType::kInt8:
      return FillFixed<DataType::kInt8>(data, expected, tensor);
    case DataType::kInt16:
      return FillFixed<DataType::kInt16>(data, expected, tensor);
    case DataType::kInt32:
      return FillFixed<DataType::kInt32>(data, expected, tensor);
    case DataType::kInt64:
      return FillFixed<DataType::kInt64>(data, expected, tensor);
    case DataType::kFp16:
      return FillFixed<DataType::kFp16>(data, expected, tensor);
    case DataType::kFp32:
      return FillFixed<DataType::kFp32>(data, expected, tensor);
    case DataType::kFp64:
      return FillFixed<DataType::kFp64>(data, expected, tensor);
    case DataType::kBytes:
      break;  // handled above
  }
  return absl::InternalError("unreachable datatype");
}

absl::Status ParseInput(dom::element input, size_t position, size_t json_size, BinaryCursor* binary,
                        Tensor* tensor) {
  // Error-path only: "inputs[3]" until the name is known, then "input 'x'".
  auto label = [position, tensor] {
    return tensor->name.empty() ? absl::StrCat("inputs[", position, "]")
                                : absl::StrCat("input '", tensor->name, "'");
  };
  dom::object object;
  if (input.get_object().get(object) != simdjson::SUCCESS) {
    return Invalid(label(), " must be an object, got ", ToAbsl(TypeName(input.type())));
  }
  std::optional<dom::element> name, shape, datatype, parameters, data;
  for (dom::key_value_pair field : object) {
    std::optional<dom::element>* slot = nullptr;
    if (field.key == "name") {
      slot = &name;
    } else if (field.key == "shape") {
      slot = &shape;
    } else if (field.key == "datatype") {
      slot = &datatype;
    } else if (field.key == "parameters") {
      slot = &parameters;
    } else if (field.key == "data") {
      slot = &data;
    } else {
      continue;  // unknown fields are ignored (forward compatibility)
    }
    if (slot->has_value()) return Invalid(label(), ": duplicate field '", ToAbsl(field.key), "'");
    *slot = field.value;
  }

  std::string_view name_value;
  if (!name) return Invalid(label(), ": missing 'name'");
  if (name->get_string().get(name_value) != simdjson::SUCCESS) {
    return Invalid(label(), ".name must be a string, got ", ToAbsl(TypeName(name->type())));
  }
  if (name_value.empty()) return Invalid(label(), ".name must not be empty");
  tensor->name.assign(name_value);

  std::string_view datatype_value;
  if (!datatype) return Invalid(label(), ": missing 'datatype'");
  if (datatype->get_string().get(datatype_value) != simdjson::SUCCESS) {
    return Invalid(label(), ": 'datatype' must be a string, got ",
                   ToAbsl(TypeName(datatype->type())));
  }
  const std::optional<DataType> type = domain::ParseDataType(datatype_value);
  if (!type) return Invalid(label(), ": unknown datatype '", ToAbsl(datatype_value), "'");
  tensor->datatype = *type;

  if (!shape) return Invalid(label(), ": missing 'shape'");
  dom::array shape_array;
  if (shape->get_array().get(shape_array) != simdjson::SUCCESS) {
    return Invalid(label(), ": 'shape' must be an array, got ", ToAbsl(TypeName(shape->type())));
  }
  tensor->shape.reserve(shape_array.size());
  for (dom::element dim : shape_array) {
    int64_t d;
    if (dim.type() != dom::element_type::INT64 || dim.get_int64().get(d) != simdjson::SUCCESS) {
      return Invalid(label(), ": 'shape' must hold integers, got ", Excerpt(dim));
    }
    tensor->shape.push_back(d);
  }
  for (int64_t d : tensor->shape) {
    if (d < 0) {
      return Invalid(label(), ": negative dimension ", d, " in shape ", ShapeString(tensor->shape));
    }
  }
  const int64_t expected = tensor->ElementCount();  // dims are >= 0 here: -1 means overflow
  if (expected < 0) {
    return Invalid(label(), ": shape ", ShapeString(tensor->shape), " is too large");
  }

  std::optional<uint64_t> binary_size;
  if (parameters) {
    dom::object params;
    if (parameters->get_object().get(params) != simdjson::SUCCESS) {
      return Invalid(label(), ": 'parameters' must be an object, got ",
                     ToAbsl(TypeName(parameters->type())));
    }
    for (dom::key_value_pair param : params) {
      if (param.key != "binary_data_size") continue;
      uint64_t size;
      if (param.value.type() == dom::element_type::INT64 &&
          param.value.get_int64().value_unsafe() >= 0) {
        size = static_cast<uint64_t>(param.value.get_int64().value_unsafe());
      } else if (param.value.type() == dom::element_type::UINT64) {
        size = param.value.get_uint64().value_unsafe();
      } else {
        return Invalid(label(),
                       ": parameters.binary_data_size must be a non-negative integer, got ",
                       Excerpt(param.value));
      }
      if (binary_size) return Invalid(label(), ": duplicate parameters.binary_data_size");
      binary_size = size;
    }
  }

  if (binary_size) {
    if (data) return Invalid(label(), ": has both 'data' and parameters.binary_data_size");
    if (!binary->present) {
      return Invalid(label(),
                     ": parameters.binary_data_size is set but the request has no binary part "
                     "(missing Inference-Header-Content-Length)");
    }
    const size_t remaining = binary->bytes.size() - binary->offset;
    if (*binary_size > remaining) {
      return Invalid(label(), ": binary_data_size ", *binary_size, " exceeds the ", remaining,
                     " bytes of binary data left");
    }
    const std::string_view bytes = binary->bytes.substr(binary->offset, *binary_size);
    binary->offset += *binary_size;
    if (*type == DataType::kBytes) {
      int64_t count = 0;
      if (!CountBytesElements(bytes, &count)) {
        return Invalid(label(), ": binary BYTES data is malformed (a length prefix runs past ",
                       "the end of its ", bytes.size(), " bytes)");
      }
      if (count != expected) {
        return Invalid(label(), ": shape ", ShapeString(tensor->shape), " needs ", expected,
                       " elements, got ", count);
      }
    } else {
      const uint64_t element_size = domain::DataTypeSize(*type);
      // Compared by division: expected * element_size can overflow for absurd shapes.
      if (*binary_size % element_size != 0 ||
          *binary_size / element_size != static_cast<uint64_t>(expected)) {
        return Invalid(label(), ": binary_data_size ", *binary_size, " does not match shape ",
                       ShapeString(tensor->shape), " of ", ToAbsl(DataTypeName(*type)), " (needs ",
                       expected, " elements of ", element_size, " bytes)");
      }
    }
    tensor->data.assign(bytes.data(), bytes.size());
    return absl::OkStatus();
  }

  if (!data) return Invalid(label(), ": missing 'data' (or parameters.binary_data_size)");
  return FillFromJsonData(*data, expected, json_size, tensor);
}

template <typename Items, typename NameOf>
std::optional<std::string_view> FindDuplicateName(const Items& items, NameOf name_of) {
  if (items.size() <= kLinearDuplicateScanLimit) {
    for (size_t i = 1; i < items.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (name_of(items[i]) == name_of(items[j])) return name_of(items[i]);
      }
    }
    return std::nullopt;
  }
  absl::flat_hash_set<absl::string_view> seen;
  seen.reserve(items.size());
  for (const auto& item : items) {
    if (!seen.insert(ToAbsl(name_of(item))).second) return name_of(item);
  }
  return std::nullopt;
}

absl::Status ParseOutputs(dom::element outputs, bool binary_by_default,
                          std::vector<RequestedOutput>* out) {
  dom::array array;
  if (outputs.get_array().get(array) != simdjson::SUCCESS) {
    return Invalid("'outputs' must be an array, got ", ToAbsl(TypeName(outputs.type())));
  }
  out->reserve(array.size());
  size_t position = 0;
  for (dom::element output : array) {
    auto label = [position] { return absl::StrCat("outputs[", position, "]"); };
    dom::object object;
    if (output.get_object().get(object) != simdjson::SUCCESS) {
      return Invalid(label(), " must be an object, got ", ToAbsl(TypeName(output.type())));
    }
    RequestedOutput requested;
    requested.binary = binary_by_default;
    bool has_name = false;
    for (dom::key_value_pair field : object) {
      if (field.key == "name") {
        std::string_view name;
        if (field.value.get_string().get(name) != simdjson::SUCCESS) {
          return Invalid(label(), ".name must be a string, got ",
                         ToAbsl(TypeName(field.value.type())));
        }
        if (name.empty()) return Invalid(label(), ".name must not be empty");
        requested.name.assign(name);
        has_name = true;
      } else if (field.key == "parameters") {
        dom::object params;
        if (field.value.get_object().get(params) != simdjson::SUCCESS) {
          return Invalid(label(), ".parameters must be an object, got ",
                         ToAbsl(TypeName(field.value.type())));
        }
        for (dom::key_value_pair param : params) {
          if (param.key != "binary_data") continue;
          if (param.value.get_bool().get(requested.binary) != simdjson::SUCCESS) {
            return Invalid(label(), ".parameters.binary_data must be a boolean, got ",
                           Excerpt(param.value));
          }
        }
      }
    }
    if (!has_name) return Invalid(label(), ": missing 'name'");
    out->push_back(std::move(requested));
    ++position;
  }
  if (auto dup = FindDuplicateName(
          *out, [](const RequestedOutput& o) -> std::string_view { return o.name; })) {
    return Invalid("duplicate output '", ToAbsl(*dup), "'");
  }
  return absl::OkStatus();
}

// ---- Response encoding --------------------------------------------------------------------------

// Appends small formatted pieces to a string through a stack buffer, so per-element appends do
// not pay std::string's bookkeeping.
class ChunkedWriter {
 public:
  explicit ChunkedWriter(std::string* out) : out_(out) {}
  ~ChunkedWriter() { Flush(); }
  ChunkedWriter(const ChunkedWriter&) = delete;
  ChunkedWriter& operator=(const ChunkedWriter&) = delete;

  // Returns a pointer with room for `n` (<= kRoom) bytes; call Commit with the bytes used.
  char* Reserve(size_t n) {
    if (used_ + n > sizeof(buffer_)) Flush();
    return buffer_ + used_;
  }
  void Commit(char* end) { used_ = static_cast<size_t>(end - buffer_); }
  void Put(char c) {
    if (used_ == sizeof(buffer_)) Flush();
    buffer_[used_++] = c;
  }
  void Put(std::string_view s) {
    if (s.size() > sizeof(buffer_) - used_) {
      Flush();
      out_->append(s.data(), s.size());
      return;
    }
    std::memcpy(buffer_ + used_, s.data(), s.size());
    used_ += s.size();
  }
  void Flush() {
    out_->append(buffer_, used_);
    used_ = 0;
  }

  static constexpr size_t kRoom = 64;

 private:
  std::string* out_;
  size_t used_ = 0;
  char buffer_[8192];
};

void PutEscapedValidUtf8(std::string_view s, ChunkedWriter* w) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t run_start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    w->Put(s.substr(run_start, i - run_start));
    run_start = i + 1;
    switch (c) {
      case '"':
        w->Put("\\\"");
        break;
      case '\\':
        w->Put("\\\\");
        break;
      case '\n':
        w->Put("\\n");
        break;
      case '\r':
        w->Put("\\r");
        break;
      case '\t':
        w->Put("\\t");
        break;
      case '\b':
        w->Put("\\b");
        break;
      case '\f':
        w->Put("\\f");
        break;
      default: {
        const char escape[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        w->Put(std::string_view(escape, 6));
      }
    }
  }
  w->Put(s.substr(run_start));
}

// Writes `s` as a JSON string; invalid UTF-8 sequences become U+FFFD.
void PutJsonString(std::string_view s, ChunkedWriter* w) {
  w->Put('"');
  // Names and ids are short ASCII: a plain scan beats the dispatched SIMD validator there.
  bool valid = true;
  if (s.size() <= 64) {
    for (char c : s) {
      if (static_cast<unsigned char>(c) >= 0x80) {
        valid = simdjson::validate_utf8(s.data(), s.size());
        break;
      }
    }
  } else {
    valid = simdjson::validate_utf8(s.data(), s.size());
  }
  if (valid) {
    PutEscapedValidUtf8(s, w);
  } else {
    size_t i = 0;
    while (i < s.size()) {
      const unsigned char lead = static_cast<unsigned char>(s[i]);
      const size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
      if (i + length <= s.size() && simdjson::validate_utf8(s.data() + i, length)) {
        PutEscapedValidUtf8(s.substr(i, length), w);
        i += length;
      } else {
        w->Put("\xEF\xBF\xBD");
        ++i;
      }
    }
  }
  w->Put('"');
}

template <typename T>
void PutNumber(T value, ChunkedWriter* w) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(value)) {
      w->Put("null");
      return;
    }
  }
  char* p = w->Reserve(ChunkedWriter::kRoom);
  w->Commit(std::to_chars(p, p + ChunkedWriter::kRoom, value).ptr);
}

// Shortest decimal that converts back to the same half (at most 5 significant digits).
void PutHalf(uint16_t half, ChunkedWriter* w) {
  const float value = HalfToFloat(half);
  if (!std::isfinite(value)) {
    w->Put("null");
    return;
  }
  char* p = w->Reserve(ChunkedWriter::kRoom);
  for (int precision = 1; precision < 5; ++precision) {
    char* end =
        std::to_chars(p, p + ChunkedWriter::kRoom, value, std::chars_format::general, precision)
            .ptr;
    float back = 0;
    std::from_chars(p, end, back);
    if (FloatToHalf(back) == half) {
      w->Commit(end);
      return;
    }
  }
  w->Commit(std::to_chars(p, p + ChunkedWriter::kRoom, value, std::chars_format::general, 5).ptr);
}

template <typename T>
void PutFixedArray(const std::string& data, ChunkedWriter* w) {
  const size_t n = data.size() / sizeof(T);
  const char* src = data.data();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) w->Put(',');
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    if constexpr (std::is_same_v<T, bool>) {
      w->Put(v ? std::string_view("true") : std::string_view("false"));
    } else {
      PutNumber(v, w);
    }
  }
}

void PutData(const Tensor& t, ChunkedWriter* w) {
  w->Put('[');
  switch (t.datatype) {
    case DataType::kBool: {
      for (size_t i = 0; i < t.data.size(); ++i) {
        if (i > 0) w->Put(',');
        w->Put(t.data[i] != 0 ? std::string_view("true") : std::string_view("false"));
      }
      break;
    }
    case DataType::kUint8:
      PutFixedArray<uint8_t>(t.data, w);
      break;
    case DataType::kUint16:
      PutFixedArray<uint16_t>(t.data, w);
      break;
    case DataType::kUint32:
      PutFixedArray<uint32_t>(t.data, w);
      break;
    case DataType::kUint64:
      PutFixedArray<uint64_t>(t.data, w);
      break;
    case DataType::kInt8:
      PutFixedArray<int8_t>(t.data, w);
      break;
    case DataType::kInt16:
      PutFixedArray<int16_t>(t.data, w);
      break;
    case DataType::kInt32:
      PutFixedArray<int32_t>(t.data, w);
      break;
    case DataType::kInt64:
      PutFixedArray<int64_t>(t.data, w);
      break;
    case DataType::kFp16: {
      const size_t n = t.data.size() / 2;
      for (size_t i = 0; i < n; ++i) {
        if (i > 0) w->Put(',');
        uint16_t h;
        std::memcpy(&h, t.data.data() + i * 2, 2);
        PutHalf(h, w);
      }
      break;
    }
    case DataType::kFp32:
      PutFixedArray<float>(t.data, w);
      break;
    case DataType::kFp64:
      PutFixedArray<double>(t.data, w);
      break;
    case DataType::kBytes: {
      const std::string_view data = t.data;
      size_t pos = 0;
      bool first = true;
      while (data.size() - pos >= 4) {
        const uint32_t len = ReadLe32(data.data() + pos);
        pos += 4;
        if (data.size() - pos < len) break;  // malformed tail: stop rather than read past it
        if (!first) w->Put(',');
        first = false;
        PutJsonString(data.substr(pos, len), w);
        pos += len;
      }
      break;
    }
  }
  w->Put(']');
}

// Rough size of the JSON for one tensor's data, to reserve once.
size_t EstimateJsonDataSize(const Tensor& t) {
  switch (t.datatype) {
    case DataType::kBytes:
      return t.data.size() + t.data.size() / 2 + 16;
    case DataType::kBool:
      return t.data.size() * 6;
    case DataType::kFp16:
      return t.data.size() / 2 * 13 + 16;
    case DataType::kFp32:
      return t.data.size() / 4 * 13 + 16;
    case DataType::kFp64:
      return t.data.size() / 8 * 22 + 16;
    default:
      return t.data.size() * 3 + 16;
  }
}

}  // namespace

absl::StatusOr<InferRequest> ParseInferRequest(std::string_view body,
                                               std::optional<size_t> json_length) {
  BinaryCursor binary;
  std::string_view json = body;
  if (json_length) {
    if (*json_length > body.size()) {
      return Invalid("Inference-Header-Content-Length ", *json_length, " exceeds the body size ",
                     body.size());
    }
    json = body.substr(0, *json_length);
    binary.bytes = body.substr(*json_length);
    binary.present = true;
  }
  if (json.empty()) return Invalid("empty request: expected a JSON object");

  // The thread's parser keeps its buffers (~15x the largest body parsed); bodies above
  // kMaxCachedParseBytes get a parser of their own, freed on return.
  thread_local dom::parser cached_parser;
  std::optional<dom::parser> one_off_parser;
  dom::parser* parser = &cached_parser;
  if (json.size() > kMaxCachedParseBytes) parser = &one_off_parser.emplace();
  dom::element root;
  if (const simdjson::error_code error = parser->parse(json.data(), json.size()).get(root);
      error != simdjson::SUCCESS) {
    if (error == simdjson::MEMALLOC) {
      return absl::ResourceExhaustedError(
          absl::StrCat("out of memory parsing a ", json.size(), "-byte request"));
    }
    return Invalid("malformed JSON: ", simdjson::error_message(error));
  }
  dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return Invalid("request must be a JSON object, got ", ToAbsl(TypeName(root.type())));
  }

  InferRequest request;
  std::optional<dom::element> id, parameters, inputs, outputs;
  for (dom::key_value_pair field : object) {
    std::optional<dom::element>* slot = nullptr;
    if (field.key == "id") {
      slot = &id;
    } else if (field.key == "parameters") {
      slot = &parameters;
    } else if (field.key == "inputs") {
      slot = &inputs;
    } else if (field.key == "outputs") {
      slot = &outputs;
    } else {
      continue;
    }
    if (slot->has_value()) return Invalid("duplicate field '", ToAbsl(field.key), "'");
    *slot = field.value;
  }

  if (id) {
    std::string_view id_value;
    if (id->get_string().get(id_value) != simdjson::SUCCESS) {
      return Invalid("'id' must be a string, got ", ToAbsl(TypeName(id->type())));
    }
    request.id.assign(id_value);
  }
  if (parameters) {
    dom::object params;
    if (parameters->get_object().get(params) != simdjson::SUCCESS) {
      return Invalid("'parameters' must be an object, got ", ToAbsl(TypeName(parameters->type())));
    }
    for (dom::key_value_pair param : params) {
      if (param.key != "binary_data_output") continue;
      if (param.value.get_bool().get(request.binary_outputs_by_default) != simdjson::SUCCESS) {
        return Invalid("parameters.binary_data_output must be a boolean, got ",
                       Excerpt(param.value));
      }
    }
  }

  if (!inputs) return Invalid("missing 'inputs'");
  dom::array input_array;
  if (inputs->get_array().get(input_array) != simdjson::SUCCESS) {
    return Invalid("'inputs' must be an array, got ", ToAbsl(TypeName(inputs->type())));
  }
  request.inputs.resize(input_array.size());
  size_t position = 0;
  for (dom::element input : input_array) {
    HS_RETURN_IF_ERROR(
        ParseInput(input, position, json.size(), &binary, &request.inputs[position]));
    ++position;
  }
  if (auto dup = FindDuplicateName(request.inputs,
                                   [](const Tensor& t) -> std::string_view { return t.name; })) {
    return Invalid("duplicate input '", ToAbsl(*dup), "'");
  }
  if (binary.offset != binary.bytes.size()) {
    return Invalid("binary data has ", binary.bytes.size() - binary.offset,
                   " bytes left over after the last binary input (", binary.bytes.size(),
                   " bytes after the JSON, ", binary.offset, " claimed by binary_data_size)");
  }

  if (outputs) {
    HS_RETURN_IF_ERROR(ParseOutputs(*outputs, request.binary_outputs_by_default, &request.outputs));
  }
  return request;
}

EncodedResponse EncodeInferResponse(std::string_view model_name, std::string_view model_version,
                                    std::string_view id, const std::vector<Tensor>& outputs,
                                    const std::vector<RequestedOutput>& requested,
                                    bool binary_by_default) {
  EncodedResponse response;
  std::string& body = response.body;

  // Which outputs to write and how: 0 = skip, 1 = JSON, 2 = binary. Kept on the stack for the
  // common small case.
  absl::InlinedVector<uint8_t, 8> mode(outputs.size(), 0);
  size_t estimate = 128 + model_name.size() + model_version.size() + id.size();
  size_t binary_bytes = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    bool binary = binary_by_default;
    if (!requested.empty()) {
      const RequestedOutput* match = nullptr;
      for (const RequestedOutput& r : requested) {
        if (r.name == outputs[i].name) {
          match = &r;
          break;
        }
      }
      if (match == nullptr) continue;
      binary = match->binary;
    }
    mode[i] = binary ? 2 : 1;
    estimate += 96 + outputs[i].name.size() + outputs[i].shape.size() * 12;
    if (binary) {
      binary_bytes += outputs[i].data.size();
    } else {
      estimate += EstimateJsonDataSize(outputs[i]);
    }
  }
  body.reserve(estimate + binary_bytes);

  {
    ChunkedWriter w(&body);
    w.Put("{\"model_name\":");
    PutJsonString(model_name, &w);
    w.Put(",\"model_version\":");
    PutJsonString(model_version, &w);
    if (!id.empty()) {
      w.Put(",\"id\":");
      PutJsonString(id, &w);
    }
    w.Put(",\"outputs\":[");
    bool first = true;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (mode[i] == 0) continue;
      const Tensor& t = outputs[i];
      if (!first) w.Put(',');
      first = false;
      w.Put("{\"name\":");
      PutJsonString(t.name, &w);
      w.Put(",\"datatype\":\"");
      w.Put(domain::DataTypeName(t.datatype));
      w.Put("\",\"shape\":[");
      for (size_t d = 0; d < t.shape.size(); ++d) {
        if (d > 0) w.Put(',');
        PutNumber(t.shape[d], &w);
      }
      w.Put(']');
      if (mode[i] == 2) {
        w.Put(",\"parameters\":{\"binary_data_size\":");
        PutNumber(t.data.size(), &w);
        w.Put('}');
      } else {
        w.Put(",\"data\":");
        PutData(t, &w);
      }
      w.Put('}');
    }
    w.Put("]}");
  }

  if (binary_bytes > 0 || std::find(mode.begin(), mode.end(), 2) != mode.end()) {
    response.json_length = body.size();
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (mode[i] == 2) body.append(outputs[i].data);
    }
  }
  return response;
}

}  // namespace hotswap::serving
