#include "api/http/http_types.h"

#include "common/status.h"

namespace hotswap::http {

const std::string* HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return &v;
  }
  return nullptr;
}

std::string HttpRequest::QueryOr(const std::string& key, std::string def) const {
  auto it = query.find(key);
  return it == query.end() ? std::move(def) : it->second;
}

const std::string& HttpRequest::Param(const std::string& name) const {
  static const std::string kEmpty;
  auto it = path_params.find(name);
  return it == path_params.end() ? kEmpty : it->second;
}

HttpResponse HttpResponse::Json(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

HttpResponse HttpResponse::Error(const absl::Status& status) {
  HttpResponse r =
      Error(HttpStatusFor(status.code()), StatusCodeName(status.code()), ToStd(status.message()));
  if (absl::IsUnavailable(status)) r.headers.emplace_back("Retry-After", "1");
  return r;
}

HttpResponse HttpResponse::Error(int http_status, std::string_view code,
                                 std::string_view message) {
  nlohmann::json j;
  j["error"] = {{"code", std::string(code)}, {"message", std::string(message)}};
  return Json(http_status, j);
}

HttpResponse HttpResponse::V2Error(int http_status, std::string_view message) {
  nlohmann::json j;
  j["error"] = std::string(message);
  return Json(http_status, j);
}

HttpResponse HttpResponse::NoContent() {
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

}  // namespace hotswap::http
