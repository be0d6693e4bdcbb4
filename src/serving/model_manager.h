// ModelManager: loads model versions off the request path and publishes what each endpoint
// serves as immutable snapshots — the hot-swap invariant of DESIGN.md.
//
// A deploy is a job on the manager's own loader thread: fetch the artifact through the
// ArtifactStore (checksum verified), compile the version's preprocessing, load it in its backend
// and warm it up (`warmup_runs` runs on inputs synthesised from the schema), all bounded by
// `load_timeout_ms`; only then is a new snapshot published in which the endpoint serves the new
// version ("capacity before weight"). Requests hold a shared_ptr to the Endpoint they resolved,
// so requests in flight finish on the version they started on; the old version is destroyed
// (its memory freed) when the last of them drops it. A failed or timed-out load publishes
// nothing: what is serving stays untouched.
//
// Thread-safety: Find()/snapshot() are lock-free reads of an atomically swapped
// shared_ptr<const ServingSnapshot> and may be called from any request thread; they never wait
// for a loader. Deploy/Undeploy may be called from any thread; jobs run one at a time, in order,
// on the loader thread. No lock is held while a model loads.
//
// Typical sequence:
//   ModelManager mm(opts, &registry, &store, &backends, &metrics);
//   auto report = mm.Deploy("iris", "iris", 2);     // blocks until published or failed
//   auto ep = mm.Find("iris");                      // request path
//   ep->primary->model->Run(...);
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "registry/model_registry.h"
#include "runtime/backend.h"
#include "runtime/preprocessing.h"
#include "serving/metrics.h"
#include "storage/artifact_store.h"

namespace hotswap::serving {

// Watches what a served version receives and answers (online drift monitoring). Called on the
// request path: implementations must be cheap, allocation-free in the steady state and must
// not take a lock that anything slow holds.
class VersionObserver {
 public:
  virtual ~VersionObserver() = default;
  // The request's inputs as the client sent them (before preprocessing).
  virtual void ObserveInputs(const std::vector<runtime::Tensor>& inputs) = 0;
  virtual void ObserveOutputs(const std::vector<runtime::Tensor>& outputs) = 0;
};

// One loaded, warmed-up version. Immutable after publication.
struct ServedVersion {
  std::string endpoint;
  std::string model_name;
  int64_t version = 0;
  std::string version_text;  // "2": what V2 responses and the x-hotswap-model-version header say
  std::string framework;
  std::string sha256;
  std::unique_ptr<runtime::LoadedModel> model;
  std::optional<runtime::Preprocessor> preprocessor;  // set when the version declares one
  domain::TensorSchema model_schema;    // what the backend takes
  domain::TensorSchema request_schema;  // what clients send (features, when preprocessing)
  int64_t memory_bytes = 0;
  int64_t loaded_at_ms = 0;
  double load_seconds = 0;
  VariantMetrics metrics;  // one series per role (stable, candidate, shadow)
  std::shared_ptr<VersionObserver> observer;  // drift monitoring; nullptr = none
};

// What one endpoint serves. Immutable; replaced as a whole on every change (a deploy, a routing
// weight change, a promotion or a rollback are all one atomic snapshot swap).
struct Endpoint {
  std::string name;
  std::shared_ptr<const ServedVersion> primary;  // the stable variant
  // Rollouts: the version being introduced beside the stable one (loaded and warmed before it
  // appears here), and the share of traffic it gets in basis points (0..10000).
  std::shared_ptr<const ServedVersion> candidate;
  int candidate_weight_bp = 0;
  // Shadow: the share of requests (basis points) copied to the candidate after the primary
  // answered, and the comparison counters of that shadow (serving/shadow.h).
  int mirror_bp = 0;
  std::shared_ptr<struct ShadowStats> shadow_stats;
  // In-flight requests on this endpoint, shared by every snapshot of it (admission control).
  std::shared_ptr<std::atomic<int>> in_flight;
};

struct ServingSnapshot {
  std::map<std::string, std::shared_ptr<const Endpoint>, std::less<>> endpoints;
};

struct LoadReport {
  std::string endpoint;
  std::string model;
  int64_t version = 0;
  std::optional<int64_t> previous_version;
  double load_seconds = 0;
  int64_t memory_bytes = 0;
};

class ModelManager {
 public:
  struct Options {
    std::string cache_dir;          // artifacts are fetched here (verified) for loading
    int warmup_runs = 5;            // runs on synthesised inputs before a version is published
    int64_t load_timeout_ms = 120'000;
    int intra_op_threads = 1;       // engine threads per Run
    bool memory_arena = false;      // runtime::LoadOptions::memory_arena
    // Called on the loader thread before a version is published; may return nullptr.
    std::function<std::shared_ptr<VersionObserver>(const ServedVersion&)> make_observer;
  };
  using DoneCallback = std::function<void(const absl::StatusOr<LoadReport>&)>;

