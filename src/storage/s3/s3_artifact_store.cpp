#include "storage/s3/s3_artifact_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/names.h"
#include "common/sha256.h"
#include "common/status.h"

namespace hotswap::storage::s3 {
namespace {

constexpr int64_t kMinPartBytes = 5LL << 20;  // S3's minimum for every part but the last
constexpr int64_t kMaxParts = 10'000;

// Adds `what` in front of a status message, keeping the code (and a hint for 403).
absl::Status Context(const absl::Status& s, const std::string& what) {
  std::string hint = absl::IsPermissionDenied(s)
                         ? " (check the S3 access key and secret: --s3-access-key-id / "
                           "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                         : "";
  return absl::Status(s.code(), absl::StrCat(what, ": ", std::string(s.message()), hint));
}

bool Retryable(const absl::StatusOr<S3Response>& r) {
  if (!r.ok()) return absl::IsUnavailable(r.status());
  return r->status >= 500 || r->status == 429 || r->status == 408;
}

int64_t Jitter(int64_t cap_ms) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(cap_ms, 0))(rng);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

struct CachedBlob {
  std::string name;
  std::string path;
  int64_t size = 0;
  int64_t mtime_ns = 0;
};

std::vector<CachedBlob> ScanCache(const std::string& blob_dir) {
  std::vector<CachedBlob> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(blob_dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    struct stat st;
    std::string path = it->path().string();
    if (::stat(path.c_str(), &st) != 0) continue;
    out.push_back({it->path().filename().string(), path, static_cast<int64_t>(st.st_size),
                   static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec});
  }
  return out;
}

// Stages the upload in the cache; Commit publishes it there and uploads it to the bucket.
class S3ArtifactWriter : public ArtifactWriter {
 public:
  S3ArtifactWriter(S3ArtifactStore* store, LocalArtifactStore* cache,
                   std::unique_ptr<ArtifactWriter> staged)
      : store_(store), cache_(cache), staged_(std::move(staged)) {}

  absl::Status Write(std::string_view chunk) override { return staged_->Write(chunk); }
  int64_t bytes_written() const override { return staged_->bytes_written(); }
  void Abort() override { staged_->Abort(); }

  absl::StatusOr<ArtifactInfo> Commit(std::optional<std::string> expected_sha256) override {
    HS_ASSIGN_OR_RETURN(ArtifactInfo info, staged_->Commit(std::move(expected_sha256)));
    absl::StatusOr<bool> uploaded = store_->UploadCached(info.sha256, info.size_bytes);
    if (!uploaded.ok()) {
      // The registry will not reference it: do not keep a copy the bucket does not have.
      if (info.newly_created) (void)cache_->Delete(info.sha256);
      return uploaded.status();
    }
    info.newly_created = *uploaded;
    return info;
  }

