#include "storage/local_artifact_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/names.h"
#include "common/sha256.h"
#include "common/status.h"

namespace hotswap::storage {
namespace {

constexpr mode_t kBlobMode = 0644;
constexpr mode_t kDirMode = 0755;

// strerror_r is the GNU variant (returns char*) or the XSI one (returns int); accept either.
[[maybe_unused]] const char* StrErrorResult(const char* msg, const char* /*buf*/) { return msg; }
[[maybe_unused]] const char* StrErrorResult(int rc, const char* buf) {
  return rc == 0 ? buf : "unknown error";
}

// Debian's Abseil has its own absl::string_view, distinct from std::string_view.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string ErrnoText(int err) {
  char buf[256];
  buf[0] = '\0';
  return absl::StrCat(StrErrorResult(strerror_r(err, buf, sizeof(buf)), buf), " (errno ", err, ")");
}

absl::Status IoError(std::string_view op, std::string_view path, int err) {
  return absl::InternalError(absl::StrCat(Sv(op), " ", Sv(path), ": ", ErrnoText(err)));
}


std::string BlobPathIn(const std::string& blob_dir, const std::string& sha256) {
  return absl::StrCat(blob_dir, "/", sha256.substr(0, 2), "/", sha256);
}

// Owns a file descriptor; closes it (ignoring errors) unless Close() was called.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&&) = delete;
  int get() const { return fd_; }
  // Closes and reports the error close(2) returns (deferred write-back errors surface here).
  absl::Status Close(std::string_view path) {
    int fd = std::exchange(fd_, -1);
    if (fd >= 0 && ::close(fd) != 0) return IoError("close", path, errno);
    return absl::OkStatus();
  }

 private:
  int fd_;
};

absl::Status WriteAll(int fd, std::string_view data, std::string_view path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("write", path, errno);
    }
    if (n == 0) {
      return absl::InternalError(absl::StrCat("write ", Sv(path), ": short write (0 of ",
                                              data.size(), " bytes accepted)"));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> ReadSome(int fd, char* buf, size_t n, std::string_view path) {
  for (;;) {
    ssize_t got = ::read(fd, buf, n);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno != EINTR) return IoError("read", path, errno);
  }
}

absl::Status Fsync(int fd, std::string_view path) {
  for (;;) {
    if (::fsync(fd) == 0) return absl::OkStatus();
    if (errno != EINTR) return IoError("fsync", path, errno);
  }
}

// Makes a rename / create / unlink inside `dir` durable.
absl::Status FsyncDir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return IoError("open directory", dir, errno);
  HS_RETURN_IF_ERROR(Fsync(fd.get(), dir));
  return fd.Close(dir);
}

// Creates `dir` (its parent must exist). OK when it already is a directory.
absl::Status MakeDir(const std::string& dir, bool* created) {
  *created = false;
  if (::mkdir(dir.c_str(), kDirMode) == 0) {
    *created = true;
    return absl::OkStatus();
  }
  int err = errno;
  if (err != EEXIST) return IoError("mkdir", dir, err);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return IoError("stat", dir, errno);
  if (!S_ISDIR(st.st_mode)) {
    return absl::InternalError(absl::StrCat("mkdir ", dir, ": exists and is not a directory"));
  }
  return absl::OkStatus();
}

