#include "monitoring/prediction_log.h"

#include <algorithm>
#include <cstring>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace hotswap::monitoring {
namespace {

using domain::DataType;

std::atomic<int> g_next_stripe{0};
thread_local int t_stripe = -1;

constexpr int64_t kMinuteMs = 60'000;

bool IsInteger(DataType t) {
  switch (t) {
    case DataType::kBool: case DataType::kUint8: case DataType::kUint16: case DataType::kUint32:
    case DataType::kUint64: case DataType::kInt8: case DataType::kInt16: case DataType::kInt32:
    case DataType::kInt64:
      return true;
    default:
      return false;
  }
}

bool IsFloat(DataType t) {
  return t == DataType::kFp16 || t == DataType::kFp32 || t == DataType::kFp64;
}

std::string IntegerAt(const runtime::Tensor& t, int64_t i) {
  switch (t.datatype) {
    case DataType::kBool: return t.As<uint8_t>()[i] ? "1" : "0";
    case DataType::kUint8: return std::to_string(t.As<uint8_t>()[i]);
    case DataType::kUint16: return std::to_string(t.As<uint16_t>()[i]);
    case DataType::kUint32: return std::to_string(t.As<uint32_t>()[i]);
    case DataType::kUint64: return std::to_string(t.As<uint64_t>()[i]);
    case DataType::kInt8: return std::to_string(t.As<int8_t>()[i]);
    case DataType::kInt16: return std::to_string(t.As<int16_t>()[i]);
    case DataType::kInt32: return std::to_string(t.As<int32_t>()[i]);
    default: return std::to_string(t.As<int64_t>()[i]);
  }
}

}  // namespace

std::vector<Prediction> ExtractPredictions(const std::vector<runtime::Tensor>& outputs,
                                           int max_rows) {
  std::vector<Prediction> rows;
  if (outputs.empty()) return rows;
  int64_t n = outputs[0].shape.empty() ? 1 : outputs[0].shape[0];
  if (n <= 0) return rows;
  n = std::min<int64_t>(n, max_rows);
  rows.resize(n);
  const runtime::Tensor* label = nullptr;
  const runtime::Tensor* probs = nullptr;
  const runtime::Tensor* value = nullptr;
  int64_t prob_cols = 0;
  for (const runtime::Tensor& t : outputs) {
    int64_t count = t.ElementCount();
    int64_t t_rows = t.shape.empty() ? 1 : t.shape[0];
    if (count <= 0 || t_rows < n) continue;
    int64_t per_row = count / t_rows;
    if (per_row == 1 && label == nullptr &&
        (IsInteger(t.datatype) || t.datatype == DataType::kBytes)) {
      label = &t;
    } else if (per_row > 1 && probs == nullptr && IsFloat(t.datatype)) {
      probs = &t;
      prob_cols = per_row;
    } else if (per_row == 1 && value == nullptr && IsFloat(t.datatype)) {
      value = &t;
    }
  }
  for (int64_t r = 0; r < n; ++r) {
    Prediction& p = rows[r];
    if (probs != nullptr) {
      int64_t best = 0;
      double best_p = runtime::NumberElement(*probs, r * prob_cols);
      for (int64_t c = 1; c < prob_cols; ++c) {
        double v = runtime::NumberElement(*probs, r * prob_cols + c);
        if (v > best_p) {
          best_p = v;
          best = c;
        }
      }
      if (prob_cols <= Prediction::kMaxProbabilities) {
        p.n_probabilities = static_cast<int>(prob_cols);
        for (int64_t c = 0; c < prob_cols; ++c) {
          p.probabilities[c] = static_cast<float>(runtime::NumberElement(*probs, r * prob_cols + c));
        }
      }
      p.has_label = true;
      p.label = std::to_string(best);
    }
    if (label != nullptr) {
      p.has_label = true;
      p.label = label->datatype == DataType::kBytes
                    ? std::string(runtime::BytesElement(*label, r).value_or(""))
                    : IntegerAt(*label, r);
    }
    if (value != nullptr) {
      p.has_value = true;
      p.value = runtime::NumberElement(*value, r);
    }
  }
  return rows;
}

const char* FeedbackResultName(FeedbackResult r) {
  switch (r) {
    case FeedbackResult::kMatched: return "matched";
    case FeedbackResult::kUnknown: return "unknown";
    case FeedbackResult::kDuplicate: return "duplicate";
    case FeedbackResult::kNotApplicable: return "not_applicable";
  }
  return "?";
}

PredictionLog::PredictionLog(Options options, Clock* clock)
    : options_(options), clock_(clock), stripes_(new Stripe[kStripes]) {}

