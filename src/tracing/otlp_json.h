// OTLP/HTTP JSON encoding of spans: the body of a POST to a collector's /v1/traces, an
// ExportTraceServiceRequest in the protobuf JSON mapping with OTLP's exceptions (ids are hex
// strings, not base64; enums are numbers; 64-bit integers and nanosecond times are decimal
// strings). See docs/tracing.md for an example body.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "tracing/span.h"

namespace hotswap::tracing {

// One span as an OTLP JSON object.
nlohmann::json SpanToOtlpJson(const Span& span);

// {"resourceSpans":[{"resource":{"attributes":[service.name]},
//   "scopeSpans":[{"scope":{"name":scope_name},"spans":[...]}]}]}
std::string EncodeOtlpJson(const std::vector<Span>& spans, std::string_view service_name,
                           std::string_view scope_name = "hotswap");

}  // namespace hotswap::tracing
