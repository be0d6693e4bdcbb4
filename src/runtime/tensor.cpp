#include "runtime/tensor.h"

#include <cstring>

#include <bit>
#include <string>

#include <limits>

namespace hotswap::runtime {

int64_t ElementCount(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return -1;
    if (dim != 0 && count > std::numeric_limits<int64_t>::max() / dim) return -1;  // overflow
    count *= dim;
  }
  return count;
}

int64_t Tensor::ElementCount() const { return runtime::ElementCount(shape); }

// FP16 conversion: F. Giesen's round-to-nearest-even bit tricks.

uint16_t FloatToHalf(float value) {
  constexpr uint32_t kF32Infinity = 255u << 23;
  constexpr uint32_t kF16Max = (127u + 16u) << 23;  // 65536.0f: everything above rounds to inf
  constexpr uint32_t kDenormMagic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
  uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint32_t sign = bits & 0x80000000u;
  bits ^= sign;
  uint32_t out;
  if (bits >= kF16Max) {
    out = bits > kF32Infinity ? 0x7E00u : 0x7C00u;
  } else if (bits < (113u << 23)) {  // subnormal half or zero: let the FPU round
    const float shifted = std::bit_cast<float>(bits) + std::bit_cast<float>(kDenormMagic);
    out = std::bit_cast<uint32_t>(shifted) - kDenormMagic;
  } else {
    const uint32_t mantissa_odd = (bits >> 13) & 1u;
    bits += ((15u - 127u) << 23) + 0xFFFu;  // rebias exponent (wraps as intended)
    bits += mantissa_odd;
    out = bits >> 13;
  }
  return static_cast<uint16_t>(out | (sign >> 16));
}

float HalfToFloat(uint16_t half) {
  constexpr uint32_t kShiftedExp = 0x7C00u << 13;
  uint32_t bits = (static_cast<uint32_t>(half) & 0x7FFFu) << 13;
  const uint32_t exp = kShiftedExp & bits;
  bits += (127u - 15u) << 23;
  if (exp == kShiftedExp) {
    bits += (128u - 16u) << 23;  // Inf/NaN
  } else if (exp == 0) {
    bits += 1u << 23;  // zero/subnormal: renormalise
    bits = std::bit_cast<uint32_t>(std::bit_cast<float>(bits) - std::bit_cast<float>(113u << 23));
  }
  bits |= (static_cast<uint32_t>(half) & 0x8000u) << 16;
  return std::bit_cast<float>(bits);
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += std::to_string(shape[i]);
  }
  out.push_back(']');
  return out;
}

double NumberElement(const Tensor& t, int64_t i) {
  switch (t.datatype) {
    case domain::DataType::kBool: return t.As<uint8_t>()[i] ? 1 : 0;
    case domain::DataType::kUint8: return t.As<uint8_t>()[i];
    case domain::DataType::kUint16: return t.As<uint16_t>()[i];
    case domain::DataType::kUint32: return t.As<uint32_t>()[i];
    case domain::DataType::kUint64: return static_cast<double>(t.As<uint64_t>()[i]);
    case domain::DataType::kInt8: return t.As<int8_t>()[i];
    case domain::DataType::kInt16: return t.As<int16_t>()[i];
    case domain::DataType::kInt32: return t.As<int32_t>()[i];
    case domain::DataType::kInt64: return static_cast<double>(t.As<int64_t>()[i]);
    case domain::DataType::kFp16: return HalfToFloat(t.As<uint16_t>()[i]);
    case domain::DataType::kFp32: return t.As<float>()[i];
    case domain::DataType::kFp64: return t.As<double>()[i];
    default: return 0;
  }
}

std::optional<std::string_view> BytesElement(const Tensor& t, int64_t index) {
  size_t pos = 0;
  for (int64_t i = 0; pos + 4 <= t.data.size(); ++i) {
    uint32_t n = 0;
    std::memcpy(&n, t.data.data() + pos, 4);
    pos += 4;
    if (pos + n > t.data.size()) return std::nullopt;
    if (i == index) return std::string_view(t.data.data() + pos, n);
    pos += n;
  }
  return std::nullopt;
}

}  // namespace hotswap::runtime