 private:
  S3ArtifactStore* store_;
  LocalArtifactStore* cache_;
  std::unique_ptr<ArtifactWriter> staged_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<S3ArtifactStore>> S3ArtifactStore::Open(Options o) {
  if (o.bucket.size() < 3 || o.bucket.size() > 63 ||
      o.bucket.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "S3 bucket '", o.bucket,
        "' is not a valid bucket name (3-63 characters: lower-case letters, digits, '.', '-')"));
  }
  while (!o.prefix.empty() && o.prefix.front() == '/') o.prefix.erase(0, 1);
  while (!o.prefix.empty() && o.prefix.back() == '/') o.prefix.pop_back();
  if (o.s3.endpoint.rfind("http://", 0) != 0 && o.s3.endpoint.rfind("https://", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "S3 endpoint '", o.s3.endpoint, "' must start with http:// or https://"));
  }
  if (o.s3.region.empty()) return absl::InvalidArgumentError("S3 region must not be empty");
  if (o.s3.credentials.access_key_id.empty() || o.s3.credentials.secret_access_key.empty()) {
    return absl::InvalidArgumentError(
        "S3 credentials are missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the "
        "config keys s3_access_key_id / s3_secret_access_key)");
  }
  if (o.cache_dir.empty()) return absl::InvalidArgumentError("S3 cache_dir must not be empty");
  if (o.cache_max_bytes < 1) return absl::InvalidArgumentError("S3 cache_max_bytes must be >= 1");
  if (o.part_size_bytes < kMinPartBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("S3 part size must be >= ", kMinPartBytes, " bytes (S3's minimum)"));
  }
  if (o.multipart_threshold_bytes < 1) {
    return absl::InvalidArgumentError("S3 multipart threshold must be >= 1 byte");
  }
  if (o.max_attempts < 1 || o.max_attempts > 20) {
    return absl::InvalidArgumentError("S3 max_attempts must be from 1 to 20");
  }
  if (o.base_backoff_ms < 0 || o.max_backoff_ms < o.base_backoff_ms) {
    return absl::InvalidArgumentError("S3 backoff: need 0 <= base_backoff_ms <= max_backoff_ms");
  }
  if (o.list_page_size < 1 || o.list_page_size > 1000) {
    return absl::InvalidArgumentError("S3 list_page_size must be from 1 to 1000");
  }
  LocalArtifactStore::Options co;
  co.root_dir = o.cache_dir;
  co.max_artifact_bytes = o.max_artifact_bytes;
  HS_ASSIGN_OR_RETURN(auto cache, LocalArtifactStore::Open(co));
  std::unique_ptr<S3ArtifactStore> store(new S3ArtifactStore(std::move(o), std::move(cache)));
  store->EvictFor("");  // measures the cache (and trims it if the bound shrank)
  if (store->options_.check_bucket) {
    absl::StatusOr<S3Response> r = store->Call("HEAD", "", S3Body{});
    std::string where = absl::StrCat("S3 bucket '", store->options_.bucket, "' at ",
                                     store->options_.s3.endpoint);
    if (!r.ok()) return Context(r.status(), absl::StrCat("cannot reach ", where));
    if (r->status == 404) {
      return absl::FailedPreconditionError(
          absl::StrCat(where, " does not exist: create it first (e.g. `mc mb` or `aws s3 mb`)"));
    }
    if (r->status == 301 || r->status == 400) {
      auto region = r->headers.find("x-amz-bucket-region");
      return absl::FailedPreconditionError(absl::StrCat(
          where, " answered HTTP ", r->status, ": the bucket is in another region",
          region == r->headers.end() ? "" : " (" + region->second + ")",
          "; set --s3-region"));
    }
    if (absl::Status s = StatusOf(*r); !s.ok()) return Context(s, absl::StrCat("checking ", where));
  }
  log::Info("artifact store: S3",
            {{"bucket", store->options_.bucket}, {"prefix", store->options_.prefix},
             {"endpoint", store->options_.s3.endpoint}, {"region", store->options_.s3.region},
             {"addressing", store->options_.s3.path_style ? "path" : "virtual-host"},
             {"access_key_id", store->options_.s3.credentials.access_key_id},
             {"cache_dir", store->options_.cache_dir}});
  return store;
}

S3ArtifactStore::S3ArtifactStore(Options options, std::unique_ptr<LocalArtifactStore> cache)
    : options_(std::move(options)), cache_(std::move(cache)) {}

std::string S3ArtifactStore::KeyFor(const std::string& sha256) const {
  return absl::StrCat(options_.prefix.empty() ? "" : options_.prefix + "/", "sha256/",
                      sha256.substr(0, 2), "/", sha256);
}

std::string S3ArtifactStore::UriFor(const std::string& sha256) const {
  return absl::StrCat("s3://", options_.bucket, "/", KeyFor(sha256));
}

std::string S3ArtifactStore::Where(const std::string& key) const {
  return absl::StrCat("s3://", options_.bucket, "/", key, " at ", options_.s3.endpoint);
}

