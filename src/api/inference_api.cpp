#include "api/inference_api.h"

#include <chrono>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "api/audit_api.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "runtime/validation.h"
#include "serving/router.h"
#include "serving/shadow.h"
#include "serving/v2_codec.h"

namespace hotswap::api {

using http::HttpRequest;
using http::HttpResponse;
using nlohmann::json;

namespace {

serving::Variant VariantOf(const serving::Endpoint& ep, const serving::ServedVersion* v) {
  return v == ep.candidate.get() ? serving::Variant::kCandidate : serving::Variant::kStable;
}
const char* VariantName(const serving::Endpoint& ep, const serving::ServedVersion* v) {
  return serving::VariantLabel(VariantOf(ep, v));
}

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

HttpResponse V2(const absl::Status& s) {
  return HttpResponse::V2Error(HttpStatusFor(s.code()), ToStd(s.message()));
}

std::string TritonType(domain::DataType t) {
  if (t == domain::DataType::kBytes) return "TYPE_STRING";
  return absl::StrCat("TYPE_", ToAbsl(domain::DataTypeName(t)));
}

std::string PlatformFor(const std::string& framework) {
  if (framework == "onnx") return "onnxruntime_onnx";
  if (framework == "torchscript") return "pytorch_libtorch";
  if (framework == "tensorflow") return "tensorflow_savedmodel";
  return framework;
}

json TensorList(const std::vector<domain::TensorSpec>& specs) {
  json out = json::array();
  for (const auto& s : specs) {
    out.push_back({{"name", s.name},
                   {"datatype", std::string(domain::DataTypeName(s.datatype))},
                   {"shape", s.shape}});
  }
  return out;
}

HttpResponse DeploymentError(const absl::Status& s) { return HttpResponse::Error(s); }

// What an audit entry keeps of a deployment.
json DeploymentSummary(const domain::Deployment& d) {
  return {{"id", d.id},           {"model", d.model_name}, {"version", d.version},
          {"strategy", d.strategy}, {"state", d.state}};
}

// What an endpoint serves, for the audit entry of an undeploy (null when nothing).
json ServingSummary(const serving::ModelManager& manager, const std::string& endpoint) {
  auto snap = manager.snapshot();
  auto it = snap->endpoints.find(endpoint);
  if (it == snap->endpoints.end()) return nullptr;
  return {{"model", it->second->primary->model_name}, {"version", it->second->primary->version}};
}

json EndpointJson(const serving::Endpoint& ep) {
  const serving::ServedVersion& v = *ep.primary;
  return {{"endpoint", ep.name},
          {"model", v.model_name},
          {"version", v.version},
          {"framework", v.framework},
          {"sha256", v.sha256},
          {"loaded_at", FormatTimestamp(v.loaded_at_ms)},
          {"load_seconds", v.load_seconds},
          {"memory_bytes", v.memory_bytes},
          {"in_flight", ep.in_flight->load()},
          {"inputs", TensorList(v.request_schema.inputs)},
          {"outputs", TensorList(v.request_schema.outputs)}};
}

}  // namespace

InferenceApi::InferenceApi(Options options, serving::ModelManager* manager,
                           serving::DeploymentService* deployments,
                           serving::MetricsRegistry* metrics,
                           const runtime::BackendRegistry* backends, ReadinessProbe readiness)
    : options_(std::move(options)),
      manager_(manager),
      deployments_(deployments),
      metrics_(metrics),
      backends_(backends),
      readiness_(std::move(readiness)) {}

void InferenceApi::RegisterRoutes(http::Router* router) {
  auto bind = [this](HttpResponse (InferenceApi::*fn)(HttpRequest&)) {
    return [this, fn](HttpRequest& req) { return (this->*fn)(req); };
  };
  router->Add("GET", "/v2/health/live", "none", [](HttpRequest&) {
    return HttpResponse::Json(200, {{"live", true}});
  }).access_log = false;
  router->Add("GET", "/v2/health/ready", "none", [this](HttpRequest&) {
    absl::Status s = readiness_ ? readiness_() : absl::OkStatus();
    if (!s.ok()) return HttpResponse::V2Error(503, ToStd(s.message()));
    return HttpResponse::Json(200, {{"ready", true}});
  }).access_log = false;
  router->Add("GET", "/v2", "read", [this](HttpRequest&) {
    json backends = json::array();
    json extensions = {"binary_tensor_data", "model_repository", "model_configuration",
                       "hotswap_zero_downtime_swap"};
    for (const auto& f : backends_->Frameworks()) {
      runtime::Backend* b = backends_->Find(f);
      backends.push_back({{"framework", f}, {"version", b ? b->version() : ""}});
      extensions.push_back("hotswap_backend_" + f);  // one per framework this server runs
    }
    return HttpResponse::Json(200, {{"name", "hotswap"},
                                    {"version", options_.server_version},
                                    {"extensions", extensions},
                                    {"backends", backends}});
  });
  for (const std::string prefix : {"/v2/models/{model}", "/v2/models/{model}/versions/{version}"}) {
    router->Add("GET", prefix, "read", bind(&InferenceApi::ModelMetadata));
    router->Add("GET", prefix + "/ready", "read", bind(&InferenceApi::ModelReady));
    http::Route& infer = router->Add("POST", prefix + "/infer", "read", bind(&InferenceApi::Infer));
    infer.access_log = false;
    infer.batch_answers = true;
    infer.max_body_bytes = options_.max_infer_body_bytes;
  }
  router->Add("GET", "/v2/models/{model}/config", "read", bind(&InferenceApi::ModelConfig));
  router->Add("POST", "/v2/repository/index", "read", bind(&InferenceApi::RepositoryIndex));
  router->Add("POST", "/v2/repository/models/{model}/load", "deploy",
              bind(&InferenceApi::RepositoryLoad));
  router->Add("POST", "/v2/repository/models/{model}/unload", "deploy",
              bind(&InferenceApi::RepositoryUnload));
  router->Add("GET", "/metrics", "none", bind(&InferenceApi::Metrics)).access_log = false;
  router->Add("POST", "/api/v1/deployments", "deploy", bind(&InferenceApi::CreateDeployment));
  router->Add("GET", "/api/v1/deployments", "read", bind(&InferenceApi::ListDeployments));
  router->Add("GET", "/api/v1/deployments/{id}", "read", bind(&InferenceApi::GetDeployment));
  router->Add("POST", "/api/v1/deployments/{id}/{action}", "deploy",
              bind(&InferenceApi::ControlDeployment));
  router->Add("GET", "/api/v1/endpoints", "read", bind(&InferenceApi::ListEndpoints));
  router->Add("DELETE", "/api/v1/endpoints/{endpoint}", "deploy",
              bind(&InferenceApi::DeleteEndpoint));
}

std::variant<std::shared_ptr<const serving::Endpoint>, HttpResponse> InferenceApi::Resolve(
    const HttpRequest& req) const {
  const std::string& model = req.Param("model");
  std::shared_ptr<const serving::Endpoint> ep = manager_->Find(model);
  if (ep == nullptr) {
    return HttpResponse::V2Error(404, absl::StrCat("model '", model, "' is not loaded"));
  }
  const std::string& version = req.Param("version");
  if (!version.empty() && version != ep->primary->version_text &&
      (ep->candidate == nullptr || version != ep->candidate->version_text)) {
    return HttpResponse::V2Error(
        404, absl::StrCat("version ", version, " of model '", model,
                          "' is not loaded (serving version ", ep->primary->version_text,
                          ep->candidate ? " and candidate " + ep->candidate->version_text : "",
                          ")"));
  }
  return ep;
}

HttpResponse InferenceApi::Infer(HttpRequest& req) {
  tracing::Tracer* tracer = options_.tracer;
  if (tracer == nullptr) return InferImpl(req, nullptr);  // tracing off: this is all it costs
  tracing::RequestTrace trace(tracer, req.Header("traceparent"), req.Header("tracestate"),
                              req.arrival);
  HttpResponse r = InferImpl(req, trace.sampled() ? &trace : nullptr);
  r.headers.emplace_back("traceparent", trace.Traceparent());
  if (!trace.sampled()) return r;
  // The server span, named and described after OpenTelemetry's HTTP semantic conventions.
  tracing::Span& span = trace.server();
  const char* route = req.Param("version").empty() ? "/v2/models/{model}/infer"
                                                   : "/v2/models/{model}/versions/{version}/infer";
  span.name = absl::StrCat("POST ", route);
  span.SetString("http.request.method", "POST");
  span.SetString("http.route", route);
  span.SetString("url.path", req.path);
  span.SetInt("http.response.status_code", r.status);
  span.SetString("hotswap.request_id", req.request_id);
  if (span.Find("hotswap.endpoint") == nullptr) span.SetString("hotswap.endpoint", req.Param("model"));
  if (r.status >= 400) {
    json body = json::parse(r.body, nullptr, false);
    std::string message = body.is_object() && body.contains("error") && body["error"].is_string()
                              ? body["error"].get<std::string>()
                              : absl::StrCat("HTTP ", r.status);
    span.SetString("error.type", std::to_string(r.status));
    // The phase that failed is marked; the server span only for 5xx (a client's mistake is not
    // the server's error, as the HTTP conventions say).
    if (tracing::Span* failed = trace.open_child()) failed->SetError(message);
    if (r.status >= 500) span.SetError(message);
  }
  trace.Finish(std::chrono::steady_clock::now());
  return r;
}

HttpResponse InferenceApi::InferImpl(HttpRequest& req, tracing::RequestTrace* trace) {
  const auto handler_start = std::chrono::steady_clock::now();
  auto resolved = Resolve(req);
  if (auto* r = std::get_if<HttpResponse>(&resolved)) return std::move(*r);
  std::shared_ptr<const serving::Endpoint> ep =
      std::get<std::shared_ptr<const serving::Endpoint>>(std::move(resolved));
  // The variant is chosen once the request id is known (below); until then failures count on
  // the variant the routing key alone would pick.
  const serving::ServedVersion* svp = ep->primary.get();
  bool routed = ep->candidate == nullptr;
  auto route = [&](std::string_view request_id) {
    if (routed) return;
    routed = true;
    svp = serving::ChooseVariant(*ep, req.Param("version"), req.Header("x-hotswap-variant"),
                                 req.Header("x-hotswap-routing-key"), request_id);
  };

  // Admission: a bounded number of requests per endpoint; beyond it a clear 503.
  if (ep->in_flight->fetch_add(1, std::memory_order_relaxed) >= options_.max_inflight_per_endpoint) {
    ep->in_flight->fetch_sub(1, std::memory_order_relaxed);
    metrics_->RecordRejected(ep->name);
    HttpResponse r = HttpResponse::V2Error(
        503, absl::StrCat("model '", ep->name, "' is at its limit of ",
                          options_.max_inflight_per_endpoint, " requests in flight; retry shortly"));
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  struct Release {
    std::atomic<int>* n;
    ~Release() { n->fetch_sub(1, std::memory_order_relaxed); }
  } release{ep->in_flight.get()};

  // Tracing (sampled requests only): `route` = endpoint lookup and admission (its attributes name
  // the variant chosen once the request id is parsed), `preprocess` = decode, preprocessing and
  // validation, `run` = the engine.
  size_t route_span = 0;
  if (trace) {
    auto now = std::chrono::steady_clock::now();
    route_span = trace->StartChild("route", handler_start);
    trace->EndChild(route_span, now);
    trace->StartChild("preprocess", now);
  }
  auto annotate = [&] {
    if (!trace) return;
    for (tracing::Span* s : {&trace->server(), &trace->child(route_span)}) {
      s->SetString("hotswap.endpoint", ep->name);
      s->SetString("hotswap.model", svp->model_name);
      s->SetString("hotswap.version", svp->version_text);
      s->SetString("hotswap.variant", VariantName(*ep, svp));
    }
  };

  auto fail = [&](HttpResponse r) {
    route("");
    annotate();
    svp->metrics[VariantOf(*ep, svp)].RecordFailure(
        Seconds(req.arrival, std::chrono::steady_clock::now()));
    r.headers.emplace_back("x-hotswap-model-version", svp->version_text);
    if (ep->candidate) r.headers.emplace_back("x-hotswap-variant", VariantName(*ep, svp));
    return r;
  };

  std::optional<size_t> json_length;
  if (const std::string* h = req.Header("inference-header-content-length")) {
    size_t n = 0;
    if (!absl::SimpleAtoi(*h, &n)) {
      return fail(HttpResponse::V2Error(400, "Inference-Header-Content-Length must be a number"));
    }
    json_length = n;
  }
  auto parsed = serving::ParseInferRequest(req.body, json_length);
  if (!parsed.ok()) return fail(V2(parsed.status()));
  serving::InferRequest& ir = *parsed;
  route(ir.id);
  annotate();
  const serving::ServedVersion& sv = *svp;

  std::vector<runtime::Tensor> inputs = std::move(ir.inputs);
  // Shadow: a sampled share of the stable variant's requests is copied to the candidate after
  // this request is answered (the copy is made only for sampled requests).
  bool mirror = options_.mirror != nullptr && ep->mirror_bp > 0 && ep->candidate != nullptr &&
                svp == ep->primary.get() && serving::SampleMirror(ep->mirror_bp);
  std::vector<runtime::Tensor> mirror_inputs;
  if (mirror) mirror_inputs = inputs;
  if (sv.observer && options_.monitor != nullptr) sv.observer->ObserveInputs(inputs);
  if (sv.preprocessor) {
    auto pre = sv.preprocessor->Apply(std::move(inputs));
    if (!pre.ok()) return fail(V2(pre.status()));
    inputs = *std::move(pre);
  }
  if (absl::Status s = runtime::ValidateInputs(sv.model_schema, inputs); !s.ok()) {
    return fail(V2(s));
  }
  std::vector<std::string> output_names;
  output_names.reserve(ir.outputs.size());
  for (const auto& o : ir.outputs) {
    bool known = false;
    for (const auto& spec : sv.model_schema.outputs) known = known || spec.name == o.name;
    if (!known) {
      return fail(HttpResponse::V2Error(
          400, absl::StrCat("unknown output '", o.name, "' requested from model '", ep->name, "'")));
    }
    output_names.push_back(o.name);
  }

  auto compute_start = std::chrono::steady_clock::now();
  std::vector<runtime::Tensor> outputs;
  absl::Status run = sv.model->Run(inputs, output_names, &outputs);
  auto compute_end = std::chrono::steady_clock::now();
  if (trace) {
    trace->EndChild(trace->child_count() - 1, compute_start);  // preprocess
    size_t run_span = trace->StartChild("run", compute_start);
    trace->EndChild(run_span, compute_end);
    tracing::Span& r = trace->child(run_span);
    r.SetString("hotswap.framework", sv.framework);
    r.SetString("hotswap.version", sv.version_text);
    if (!run.ok()) r.SetError(absl::StrCat("inference failed: ", run.message()));
  }
  if (!run.ok()) {
    int code = absl::IsInvalidArgument(run) ? 400 : 500;
    return fail(HttpResponse::V2Error(code, absl::StrCat("inference failed: ", run.message())));
  }
  serving::EncodedResponse enc = serving::EncodeInferResponse(
      ep->name, sv.version_text, ir.id, outputs, ir.outputs, ir.binary_outputs_by_default);
  HttpResponse r;
  r.status = 200;
  r.body = std::move(enc.body);
  r.headers.emplace_back("x-hotswap-model-version", sv.version_text);
  if (ep->candidate) r.headers.emplace_back("x-hotswap-variant", VariantName(*ep, svp));
  if (enc.json_length) {
    r.content_type = "application/octet-stream";
    r.headers.emplace_back("Inference-Header-Content-Length", std::to_string(*enc.json_length));
  }
  serving::VersionMetrics& series = sv.metrics[VariantOf(*ep, svp)];
  if (options_.monitor != nullptr) {
    if (sv.observer) sv.observer->ObserveOutputs(outputs);
    // Feedback joins on the request's `id`, else on its x-request-id (always in the response).
    options_.monitor->RecordPrediction(&series, ir.id.empty() ? req.request_id : ir.id, outputs);
  }
  auto end = std::chrono::steady_clock::now();
  series.RecordSuccess(
      Seconds(req.arrival, handler_start), Seconds(handler_start, compute_start),
      Seconds(compute_start, compute_end), Seconds(req.arrival, end));
  if (mirror) {
    options_.mirror->TryEnqueue({ep, std::move(mirror_inputs), std::move(outputs),
                                 std::move(output_names)});
  }
  return r;
}

HttpResponse InferenceApi::ModelMetadata(HttpRequest& req) {
  auto resolved = Resolve(req);
  if (auto* r = std::get_if<HttpResponse>(&resolved)) return std::move(*r);
  const auto& ep = std::get<std::shared_ptr<const serving::Endpoint>>(resolved);
  const serving::ServedVersion& v = *ep->primary;
  return HttpResponse::Json(200, {{"name", ep->name},
                                  {"versions", {v.version_text}},
                                  {"platform", PlatformFor(v.framework)},
                                  {"inputs", TensorList(v.request_schema.inputs)},
                                  {"outputs", TensorList(v.request_schema.outputs)}});
}

HttpResponse InferenceApi::ModelReady(HttpRequest& req) {
  auto resolved = Resolve(req);
  if (auto* r = std::get_if<HttpResponse>(&resolved)) return std::move(*r);
  const auto& ep = std::get<std::shared_ptr<const serving::Endpoint>>(resolved);
  return HttpResponse::Json(200, {{"name", ep->name}, {"ready", true}});
}

HttpResponse InferenceApi::ModelConfig(HttpRequest& req) {
  auto resolved = Resolve(req);
  if (auto* r = std::get_if<HttpResponse>(&resolved)) return std::move(*r);
  const auto& ep = std::get<std::shared_ptr<const serving::Endpoint>>(resolved);
  const serving::ServedVersion& v = *ep->primary;
  // Triton's convention: with max_batch_size > 0 the dims leave out the leading batch dim.
  bool batched = !v.request_schema.inputs.empty();
  for (const auto& s : v.request_schema.inputs) batched = batched && !s.shape.empty() && s.shape[0] == -1;
  for (const auto& s : v.request_schema.outputs) batched = batched && !s.shape.empty() && s.shape[0] == -1;
  auto dims = [&](const domain::TensorSpec& s) {
    std::vector<int64_t> d(s.shape.begin() + (batched ? 1 : 0), s.shape.end());
    if (d.empty()) d.push_back(1);
    return d;
  };
  json in = json::array(), out = json::array();
  for (const auto& s : v.request_schema.inputs) {
    in.push_back({{"name", s.name}, {"data_type", TritonType(s.datatype)}, {"dims", dims(s)}});
  }
  for (const auto& s : v.request_schema.outputs) {
    out.push_back({{"name", s.name}, {"data_type", TritonType(s.datatype)}, {"dims", dims(s)}});
  }
  return HttpResponse::Json(200, {{"name", ep->name},
                                  {"platform", PlatformFor(v.framework)},
                                  {"backend", v.framework == "onnx"          ? "onnxruntime"
                                              : v.framework == "torchscript" ? "pytorch"
                                                                             : v.framework},
                                  {"version_policy", {{"specific", {{"versions", {v.version}}}}}},
                                  {"max_batch_size", batched ? options_.max_batch_size : 0},
                                  {"input", in},
                                  {"output", out}});
}

HttpResponse InferenceApi::RepositoryIndex(HttpRequest&) {
  json out = json::array();
  for (const auto& [name, ep] : manager_->snapshot()->endpoints) {
    out.push_back({{"name", name}, {"version", ep->primary->version_text}, {"state", "READY"},
                   {"reason", ""}});
  }
  return HttpResponse::Json(200, out);
}

HttpResponse InferenceApi::RepositoryLoad(HttpRequest& req) {
  // Triton's load is synchronous: deploy the model's `production` alias (else its latest version)
  // to the endpoint of the same name and wait for the outcome.
  if (options_.ungated_deploy_check) {
    if (absl::Status s = options_.ungated_deploy_check(req.Param("model")); !s.ok()) return V2(s);
  }
  serving::DeployRequest dr;
  dr.model = req.Param("model");
  dr.requested_by = req.principal;
  dr.alias = "production";
  dr.on_applied = [&](const domain::Deployment& d) {
    RecordChange(options_.audit, req, "deployment.create", "endpoint/" + d.endpoint, nullptr,
                 DeploymentSummary(d));
  };
  auto d = deployments_->Create(dr);
  if (!d.ok() && absl::IsNotFound(d.status())) {
    dr.alias.clear();
    d = deployments_->Create(dr);
  }
  if (!d.ok()) return V2(d.status());
  while (true) {
    auto cur = deployments_->Get(d->id);
    if (!cur.ok()) return V2(cur.status());
    if (cur->state == "succeeded") return HttpResponse::Json(200, json::object());
    if (cur->state == "failed") {
      return HttpResponse::V2Error(400, absl::StrCat("load failed: ", cur->message));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

HttpResponse InferenceApi::RepositoryUnload(HttpRequest& req) {
  const std::string& endpoint = req.Param("model");
  json before = ServingSummary(*manager_, endpoint);
  absl::Status s = deployments_->Undeploy(endpoint, req.principal);
  if (!s.ok()) return V2(s);
  RecordChange(options_.audit, req, "deployment.undeploy", "endpoint/" + endpoint, before, nullptr);
  return HttpResponse::Json(200, json::object());
}

HttpResponse InferenceApi::Metrics(HttpRequest&) {
  std::string extra =
      "# HELP hotswap_loaded_models Model versions currently published.\n"
      "# TYPE hotswap_loaded_models gauge\n"
      "# HELP hotswap_model_memory_bytes Memory held by a loaded version (approximate).\n"
      "# TYPE hotswap_model_memory_bytes gauge\n";
  auto snap = manager_->snapshot();
  extra += "hotswap_loaded_models " + std::to_string(snap->endpoints.size()) + "\n";
  for (const auto& [name, ep] : snap->endpoints) {
    std::string l;
    serving::AppendLabelValue(name, &l);
    extra += "hotswap_model_memory_bytes{endpoint=\"" + l + "\",model=\"";
    serving::AppendLabelValue(ep->primary->model_name, &extra);
    extra += "\",version=\"" + ep->primary->version_text + "\"} " +
             std::to_string(ep->primary->memory_bytes) + "\n";
  }
  if (options_.extra_metrics) extra += options_.extra_metrics();
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = metrics_->RenderPrometheus(extra);
  return r;
}

HttpResponse InferenceApi::CreateDeployment(HttpRequest& req) {
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return DeploymentError(absl::InvalidArgumentError("request body must be a JSON object"));
  }
  static const std::set<std::string> kAllowed = {
      "model", "version", "alias", "endpoint", "strategy", "steps", "analysis", "deadline_s",
      "batches", "pause_s", "preview_s", "rollback_window_s", "duration_s", "mirror_percent",
      "auto_promote", "min_agreement", "max_mean_abs_diff", "max_mean_rel_diff", "weight",
      "metric", "alpha", "min_samples", "tau_sd", "srm_alpha", "override"};
  for (const auto& item : j.items()) {
    if (!kAllowed.count(item.key())) {
      return DeploymentError(absl::InvalidArgumentError(absl::StrCat(
          "unknown field '", item.key(),
          "'; allowed: alias, endpoint, model, strategy, version, and the rollout options steps, "
          "analysis, deadline_s (canary), batches, pause_s (rolling), preview_s, "
          "rollback_window_s (blue-green), duration_s, mirror_percent, auto_promote, "
          "min_agreement, max_mean_abs_diff, max_mean_rel_diff (shadow), weight, metric, alpha, "
          "min_samples, tau_sd, srm_alpha, duration_s, auto_promote (ab-test), override "
          "(governance)")));
    }
  }
  // {"reason": "..."}: deploy although the validation gates failed (docs/governance.md).
  json override = nullptr;
  if (j.contains("override")) {
    const json& o = j["override"];
    if (!o.is_object() || o.size() != 1 || !o.contains("reason") || !o["reason"].is_string() ||
        o["reason"].get<std::string>().empty() || o["reason"].get<std::string>().size() > 4096) {
      return DeploymentError(absl::InvalidArgumentError(
          "override: expected {\"reason\": \"why the failed validation is accepted\"} with a "
          "non-empty reason of at most 4096 characters"));
    }
    override = o;
    j.erase("override");
  }
  serving::DeployRequest dr;
  dr.options = j;
  dr.requested_by = req.principal;
  if (options_.tracer != nullptr) {  // a traced rollout becomes part of the caller's trace
    if (const std::string* tp = req.Header("traceparent")) dr.traceparent = *tp;
    if (const std::string* ts = req.Header("tracestate")) dr.tracestate = *ts;
  }
  if (!j.contains("model") || !j["model"].is_string()) {
    return DeploymentError(absl::InvalidArgumentError("model: required string"));
  }
  dr.model = j["model"].get<std::string>();
  if (j.contains("version")) {
    if (!j["version"].is_number_integer() || j["version"].get<int64_t>() < 1) {
      return DeploymentError(absl::InvalidArgumentError("version: expected an integer >= 1"));
    }
    dr.version = j["version"].get<int64_t>();
  }
  for (auto [key, dest] : {std::pair{"alias", &dr.alias}, std::pair{"endpoint", &dr.endpoint},
                           std::pair{"strategy", &dr.strategy}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_string()) {
      return DeploymentError(absl::InvalidArgumentError(absl::StrCat(key, ": expected a string")));
    }
    *dest = j[key].get<std::string>();
  }
  if (options_.deploy_guard) {
    if (auto answer = options_.deploy_guard(req, &dr, override)) return std::move(*answer);
  } else if (!override.is_null()) {
    return DeploymentError(absl::InvalidArgumentError(
        "override: this server runs no validation gates; there is nothing to override"));
  }
  // Recorded before the load starts, so the request's entry precedes its outcome's.
  dr.on_applied = [&](const domain::Deployment& d) {
    RecordChange(options_.audit, req, "deployment.create", "endpoint/" + d.endpoint, nullptr,
                 DeploymentSummary(d));
  };
  auto d = deployments_->Create(dr);
  if (!d.ok()) {
    if (absl::IsAlreadyExists(d.status())) {
      return HttpResponse::Error(409, "conflict", ToStd(d.status().message()));
    }
    return DeploymentError(d.status());
  }
  HttpResponse r = HttpResponse::Json(202, domain::ToJson(*d));
  r.headers.emplace_back("Location", "/api/v1/deployments/" + d->id);
  return r;
}

HttpResponse InferenceApi::ControlDeployment(HttpRequest& req) {
  const std::string& id = req.Param("id");
  const std::string& action = req.Param("action");
  json body = json::object();
  if (!req.body.empty()) {
    body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return DeploymentError(absl::InvalidArgumentError("request body must be a JSON object"));
    }
  }
  for (const auto& item : body.items()) {
    if (!(action == "promote" && item.key() == "full")) {
      return DeploymentError(absl::InvalidArgumentError(absl::StrCat(
          "unknown field '", item.key(), "'", action == "promote" ? "; allowed: full" : "")));
    }
  }
  if (body.contains("full") && !body["full"].is_boolean()) {
    return DeploymentError(absl::InvalidArgumentError("full: expected true or false"));
  }
  json before = nullptr;
  if (options_.audit != nullptr) {
    auto old = deployments_->Get(id);
    if (old.ok()) before = DeploymentSummary(*old);
  }
  // Recorded once the action is applied and before the outcome it causes (an abort ends the
  // rollout at once), so the audit log reads "who asked" before "how it ended". A retry is a new
  // deployment: `after` names it, `before` is the rollout it retries.
  serving::DeploymentCallback record = [&](const domain::Deployment& d) {
    json after = DeploymentSummary(d);
    if (body.contains("full")) after["full"] = body["full"];
    RecordChange(options_.audit, req, "deployment." + action, "endpoint/" + d.endpoint, before,
                 after);
  };
  absl::StatusOr<domain::Deployment> d;
  if (action == "promote") {
    d = deployments_->Promote(id, body.value("full", false), req.principal, record);
  } else if (action == "pause") {
    d = deployments_->Pause(id, req.principal, record);
  } else if (action == "resume") {
    d = deployments_->Resume(id, req.principal, record);
  } else if (action == "abort") {
    d = deployments_->Abort(id, req.principal, record);
  } else if (action == "retry") {
    if (options_.ungated_deploy_check) {
      auto old = deployments_->Get(id);
      if (!old.ok()) return DeploymentError(old.status());
      if (absl::Status s = options_.ungated_deploy_check(old->endpoint); !s.ok()) {
        return DeploymentError(s);
      }
    }
    d = deployments_->Retry(id, req.principal, record);
  } else {
    return DeploymentError(absl::NotFoundError(absl::StrCat(
        "unknown action '", action, "' (promote, pause, resume, abort, retry)")));
  }
  if (!d.ok()) {
    if (absl::IsAlreadyExists(d.status())) {
      return HttpResponse::Error(409, "conflict", ToStd(d.status().message()));
    }
    return DeploymentError(d.status());
  }
  return HttpResponse::Json(action == "retry" ? 202 : 200, domain::ToJson(*d));
}

HttpResponse InferenceApi::ListDeployments(HttpRequest& req) {
  int limit = 50;
  std::string text = req.QueryOr("limit", "50");
  if (!absl::SimpleAtoi(text, &limit) || limit < 1 || limit > 1000) {
    return DeploymentError(absl::InvalidArgumentError("limit: expected an integer from 1 to 1000"));
  }
  auto list = deployments_->List(req.QueryOr("endpoint", ""), limit);
  if (!list.ok()) return DeploymentError(list.status());
  json out = {{"deployments", json::array()}};
  for (const auto& d : *list) out["deployments"].push_back(domain::ToJson(d));
  return HttpResponse::Json(200, out);
}

HttpResponse InferenceApi::GetDeployment(HttpRequest& req) {
  auto d = deployments_->Get(req.Param("id"));
  if (!d.ok()) return DeploymentError(d.status());
  return HttpResponse::Json(200, domain::ToJson(*d));
}

HttpResponse InferenceApi::ListEndpoints(HttpRequest&) {
  json out = {{"endpoints", json::array()}};
  for (const auto& [name, ep] : manager_->snapshot()->endpoints) {
    out["endpoints"].push_back(EndpointJson(*ep));
  }
  return HttpResponse::Json(200, out);
}

HttpResponse InferenceApi::DeleteEndpoint(HttpRequest& req) {
  const std::string& endpoint = req.Param("endpoint");
  json before = ServingSummary(*manager_, endpoint);
  absl::Status s = deployments_->Undeploy(endpoint, req.principal);
  if (!s.ok()) return DeploymentError(s);
  RecordChange(options_.audit, req, "deployment.undeploy", "endpoint/" + endpoint, before, nullptr);
  return HttpResponse::NoContent();
}

}  // namespace hotswap::api
