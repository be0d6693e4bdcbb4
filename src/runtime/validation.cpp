#include "runtime/validation.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace hotswap::runtime {
namespace {

using domain::DataType;
using domain::TensorSpec;

// Above this many schema inputs, presence is tracked in a heap vector instead of a bit mask.
constexpr size_t kMaskBits = 64;

bool ShapeMatches(const std::vector<int64_t>& expected, const std::vector<int64_t>& actual) {
  if (expected.size() != actual.size()) return false;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (actual[i] < 0) return false;
    if (expected[i] >= 0 && expected[i] != actual[i]) return false;
  }
  return true;
}

absl::Status CheckData(const Tensor& t) {
  const int64_t signed_count = t.ElementCount();  // dims are >= 0 here: -1 means overflow
  if (signed_count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("input '", t.name, "': shape ", ShapeString(t.shape), " is too large"));
  }
  const auto count = static_cast<uint64_t>(signed_count);
  if (t.datatype != DataType::kBytes) {
    const uint64_t element_size = domain::DataTypeSize(t.datatype);
    if (count > std::numeric_limits<uint64_t>::max() / element_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", t.name, "': shape ", ShapeString(t.shape), " is too large"));
    }
    if (count * element_size != t.data.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", t.name, "': shape ", ShapeString(t.shape), " of ",
                       ToAbsl(domain::DataTypeName(t.datatype)), " needs ", count * element_size,
                       " bytes, got ", t.data.size()));
    }
    return absl::OkStatus();
  }
  const std::string_view data = t.data;
  uint64_t elements = 0;
  size_t pos = 0;
  while (pos < data.size()) {
    if (data.size() - pos < 4) {
      return absl::InvalidArgumentError(absl::StrCat("input '", t.name,
                                                     "': malformed BYTES data: element ", elements,
                                                     " has a truncated length prefix"));
    }
    uint32_t len;
    std::memcpy(&len, data.data() + pos, 4);  // little-endian host (x86-64, aarch64)
    pos += 4;
    if (data.size() - pos < len) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", t.name, "': malformed BYTES data: element ", elements, " claims ",
                       len, " bytes but only ", data.size() - pos, " remain"));
    }
    pos += len;
    ++elements;
  }
  if (elements != count) {
    return absl::InvalidArgumentError(absl::StrCat("input '", t.name, "': shape ",
                                                   ShapeString(t.shape), " needs ", count,
                                                   " BYTES elements, got ", elements));
  }
  return absl::OkStatus();
}

std::string InputList(const domain::TensorSchema& schema) {
  std::string out;
  for (const TensorSpec& spec : schema.inputs) {
    if (!out.empty()) out.append(", ");
    out.append(spec.name);
  }
  return out;
}

}  // namespace

absl::Status ValidateInputs(const domain::TensorSchema& schema, const std::vector<Tensor>& inputs) {
  const size_t n = schema.inputs.size();
  uint64_t seen_mask = 0;
  std::vector<bool> seen_vector;
  if (n > kMaskBits) seen_vector.resize(n);
  auto seen = [&](size_t i) { return n > kMaskBits ? seen_vector[i] : ((seen_mask >> i) & 1u); };
  auto mark = [&](size_t i) {
    if (n > kMaskBits) {
      seen_vector[i] = true;
    } else {
      seen_mask |= uint64_t{1} << i;
    }
  };

  for (const Tensor& input : inputs) {
    size_t index = n;
    for (size_t i = 0; i < n; ++i) {
      if (schema.inputs[i].name == input.name) {
        index = i;
        break;
      }
    }
    if (index == n) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected input '", input.name,
                                                     "' (model inputs: ", InputList(schema), ")"));
    }
    if (seen(index)) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate input '", input.name, "'"));
    }
    mark(index);
    const TensorSpec& spec = schema.inputs[index];
    if (spec.datatype != input.datatype) {
      return absl::InvalidArgumentError(absl::StrCat("input '", input.name, "': expected datatype ",
                                                     ToAbsl(domain::DataTypeName(spec.datatype)),
                                                     ", got ",
                                                     ToAbsl(domain::DataTypeName(input.datatype))));
    }
    if (!ShapeMatches(spec.shape, input.shape)) {
      return absl::InvalidArgumentError(absl::StrCat("input '", input.name, "': expected shape ",
                                                     ShapeString(spec.shape), ", got ",
                                                     ShapeString(input.shape)));
    }
    HS_RETURN_IF_ERROR(CheckData(input));
  }
  for (size_t i = 0; i < n; ++i) {
    if (!seen(i)) {
      return absl::InvalidArgumentError(
          absl::StrCat("missing input '", schema.inputs[i].name, "'"));
    }
  }
  return absl::OkStatus();
}

std::vector<Tensor> SynthesizeInputs(const domain::TensorSchema& schema, int64_t batch) {
  batch = std::max<int64_t>(batch, 1);
  std::vector<Tensor> out;
  out.reserve(schema.inputs.size());
  for (const TensorSpec& spec : schema.inputs) {
    Tensor t;
    t.name = spec.name;
    t.datatype = spec.datatype;
    t.shape = spec.shape;
    size_t count = 1;
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (t.shape[d] < 0) t.shape[d] = d == 0 ? batch : 1;
      count *= static_cast<size_t>(t.shape[d]);
    }
    // BYTES: `count` empty strings, each just a zero length prefix.
    const size_t element_size =
        spec.datatype == DataType::kBytes ? 4 : domain::DataTypeSize(spec.datatype);
    t.data.assign(count * element_size, '\0');
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace hotswap::runtime
