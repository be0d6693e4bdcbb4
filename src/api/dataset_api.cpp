#include "api/dataset_api.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/names.h"
#include "common/status.h"

namespace hotswap::api {

using http::HttpRequest;
using http::HttpResponse;

nlohmann::json DatasetJson(const registry::VersionDataset& d) {
  return {{"model", d.model_name},
          {"version", d.version},
          {"kind", d.kind},
          {"sha256", d.sha256},
          {"size_bytes", d.size_bytes},
          {"rows", d.rows},
          {"columns", d.columns},
          {"created_by", d.created_by},
          {"created_at", FormatTimestamp(d.created_at_ms)}};
}

void DatasetApi::RegisterRoutes(http::Router* router) {
  const std::string base = "/api/v1/models/{name}/versions/{version}/datasets";
  router->Add("PUT", base + "/{kind}", "write", [this](HttpRequest& r) { return Put(r); })
      .max_body_bytes = datasets_->options().max_dataset_bytes;
  router->Add("GET", base + "/{kind}", "read", [this](HttpRequest& r) { return Get(r); });
  router->Add("GET", base, "read", [this](HttpRequest& r) { return List(r); });
}

absl::StatusOr<domain::ModelVersion> DatasetApi::ResolveVersion(const HttpRequest& req) {
  const std::string& name = req.Param("name");
  const std::string& v = req.Param("version");
  int64_t number = 0;
  if (absl::SimpleAtoi(v, &number)) {
    if (number < 1) return absl::InvalidArgumentError(absl::StrCat("version: '", v, "' must be >= 1"));
    return registry_->GetVersion(name, number);
  }
  HS_RETURN_IF_ERROR(ValidateName(v, "version (number or alias)"));
  return registry_->GetVersionByAlias(name, v);
}

HttpResponse DatasetApi::Put(HttpRequest& req) {
  const std::string& kind = req.Param("kind");
  if (absl::Status s = registry::CheckDatasetKind(kind); !s.ok()) return HttpResponse::Error(s);
  auto v = ResolveVersion(req);
  if (!v.ok()) return HttpResponse::Error(v.status());
  auto put = datasets_->Put(*v, kind, req.body, req.principal);
  if (!put.ok()) {
    log::Info("dataset refused", {{"model", v->model_name}, {"version", static_cast<long long>(v->version)},
                                  {"kind", kind}, {"reason", std::string(put.status().message())}});
    return HttpResponse::Error(put.status());
  }
  log::Info("dataset stored", {{"model", v->model_name}, {"version", static_cast<long long>(v->version)},
                               {"kind", kind}, {"sha256", put->dataset.sha256},
                               {"rows", static_cast<long long>(put->dataset.rows)},
                               {"by", req.principal}});
  HttpResponse r = HttpResponse::Json(put->replaced ? 200 : 201, DatasetJson(put->dataset));
  r.headers.emplace_back("Location", absl::StrCat("/api/v1/models/", v->model_name, "/versions/",
                                                  v->version, "/datasets/", kind));
  return r;
}

HttpResponse DatasetApi::Get(HttpRequest& req) {
  const std::string& kind = req.Param("kind");
  if (absl::Status s = registry::CheckDatasetKind(kind); !s.ok()) return HttpResponse::Error(s);
  auto v = ResolveVersion(req);
  if (!v.ok()) return HttpResponse::Error(v.status());
  auto d = datasets_->Get(v->model_name, v->version, kind);
  if (!d.ok()) return HttpResponse::Error(d.status());
  auto bytes = datasets_->ReadBytes(*d);
  if (!bytes.ok()) {
    const absl::Status& s = bytes.status();
    log::Error("dataset failed verification; refusing to serve it",
               {{"model", d->model_name}, {"version", static_cast<long long>(d->version)},
                {"kind", kind}, {"sha256", d->sha256}, {"error", std::string(s.message())}});
    const int code = absl::IsDataLoss(s) || absl::IsNotFound(s) ? 500 : HttpStatusFor(s.code());
    return HttpResponse::Error(code, StatusCodeName(s.code()),
                               absl::StrCat("the ", kind, " dataset of ", d->model_name,
                                            " version ", d->version, " failed verification: ",
                                            s.message()));
  }
  HttpResponse r;
  r.status = 200;
  r.content_type = "text/csv";
  r.body = *std::move(bytes);
  r.headers.emplace_back("X-Content-SHA256", d->sha256);
  return r;
}

HttpResponse DatasetApi::List(HttpRequest& req) {
  auto v = ResolveVersion(req);
  if (!v.ok()) return HttpResponse::Error(v.status());
  auto list = datasets_->List(v->model_name, v->version);
  if (!list.ok()) return HttpResponse::Error(list.status());
  nlohmann::json out = {{"datasets", nlohmann::json::array()}};
  for (const auto& d : *list) out["datasets"].push_back(DatasetJson(d));
  return HttpResponse::Json(200, out);
}

}  // namespace hotswap::api
