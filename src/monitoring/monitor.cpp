#include "monitoring/monitor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "monitoring/drift_report.h"

namespace hotswap::monitoring {
namespace {

using Json = nlohmann::json;
using serving::VersionMetrics;

const char* const kPhaseNames[] = {"queue", "preprocess", "compute", "total"};

double Round(double v, double scale = 1000.0) { return std::round(v * scale) / scale; }

std::string WindowName(int64_t ms) {
  if (ms % 3600'000 == 0) return absl::StrCat(ms / 3600'000, "h");
  if (ms % 60'000 == 0) return absl::StrCat(ms / 60'000, "m");
  return absl::StrCat(ms / 1000, "s");
}

// The value of `metric` in a SeriesJson, and the sample size it rests on.
std::optional<std::pair<double, int64_t>> MetricValue(const Json& s, const std::string& metric) {
  auto num = [](const Json& v) -> std::optional<double> {
    if (v.is_number()) return v.get<double>();
    return std::nullopt;
  };
  int64_t requests = s.value("requests", int64_t{0});
  const Json& lat = s["latency_ms"]["total"];
  std::optional<double> v;
  int64_t n = requests;
  if (metric == "error_rate") v = num(s["error_rate"]);
  else if (metric == "throughput_rps") v = num(s["throughput_rps"]);
  else if (metric == "p50_ms") v = num(lat["p50"]);
  else if (metric == "p95_ms") v = num(lat["p95"]);
  else if (metric == "p99_ms") v = num(lat["p99"]);
  else {
    const Json& acc = s["accuracy"];
    if (metric == "accuracy" || metric == "macro_f1" || metric == "log_loss") {
      if (!acc["classification"].is_object()) return std::nullopt;
      v = num(acc["classification"][metric]);
      n = acc["classification"].value("labelled", int64_t{0});
    } else if (metric == "mae" || metric == "rmse" || metric == "mape") {
      if (!acc["regression"].is_object()) return std::nullopt;
      v = num(acc["regression"][metric]);
      n = acc["regression"].value("labelled", int64_t{0});
    }
  }
  if (!v) return std::nullopt;
  return std::make_pair(*v, n);
}

bool IsDriftMetric(const std::string& metric) {
  return metric == "drifted_share" || metric == "max_psi";
}

// What the drift monitor saw of one version over one window: the report and the rows behind it.
struct DriftReading {
  DriftReport report;
  int64_t rows = 0;
};
using DriftReadings = std::map<std::pair<const VersionDrift*, int64_t>, DriftReading>;

// A drift metric of the version behind `series` over the window since `since_ms`, and the rows
// it rests on; nullopt when the version has no drift monitor (no reference dataset). `readings`
// keeps one evaluation's reports, since several rules and series may read the same window.
std::optional<std::pair<double, int64_t>> DriftMetricValue(
    const std::vector<std::shared_ptr<VersionDrift>>& drifts, const serving::VersionMetrics& series,
    const std::string& endpoint, const std::string& metric, int64_t since_ms,
    DriftReadings& readings) {
  const VersionDrift* drift = nullptr;
  for (auto it = drifts.rbegin(); it != drifts.rend() && drift == nullptr; ++it) {
    if ((*it)->endpoint() == endpoint && (*it)->model() == series.model() &&
        (*it)->version() == series.version()) {
      drift = it->get();
    }
  }
  if (drift == nullptr) return std::nullopt;
  auto [it, fresh] = readings.try_emplace({drift, since_ms});
  DriftReading& reading = it->second;
  if (fresh) {
    FeatureWindow window = drift->Window(since_ms);
    for (size_t i = 0; i < window.feature_count(); ++i) {
      const FeatureWindow::Counts& c = window.feature(i);
      reading.rows = std::max(reading.rows, static_cast<int64_t>(c.count + c.missing));
    }
    reading.report = ComputeDrift(window, DriftOptions{});
  }
  if (metric == "drifted_share") return std::make_pair(reading.report.drifted_share, reading.rows);
  double max_psi = 0;
  for (const FeatureDrift& f : reading.report.features) max_psi = std::max(max_psi, f.psi.value_or(0.0));
  return std::make_pair(max_psi, reading.rows);
}

}  // namespace

const char* const kAlertMetrics[] = {"error_rate", "p50_ms", "p95_ms", "p99_ms",
                                     "throughput_rps", "accuracy", "macro_f1", "log_loss",
                                     "mae", "rmse", "mape", "drifted_share", "max_psi", nullptr};

absl::StatusOr<int64_t> ParseWindow(const std::string& text) {
  if (text == "1m") return 60'000;
  if (text == "5m") return 5 * 60'000;
  if (text == "1h") return 3600'000;
  if (text == "24h") return 24 * 3600'000LL;
  return absl::InvalidArgumentError(
      absl::StrCat("window '", text, "' must be one of 1m, 5m, 1h, 24h"));
}

Json ToJson(const AlertRule& r) {
  return Json{{"name", r.name},       {"metric", r.metric}, {"op", r.op},
              {"threshold", r.threshold}, {"window", r.window}, {"min_samples", r.min_samples}};
}

absl::StatusOr<std::vector<AlertRule>> AlertRulesFromJson(const Json& j) {
  const Json* list = &j;
  if (j.is_object() && j.contains("rules")) list = &j["rules"];
  if (!list->is_array()) {
    return absl::InvalidArgumentError("expected {\"rules\": [...]} or an array of rules");
  }
  std::vector<AlertRule> rules;
  std::set<std::string> names;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& r = (*list)[i];
    std::string at = absl::StrCat("rules[", i, "]");
    if (!r.is_object()) return absl::InvalidArgumentError(absl::StrCat(at, ": expected an object"));
    for (const auto& [k, v] : r.items()) {
      if (k != "name" && k != "metric" && k != "op" && k != "threshold" && k != "window" &&
          k != "min_samples") {
        return absl::InvalidArgumentError(absl::StrCat(at, ": unknown field '", k, "'"));
      }
    }
    AlertRule rule;
    if (!r.contains("metric") || !r["metric"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".metric: required string"));
    }
    rule.metric = r["metric"].get<std::string>();
    bool known = false;
    for (int k = 0; kAlertMetrics[k] != nullptr; ++k) known = known || rule.metric == kAlertMetrics[k];
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ".metric: '", rule.metric,
          "' is not one of error_rate, p50_ms, p95_ms, p99_ms, throughput_rps, accuracy, "
          "macro_f1, log_loss, mae, rmse, mape, drifted_share, max_psi"));
    }
    if (!r.contains("threshold") || !r["threshold"].is_number()) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".threshold: required number"));
    }
    rule.threshold = r["threshold"].get<double>();
    if (!std::isfinite(rule.threshold)) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".threshold: must be finite"));
    }
    rule.name = r.value("name", rule.metric);
    if (rule.name.empty() || rule.name.size() > 128) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".name: 1 to 128 characters"));
    }
    if (!names.insert(rule.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".name: '", rule.name, "' is used twice"));
    }
    if (r.contains("op")) {
      if (!r["op"].is_string() || (r["op"] != ">" && r["op"] != "<")) {
        return absl::InvalidArgumentError(absl::StrCat(at, ".op: must be \">\" or \"<\""));
      }
      rule.op = r["op"].get<std::string>();
    } else if (rule.metric == "accuracy" || rule.metric == "macro_f1" ||
               rule.metric == "throughput_rps") {
      rule.op.assign(1, '<');  // these alert when they drop (assign: g++ 12 -Wrestrict false alarm)
    }
    if (r.contains("window")) {
      if (!r["window"].is_string() || !ParseWindow(r["window"].get<std::string>()).ok()) {
        return absl::InvalidArgumentError(absl::StrCat(at, ".window: one of 1m, 5m, 1h, 24h"));
      }
      rule.window = r["window"].get<std::string>();
    }
    if (IsDriftMetric(rule.metric) && rule.window == "24h") {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ".window: feature windows are kept for 1h; a drift metric takes 1m, 5m or 1h"));
    }
    if (r.contains("min_samples")) {
      if (!r["min_samples"].is_number_integer() || r["min_samples"].get<int64_t>() < 1) {
        return absl::InvalidArgumentError(absl::StrCat(at, ".min_samples: integer >= 1"));
      }
      rule.min_samples = r["min_samples"].get<int64_t>();
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

Monitor::Monitor(Options options, serving::MetricsRegistry* metrics, Clock* clock)
    : options_(std::move(options)),
      clock_(clock),
      windows_(options_.windows, metrics, clock),
      predictions_(options_.predictions, clock),
      webhook_(options_.webhook_url) {}

Monitor::~Monitor() { Stop(); }

absl::Status Monitor::Start() {
  if (!options_.rules_path.empty()) {
    std::ifstream in(options_.rules_path);
    if (in) {
      Json j = Json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object()) {
        return absl::DataLossError(absl::StrCat(options_.rules_path, " is not a JSON object"));
      }
      absl::MutexLock lock(&alerts_mu_);
      for (const auto& [endpoint, list] : j.items()) {
        auto rules = AlertRulesFromJson(list);
        if (!rules.ok()) {
          return absl::DataLossError(absl::StrCat(options_.rules_path, ": endpoint '", endpoint,
                                                  "': ", rules.status().message()));
        }
        rules_[endpoint] = *std::move(rules);
      }
    }
  }
  if (options_.start_thread) {
    loop_ = std::thread([this] { Loop(); });
  }
  return absl::OkStatus();
}

