#include "governance/validation_gates.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/csv.h"
#include "common/log.h"
#include "common/status.h"
#include "governance/csv_dataset.h"
#include "runtime/preprocessing.h"
#include "runtime/validation.h"

namespace hotswap::governance {

using nlohmann::json;

namespace {

constexpr const char* kRegistration = "registration";

std::string EndpointContext(const std::string& endpoint) { return "endpoint:" + endpoint; }

GateResult Gate(std::string name, std::string status, std::string detail,
                json measurements = json::object()) {
  return {std::move(name), std::move(status), std::move(detail), std::move(measurements)};
}

// A loaded candidate: the engine's model and what clients send it.
struct Candidate {
  std::unique_ptr<runtime::LoadedModel> model;
  std::optional<runtime::Preprocessor> preprocessor;
  domain::TensorSchema request_schema;
};

// Runs `model` (after `pre`, when set) on `inputs`.
absl::StatusOr<std::vector<runtime::Tensor>> RunOnce(
    const runtime::LoadedModel& model, const std::optional<runtime::Preprocessor>& pre,
    std::vector<runtime::Tensor> inputs) {
  if (pre) {
    HS_ASSIGN_OR_RETURN(inputs, pre->Apply(std::move(inputs)));
  }
  HS_RETURN_IF_ERROR(runtime::ValidateInputs(model.schema(), inputs));
  std::vector<runtime::Tensor> outputs;
  HS_RETURN_IF_ERROR(model.Run(inputs, {}, &outputs));
  return outputs;
}

// The numeric elements of `t` as doubles; nullopt for BYTES / BOOL / FP16.
std::optional<std::vector<double>> Values(const runtime::Tensor& t) {
  int64_t n = t.ElementCount();
  if (n < 0) return std::nullopt;
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (t.datatype) {
      case domain::DataType::kFp32:
        out[i] = t.As<float>()[i];
        break;
      case domain::DataType::kFp64:
        out[i] = t.As<double>()[i];
        break;
      case domain::DataType::kInt32:
        out[i] = t.As<int32_t>()[i];
        break;
      case domain::DataType::kInt64:
        out[i] = static_cast<double>(t.As<int64_t>()[i]);
        break;
      case domain::DataType::kUint8:
        out[i] = t.As<uint8_t>()[i];
        break;
      case domain::DataType::kInt8:
        out[i] = t.As<int8_t>()[i];
        break;
      default:
        return std::nullopt;
    }
  }
  return out;
}

// Fills one tensor of `spec`'s datatype from doubles.
absl::StatusOr<runtime::Tensor> MakeTensor(const domain::TensorSpec& spec,
                                           std::vector<int64_t> shape,
                                           const std::vector<double>& values) {
  runtime::Tensor t;
  t.name = spec.name;
  t.datatype = spec.datatype;
  t.shape = std::move(shape);
  auto fill = [&](auto zero) {
    using T = decltype(zero);
    t.data.resize(values.size() * sizeof(T));
    T* p = t.MutableAs<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  };
  switch (spec.datatype) {
    case domain::DataType::kFp32:
      fill(float{});
      break;
    case domain::DataType::kFp64:
      fill(double{});
      break;
    case domain::DataType::kInt32:
      fill(int32_t{});
      break;
    case domain::DataType::kInt64:
      fill(int64_t{});
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("input '", spec.name, "' is ", ToAbsl(domain::DataTypeName(spec.datatype)),
                       "; holdout rows feed FP32, FP64, INT32 and INT64 inputs only"));
  }
  return t;
}

