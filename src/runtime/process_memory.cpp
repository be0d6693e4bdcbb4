#include "runtime/process_memory.h"

#include <unistd.h>

#include <cstdio>

namespace hotswap::runtime {

int64_t ResidentSetBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long long total = 0, resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &total, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace hotswap::runtime
