// Micro-benchmark: microseconds per OnnxBackend Run of the demo iris model (batch 1, one
// intra-op thread, one calling thread), including the input OrtValue set-up and the copy of
// both outputs into Tensors. Not a test; results are kept in bench/results/runtime_onnx.md.
//
//   build/bench/runtime_onnx_bench [MODEL.onnx] [--runs N] [--batch B]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/onnx/onnx_backend.h"

namespace {

using hotswap::runtime::LoadOptions;
using hotswap::runtime::OnnxBackend;
using hotswap::runtime::Tensor;
using Clock = std::chrono::steady_clock;

int Fail(const std::string& what) {
  std::fprintf(stderr, "runtime_onnx_bench: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path = HOTSWAP_DEMO_MODEL;
  int runs = 200000;
  int batch = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
      batch = std::atoi(argv[++i]);
    } else {
      model_path = argv[i];
    }
  }
  if (runs < 1 || batch < 1) return Fail("--runs and --batch must be >= 1");

  auto backend = OnnxBackend::Create();
  if (!backend.ok()) return Fail(std::string(backend.status().message()));
  const auto load_start = Clock::now();
  auto model = (*backend)->Load(model_path, LoadOptions{.intra_op_threads = 1});
  const double load_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - load_start).count();
  if (!model.ok()) return Fail(std::string(model.status().message()));

  Tensor input{"input", hotswap::domain::DataType::kFp32, {batch, 4}, {}};
  std::vector<float> values;
  for (int r = 0; r < batch; ++r) {
    for (float v : {5.9f, 3.0f, 5.1f, 1.8f}) values.push_back(v + 0.001f * r);
  }
  input.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  const std::vector<Tensor> inputs = {input};
  const std::vector<std::string> all_outputs;

  std::vector<Tensor> outputs;
  for (int i = 0; i < std::min(runs, 2000); ++i) {  // warm-up
    outputs.clear();
    if (auto s = (*model)->Run(inputs, all_outputs, &outputs); !s.ok()) {
      return Fail(std::string(s.message()));
    }
  }

  // Timed in blocks of 1000 runs so the spread between blocks shows the noise.
  constexpr int kBlock = 1000;
  std::vector<double> block_us;
  const auto start = Clock::now();
  for (int done = 0; done < runs; done += kBlock) {
    const int n = std::min(kBlock, runs - done);
    const auto block_start = Clock::now();
    for (int i = 0; i < n; ++i) {
      outputs.clear();
      (void)(*model)->Run(inputs, all_outputs, &outputs);
    }
    block_us.push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - block_start).count() / n);
  }
  const double total_us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  std::sort(block_us.begin(), block_us.end());
  auto pct = [&](double p) {
    return block_us[std::min(block_us.size() - 1, static_cast<size_t>(p * block_us.size()))];
  };
  std::printf("engine        %s\n", (*backend)->version().c_str());
  std::printf("model         %s (load %.1f ms, memory_bytes %lld)\n", model_path.c_str(), load_ms,
              static_cast<long long>((*model)->memory_bytes()));
  std::printf("batch         %d, 1 intra-op thread, 1 calling thread\n", batch);
  std::printf("runs          %d\n", runs);
  std::printf("us/run        mean %.3f | blocks of %d: min %.3f, median %.3f, p90 %.3f, max %.3f\n",
              total_us / runs, kBlock, block_us.front(), pct(0.5), pct(0.9), block_us.back());
  std::printf("runs/s        %.0f\n", runs / (total_us / 1e6));
  return 0;
}
