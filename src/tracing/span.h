// Span records and W3C Trace Context (https://www.w3.org/TR/trace-context/) for HotSwap's own
// small OpenTelemetry implementation (docs/tracing.md): trace and span ids, the `traceparent`
// header (parse and format), and the Span value that the exporter encodes as OTLP/HTTP JSON.
//
// Plain values and free functions. The id generators use a thread-local RNG and are thread-safe;
// a Span belongs to one thread at a time.
//
// Example:
//   std::optional<SpanContext> parent = ParseTraceparent(header);   // nullopt: start a new trace
//   Span s;
//   s.trace_id = parent ? parent->trace_id : NewTraceId();
//   s.parent_span_id = parent ? parent->span_id : 0;
//   s.span_id = NewSpanId();
//   s.SetString("http.request.method", "POST");
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace hotswap::tracing {

// 128-bit trace id; all-zero is invalid (W3C).
struct TraceId {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool valid() const { return hi != 0 || lo != 0; }
  std::string Hex() const;  // 32 lower-case hex digits
  friend bool operator==(const TraceId&, const TraceId&) = default;
};

// 64-bit span id; 0 is invalid (W3C) and means "no parent" in a Span.
using SpanId = uint64_t;
std::string SpanIdHex(SpanId id);  // 16 lower-case hex digits

// Fast, non-cryptographic ids from a thread-local xoshiro256** seeded from the OS; never zero.
TraceId NewTraceId();
SpanId NewSpanId();
// A uniformly distributed 64-bit value from the same generator (sampling).
uint64_t RandomU64();

inline constexpr uint8_t kSampledFlag = 0x01;

// What a `traceparent` (and `tracestate`) header carries.
struct SpanContext {
  TraceId trace_id;
  SpanId span_id = 0;     // the caller's span: the parent of ours
  uint8_t flags = 0;      // bit 0: sampled
  std::string trace_state;  // the `tracestate` header, passed through unchanged
  bool sampled() const { return (flags & kSampledFlag) != 0; }
};

// Parses a `traceparent` value: "VV-<32 hex>-<16 hex>-FF", lower-case hex only. Version 00 must
// be exactly 55 characters; a higher version (not ff) may carry more fields after a '-' and its
// first four are read as version 00's (the spec's forward compatibility). Returns nullopt for
// anything invalid — wrong lengths or separators, upper-case or non-hex digits, version ff, an
// all-zero trace id or parent id — and the caller then starts a new trace.
std::optional<SpanContext> ParseTraceparent(std::string_view value);
// "00-<trace id>-<span id>-<flags>".
std::string FormatTraceparent(const TraceId& trace_id, SpanId span_id, uint8_t flags);

// OTLP enums (opentelemetry/proto/trace/v1/trace.proto), encoded as their numbers in JSON.
enum class SpanKind : int { kInternal = 1, kServer = 2, kClient = 3, kProducer = 4, kConsumer = 5 };
enum class StatusCode : int { kUnset = 0, kOk = 1, kError = 2 };

using AttributeValue = std::variant<std::string, int64_t, double, bool>;
struct Attribute {
  std::string key;
  AttributeValue value;
};

// One finished (or finishing) operation.
struct Span {
  TraceId trace_id;
  SpanId span_id = 0;
  SpanId parent_span_id = 0;  // 0 = a root span
  std::string trace_state;
  uint8_t flags = kSampledFlag;
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  uint64_t start_unix_nanos = 0;
  uint64_t end_unix_nanos = 0;
  std::vector<Attribute> attributes;
  StatusCode status = StatusCode::kUnset;
  std::string status_message;

  // Adds or replaces an attribute (named setters: no surprising bool/int overloads).
  void Set(std::string_view key, AttributeValue value);
  void SetString(std::string_view key, std::string_view value) {
    Set(key, AttributeValue(std::string(value)));
  }
  void SetInt(std::string_view key, int64_t value) { Set(key, AttributeValue(value)); }
  void SetDouble(std::string_view key, double value) { Set(key, AttributeValue(value)); }
  void SetBool(std::string_view key, bool value) { Set(key, AttributeValue(value)); }
  // nullptr when absent.
  const AttributeValue* Find(std::string_view key) const;
  void SetError(std::string message) {
    status = StatusCode::kError;
    status_message = std::move(message);
  }
};

// Nanoseconds since the Unix epoch, now (wall clock).
uint64_t UnixNanosNow();

}  // namespace hotswap::tracing
