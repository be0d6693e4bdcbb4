#include "monitoring/drift_monitor.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "monitoring/drift_report.h"

namespace hotswap::monitoring {
namespace {

using domain::DataType;
using nlohmann::json;

constexpr int kMaxRowsPerRequest = 64;
constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kMinutesKept = 61;

std::atomic<int> g_next_stripe{0};
thread_local int t_stripe = -1;

// Elements per row of a tensor spec with a leading batch dimension; -1 when unknown.
int64_t WidthOf(const domain::TensorSpec& spec) {
  if (spec.shape.empty()) return 1;
  int64_t w = 1;
  for (size_t i = 1; i < spec.shape.size(); ++i) {
    if (spec.shape[i] < 0) return -1;
    w *= spec.shape[i];
  }
  return w;
}

bool NumericType(DataType t) { return t != DataType::kBytes; }

}  // namespace

FeatureWindow::Options VersionDrift::WindowOptions() {
  FeatureWindow::Options o;
  o.sketch.relative_accuracy = 0.02;
  return o;
}

absl::StatusOr<std::shared_ptr<VersionDrift>> VersionDrift::Create(
    const CsvTable& reference, const domain::TensorSchema& request_schema,
    const domain::TensorSchema& outputs, std::string endpoint, std::string model,
    int64_t version) {
  // Which CSV columns feed which tensor columns.
  struct Pick {
    int csv_column;
    std::string tensor;
    int64_t column;
    bool output;
  };
  std::vector<Pick> picks;
  bool by_name = !request_schema.inputs.empty();
  for (const auto& in : request_schema.inputs) {
    by_name = by_name && reference.ColumnIndex(in.name) >= 0 && WidthOf(in) == 1;
  }
  if (by_name) {
    for (const auto& in : request_schema.inputs) {
      picks.push_back({reference.ColumnIndex(in.name), in.name, 0, false});
    }
  } else if (request_schema.inputs.size() == 1 && WidthOf(request_schema.inputs[0]) > 0 &&
             WidthOf(request_schema.inputs[0]) <= static_cast<int64_t>(reference.header.size())) {
    const auto& in = request_schema.inputs[0];
    for (int64_t c = 0; c < WidthOf(in); ++c) picks.push_back({static_cast<int>(c), in.name, c, false});
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        "the reference dataset's columns match no input: name them like the inputs (",
        request_schema.inputs.size(), " inputs) or, for one [-1, M] input, give at least M columns"));
  }
  for (const auto& out : outputs.outputs) {
    int c = reference.ColumnIndex(out.name);
    if (c >= 0 && WidthOf(out) == 1) picks.push_back({c, out.name, 0, true});
  }
  CsvTable table;
  ProfileSchema schema;
  for (const Pick& p : picks) {
    table.header.push_back(reference.header[p.csv_column]);
    table.columns.push_back(reference.columns[p.csv_column]);
    if (p.output) schema.columns[reference.header[p.csv_column]].role = ColumnRole::kOutput;
  }
  auto profile = ReferenceProfile::FromTable(table, ProfileOptions{}, &schema);
  if (!profile.ok()) return profile.status();
  auto shared = std::make_shared<const ReferenceProfile>(*std::move(profile));
  std::vector<Binding> ins, outs;
  for (size_t i = 0; i < picks.size(); ++i) {
    Binding b{i, picks[i].tensor, picks[i].column};
    (picks[i].output ? outs : ins).push_back(std::move(b));
  }
  return std::shared_ptr<VersionDrift>(new VersionDrift(shared, std::move(ins), std::move(outs),
                                                        std::move(endpoint), std::move(model),
                                                        version));
}

VersionDrift::VersionDrift(std::shared_ptr<const ReferenceProfile> profile,
                           std::vector<Binding> inputs, std::vector<Binding> outputs,
                           std::string endpoint, std::string model, int64_t version)
    : profile_(std::move(profile)),
      inputs_(std::move(inputs)),
      outputs_(std::move(outputs)),
      endpoint_(std::move(endpoint)),
      model_(std::move(model)),
      version_(version),
      stripes_(new Stripe[kStripes]) {
  for (int i = 0; i < kStripes; ++i) {
    absl::MutexLock lock(&stripes_[i].mu);
    stripes_[i].window = std::make_unique<FeatureWindow>(profile_, WindowOptions());
  }
}

void VersionDrift::ObserveInputs(const std::vector<runtime::Tensor>& inputs) {
  Observe(inputs_, inputs);
}

void VersionDrift::ObserveOutputs(const std::vector<runtime::Tensor>& outputs) {
  if (!outputs_.empty()) Observe(outputs_, outputs);
}

