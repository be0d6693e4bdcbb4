#include "api/explain_api.h"

#include <cstring>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/csv.h"
#include "common/log.h"
#include "common/status.h"
#include "runtime/feature_contributions.h"
#include "runtime/validation.h"
#include "serving/v2_codec.h"

namespace hotswap::api {

using http::HttpRequest;
using http::HttpResponse;
using nlohmann::json;

namespace {

constexpr size_t kCacheEntries = 16;

HttpResponse V2(const absl::Status& s) {
  return HttpResponse::V2Error(HttpStatusFor(s.code()), ToStd(s.message()));
}

HttpResponse Bad(std::string_view message) { return HttpResponse::V2Error(400, message); }

bool IsFloat(domain::DataType t) {
  return t == domain::DataType::kFp32 || t == domain::DataType::kFp64;
}

// An output tensor [n] or [n, k] of FP32/FP64 as k columns of `out` starting at `col`.
absl::Status CopyColumns(const runtime::Tensor& t, int64_t n, int64_t col, explain::Matrix* out) {
  if (!IsFloat(t.datatype) || t.shape.empty() || t.shape.size() > 2 || t.shape[0] != n) {
    return absl::InternalError(absl::StrCat("output '", t.name, "' has shape ",
                                            runtime::ShapeString(t.shape), "; expected [", n,
                                            "] or [", n, ", k] of FP32/FP64"));
  }
  const int64_t k = t.shape.size() == 2 ? t.shape[1] : 1;
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < k; ++j) {
      out->at(r, col + j) = t.datatype == domain::DataType::kFp32
                                ? static_cast<double>(t.As<float>()[r * k + j])
                                : t.As<double>()[r * k + j];
    }
  }
  return absl::OkStatus();
}

runtime::Tensor InputTensor(const std::string& name, domain::DataType type, const explain::Matrix& m) {
  runtime::Tensor t{name, type, {m.rows, m.cols}, {}};
  const size_t count = m.values.size();
  if (type == domain::DataType::kFp32) {
    t.data.resize(count * sizeof(float));
    float* p = t.MutableAs<float>();
    for (size_t i = 0; i < count; ++i) p[i] = static_cast<float>(m.values[i]);
  } else {
    t.data.resize(count * sizeof(double));
    std::memcpy(t.data.data(), m.values.data(), count * sizeof(double));
  }
  return t;
}

json Rows(const explain::Matrix& m, int64_t col0, int64_t cols) {
  json out = json::array();
  for (int64_t r = 0; r < m.rows; ++r) {
    json row = json::array();
    for (int64_t j = 0; j < cols; ++j) row.push_back(m.at(r, col0 + j));
    out.push_back(std::move(row));
  }
  return out;
}

json Attributions(const explain::Matrix& m) { return Rows(m, 0, m.cols); }

// The explanation parameters of a request.
struct ExplainParameters {
  std::string method = "auto";
  std::optional<int64_t> nsamples;
  uint64_t seed = 0;
  std::optional<int64_t> max_background_rows;
  std::optional<json> background;
  std::vector<std::string> feature_names;
};

absl::StatusOr<int64_t> PositiveInt(const json& v, std::string_view key, int64_t max) {
  if (!v.is_number_integer() || v.get<int64_t>() < 1) {
    return absl::InvalidArgumentError(absl::StrCat("parameters.", ToAbsl(key), " must be an integer >= 1"));
  }
  if (v.get<int64_t>() > max) {
    return absl::InvalidArgumentError(absl::StrCat("parameters.", ToAbsl(key), " ", v.get<int64_t>(),
                                                   " exceeds this server's limit of ", max));
  }
  return v.get<int64_t>();
}

