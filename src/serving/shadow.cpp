#include "serving/shadow.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "runtime/validation.h"
#include "serving/model_manager.h"

namespace hotswap::serving {
namespace {

using runtime::Tensor;

bool IsFloat(domain::DataType t) {
  return t == domain::DataType::kFp32 || t == domain::DataType::kFp64 ||
         t == domain::DataType::kFp16;
}

bool IsInteger(domain::DataType t) {
  switch (t) {
    case domain::DataType::kInt8: case domain::DataType::kInt16: case domain::DataType::kInt32:
    case domain::DataType::kInt64: case domain::DataType::kUint8: case domain::DataType::kUint16:
    case domain::DataType::kUint32: case domain::DataType::kUint64: case domain::DataType::kBool:
      return true;
    default:
      return false;
  }
}

// Element i as a double (numeric datatypes).
double At(const Tensor& t, size_t i) {
  switch (t.datatype) {
    case domain::DataType::kFp32: return t.As<float>()[i];
    case domain::DataType::kFp64: return t.As<double>()[i];
    case domain::DataType::kFp16: return runtime::HalfToFloat(t.As<uint16_t>()[i]);
    case domain::DataType::kInt8: return t.As<int8_t>()[i];
    case domain::DataType::kInt16: return t.As<int16_t>()[i];
    case domain::DataType::kInt32: return t.As<int32_t>()[i];
    case domain::DataType::kInt64: return static_cast<double>(t.As<int64_t>()[i]);
    case domain::DataType::kUint8: return t.As<uint8_t>()[i];
    case domain::DataType::kBool: return t.As<uint8_t>()[i];
    case domain::DataType::kUint16: return t.As<uint16_t>()[i];
    case domain::DataType::kUint32: return t.As<uint32_t>()[i];
    case domain::DataType::kUint64: return static_cast<double>(t.As<uint64_t>()[i]);
    default: return 0;
  }
}

size_t Count(const Tensor& t) { return static_cast<size_t>(std::max<int64_t>(0, runtime::ElementCount(t.shape))); }

}  // namespace

domain::Json ShadowStats::ToJson() const {
  uint64_t rows = rows_compared.load(), agree = rows_agreeing.load();
  uint64_t values = values_compared.load();
  domain::Json j = {{"mirrored", mirrored.load()},
                    {"dropped", dropped.load()},
                    {"compared", compared.load()},
                    {"failed", failed.load()},
                    {"classification_rows", rows},
                    {"regression_values", values}};
  if (rows > 0) j["agreement"] = static_cast<double>(agree) / static_cast<double>(rows);
  if (values > 0) {
    j["mean_abs_diff"] = static_cast<double>(abs_diff_micro.load()) / 1e6 / values;
    j["mean_rel_diff"] = static_cast<double>(rel_diff_micro.load()) / 1e6 / values;
  }
  return j;
}

void CompareOutputs(const std::vector<Tensor>& primary, const std::vector<Tensor>& shadow,
                    ShadowStats* stats) {
  for (const Tensor& p : primary) {
    const Tensor* s = nullptr;
    for (const Tensor& t : shadow) {
      if (t.name == p.name) s = &t;
    }
    bool numeric = IsFloat(p.datatype) || IsInteger(p.datatype);
    if (!numeric) continue;
    // Labels (integers) and [batch, classes] scores: top-1 agreement per row. Every floating
    // point output (scores too): mean absolute and relative differences.
    bool top1 = IsInteger(p.datatype) ||
                (p.shape.size() == 2 && p.shape[1] > 1 && IsFloat(p.datatype));
    size_t rows = p.shape.empty() ? 1 : static_cast<size_t>(std::max<int64_t>(p.shape[0], 0));
    bool same_shape = s != nullptr && s->shape == p.shape &&
                      (IsFloat(s->datatype) || IsInteger(s->datatype));
    size_t n = Count(p);
    if (top1) {
      stats->rows_compared.fetch_add(rows, std::memory_order_relaxed);
      if (same_shape) {
        size_t width = rows == 0 ? 0 : n / rows;
        uint64_t agree = 0;
        for (size_t r = 0; r < rows; ++r) {
          if (IsInteger(p.datatype) || width <= 1) {
            size_t i = r * std::max<size_t>(width, 1);
            agree += At(p, i) == At(*s, i);
            continue;
          }
          size_t pa = 0, sa = 0;
          for (size_t c = 1; c < width; ++c) {
            if (At(p, r * width + c) > At(p, r * width + pa)) pa = c;
            if (At(*s, r * width + c) > At(*s, r * width + sa)) sa = c;
          }
          agree += pa == sa;
        }
        stats->rows_agreeing.fetch_add(agree, std::memory_order_relaxed);
      }
    }
    if (!IsFloat(p.datatype)) continue;
    stats->values_compared.fetch_add(n, std::memory_order_relaxed);
    if (!same_shape) {
      // No comparable answer: count the worst plausible difference (1.0 relative) per value.
      stats->rel_diff_micro.fetch_add(n * 1'000'000ull, std::memory_order_relaxed);
      continue;
    }
    double abs_sum = 0, rel_sum = 0;
    for (size_t i = 0; i < n; ++i) {
      double a = At(p, i), b = At(*s, i);
      double d = std::fabs(a - b);
      if (!std::isfinite(d)) d = 1e6;
      abs_sum += d;
      rel_sum += std::min(1e6, d / std::max(std::fabs(a), 1e-9));
    }
    stats->abs_diff_micro.fetch_add(static_cast<uint64_t>(std::llround(abs_sum * 1e6)),
                                    std::memory_order_relaxed);
    stats->rel_diff_micro.fetch_add(static_cast<uint64_t>(std::llround(rel_sum * 1e6)),
                                    std::memory_order_relaxed);
  }
}

bool SampleMirror(int mirror_bp) {
  if (mirror_bp <= 0) return false;
  if (mirror_bp >= 10000) return true;
  thread_local std::minstd_rand rng{std::random_device{}()};
  return static_cast<int>(rng() % 10000) < mirror_bp;
}

ShadowMirror::ShadowMirror(size_t capacity, double max_cpu_share)
    : capacity_(capacity), max_cpu_share_(std::clamp(max_cpu_share, 0.01, 1.0)) {
  worker_ = std::thread([this] {
    // Request threads come first: SCHED_IDLE runs this thread only when a CPU has nothing else
    // to do, and a waking request thread preempts it at once (nice 19 alone still let it hold
    // a CPU until the next scheduler tick: bench/results/shadow.md). Fallback: nice 19.
    sched_param param{};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &param) != 0) {
      setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
    }
    Loop();
  });
}

