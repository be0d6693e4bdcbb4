// ExplainApi: feature attributions for a served model's predictions (docs/explanations.md).
//
//   POST /v2/models/{model}/explain
//   POST /v2/models/{model}/versions/{version}/explain
//
// The body is a KServe V2 inference request with one 2-D FP32/FP64 input [rows, features], plus
// optional request `parameters`: method ("auto" | "kernel_shap" | "tree_shap"), nsamples, seed,
// max_background_rows, background (rows of numbers), feature_names. The answer, per explained
// output (every FP32/FP64 output, or those named in "outputs"), has the shape Alibi's and
// KServe's explainers use:
//   {"model_name": "m", "model_version": "3", "method": "exact|kernel_shap|tree_shap",
//    "explanations": [{"output": "y", "shap_values": [[[...features...] per row] per column],
//                      "expected_value": [per column], "raw_prediction": [[per column] per row],
//                      "feature_names": [...]}],
//    "parameters": {"nsamples": ..., "seed": ..., "coalitions": ..., "background_rows": ...,
//                   "background_source": "dataset:background|dataset:reference|request", ...}}
//
// Methods. tree_shap: the backend's exact attributions (runtime::FeatureContributions — XGBoost's
// path-dependent TreeSHAP, in margin space); chosen by "auto" when the backend offers them.
// Otherwise Kernel SHAP (explain/kernel_shap.h) evaluated through the loaded version's own
// LoadedModel::Run in batches — the same runtime path as inference, never a load; "exact" when
// every coalition fits the budget. Background: the version's `background` dataset, else its
// `reference` dataset (governance/version_datasets.h; parsed once per dataset digest and kept in
// a small cache), else `parameters.background`; summarised to max_background_rows.
//
// Limits (Options): rows per request, features (Kernel SHAP), nsamples, model rows per request (rows x coalitions x
// background) — 400 naming the limit when exceeded; at most `max_concurrent` explanations at once
// and a server that is not ready — 503 with Retry-After. Errors are V2's {"error": "..."}: 400
// malformed, 404 model/version not loaded, 500 engine failure. Explaining changes nothing.
//
// Thread-safe once registered.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "api/http/router.h"
#include "explain/kernel_shap.h"
#include "governance/version_datasets.h"
#include "serving/model_manager.h"

namespace hotswap::api {

class ExplainApi {
 public:
  struct Options {
    int64_t max_rows = 64;                   // explained rows per request
    int64_t max_features = 256;              // Kernel SHAP's regression is O(features^2) per coalition
    int64_t max_nsamples = 100'000;          // coalition budget a request may ask for
    int64_t max_background_rows = 100;       // background summarised to this many rows by default
    int64_t max_background_rows_limit = 1000;  // what parameters.max_background_rows may ask for
    int64_t max_request_background_rows = 10'000;  // rows of parameters.background
    int64_t max_model_rows = 2'000'000;      // model rows one request may evaluate
    int64_t max_batch_rows = 4096;           // rows per LoadedModel::Run
    // Explanations running at once; 503 beyond. Each one occupies the HTTP worker thread it
    // arrived on until it is done (the server has one worker per core by default), so this
    // stays below the worker count: the other workers keep serving /infer.
    int max_concurrent = 1;
    int64_t max_body_bytes = 8LL << 20;      // request bodies
  };
  using ReadinessProbe = std::function<absl::Status()>;

  ExplainApi(Options options, serving::ModelManager* manager,
             governance::VersionDatasets* datasets, ReadinessProbe readiness);

  void RegisterRoutes(http::Router* router);

 private:
  http::HttpResponse Explain(http::HttpRequest& req);
  // The version's background (else reference) dataset as a matrix of its first `features`
  // columns; NotFound when it has neither. Cached by digest.
  struct DatasetBackground {
    std::shared_ptr<const explain::Matrix> data;
    std::vector<std::string> columns;
    std::string source;  // "dataset:background" | "dataset:reference"
  };
  absl::StatusOr<DatasetBackground> BackgroundFor(const std::string& model, int64_t version,
                                                  int64_t features);

  const Options options_;
  serving::ModelManager* manager_;
  governance::VersionDatasets* datasets_;
  ReadinessProbe readiness_;
  std::atomic<int> running_{0};

  absl::Mutex cache_mu_;
  // digest -> parsed feature matrix (all rows); at most kCacheEntries.
  std::map<std::string, std::shared_ptr<const explain::Matrix>> cache_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace hotswap::api
