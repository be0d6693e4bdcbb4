// Micro-benchmark for the KServe V2 REST codec (src/serving/v2_codec.h): nanoseconds per parse,
// per encode and per parse+encode of a small (4-float) and a large (16384-float = 64 KiB of
// tensor data) request, as JSON and with Triton's binary tensor extension.
//
// Usage: v2_codec_bench [min_seconds_per_case=0.5] [case-name substring]
// Each case runs in 11 rounds of about min_seconds/11 each; the fastest and the median round are
// reported (on a shared, noisy machine the fastest round is the better estimate of the cost).
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "serving/v2_codec.h"
#include "simdjson.h"

namespace {

using hotswap::domain::DataType;
using hotswap::runtime::Tensor;
using hotswap::serving::EncodeInferResponse;
using hotswap::serving::ParseInferRequest;

volatile size_t g_sink = 0;  // keeps results observable
std::string g_filter;        // only cases whose name contains this run

struct Timing {
  double best_ns = -1;
  double median_ns = -1;
};

constexpr int kRounds = 11;

Timing MeasureNsPerOp(const std::string& name, const std::function<void()>& op,
                      double min_seconds) {
  if (name.find(g_filter) == std::string::npos) return {};
  using Clock = std::chrono::steady_clock;
  // Calibrate: how many iterations fill one round.
  size_t iterations = 1;
  for (;;) {
    const auto start = Clock::now();
    for (size_t i = 0; i < iterations; ++i) op();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (elapsed >= min_seconds / 50) {
      iterations = std::max<size_t>(1, static_cast<size_t>(static_cast<double>(iterations) *
                                                           (min_seconds / kRounds) / elapsed));
      break;
    }
    iterations *= 4;
  }
  std::vector<double> rounds;
  for (int r = 0; r < kRounds; ++r) {
    const auto start = Clock::now();
    for (size_t i = 0; i < iterations; ++i) op();
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    rounds.push_back(ns / static_cast<double>(iterations));
  }
  std::sort(rounds.begin(), rounds.end());
  return {rounds.front(), rounds[kRounds / 2]};
}

std::string JsonRequest(const std::vector<float>& values) {
  std::string body = R"({"id":"bench","inputs":[{"name":"input","shape":[1,)" +
                     std::to_string(values.size()) + R"(],"datatype":"FP32","data":[)";
  char buf[32];
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) body.push_back(',');
    std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(values[i]));
    body += buf;
  }
  body += "]}]}";
  return body;
}

std::string BinaryRequest(const std::vector<float>& values, size_t* json_length) {
  const std::string json = R"({"id":"bench","inputs":[{"name":"input","shape":[1,)" +
                           std::to_string(values.size()) +
                           R"(],"datatype":"FP32","parameters":{"binary_data_size":)" +
                           std::to_string(values.size() * 4) +
                           R"(}}],"outputs":[{"name":"input","parameters":{"binary_data":true}}]})";
  *json_length = json.size();
  return json + std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4);
}

void Report(const char* name, size_t body_bytes, Timing t) {
  if (t.best_ns < 0) return;
  std::printf("%-56s %8zu B %11.0f ns %11.0f ns %9.1f MB/s\n", name, body_bytes, t.best_ns,
              t.median_ns, static_cast<double>(body_bytes) / t.best_ns * 1e3);
}

void RunCase(const char* label, const std::vector<float>& values, double min_seconds) {
  const std::string json = JsonRequest(values);
  size_t binary_json_length = 0;
  const std::string binary = BinaryRequest(values, &binary_json_length);

  auto parsed = ParseInferRequest(json, std::nullopt);
  if (!parsed.ok()) {
    std::fprintf(stderr, "parse failed: %s\n", std::string(parsed.status().message()).c_str());
    std::exit(1);
  }
  // The response echoes the input tensor as the model's output.
  std::vector<Tensor> outputs = {parsed->inputs[0]};
  outputs[0].name = "output";
  const std::string response = EncodeInferResponse("iris", "1", "bench", outputs, {}, false).body;

  std::string name;
  // Baselines: the floor this machine sets for the same work (no tensor building, no framing).
  simdjson::dom::parser dom_parser;
  name = std::string(label) + " baseline: simdjson DOM parse only";
  Report(name.c_str(), json.size(),
         MeasureNsPerOp(
             name,
             [&] {
               auto r = dom_parser.parse(json.data(), json.size());
               g_sink = g_sink + (r.error() == simdjson::SUCCESS);
             },
             min_seconds));
  std::string chars(values.size() * 16, ' ');
  name = std::string(label) + " baseline: std::to_chars floats only";
  Report(name.c_str(), response.size(),
         MeasureNsPerOp(
             name,
             [&] {
               char* p = chars.data();
               for (float v : values) {
                 p = std::to_chars(p, p + 16, v).ptr;
                 *p++ = ',';
               }
               g_sink = g_sink + static_cast<size_t>(p - chars.data());
             },
             min_seconds));
  name = std::string(label) + " JSON parse";
  Report(name.c_str(), json.size(),
         MeasureNsPerOp(
             name,
             [&] {
               auto r = ParseInferRequest(json, std::nullopt);
               g_sink = g_sink + r->inputs[0].data.size();
             },
             min_seconds));
  name = std::string(label) + " JSON encode";
  Report(name.c_str(), response.size(),
         MeasureNsPerOp(
             name,
             [&] {
               auto r = EncodeInferResponse("iris", "1", "bench", outputs, {}, false);
               g_sink = g_sink + r.body.size();
             },
             min_seconds));
  name = std::string(label) + " JSON parse+encode";
  Report(name.c_str(), json.size() + response.size(),
         MeasureNsPerOp(
             name,
             [&] {
               auto r = ParseInferRequest(json, std::nullopt);
               r->inputs[0].name = "output";
               auto e = EncodeInferResponse("iris", "1", r->id, r->inputs, r->outputs,
                                            r->binary_outputs_by_default);
               g_sink = g_sink + e.body.size();
             },
             min_seconds));
  name = std::string(label) + " binary parse+encode";
  Report(name.c_str(), binary.size() * 2,
         MeasureNsPerOp(
             name,
             [&] {
               auto r = ParseInferRequest(binary, binary_json_length);
               auto e = EncodeInferResponse("iris", "1", r->id, r->inputs, r->outputs,
                                            r->binary_outputs_by_default);
               g_sink = g_sink + e.body.size();
             },
             min_seconds));
}

}  // namespace

int main(int argc, char** argv) {
  const double min_seconds = argc > 1 ? std::atof(argv[1]) : 0.5;
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-10.0f, 10.0f);
  std::vector<float> small = {5.1f, 3.5f, 1.4f, 0.2f};
  std::vector<float> large(16384);  // 64 KiB of FP32 tensor data
  for (float& v : large) v = dist(rng);
  std::printf("%-56s %10s %14s %14s %14s\n", "case", "bytes", "best", "median", "best MB/s");
  g_filter = argc > 2 ? argv[2] : "";
  RunCase("4 x FP32", small, min_seconds);
  RunCase("16384 x FP32 (64 KiB)", large, min_seconds);
  return g_sink == 0 ? 1 : 0;
}