absl::StatusOr<ExplainParameters> ParseParameters(std::string_view json_text,
                                                  const ExplainApi::Options& o) {
  ExplainParameters p;
  json body = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("parameters")) return p;  // the codec reports the rest
  const json& params = body["parameters"];
  if (!params.is_object()) return p;  // the codec says "'parameters' must be an object"
  static const std::set<std::string> kKnown = {"method", "nsamples", "seed", "max_background_rows",
                                               "background", "feature_names",
                                               "binary_data_output"};
  for (const auto& [k, v] : params.items()) {
    if (!kKnown.count(k)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown parameter '", k, "'; explanations take method, nsamples, seed, "
          "max_background_rows, background, feature_names"));
    }
  }
  if (params.contains("method")) {
    const json& m = params["method"];
    if (!m.is_string() || (m != "auto" && m != "kernel_shap" && m != "tree_shap")) {
      return absl::InvalidArgumentError("parameters.method must be \"auto\", \"kernel_shap\" or \"tree_shap\"");
    }
    p.method = m.get<std::string>();
  }
  if (params.contains("nsamples")) {
    HS_ASSIGN_OR_RETURN(p.nsamples, PositiveInt(params["nsamples"], "nsamples", o.max_nsamples));
  }
  if (params.contains("seed")) {
    const json& s = params["seed"];
    if (!s.is_number_unsigned() && !(s.is_number_integer() && s.get<int64_t>() >= 0)) {
      return absl::InvalidArgumentError("parameters.seed must be a non-negative integer");
    }
    p.seed = s.get<uint64_t>();
  }
  if (params.contains("max_background_rows")) {
    HS_ASSIGN_OR_RETURN(p.max_background_rows,
                        PositiveInt(params["max_background_rows"], "max_background_rows",
                                    o.max_background_rows_limit));
  }
  if (params.contains("background")) p.background = params["background"];
  if (params.contains("feature_names")) {
    const json& f = params["feature_names"];
    if (!f.is_array()) return absl::InvalidArgumentError("parameters.feature_names must be an array of strings");
    for (const auto& n : f) {
      if (!n.is_string()) return absl::InvalidArgumentError("parameters.feature_names must be an array of strings");
      p.feature_names.push_back(n.get<std::string>());
    }
  }
  return p;
}

absl::StatusOr<explain::Matrix> RequestBackground(const json& rows, int64_t features,
                                                  int64_t max_rows) {
  if (!rows.is_array() || rows.empty()) {
    return absl::InvalidArgumentError("parameters.background must be a non-empty array of rows");
  }
  if (static_cast<int64_t>(rows.size()) > max_rows) {
    return absl::InvalidArgumentError(absl::StrCat("parameters.background has ", rows.size(),
                                                   " rows; the limit is ", max_rows));
  }
  explain::Matrix m(static_cast<int64_t>(rows.size()), features);
  for (size_t r = 0; r < rows.size(); ++r) {
    const json& row = rows[r];
    if (!row.is_array() || static_cast<int64_t>(row.size()) != features) {
      return absl::InvalidArgumentError(absl::StrCat("parameters.background[", r, "] must be an array of ",
                                                     features, " numbers"));
    }
    for (int64_t c = 0; c < features; ++c) {
      if (!row[c].is_number()) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameters.background[", r, "][", c, "] must be a number"));
      }
      m.at(static_cast<int64_t>(r), c) = row[c].get<double>();
    }
  }
  return m;
}

}  // namespace

ExplainApi::ExplainApi(Options options, serving::ModelManager* manager,
                       governance::VersionDatasets* datasets, ReadinessProbe readiness)
    : options_(options), manager_(manager), datasets_(datasets), readiness_(std::move(readiness)) {}

void ExplainApi::RegisterRoutes(http::Router* router) {
  for (const std::string prefix : {"/v2/models/{model}", "/v2/models/{model}/versions/{version}"}) {
    router->Add("POST", prefix + "/explain", "read", [this](HttpRequest& r) { return Explain(r); })
        .max_body_bytes = options_.max_body_bytes;
  }
}

absl::StatusOr<ExplainApi::DatasetBackground> ExplainApi::BackgroundFor(const std::string& model,
                                                                        int64_t version,
                                                                        int64_t features) {
  absl::StatusOr<registry::VersionDataset> d = datasets_->Get(model, version, "background");
  std::string source = "dataset:background";
  if (absl::IsNotFound(d.status())) {
    d = datasets_->Get(model, version, "reference");
    source = "dataset:reference";
  }
  if (!d.ok()) return d.status();
  DatasetBackground out;
  out.source = source;
  out.columns.assign(d->columns.begin(),
                     d->columns.begin() + std::min<size_t>(d->columns.size(), static_cast<size_t>(features)));
  const std::string key = absl::StrCat(d->sha256, ":", features);
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      out.data = it->second;
      return out;
    }
  }
  auto bytes = datasets_->ReadBytes(*d);
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat("the ", d->kind, " dataset of version ", version,
                                     " cannot be read: ", bytes.status().message()));
  }
  auto table = common::ParseCsvRows(*bytes);
  if (!table.ok()) return table.status();
  auto values = governance::FeatureMatrix(*table, features);
  if (!values.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("the ", d->kind, " dataset of version ", version,
                                                   " cannot serve as background: ",
                                                   values.status().message()));
  }
  auto m = std::make_shared<explain::Matrix>();
  m->rows = static_cast<int64_t>(table->rows.size());
  m->cols = features;
  m->values = *std::move(values);
  {
    absl::MutexLock lock(&cache_mu_);
    if (cache_.size() >= kCacheEntries) cache_.erase(cache_.begin());
    cache_[key] = m;
  }
  out.data = std::move(m);
  return out;
}

