// ValidationPipeline: the gates a model version passes before it may be deployed
// (docs/governance.md), run off the request path of inference:
//
//   1. artifact  — the blob exists in the artifact store and its SHA-256 matches the registry's;
//   2. load      — it loads in its backend (a private BackendRegistry load on a thread of its own,
//                  never published to serving) within `load_budget_ms`, and the loaded model's
//                  memory (LoadedModel::memory_bytes) is within `memory_budget_bytes`;
//   3. schema    — compared with the version serving on the target endpoint: a removed, added,
//                  retyped or reshaped input, or a removed or retyped output, is breaking (old
//                  clients' requests would be refused); skipped when nothing serves there;
//   4. smoke     — inference on the version's input example: the first rows of its holdout
//                  dataset when it has one, else inputs synthesised from the schema (zeros);
//                  every output must be produced and finite;
//   5. quality   — on the holdout dataset (CSV, features then a `label` column, else the last
//                  column is the label): the baseline's quality metric (accuracy, mae, mse, rmse)
//                  must be within `tolerated_drop` of its declared value, and within
//                  `tolerated_drop` of the serving version's on the same rows; skipped without a
//                  quality baseline or holdout;
//   6. latency   — `benchmark_runs` in-process runs of one example row: p99 within the
//                  baseline's latency_p99_ms; skipped without that budget.
// A gate that cannot run because an earlier one failed is `skipped` with the reason. The report
// passes when no gate failed.
//
// Reports are stored in the GovernanceStore per version and context: "registration" (queued by
// ValidateAsync after an upload; state `running` first) and "endpoint:<name>" (ForDeploy: run for
// a deploy, against what the endpoint served then; a stored report for the same serving version
// younger than `report_ttl_ms` is reused instead of running again).
//
// Thread-safety: thread-safe. Run/ForDeploy block the caller (a management request thread) for
// the gates' duration; ValidateAsync queues work for the pipeline's own worker thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "domain/model.h"
#include "governance/version_datasets.h"
#include "nlohmann/json.hpp"
#include "registry/governance_store.h"
#include "registry/model_registry.h"
#include "runtime/backend.h"
#include "serving/model_manager.h"
#include "storage/artifact_store.h"

namespace hotswap::governance {

struct GateResult {
  std::string name;    // artifact | load | schema | smoke | quality | latency
  std::string status;  // passed | failed | skipped
  std::string detail;  // what was found, in words
  nlohmann::json measurements = nlohmann::json::object();
};

struct ValidationReport {
  std::string model;
  int64_t version = 0;
  std::string context;                     // "registration" | "endpoint:<name>"
  std::string endpoint;                    // "" for registration
  std::optional<int64_t> serving_version;  // what the endpoint served (same model or not)
  std::string serving_model;
  bool passed = false;
  std::vector<GateResult> gates;
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
  bool reused = false;  // ForDeploy returned a stored report

  // The failed gates' names, e.g. {"quality", "latency"}.
  std::vector<std::string> FailedGates() const;
};
nlohmann::json ToJson(const ValidationReport& r);
absl::StatusOr<ValidationReport> ValidationReportFromJson(const nlohmann::json& j);

class ValidationPipeline {
 public:
  struct Options {
    std::string work_dir;                     // artifacts are fetched here to load (required)
    int64_t load_budget_ms = 60'000;          // gate 2: load time
    int64_t memory_budget_bytes = 4LL << 30;  // gate 2: the loaded model's memory
    int smoke_rows = 8;                       // gate 4: holdout rows used as the example
    int64_t max_holdout_rows = 100'000;       // gate 5: rows evaluated at most
    int benchmark_runs = 200;                 // gate 6: timed runs (after 10 untimed)
    int64_t benchmark_max_ms = 5'000;         // gate 6: stops early after this long
    int64_t report_ttl_ms = 10 * 60'000;      // ForDeploy reuses a report this young
    size_t max_queued = 256;                  // ValidateAsync beyond this: recorded as failed
    bool start_worker = true;                 // false: tests call RunQueued()
  };
  // Called when a registration report is stored (the webhook/audit hook of the server).
  using ReportListener = std::function<void(const ValidationReport&)>;

  ValidationPipeline(Options options, registry::ModelRegistry* registry,
                     storage::ArtifactStore* store, const runtime::BackendRegistry* backends,
                     serving::ModelManager* manager, VersionDatasets* datasets,
                     registry::GovernanceStore* reports, Clock* clock = SystemClock::Get());
  ~ValidationPipeline();  // stops the worker; queued validations are dropped (left `running`)

  // Runs every gate now for `v`, against what `endpoint` serves ("" = no endpoint: the schema
  // gate and the comparison with a serving version are skipped). Stores nothing.
  ValidationReport Run(const domain::ModelVersion& v, const std::string& endpoint);
  // Runs (or reuses, see above) the report for a deploy of `v` to `endpoint` and stores it.
  absl::StatusOr<ValidationReport> ForDeploy(const domain::ModelVersion& v,
                                             const std::string& endpoint, bool force_fresh = false);
  // Records `running` for (v, "registration") and queues the run on the worker thread.
  void ValidateAsync(const domain::ModelVersion& v);
  // Runs everything queued on the caller's thread (start_worker = false).
  void RunQueued();
  // Blocks until the queue is empty and nothing runs (tests).
  void WaitIdle();

  // Set before the first ValidateAsync(); not synchronised.
  void SetReportListener(ReportListener l) { listener_ = std::move(l); }
  uint64_t runs() const { return runs_.load(); }
  uint64_t failed_runs() const { return failed_runs_.load(); }
  // Prometheus text: validations run, by result.
  std::string RenderMetrics() const;

 private:
  void WorkerLoop();
  void RunRegistration(const domain::ModelVersion& v);

  const Options options_;
  storage::ArtifactStore* store_;
  const runtime::BackendRegistry* backends_;
  serving::ModelManager* manager_;
  VersionDatasets* datasets_;
  registry::GovernanceStore* reports_;
  Clock* clock_;
  ReportListener listener_;
  std::atomic<uint64_t> fetch_counter_{0};
  std::atomic<uint64_t> runs_{0}, failed_runs_{0};

  absl::Mutex mu_;
  std::deque<domain::ModelVersion> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<std::atomic<int>> abandoned_loads_ = std::make_shared<std::atomic<int>>(0);
  std::thread worker_;
};

}  // namespace hotswap::governance
