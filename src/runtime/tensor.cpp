#include "runtime/tensor.h"

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

}  // namespace hotswap::runtime
