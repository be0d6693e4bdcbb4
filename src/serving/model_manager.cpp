#include "serving/model_manager.h"

#include "serving/shadow.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "runtime/validation.h"

namespace hotswap::serving {

namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Declared inputs must exist in the artifact with the same datatype and rank.
absl::Status CheckDeclaredSchema(const domain::TensorSchema& declared,
                                 const domain::TensorSchema& actual) {
  for (const auto& d : declared.inputs) {
    const domain::TensorSpec* found = nullptr;
    for (const auto& a : actual.inputs) {
      if (a.name == d.name) found = &a;
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the registered schema names input '", d.name, "', which the artifact does not have"));
    }
    if (found->datatype != d.datatype || found->shape.size() != d.shape.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", d.name, "': registered as ", ToAbsl(domain::DataTypeName(d.datatype)), " rank ",
          d.shape.size(), ", the artifact takes ", ToAbsl(domain::DataTypeName(found->datatype)),
          " rank ", found->shape.size()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

ModelManager::ModelManager(Options options, registry::ModelRegistry* registry,
                           storage::ArtifactStore* store, const runtime::BackendRegistry* backends,
                           MetricsRegistry* metrics, Clock* clock)
    : options_(std::move(options)),
      registry_(registry),
      store_(store),
      backends_(backends),
      metrics_(metrics),
      clock_(clock),
      snapshot_(std::make_shared<const ServingSnapshot>()) {
  std::error_code ec;
  std::filesystem::create_directories(options_.cache_dir, ec);
  loader_ = std::thread([this] { LoaderLoop(); });
}

ModelManager::~ModelManager() {
  std::deque<std::function<void()>> dropped;
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
    dropped.swap(queue_);
    queue_cv_.SignalAll();
  }
  loader_.join();
  dropped.clear();  // the jobs' promises are broken; Deploy() callers see Cancelled
  // Let abandoned (timed-out) loads finish before the backends they use go away.
  for (int i = 0; i < 3000 && abandoned_loads_->load() > 0; ++i) usleep(10000);
}

void ModelManager::Enqueue(std::function<void()> job) {
  pending_.fetch_add(1);
  absl::MutexLock lock(&queue_mu_);
  queue_.push_back(std::move(job));
  queue_cv_.Signal();
}

void ModelManager::LoaderLoop() {
  while (true) {
    std::function<void()> job;
    {
      absl::MutexLock lock(&queue_mu_);
      while (queue_.empty() && !stopping_) queue_cv_.Wait(&queue_mu_);
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
    pending_.fetch_sub(1);
  }
}

void ModelManager::DeployAsync(std::string endpoint, std::string model, int64_t version,
                               DoneCallback done) {
  Enqueue([this, endpoint = std::move(endpoint), model = std::move(model), version,
           done = std::move(done)] {
    absl::StatusOr<LoadReport> r = RunDeploy(endpoint, model, version);
    if (done) done(r);
  });
}

absl::StatusOr<LoadReport> ModelManager::Deploy(const std::string& endpoint,
                                                const std::string& model, int64_t version) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<LoadReport>>>();
  auto future = promise->get_future();
  DeployAsync(endpoint, model, version,
              [promise](const absl::StatusOr<LoadReport>& r) { promise->set_value(r); });
  try {
    return future.get();
  } catch (const std::future_error&) {
    return absl::CancelledError("the server is shutting down");
  }
}

absl::Status ModelManager::Undeploy(const std::string& endpoint) {
  auto promise = std::make_shared<std::promise<absl::Status>>();
  auto future = promise->get_future();
  Enqueue([this, endpoint, promise] {
    absl::Status s = Mutate(endpoint, [&](const Endpoint* cur)
                                          -> absl::StatusOr<std::shared_ptr<Endpoint>> {
      if (cur == nullptr) {
        return absl::NotFoundError(absl::StrCat("endpoint '", endpoint, "' serves no model"));
      }
      return nullptr;
    });
    if (!s.ok()) {
      promise->set_value(s);
      return;
    }
    log::Info("endpoint unloaded", {{"endpoint", endpoint}});
    promise->set_value(absl::OkStatus());
  });
  try {
    return future.get();
  } catch (const std::future_error&) {
    return absl::CancelledError("the server is shutting down");
  }
}

std::shared_ptr<const Endpoint> ModelManager::Find(std::string_view endpoint) const {
  std::shared_ptr<const ServingSnapshot> snap = snapshot_.load();
  auto it = snap->endpoints.find(endpoint);
  if (it == snap->endpoints.end()) return nullptr;
  return it->second;
}

absl::Status ModelManager::Mutate(
    const std::string& endpoint,
    const std::function<absl::StatusOr<std::shared_ptr<Endpoint>>(const Endpoint* cur)>& change) {
  std::shared_ptr<const ServingSnapshot> old;  // released after the lock
  absl::MutexLock lock(&publish_mu_);
  old = snapshot_.load();
  auto it = old->endpoints.find(endpoint);
  absl::StatusOr<std::shared_ptr<Endpoint>> ep =
      change(it == old->endpoints.end() ? nullptr : it->second.get());
  if (!ep.ok()) return ep.status();
  auto next = std::make_shared<ServingSnapshot>(*old);
  if (*ep == nullptr) {
    next->endpoints.erase(endpoint);
  } else {
    next->endpoints[endpoint] = *std::move(ep);
  }
  snapshot_.store(std::move(next));
  return absl::OkStatus();
}

void ModelManager::LoadCandidateAsync(std::string endpoint, std::string model, int64_t version,
                                      DoneCallback done) {
  Enqueue([this, endpoint = std::move(endpoint), model = std::move(model), version,
           done = std::move(done)] {
    absl::StatusOr<LoadReport> r = RunLoadCandidate(endpoint, model, version);
    if (done) done(r);
  });
}

absl::StatusOr<LoadReport> ModelManager::RunLoadCandidate(const std::string& endpoint,
                                                          const std::string& model,
                                                          int64_t version) {
  if (Find(endpoint) == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "endpoint '", endpoint, "' serves nothing yet: deploy a first version with the direct "
        "strategy, then roll out the next one"));
  }
  auto t0 = std::chrono::steady_clock::now();
  auto v = registry_->GetVersion(model, version);
  if (!v.ok()) return v.status();
  absl::StatusOr<std::shared_ptr<ServedVersion>> served = LoadVersion(endpoint, *v);
  double seconds = SecondsSince(t0);
  if (!served.ok()) {
    log::Warn("candidate load failed; what was serving is untouched",
              {{"endpoint", endpoint}, {"model", model},
               {"version", static_cast<long long>(version)},
               {"error", std::string(served.status().message())}});
    return served.status();
  }
  (*served)->load_seconds = seconds;
  LoadReport report;
  report.endpoint = endpoint;
  report.model = model;
  report.version = version;
  report.load_seconds = seconds;
  report.memory_bytes = (*served)->memory_bytes;
  HS_RETURN_IF_ERROR(Mutate(endpoint, [&](const Endpoint* cur)
                                          -> absl::StatusOr<std::shared_ptr<Endpoint>> {
    if (cur == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("endpoint '", endpoint, "' was unloaded while its candidate loaded"));
    }
    auto ep = std::make_shared<Endpoint>(*cur);
    ep->candidate = *served;
    ep->candidate_weight_bp = 0;
    report.previous_version = cur->primary->version;
    return ep;
  }));
  log::Info("candidate published (weight 0)",
            {{"endpoint", endpoint}, {"model", model}, {"version", static_cast<long long>(version)},
             {"load_ms", seconds * 1000}});
  return report;
}

