// WebhookSender: POSTs JSON events to one URL from its own thread, so whoever raises an event
// (the monitor's alert evaluation, the rollout orchestrator) never waits on the network.
// Bounded queue (256 events; more are dropped and counted), 3 attempts per event with a short
// backoff, 5 s timeout per attempt; any 2xx is success. Counters for /metrics.
//
// Thread-safe. Enqueue never blocks on I/O.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

namespace hotswap::monitoring {

class WebhookSender {
 public:
  // `url` "" = disabled: Enqueue does nothing.
  explicit WebhookSender(std::string url, size_t max_queued = 256);
  ~WebhookSender();  // sends what is queued (each at most one attempt more), then stops
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  void Enqueue(const nlohmann::json& event);
  bool enabled() const { return !url_.empty(); }
  uint64_t sent() const { return sent_.load(); }
  uint64_t failed() const { return failed_.load(); }
  uint64_t dropped() const { return dropped_.load(); }
  // Prometheus lines `<metric>{result="sent|failed|dropped"} n` with HELP/TYPE.
  std::string RenderPrometheus(const std::string& metric, const std::string& help) const;

 private:
  void Loop();

  const std::string url_;
  const size_t max_queued_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> sent_{0}, failed_{0}, dropped_{0};
  std::thread thread_;
};

}  // namespace hotswap::monitoring
