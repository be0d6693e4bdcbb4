// Traffic routing between an endpoint's variants (the data plane of rollouts).
//
// ChooseVariant picks the stable (primary) or candidate version for one request:
//   1. an explicit version in the path (/v2/models/m/versions/V/infer) picks that version;
//   2. the `x-hotswap-variant: stable|candidate` header pins a variant (previews, tests);
//   3. otherwise the routing key — `x-hotswap-routing-key`, else the V2 request `id`, else a
//      random draw — is hashed (FNV-1a 64) into one of 10,000 buckets, and buckets below the
//      candidate's weight (basis points) go to the candidate. The same key always lands on the
//      same variant for a given weight (sticky), and raising the weight only moves keys from
//      stable to candidate, never back.
// Pure and lock-free; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "serving/model_manager.h"

namespace hotswap::serving {

// The bucket (0..9999) of a routing key.
int RoutingBucket(std::string_view key);

const ServedVersion* ChooseVariant(const Endpoint& ep, const std::string& path_version,
                                   const std::string* pinned_variant,
                                   const std::string* routing_key, std::string_view request_id);

}  // namespace hotswap::serving
