// S3ArtifactStore: the ArtifactStore on any S3 API server (AWS S3, MinIO, Ceph RGW), with a
// local content-addressed cache so replicas do not download an artifact on every load.
//
// Layout in the bucket: <prefix>/sha256/<first 2 hex>/<64 hex>, each object carrying its SHA-256
// as metadata (x-amz-meta-sha256). The registry records the same digest.
//
// Writes: the writer stages the bytes in the cache's temp directory while hashing them; Commit()
// checks the expected digest, publishes the blob in the cache, then uploads it — one PUT up to
// `multipart_threshold_bytes`, else a multipart upload whose parts are streamed from the staged
// file — and verifies the upload (HEAD: size and sha256 metadata). Every request body is signed
// with its SHA-256, so the server refuses bytes altered in transit. When the object already
// exists with the same digest metadata and size nothing is uploaded (newly_created = false; the
// content itself is checked on every download); an object with other metadata or size is
// counted as an integrity failure and replaced. A failed upload (multipart: aborted) leaves no
// object.
//
// Reads: Open()/Verify()/FetchToFile() serve from the cache; on a miss the object is streamed
// (GET) into a cache temp file while hashed, and published only when its digest matches — a
// mismatched or truncated object is refused (DataLoss), logged and counted in
// Stats().integrity_failures, and never loaded. Concurrent misses for one digest download once.
// A cached blob found corrupt on local disk is dropped and downloaded again once.
// The cache is bounded (`cache_max_bytes`): after each insertion the least recently used blobs
// (file mtime, refreshed on every hit) are removed until the total fits; the blob just inserted
// is always kept. Readers that already opened an evicted blob keep reading it (unlinked inode).
//
// Retries: transport failures (refused, reset, timeouts, cut-short bodies), 5xx, 408 and 429
// are retried up to `max_attempts` with exponential backoff and full jitter
// (random in [0, min(max_backoff, base * 2^attempt)]); then the error says what failed, where,
// and after how many attempts (Unavailable → HTTP 503 at the API). 4xx errors are not retried:
// 403 is PermissionDenied ("check the credentials"), a missing bucket FailedPrecondition.
//
// Secrets: the secret key is only used to sign; it is never logged or put in an error.
// Thread-safe. Writers and readers must not outlive the store.
//
// Example (MinIO):
//   S3ArtifactStore::Options o;
//   o.bucket = "models"; o.prefix = "prod";
//   o.s3.endpoint = "http://127.0.0.1:9000"; o.s3.credentials = {"KEY", "SECRET", ""};
//   o.cache_dir = "/var/lib/hotswap/artifact-cache";
//   HS_ASSIGN_OR_RETURN(auto store, S3ArtifactStore::Open(std::move(o)));
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/artifact_store.h"
#include "storage/local_artifact_store.h"
#include "storage/s3/s3_client.h"

namespace hotswap::storage::s3 {

class S3ArtifactStore : public ArtifactStore {
 public:
  struct Options {
    std::string bucket;
    std::string prefix;  // "" or a key prefix without leading/trailing '/'
    S3Options s3;
    std::string cache_dir;                              // local cache root (created)
    int64_t cache_max_bytes = 10LL << 30;               // LRU bound of the cache
    int64_t max_artifact_bytes = 8LL << 30;
    int64_t multipart_threshold_bytes = 64LL << 20;     // larger artifacts: multipart upload
    int64_t part_size_bytes = 16LL << 20;               // >= 5 MiB (S3's minimum part size)
    int max_attempts = 5;                               // per request, including the first
    int64_t base_backoff_ms = 200;
    int64_t max_backoff_ms = 5'000;
    int list_page_size = 1000;                          // max-keys of each LIST request
    bool check_bucket = true;                           // Open() fails when the bucket is unreachable
  };

  struct RemoteObject {
    std::string sha256;
    int64_t size_bytes = 0;
  };

  // Validates options, opens the cache, and (when check_bucket) checks the bucket answers:
  // FailedPrecondition for a missing bucket, PermissionDenied for refused credentials,
  // Unavailable when the endpoint cannot be reached — each naming endpoint and bucket.
  static absl::StatusOr<std::unique_ptr<S3ArtifactStore>> Open(Options options);

  absl::StatusOr<std::unique_ptr<ArtifactWriter>> NewWriter() override;
  absl::StatusOr<std::unique_ptr<ArtifactReader>> Open(const std::string& sha256) override;
  absl::Status Verify(const std::string& sha256) override;
  absl::Status FetchToFile(const std::string& sha256, const std::string& dest_path) override;
  // Whether the object exists in the bucket (HEAD; the cache is not consulted).
  absl::StatusOr<bool> Exists(const std::string& sha256) override;
  // Deletes the object and its cached copy.
  absl::Status Delete(const std::string& sha256) override;
  std::string UriFor(const std::string& sha256) const override;  // s3://bucket/<key>
  ArtifactStoreStats Stats() const override;
  std::string Kind() const override { return "s3"; }

  // Every artifact in the bucket under the prefix (LIST with continuation, page by page).
  absl::StatusOr<std::vector<RemoteObject>> List();
  // Streams the remote object and checks its digest without touching the cache.
  absl::Status VerifyRemote(const std::string& sha256);
  // The object key of a digest: "<prefix>/sha256/ab/<hex>".
  std::string KeyFor(const std::string& sha256) const;
  bool IsCached(const std::string& sha256) const;
  const Options& options() const { return options_; }

  // Uploads the committed cache blob `sha256` (called by the writer's Commit).
  absl::StatusOr<bool> UploadCached(const std::string& sha256, int64_t size);

 private:
  S3ArtifactStore(Options options, std::unique_ptr<LocalArtifactStore> cache);

  // One request, retried per the policy above. `reset` runs before each retry (downloads).
  absl::StatusOr<S3Response> Call(const std::string& method, const std::string& key,
                                  const S3Body& body,
                                  std::vector<std::pair<std::string, std::string>> headers = {},
                                  std::vector<std::pair<std::string, std::string>> query = {},
                                  const S3Sink* sink = nullptr,
                                  const std::function<absl::Status()>& reset = nullptr);
  absl::Status EnsureCached(const std::string& sha256);
  absl::Status Download(const std::string& sha256);
  absl::StatusOr<bool> RemoteMatches(const std::string& sha256, int64_t size);
  absl::Status PutSingle(const std::string& sha256, int fd, int64_t size);
  absl::Status PutMultipart(const std::string& sha256, int fd, int64_t size);
  void Touch(const std::string& sha256) const;
  void EvictFor(const std::string& keep);
  std::string Where(const std::string& key) const;  // "s3://bucket/key at endpoint"

  const Options options_;
  const std::unique_ptr<LocalArtifactStore> cache_;

  absl::Mutex mu_;
  absl::CondVar download_done_;
  std::set<std::string> downloading_ ABSL_GUARDED_BY(mu_);
  absl::Mutex evict_mu_;

  std::atomic<uint64_t> integrity_failures_{0};
  std::atomic<uint64_t> uploads_{0};
  std::atomic<uint64_t> upload_bytes_{0};
  std::atomic<uint64_t> downloads_{0};
  std::atomic<uint64_t> download_bytes_{0};
  std::atomic<uint64_t> cache_hits_{0};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<int64_t> cache_bytes_{0};
};

}  // namespace hotswap::storage::s3
