// DatasetApi: the REST routes of a version's datasets (holdout, reference, background) — see
// governance/version_datasets.h for what is stored and how.
//
//   PUT /api/v1/models/{name}/versions/{version}/datasets/{kind}   (write) CSV body
//       201 when created, 200 when it replaced the version's dataset of that kind
//   GET /api/v1/models/{name}/versions/{version}/datasets/{kind}   (read)  the CSV, verified
//   GET /api/v1/models/{name}/versions/{version}/datasets          (read)  the list
// {version} is a number or an alias. Errors are the management API's
// `{"error": {"code": "...", "message": "..."}}`: 400 bad kind or CSV (with the line and
// column), 404 unknown model/version/dataset, 413 over the size limit, 500 data_loss when the
// stored bytes no longer match their digest; a refused PUT stores nothing.
//
// Thread-safe once registered.
#pragma once

#include "api/http/router.h"
#include "governance/version_datasets.h"
#include "registry/model_registry.h"

namespace hotswap::api {

class DatasetApi {
 public:
  DatasetApi(registry::ModelRegistry* registry, governance::VersionDatasets* datasets)
      : registry_(registry), datasets_(datasets) {}

  void RegisterRoutes(http::Router* router);

 private:
  http::HttpResponse Put(http::HttpRequest& req);
  http::HttpResponse Get(http::HttpRequest& req);
  http::HttpResponse List(http::HttpRequest& req);
  absl::StatusOr<domain::ModelVersion> ResolveVersion(const http::HttpRequest& req);

  registry::ModelRegistry* registry_;
  governance::VersionDatasets* datasets_;
};

// The JSON form of a dataset record (the list's items and the PUT response).
nlohmann::json DatasetJson(const registry::VersionDataset& d);

}  // namespace hotswap::api