void Monitor::Stop() {
  {
    absl::MutexLock lock(&loop_mu_);
    loop_stop_ = true;
  }
  if (loop_.joinable()) loop_.join();
}

void Monitor::Loop() {
  int64_t last_tick = 0;
  for (;;) {
    {
      absl::MutexLock lock(&loop_mu_);
      auto stop = [this]() ABSL_SHARED_LOCKS_REQUIRED(loop_mu_) { return loop_stop_; };
      if (loop_mu_.AwaitWithTimeout(absl::Condition(&stop),
                                    absl::Milliseconds(options_.drain_ms))) {
        return;
      }
    }
    predictions_.Drain();
    int64_t now = clock_->NowMillis();
    if (now - last_tick >= options_.tick_ms) {
      last_tick = now;
      windows_.Tick();
      RollDrift();
      EvaluateAlerts();
    }
  }
}

void Monitor::TickNow() {
  predictions_.Drain();
  windows_.Tick();
  RollDrift();
  EvaluateAlerts();
}

void Monitor::SetReferenceProvider(ReferenceProvider provider) {
  absl::MutexLock lock(&drift_mu_);
  reference_provider_ = std::move(provider);
}

std::shared_ptr<serving::VersionObserver> Monitor::MakeObserver(const serving::ServedVersion& sv) {
  ReferenceProvider provider;
  {
    absl::MutexLock lock(&drift_mu_);
    provider = reference_provider_;
  }
  if (!provider) return nullptr;
  auto table = provider(sv.model_name, sv.version);
  if (!table.ok()) {
    if (!absl::IsNotFound(table.status())) {
      log::Warn("drift monitoring off for this version: its reference dataset cannot be read",
                {{"model", sv.model_name}, {"version", static_cast<long long>(sv.version)},
                 {"error", std::string(table.status().message())}});
    }
    return nullptr;
  }
  auto drift = VersionDrift::Create(*table, sv.request_schema, sv.model_schema, sv.endpoint,
                                    sv.model_name, sv.version);
  if (!drift.ok()) {
    log::Warn("drift monitoring off for this version",
              {{"model", sv.model_name}, {"version", static_cast<long long>(sv.version)},
               {"error", std::string(drift.status().message())}});
    return nullptr;
  }
  absl::MutexLock lock(&drift_mu_);
  drifts_.push_back(*drift);
  while (drifts_.size() > 32) drifts_.pop_front();
  return *drift;
}

