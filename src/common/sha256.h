// Incremental SHA-256 (OpenSSL EVP) and helpers. A Sha256 object belongs to one thread;
// the free functions are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace hotswap {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view data);
  // Lower-case hex digest; the object must not be updated afterwards.
  std::string FinishHex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string Sha256Hex(std::string_view data);

// Constant-time comparison of two equal-length strings (false when lengths differ).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// `n` cryptographically random bytes, encoded as base64url without padding.
std::string RandomToken(size_t n_bytes);

}  // namespace hotswap
