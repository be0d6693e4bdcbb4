#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

#include "common/clock.h"

namespace hotswap::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<Sink> g_sink{nullptr};
std::mutex g_write_mu;
thread_local std::string t_request_id;

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

}  // namespace

void SetLevel(Level level) { g_level.store(static_cast<int>(level)); }
Level GetLevel() { return static_cast<Level>(g_level.load()); }

bool ParseLevel(std::string_view text, Level* out) {
  if (text == "debug") *out = Level::kDebug;
  else if (text == "info") *out = Level::kInfo;
  else if (text == "warn") *out = Level::kWarn;
  else if (text == "error") *out = Level::kError;
  else return false;
  return true;
}

void SetSink(Sink sink) { g_sink.store(sink); }

void AppendJsonEscaped(std::string_view s, std::string* out) {
  static const char* kHex = "0123456789abcdef";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  std::string line;
  line.reserve(128);
  line.append("{\"ts\":\"");
  line.append(FormatTimestamp(SystemClock::Get()->NowMillis()));
  line.append("\",\"level\":\"");
  line.append(LevelName(level));
  line.append("\",\"msg\":\"");
  AppendJsonEscaped(msg, &line);
  line.push_back('"');
  if (!t_request_id.empty()) {
    line.append(",\"request_id\":\"");
    AppendJsonEscaped(t_request_id, &line);
    line.push_back('"');
  }
  for (const Field& f : fields) {
    line.append(",\"");
    AppendJsonEscaped(f.key, &line);
    line.append("\":");
    // std::to_string(double) writes "nan"/"inf", which are not JSON numbers: quote those.
    const bool json_number = f.value != "nan" && f.value != "-nan" && f.value != "inf" &&
                             f.value != "-inf";
    if (f.raw && json_number) {
      line.append(f.value);
    } else {
      line.push_back('"');
      AppendJsonEscaped(f.value, &line);
      line.push_back('"');
    }
  }
  line.push_back('}');
  if (Sink sink = g_sink.load()) {
    sink(line);
    return;
  }
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(g_write_mu);
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

ScopedRequestId::ScopedRequestId(std::string_view id) : previous_(std::move(t_request_id)) {
  t_request_id.assign(id);
}
ScopedRequestId::~ScopedRequestId() { t_request_id = std::move(previous_); }

const std::string& CurrentRequestId() { return t_request_id; }

}  // namespace hotswap::log