// "file://" URI of an absolute path; bytes outside the unreserved set and '/' are %-encoded.
std::string FileUri(std::string_view path) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out = "file://";
  for (unsigned char c : path) {
    if (absl::ascii_isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

// Streams one blob, hashing it; checks size and digest when read(2) reports the end.
class LocalArtifactReader : public ArtifactReader {
 public:
  LocalArtifactReader(Fd fd, std::string path, std::string sha256, int64_t size,
                      std::shared_ptr<LocalArtifactStore::Counters> counters)
      : fd_(std::move(fd)),
        path_(std::move(path)),
        sha256_(std::move(sha256)),
        size_(size),
        counters_(std::move(counters)) {}

  int64_t size_bytes() const override { return size_; }

  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    if (!status_.ok()) return status_;
    if (done_) return 0;
    if (n == 0) return absl::InvalidArgumentError("ArtifactReader::Read: n must be positive");
    absl::StatusOr<size_t> got = ReadSome(fd_.get(), buf, n, path_);
    if (!got.ok()) return Fail(got.status());
    if (*got > 0) {
      read_ += static_cast<int64_t>(*got);
      if (read_ > size_) {
        return Fail(
            absl::DataLossError(absl::StrCat("artifact ", sha256_, " grew while being read (",
                                             read_, " bytes, expected ", size_, ")")));
      }
      hasher_.Update(std::string_view(buf, *got));
      return *got;
    }
    if (read_ != size_) {
      return Fail(absl::DataLossError(
          absl::StrCat("artifact ", sha256_, " truncated: read ", read_, " of ", size_, " bytes")));
    }
    std::string actual = hasher_.FinishHex();
    if (actual != sha256_) {
      return Fail(absl::DataLossError(
          absl::StrCat("checksum mismatch: expected ", sha256_, ", got ", actual)));
    }
    done_ = true;
    (void)fd_.Close(path_);  // read-only: nothing to lose
    return size_t{0};
  }

 private:
  absl::Status Fail(absl::Status status) {
    status_ = std::move(status);
    (void)fd_.Close(path_);
    if (absl::IsDataLoss(status_)) {
      counters_->integrity_failures.fetch_add(1, std::memory_order_relaxed);
      log::Error("artifact failed verification", {{"path", path_}, {"error", ToStd(status_.message())}});
    }
    return status_;
  }

  Fd fd_;
  const std::string path_;
  const std::string sha256_;
  const int64_t size_;
  const std::shared_ptr<LocalArtifactStore::Counters> counters_;
  int64_t read_ = 0;
  Sha256 hasher_;
  bool done_ = false;
  absl::Status status_;  // sticky first error
};

absl::StatusOr<std::unique_ptr<LocalArtifactReader>> OpenBlob(
    const std::string& path, const std::string& sha256,
    const std::shared_ptr<LocalArtifactStore::Counters>& counters) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat("artifact ", sha256, " not found"));
    return IoError("open", path, err);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return IoError("fstat", path, errno);
  if (!S_ISREG(st.st_mode)) {
    return absl::InternalError(absl::StrCat("artifact ", path, " is not a regular file"));
  }
  return std::make_unique<LocalArtifactReader>(std::move(fd), path, sha256,
                                               static_cast<int64_t>(st.st_size), counters);
}

// Hashes the whole blob at `path`: OK, NotFound, DataLoss or Internal.
absl::Status VerifyBlob(const std::string& path, const std::string& sha256, size_t chunk_bytes,
                        const std::shared_ptr<LocalArtifactStore::Counters>& counters) {
  HS_ASSIGN_OR_RETURN(std::unique_ptr<LocalArtifactReader> reader,
                      OpenBlob(path, sha256, counters));
  auto buf = std::make_unique<char[]>(chunk_bytes);
  for (;;) {
    HS_ASSIGN_OR_RETURN(size_t n, reader->Read(buf.get(), chunk_bytes));
    if (n == 0) return absl::OkStatus();
  }
}

// Writes into a temp file in <root>/tmp while hashing; Commit publishes it under its digest.
class LocalArtifactWriter : public ArtifactWriter {
 public:
  LocalArtifactWriter(Fd fd, std::string temp_path, std::string blob_dir, int64_t max_bytes,
                      size_t chunk_bytes, std::shared_ptr<LocalArtifactStore::Counters> counters)
      : fd_(std::move(fd)),
        temp_path_(std::move(temp_path)),
        blob_dir_(std::move(blob_dir)),
        max_bytes_(max_bytes),
        chunk_bytes_(chunk_bytes),
        counters_(std::move(counters)) {}

  ~LocalArtifactWriter() override { Abort(); }

  absl::Status Write(std::string_view chunk) override {
    if (state_ != State::kOpen) {
      return absl::FailedPreconditionError("artifact writer is already committed or aborted");
    }
    if (static_cast<uint64_t>(chunk.size()) > static_cast<uint64_t>(max_bytes_ - written_)) {
      Abort();
      return absl::ResourceExhaustedError(
          absl::StrCat("artifact exceeds the limit of ", max_bytes_, " bytes"));
    }
    absl::Status status = WriteAll(fd_.get(), chunk, temp_path_);
    if (!status.ok()) {
      Abort();
      return status;
    }
    hasher_.Update(chunk);
    written_ += static_cast<int64_t>(chunk.size());
    return absl::OkStatus();
  }

  int64_t bytes_written() const override { return written_; }

