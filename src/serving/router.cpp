#include "serving/router.h"

#include <random>

namespace hotswap::serving {

int RoutingBucket(std::string_view key) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<int>(h % 10000);
}

const ServedVersion* ChooseVariant(const Endpoint& ep, const std::string& path_version,
                                   const std::string* pinned_variant,
                                   const std::string* routing_key, std::string_view request_id) {
  const ServedVersion* stable = ep.primary.get();
  const ServedVersion* candidate = ep.candidate.get();
  if (candidate == nullptr) return stable;
  if (!path_version.empty()) return path_version == candidate->version_text ? candidate : stable;
  if (pinned_variant != nullptr) {
    if (*pinned_variant == "candidate") return candidate;
    if (*pinned_variant == "stable") return stable;
  }
  if (ep.candidate_weight_bp <= 0) return stable;
  if (ep.candidate_weight_bp >= 10000) return candidate;
  int bucket;
  if (routing_key != nullptr && !routing_key->empty()) {
    bucket = RoutingBucket(*routing_key);
  } else if (!request_id.empty()) {
    bucket = RoutingBucket(request_id);
  } else {
    thread_local std::minstd_rand rng{std::random_device{}()};
    bucket = static_cast<int>(rng() % 10000);
  }
  return bucket < ep.candidate_weight_bp ? candidate : stable;
}

}  // namespace hotswap::serving
