#include "api/monitoring_api.h"

#include <cmath>
#include <tuple>

#include "absl/strings/numbers.h"

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "common/status.h"

namespace hotswap::api {
namespace {

using http::HttpRequest;
using http::HttpResponse;
using Json = nlohmann::json;

absl::StatusOr<Json> ParseBody(const std::string& body) {
  if (body.empty()) return absl::InvalidArgumentError("request body is empty; expected JSON");
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("request body is not valid JSON");
  return j;
}

absl::StatusOr<double> FiniteNumber(const Json& v, const std::string& at) {
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  if (!v.is_number()) return absl::InvalidArgumentError(absl::StrCat(at, ": expected a number"));
  double d = v.get<double>();
  if (!std::isfinite(d)) return absl::InvalidArgumentError(absl::StrCat(at, ": must be finite"));
  return d;
}

absl::StatusOr<monitoring::FeedbackItem> ParseItem(const Json& j, const std::string& at) {
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(at, ": expected an object"));
  monitoring::FeedbackItem item;
  for (const auto& [k, v] : j.items()) {
    if (k != "request_id" && k != "row" && k != "label" && k != "value" && k != "outcome") {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ": unknown field '", k, "'; allowed: request_id, row, label, value, outcome"));
    }
  }
  if (!j.contains("request_id") || !j["request_id"].is_string() ||
      j["request_id"].get<std::string>().empty() || j["request_id"].get<std::string>().size() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat(at, ".request_id: required string of 1 to 256 characters"));
  }
  item.request_id = j["request_id"].get<std::string>();
  if (j.contains("row")) {
    if (!j["row"].is_number_integer() || j["row"].get<int64_t>() < 0 ||
        j["row"].get<int64_t>() > 1'000'000) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".row: expected an integer >= 0"));
    }
    item.row = j["row"].get<int>();
  }
  if (j.contains("label")) {
    const Json& l = j["label"];
    if (l.is_string()) {
      item.label = l.get<std::string>();
    } else if (l.is_number_integer()) {
      item.label = std::to_string(l.get<int64_t>());
    } else if (l.is_boolean()) {
      item.label = std::string(1, l.get<bool>() ? '1' : '0');  // (not "=": g++ 12 -Wrestrict)
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".label: expected a class name (string) or number (integer)"));
    }
  }
  if (j.contains("value")) {
    HS_ASSIGN_OR_RETURN(double v, FiniteNumber(j["value"], at + ".value"));
    item.value = v;
  }
  if (j.contains("outcome")) {
    const Json& o = j["outcome"];
    if (!o.is_object() || o.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ".outcome: expected an object of outcome names to numbers, e.g. {\"converted\": 1}"));
    }
    for (const auto& [name, v] : o.items()) {
      if (name.empty() || name.size() > 128) {
        return absl::InvalidArgumentError(absl::StrCat(at, ".outcome: names are 1 to 128 characters"));
      }
      HS_ASSIGN_OR_RETURN(double d, FiniteNumber(v, absl::StrCat(at, ".outcome.", name)));
      item.outcomes.emplace_back(name, d);
    }
  }
  if (!item.label && !item.value && item.outcomes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(at, ": needs a label (classification), a value (regression) or an outcome"));
  }
  return item;
}

}  // namespace

MonitoringApi::MonitoringApi(Options options, monitoring::Monitor* monitor,
                             serving::ModelManager* manager)
    : options_(options), monitor_(monitor), manager_(manager) {}

void MonitoringApi::RegisterRoutes(http::Router* router) {
  auto bind = [this](HttpResponse (MonitoringApi::*fn)(HttpRequest&)) {
    return [this, fn](HttpRequest& req) { return (this->*fn)(req); };
  };
  router->Add("POST", "/api/v1/feedback", "write", bind(&MonitoringApi::PostFeedback))
      .max_body_bytes = 16 << 20;
  router->Add("GET", "/api/v1/monitoring/{endpoint}", "read", bind(&MonitoringApi::GetEndpoint));
  router->Add("GET", "/api/v1/models/{name}/versions/{version}/profile", "read",
              bind(&MonitoringApi::GetProfile));
  router->Add("GET", "/api/v1/monitoring/{endpoint}/features", "read",
              bind(&MonitoringApi::GetFeatures));
  router->Add("GET", "/api/v1/monitoring/{endpoint}/alerts", "read",
              bind(&MonitoringApi::GetAlerts));
  router->Add("PUT", "/api/v1/monitoring/{endpoint}/alerts", "deploy",
              bind(&MonitoringApi::PutAlerts));
}