// Inputs for rows [begin, end) of `table` under `schema`: a single input of shape [-1, M] takes
// the first M columns; otherwise every input of shape [-1] or [-1, 1] takes the column of its name.
absl::StatusOr<std::vector<runtime::Tensor>> InputsFromRows(const domain::TensorSchema& schema,
                                                            const CsvTable& table, size_t begin,
                                                            size_t end) {
  const int64_t rows = static_cast<int64_t>(end - begin);
  std::vector<runtime::Tensor> out;
  auto column_of = [&](const std::string& name) -> int {
    for (size_t c = 0; c < table.header.size(); ++c) {
      if (table.header[c] == name) return static_cast<int>(c);
    }
    return -1;
  };
  if (schema.inputs.size() == 1 && schema.inputs[0].shape.size() == 2 &&
      schema.inputs[0].shape[1] > 0 && column_of(schema.inputs[0].name) < 0) {
    const domain::TensorSpec& spec = schema.inputs[0];
    const int64_t m = spec.shape[1];
    if (static_cast<int64_t>(table.header.size()) < m) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the holdout has ", table.header.size(), " columns; input '", spec.name, "' needs ", m));
    }
    std::vector<double> values;
    values.reserve(static_cast<size_t>(rows * m));
    for (size_t r = begin; r < end; ++r) {
      for (int64_t c = 0; c < m; ++c) {
        auto v = common::ParseNumberCell(table.rows[r][c]);
        if (!v) {
          return absl::InvalidArgumentError(absl::StrCat("holdout row ", r + 1, ", column '",
                                                         table.header[c], "' is not a number"));
        }
        values.push_back(*v);
      }
    }
    HS_ASSIGN_OR_RETURN(runtime::Tensor t, MakeTensor(spec, {rows, m}, values));
    out.push_back(std::move(t));
    return out;
  }
  for (const domain::TensorSpec& spec : schema.inputs) {
    int c = column_of(spec.name);
    if (c < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("the holdout has no column for input '", spec.name, "'"));
    }
    std::vector<double> values;
    for (size_t r = begin; r < end; ++r) {
      auto v = common::ParseNumberCell(table.rows[r][c]);
      if (!v) {
        return absl::InvalidArgumentError(
            absl::StrCat("holdout row ", r + 1, ", column '", spec.name, "' is not a number"));
      }
      values.push_back(*v);
    }
    std::vector<int64_t> shape = {rows};
    if (spec.shape.size() == 2) shape.push_back(1);
    HS_ASSIGN_OR_RETURN(runtime::Tensor t, MakeTensor(spec, shape, values));
    out.push_back(std::move(t));
  }
  return out;
}

// The label column: "label" if there is one, else the last column.
int LabelColumn(const CsvTable& table) {
  for (size_t c = 0; c < table.header.size(); ++c) {
    if (table.header[c] == "label") return static_cast<int>(c);
  }
  return static_cast<int>(table.header.size()) - 1;
}

// The metric `name` of the first output against the labels. Accuracy: argmax over the last
// dimension when it has several columns, else the value thresholded at 0.5, compared with the
// label rounded to an integer. mae / mse / rmse: the first output column against the label.
absl::StatusOr<double> Metric(const std::string& name, const runtime::Tensor& output,
                              const std::vector<double>& labels) {
  auto values = Values(output);
  if (!values) {
    return absl::InvalidArgumentError(absl::StrCat("output '", output.name, "' is ",
                                                   ToAbsl(domain::DataTypeName(output.datatype)),
                                                   "; the quality gate reads numeric outputs"));
  }
  const size_t rows = labels.size();
  if (rows == 0 || values->size() % rows != 0) {
    return absl::InvalidArgumentError(absl::StrCat("output '", output.name, "' has ",
                                                   values->size(), " values for ", rows, " rows"));
  }
  const size_t width = values->size() / rows;
  double sum = 0;
  for (size_t r = 0; r < rows; ++r) {
    const double* row = values->data() + r * width;
    if (name == "accuracy") {
      double predicted = 0;
      if (width > 1) {
        predicted = static_cast<double>(std::max_element(row, row + width) - row);
      } else {
        predicted = row[0] >= 0.5 ? 1 : 0;
      }
      sum += predicted == std::round(labels[r]) ? 1 : 0;
    } else {
      double e = row[0] - labels[r];
      sum += name == "mae" ? std::abs(e) : e * e;
    }
  }
  double mean = sum / static_cast<double>(rows);
  if (name == "rmse") return std::sqrt(mean);
  if (name == "accuracy" || name == "mae" || name == "mse") return mean;
  return absl::InvalidArgumentError(
      absl::StrCat("quality metric '", name, "' is not one of accuracy, mae, mse, rmse"));
}