absl::Status ModelManager::MutateCandidate(const std::string& endpoint,
                                           const std::function<void(Endpoint&)>& edit) {
  return Mutate(endpoint, [&](const Endpoint* cur) -> absl::StatusOr<std::shared_ptr<Endpoint>> {
    if (cur == nullptr || cur->candidate == nullptr) {
      return absl::NotFoundError(absl::StrCat("endpoint '", endpoint, "' has no candidate"));
    }
    auto ep = std::make_shared<Endpoint>(*cur);
    edit(*ep);
    return ep;
  });
}

absl::Status ModelManager::SetCandidateWeight(const std::string& endpoint, int weight_bp) {
  if (weight_bp < 0 || weight_bp > 10000) {
    return absl::InvalidArgumentError("candidate weight must be from 0 to 10000 basis points");
  }
  return MutateCandidate(endpoint, [&](Endpoint& ep) { ep.candidate_weight_bp = weight_bp; });
}

absl::Status ModelManager::SetMirror(const std::string& endpoint, int mirror_bp) {
  if (mirror_bp < 0 || mirror_bp > 10000) {
    return absl::InvalidArgumentError("mirror share must be from 0 to 10000 basis points");
  }
  return MutateCandidate(endpoint, [&](Endpoint& ep) {
    ep.mirror_bp = mirror_bp;
    if (mirror_bp == 0) {
      ep.shadow_stats = nullptr;
    } else if (ep.shadow_stats == nullptr) {
      ep.shadow_stats = std::make_shared<ShadowStats>();
    }
  });
}

