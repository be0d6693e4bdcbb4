// Monitor: the server's online monitoring — sliding latency/traffic windows, accuracy against
// late ground truth, alert rules with webhook delivery — per endpoint, version and variant.
//
// Request path: RecordPrediction() reduces a response's outputs to one Prediction per row and
// stages it in the PredictionLog (a per-thread staging stripe; no shared lock, no registry, no
// I/O). Everything else runs on the monitor's own thread: every `drain_ms` it moves staged
// predictions into the join store; every `tick_ms` it snapshots the latency counters
// (LatencyWindows) and evaluates the alert rules. With `start_thread = false` nothing runs in the
// background and a test steps it with TickNow().
//
// Alerts: rules per endpoint (SetAlertRules, persisted as JSON in `rules_path`), each a metric of
// a window compared with a threshold, evaluated for every series of the endpoint that has at
// least `min_samples`; a rule that starts or stops holding emits an event ("firing" /
// "resolved") to the event log (AlertEvents, FiringAlerts — the rollout analysis reads it) and,
// when configured, POSTs it as JSON to `webhook_url` from a sender thread (bounded queue of 256,
// 3 attempts; dropped events are counted).
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "monitoring/drift_monitor.h"
#include "monitoring/latency_windows.h"
#include "monitoring/webhook.h"
#include "monitoring/prediction_log.h"
#include "nlohmann/json.hpp"
#include "runtime/tensor.h"
#include "serving/metrics.h"
#include "serving/rollout.h"

namespace hotswap::monitoring {

// "1m" | "5m" | "1h" | "24h" -> milliseconds; InvalidArgument otherwise.
absl::StatusOr<int64_t> ParseWindow(const std::string& text);

struct AlertRule {
  std::string name;       // unique per endpoint
  std::string metric;     // see kAlertMetrics
  std::string op = ">";   // ">" fires above the threshold, "<" below it
  double threshold = 0;
  std::string window = "5m";
  int64_t min_samples = 100;  // requests (latency/error metrics), labelled items (accuracy)
                              // or rows seen by the drift monitor (drift metrics)
};
// error_rate, p50_ms, p95_ms, p99_ms, throughput_rps, accuracy, macro_f1, log_loss, mae, rmse,
// mape, and the drift metrics drifted_share and max_psi (a version with a reference dataset;
// windows up to 1h, as long as feature windows are kept).
extern const char* const kAlertMetrics[];
absl::StatusOr<std::vector<AlertRule>> AlertRulesFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const AlertRule& r);

class Monitor {
 public:
  struct Options {
    int64_t tick_ms = 5000;
    int64_t drain_ms = 200;
    int max_rows_per_request = 64;  // rows of a batch remembered for feedback
    PredictionLog::Options predictions;
    LatencyWindows::Options windows;
    std::string rules_path;   // "" = alert rules are not persisted
    std::string webhook_url;  // "" = events are only kept in memory
    bool start_thread = true;
    size_t events_kept = 1000;
  };
  Monitor(Options options, serving::MetricsRegistry* metrics, Clock* clock);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Loads persisted rules and starts the background thread (unless start_thread is false).
  absl::Status Start();
  void Stop();

  // Request path (after a successful inference).
  void RecordPrediction(const serving::VersionMetrics* series, const std::string& request_id,
                        const std::vector<runtime::Tensor>& outputs);

  struct FeedbackReport {
    int matched = 0, unknown = 0, duplicate = 0, not_applicable = 0;
  };
  FeedbackReport ApplyFeedback(const std::vector<FeedbackItem>& items);

  // GET /api/v1/monitoring/{endpoint}: every series of the endpoint over the window.
  nlohmann::json EndpointJson(const std::string& endpoint, int64_t window_ms) const;
  // Accuracy sums of one series since `since_ms`.
  AccuracySums Accuracy(const serving::VersionMetrics* series, int64_t since_ms) const;
  // Feedback and predictions of one series since `since_ms`, for the rollout analysis and A/B
  // tests (serving::QualitySource). Drains staged predictions first.
  serving::QualityStats Quality(const serving::VersionMetrics* series, int64_t since_ms);
  // Prometheus text: window quantiles, accuracy, feedback and store counters, alerts.
  std::string RenderPrometheus() const;

  // Drift: where a version's reference data comes from (NotFound = the version has none).
  using ReferenceProvider =
      std::function<absl::StatusOr<CsvTable>(const std::string& model, int64_t version)>;
  void SetReferenceProvider(ReferenceProvider provider);
  // ModelManager's make_observer: a VersionDrift for a version with a reference dataset (kept
  // for the last 32 versions loaded), else nullptr. Runs on the loader thread.
  std::shared_ptr<serving::VersionObserver> MakeObserver(const serving::ServedVersion& sv);
  // The reference profile of a version's `reference` dataset, every column typed from the data
  // (what `hotswap profile` writes). NotFound when the version has no reference dataset.
  absl::StatusOr<nlohmann::json> ReferenceProfileJson(const std::string& model, int64_t version,
                                                      const ProfileOptions& options);
  // GET /api/v1/monitoring/{endpoint}/features: every version of the endpoint with a reference
  // profile, current window beside reference. window_ms <= 1 h.
  nlohmann::json FeaturesJson(const std::string& endpoint, int64_t window_ms);

  absl::Status SetAlertRules(const std::string& endpoint, std::vector<AlertRule> rules);
  std::vector<AlertRule> AlertRules(const std::string& endpoint) const;
  nlohmann::json AlertEvents(const std::string& endpoint) const;
  // Alerts currently firing for a series (rule names).
  std::vector<std::string> FiringAlerts(const serving::VersionMetrics* series) const;

  // Tests and shutdown: drain staged predictions, snapshot windows, evaluate alerts.
  void TickNow();
  PredictionLog::Counters prediction_counters() const { return predictions_.counters(); }
  const LatencyWindows& windows() const { return windows_; }

 private:
  void Loop();
  void EvaluateAlerts();
  absl::Status PersistRules() ABSL_EXCLUSIVE_LOCKS_REQUIRED(alerts_mu_);
  // A series' window as the metrics alerts and the JSON use (nullptr fields when undefined).
  nlohmann::json SeriesJson(const LatencyWindow& w, int64_t window_ms) const;

  const Options options_;
  Clock* clock_;
  LatencyWindows windows_;
  PredictionLog predictions_;

  absl::Mutex drift_mu_;
  ReferenceProvider reference_provider_ ABSL_GUARDED_BY(drift_mu_);
  std::deque<std::shared_ptr<VersionDrift>> drifts_ ABSL_GUARDED_BY(drift_mu_);
  std::vector<std::shared_ptr<VersionDrift>> Drifts();
  void RollDrift();

  mutable absl::Mutex alerts_mu_;
  std::map<std::string, std::vector<AlertRule>> rules_ ABSL_GUARDED_BY(alerts_mu_);
  // (rule key "endpoint/rule", series) -> firing
  std::map<std::pair<std::string, const serving::VersionMetrics*>, bool> firing_
      ABSL_GUARDED_BY(alerts_mu_);
  std::deque<nlohmann::json> events_ ABSL_GUARDED_BY(alerts_mu_);

  WebhookSender webhook_;

  absl::Mutex loop_mu_;
  bool loop_stop_ ABSL_GUARDED_BY(loop_mu_) = false;
  std::thread loop_;
};

}  // namespace hotswap::monitoring