// The metric of `model` over the holdout (in batches of 256 rows).
absl::StatusOr<double> Evaluate(const std::string& metric, const runtime::LoadedModel& model,
                                const std::optional<runtime::Preprocessor>& pre,
                                const domain::TensorSchema& request_schema, const CsvTable& table,
                                size_t rows) {
  const int label = LabelColumn(table);
  std::vector<double> labels;
  std::vector<double> predictions;
  runtime::Tensor all;
  std::vector<double> all_values;
  size_t width = 0;
  for (size_t begin = 0; begin < rows; begin += 256) {
    size_t end = std::min(rows, begin + 256);
    HS_ASSIGN_OR_RETURN(auto inputs, InputsFromRows(request_schema, table, begin, end));
    HS_ASSIGN_OR_RETURN(auto outputs, RunOnce(model, pre, std::move(inputs)));
    if (outputs.empty()) return absl::InternalError("the model produced no output");
    auto values = Values(outputs[0]);
    if (!values || values->size() % (end - begin) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("output '", outputs[0].name, "' is not one numeric row per input row"));
    }
    width = values->size() / (end - begin);
    all_values.insert(all_values.end(), values->begin(), values->end());
    all.name = outputs[0].name;
    for (size_t r = begin; r < end; ++r) {
      auto v = common::ParseNumberCell(table.rows[r][label]);
      if (!v) {
        return absl::InvalidArgumentError(absl::StrCat("holdout row ", r + 1, ": label '",
                                                       table.rows[r][label], "' is not a number"));
      }
      labels.push_back(*v);
    }
  }
  all.datatype = domain::DataType::kFp64;
  all.shape = {static_cast<int64_t>(labels.size()), static_cast<int64_t>(width)};
  all.data.assign(reinterpret_cast<const char*>(all_values.data()),
                  all_values.size() * sizeof(double));
  return Metric(metric, all, labels);
}

// Breaking differences between what an endpoint serves (`old_s`) and the candidate (`new_s`).
json SchemaDiff(const domain::TensorSchema& old_s, const domain::TensorSchema& new_s,
                std::vector<std::string>* breaking) {
  json diff = {{"removed_inputs", json::array()},  {"added_inputs", json::array()},
               {"retyped_inputs", json::array()},  {"reshaped_inputs", json::array()},
               {"removed_outputs", json::array()}, {"retyped_outputs", json::array()}};
  auto find = [](const std::vector<domain::TensorSpec>& specs,
                 const std::string& name) -> const domain::TensorSpec* {
    for (const auto& s : specs) {
      if (s.name == name) return &s;
    }
    return nullptr;
  };
  auto compatible_shape = [](const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] != b[i] && a[i] != -1 && b[i] != -1) return false;
    }
    return true;
  };
  for (const auto& o : old_s.inputs) {
    const domain::TensorSpec* n = find(new_s.inputs, o.name);
    if (n == nullptr) {
      diff["removed_inputs"].push_back(o.name);
      breaking->push_back(absl::StrCat("input '", o.name, "' removed"));
    } else if (n->datatype != o.datatype) {
      diff["retyped_inputs"].push_back({{"name", o.name},
                                        {"from", std::string(domain::DataTypeName(o.datatype))},
                                        {"to", std::string(domain::DataTypeName(n->datatype))}});
      breaking->push_back(absl::StrCat("input '", o.name, "' retyped ",
                                       ToAbsl(domain::DataTypeName(o.datatype)), " -> ",
                                       ToAbsl(domain::DataTypeName(n->datatype))));
    } else if (!compatible_shape(o.shape, n->shape)) {
      diff["reshaped_inputs"].push_back({{"name", o.name}, {"from", o.shape}, {"to", n->shape}});
      breaking->push_back(absl::StrCat("input '", o.name, "' reshaped ",
                                       runtime::ShapeString(o.shape), " -> ",
                                       runtime::ShapeString(n->shape)));
    }
  }
  for (const auto& n : new_s.inputs) {
    if (find(old_s.inputs, n.name) == nullptr) {
      diff["added_inputs"].push_back(n.name);
      breaking->push_back(absl::StrCat("input '", n.name,
                                       "' added (clients of the serving version do not send it)"));
    }
  }
  for (const auto& o : old_s.outputs) {
    const domain::TensorSpec* n = find(new_s.outputs, o.name);
    if (n == nullptr) {
      diff["removed_outputs"].push_back(o.name);
      breaking->push_back(absl::StrCat("output '", o.name, "' removed"));
    } else if (n->datatype != o.datatype) {
      diff["retyped_outputs"].push_back({{"name", o.name},
                                         {"from", std::string(domain::DataTypeName(o.datatype))},
                                         {"to", std::string(domain::DataTypeName(n->datatype))}});
      breaking->push_back(absl::StrCat("output '", o.name, "' retyped"));
    }
  }
  return diff;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