absl::StatusOr<S3Response> S3ArtifactStore::Call(
    const std::string& method, const std::string& key, const S3Body& body,
    std::vector<std::pair<std::string, std::string>> headers,
    std::vector<std::pair<std::string, std::string>> query, const S3Sink* sink,
    const std::function<absl::Status()>& reset) {
  absl::StatusOr<S3Response> r;
  int attempt = 1;
  for (;; ++attempt) {
    if (attempt > 1 && reset) HS_RETURN_IF_ERROR(reset());
    S3Client client(options_.s3);
    r = client.Send(method, options_.bucket, key, body, headers, query, sink);
    if (!Retryable(r) || attempt >= options_.max_attempts) break;
    int64_t cap = std::min(options_.max_backoff_ms,
                           options_.base_backoff_ms << std::min(attempt - 1, 20));
    int64_t delay = Jitter(cap);
    retries_.fetch_add(1, std::memory_order_relaxed);
    log::Warn("S3 request failed; retrying",
              {{"method", method}, {"key", key}, {"attempt", attempt}, {"delay_ms", delay},
               {"error", r.ok() ? absl::StrCat("HTTP ", r->status, " ", XmlField(r->body, "Code"))
                                : std::string(r.status().message())}});
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
  }
  if (attempt > 1 && Retryable(r)) {
    absl::Status last = r.ok() ? StatusOf(*r) : r.status();
    return absl::UnavailableError(absl::StrCat(std::string(last.message()), " (gave up after ", attempt,
                                               " attempts)"));
  }
  return r;
}

absl::StatusOr<bool> S3ArtifactStore::RemoteMatches(const std::string& sha256, int64_t size) {
  std::string key = KeyFor(sha256);
  HS_ASSIGN_OR_RETURN(S3Response r, Call("HEAD", key, S3Body{}));
  if (r.status == 404) return false;
  if (absl::Status s = StatusOf(r); !s.ok()) return Context(s, absl::StrCat("HEAD ", Where(key)));
  std::string meta = r.headers.count("x-amz-meta-sha256") ? r.headers["x-amz-meta-sha256"] : "";
  std::string length = r.headers.count("content-length") ? r.headers["content-length"] : "";
  if (meta == sha256 && length == std::to_string(size)) return true;
  integrity_failures_.fetch_add(1, std::memory_order_relaxed);
  log::Error("S3 object does not match its name; it will be replaced",
             {{"object", Where(key)}, {"sha256_metadata", meta}, {"size", length},
              {"expected_size", static_cast<long long>(size)}});
  return false;
}

absl::StatusOr<bool> S3ArtifactStore::UploadCached(const std::string& sha256, int64_t size) {
  HS_ASSIGN_OR_RETURN(bool present, RemoteMatches(sha256, size));
  if (present) return false;
  std::string path = cache_->BlobPath(sha256);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  }
  if (size > options_.multipart_threshold_bytes) {
    HS_RETURN_IF_ERROR(PutMultipart(sha256, fd.get(), size));
  } else {
    HS_RETURN_IF_ERROR(PutSingle(sha256, fd.get(), size));
  }
  // Read back what the server holds: the digest metadata and the size must be ours.
  HS_ASSIGN_OR_RETURN(bool stored, RemoteMatches(sha256, size));
  if (!stored) {
    (void)Call("DELETE", KeyFor(sha256), S3Body{});
    return absl::DataLossError(absl::StrCat("upload to ", Where(KeyFor(sha256)),
                                            " could not be verified (size or sha256 differ)"));
  }
  uploads_.fetch_add(1, std::memory_order_relaxed);
  upload_bytes_.fetch_add(static_cast<uint64_t>(size), std::memory_order_relaxed);
  log::Info("artifact uploaded", {{"object", Where(KeyFor(sha256))},
                                  {"size", static_cast<long long>(size)}});
  EvictFor(sha256);
  return true;
}

absl::Status S3ArtifactStore::PutSingle(const std::string& sha256, int fd, int64_t size) {
  std::string key = KeyFor(sha256);
  S3Body body;
  body.fd = fd;
  body.length = size;
  body.sha256 = sha256;  // the payload digest is the artifact's digest
  HS_ASSIGN_OR_RETURN(S3Response r, Call("PUT", key, body,
                                         {{"x-amz-meta-sha256", sha256},
                                          {"content-type", "application/octet-stream"}}));
  if (absl::Status s = StatusOf(r); !s.ok()) return Context(s, absl::StrCat("PUT ", Where(key)));
  return absl::OkStatus();
}