namespace {
void ClearCandidate(Endpoint& ep) {
  ep.candidate = nullptr;
  ep.candidate_weight_bp = 0;
  ep.mirror_bp = 0;
  ep.shadow_stats = nullptr;
}
}  // namespace

absl::Status ModelManager::PromoteCandidate(const std::string& endpoint) {
  return MutateCandidate(endpoint, [](Endpoint& ep) {
    ep.primary = ep.candidate;
    ClearCandidate(ep);
  });
}

absl::Status ModelManager::DropCandidate(const std::string& endpoint) {
  return MutateCandidate(endpoint, &ClearCandidate);
}

absl::StatusOr<std::shared_ptr<ServedVersion>> ModelManager::LoadVersion(
    const std::string& endpoint, const domain::ModelVersion& v) {
  runtime::Backend* backend = backends_->Find(v.framework);
  if (backend == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no backend serves framework '", v.framework, "' in this build"));
  }
  auto served = std::make_shared<ServedVersion>();
  served->endpoint = endpoint;
  served->model_name = v.model_name;
  served->version = v.version;
  served->version_text = std::to_string(v.version);
  served->framework = v.framework;
  served->sha256 = v.sha256;
  if (!v.preprocessing.is_null()) {
    auto pre = runtime::Preprocessor::Compile(v.preprocessing);
    if (!pre.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("preprocessing: ", pre.status().message()));
    }
    if (!pre->empty()) served->preprocessor = *std::move(pre);
  }

  // Fetch (verified) to a private file for the engine.
  std::string path = absl::StrCat(options_.cache_dir, "/", v.sha256, ".", getpid(), ".",
                                   fetch_counter_.fetch_add(1), ".load");
  HS_RETURN_IF_ERROR(store_->FetchToFile(v.sha256, path));

  // Load and warm up on a thread of its own so that a hung engine can be timed out.
  struct Outcome {
    absl::Status status;
    std::unique_ptr<runtime::LoadedModel> model;
  };
  auto task = std::make_shared<std::packaged_task<Outcome()>>(
      [backend, path, declared = v.schema, threads = options_.intra_op_threads,
       arena = options_.memory_arena, runs = options_.warmup_runs]() -> Outcome {
        runtime::LoadOptions lo;
        lo.intra_op_threads = threads;
        lo.memory_arena = arena;
        lo.declared_schema = declared;
        auto model = backend->Load(path, lo);
        std::error_code ec;
        std::filesystem::remove(path, ec);
        if (!model.ok()) return {model.status(), nullptr};
        if (declared) {
          if (absl::Status s = CheckDeclaredSchema(*declared, (*model)->schema()); !s.ok()) {
            return {s, nullptr};
          }
        }
        std::vector<runtime::Tensor> inputs = runtime::SynthesizeInputs((*model)->schema(), 1);
        for (int i = 0; i < runs; ++i) {
          std::vector<runtime::Tensor> outputs;
          absl::Status s = (*model)->Run(inputs, {}, &outputs);
          if (!s.ok()) {
            return {absl::FailedPreconditionError(absl::StrCat("warm-up run failed: ", s.message())),
                    nullptr};
          }
        }
        return {absl::OkStatus(), *std::move(model)};
      });
  std::future<Outcome> future = task->get_future();
  auto abandoned = abandoned_loads_;
  abandoned->fetch_add(1);
  std::thread([task, abandoned] {
    (*task)();
    abandoned->fetch_sub(1);
  }).detach();
  if (future.wait_for(std::chrono::milliseconds(options_.load_timeout_ms)) !=
      std::future_status::ready) {
    return absl::DeadlineExceededError(absl::StrCat(
        "load and warm-up did not finish within ", options_.load_timeout_ms,
        " ms (load_timeout_ms); the version was not published"));
  }
  Outcome outcome = future.get();
  if (!outcome.status.ok()) return outcome.status;
  served->model = std::move(outcome.model);
  served->model_schema = served->model->schema();
  if (served->preprocessor) {
    if (absl::Status s = served->preprocessor->CheckAgainst(served->model_schema); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("preprocessing does not fit the model: ",
                                                     s.message()));
    }
  }
  served->request_schema = served->preprocessor
                               ? served->preprocessor->RequestSchema(served->model_schema)
                               : served->model_schema;
  served->memory_bytes = served->model->memory_bytes();
  served->loaded_at_ms = clock_->NowMillis();
  served->metrics = metrics_->GetOrCreateAll(endpoint, v.model_name, v.version);
  if (options_.make_observer) served->observer = options_.make_observer(*served);
  return served;
}