std::vector<std::string> ValidationReport::FailedGates() const {
  std::vector<std::string> out;
  for (const auto& g : gates) {
    if (g.status == "failed") out.push_back(g.name);
  }
  return out;
}

json ToJson(const ValidationReport& r) {
  json gates = json::array();
  for (const auto& g : r.gates) {
    gates.push_back({{"name", g.name},
                     {"status", g.status},
                     {"detail", g.detail},
                     {"measurements", g.measurements}});
  }
  json j = {{"model", r.model},
            {"version", r.version},
            {"context", r.context},
            {"endpoint", r.endpoint},
            {"serving_model", r.serving_model},
            {"serving_version", r.serving_version ? json(*r.serving_version) : json(nullptr)},
            {"passed", r.passed},
            {"failed_gates", r.FailedGates()},
            {"gates", gates},
            {"started_at", FormatTimestamp(r.started_at_ms)},
            {"finished_at", FormatTimestamp(r.finished_at_ms)},
            {"started_at_ms", r.started_at_ms},
            {"finished_at_ms", r.finished_at_ms}};
  if (r.reused) j["reused"] = true;
  return j;
}

absl::StatusOr<ValidationReport> ValidationReportFromJson(const json& j) {
  if (!j.is_object() || !j.contains("gates")) {
    return absl::InvalidArgumentError("not a validation report");
  }
  try {
    ValidationReport r;
    r.model = j.value("model", "");
    r.version = j.value("version", int64_t{0});
    r.context = j.value("context", "");
    r.endpoint = j.value("endpoint", "");
    r.serving_model = j.value("serving_model", "");
    if (j.contains("serving_version") && j["serving_version"].is_number_integer()) {
      r.serving_version = j["serving_version"].get<int64_t>();
    }
    r.passed = j.value("passed", false);
    for (const auto& g : j["gates"]) {
      r.gates.push_back(Gate(g.value("name", ""), g.value("status", ""), g.value("detail", ""),
                             g.value("measurements", json::object())));
    }
    r.started_at_ms = j.value("started_at_ms", int64_t{0});
    r.finished_at_ms = j.value("finished_at_ms", int64_t{0});
    return r;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not a validation report: ", e.what()));
  }
}

ValidationPipeline::ValidationPipeline(Options options, registry::ModelRegistry* /*registry*/,
                                       storage::ArtifactStore* store,
                                       const runtime::BackendRegistry* backends,
                                       serving::ModelManager* manager, VersionDatasets* datasets,
                                       registry::GovernanceStore* reports, Clock* clock)
    : options_(std::move(options)),
      store_(store),
      backends_(backends),
      manager_(manager),
      datasets_(datasets),
      reports_(reports),
      clock_(clock) {
  std::error_code ec;
  std::filesystem::create_directories(options_.work_dir, ec);
  if (options_.start_worker) worker_ = std::thread([this] { WorkerLoop(); });
}

