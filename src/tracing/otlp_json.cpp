#include "tracing/otlp_json.h"

#include <cmath>

namespace hotswap::tracing {

using nlohmann::json;

namespace {

json AnyValue(const AttributeValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return {{"stringValue", *s}};
  if (const auto* i = std::get_if<int64_t>(&v)) return {{"intValue", std::to_string(*i)}};
  if (const auto* b = std::get_if<bool>(&v)) return {{"boolValue", *b}};
  double d = std::get<double>(v);
  if (std::isnan(d)) return {{"doubleValue", "NaN"}};
  if (std::isinf(d)) return {{"doubleValue", d > 0 ? "Infinity" : "-Infinity"}};
  return {{"doubleValue", d}};
}

json Attributes(const std::vector<Attribute>& attributes) {
  json out = json::array();
  for (const Attribute& a : attributes) out.push_back({{"key", a.key}, {"value", AnyValue(a.value)}});
  return out;
}

}  // namespace

json SpanToOtlpJson(const Span& s) {
  json j = {{"traceId", s.trace_id.Hex()},
            {"spanId", SpanIdHex(s.span_id)},
            {"name", s.name},
            {"kind", static_cast<int>(s.kind)},
            {"startTimeUnixNano", std::to_string(s.start_unix_nanos)},
            {"endTimeUnixNano", std::to_string(s.end_unix_nanos)},
            {"attributes", Attributes(s.attributes)},
            {"flags", static_cast<int>(s.flags)}};
  if (s.parent_span_id != 0) j["parentSpanId"] = SpanIdHex(s.parent_span_id);
  if (!s.trace_state.empty()) j["traceState"] = s.trace_state;
  json status = {{"code", static_cast<int>(s.status)}};
  if (!s.status_message.empty()) status["message"] = s.status_message;
  j["status"] = std::move(status);
  return j;
}

std::string EncodeOtlpJson(const std::vector<Span>& spans, std::string_view service_name,
                           std::string_view scope_name) {
  json list = json::array();
  for (const Span& s : spans) list.push_back(SpanToOtlpJson(s));
  json resource = {{"attributes", json::array({{{"key", "service.name"},
                                                {"value", {{"stringValue", service_name}}}}})}};
  json body = {{"resourceSpans",
                json::array({{{"resource", std::move(resource)},
                              {"scopeSpans", json::array({{{"scope", {{"name", scope_name}}},
                                                           {"spans", std::move(list)}}})}}})}};
  // Span names and attributes come from requests: replace invalid UTF-8 rather than throw.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace hotswap::tracing
