// Resident memory of this process, for the backends' LoadedModel::memory_bytes(): each measures
// the growth of the resident set around the engine's load. Stateless; thread-safe.
#pragma once

#include <cstdint>

namespace hotswap::runtime {

// Resident set size in bytes (from /proc/self/statm); 0 when it cannot be read.
int64_t ResidentSetBytes();

}  // namespace hotswap::runtime