ValidationPipeline::~ValidationPipeline() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queue_.clear();
  }
  if (worker_.joinable()) worker_.join();
  // Loads that overran their budget still run on their own threads; they use only their
  // captured copies, but the backends they call belong to the server: wait for them.
  while (abandoned_loads_->load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

ValidationReport ValidationPipeline::Run(const domain::ModelVersion& v,
                                         const std::string& endpoint) {
  ValidationReport report;
  report.model = v.model_name;
  report.version = v.version;
  report.endpoint = endpoint;
  report.context = endpoint.empty() ? kRegistration : EndpointContext(endpoint);
  report.started_at_ms = clock_->NowMillis();
  std::shared_ptr<const serving::Endpoint> serving;
  if (!endpoint.empty()) serving = manager_->Find(endpoint);
  if (serving) {
    report.serving_model = serving->primary->model_name;
    report.serving_version = serving->primary->version;
  }
  auto skip_rest = [&](const std::string& why, std::initializer_list<const char*> names) {
    for (const char* n : names) report.gates.push_back(Gate(n, "skipped", why));
  };
  auto finish = [&]() {
    report.finished_at_ms = clock_->NowMillis();
    report.passed = report.FailedGates().empty();
    runs_.fetch_add(1);
    if (!report.passed) failed_runs_.fetch_add(1);
    return report;
  };

  // 1. artifact
  if (absl::Status s = store_->Verify(v.sha256); !s.ok()) {
    report.gates.push_back(Gate("artifact", "failed",
                                absl::StrCat("artifact ", v.sha256, ": ", s.message()),
                                {{"sha256", v.sha256}}));
    skip_rest("the artifact gate failed", {"load", "schema", "smoke", "quality", "latency"});
    return finish();
  }
  report.gates.push_back(Gate("artifact", "passed", "present; SHA-256 verified",
                              {{"sha256", v.sha256}, {"size_bytes", v.size_bytes}}));

  // 2. load (a private load, never published)
  Candidate cand;
  {
    runtime::Backend* backend = backends_->Find(v.framework);
    absl::Status failure;
    double load_ms = 0;
    if (backend == nullptr) {
      failure = absl::FailedPreconditionError(
          absl::StrCat("no backend serves framework '", v.framework, "' in this build"));
    }
    if (failure.ok() && !v.preprocessing.is_null()) {
      auto pre = runtime::Preprocessor::Compile(v.preprocessing);
      if (!pre.ok()) {
        failure =
            absl::InvalidArgumentError(absl::StrCat("preprocessing: ", pre.status().message()));
      } else if (!pre->empty()) {
        cand.preprocessor = *std::move(pre);
      }
    }
    std::string path = absl::StrCat(options_.work_dir, "/", v.sha256, ".", getpid(), ".",
                                    fetch_counter_.fetch_add(1), ".validate");
    if (failure.ok()) failure = store_->FetchToFile(v.sha256, path);
    if (failure.ok()) {
      using Outcome = absl::StatusOr<std::unique_ptr<runtime::LoadedModel>>;
      auto task = std::make_shared<std::packaged_task<Outcome()>>(
          [backend, path, declared = v.schema]() -> Outcome {
            runtime::LoadOptions lo;
            lo.declared_schema = declared;
            auto m = backend->Load(path, lo);
            std::error_code ec;
            std::filesystem::remove(path, ec);
            return m;
          });
      std::future<Outcome> future = task->get_future();
      auto abandoned = abandoned_loads_;
      abandoned->fetch_add(1);
      const auto start = std::chrono::steady_clock::now();
      std::thread([task, abandoned] {
        (*task)();
        abandoned->fetch_sub(1);
      }).detach();
      if (future.wait_for(std::chrono::milliseconds(options_.load_budget_ms)) !=
          std::future_status::ready) {
        failure = absl::DeadlineExceededError(
            absl::StrCat("did not load within the budget of ", options_.load_budget_ms, " ms"));
      } else {
        load_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        Outcome outcome = future.get();
        if (!outcome.ok()) {
          failure = outcome.status();
        } else {
          cand.model = *std::move(outcome);
        }
      }
    }
    if (failure.ok() && load_ms > static_cast<double>(options_.load_budget_ms)) {
      failure = absl::DeadlineExceededError(
          absl::StrCat("loaded in ", static_cast<int64_t>(load_ms), " ms; the budget is ",
                       options_.load_budget_ms, " ms"));
    }
    int64_t memory = cand.model ? cand.model->memory_bytes() : 0;
    if (failure.ok() && memory > options_.memory_budget_bytes) {
      failure = absl::ResourceExhaustedError(absl::StrCat("the loaded model holds ", memory,
                                                          " bytes; the budget is ",
                                                          options_.memory_budget_bytes, " bytes"));
    }
    if (failure.ok() && cand.preprocessor) {
      if (absl::Status s = cand.preprocessor->CheckAgainst(cand.model->schema()); !s.ok()) {
        failure = absl::InvalidArgumentError(
            absl::StrCat("preprocessing does not fit the model: ", s.message()));
      }
    }
    json m = {{"load_ms", load_ms},
              {"load_budget_ms", options_.load_budget_ms},
              {"memory_bytes", memory},
              {"memory_budget_bytes", options_.memory_budget_bytes}};
    if (!failure.ok()) {
      report.gates.push_back(Gate("load", "failed", std::string(failure.message()), m));
      cand.model.reset();
      skip_rest("the load gate failed", {"schema", "smoke", "quality", "latency"});
      return finish();
    }
    cand.request_schema = cand.preprocessor ? cand.preprocessor->RequestSchema(cand.model->schema())
                                            : cand.model->schema();
    report.gates.push_back(Gate(
        "load", "passed",
        absl::StrCat("loaded in ", static_cast<int64_t>(load_ms), " ms, ", memory, " bytes"), m));
  }

  // 3. schema
  bool schema_compatible = true;
  if (!serving) {
    report.gates.push_back(
        Gate("schema", "skipped",
             endpoint.empty() ? "no target endpoint (registration)"
                              : absl::StrCat("endpoint '", endpoint, "' serves nothing yet")));
  } else {
    std::vector<std::string> breaking;
    json diff = SchemaDiff(serving->primary->request_schema, cand.request_schema, &breaking);
    schema_compatible = breaking.empty();
    diff["against"] = {{"model", serving->primary->model_name},
                       {"version", serving->primary->version}};
    report.gates.push_back(Gate(
        "schema", breaking.empty() ? "passed" : "failed",
        breaking.empty()
            ? absl::StrCat("compatible with ", serving->primary->model_name, " version ",
                           serving->primary->version)
            : absl::StrCat("breaking changes against ", serving->primary->model_name, " version ",
                           serving->primary->version, ": ", absl::StrJoin(breaking, "; ")),
        diff));
  }

  // The holdout, when the version has one (smoke example and quality).
  std::optional<LoadedDataset> holdout;
  std::string holdout_problem;
  {
    auto h = datasets_->Load(v.model_name, v.version, "holdout");
    if (h.ok()) {
      holdout = *std::move(h);
    } else if (!absl::IsNotFound(h.status())) {
      holdout_problem = std::string(h.status().message());
    }
  }

  // 4. smoke
  std::vector<runtime::Tensor> example;  // one row, for the benchmark
  {
    std::vector<runtime::Tensor> inputs;
    std::string source;
    if (holdout && !holdout->table.rows.empty()) {
      size_t rows = std::min<size_t>(holdout->table.rows.size(),
                                     static_cast<size_t>(std::max(1, options_.smoke_rows)));
      auto built = InputsFromRows(cand.request_schema, holdout->table, 0, rows);
      if (built.ok()) {
        inputs = *std::move(built);
        source = absl::StrCat("the first ", rows, " holdout rows");
        auto one = InputsFromRows(cand.request_schema, holdout->table, 0, 1);
        if (one.ok()) example = *std::move(one);
      }
    }
    if (inputs.empty()) {
      inputs = runtime::SynthesizeInputs(cand.request_schema, 1);
      example = inputs;
      source = "inputs synthesised from the schema (zeros)";
    }
    auto outputs = RunOnce(*cand.model, cand.preprocessor, std::move(inputs));
    std::string problem;
    if (!outputs.ok()) {
      problem = absl::StrCat("inference failed: ", outputs.status().message());
    } else if (outputs->empty()) {
      problem = "the model produced no output";
    } else {
      for (const auto& o : *outputs) {
        auto values = Values(o);
        if (!values) continue;
        for (double x : *values) {
          if (!std::isfinite(x)) {
            problem = absl::StrCat("output '", o.name, "' holds a non-finite value (", x, ")");
            break;
          }
        }
        if (!problem.empty()) break;
      }
    }
    report.gates.push_back(Gate("smoke", problem.empty() ? "passed" : "failed",
                                problem.empty() ? absl::StrCat("ran on ", source) : problem,
                                {{"example", source}}));
    if (!problem.empty()) {
      skip_rest("the smoke gate failed", {"quality", "latency"});
      return finish();
    }
  }

  // 5. quality
  const std::optional<domain::QualityMetric> quality =
      v.baseline ? v.baseline->quality : std::nullopt;
  if (!quality) {
    report.gates.push_back(Gate("quality", "skipped", "the version declares no quality baseline"));
  } else if (!holdout_problem.empty()) {
    report.gates.push_back(
        Gate("quality", "failed",
             absl::StrCat("the holdout dataset cannot be read: ", holdout_problem)));
  } else if (!holdout) {
    report.gates.push_back(Gate("quality", "skipped",
                                "the version has no holdout dataset (PUT .../datasets/holdout)"));
  } else {
    const CsvTable& table = holdout->table;
    size_t rows =
        std::min<size_t>(table.rows.size(), static_cast<size_t>(options_.max_holdout_rows));
    json m = {{"metric", quality->name},
              {"baseline", quality->value},
              {"tolerated_drop", quality->tolerated_drop},
              {"higher_is_better", quality->higher_is_better},
              {"rows", rows}};
    auto value =
        Evaluate(quality->name, *cand.model, cand.preprocessor, cand.request_schema, table, rows);
    if (!value.ok()) {
      report.gates.push_back(Gate("quality", "failed",
                                  absl::StrCat("cannot evaluate: ", value.status().message()), m));
    } else {
      m["value"] = *value;
      const double tol = quality->tolerated_drop;
      auto worse_than = [&](double a, double b) {  // a worse than b by more than tol
        return quality->higher_is_better ? a < b - tol : a > b + tol;
      };
      std::vector<std::string> problems;
      if (worse_than(*value, quality->value)) {
        problems.push_back(absl::StrCat(quality->name, " ", *value, " misses the baseline ",
                                        quality->value, " (tolerated drop ", tol, ")"));
      }
      if (serving && schema_compatible) {
        const serving::ServedVersion& sv = *serving->primary;
        auto served =
            Evaluate(quality->name, *sv.model, sv.preprocessor, sv.request_schema, table, rows);
        if (served.ok()) {
          m["serving_value"] = *served;
          if (worse_than(*value, *served)) {
            problems.push_back(absl::StrCat(quality->name, " ", *value,
                                            " is worse than the serving version's ", *served,
                                            " by more than ", tol));
          }
        } else {
          m["serving_error"] = std::string(served.status().message());
        }
      }
      report.gates.push_back(Gate(
          "quality", problems.empty() ? "passed" : "failed",
          problems.empty() ? absl::StrCat(quality->name, " ", *value, " on ", rows, " holdout rows")
                           : absl::StrJoin(problems, "; "),
          m));
    }
  }

  // 6. latency
  {
    std::vector<double> ms;
    std::string problem;
    const auto bench_start = std::chrono::steady_clock::now();
    for (int i = 0; i < options_.benchmark_runs + 10; ++i) {
      auto start = std::chrono::steady_clock::now();
      auto out = RunOnce(*cand.model, cand.preprocessor, example);
      auto end = std::chrono::steady_clock::now();
      if (!out.ok()) {
        problem = absl::StrCat("inference failed: ", out.status().message());
        break;
      }
      if (i >= 10) ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
      if (std::chrono::duration<double, std::milli>(end - bench_start).count() >
          static_cast<double>(options_.benchmark_max_ms)) {
        break;
      }
    }
    json m = {
        {"runs", ms.size()}, {"p50_ms", Percentile(ms, 0.5)}, {"p99_ms", Percentile(ms, 0.99)}};
    std::optional<double> budget = v.baseline ? v.baseline->latency_p99_ms : std::nullopt;
    if (budget) m["p99_budget_ms"] = *budget;
    if (problem.empty() && ms.empty()) problem = "no timed run finished";
    if (!problem.empty()) {
      report.gates.push_back(Gate("latency", "failed", problem, m));
    } else if (!budget) {
      report.gates.push_back(Gate("latency", "skipped",
                                  absl::StrCat("no latency_p99_ms baseline; measured p99 ",
                                               m["p99_ms"].get<double>(), " ms"),
                                  m));
    } else {
      double p99 = m["p99_ms"].get<double>();
      report.gates.push_back(Gate("latency", p99 <= *budget ? "passed" : "failed",
                                  absl::StrCat("p99 ", p99, " ms over ", ms.size(),
                                               " runs; the budget is ", *budget, " ms"),
                                  m));
    }
  }
  return finish();
}

absl::StatusOr<ValidationReport> ValidationPipeline::ForDeploy(const domain::ModelVersion& v,
                                                               const std::string& endpoint,
                                                               bool force_fresh) {
  const std::string context = EndpointContext(endpoint);
  std::shared_ptr<const serving::Endpoint> serving = manager_->Find(endpoint);
  if (!force_fresh) {
    auto stored = reports_->GetValidation(v.model_name, v.version, context);
    if (stored.ok() && stored->state != "running" &&
        clock_->NowMillis() - stored->updated_at_ms <= options_.report_ttl_ms) {
      auto r = ValidationReportFromJson(stored->report);
      bool same_serving = r.ok() && (serving ? r->serving_version == serving->primary->version &&
                                                   r->serving_model == serving->primary->model_name
                                             : !r->serving_version.has_value());
      if (same_serving) {
        r->reused = true;
        return r;
      }
    }
  }
  ValidationReport r = Run(v, endpoint);
  HS_RETURN_IF_ERROR(
      reports_->PutValidation({v.model_name, v.version, context, r.passed ? "passed" : "failed",
                               ToJson(r), clock_->NowMillis()}));
  return r;
}

void ValidationPipeline::ValidateAsync(const domain::ModelVersion& v) {
  absl::Status put = reports_->PutValidation({v.model_name,
                                              v.version,
                                              kRegistration,
                                              "running",
                                              {{"model", v.model_name},
                                               {"version", v.version},
                                               {"context", kRegistration},
                                               {"state", "running"},
                                               {"gates", json::array()}},
                                              clock_->NowMillis()});
  if (!put.ok()) {
    log::Warn("cannot record a validation as running",
              {{"model", v.model_name}, {"error", std::string(put.message())}});
  }
  bool full = false;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    full = queue_.size() >= options_.max_queued;
    if (!full) queue_.push_back(v);
  }
  if (full) {
    (void)reports_->PutValidation(
        {v.model_name,
         v.version,
         kRegistration,
         "failed",
         {{"model", v.model_name},
          {"version", v.version},
          {"context", kRegistration},
          {"passed", false},
          {"gates", json::array()},
          {"error", "the validation queue is full; run it again with POST .../validation"}},
         clock_->NowMillis()});
  }
}

