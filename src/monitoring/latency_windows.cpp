#include "monitoring/latency_windows.h"

namespace hotswap::monitoring {

using serving::VersionMetrics;

VersionMetrics::Snapshot Subtract(const VersionMetrics::Snapshot& a,
                                  const VersionMetrics::Snapshot& b) {
  VersionMetrics::Snapshot d;
  d.requests = a.requests - b.requests;
  d.failures = a.failures - b.failures;
  for (int p = 0; p < VersionMetrics::kPhases; ++p) {
    for (int i = 0; i <= serving::kLatencyBuckets; ++i) d.buckets[p][i] = a.buckets[p][i] - b.buckets[p][i];
    d.sum_s[p] = a.sum_s[p] - b.sum_s[p];
  }
  return d;
}

LatencyWindows::LatencyWindows(Options options, serving::MetricsRegistry* metrics, Clock* clock)
    : options_(options), metrics_(metrics), clock_(clock), last_tick_ms_(clock->NowMillis()) {}

void LatencyWindows::Tick() {
  int64_t now = clock_->NowMillis();
  for (const auto& series : metrics_->All()) {
    VersionMetrics::Snapshot s = series->Read();
    absl::MutexLock lock(&mu_);
    auto it = history_.find(series);
    if (it == history_.end()) {
      // Created since the last tick: what it served so far happened after that tick.
      it = history_.emplace(series, History{}).first;
      it->second.first_seen_ms = last_tick_ms_;
    }
    if (s.requests == 0) continue;  // never served: nothing to keep
    auto& points = it->second.points;
    points.push_back({now, std::move(s)});
    // Thin the part older than the fine span to one point per minute, drop beyond the coarse
    // span (always keeping one point at or before now - coarse span, so 1 h stays answerable).
    while (points.size() >= 2 && points[1].ts_ms <= now - options_.coarse_span_ms) {
      points.pop_front();
    }
    for (size_t i = 1; i + 1 < points.size() && points[i].ts_ms < now - options_.fine_span_ms;) {
      if (points[i].ts_ms / 60'000 == points[i - 1].ts_ms / 60'000) {
        points.erase(points.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
  }
  absl::MutexLock lock(&mu_);
  last_tick_ms_ = now;
}

std::optional<LatencyWindow> LatencyWindows::ReadLocked(
    const std::shared_ptr<VersionMetrics>& series, const History& h, int64_t now,
    int64_t window_ms) const {
  LatencyWindow w;
  w.series = series;
  VersionMetrics::Snapshot live = series->Read();
  if (live.requests == 0) return std::nullopt;
  const Point* base = nullptr;
  for (auto it = h.points.rbegin(); it != h.points.rend(); ++it) {
    if (it->ts_ms <= now - window_ms) {
      base = &*it;
      break;
    }
  }
  if (base == nullptr) {
    // Younger than the window: everything it ever served.
    w.counts = live;
    w.span_s = static_cast<double>(now - h.first_seen_ms) / 1000.0;
  } else {
    w.counts = Subtract(live, base->cumulative);
    w.span_s = static_cast<double>(now - base->ts_ms) / 1000.0;
  }
  return w;
}

std::vector<LatencyWindow> LatencyWindows::Read(const std::string& endpoint,
                                                int64_t window_ms) const {
  int64_t now = clock_->NowMillis();
  std::vector<LatencyWindow> out;
  for (const auto& series : metrics_->All()) {
    if (!endpoint.empty() && series->endpoint() != endpoint) continue;
    if (auto w = ReadSeries(series, window_ms, now)) out.push_back(std::move(*w));
  }
  return out;
}

std::optional<LatencyWindow> LatencyWindows::ReadSeries(
    const std::shared_ptr<VersionMetrics>& series, int64_t window_ms) const {
  return ReadSeries(series, window_ms, clock_->NowMillis());
}

std::optional<LatencyWindow> LatencyWindows::ReadSeries(
    const std::shared_ptr<VersionMetrics>& series, int64_t window_ms, int64_t now) const {
  absl::MutexLock lock(&mu_);
  auto it = history_.find(series);
  if (it == history_.end()) {
    // Not ticked yet: created after the last tick.
    History fresh;
    fresh.first_seen_ms = last_tick_ms_;
    return ReadLocked(series, fresh, now, window_ms);
  }
  return ReadLocked(series, it->second, now, window_ms);
}

size_t LatencyWindows::snapshots_kept() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [s, h] : history_) n += h.points.size();
  return n;
}

}  // namespace hotswap::monitoring