HttpResponse MonitoringApi::PostFeedback(HttpRequest& req) {
  auto body = ParseBody(req.body);
  if (!body.ok()) return HttpResponse::Error(body.status());
  std::vector<monitoring::FeedbackItem> items;
  const Json& j = *body;
  if (j.is_object() && j.contains("items")) {
    if (j.size() != 1) {
      return HttpResponse::Error(absl::InvalidArgumentError(
          "a feedback body is {\"items\": [...]} or one item; found fields beside \"items\""));
    }
    if (!j["items"].is_array() || j["items"].empty()) {
      return HttpResponse::Error(absl::InvalidArgumentError("items: expected a non-empty array"));
    }
    if (j["items"].size() > options_.max_feedback_items) {
      return HttpResponse::Error(absl::InvalidArgumentError(absl::StrCat(
          "items: ", j["items"].size(), " items; at most ", options_.max_feedback_items,
          " per request")));
    }
    for (size_t i = 0; i < j["items"].size(); ++i) {
      auto item = ParseItem(j["items"][i], absl::StrCat("items[", i, "]"));
      if (!item.ok()) return HttpResponse::Error(item.status());
      items.push_back(*std::move(item));
    }
  } else {
    auto item = ParseItem(j, "feedback");
    if (!item.ok()) return HttpResponse::Error(item.status());
    items.push_back(*std::move(item));
  }
  monitoring::Monitor::FeedbackReport r = monitor_->ApplyFeedback(items);
  return HttpResponse::Json(200, Json{{"items", items.size()},
                                      {"matched", r.matched},
                                      {"unknown", r.unknown},
                                      {"duplicate", r.duplicate},
                                      {"not_applicable", r.not_applicable}});
}

absl::Status MonitoringApi::CheckEndpoint(const std::string& endpoint) const {
  if (manager_->Find(endpoint) != nullptr) return absl::OkStatus();
  if (!monitor_->windows().Read(endpoint, 3600'000).empty()) return absl::OkStatus();
  return absl::NotFoundError(
      absl::StrCat("endpoint '", endpoint, "' serves nothing and has no monitoring data"));
}

HttpResponse MonitoringApi::GetEndpoint(HttpRequest& req) {
  const std::string& endpoint = req.Param("endpoint");
  auto window = monitoring::ParseWindow(req.QueryOr("window", "5m"));
  if (!window.ok()) return HttpResponse::Error(window.status());
  if (absl::Status s = CheckEndpoint(endpoint); !s.ok()) return HttpResponse::Error(s);
  return HttpResponse::Json(200, monitor_->EndpointJson(endpoint, *window));
}

HttpResponse MonitoringApi::GetFeatures(HttpRequest& req) {
  const std::string& endpoint = req.Param("endpoint");
  auto window = monitoring::ParseWindow(req.QueryOr("window", "5m"));
  if (!window.ok()) return HttpResponse::Error(window.status());
  if (*window > 3600'000) {
    return HttpResponse::Error(absl::InvalidArgumentError(
        "window: feature windows are kept for 1 h; use 1m, 5m or 1h"));
  }
  if (absl::Status s = CheckEndpoint(endpoint); !s.ok()) return HttpResponse::Error(s);
  return HttpResponse::Json(200, monitor_->FeaturesJson(endpoint, *window));
}

HttpResponse MonitoringApi::GetProfile(HttpRequest& req) {
  int64_t version = 0;
  if (!absl::SimpleAtoi(req.Param("version"), &version) || version < 1) {
    return HttpResponse::Error(absl::InvalidArgumentError("version: expected a number >= 1"));
  }
  monitoring::ProfileOptions options;
  for (auto [key, field, max] : {std::tuple{"bins", &options.bins, 1000},
                                 std::tuple{"top_k", &options.top_k, 1000}}) {
    std::string text = req.QueryOr(key, "");
    if (text.empty()) continue;
    int v = 0;
    if (!absl::SimpleAtoi(text, &v) || v < 1 || v > max) {
      return HttpResponse::Error(absl::InvalidArgumentError(
          absl::StrCat(key, ": expected an integer from 1 to ", max)));
    }
    *field = v;
  }
  auto profile = monitor_->ReferenceProfileJson(req.Param("name"), version, options);
  if (!profile.ok()) {
    if (absl::IsNotFound(profile.status())) {
      return HttpResponse::Error(absl::NotFoundError(absl::StrCat(
          "version ", version, " of model '", req.Param("name"),
          "' has no reference dataset (PUT .../datasets/reference with a CSV)")));
    }
    return HttpResponse::Error(profile.status());
  }
  return HttpResponse::Json(200, *profile);
}

HttpResponse MonitoringApi::GetAlerts(HttpRequest& req) {
  const std::string& endpoint = req.Param("endpoint");
  Json rules = Json::array();
  for (const auto& r : monitor_->AlertRules(endpoint)) rules.push_back(monitoring::ToJson(r));
  return HttpResponse::Json(200, Json{{"endpoint", endpoint},
                                      {"rules", rules},
                                      {"events", monitor_->AlertEvents(endpoint)}});
}

HttpResponse MonitoringApi::PutAlerts(HttpRequest& req) {
  const std::string& endpoint = req.Param("endpoint");
  if (absl::Status s = ValidateName(endpoint, "endpoint"); !s.ok()) return HttpResponse::Error(s);
  auto body = ParseBody(req.body);
  if (!body.ok()) return HttpResponse::Error(body.status());
  auto rules = monitoring::AlertRulesFromJson(*body);
  if (!rules.ok()) return HttpResponse::Error(rules.status());
  if (absl::Status s = monitor_->SetAlertRules(endpoint, *rules); !s.ok()) {
    return HttpResponse::Error(s);
  }
  Json out = Json::array();
  for (const auto& r : *rules) out.push_back(monitoring::ToJson(r));
  return HttpResponse::Json(200, Json{{"endpoint", endpoint}, {"rules", out}});
}

}  // namespace hotswap::api
