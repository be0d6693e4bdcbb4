#include "tracing/span.h"

#include <chrono>
#include <random>
#include <thread>

namespace hotswap::tracing {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void AppendHex(uint64_t v, int digits, std::string* out) {
  for (int i = digits - 1; i >= 0; --i) out->push_back(kHex[(v >> (i * 4)) & 0xf]);
}

// xoshiro256** (Blackman & Vigna), one per thread, seeded from std::random_device.
class Xoshiro {
 public:
  Xoshiro() {
    std::random_device rd;
    uint64_t seed = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                    std::hash<std::thread::id>()(std::this_thread::get_id());
    for (uint64_t& s : s_) s = SplitMix(&seed);
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t SplitMix(uint64_t* x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t s_[4];
};

Xoshiro& Rng() {
  thread_local Xoshiro rng;
  return rng;
}

// Lower-case hex digit value, or -1 (upper case is invalid in traceparent).
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool ParseHex(std::string_view s, uint64_t* out) {
  uint64_t v = 0;
  for (char c : s) {
    int d = HexValue(c);
    if (d < 0) return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

}  // namespace

std::string TraceId::Hex() const {
  std::string out;
  out.reserve(32);
  AppendHex(hi, 16, &out);
  AppendHex(lo, 16, &out);
  return out;
}

std::string SpanIdHex(SpanId id) {
  std::string out;
  out.reserve(16);
  AppendHex(id, 16, &out);
  return out;
}

uint64_t RandomU64() { return Rng().Next(); }

TraceId NewTraceId() {
  TraceId t;
  while (!t.valid()) t = {Rng().Next(), Rng().Next()};
  return t;
}

SpanId NewSpanId() {
  SpanId s = 0;
  while (s == 0) s = Rng().Next();
  return s;
}

std::optional<SpanContext> ParseTraceparent(std::string_view v) {
  // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55.
  constexpr size_t kLength = 55;
  if (v.size() < kLength) return std::nullopt;
  uint64_t version = 0;
  if (!ParseHex(v.substr(0, 2), &version) || version == 0xff) return std::nullopt;
  if (version == 0 && v.size() != kLength) return std::nullopt;
  if (v.size() > kLength && v[kLength] != '-') return std::nullopt;  // future versions
  if (v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  SpanContext c;
  uint64_t flags = 0;
  if (!ParseHex(v.substr(3, 16), &c.trace_id.hi) || !ParseHex(v.substr(19, 16), &c.trace_id.lo) ||
      !ParseHex(v.substr(36, 16), &c.span_id) || !ParseHex(v.substr(53, 2), &flags)) {
    return std::nullopt;
  }
  if (!c.trace_id.valid() || c.span_id == 0) return std::nullopt;
  c.flags = static_cast<uint8_t>(flags);
  return c;
}

std::string FormatTraceparent(const TraceId& trace_id, SpanId span_id, uint8_t flags) {
  std::string out;
  out.reserve(55);
  out += "00-";
  AppendHex(trace_id.hi, 16, &out);
  AppendHex(trace_id.lo, 16, &out);
  out.push_back('-');
  AppendHex(span_id, 16, &out);
  out.push_back('-');
  AppendHex(flags, 2, &out);
  return out;
}

void Span::Set(std::string_view key, AttributeValue value) {
  for (Attribute& a : attributes) {
    if (a.key == key) {
      a.value = std::move(value);
      return;
    }
  }
  attributes.push_back({std::string(key), std::move(value)});
}

const AttributeValue* Span::Find(std::string_view key) const {
  for (const Attribute& a : attributes) {
    if (a.key == key) return &a.value;
  }
  return nullptr;
}

uint64_t UnixNanosNow() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace hotswap::tracing
