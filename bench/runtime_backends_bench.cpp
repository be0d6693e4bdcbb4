// Micro-benchmark: runs per second of each backend on the same small model, in-process, one
// calling thread, one intra-op thread. ONNX Runtime, TorchScript and TensorFlow run the same MLP
// architecture (32 -> 64 -> 64 -> 8, FP32; the ONNX and TorchScript files hold the same weights,
// exported from one torch module), XGBoost a 100-tree ensemble (depth 6, 16 features). Each Run
// includes the backend's input wrapping and the copy of every output into Tensors. Not a test;
// results are kept in bench/results/backends.md.
//
//   build/bench/runtime_backends_bench [--runs N] [--batch B] [--only onnx|torchscript|tensorflow|xgboost]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/onnx/onnx_backend.h"
#include "runtime/tensorflow/tensorflow_backend.h"
#include "runtime/torch/torch_backend.h"
#include "runtime/xgboost/xgboost_backend.h"

namespace {

using hotswap::domain::DataType;
using hotswap::domain::TensorSchema;
using hotswap::domain::TensorSpec;
using hotswap::runtime::Backend;
using hotswap::runtime::LoadOptions;
using hotswap::runtime::Tensor;
using Clock = std::chrono::steady_clock;

struct Case {
  std::string framework;
  std::string model;
  int features;
  std::unique_ptr<Backend> backend;
};

int Bench(Case& c, int runs, int batch) {
  LoadOptions options{.intra_op_threads = 1};
  if (c.framework == "torchscript") {  // TorchScript keeps no schema: declared, as on upload
    TensorSchema schema;
    schema.inputs = {TensorSpec{"input", DataType::kFp32, {-1, 32}}};
    schema.outputs = {TensorSpec{"output", DataType::kFp32, {-1, 8}}};
    options.declared_schema = schema;
  }
  const auto load_start = Clock::now();
  auto model = c.backend->Load(c.model, options);
  const double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - load_start).count();
  if (!model.ok()) {
    std::fprintf(stderr, "%s: %s\n", c.framework.c_str(), std::string(model.status().message()).c_str());
    return 1;
  }
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> values(static_cast<size_t>(batch) * c.features);
  for (float& v : values) v = normal(rng);
  Tensor input{"input", DataType::kFp32, {batch, c.features},
               std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4)};
  const std::vector<Tensor> inputs = {input};
  std::vector<Tensor> outputs;
  for (int i = 0; i < std::min(runs, 1000); ++i) {  // warm-up
    outputs.clear();
    if (auto s = (*model)->Run(inputs, {}, &outputs); !s.ok()) {
      std::fprintf(stderr, "%s: %s\n", c.framework.c_str(), std::string(s.message()).c_str());
      return 1;
    }
  }
  constexpr int kBlock = 500;
  std::vector<double> block_us;
  const auto start = Clock::now();
  for (int done = 0; done < runs; done += kBlock) {
    const int n = std::min(kBlock, runs - done);
    const auto block_start = Clock::now();
    for (int i = 0; i < n; ++i) {
      outputs.clear();
      (void)(*model)->Run(inputs, {}, &outputs);
    }
    block_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - block_start).count() / n);
  }
  const double total_us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  std::sort(block_us.begin(), block_us.end());
  std::printf("| %s | %s | %d | %.2f | %.2f | %.0f | %.1f | %lld |\n", c.framework.c_str(),
              c.backend->version().c_str(), batch, total_us / runs, block_us[block_us.size() / 2],
              runs / (total_us / 1e6), load_ms, static_cast<long long>((*model)->memory_bytes()));
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 50000;
  int batch = 1;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
  }
  if (runs < 1 || batch < 1) return 2;
  std::vector<Case> cases;
  cases.push_back({"onnx", HOTSWAP_BENCH_MODELS "/torchscript/bench_mlp.onnx", 32, nullptr});
  cases.push_back({"torchscript", HOTSWAP_BENCH_MODELS "/torchscript/bench_mlp.pt", 32, nullptr});
  cases.push_back({"tensorflow", HOTSWAP_BENCH_MODELS "/tensorflow/bench_mlp.tar", 32, nullptr});
  cases.push_back({"xgboost", HOTSWAP_BENCH_MODELS "/xgboost/xgb_bench.json", 16, nullptr});
  std::printf("| backend | engine | batch | mean µs/Run | median µs/Run (blocks of 500) | Runs/s | load ms | memory_bytes |\n");
  std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  int rc = 0;
  for (Case& c : cases) {
    if (!only.empty() && c.framework != only) continue;
    absl::StatusOr<std::unique_ptr<Backend>> backend;
    if (c.framework == "onnx") backend = hotswap::runtime::OnnxBackend::Create();
    if (c.framework == "torchscript") backend = hotswap::runtime::TorchBackend::Create();
    if (c.framework == "tensorflow") backend = hotswap::runtime::TensorflowBackend::Create();
    if (c.framework == "xgboost") backend = hotswap::runtime::XgboostBackend::Create();
    if (!backend.ok()) {
      std::fprintf(stderr, "%s: %s\n", c.framework.c_str(), std::string(backend.status().message()).c_str());
      rc = 1;
      continue;
    }
    c.backend = *std::move(backend);
    rc |= Bench(c, runs, batch);
  }
  return rc;
}
