// MonitoringApi: the monitoring routes under /api/v1 — ground-truth feedback, per-endpoint
// monitoring windows, alert rules and events. Handlers only call the thread-safe Monitor (and
// the ModelManager's snapshot to tell a known endpoint from an unknown one); errors are the
// management style `{"error": {"code", "message"}}`, and a refused request changes nothing (a
// feedback post with one bad item credits none of its items).
//
// Thread-safe once registered.
#pragma once

#include "api/http/router.h"
#include "monitoring/monitor.h"
#include "serving/model_manager.h"

namespace hotswap::api {

class MonitoringApi {
 public:
  struct Options {
    size_t max_feedback_items = 10'000;  // per POST
  };
  MonitoringApi(Options options, monitoring::Monitor* monitor, serving::ModelManager* manager);
  void RegisterRoutes(http::Router* router);

 private:
  http::HttpResponse PostFeedback(http::HttpRequest& req);
  http::HttpResponse GetEndpoint(http::HttpRequest& req);
  http::HttpResponse GetFeatures(http::HttpRequest& req);
  http::HttpResponse GetProfile(http::HttpRequest& req);
  http::HttpResponse GetAlerts(http::HttpRequest& req);
  http::HttpResponse PutAlerts(http::HttpRequest& req);
  // NotFound when the endpoint neither serves now nor ever served a request.
  absl::Status CheckEndpoint(const std::string& endpoint) const;

  Options options_;
  monitoring::Monitor* monitor_;
  serving::ModelManager* manager_;
};

}  // namespace hotswap::api