std::vector<std::shared_ptr<VersionDrift>> Monitor::Drifts() {
  absl::MutexLock lock(&drift_mu_);
  return {drifts_.begin(), drifts_.end()};
}

void Monitor::RollDrift() {
  int64_t now = clock_->NowMillis();
  for (const auto& d : Drifts()) d->Roll(now);
}

absl::StatusOr<Json> Monitor::ReferenceProfileJson(const std::string& model, int64_t version,
                                                   const ProfileOptions& options) {
  ReferenceProvider provider;
  {
    absl::MutexLock lock(&drift_mu_);
    provider = reference_provider_;
  }
  if (!provider) return absl::FailedPreconditionError("monitoring is off on this server");
  auto table = provider(model, version);
  if (!table.ok()) return table.status();
  auto profile = ReferenceProfile::FromTable(*table, options);
  if (!profile.ok()) return profile.status();
  return profile->ToJson();
}

Json Monitor::FeaturesJson(const std::string& endpoint, int64_t window_ms) {
  int64_t now = clock_->NowMillis();
  Json versions = Json::array();
  std::vector<std::shared_ptr<VersionDrift>> all = Drifts();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    const VersionDrift& d = **it;
    if (d.endpoint() != endpoint) continue;
    (*it)->Roll(now);  // what was recorded since the last tick counts now
    versions.push_back(monitoring::FeaturesJson(d, d.Window(now - window_ms)));
  }
  return Json{{"endpoint", endpoint}, {"window", WindowName(window_ms)}, {"versions", versions}};
}