void VersionDrift::Observe(const std::vector<Binding>& bindings,
                           const std::vector<runtime::Tensor>& tensors) {
  if (t_stripe < 0) t_stripe = g_next_stripe.fetch_add(1) % kStripes;
  Stripe& s = stripes_[t_stripe];
  absl::MutexLock lock(&s.mu);
  FeatureWindow& w = *s.window;
  for (const Binding& b : bindings) {
    const runtime::Tensor* t = nullptr;
    for (const auto& candidate : tensors) {
      if (candidate.name == b.tensor) {
        t = &candidate;
        break;
      }
    }
    if (t == nullptr) continue;
    int64_t count = t->ElementCount();
    int64_t rows = t->shape.empty() ? 1 : t->shape[0];
    if (count <= 0 || rows <= 0) continue;
    int64_t width = count / rows;
    if (b.column >= width) continue;
    for (int64_t r = 0; r < std::min<int64_t>(rows, kMaxRowsPerRequest); ++r) {
      int64_t i = r * width + b.column;
      if (NumericType(t->datatype)) {
        w.RecordNumber(b.feature, runtime::NumberElement(*t, i));
      } else if (auto v = runtime::BytesElement(*t, i)) {
        w.RecordCategory(b.feature, *v);
      } else {
        w.RecordMissing(b.feature);
      }
    }
  }
}

void VersionDrift::Roll(int64_t now_ms) {
  int64_t minute = now_ms / kMinuteMs;
  absl::MutexLock lock(&mu_);
  auto it = minutes_.find(minute);
  if (it == minutes_.end()) it = minutes_.emplace(minute, FeatureWindow(profile_, WindowOptions())).first;
  for (int i = 0; i < kStripes; ++i) {
    absl::MutexLock stripe_lock(&stripes_[i].mu);
    (void)it->second.Merge(*stripes_[i].window);  // same profile and options: cannot fail
    stripes_[i].window->Clear();
  }
  while (!minutes_.empty() && minutes_.begin()->first <= minute - kMinutesKept) {
    minutes_.erase(minutes_.begin());
  }
}

FeatureWindow VersionDrift::Window(int64_t since_ms) const {
  FeatureWindow out(profile_, WindowOptions());
  absl::MutexLock lock(&mu_);
  for (auto it = minutes_.lower_bound(since_ms / kMinuteMs); it != minutes_.end(); ++it) {
    (void)out.Merge(it->second);
  }
  return out;
}

json VersionDrift::BindingsJson() const {
  json out = json::object();
  for (const auto* list : {&inputs_, &outputs_}) {
    for (const Binding& b : *list) {
      out[profile_->features()[b.feature].name] = {{"tensor", b.tensor}, {"column", b.column}};
    }
  }
  return out;
}

json FeaturesJson(const VersionDrift& drift, const FeatureWindow& current) {
  DriftReport report = ComputeDrift(current, DriftOptions{});
  json stats = report.ToJson(/*detailed=*/true);
  json features = json::object();
  const auto& profile = drift.profile();
  for (size_t i = 0; i < profile.features().size(); ++i) {
    const FeatureProfile& f = profile.features()[i];
    const FeatureWindow::Counts& c = current.feature(i);
    json j = stats["features"][f.name];
    if (f.type == ColumnType::kNumeric) {
      j["bins"] = {{"edges", f.numeric.edges},
                   {"layout", "[underflow, [edges[0], edges[1]), ..., [edges[n-2], edges[n-1]], overflow]"},
                   {"reference", f.numeric.bin_counts},
                   {"current", c.bins}};
      json ref_q = json::object(), cur_q = json::object();
      for (double q : {0.05, 0.25, 0.5, 0.75, 0.95}) {
        std::string key = absl::StrCat("p", static_cast<int>(q * 100));
        for (const auto& [rq, v] : f.numeric.quantiles) {
          if (std::abs(rq - q) < 1e-9) ref_q[key] = v;
        }
        cur_q[key] = c.count > 0 && c.sketch ? json(c.sketch->Quantile(q)) : json(nullptr);
      }
      j["quantiles"] = {{"reference", ref_q}, {"current", cur_q}};
    } else {
      json labels = f.categorical.categories;
      labels.push_back("(other)");
      labels.push_back("(unseen)");
      j["bins"] = {{"categories", labels}, {"reference", f.categorical.bin_counts}, {"current", c.bins}};
    }
    j["missing"] = {{"reference", f.missing}, {"current", c.missing}};
    features[f.name] = j;
  }
  return json{{"model", drift.model()},
              {"version", drift.version()},
              {"reference_rows", profile.row_count()},
              {"bindings", drift.BindingsJson()},
              {"features", features},
              {"drifted_share", stats.value("drifted_share", 0.0)},
              {"dataset_drift", report.dataset_drift}};
}

}  // namespace hotswap::monitoring