ShadowMirror::~ShadowMirror() {
  stopping_.store(true);
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    queue_.clear();
  }
  worker_.join();
}

bool ShadowMirror::TryEnqueue(Job job) {
  std::shared_ptr<ShadowStats> stats = job.endpoint ? job.endpoint->shadow_stats : nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (queue_.size() < capacity_ && !stop_) {
      queue_.push_back(std::move(job));
      if (stats) stats->mirrored.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
  }
  if (stats) stats->dropped.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void ShadowMirror::Drain() {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.empty() && !busy_; };
  mu_.Await(absl::Condition(&idle));
}

void ShadowMirror::Loop() {
  while (true) {
    Job job;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    auto start = std::chrono::steady_clock::now();
    RunOne(job);
    job = Job{};  // release the endpoint before resting
    auto end = std::chrono::steady_clock::now();
    double ran = std::chrono::duration<double>(end - start).count();
    {
      absl::MutexLock lock(&mu_);
      busy_ = false;
    }
    // The CPU budget: rest in proportion to the run, holding no lock (this thread runs under
    // SCHED_IDLE: preempted while holding mu_, it would stall request threads in TryEnqueue).
    auto until = end + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(ran * (1 / max_cpu_share_ - 1)));
    while (!stopping_.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          until - std::chrono::steady_clock::now(), std::chrono::milliseconds(20)));
    }
  }
}

void ShadowMirror::RunOne(Job& job) {
  const Endpoint& ep = *job.endpoint;
  if (ep.candidate == nullptr || ep.shadow_stats == nullptr) return;
  const ServedVersion& sv = *ep.candidate;
  ShadowStats& stats = *ep.shadow_stats;
  auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::vector<Tensor> inputs = std::move(job.inputs);
  if (sv.preprocessor) {
    auto pre = sv.preprocessor->Apply(std::move(inputs));
    if (!pre.ok()) {
      stats.failed.fetch_add(1, std::memory_order_relaxed);
      sv.metrics[Variant::kShadow].RecordFailure(seconds());
      return;
    }
    inputs = *std::move(pre);
  }
  std::vector<Tensor> outputs;
  absl::Status s = runtime::ValidateInputs(sv.model_schema, inputs);
  if (s.ok()) s = sv.model->Run(inputs, job.output_names, &outputs);
  double t = seconds();
  if (!s.ok()) {
    stats.failed.fetch_add(1, std::memory_order_relaxed);
    sv.metrics[Variant::kShadow].RecordFailure(t);
    return;
  }
  sv.metrics[Variant::kShadow].RecordSuccess(0, 0, t, t);
  stats.compared.fetch_add(1, std::memory_order_relaxed);
  CompareOutputs(job.primary_outputs, outputs, &stats);
}

}  // namespace hotswap::serving
