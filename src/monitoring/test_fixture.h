// Test helpers for the monitoring tests: the scipy reference fixture and the fixed datasets
// (tests/monitoring/, written by tests/monitoring/drift_reference.py). Not thread-safe (tests).
#pragma once

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace hotswap::monitoring::testing {

inline std::string MonitoringDataDir() { return std::string(HOTSWAP_SOURCE_DIR) + "/tests/monitoring/data"; }

inline const nlohmann::json& ScipyFixture() {
  static const nlohmann::json j = [] {
    std::ifstream in(std::string(HOTSWAP_SOURCE_DIR) + "/tests/monitoring/drift_reference.json");
    std::stringstream s;
    s << in.rdbuf();
    return nlohmann::json::parse(s.str());
  }();
  return j;
}

// The tolerance the scipy comparisons use: |a - b| <= 1e-6 · max(1, |b|).
inline ::testing::AssertionResult MatchesScipy(double got, double want) {
  if (std::fabs(got - want) <= 1e-6 * std::max(1.0, std::fabs(want))) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got << ", scipy " << want;
}

// fmod(i·mult + offset, 1)·scale for i < n: the deterministic samples drift_reference.py uses.
inline std::vector<double> GoldenSample(int64_t n, double mult, double offset, double scale) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(std::fmod(static_cast<double>(i) * mult + offset, 1.0) * scale);
  return v;
}

}  // namespace hotswap::monitoring::testing