absl::Status S3ArtifactStore::PutMultipart(const std::string& sha256, int fd, int64_t size) {
  std::string key = KeyFor(sha256);
  int64_t part = options_.part_size_bytes;
  while ((size + part - 1) / part > kMaxParts) part *= 2;
  HS_ASSIGN_OR_RETURN(S3Response created,
                      Call("POST", key, S3Body{},
                           {{"x-amz-meta-sha256", sha256},
                            {"content-type", "application/octet-stream"}},
                           {{"uploads", ""}}));
  if (absl::Status s = StatusOf(created); !s.ok()) {
    return Context(s, absl::StrCat("starting a multipart upload to ", Where(key)));
  }
  std::string upload_id = XmlField(created.body, "UploadId");
  if (upload_id.empty()) {
    return absl::InternalError(absl::StrCat("multipart upload to ", Where(key),
                                            ": the server returned no UploadId"));
  }
  auto abort = [&](absl::Status why) {
    auto r = Call("DELETE", key, S3Body{}, {}, {{"uploadId", upload_id}});
    if (!r.ok() || !StatusOf(*r).ok()) {
      log::Warn("could not abort a failed multipart upload (the bucket's lifecycle rule for "
                "incomplete uploads will remove it)",
                {{"object", Where(key)}, {"upload_id", upload_id}});
    }
    return why;
  };
  std::string complete = "<CompleteMultipartUpload>";
  int64_t parts = (size + part - 1) / part;
  for (int64_t n = 1; n <= parts; ++n) {
    S3Body body;
    body.fd = fd;
    body.offset = (n - 1) * part;
    body.length = std::min(part, size - body.offset);
    auto r = Call("PUT", key, body, {},
                  {{"partNumber", std::to_string(n)}, {"uploadId", upload_id}});
    if (!r.ok()) {
      return abort(Context(r.status(), absl::StrCat("uploading part ", n, " of ", parts, " to ",
                                                    Where(key))));
    }
    if (absl::Status s = StatusOf(*r); !s.ok()) {
      return abort(Context(s, absl::StrCat("uploading part ", n, " of ", parts, " to ", Where(key))));
    }
    std::string etag = r->headers.count("etag") ? r->headers["etag"] : "";
    if (etag.empty()) {
      return abort(absl::InternalError(
          absl::StrCat("part ", n, " of ", Where(key), ": the server returned no ETag")));
    }
    absl::StrAppend(&complete, "<Part><PartNumber>", n, "</PartNumber><ETag>", etag,
                    "</ETag></Part>");
  }
  complete += "</CompleteMultipartUpload>";
  S3Body body;
  body.data = complete;
  auto r = Call("POST", key, body, {{"content-type", "application/xml"}},
                {{"uploadId", upload_id}});
  absl::Status s = r.ok() ? StatusOf(*r) : r.status();
  // CompleteMultipartUpload may answer 200 with an <Error> body.
  if (s.ok() && r->body.find("<Error>") != std::string::npos) {
    s = absl::UnavailableError(absl::StrCat("S3 ", XmlField(r->body, "Code"), ": ",
                                            XmlField(r->body, "Message")));
  }
  if (!s.ok()) {
    // A retried Complete whose first attempt succeeded answers NoSuchUpload: check the object.
    auto there = RemoteMatches(sha256, size);
    if (there.ok() && *there) return absl::OkStatus();
    return abort(Context(s, absl::StrCat("completing the multipart upload to ", Where(key))));
  }
  log::Info("multipart upload complete",
            {{"object", Where(key)}, {"parts", static_cast<long long>(parts)}});
  return absl::OkStatus();
}