  ModelManager(Options options, registry::ModelRegistry* registry, storage::ArtifactStore* store,
               const runtime::BackendRegistry* backends, MetricsRegistry* metrics,
               Clock* clock = SystemClock::Get());
  ~ModelManager();  // finishes the running job, drops queued ones (their callbacks get Cancelled)
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Queues a deploy of model@version to `endpoint`; `done` runs on the loader thread.
  void DeployAsync(std::string endpoint, std::string model, int64_t version, DoneCallback done);
  // Same, waiting for the result.
  absl::StatusOr<LoadReport> Deploy(const std::string& endpoint, const std::string& model,
                                    int64_t version);
  // Stops serving `endpoint` (NotFound when it serves nothing). Ordered after queued deploys.
  absl::Status Undeploy(const std::string& endpoint);

  // Rollouts. LoadCandidateAsync loads and warms model@version on the loader thread and
  // publishes it as `endpoint`'s candidate with weight 0 (FailedPrecondition when the endpoint
  // serves nothing yet). The others are immediate snapshot swaps (never queued behind a load):
  // NotFound when the endpoint or its candidate is missing.
  void LoadCandidateAsync(std::string endpoint, std::string model, int64_t version,
                          DoneCallback done);
  absl::Status SetCandidateWeight(const std::string& endpoint, int weight_bp);
  // Starts (fresh counters) or stops (0) copying a share of requests to the candidate.
  absl::Status SetMirror(const std::string& endpoint, int mirror_bp);
  // The candidate becomes the stable variant (the old stable is freed once drained).
  absl::Status PromoteCandidate(const std::string& endpoint);
  // The candidate is removed; all traffic returns to the stable variant.
  absl::Status DropCandidate(const std::string& endpoint);

  // Request path: the endpoint as currently published, or nullptr.
  std::shared_ptr<const Endpoint> Find(std::string_view endpoint) const;
  std::shared_ptr<const ServingSnapshot> snapshot() const { return snapshot_.load(); }
  // Jobs queued or running.
  int pending_jobs() const { return pending_.load(); }

 private:
  void LoaderLoop();
  void Enqueue(std::function<void()> job);
  absl::StatusOr<LoadReport> RunDeploy(const std::string& endpoint, const std::string& model,
                                       int64_t version);
  // Mutate() of an endpoint that has a candidate (NotFound otherwise): `edit` changes a copy.
  absl::Status MutateCandidate(const std::string& endpoint,
                               const std::function<void(Endpoint&)>& edit);
  absl::StatusOr<LoadReport> RunLoadCandidate(const std::string& endpoint,
                                              const std::string& model, int64_t version);
  absl::StatusOr<std::shared_ptr<ServedVersion>> LoadVersion(const std::string& endpoint,
                                                             const domain::ModelVersion& v);
  // Replaces `endpoint` in the current snapshot with what `change` returns (nullptr removes it);
  // `change` gets the current endpoint or nullptr and may fail. Serialised by publish_mu_, which
  // no request ever takes.
  absl::Status Mutate(
      const std::string& endpoint,
      const std::function<absl::StatusOr<std::shared_ptr<Endpoint>>(const Endpoint* cur)>& change);

  const Options options_;
  registry::ModelRegistry* registry_;
  storage::ArtifactStore* store_;
  const runtime::BackendRegistry* backends_;
  MetricsRegistry* metrics_;
  Clock* clock_;

  std::atomic<std::shared_ptr<const ServingSnapshot>> snapshot_;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> fetch_counter_{0};

  // Loader queue. Held only to push/pop jobs, never while a job runs.
  absl::Mutex publish_mu_;
  absl::Mutex queue_mu_;
  absl::CondVar queue_cv_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  // Timed-out loads still running on their own threads; the destructor waits for them.
  std::shared_ptr<std::atomic<int>> abandoned_loads_ = std::make_shared<std::atomic<int>>(0);
  std::thread loader_;
};

}  // namespace hotswap::serving