  absl::StatusOr<ArtifactInfo> Commit(std::optional<std::string> expected_sha256) override {
    if (state_ != State::kOpen) {
      return absl::FailedPreconditionError("artifact writer is already committed or aborted");
    }
    absl::StatusOr<ArtifactInfo> info = CommitImpl(std::move(expected_sha256));
    if (info.ok()) {
      state_ = State::kCommitted;
      if (info->newly_created) {
        counters_->uploads.fetch_add(1, std::memory_order_relaxed);
        counters_->upload_bytes.fetch_add(static_cast<uint64_t>(info->size_bytes),
                                          std::memory_order_relaxed);
      }
    } else {
      Abort();
    }
    return info;
  }

  // After a successful Commit this does nothing: published blobs are removed with Delete().
  void Abort() override {
    if (state_ != State::kOpen) return;
    state_ = State::kAborted;
    (void)fd_.Close(temp_path_);
    if (temp_exists_ && ::unlink(temp_path_.c_str()) != 0 && errno != ENOENT) {
      log::Warn("could not remove artifact temp file",
                {{"path", temp_path_}, {"error", ErrnoText(errno)}});
    }
    temp_exists_ = false;
  }

 private:
  enum class State { kOpen, kCommitted, kAborted };

  absl::StatusOr<ArtifactInfo> CommitImpl(std::optional<std::string> expected) {
    if (expected.has_value()) {
      absl::AsciiStrToLower(&*expected);
      HS_RETURN_IF_ERROR(CheckDigest(*expected));
    }
    const std::string actual = hasher_.FinishHex();
    if (expected.has_value() && *expected != actual) {
      return absl::DataLossError(
          absl::StrCat("checksum mismatch: expected ", *expected, ", got ", actual));
    }
    if (::fchmod(fd_.get(), kBlobMode) != 0) return IoError("fchmod", temp_path_, errno);
    HS_RETURN_IF_ERROR(Fsync(fd_.get(), temp_path_));
    HS_RETURN_IF_ERROR(fd_.Close(temp_path_));

    const std::string shard_dir = absl::StrCat(blob_dir_, "/", actual.substr(0, 2));
    bool created_shard = false;
    HS_RETURN_IF_ERROR(MakeDir(shard_dir, &created_shard));
    if (created_shard) HS_RETURN_IF_ERROR(FsyncDir(blob_dir_));
    HS_ASSIGN_OR_RETURN(bool newly_created, Publish(BlobPathIn(blob_dir_, actual), actual));
    HS_RETURN_IF_ERROR(FsyncDir(shard_dir));
    return ArtifactInfo{.sha256 = actual, .size_bytes = written_, .newly_created = newly_created};
  }

  // Moves the temp file to `final_path` unless a good copy is already there; true when this
  // writer's file became the blob.
  absl::StatusOr<bool> Publish(const std::string& final_path, const std::string& digest) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      int err = 0;
      if (::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, final_path.c_str(),
                      RENAME_NOREPLACE) == 0) {
        temp_exists_ = false;
        return true;
      }
      err = errno;
      if (err == EINVAL || err == ENOSYS) {
        // No RENAME_NOREPLACE on this file system: look, then rename (racy only in reporting
        // newly_created; the content is identical either way).
        struct stat st;
        if (::stat(final_path.c_str(), &st) == 0) {
          err = EEXIST;
        } else if (errno != ENOENT) {
          return IoError("stat", final_path, errno);
        } else if (::rename(temp_path_.c_str(), final_path.c_str()) == 0) {
          temp_exists_ = false;
          return true;
        } else {
          err = errno;
        }
      }
      if (err != EEXIST)
        return IoError(absl::StrCat("rename ", temp_path_, " to"), final_path, err);

      absl::Status existing = VerifyBlob(final_path, digest, chunk_bytes_, counters_);
      if (existing.ok()) {
        if (::unlink(temp_path_.c_str()) != 0) {
          log::Warn("could not remove artifact temp file",
                    {{"path", temp_path_}, {"error", ErrnoText(errno)}});
        }
        temp_exists_ = false;
        return false;
      }
      if (absl::IsNotFound(existing)) continue;  // deleted meanwhile: try again
      if (!absl::IsDataLoss(existing)) return existing;
      log::Warn(
          "replacing corrupt artifact blob",
          {{"sha256", digest}, {"path", final_path}, {"error", std::string(existing.message())}});
      if (::rename(temp_path_.c_str(), final_path.c_str()) != 0) {
        return IoError(absl::StrCat("rename ", temp_path_, " to"), final_path, errno);
      }
      temp_exists_ = false;
      return true;
    }
    return absl::InternalError(
        absl::StrCat("could not publish artifact ", digest, ": it was deleted repeatedly"));
  }

  Fd fd_;
  const std::string temp_path_;
  const std::string blob_dir_;
  const int64_t max_bytes_;
  const size_t chunk_bytes_;
  const std::shared_ptr<LocalArtifactStore::Counters> counters_;
  Sha256 hasher_;
  int64_t written_ = 0;
  State state_ = State::kOpen;
  bool temp_exists_ = true;
};

