// MinioTestServer: a real MinIO (built by scripts/install-deps.sh into .deps/bin/minio) for
// tests, started on a free loopback port with a fresh temporary directory. The destructor stops
// it and removes the directory. Stop()/Restart() take the server away and bring it back on the
// same port with the same data (fault tests). A missing binary is an error naming the install
// script, never a silent skip.
//
// MinIO starts in well under a second, so each test process starts its own (ctest runs every
// test in its own process).
// Not thread-safe: one test thread drives it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/s3/s3_client.h"

namespace hotswap::storage::s3::testing {

class MinioTestServer {
 public:
  static constexpr const char* kAccessKey = "hotswap-test";
  static constexpr const char* kSecretKey = "hotswap-test-secret-key";

  static absl::StatusOr<std::unique_ptr<MinioTestServer>> Start();
  ~MinioTestServer();
  MinioTestServer(const MinioTestServer&) = delete;
  MinioTestServer& operator=(const MinioTestServer&) = delete;

  // Kills the server (SIGKILL: an abrupt outage) and waits for it to exit.
  absl::Status Stop();
  // Starts it again on the same port with the same data; returns once it answers.
  absl::Status Restart();

  int port() const { return port_; }
  std::string endpoint() const;  // "http://127.0.0.1:PORT"
  S3Options Options() const;     // endpoint, us-east-1, the root credentials, path-style
  absl::Status CreateBucket(const std::string& bucket);

 private:
  MinioTestServer() = default;
  absl::Status Launch();

  std::string dir_;
  int port_ = 0;
  int console_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace hotswap::storage::s3::testing