void Monitor::RecordPrediction(const serving::VersionMetrics* series,
                               const std::string& request_id,
                               const std::vector<runtime::Tensor>& outputs) {
  if (request_id.empty()) return;
  std::vector<Prediction> rows = ExtractPredictions(outputs, options_.max_rows_per_request);
  int64_t now = clock_->NowMillis();
  for (size_t r = 0; r < rows.size(); ++r) {
    predictions_.Stage(PredictionRecord{.request_id = request_id,
                                        .row = static_cast<int32_t>(r),
                                        .series = series,
                                        .ts_ms = now,
                                        .prediction = std::move(rows[r])});
  }
}

Monitor::FeedbackReport Monitor::ApplyFeedback(const std::vector<FeedbackItem>& items) {
  predictions_.Drain();
  FeedbackReport report;
  for (const FeedbackItem& item : items) {
    switch (predictions_.Apply(item)) {
      case FeedbackResult::kMatched: ++report.matched; break;
      case FeedbackResult::kUnknown: ++report.unknown; break;
      case FeedbackResult::kDuplicate: ++report.duplicate; break;
      case FeedbackResult::kNotApplicable: ++report.not_applicable; break;
    }
  }
  return report;
}

AccuracySums Monitor::Accuracy(const serving::VersionMetrics* series, int64_t since_ms) const {
  return predictions_.Window(series, since_ms);
}

serving::QualityStats Monitor::Quality(const serving::VersionMetrics* series, int64_t since_ms) {
  predictions_.Drain();
  serving::QualityStats q;
  AccuracySums a = predictions_.Window(series, since_ms);
  q.labelled = a.labelled();
  q.correct = a.correct();
  q.n_values = a.n_values();
  q.abs_err_sum = a.abs_err_sum();
  q.sq_err_sum = a.sq_err_sum();
  for (const auto& [name, o] : a.outcomes()) q.outcomes[name] = {o.n, o.sum, o.sum_sq};
  PredictionLog::PredictionCounts p = predictions_.Predictions(series, since_ms);
  q.predicted_classes = std::move(p.classes);
  q.n_predicted_values = p.n_values;
  q.predicted_sum = p.value_sum;
  q.predicted_sq_sum = p.value_sq_sum;
  q.firing_alerts = FiringAlerts(series);
  return q;
}

Json Monitor::SeriesJson(const LatencyWindow& w, int64_t window_ms) const {
  const VersionMetrics::Snapshot& c = w.counts;
  Json s = {{"model", w.series->model()},
            {"version", w.series->version()},
            {"variant", serving::VariantLabel(w.series->variant())},
            {"window_s", Round(w.span_s)},
            {"requests", c.requests},
            {"errors", c.failures}};
  s["error_rate"] = c.requests > 0 ? Json(static_cast<double>(c.failures) / c.requests) : Json(nullptr);
  s["throughput_rps"] = w.span_s > 0 ? Json(Round(c.requests / w.span_s)) : Json(nullptr);
  Json lat = Json::object();
  for (int p = 0; p < VersionMetrics::kPhases; ++p) {
    uint64_t n = 0;
    for (uint64_t b : c.buckets[p]) n += b;
    if (n == 0) {
      lat[kPhaseNames[p]] = {{"count", 0}, {"p50", nullptr}, {"p95", nullptr}, {"p99", nullptr},
                             {"mean", nullptr}};
      continue;
    }
    lat[kPhaseNames[p]] = {
        {"count", n},
        {"p50", Round(serving::HistogramQuantile(c.buckets[p].data(), 0.50) * 1000)},
        {"p95", Round(serving::HistogramQuantile(c.buckets[p].data(), 0.95) * 1000)},
        {"p99", Round(serving::HistogramQuantile(c.buckets[p].data(), 0.99) * 1000)},
        {"mean", Round(c.sum_s[p] / n * 1000)}};
  }
  s["latency_ms"] = lat;
  s["accuracy"] = predictions_.Window(w.series.get(), clock_->NowMillis() - window_ms).ToJson();
  return s;
}

