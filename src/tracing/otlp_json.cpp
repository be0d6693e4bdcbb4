#include "tracing/otlp_json.h"

#include <charconv>
#include <cmath>

namespace hotswap::tracing {

using nlohmann::json;

namespace {

// Appends `s` as a JSON string: quotes, escapes, and invalid UTF-8 replaced by U+FFFD (names and
// attributes come from requests).
void AppendString(std::string_view s, std::string* out) {
  out->push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out->push_back('\\');
        out->push_back(static_cast<char>(c));
      } else if (c < 0x20) {
        static constexpr char kHex[] = "0123456789abcdef";
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xf]);
      } else {
        out->push_back(static_cast<char>(c));
      }
      ++p;
      continue;
    }
    // A multi-byte sequence: its length from the lead byte, then continuation bytes, no overlong
    // forms, no surrogates, nothing above U+10FFFF.
    int n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    bool ok = n > 0 && end - p >= n;
    for (int i = 1; ok && i < n; ++i) ok = (p[i] & 0xc0) == 0x80;
    if (ok && n == 3) ok = !(c == 0xe0 && p[1] < 0xa0) && !(c == 0xed && p[1] >= 0xa0);
    if (ok && n == 4) ok = !(c == 0xf0 && p[1] < 0x90) && !(c == 0xf4 && p[1] >= 0x90);
    if (ok) {
      out->append(reinterpret_cast<const char*>(p), n);
      p += n;
    } else {
      out->append("\xef\xbf\xbd");  // U+FFFD
      ++p;
    }
  }
  out->push_back('"');
}

void AppendUint(uint64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

void AppendValue(const AttributeValue& v, std::string* out) {
  if (const auto* s = std::get_if<std::string>(&v)) {
    out->append("{\"stringValue\":");
    AppendString(*s, out);
  } else if (const auto* i = std::get_if<int64_t>(&v)) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), *i);
    out->append("{\"intValue\":\"").append(buf, r.ptr).push_back('"');
  } else if (const auto* b = std::get_if<bool>(&v)) {
    out->append(*b ? "{\"boolValue\":true" : "{\"boolValue\":false");
  } else {
    double d = std::get<double>(v);
    out->append("{\"doubleValue\":");
    if (std::isnan(d)) {
      out->append("\"NaN\"");
    } else if (std::isinf(d)) {
      out->append(d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    } else {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof(buf), d);
      out->append(buf, r.ptr);
    }
  }
  out->push_back('}');
}

void AppendSpan(const Span& s, std::string* out) {
  out->append("{\"traceId\":\"").append(s.trace_id.Hex());
  out->append("\",\"spanId\":\"").append(SpanIdHex(s.span_id)).push_back('"');
  if (s.parent_span_id != 0) {
    out->append(",\"parentSpanId\":\"").append(SpanIdHex(s.parent_span_id)).push_back('"');
  }
  if (!s.trace_state.empty()) {
    out->append(",\"traceState\":");
    AppendString(s.trace_state, out);
  }
  out->append(",\"name\":");
  AppendString(s.name, out);
  out->append(",\"kind\":");
  AppendUint(static_cast<uint64_t>(s.kind), out);
  out->append(",\"startTimeUnixNano\":\"");
  AppendUint(s.start_unix_nanos, out);
  out->append("\",\"endTimeUnixNano\":\"");
  AppendUint(s.end_unix_nanos, out);
  out->append("\",\"attributes\":[");
  for (size_t i = 0; i < s.attributes.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append("{\"key\":");
    AppendString(s.attributes[i].key, out);
    out->append(",\"value\":");
    AppendValue(s.attributes[i].value, out);
    out->push_back('}');
  }
  out->append("],\"flags\":");
  AppendUint(s.flags, out);
  out->append(",\"status\":{\"code\":");
  AppendUint(static_cast<uint64_t>(s.status), out);
  if (!s.status_message.empty()) {
    out->append(",\"message\":");
    AppendString(s.status_message, out);
  }
  out->append("}}");
}

}  // namespace

json SpanToOtlpJson(const Span& span) {
  std::string out;
  AppendSpan(span, &out);
  return json::parse(out);
}

std::string EncodeOtlpJson(const std::vector<Span>& spans, std::string_view service_name,
                           std::string_view scope_name) {
  // Written by hand, not through nlohmann::json: the exporter encodes every span the server
  // records, and building a DOM per span cost several times more CPU (bench/results/tracing.md).
  std::string out;
  out.reserve(256 + spans.size() * 512);
  out.append("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
             "\"value\":{\"stringValue\":");
  AppendString(service_name, &out);
  out.append("}}]},\"scopeSpans\":[{\"scope\":{\"name\":");
  AppendString(scope_name, &out);
  out.append("},\"spans\":[");
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendSpan(spans[i], &out);
  }
  out.append("]}]}]}");
  return out;
}

}  // namespace hotswap::tracing
