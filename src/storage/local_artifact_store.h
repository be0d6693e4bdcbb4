// LocalArtifactStore: the embedded ArtifactStore, keeping blobs as files under one root directory.
//
// Layout:
//   <root>/sha256/<first 2 hex>/<64 hex>   committed blobs (mode 0644, immutable once published)
//   <root>/tmp/upload-XXXXXX               writers' temp files; removed by Open() (crash recovery)
//
// Commit sequence: write(2) the bytes to a temp file while hashing them, compare with the expected
// digest, fsync the file, rename it into place (without replacing an existing blob unless that
// one fails verification), fsync the shard directory. Readers hash what they stream and fail with
// DataLoss at the end when the content does not match its name.
//
// Thread-safe: all methods may be called from many threads, and several writers may commit the
// same content concurrently (one reports newly_created=true, the others false, on file systems
// with renameat2(RENAME_NOREPLACE); elsewhere more than one may report true). A Writer or Reader
// belongs to one thread at a time and may outlive the store.
//
// One store per root directory at a time: Open() deletes everything in <root>/tmp, so opening a
// second store on a root that another process is writing to would abort that process's uploads.
//
// Example:
//   LocalArtifactStore::Options options{.root_dir = "/data/artifacts"};
//   HS_ASSIGN_OR_RETURN(auto store, LocalArtifactStore::Open(std::move(options)));
//   HS_ASSIGN_OR_RETURN(auto writer, store->NewWriter());
//   HS_RETURN_IF_ERROR(writer->Write(bytes));
//   HS_ASSIGN_OR_RETURN(ArtifactInfo info, writer->Commit(expected_sha256));
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/artifact_store.h"

namespace hotswap::storage {

class LocalArtifactStore : public ArtifactStore {
 public:
  struct Options {
    std::string root_dir;                    // created when missing
    int64_t max_artifact_bytes = 8LL << 30;  // larger artifacts fail with ResourceExhausted
    size_t chunk_bytes = 1 << 20;            // read buffer size for Verify / FetchToFile
  };

  // Creates <root>/sha256 and <root>/tmp as needed and removes leftover temp files.
  // InvalidArgument for an empty root_dir, a zero chunk_bytes or a negative limit; Internal for
  // I/O errors.
  // Pass a named Options (or `Options{...}`): a bare braced list is ambiguous with the virtual
  // Open(sha256) below.
  static absl::StatusOr<std::unique_ptr<LocalArtifactStore>> Open(Options options);

  absl::StatusOr<std::unique_ptr<ArtifactWriter>> NewWriter() override;
  absl::StatusOr<std::unique_ptr<ArtifactReader>> Open(const std::string& sha256) override;
  absl::Status Verify(const std::string& sha256) override;
  absl::Status FetchToFile(const std::string& sha256, const std::string& dest_path) override;
  absl::StatusOr<bool> Exists(const std::string& sha256) override;
  absl::Status Delete(const std::string& sha256) override;
  std::string UriFor(const std::string& sha256) const override;
  ArtifactStoreStats Stats() const override;
  std::string Kind() const override { return "local"; }

  // Absolute path of the blob named `sha256` (whether or not it exists).
  std::string BlobPath(const std::string& sha256) const;

 private:
  explicit LocalArtifactStore(Options options);

 public:
  // Shared with readers and writers, which may outlive the store.
  struct Counters {
    std::atomic<uint64_t> integrity_failures{0};
    std::atomic<uint64_t> uploads{0};
    std::atomic<uint64_t> upload_bytes{0};
  };

 private:
  const std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();

  const Options options_;       // root_dir made absolute
  const std::string blob_dir_;  // <root>/sha256
  const std::string tmp_dir_;   // <root>/tmp
};

}  // namespace hotswap::storage