Json Monitor::EndpointJson(const std::string& endpoint, int64_t window_ms) const {
  Json series = Json::array();
  for (const LatencyWindow& w : windows_.Read(endpoint, window_ms)) {
    Json s = SeriesJson(w, window_ms);
    Json firing = Json::array();
    for (const std::string& name : FiringAlerts(w.series.get())) firing.push_back(name);
    s["alerts_firing"] = firing;
    series.push_back(std::move(s));
  }
  PredictionLog::Counters pc = predictions_.counters();
  return Json{{"endpoint", endpoint},
              {"window", WindowName(window_ms)},
              {"series", series},
              {"predictions",
               {{"stored", pc.stored},
                {"recorded", pc.recorded},
                {"staging_dropped", pc.staging_dropped},
                {"replaced", pc.replaced},
                {"evicted_unlabelled", pc.evicted_unlabelled}}},
              {"feedback",
               {{"matched", pc.matched},
                {"unknown", pc.unknown},
                {"duplicate", pc.duplicate},
                {"not_applicable", pc.not_applicable}}}};
}

absl::Status Monitor::SetAlertRules(const std::string& endpoint, std::vector<AlertRule> rules) {
  absl::MutexLock lock(&alerts_mu_);
  auto before = rules_;
  if (rules.empty()) {
    rules_.erase(endpoint);
  } else {
    rules_[endpoint] = std::move(rules);
  }
  if (absl::Status s = PersistRules(); !s.ok()) {
    rules_ = std::move(before);
    return s;
  }
  // Rules replaced: their firing state starts over.
  for (auto it = firing_.begin(); it != firing_.end();) {
    it = it->first.first.rfind(endpoint + "/", 0) == 0 ? firing_.erase(it) : std::next(it);
  }
  return absl::OkStatus();
}

absl::Status Monitor::PersistRules() {
  if (options_.rules_path.empty()) return absl::OkStatus();
  Json j = Json::object();
  for (const auto& [endpoint, list] : rules_) {
    Json arr = Json::array();
    for (const AlertRule& r : list) arr.push_back(ToJson(r));
    j[endpoint] = arr;
  }
  std::string tmp = options_.rules_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), options_.rules_path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot replace ", options_.rules_path));
  }
  return absl::OkStatus();
}

std::vector<AlertRule> Monitor::AlertRules(const std::string& endpoint) const {
  absl::MutexLock lock(&alerts_mu_);
  auto it = rules_.find(endpoint);
  return it == rules_.end() ? std::vector<AlertRule>{} : it->second;
}

Json Monitor::AlertEvents(const std::string& endpoint) const {
  absl::MutexLock lock(&alerts_mu_);
  Json out = Json::array();
  for (const Json& e : events_) {
    if (endpoint.empty() || e["endpoint"] == endpoint) out.push_back(e);
  }
  return out;
}

std::vector<std::string> Monitor::FiringAlerts(const serving::VersionMetrics* series) const {
  absl::MutexLock lock(&alerts_mu_);
  std::vector<std::string> out;
  for (const auto& [key, on] : firing_) {
    if (on && key.second == series) out.push_back(key.first.substr(key.first.find('/') + 1));
  }
  return out;
}

void Monitor::EvaluateAlerts() {
  std::map<std::string, std::vector<AlertRule>> rules;
  {
    absl::MutexLock lock(&alerts_mu_);
    rules = rules_;
  }
  int64_t now = clock_->NowMillis();
  std::vector<Json> fresh;
  const std::vector<std::shared_ptr<VersionDrift>> drifts = Drifts();
  DriftReadings drift_readings;
  for (const auto& [endpoint, list] : rules) {
    for (const AlertRule& rule : list) {
      int64_t window_ms = *ParseWindow(rule.window);
      for (const LatencyWindow& w : windows_.Read(endpoint, window_ms)) {
        auto v = IsDriftMetric(rule.metric)
                      ? DriftMetricValue(drifts, *w.series, endpoint, rule.metric,
                                         now - window_ms, drift_readings)
                      : MetricValue(SeriesJson(w, window_ms), rule.metric);
        std::pair<std::string, const VersionMetrics*> key{endpoint + "/" + rule.name,
                                                          w.series.get()};
        bool holds = v && v->second >= rule.min_samples &&
                     (rule.op == ">" ? v->first > rule.threshold : v->first < rule.threshold);
        absl::MutexLock lock(&alerts_mu_);
        bool& on = firing_[key];
        // Firing needs enough samples; resolving needs the condition gone with enough samples
        // or the traffic gone (no samples left in the window).
        bool resolve = on && !holds && (!v || v->second >= rule.min_samples || v->second == 0);
        if ((!on && holds) || resolve) {
          on = holds;
          Json e = {{"ts_ms", now},
                    {"state", holds ? "firing" : "resolved"},
                    {"endpoint", endpoint},
                    {"model", w.series->model()},
                    {"version", w.series->version()},
                    {"variant", serving::VariantLabel(w.series->variant())},
                    {"rule", ToJson(rule)},
                    {"value", v ? Json(v->first) : Json(nullptr)},
                    {"samples", v ? v->second : 0}};
          events_.push_back(e);
          while (events_.size() > options_.events_kept) events_.pop_front();
          fresh.push_back(std::move(e));
        }
      }
    }
  }
  for (Json& e : fresh) {
    log::Info("monitoring alert", {{"state", e["state"].get<std::string>()},
                                   {"endpoint", e["endpoint"].get<std::string>()},
                                   {"rule", e["rule"]["name"].get<std::string>()}});
    webhook_.Enqueue(e);
  }
}