void ValidationPipeline::RunRegistration(const domain::ModelVersion& v) {
  ValidationReport r = Run(v, "");
  absl::Status s =
      reports_->PutValidation({v.model_name, v.version, kRegistration,
                               r.passed ? "passed" : "failed", ToJson(r), clock_->NowMillis()});
  if (!s.ok() && !absl::IsNotFound(s)) {  // NotFound: the version was deleted meanwhile
    log::Warn("cannot store a validation report",
              {{"model", v.model_name}, {"error", std::string(s.message())}});
  }
  log::Info("version validated", {{"model", v.model_name},
                                  {"version", static_cast<long long>(v.version)},
                                  {"passed", r.passed}});
  if (listener_) listener_(r);
}

void ValidationPipeline::WorkerLoop() {
  while (true) {
    domain::ModelVersion v;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ValidationPipeline* p)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return p->stopping_ || !p->queue_.empty(); },
          this));
      if (stopping_) return;
      v = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    RunRegistration(v);
    absl::MutexLock lock(&mu_);
    --running_;
  }
}

void ValidationPipeline::RunQueued() {
  while (true) {
    domain::ModelVersion v;
    {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) return;
      v = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    RunRegistration(v);
    absl::MutexLock lock(&mu_);
    --running_;
  }
}

void ValidationPipeline::WaitIdle() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](ValidationPipeline* p)
           ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return p->queue_.empty() && p->running_ == 0; },
      this));
}

std::string ValidationPipeline::RenderMetrics() const {
  return absl::StrCat(
      "# HELP hotswap_validation_runs_total Validation pipeline runs, by result.\n"
      "# TYPE hotswap_validation_runs_total counter\n"
      "hotswap_validation_runs_total{result=\"passed\"} ",
      runs_.load() - failed_runs_.load(), "\n", "hotswap_validation_runs_total{result=\"failed\"} ",
      failed_runs_.load(), "\n");
}

}  // namespace hotswap::governance