absl::Status S3ArtifactStore::Download(const std::string& sha256) {
  std::string key = KeyFor(sha256);
  std::unique_ptr<ArtifactWriter> writer;
  auto reset = [&]() -> absl::Status {
    if (writer && writer->bytes_written() > 0) {
      // The body started and was cut short: a truncated download.
      integrity_failures_.fetch_add(1, std::memory_order_relaxed);
      log::Error("artifact download cut short; retrying",
                 {{"object", Where(key)}, {"received", static_cast<long long>(writer->bytes_written())}});
    }
    if (writer) writer->Abort();
    HS_ASSIGN_OR_RETURN(writer, cache_->NewWriter());
    return absl::OkStatus();
  };
  HS_RETURN_IF_ERROR(reset());
  S3Sink sink = [&](std::string_view chunk) { return writer->Write(chunk); };
  absl::StatusOr<S3Response> r = Call("GET", key, S3Body{}, {}, {}, &sink, reset);
  if (!r.ok()) {
    if (absl::IsUnavailable(r.status()) && writer->bytes_written() > 0) {
      integrity_failures_.fetch_add(1, std::memory_order_relaxed);
      log::Error("artifact download truncated; refused", {{"object", Where(key)}});
      return absl::DataLossError(absl::StrCat("download of ", Where(key), " was truncated after ",
                                              writer->bytes_written(),
                                              " bytes: ", std::string(r.status().message())));
    }
    return Context(r.status(), absl::StrCat("downloading ", Where(key)));
  }
  if (r->status == 404) {
    return absl::NotFoundError(absl::StrCat("artifact ", sha256, " is missing from ", Where(key)));
  }
  if (absl::Status s = StatusOf(*r); !s.ok()) {
    return Context(s, absl::StrCat("downloading ", Where(key)));
  }
  auto length = r->headers.find("content-length");
  if (length != r->headers.end() && length->second != std::to_string(writer->bytes_written())) {
    integrity_failures_.fetch_add(1, std::memory_order_relaxed);
    log::Error("artifact download truncated; refused", {{"object", Where(key)}});
    return absl::DataLossError(absl::StrCat("download of ", Where(key), " truncated: got ",
                                            writer->bytes_written(), " of ", length->second,
                                            " bytes"));
  }
  int64_t got = writer->bytes_written();
  absl::StatusOr<ArtifactInfo> info = writer->Commit(sha256);
  if (!info.ok()) {
    if (absl::IsDataLoss(info.status())) {
      integrity_failures_.fetch_add(1, std::memory_order_relaxed);
      log::Error("artifact from S3 does not match its checksum; refused, never loaded",
                 {{"object", Where(key)}, {"error", std::string(info.status().message())}});
      return absl::DataLossError(absl::StrCat("artifact ", sha256, " from ", Where(key),
                                              " failed verification (", got, " bytes): ",
                                              std::string(info.status().message())));
    }
    return info.status();
  }
  downloads_.fetch_add(1, std::memory_order_relaxed);
  download_bytes_.fetch_add(static_cast<uint64_t>(got), std::memory_order_relaxed);
  log::Info("artifact downloaded into the cache",
            {{"object", Where(key)}, {"size", static_cast<long long>(got)}});
  EvictFor(sha256);
  return absl::OkStatus();
}

absl::Status S3ArtifactStore::EnsureCached(const std::string& sha256) {
  HS_RETURN_IF_ERROR(CheckDigest(sha256));
  HS_ASSIGN_OR_RETURN(bool cached, cache_->Exists(sha256));
  if (cached) {
    cache_hits_.fetch_add(1, std::memory_order_relaxed);
    Touch(sha256);
    return absl::OkStatus();
  }
  {
    absl::MutexLock lock(&mu_);
    while (downloading_.count(sha256) > 0) download_done_.Wait(&mu_);
    if (IsCached(sha256)) {  // another thread just downloaded it
      cache_hits_.fetch_add(1, std::memory_order_relaxed);
      return absl::OkStatus();
    }
    downloading_.insert(sha256);
  }
  absl::Status s = Download(sha256);
  absl::MutexLock lock(&mu_);
  downloading_.erase(sha256);
  download_done_.SignalAll();
  return s;
}

bool S3ArtifactStore::IsCached(const std::string& sha256) const {
  struct stat st;
  return IsSha256Hex(sha256) && ::stat(cache_->BlobPath(sha256).c_str(), &st) == 0;
}