std::string Monitor::RenderPrometheus() const {
  std::string out;
  out +=
      "# HELP hotswap_latency_window_seconds Total latency quantile over a sliding window, by "
      "endpoint, model, version, variant.\n# TYPE hotswap_latency_window_seconds gauge\n";
  std::string acc_lines;
  for (int64_t window_ms : {60'000LL, 300'000LL, 3600'000LL}) {
    for (const LatencyWindow& w : windows_.Read("", window_ms)) {
      std::string labels = "endpoint=\"";
      serving::AppendLabelValue(w.series->endpoint(), &labels);
      labels += "\",model=\"";
      serving::AppendLabelValue(w.series->model(), &labels);
      labels += absl::StrCat("\",version=\"", w.series->version(), "\",variant=\"",
                             serving::VariantLabel(w.series->variant()), "\",window=\"",
                             WindowName(window_ms), "\"");
      const auto& b = w.counts.buckets[VersionMetrics::kTotal];
      for (double q : {0.5, 0.95, 0.99}) {
        absl::StrAppend(&out, "hotswap_latency_window_seconds{", labels, ",quantile=\"", q, "\"} ",
                        serving::HistogramQuantile(b.data(), q), "\n");
      }
      AccuracySums a = predictions_.Window(w.series.get(), clock_->NowMillis() - window_ms);
      if (auto v = a.Accuracy()) {
        absl::StrAppend(&acc_lines, "hotswap_accuracy{", labels, "} ", *v, "\n");
      }
      if (auto v = a.Mae()) absl::StrAppend(&acc_lines, "hotswap_mae{", labels, "} ", *v, "\n");
    }
  }
  out += "# HELP hotswap_accuracy Classification accuracy against feedback labels over a window "
         "(by prediction time).\n# TYPE hotswap_accuracy gauge\n"
         "# HELP hotswap_mae Regression mean absolute error against feedback over a window.\n"
         "# TYPE hotswap_mae gauge\n";
  out += acc_lines;
  PredictionLog::Counters c = predictions_.counters();
  absl::StrAppend(
      &out,
      "# HELP hotswap_feedback_items_total Feedback items by result.\n"
      "# TYPE hotswap_feedback_items_total counter\n",
      "hotswap_feedback_items_total{result=\"matched\"} ", c.matched, "\n",
      "hotswap_feedback_items_total{result=\"unknown\"} ", c.unknown, "\n",
      "hotswap_feedback_items_total{result=\"duplicate\"} ", c.duplicate, "\n",
      "hotswap_feedback_items_total{result=\"not_applicable\"} ", c.not_applicable, "\n",
      "# HELP hotswap_predictions_stored Predictions remembered for joining with feedback.\n"
      "# TYPE hotswap_predictions_stored gauge\nhotswap_predictions_stored ", c.stored, "\n",
      "# HELP hotswap_predictions_evicted_unlabelled_total Predictions expired or pushed out of "
      "the store before any feedback.\n# TYPE hotswap_predictions_evicted_unlabelled_total "
      "counter\nhotswap_predictions_evicted_unlabelled_total ",
      c.evicted_unlabelled, "\n",
      "# HELP hotswap_predictions_dropped_total Predictions not remembered because a staging "
      "buffer was full.\n# TYPE hotswap_predictions_dropped_total counter\n"
      "hotswap_predictions_dropped_total ",
      c.staging_dropped, "\n",
      "");
  out += webhook_.RenderPrometheus("hotswap_alert_webhook_total",
                                   "Alert events posted to the webhook, by result.");
  return out;
}

}  // namespace hotswap::monitoring
