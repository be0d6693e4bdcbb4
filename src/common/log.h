// Structured logging: one JSON object per line on stderr (or a sink set by tests), e.g.
//   {"ts":"2026-11-24T01:02:03.456Z","level":"info","msg":"model created","request_id":"r-1f",
//    "model":"iris"}
// Every line written while a ScopedRequestId is alive on the thread carries "request_id".
// Thread-safe: lines are formatted per thread and written with one locked write each.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace hotswap::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// A key and an already-stringified value; numbers are written as JSON numbers when `raw`.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, long long v) : key(k), value(std::to_string(v)), raw(true) {}
  Field(std::string_view k, long v) : key(k), value(std::to_string(v)), raw(true) {}
  Field(std::string_view k, int v) : key(k), value(std::to_string(v)), raw(true) {}
  Field(std::string_view k, unsigned long v) : key(k), value(std::to_string(v)), raw(true) {}
  Field(std::string_view k, double v) : key(k), value(std::to_string(v)), raw(true) {}
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), raw(true) {}
  std::string key;
  std::string value;
  bool raw = false;
};

void SetLevel(Level level);
Level GetLevel();
// Parses "debug|info|warn|error"; returns false on anything else.
bool ParseLevel(std::string_view text, Level* out);

// Redirects output (tests). `sink` receives each complete line without the newline; nullptr
// restores stderr.
using Sink = void (*)(const std::string& line);
void SetSink(Sink sink);

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});
inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kDebug, m, f); }
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kInfo, m, f); }
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kWarn, m, f); }
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kError, m, f); }

// Appends `s` to `out` as the inside of a JSON string (quotes not included).
void AppendJsonEscaped(std::string_view s, std::string* out);

// Sets the request id of log lines written on this thread for the object's lifetime.
class ScopedRequestId {
 public:
  explicit ScopedRequestId(std::string_view id);
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  std::string previous_;
};

// The request id of the current thread, or "" outside a request.
const std::string& CurrentRequestId();

}  // namespace hotswap::log
