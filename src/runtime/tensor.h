// Tensor: a named, typed, shaped block of row-major little-endian element bytes — the unit the
// V2 codec, validation, preprocessing and backends exchange.
//
// BYTES tensors hold each element as a 4-byte little-endian length followed by its bytes
// (Triton's binary tensor layout), so every datatype lives in one contiguous buffer.
//
// Plain value type; not synchronised.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "domain/model.h"

namespace hotswap::runtime {

struct Tensor {
  std::string name;
  domain::DataType datatype = domain::DataType::kFp32;
  std::vector<int64_t> shape;
  std::string data;  // raw element bytes (see above for BYTES)

  // Product of the dimensions (1 for a scalar); -1 when a dimension is negative or the product
  // overflows int64.
  int64_t ElementCount() const;
  // Typed view of the data (caller checks datatype first).
  template <typename T>
  const T* As() const { return reinterpret_cast<const T*>(data.data()); }
  template <typename T>
  T* MutableAs() { return reinterpret_cast<T*>(data.data()); }
};

// IEEE 754 half precision <-> float (round to nearest even; NaN and infinities kept).
uint16_t FloatToHalf(float value);
float HalfToFloat(uint16_t half);

// Element i of a numeric tensor as a double (BOOL as 0/1); 0 for BYTES.
double NumberElement(const Tensor& t, int64_t i);
// Element i of a BYTES tensor (a view into t.data), or nullopt when out of range or malformed.
std::optional<std::string_view> BytesElement(const Tensor& t, int64_t i);

// "[2,-1,4]" — for error messages.
std::string ShapeString(const std::vector<int64_t>& shape);

// Product of dims; -1 when any dim is negative or the product overflows int64; 1 for rank 0.
int64_t ElementCount(const std::vector<int64_t>& shape);

}  // namespace hotswap::runtime