absl::StatusOr<LoadReport> ModelManager::RunDeploy(const std::string& endpoint,
                                                   const std::string& model, int64_t version) {
  auto t0 = std::chrono::steady_clock::now();
  log::Info("loading version", {{"endpoint", endpoint}, {"model", model},
                                {"version", static_cast<long long>(version)}});
  absl::StatusOr<std::shared_ptr<ServedVersion>> served;
  auto v = registry_->GetVersion(model, version);
  if (!v.ok()) {
    served = v.status();
  } else {
    served = LoadVersion(endpoint, *v);
  }
  double seconds = SecondsSince(t0);
  if (!served.ok()) {
    metrics_->RecordSwap(seconds, false);
    log::Warn("load failed; what was serving is untouched",
              {{"endpoint", endpoint}, {"model", model},
               {"version", static_cast<long long>(version)},
               {"error", std::string(served.status().message())}});
    return served.status();
  }
  (*served)->load_seconds = seconds;
  LoadReport report;
  absl::Status published = Mutate(endpoint, [&](const Endpoint* cur)
                                                -> absl::StatusOr<std::shared_ptr<Endpoint>> {
    auto ep = std::make_shared<Endpoint>();
    ep->name = endpoint;
    ep->primary = *served;
    if (cur != nullptr) {
      ep->in_flight = cur->in_flight;
      report.previous_version = cur->primary->version;
    } else {
      ep->in_flight = std::make_shared<std::atomic<int>>(0);
    }
    return ep;
  });
  if (!published.ok()) return published;
  // The previous version was released by Mutate unless requests still hold it.
  metrics_->RecordSwap(seconds, true);
  report.endpoint = endpoint;
  report.model = model;
  report.version = version;
  report.load_seconds = seconds;
  report.memory_bytes = (*served)->memory_bytes;
  log::Info("version published", {{"endpoint", endpoint}, {"model", model},
                                  {"version", static_cast<long long>(version)},
                                  {"load_ms", seconds * 1000},
                                  {"memory_bytes", static_cast<long long>(report.memory_bytes)}});
  return report;
}

}  // namespace hotswap::serving
