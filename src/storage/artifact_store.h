// ArtifactStore: immutable model artifacts, content-addressed by SHA-256. Local files are the
// embedded default (local_artifact_store.h); any S3 API server (AWS, MinIO) in production
// (s3/s3_artifact_store.h).
//
// Guarantees:
//   - A writer streams bytes in; nothing is visible until Commit(), which verifies the size limit
//     and (when given) the expected digest, makes the bytes durable (fsync) and publishes them
//     atomically (rename). A crash before Commit leaves only a temp file, which Open() of a new
//     store removes.
//   - Every read verifies the digest: Open() returns a reader that checks the SHA-256 when it
//     reaches the end and fails with DataLoss on a mismatch; Verify() hashes the whole blob.
//     A corrupt or missing artifact is an error, never served.
//   - Memory use is independent of artifact size (streaming in fixed-size chunks).
//
// Thread-safe: the store may be used from many threads; a single Writer or Reader belongs to one
// thread at a time.
//
// Errors: NotFound (no such digest), DataLoss (digest mismatch, truncated), ResourceExhausted
// (over max_artifact_bytes), InvalidArgument (bad digest text), Internal (I/O).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hotswap::storage {

struct ArtifactInfo {
  std::string sha256;      // lower-case hex
  int64_t size_bytes = 0;
  bool newly_created = false;  // false when the same content was already stored
};

// Counters since the store was opened (monotonic), for /metrics.
struct ArtifactStoreStats {
  uint64_t integrity_failures = 0;  // content refused: checksum mismatch, truncated object/download
  uint64_t uploads = 0;             // artifacts written to the backing store
  uint64_t upload_bytes = 0;
  uint64_t downloads = 0;           // remote stores: artifacts fetched into the local cache
  uint64_t download_bytes = 0;
  uint64_t cache_hits = 0;          // remote stores: reads served from the local cache
  uint64_t cache_evictions = 0;
  int64_t cache_bytes = 0;          // remote stores: bytes in the local cache now
  uint64_t retries = 0;             // remote stores: requests repeated after a transient failure
};

// OK for 64 lower-case hex characters; InvalidArgument naming the bad digest otherwise.
absl::Status CheckDigest(const std::string& sha256);

// Prometheus text for `stats` (hotswap_artifact_* series, labelled store="local"|"s3").
std::string RenderArtifactStoreMetrics(const ArtifactStoreStats& stats, const std::string& store);

class ArtifactWriter {
 public:
  virtual ~ArtifactWriter() = default;  // aborts (removes the temp file) unless committed
  // Appends bytes. ResourceExhausted once the total exceeds the store's limit.
  virtual absl::Status Write(std::string_view chunk) = 0;
  // Bytes written so far.
  virtual int64_t bytes_written() const = 0;
  // Finishes the artifact. When `expected_sha256` is given and differs from the content's digest:
  // DataLoss ("checksum mismatch: expected X, got Y") and nothing is stored.
  virtual absl::StatusOr<ArtifactInfo> Commit(
      std::optional<std::string> expected_sha256 = std::nullopt) = 0;
  // Discards what was written. Idempotent.
  virtual void Abort() = 0;
};

class ArtifactReader {
 public:
  virtual ~ArtifactReader() = default;
  virtual int64_t size_bytes() const = 0;
  // Reads up to `n` bytes into `buf`; returns 0 at the end. At the end the digest is checked:
  // DataLoss when the content does not hash to the expected digest or is shorter/longer.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
};

class ArtifactStore {
 public:
  virtual ~ArtifactStore() = default;
  virtual absl::StatusOr<std::unique_ptr<ArtifactWriter>> NewWriter() = 0;
  virtual absl::StatusOr<std::unique_ptr<ArtifactReader>> Open(const std::string& sha256) = 0;
  // Hashes the stored blob; OK only when it matches. NotFound / DataLoss otherwise.
  virtual absl::Status Verify(const std::string& sha256) = 0;
  // Copies the verified blob to `dest_path` (written to a temp file and renamed; a mismatch
  // leaves no file). Used by loaders that need a file path.
  virtual absl::Status FetchToFile(const std::string& sha256, const std::string& dest_path) = 0;
  virtual absl::StatusOr<bool> Exists(const std::string& sha256) = 0;
  // Removes the blob. OK when it did not exist.
  virtual absl::Status Delete(const std::string& sha256) = 0;
  // A URI naming where the blob lives, e.g. "file:///data/artifacts/sha256/ab/abcd..."
  virtual std::string UriFor(const std::string& sha256) const = 0;
  virtual ArtifactStoreStats Stats() const = 0;
  // "local" or "s3" (the metrics label).
  virtual std::string Kind() const = 0;
};

}  // namespace hotswap::storage