HttpResponse ExplainApi::Explain(HttpRequest& req) {
  if (readiness_) {
    if (absl::Status s = readiness_(); !s.ok()) {
      HttpResponse r = HttpResponse::V2Error(503, ToStd(s.message()));
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
  }
  const std::string& model = req.Param("model");
  std::shared_ptr<const serving::Endpoint> ep = manager_->Find(model);
  if (ep == nullptr) return HttpResponse::V2Error(404, absl::StrCat("model '", model, "' is not loaded"));
  const std::string& version = req.Param("version");
  std::shared_ptr<const serving::ServedVersion> sv = ep->primary;
  if (!version.empty() && version != sv->version_text) {
    if (ep->candidate != nullptr && version == ep->candidate->version_text) {
      sv = ep->candidate;
    } else {
      return HttpResponse::V2Error(404, absl::StrCat("version ", version, " of model '", model,
                                                     "' is not loaded (serving version ",
                                                     sv->version_text, ")"));
    }
  }

  if (running_.fetch_add(1) >= options_.max_concurrent) {
    running_.fetch_sub(1);
    HttpResponse r = HttpResponse::V2Error(
        503, absl::StrCat("the server is computing its limit of ", options_.max_concurrent,
                          " explanations; retry shortly"));
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  struct Release {
    std::atomic<int>* n;
    ~Release() { n->fetch_sub(1); }
  } release{&running_};

  std::optional<size_t> json_length;
  if (const std::string* h = req.Header("inference-header-content-length")) {
    size_t n = 0;
    if (!absl::SimpleAtoi(*h, &n) || n > req.body.size()) {
      return Bad("Inference-Header-Content-Length must be a number no larger than the body");
    }
    json_length = n;
  }
  auto parsed = serving::ParseInferRequest(req.body, json_length);
  if (!parsed.ok()) return V2(parsed.status());
  auto params = ParseParameters(
      std::string_view(req.body).substr(0, json_length.value_or(req.body.size())), options_);
  if (!params.ok()) return V2(params.status());
  serving::InferRequest& ir = *parsed;

  if (sv->preprocessor) {
    return Bad("explanations of versions with preprocessing are not supported yet; explain the "
               "model's own input");
  }
  if (ir.inputs.size() != 1 || sv->model_schema.inputs.size() != 1) {
    return Bad(absl::StrCat("explanations need a model with one 2-D FP32/FP64 input and a request "
                            "with that one input; got ", ir.inputs.size(), " inputs"));
  }
  runtime::Tensor& input = ir.inputs[0];
  if (!IsFloat(input.datatype) || input.shape.size() != 2) {
    return Bad(absl::StrCat("input '", input.name, "' must be a 2-D FP32 or FP64 tensor [rows, features]; got ",
                            ToAbsl(domain::DataTypeName(input.datatype)), " ",
                            runtime::ShapeString(input.shape)));
  }
  if (absl::Status s = runtime::ValidateInputs(sv->model_schema, ir.inputs); !s.ok()) return V2(s);
  const int64_t rows = input.shape[0];
  const int64_t features = input.shape[1];
  if (rows < 1 || features < 1) return Bad("nothing to explain: the input has no rows or no features");
  if (rows > options_.max_rows) {
    return Bad(absl::StrCat("the request has ", rows, " rows; explanations take at most ",
                            options_.max_rows, " rows per request"));
  }
  if (!params->feature_names.empty() &&
      static_cast<int64_t>(params->feature_names.size()) != features) {
    return Bad(absl::StrCat("parameters.feature_names has ", params->feature_names.size(),
                            " names; the input has ", features, " features"));
  }

  // Outputs to explain.
  std::vector<std::string> outputs;
  if (!ir.outputs.empty()) {
    for (const auto& o : ir.outputs) {
      const domain::TensorSpec* spec = nullptr;
      for (const auto& s : sv->model_schema.outputs) spec = s.name == o.name ? &s : spec;
      if (spec == nullptr) {
        return Bad(absl::StrCat("unknown output '", o.name, "' requested from model '", model, "'"));
      }
      if (!IsFloat(spec->datatype)) {
        return Bad(absl::StrCat("output '", o.name, "' is ", ToAbsl(domain::DataTypeName(spec->datatype)),
                                "; only FP32/FP64 outputs can be explained"));
      }
      outputs.push_back(o.name);
    }
  } else {
    for (const auto& s : sv->model_schema.outputs) {
      if (IsFloat(s.datatype)) outputs.push_back(s.name);
    }
  }

  const auto* contributions = dynamic_cast<const runtime::FeatureContributions*>(sv->model.get());
  std::string method = params->method;
  if (method == "tree_shap" && contributions == nullptr) {
    return Bad(absl::StrCat("method tree_shap needs a backend with exact attributions (xgboost); "
                            "this version is ", sv->framework));
  }
  if (method == "auto") method = contributions != nullptr ? "tree_shap" : "kernel_shap";
  std::vector<std::string> names = params->feature_names;

  json explanations = json::array();
  json used = json::object();
  std::string method_name = method;
  if (method == "tree_shap") {
    auto c = contributions->Contributions(ir.inputs);
    if (!c.ok()) {
      return HttpResponse::V2Error(absl::IsInvalidArgument(c.status()) ? 400 : 500,
                                   absl::StrCat("explanation failed: ", c.status().message()));
    }
    // [rows, features + 1] or [rows, groups, features + 1]; the last column is the bias.
    const int64_t groups = c->shape.size() == 3 ? c->shape[1] : 1;
    const float* v = c->As<float>();
    json shap = json::array(), expected = json::array(), raw = json::array();
    for (int64_t g = 0; g < groups; ++g) {
      json per_row = json::array();
      for (int64_t r = 0; r < rows; ++r) {
        const float* row = v + (r * groups + g) * (features + 1);
        json attributions = json::array();
        for (int64_t f = 0; f < features; ++f) attributions.push_back(static_cast<double>(row[f]));
        per_row.push_back(std::move(attributions));
      }
      shap.push_back(std::move(per_row));
      expected.push_back(static_cast<double>(v[g * (features + 1) + features]));
    }
    for (int64_t r = 0; r < rows; ++r) {
      json margins = json::array();
      for (int64_t g = 0; g < groups; ++g) {
        const float* row = v + (r * groups + g) * (features + 1);
        double sum = 0;
        for (int64_t f = 0; f <= features; ++f) sum += static_cast<double>(row[f]);
        margins.push_back(sum);
      }
      raw.push_back(std::move(margins));
    }
    if (names.empty()) {
      for (int64_t f = 0; f < features; ++f) names.push_back(absl::StrCat(input.name, "[", f, "]"));
    }
    explanations.push_back({{"output", "margin"},
                            {"output_space", "margin"},
                            {"shap_values", std::move(shap)},
                            {"expected_value", std::move(expected)},
                            {"raw_prediction", std::move(raw)},
                            {"feature_names", names}});
    used = {{"method", "tree_shap"}, {"attribution", "path-dependent TreeSHAP (XGBoost pred_contribs)"}};
  } else {
    if (outputs.empty()) return Bad(absl::StrCat("model '", model, "' has no FP32/FP64 output to explain"));
    if (features > options_.max_features) {
      return Bad(absl::StrCat("the input has ", features, " features; Kernel SHAP here takes at most ",
                              options_.max_features));
    }
    // Background.
    explain::Matrix background_rows;
    std::string source;
    auto from_dataset = BackgroundFor(sv->model_name, sv->version, features);
    if (from_dataset.ok()) {
      background_rows = *from_dataset->data;
      source = from_dataset->source;
      if (names.empty() && static_cast<int64_t>(from_dataset->columns.size()) == features) {
        names = from_dataset->columns;
      }
    } else if (absl::IsNotFound(from_dataset.status()) && params->background) {
      auto m = RequestBackground(*params->background, features, options_.max_request_background_rows);
      if (!m.ok()) return V2(m.status());
      background_rows = *std::move(m);
      source = "request";
    } else if (absl::IsNotFound(from_dataset.status())) {
      return Bad(absl::StrCat("no background data: attach a background or reference dataset to ",
                              sv->model_name, " version ", sv->version,
                              " (PUT /api/v1/models/", sv->model_name, "/versions/", sv->version,
                              "/datasets/background) or pass parameters.background"));
    } else {
      return V2(from_dataset.status());
    }
    if (names.empty()) {
      for (int64_t f = 0; f < features; ++f) names.push_back(absl::StrCat(input.name, "[", f, "]"));
    }
    const int64_t max_bg = params->max_background_rows.value_or(options_.max_background_rows);
    explain::Background bg = explain::SummariseBackground(background_rows, max_bg, params->seed);
    const int64_t nsamples = params->nsamples.value_or(explain::DefaultSamples(features));
    const int64_t cost = explain::EvaluationRows(rows, features, nsamples, bg.data.rows);
    if (cost > options_.max_model_rows) {
      return Bad(absl::StrCat("this explanation needs ", cost, " model rows (", rows, " rows x ",
                              explain::CoalitionCount(features, nsamples), " coalitions x ",
                              bg.data.rows, " background rows); the limit is ",
                              options_.max_model_rows,
                              ": lower nsamples, max_background_rows or the rows per request"));
    }
    // The model as a batch function through the loaded version's runtime.
    std::vector<int64_t> widths;  // columns per explained output
    const std::string input_name = sv->model_schema.inputs[0].name;
    const domain::DataType input_type = sv->model_schema.inputs[0].datatype;
    const runtime::LoadedModel* loaded = sv->model.get();
    explain::BatchModel batch_model =
        [&](const explain::Matrix& batch) -> absl::StatusOr<explain::Matrix> {
      std::vector<runtime::Tensor> out;
      HS_RETURN_IF_ERROR(loaded->Run({InputTensor(input_name, input_type, batch)}, outputs, &out));
      if (out.size() != outputs.size()) return absl::InternalError("the model returned fewer outputs than asked");
      if (widths.empty()) {
        for (const auto& t : out) widths.push_back(t.shape.size() == 2 ? t.shape[1] : 1);
      }
      int64_t total = 0;
      for (int64_t w : widths) total += w;
      explain::Matrix m(batch.rows, total);
      int64_t col = 0;
      for (size_t i = 0; i < out.size(); ++i) {
        const int64_t w = out[i].shape.size() == 2 ? out[i].shape[1] : 1;
        if (w != widths[i]) return absl::InternalError("the model's output width changed between batches");
        HS_RETURN_IF_ERROR(CopyColumns(out[i], batch.rows, col, &m));
        col += w;
      }
      return m;
    };
    explain::Matrix x(rows, features);
    for (int64_t i = 0; i < rows * features; ++i) {
      x.values[static_cast<size_t>(i)] = input.datatype == domain::DataType::kFp32
                                             ? static_cast<double>(input.As<float>()[i])
                                             : input.As<double>()[i];
    }
    auto result = explain::KernelShap(batch_model, x, bg,
                                      {.nsamples = nsamples, .seed = params->seed,
                                       .max_batch_rows = options_.max_batch_rows});
    if (!result.ok()) {
      const absl::Status& s = result.status();
      return HttpResponse::V2Error(absl::IsInvalidArgument(s) ? 400 : 500,
                                   absl::StrCat("explanation failed: ", s.message()));
    }
    int64_t col = 0;
    for (size_t i = 0; i < outputs.size(); ++i) {
      json shap = json::array(), expected = json::array();
      for (int64_t j = 0; j < widths[i]; ++j) {
        shap.push_back(Attributions(result->shap_values[static_cast<size_t>(col + j)]));
        expected.push_back(result->expected_value[static_cast<size_t>(col + j)]);
      }
      explanations.push_back({{"output", outputs[i]},
                              {"shap_values", std::move(shap)},
                              {"expected_value", std::move(expected)},
                              {"raw_prediction", Rows(result->fx, col, widths[i])},
                              {"feature_names", names}});
      col += widths[i];
    }
    method_name = result->exact ? "exact" : "kernel_shap";
    used = {{"method", "kernel_shap"},
            {"exact", result->exact},
            {"nsamples", result->nsamples},
            {"coalitions", result->coalitions},
            {"seed", params->seed},
            {"background_source", source},
            {"background_rows", bg.data.rows},
            {"model_rows", result->model_rows},
            {"value_function", "interventional"}};
  }
  log::Debug("explanation computed", {{"model", model}, {"version", sv->version_text},
                                      {"method", method_name}, {"rows", static_cast<long long>(rows)}});
  HttpResponse r = HttpResponse::Json(200, {{"model_name", ep->name},
                                            {"model_version", sv->version_text},
                                            {"method", method_name},
                                            {"explanations", std::move(explanations)},
                                            {"parameters", std::move(used)}});
  r.headers.emplace_back("x-hotswap-model-version", sv->version_text);
  return r;
}

}  // namespace hotswap::api