void S3ArtifactStore::Touch(const std::string& sha256) const {
  (void)::utimensat(AT_FDCWD, cache_->BlobPath(sha256).c_str(), nullptr, 0);
}

void S3ArtifactStore::EvictFor(const std::string& keep) {
  absl::MutexLock lock(&evict_mu_);
  std::string blob_dir = options_.cache_dir + "/sha256";
  std::vector<CachedBlob> blobs = ScanCache(blob_dir);
  int64_t total = 0;
  for (const auto& b : blobs) total += b.size;
  if (total > options_.cache_max_bytes) {
    std::sort(blobs.begin(), blobs.end(),
              [](const CachedBlob& a, const CachedBlob& b) { return a.mtime_ns < b.mtime_ns; });
    for (const auto& b : blobs) {
      if (total <= options_.cache_max_bytes) break;
      if (b.name == keep) continue;
      if (::unlink(b.path.c_str()) != 0) continue;
      total -= b.size;
      evictions_.fetch_add(1, std::memory_order_relaxed);
      log::Info("artifact evicted from the cache",
                {{"sha256", b.name}, {"size", static_cast<long long>(b.size)}});
    }
  }
  cache_bytes_.store(total, std::memory_order_relaxed);
}

absl::StatusOr<std::unique_ptr<ArtifactWriter>> S3ArtifactStore::NewWriter() {
  HS_ASSIGN_OR_RETURN(auto staged, cache_->NewWriter());
  return std::unique_ptr<ArtifactWriter>(
      std::make_unique<S3ArtifactWriter>(this, cache_.get(), std::move(staged)));
}

absl::StatusOr<std::unique_ptr<ArtifactReader>> S3ArtifactStore::Open(const std::string& sha256) {
  HS_RETURN_IF_ERROR(EnsureCached(sha256));
  return cache_->Open(sha256);
}

absl::Status S3ArtifactStore::Verify(const std::string& sha256) {
  HS_RETURN_IF_ERROR(EnsureCached(sha256));
  absl::Status s = cache_->Verify(sha256);
  if (absl::IsDataLoss(s)) {
    // The cached copy went bad on local disk (counted by the cache): fetch it again once.
    log::Warn("cached artifact is corrupt; downloading it again", {{"sha256", sha256}});
    (void)cache_->Delete(sha256);
    HS_RETURN_IF_ERROR(EnsureCached(sha256));
    s = cache_->Verify(sha256);
  }
  return s;
}

absl::Status S3ArtifactStore::FetchToFile(const std::string& sha256, const std::string& dest_path) {
  HS_RETURN_IF_ERROR(EnsureCached(sha256));
  absl::Status s = cache_->FetchToFile(sha256, dest_path);
  if (absl::IsDataLoss(s)) {
    log::Warn("cached artifact is corrupt; downloading it again", {{"sha256", sha256}});
    (void)cache_->Delete(sha256);
    HS_RETURN_IF_ERROR(EnsureCached(sha256));
    s = cache_->FetchToFile(sha256, dest_path);
  }
  return s;
}

absl::StatusOr<bool> S3ArtifactStore::Exists(const std::string& sha256) {
  HS_RETURN_IF_ERROR(CheckDigest(sha256));
  std::string key = KeyFor(sha256);
  HS_ASSIGN_OR_RETURN(S3Response r, Call("HEAD", key, S3Body{}));
  if (r.status == 404) return false;
  if (absl::Status s = StatusOf(r); !s.ok()) return Context(s, absl::StrCat("HEAD ", Where(key)));
  return true;
}

