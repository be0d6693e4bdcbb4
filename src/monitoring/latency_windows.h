// LatencyWindows: sliding windows (1 min, 5 min, 1 h) over the serving metrics' cumulative
// per-series counters, without touching the request path.
//
// Every Tick() (the Monitor calls it every `tick_ms`, default 5 s) reads each series' merged
// counters (serving/metrics.h: per-thread stripes summed on read) and keeps the cumulative
// snapshot: every tick for the last `fine_span_ms` (default 5 min + 1 tick), one per minute
// after that up to `coarse_span_ms` (default 1 h + 1 min). A window of W ending now is the live
// counters minus the newest snapshot taken at or before now - W; its actual span (W rounded to
// the snapshot spacing, or the series' age when younger than W) is reported with it. Counts and
// histograms of a window are therefore exact; only its edges are rounded (to one tick for
// windows <= 5 min, to one minute beyond).
//
// Memory per series: about 120 snapshots of (4 phases x 101 buckets) counters, ~400 KB, and
// series that never served a request keep none. Thread-safe (one mutex, never taken by a
// request).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "serving/metrics.h"

namespace hotswap::monitoring {

struct LatencyWindow {
  std::shared_ptr<serving::VersionMetrics> series;
  serving::VersionMetrics::Snapshot counts;  // what happened inside the window
  double span_s = 0;                         // the window's actual length
};

class LatencyWindows {
 public:
  struct Options {
    int64_t fine_span_ms = 5 * 60'000 + 10'000;
    int64_t coarse_span_ms = 3600'000 + 60'000;
  };
  LatencyWindows(Options options, serving::MetricsRegistry* metrics, Clock* clock);

  void Tick();
  // The window of `window_ms` ending now, for every series of `endpoint` that served a request
  // (all endpoints when empty).
  std::vector<LatencyWindow> Read(const std::string& endpoint, int64_t window_ms) const;
  // The same for one series (nullopt when it never served a request).
  std::optional<LatencyWindow> ReadSeries(const std::shared_ptr<serving::VersionMetrics>& series,
                                          int64_t window_ms) const;
  std::optional<LatencyWindow> ReadSeries(const std::shared_ptr<serving::VersionMetrics>& series,
                                          int64_t window_ms, int64_t now) const;
  size_t snapshots_kept() const;

 private:
  struct Point {
    int64_t ts_ms;
    serving::VersionMetrics::Snapshot cumulative;
  };
  struct History {
    int64_t first_seen_ms = 0;
    std::deque<Point> points;  // oldest first
  };
  std::optional<LatencyWindow> ReadLocked(const std::shared_ptr<serving::VersionMetrics>& series,
                                          const History& h, int64_t now, int64_t window_ms) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const Options options_;
  serving::MetricsRegistry* metrics_;
  Clock* clock_;
  mutable absl::Mutex mu_;
  std::map<std::shared_ptr<serving::VersionMetrics>, History> history_ ABSL_GUARDED_BY(mu_);
  int64_t last_tick_ms_ ABSL_GUARDED_BY(mu_);  // construction time until the first tick
};

// VersionMetrics::Snapshot arithmetic: a - b (counters only grow, so this is what happened
// between b and a).
serving::VersionMetrics::Snapshot Subtract(const serving::VersionMetrics::Snapshot& a,
                                           const serving::VersionMetrics::Snapshot& b);

}  // namespace hotswap::monitoring
