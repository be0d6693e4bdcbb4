// Clock seam: components receive a Clock from the wiring code so tests can use FakeClock.
// SystemClock is stateless and thread-safe; FakeClock is thread-safe (atomic).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace hotswap {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch (wall clock).
  virtual int64_t NowMillis() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMillis() const override;
  static SystemClock* Get();  // process-wide instance; never destroyed
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  int64_t NowMillis() const override { return now_.load(); }
  void Advance(int64_t ms) { now_.fetch_add(ms); }
  void Set(int64_t ms) { now_.store(ms); }

 private:
  std::atomic<int64_t> now_;
};

// RFC 3339 UTC with milliseconds, e.g. "2026-11-24T01:02:03.456Z".
std::string FormatTimestamp(int64_t unix_ms);
// Parses what FormatTimestamp writes (also accepts no fraction, or a "+00:00" suffix).
// Returns false when `text` is not such a timestamp.
bool ParseTimestamp(const std::string& text, int64_t* unix_ms);

}  // namespace hotswap