absl::Status S3ArtifactStore::Delete(const std::string& sha256) {
  HS_RETURN_IF_ERROR(CheckDigest(sha256));
  std::string key = KeyFor(sha256);
  HS_ASSIGN_OR_RETURN(S3Response r, Call("DELETE", key, S3Body{}));
  if (r.status != 404) {
    if (absl::Status s = StatusOf(r); !s.ok()) return Context(s, absl::StrCat("DELETE ", Where(key)));
  }
  HS_RETURN_IF_ERROR(cache_->Delete(sha256));
  EvictFor("");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<S3ArtifactStore::RemoteObject>> S3ArtifactStore::List() {
  std::vector<RemoteObject> out;
  std::string list_prefix =
      absl::StrCat(options_.prefix.empty() ? "" : options_.prefix + "/", "sha256/");
  std::string token;
  for (int page = 0;; ++page) {
    std::vector<std::pair<std::string, std::string>> query = {
        {"list-type", "2"}, {"prefix", list_prefix},
        {"max-keys", std::to_string(options_.list_page_size)}};
    if (!token.empty()) query.emplace_back("continuation-token", token);
    HS_ASSIGN_OR_RETURN(S3Response r, Call("GET", "", S3Body{}, {}, query));
    if (absl::Status s = StatusOf(r); !s.ok()) {
      return Context(s, absl::StrCat("listing s3://", options_.bucket, "/", list_prefix));
    }
    for (const std::string& contents : XmlFields(r.body, "Contents")) {
      std::string key = XmlField(contents, "Key");
      std::string name = key.substr(key.rfind('/') + 1);
      if (!IsSha256Hex(name) || key != KeyFor(name)) continue;  // not one of ours
      int64_t size = 0;
      try {
        size = std::stoll(XmlField(contents, "Size"));
      } catch (...) {
        size = -1;
      }
      out.push_back({name, size});
    }
    bool truncated = XmlField(r.body, "IsTruncated") == "true";
    token = XmlField(r.body, "NextContinuationToken");
    if (!truncated) break;
    if (token.empty()) {
      return absl::InternalError("S3 LIST said the listing is truncated but gave no continuation token");
    }
  }
  return out;
}

absl::Status S3ArtifactStore::VerifyRemote(const std::string& sha256) {
  HS_RETURN_IF_ERROR(CheckDigest(sha256));
  std::string key = KeyFor(sha256);
  std::unique_ptr<Sha256> hasher;
  int64_t got = 0;
  auto reset = [&]() -> absl::Status {
    hasher = std::make_unique<Sha256>();
    got = 0;
    return absl::OkStatus();
  };
  (void)reset();
  S3Sink sink = [&](std::string_view chunk) {
    hasher->Update(chunk);
    got += static_cast<int64_t>(chunk.size());
    return absl::OkStatus();
  };
  HS_ASSIGN_OR_RETURN(S3Response r, Call("GET", key, S3Body{}, {}, {}, &sink, reset));
  if (r.status == 404) {
    return absl::NotFoundError(absl::StrCat("artifact ", sha256, " is missing from ", Where(key)));
  }
  if (absl::Status s = StatusOf(r); !s.ok()) return Context(s, absl::StrCat("GET ", Where(key)));
  std::string actual = hasher->FinishHex();
  if (actual != sha256) {
    integrity_failures_.fetch_add(1, std::memory_order_relaxed);
    log::Error("S3 object does not match its checksum", {{"object", Where(key)}, {"actual", actual}});
    return absl::DataLossError(absl::StrCat("checksum mismatch for ", Where(key), ": expected ",
                                            sha256, ", got ", actual, " (", got, " bytes)"));
  }
  return absl::OkStatus();
}

ArtifactStoreStats S3ArtifactStore::Stats() const {
  ArtifactStoreStats s;
  s.integrity_failures = integrity_failures_.load(std::memory_order_relaxed) +
                         cache_->Stats().integrity_failures;
  s.uploads = uploads_.load(std::memory_order_relaxed);
  s.upload_bytes = upload_bytes_.load(std::memory_order_relaxed);
  s.downloads = downloads_.load(std::memory_order_relaxed);
  s.download_bytes = download_bytes_.load(std::memory_order_relaxed);
  s.cache_hits = cache_hits_.load(std::memory_order_relaxed);
  s.cache_evictions = evictions_.load(std::memory_order_relaxed);
  s.cache_bytes = cache_bytes_.load(std::memory_order_relaxed);
  s.retries = retries_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace hotswap::storage::s3