// Removes every entry of `dir` that is not a directory; returns how many were removed.
size_t RemoveLeftoverTempFiles(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    log::Warn("could not list artifact temp directory",
              {{"path", dir}, {"error", ErrnoText(errno)}});
    return 0;
  }
  size_t removed = 0;
  while (struct dirent* entry = ::readdir(d)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (::unlinkat(::dirfd(d), entry->d_name, 0) == 0) {
      ++removed;
    } else {
      log::Warn("could not remove leftover artifact temp file",
                {{"path", absl::StrCat(dir, "/", entry->d_name)}, {"error", ErrnoText(errno)}});
    }
  }
  ::closedir(d);
  return removed;
}

}  // namespace

absl::Status CheckDigest(const std::string& sha256) {
  if (IsSha256Hex(sha256)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("invalid sha256 digest '",
                                                 absl::CHexEscape(sha256.substr(0, 80)),
                                                 "': want 64 lower-case hex characters"));
}

LocalArtifactStore::LocalArtifactStore(Options options)
    : options_(std::move(options)),
      blob_dir_(options_.root_dir + "/sha256"),
      tmp_dir_(options_.root_dir + "/tmp") {}

absl::StatusOr<std::unique_ptr<LocalArtifactStore>> LocalArtifactStore::Open(Options options) {
  if (options.root_dir.empty()) return absl::InvalidArgumentError("root_dir must not be empty");
  if (options.chunk_bytes == 0) return absl::InvalidArgumentError("chunk_bytes must be positive");
  if (options.max_artifact_bytes < 0) {
    return absl::InvalidArgumentError("max_artifact_bytes must not be negative");
  }
  std::error_code ec;
  std::filesystem::path root = std::filesystem::absolute(options.root_dir, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("root_dir ", options.root_dir, ": ", ec.message()));
  std::string root_str = root.lexically_normal().string();
  while (root_str.size() > 1 && root_str.back() == '/') root_str.pop_back();
  std::filesystem::create_directories(root_str, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", root_str, ": ", ec.message()));
  options.root_dir = root_str;

  auto store = std::unique_ptr<LocalArtifactStore>(new LocalArtifactStore(std::move(options)));
  bool created_blob_dir = false;
  bool created_tmp_dir = false;
  HS_RETURN_IF_ERROR(MakeDir(store->blob_dir_, &created_blob_dir));
  HS_RETURN_IF_ERROR(MakeDir(store->tmp_dir_, &created_tmp_dir));
  if (created_blob_dir || created_tmp_dir) HS_RETURN_IF_ERROR(FsyncDir(store->options_.root_dir));
  size_t removed = RemoveLeftoverTempFiles(store->tmp_dir_);
  log::Info("artifact store opened",
            {{"root", store->options_.root_dir}, {"removed_temp_files", removed}});
  return store;
}

absl::StatusOr<std::unique_ptr<ArtifactWriter>> LocalArtifactStore::NewWriter() {
  std::string temp_path = tmp_dir_ + "/upload-XXXXXX";
  Fd fd(::mkostemp(temp_path.data(), O_CLOEXEC));
  if (fd.get() < 0) return IoError("create temp file in", tmp_dir_, errno);
  return std::make_unique<LocalArtifactWriter>(std::move(fd), std::move(temp_path), blob_dir_,
                                               options_.max_artifact_bytes, options_.chunk_bytes,
                                               counters_);
}

absl::StatusOr<std::unique_ptr<ArtifactReader>> LocalArtifactStore::Open(
    const std::string& sha256) {
  HS_RETURN_IF_ERROR(CheckDigest(sha256));
  HS_ASSIGN_OR_RETURN(std::unique_ptr<LocalArtifactReader> reader,
                      OpenBlob(BlobPath(sha256), sha256, counters_));
  return std::unique_ptr<ArtifactReader>(std::move(reader));
}

absl::Status LocalArtifactStore::Verify(const std::string& sha256) {
  HS_RETURN_IF_ERROR(CheckDigest(sha256));
  return VerifyBlob(BlobPath(sha256), sha256, options_.chunk_bytes, counters_);
}

absl::Status LocalArtifactStore::FetchToFile(const std::string& sha256,
                                             const std::string& dest_path) {
  HS_RETURN_IF_ERROR(CheckDigest(sha256));
  if (dest_path.empty()) return absl::InvalidArgumentError("dest_path must not be empty");
  HS_ASSIGN_OR_RETURN(std::unique_ptr<LocalArtifactReader> reader,
                      OpenBlob(BlobPath(sha256), sha256, counters_));

  std::string temp_path = dest_path + ".tmp-XXXXXX";
  Fd out(::mkostemp(temp_path.data(), O_CLOEXEC));
  if (out.get() < 0) return IoError("create temp file", temp_path, errno);
  absl::Status status = [&]() -> absl::Status {
    auto buf = std::make_unique<char[]>(options_.chunk_bytes);
    for (;;) {
      HS_ASSIGN_OR_RETURN(size_t n, reader->Read(buf.get(), options_.chunk_bytes));
      if (n == 0) break;
      HS_RETURN_IF_ERROR(WriteAll(out.get(), std::string_view(buf.get(), n), temp_path));
    }
    if (::fchmod(out.get(), kBlobMode) != 0) return IoError("fchmod", temp_path, errno);
    HS_RETURN_IF_ERROR(Fsync(out.get(), temp_path));
    HS_RETURN_IF_ERROR(out.Close(temp_path));
    if (::rename(temp_path.c_str(), dest_path.c_str()) != 0) {
      return IoError(absl::StrCat("rename ", temp_path, " to"), dest_path, errno);
    }
    return absl::OkStatus();
  }();
  if (!status.ok()) {
    (void)out.Close(temp_path);
    ::unlink(temp_path.c_str());
    return status;
  }
  std::string dest_dir = std::filesystem::path(dest_path).parent_path().string();
  return FsyncDir(dest_dir.empty() ? "." : dest_dir);
}

absl::StatusOr<bool> LocalArtifactStore::Exists(const std::string& sha256) {
  HS_RETURN_IF_ERROR(CheckDigest(sha256));
  const std::string path = BlobPath(sha256);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return IoError("stat", path, errno);
}

absl::Status LocalArtifactStore::Delete(const std::string& sha256) {
  HS_RETURN_IF_ERROR(CheckDigest(sha256));
  const std::string path = BlobPath(sha256);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return IoError("unlink", path, errno);
  return absl::OkStatus();
}

std::string LocalArtifactStore::UriFor(const std::string& sha256) const {
  return FileUri(BlobPath(sha256));
}

ArtifactStoreStats LocalArtifactStore::Stats() const {
  ArtifactStoreStats s;
  s.integrity_failures = counters_->integrity_failures.load(std::memory_order_relaxed);
  s.uploads = counters_->uploads.load(std::memory_order_relaxed);
  s.upload_bytes = counters_->upload_bytes.load(std::memory_order_relaxed);
  return s;
}

std::string RenderArtifactStoreMetrics(const ArtifactStoreStats& s, const std::string& store) {
  std::string out;
  std::string label = "{store=\"" + store + "\"}";
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += absl::StrCat("# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n", name,
                        label, " ", v, "\n");
  };
  counter("hotswap_artifact_integrity_failures_total",
          "Artifacts refused because their content did not match their SHA-256 or was truncated.",
          s.integrity_failures);
  counter("hotswap_artifact_uploads_total", "Artifacts written to the artifact store.", s.uploads);
  counter("hotswap_artifact_upload_bytes_total", "Bytes of artifacts written.", s.upload_bytes);
  if (store != "local") {
    counter("hotswap_artifact_downloads_total", "Artifacts downloaded into the local cache.",
            s.downloads);
    counter("hotswap_artifact_download_bytes_total", "Bytes downloaded into the local cache.",
            s.download_bytes);
    counter("hotswap_artifact_cache_hits_total", "Artifact reads served from the local cache.",
            s.cache_hits);
    counter("hotswap_artifact_cache_evictions_total", "Artifacts evicted from the local cache.",
            s.cache_evictions);
    counter("hotswap_artifact_store_retries_total",
            "Artifact store requests repeated after a transient failure.", s.retries);
    out += absl::StrCat(
        "# HELP hotswap_artifact_cache_bytes Bytes in the local artifact cache.\n"
        "# TYPE hotswap_artifact_cache_bytes gauge\nhotswap_artifact_cache_bytes",
        label, " ", s.cache_bytes, "\n");
  }
  return out;
}

std::string LocalArtifactStore::BlobPath(const std::string& sha256) const {
  return BlobPathIn(blob_dir_, sha256);
}

}  // namespace hotswap::storage
