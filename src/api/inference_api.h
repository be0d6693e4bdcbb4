// InferenceApi: the KServe V2 / Open Inference Protocol routes under /v2 (health, server and
// model metadata, infer with JSON and Triton's binary tensor extension, Triton's model config for
// perf_analyzer, repository index/load/unload) and /metrics, plus the deployment routes of the
// management API (/api/v1/deployments, /api/v1/endpoints).
//
// The infer path takes no lock and makes no registry query: it resolves the endpoint from the
// ModelManager's current snapshot (a shared handle that keeps the version alive until the
// request ends), applies admission control (503 with Retry-After beyond
// `max_inflight_per_endpoint`), parses, preprocesses, validates, runs, encodes, and records
// metrics in per-thread stripes. Every response names the version that served it
// (`model_version` in the body, `x-hotswap-model-version` header).
//
// Errors on /v2 use the protocol's `{"error": "..."}`: 404 unknown model/version, 503
// unavailable (not ready, admission full), 400 everything malformed, 500 engine failures.
//
// Thread-safe once registered.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <variant>
#include <string>

#include "api/http/router.h"
#include "governance/audit_log.h"
#include "runtime/backend.h"
#include "monitoring/monitor.h"
#include "serving/deployment_service.h"
#include "serving/metrics.h"
#include "serving/model_manager.h"
#include "serving/shadow.h"
#include "tracing/tracer.h"

namespace hotswap::api {

class InferenceApi {
 public:
  struct Options {
    int max_inflight_per_endpoint = 256;          // beyond this: 503 + Retry-After
    int64_t max_infer_body_bytes = 64LL << 20;    // infer request bodies
    int max_batch_size = 64;                      // reported in /config for batch-dim models
    std::string server_version = "0.1.0";
    // Shadow traffic goes here (nullptr: no mirroring).
    serving::ShadowMirror* mirror = nullptr;
    // More Prometheus text for /metrics (e.g. the artifact store's counters).
    std::function<std::string()> extra_metrics;
    // Online monitoring: successful predictions are staged here for feedback joins (nullptr:
    // monitoring off).
    monitoring::Monitor* monitor = nullptr;
    // Deployment changes made through the API (create, undeploy, rollout control, repository
    // load/unload) are recorded here after they succeed; nullptr = no audit log.
    governance::AuditLog* audit = nullptr;
    // Tracing (docs/tracing.md): infer requests get a SERVER span with `route`, `preprocess`
    // and `run` children, and every infer response a `traceparent`; nullptr = tracing off (the
    // request path then pays one null check).
    tracing::Tracer* tracer = nullptr;
    // Governance (api/governance_api.h): called for every POST /api/v1/deployments after the body
    // is parsed, with the deploy request and the body's `override` (null or {"reason": "..."}).
    // It may answer instead of deploying (422 a failed validation, 202 held for approval) and may
    // pin the request's version; nullopt = deploy. Unset = no gates, no approvals.
    std::function<std::optional<http::HttpResponse>(http::HttpRequest&, serving::DeployRequest*,
                                                    const nlohmann::json&)>
        deploy_guard;
    // Deploys that cannot go through deploy_guard (Triton's synchronous repository load, a
    // rollout's retry) ask this first: non-OK (FailedPrecondition) when `endpoint` is gated by
    // approvals or validation, and the deploy is refused. Unset = allowed.
    std::function<absl::Status(const std::string& endpoint)> ungated_deploy_check;
  };
  using ReadinessProbe = std::function<absl::Status()>;

  InferenceApi(Options options, serving::ModelManager* manager, serving::DeploymentService* deployments,
               serving::MetricsRegistry* metrics, const runtime::BackendRegistry* backends,
               ReadinessProbe readiness);

  void RegisterRoutes(http::Router* router);

 private:
  http::HttpResponse Infer(http::HttpRequest& req);
  // The infer handler proper; `trace` is the request's sampled trace, or nullptr.
  http::HttpResponse InferImpl(http::HttpRequest& req, tracing::RequestTrace* trace);
  http::HttpResponse ModelMetadata(http::HttpRequest& req);
  http::HttpResponse ModelReady(http::HttpRequest& req);
  http::HttpResponse ModelConfig(http::HttpRequest& req);
  http::HttpResponse RepositoryIndex(http::HttpRequest& req);
  http::HttpResponse RepositoryLoad(http::HttpRequest& req);
  http::HttpResponse RepositoryUnload(http::HttpRequest& req);
  http::HttpResponse Metrics(http::HttpRequest& req);
  http::HttpResponse CreateDeployment(http::HttpRequest& req);
  http::HttpResponse ListDeployments(http::HttpRequest& req);
  http::HttpResponse GetDeployment(http::HttpRequest& req);
  // POST /api/v1/deployments/{id}/{promote|pause|resume|abort|retry}
  http::HttpResponse ControlDeployment(http::HttpRequest& req);
  http::HttpResponse ListEndpoints(http::HttpRequest& req);
  http::HttpResponse DeleteEndpoint(http::HttpRequest& req);

  // The served version for {model}[/versions/{version}], or a V2 error response.
  std::variant<std::shared_ptr<const serving::Endpoint>, http::HttpResponse> Resolve(
      const http::HttpRequest& req) const;

  Options options_;
  serving::ModelManager* manager_;
  serving::DeploymentService* deployments_;
  serving::MetricsRegistry* metrics_;
  const runtime::BackendRegistry* backends_;
  ReadinessProbe readiness_;
};

}  // namespace hotswap::api