void PredictionLog::Stage(PredictionRecord&& r) {
  if (t_stripe < 0) t_stripe = g_next_stripe.fetch_add(1) % kStripes;
  Stripe& s = stripes_[t_stripe];
  absl::MutexLock lock(&s.mu);
  if (s.items.size() >= options_.staging_per_stripe) {
    staging_dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  s.items.push_back(std::move(r));
}

uint64_t PredictionLog::Key(const std::string& request_id, int row) {
  return absl::Hash<std::pair<std::string_view, int>>()({request_id, row});
}

void PredictionLog::Drain() {
  absl::MutexLock lock(&mu_);
  int64_t now = clock_->NowMillis();
  for (int i = 0; i < kStripes; ++i) {
    spare_.clear();
    {
      absl::MutexLock stripe_lock(&stripes_[i].mu);
      std::swap(spare_, stripes_[i].items);
    }
    for (PredictionRecord& r : spare_) {
      PredictionCounts& pc = predicted_[r.series][r.ts_ms / kMinuteMs];
      if (r.prediction.has_label) {
        auto it = pc.classes.find(r.prediction.label);
        if (it != pc.classes.end()) {
          ++it->second;
        } else if (pc.classes.size() < kMaxClasses) {
          pc.classes.emplace(r.prediction.label, 1);
        } else {
          ++pc.classes["(other)"];
        }
      }
      if (r.prediction.has_value) {
        ++pc.n_values;
        pc.value_sum += r.prediction.value;
        pc.value_sq_sum += r.prediction.value * r.prediction.value;
      }
      uint64_t key = Key(r.request_id, r.row);
      auto [it, inserted] = store_.try_emplace(key);
      if (!inserted) {
        ++counters_.replaced;
        it->second = Stored{};
      }
      it->second.series = r.series;
      it->second.ts_ms = r.ts_ms;
      it->second.prediction = std::move(r.prediction);
      order_.emplace_back(r.ts_ms, key);
      ++counters_.recorded;
    }
  }
  spare_.clear();
  EvictLocked(now);
}

void PredictionLog::EvictLocked(int64_t now_ms) {
  while (!order_.empty()) {
    auto [ts, key] = order_.front();
    bool expired = ts < now_ms - options_.ttl_ms;
    if (!expired && store_.size() <= options_.capacity) break;
    auto it = store_.find(key);
    // A key re-used by a later prediction is evicted by that prediction's own entry.
    if (it != store_.end() && it->second.ts_ms == ts) {
      if (!it->second.any_feedback) ++counters_.evicted_unlabelled;
      store_.erase(it);
    }
    order_.pop_front();
  }
  int64_t oldest_minute = (now_ms - options_.retention_ms) / kMinuteMs;
  for (auto it = minutes_.begin(); it != minutes_.end();) {
    auto& by_minute = it->second;
    by_minute.erase(by_minute.begin(), by_minute.lower_bound(oldest_minute));
    it = by_minute.empty() ? minutes_.erase(it) : std::next(it);
  }
  for (auto it = predicted_.begin(); it != predicted_.end();) {
    auto& by_minute = it->second;
    by_minute.erase(by_minute.begin(), by_minute.lower_bound(oldest_minute));
    it = by_minute.empty() ? predicted_.erase(it) : std::next(it);
  }
}

void PredictionLog::PredictionCounts::Merge(const PredictionCounts& o) {
  for (const auto& [k, n] : o.classes) classes[k] += n;
  n_values += o.n_values;
  value_sum += o.value_sum;
  value_sq_sum += o.value_sq_sum;
}

PredictionLog::PredictionCounts PredictionLog::Predictions(const serving::VersionMetrics* series,
                                                           int64_t since_ms) const {
  absl::MutexLock lock(&mu_);
  PredictionCounts out;
  auto it = predicted_.find(series);
  if (it == predicted_.end()) return out;
  for (auto m = it->second.lower_bound(since_ms / kMinuteMs); m != it->second.end(); ++m) {
    out.Merge(m->second);
  }
  return out;
}

FeedbackResult PredictionLog::Apply(const FeedbackItem& item) {
  absl::MutexLock lock(&mu_);
  auto it = store_.find(Key(item.request_id, item.row));
  if (it == store_.end()) {
    ++counters_.unknown;
    return FeedbackResult::kUnknown;
  }
  Stored& s = it->second;
  // Every part of the item must be new before any is credited: a retried post counts once.
  bool duplicate = (item.label && s.label_done) || (item.value && s.value_done);
  for (const auto& [name, v] : item.outcomes) {
    duplicate = duplicate || std::find(s.outcomes_done.begin(), s.outcomes_done.end(), name) !=
                                 s.outcomes_done.end();
  }
  if (duplicate) {
    ++counters_.duplicate;
    return FeedbackResult::kDuplicate;
  }
  if ((item.label && !s.prediction.has_label) || (item.value && !s.prediction.has_value)) {
    ++counters_.not_applicable;
    return FeedbackResult::kNotApplicable;
  }
  AccuracySums& sums = minutes_[s.series][s.ts_ms / kMinuteMs];
  if (item.label) {
    sums.AddLabel(s.prediction, *item.label);
    s.label_done = true;
  }
  if (item.value) {
    sums.AddValue(s.prediction, *item.value);
    s.value_done = true;
  }
  for (const auto& [name, v] : item.outcomes) {
    sums.AddOutcome(name, v);
    s.outcomes_done.push_back(name);
  }
  s.any_feedback = true;
  ++counters_.matched;
  return FeedbackResult::kMatched;
}

AccuracySums PredictionLog::Window(const serving::VersionMetrics* series, int64_t since_ms) const {
  absl::MutexLock lock(&mu_);
  AccuracySums out;
  auto it = minutes_.find(series);
  if (it == minutes_.end()) return out;
  for (auto m = it->second.lower_bound(since_ms / kMinuteMs); m != it->second.end(); ++m) {
    out.Merge(m->second);
  }
  return out;
}

PredictionLog::Counters PredictionLog::counters() const {
  absl::MutexLock lock(&mu_);
  Counters c = counters_;
  c.staging_dropped = staging_dropped_.load(std::memory_order_relaxed);
  c.stored = store_.size();
  return c;
}

}  // namespace hotswap::monitoring
