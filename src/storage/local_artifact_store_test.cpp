#include "storage/local_artifact_store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hotswap::storage {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string PatternBytes(size_t n, uint32_t seed) {
  std::string out(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<char>(x & 0xff);
  }
  return out;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

// Every regular file under `dir`, relative to it, sorted.
std::vector<std::string> FilesUnder(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) out.push_back(fs::relative(entry.path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Reads a reader to the end with `buf_size` reads; the final status is the reader's verdict.
absl::StatusOr<std::string> ReadAll(ArtifactReader& reader, size_t buf_size = 4096) {
  std::string out;
  std::vector<char> buf(buf_size);
  for (;;) {
    absl::StatusOr<size_t> n = reader.Read(buf.data(), buf.size());
    if (!n.ok()) return n.status();
    if (*n == 0) return out;
    out.append(buf.data(), *n);
  }
}

std::vector<std::string>& CapturedLogLines() {
  static std::vector<std::string> lines;
  return lines;
}
void CaptureLogLine(const std::string& line) { CapturedLogLines().push_back(line); }

class LocalArtifactStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CapturedLogLines().clear();
    log::SetSink(&CaptureLogLine);
    std::string tmpl = (fs::path(::testing::TempDir()) / "artifact_store_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    root_ = dir_ / "store";
    store_ = OpenStore();
  }

  void TearDown() override {
    log::SetSink(nullptr);
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<LocalArtifactStore> OpenStore(int64_t max_bytes = 8LL << 30,
                                                size_t chunk_bytes = 1 << 20) {
    auto store = LocalArtifactStore::Open(LocalArtifactStore::Options{
        .root_dir = root_.string(),
        .max_artifact_bytes = max_bytes,
        .chunk_bytes = chunk_bytes,
    });
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // Writes `content` in `chunk`-sized pieces and commits it.
  absl::StatusOr<ArtifactInfo> Put(const std::string& content, size_t chunk = 1 << 16,
                                   std::optional<std::string> expected = std::nullopt) {
    auto writer = store_->NewWriter();
    if (!writer.ok()) return writer.status();
    for (size_t i = 0; i < content.size(); i += chunk) {
      absl::Status s = (*writer)->Write(std::string_view(content).substr(i, chunk));
      if (!s.ok()) return s;
    }
    return (*writer)->Commit(std::move(expected));
  }

  absl::StatusOr<std::string> Get(const std::string& sha256) {
    auto reader = store_->Open(sha256);
    if (!reader.ok()) return reader.status();
    return ReadAll(**reader);
  }

  fs::path BlobFile(const std::string& sha256) const {
    return root_ / "sha256" / sha256.substr(0, 2) / sha256;
  }

  fs::path dir_;
  fs::path root_;
  std::unique_ptr<LocalArtifactStore> store_;
};

TEST_F(LocalArtifactStoreTest, RoundTripsSmallArtifact) {
  const std::string content = "hello, model";
  auto info = Put(content);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->sha256, Sha256Hex(content));
  EXPECT_EQ(info->size_bytes, static_cast<int64_t>(content.size()));
  EXPECT_TRUE(info->newly_created);
  EXPECT_EQ(ReadFile(BlobFile(info->sha256)), content);

  auto reader = store_->Open(info->sha256);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->size_bytes(), static_cast<int64_t>(content.size()));
  auto read = ReadAll(**reader, 5);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, content);
  // Reading past the verified end keeps returning 0.
  char c;
  auto again = (*reader)->Read(&c, 1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);
  EXPECT_TRUE(store_->Verify(info->sha256).ok());
  EXPECT_THAT(FilesUnder(root_ / "tmp"), IsEmpty());
}

TEST_F(LocalArtifactStoreTest, RoundTripsEmptyArtifact) {
  auto info = Put("");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->sha256, kEmptySha256);
  EXPECT_EQ(info->size_bytes, 0);
  auto read = Get(kEmptySha256);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "");
  EXPECT_TRUE(store_->Verify(kEmptySha256).ok());
}

TEST_F(LocalArtifactStoreTest, RoundTripsMultiMiBArtifactWrittenInChunks) {
  store_ = OpenStore(8LL << 30, /*chunk_bytes=*/4096);
  const std::string content = PatternBytes((5 << 20) + 123, 7);
  auto writer = store_->NewWriter();
  ASSERT_TRUE(writer.ok());
  for (size_t i = 0; i < content.size(); i += 100'003) {
    ASSERT_TRUE((*writer)->Write(std::string_view(content).substr(i, 100'003)).ok());
  }
  EXPECT_EQ((*writer)->bytes_written(), static_cast<int64_t>(content.size()));
  auto info = (*writer)->Commit(Sha256Hex(content));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->size_bytes, static_cast<int64_t>(content.size()));

  auto reader = store_->Open(info->sha256);
  ASSERT_TRUE(reader.ok());
  auto read = ReadAll(**reader, 65536);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*read == content);
  EXPECT_TRUE(store_->Verify(info->sha256).ok());
}

TEST_F(LocalArtifactStoreTest, SameContentTwiceIsStoredOnce) {
  auto first = Put("weights");
  auto second = Put("weights", 3);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_TRUE(first->newly_created);
  EXPECT_FALSE(second->newly_created);
  EXPECT_EQ(first->sha256, second->sha256);
  EXPECT_EQ(second->size_bytes, 7);
  EXPECT_THAT(FilesUnder(root_),
              ::testing::ElementsAre("sha256/" + first->sha256.substr(0, 2) + "/" + first->sha256));
}

TEST_F(LocalArtifactStoreTest, ExpectedDigestMismatchIsDataLossAndStoresNothing) {
  const std::string wrong = Sha256Hex("something else");
  auto info = Put("actual content", 4, wrong);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(std::string(info.status().message()),
            "checksum mismatch: expected " + wrong + ", got " + Sha256Hex("actual content"));
  EXPECT_THAT(FilesUnder(root_), IsEmpty());
  EXPECT_FALSE(*store_->Exists(Sha256Hex("actual content")));
}

TEST_F(LocalArtifactStoreTest, ExpectedDigestIsCaseInsensitive) {
  std::string upper = Sha256Hex("abc");
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  auto info = Put("abc", 1, upper);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->sha256, Sha256Hex("abc"));
}

TEST_F(LocalArtifactStoreTest, MalformedExpectedDigestIsInvalidArgumentAndStoresNothing) {
  auto info = Put("abc", 1, "not-a-digest");
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(FilesUnder(root_), IsEmpty());
}

TEST_F(LocalArtifactStoreTest, ExceedingSizeLimitIsResourceExhaustedAndLeavesNothing) {
  store_ = OpenStore(/*max_bytes=*/1000);
  auto writer = store_->NewWriter();
  ASSERT_TRUE(writer.ok());
  EXPECT_TRUE((*writer)->Write(std::string(600, 'a')).ok());
  EXPECT_TRUE((*writer)->Write(std::string(400, 'b')).ok());  // exactly at the limit is fine
  absl::Status over = (*writer)->Write("c");
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(over.message()), HasSubstr("1000"));
  EXPECT_THAT(FilesUnder(root_), IsEmpty());
  // The writer is aborted: no more writes, no commit.
  EXPECT_EQ((*writer)->Write("d").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*writer)->Commit().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(FilesUnder(root_), IsEmpty());
}

TEST_F(LocalArtifactStoreTest, ArtifactExactlyAtLimitCommits) {
  store_ = OpenStore(/*max_bytes=*/16);
  auto info = Put(std::string(16, 'x'), 5);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->size_bytes, 16);
}

TEST_F(LocalArtifactStoreTest, AbortRemovesTempFileAndIsIdempotent) {
  auto writer = store_->NewWriter();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Write("partial upload").ok());
  EXPECT_EQ(FilesUnder(root_ / "tmp").size(), 1u);
  (*writer)->Abort();
  EXPECT_THAT(FilesUnder(root_), IsEmpty());
  (*writer)->Abort();
  EXPECT_EQ((*writer)->Commit().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(FilesUnder(root_), IsEmpty());
}

TEST_F(LocalArtifactStoreTest, DestructorWithoutCommitRemovesTempFile) {
  {
    auto writer = store_->NewWriter();
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write("never committed").ok());
    EXPECT_EQ(FilesUnder(root_ / "tmp").size(), 1u);
  }
  EXPECT_THAT(FilesUnder(root_), IsEmpty());
  EXPECT_FALSE(*store_->Exists(Sha256Hex("never committed")));
}

TEST_F(LocalArtifactStoreTest, NothingIsVisibleBeforeCommit) {
  auto writer = store_->NewWriter();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Write("in flight").ok());
  const std::string sha = Sha256Hex("in flight");
  EXPECT_FALSE(*store_->Exists(sha));
  EXPECT_EQ(store_->Open(sha).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_TRUE(*store_->Exists(sha));
  // Abort after a successful commit does not unpublish.
  (*writer)->Abort();
  EXPECT_TRUE(store_->Verify(sha).ok());
  EXPECT_EQ((*writer)->Write("more").code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(LocalArtifactStoreTest, CorruptBlobFailsReaderWithDataLossAtEnd) {
  const std::string content = PatternBytes(10000, 1);
  auto info = Put(content);
  ASSERT_TRUE(info.ok());
  std::string bytes = ReadFile(BlobFile(info->sha256));
  bytes[5000] ^= 0x01;
  WriteFile(BlobFile(info->sha256), bytes);

  auto reader = store_->Open(info->sha256);
  ASSERT_TRUE(reader.ok());
  std::vector<char> buf(1024);
  size_t total = 0;
  absl::Status end;
  for (;;) {
    absl::StatusOr<size_t> n = (*reader)->Read(buf.data(), buf.size());
    if (!n.ok()) {
      end = n.status();
      break;
    }
    ASSERT_NE(*n, 0u) << "reader reported a clean end for corrupt content";
    total += *n;
  }
  EXPECT_EQ(total, content.size());  // the bytes stream, the verdict comes at the end
  EXPECT_EQ(end.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(end.message()),
              StartsWith("checksum mismatch: expected " + info->sha256));
  // The error is sticky.
  EXPECT_EQ((*reader)->Read(buf.data(), buf.size()).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(LocalArtifactStoreTest, CorruptBlobFailsVerify) {
  auto info = Put("model bytes");
  ASSERT_TRUE(info.ok());
  std::string bytes = ReadFile(BlobFile(info->sha256));
  bytes[0] ^= 0x80;
  WriteFile(BlobFile(info->sha256), bytes);
  EXPECT_EQ(store_->Stats().integrity_failures, 0u);
  EXPECT_EQ(store_->Verify(info->sha256).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_->Stats().integrity_failures, 1u);  // counted for /metrics
  std::string metrics = RenderArtifactStoreMetrics(store_->Stats(), store_->Kind());
  EXPECT_NE(metrics.find("hotswap_artifact_integrity_failures_total{store=\"local\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(store_->Stats().uploads, 1u);
}

TEST_F(LocalArtifactStoreTest, TruncatedBlobIsDataLoss) {
  auto info = Put(PatternBytes(4096, 2));
  ASSERT_TRUE(info.ok());
  fs::resize_file(BlobFile(info->sha256), 4000);
  EXPECT_EQ(Get(info->sha256).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_->Verify(info->sha256).code(), absl::StatusCode::kDataLoss);
}

TEST_F(LocalArtifactStoreTest, BlobTruncatedWhileReadingIsDataLoss) {
  auto info = Put(PatternBytes(4096, 3));
  ASSERT_TRUE(info.ok());
  auto reader = store_->Open(info->sha256);
  ASSERT_TRUE(reader.ok());
  fs::resize_file(BlobFile(info->sha256), 100);
  absl::StatusOr<std::string> read = ReadAll(**reader);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(read.status().message()), HasSubstr("truncated"));
}

TEST_F(LocalArtifactStoreTest, FetchToFileCopiesVerifiedBlob) {
  store_ = OpenStore(8LL << 30, /*chunk_bytes=*/1000);
  const std::string content = PatternBytes(12345, 4);
  auto info = Put(content);
  ASSERT_TRUE(info.ok());
  const fs::path dest = dir_ / "model.onnx";
  WriteFile(dest, "stale");  // replaced atomically
  ASSERT_TRUE(store_->FetchToFile(info->sha256, dest.string()).ok());
  EXPECT_TRUE(ReadFile(dest) == content);
  EXPECT_THAT(FilesUnder(dir_), ::testing::Contains("model.onnx"));
  for (const std::string& f : FilesUnder(dir_)) EXPECT_THAT(f, ::testing::Not(HasSubstr(".tmp-")));
}

TEST_F(LocalArtifactStoreTest, FetchToFileRefusesCorruptBlobAndLeavesNoFile) {
  auto info = Put(PatternBytes(3000, 5));
  ASSERT_TRUE(info.ok());
  std::string bytes = ReadFile(BlobFile(info->sha256));
  bytes[2999] ^= 0xff;
  WriteFile(BlobFile(info->sha256), bytes);
  const fs::path out_dir = dir_ / "out";
  fs::create_directory(out_dir);
  absl::Status s = store_->FetchToFile(info->sha256, (out_dir / "model.bin").string());
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(FilesUnder(out_dir), IsEmpty());
}

TEST_F(LocalArtifactStoreTest, MissingArtifactIsNotFound) {
  const std::string sha = Sha256Hex("never stored");
  EXPECT_EQ(store_->Open(sha).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Verify(sha).code(), absl::StatusCode::kNotFound);
  const fs::path dest = dir_ / "dest";
  EXPECT_EQ(store_->FetchToFile(sha, dest.string()).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(dest));
  auto exists = store_->Exists(sha);
  ASSERT_TRUE(exists.ok());
  EXPECT_FALSE(*exists);
}

TEST_F(LocalArtifactStoreTest, MalformedDigestIsInvalidArgument) {
  for (const std::string& bad :
       {std::string(""), std::string("abc"), std::string(64, 'g'), std::string(64, 'A'),
        std::string("../../../../etc/passwd"), std::string(kEmptySha256) + "0"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(store_->Open(bad).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->Verify(bad).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->Exists(bad).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->Delete(bad).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->FetchToFile(bad, (dir_ / "x").string()).code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(LocalArtifactStoreTest, OpenRemovesLeftoverTempFiles) {
  auto writer = store_->NewWriter();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Write("crashed mid-upload").ok());
  WriteFile(root_ / "tmp" / "upload-stale1", "x");
  WriteFile(root_ / "tmp" / "upload-stale2", "y");
  auto kept = Put("committed");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(FilesUnder(root_ / "tmp").size(), 3u);

  // A process restart: the new store cleans tmp/, says so, and keeps committed blobs.
  CapturedLogLines().clear();
  auto reopened = OpenStore();
  ASSERT_NE(reopened, nullptr);
  ASSERT_EQ(CapturedLogLines().size(), 1u);
  EXPECT_THAT(CapturedLogLines()[0], HasSubstr("\"removed_temp_files\":3"));
  EXPECT_THAT(FilesUnder(root_ / "tmp"), IsEmpty());
  EXPECT_TRUE(reopened->Verify(kept->sha256).ok());
  (*writer)->Abort();  // its temp file is already gone; must not fail
}

TEST_F(LocalArtifactStoreTest, OpenCreatesLayoutAndRejectsBadOptions) {
  EXPECT_TRUE(fs::is_directory(root_ / "sha256"));
  EXPECT_TRUE(fs::is_directory(root_ / "tmp"));
  EXPECT_EQ(LocalArtifactStore::Open(LocalArtifactStore::Options{.root_dir = ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LocalArtifactStore::Open(
                LocalArtifactStore::Options{.root_dir = root_.string(), .chunk_bytes = 0})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LocalArtifactStore::Open(
                LocalArtifactStore::Options{.root_dir = root_.string(), .max_artifact_bytes = -1})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  WriteFile(dir_ / "plain_file", "x");
  EXPECT_FALSE(LocalArtifactStore::Open(
                   LocalArtifactStore::Options{.root_dir = (dir_ / "plain_file").string()})
                   .ok());
}

TEST_F(LocalArtifactStoreTest, DeleteRemovesBlobAndIsOkWhenAbsent) {
  auto info = Put("to be deleted");
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(*store_->Exists(info->sha256));
  EXPECT_TRUE(store_->Delete(info->sha256).ok());
  EXPECT_FALSE(*store_->Exists(info->sha256));
  EXPECT_FALSE(fs::exists(BlobFile(info->sha256)));
  EXPECT_TRUE(store_->Delete(info->sha256).ok());
  // Storing it again creates it anew.
  auto again = Put("to be deleted");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->newly_created);
}

TEST_F(LocalArtifactStoreTest, CommitReplacesCorruptExistingBlob) {
  const std::string content = "good weights";
  auto info = Put(content);
  ASSERT_TRUE(info.ok());
  WriteFile(BlobFile(info->sha256), "bad weights!");
  ASSERT_EQ(store_->Verify(info->sha256).code(), absl::StatusCode::kDataLoss);

  auto again = Put(content);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->newly_created);
  EXPECT_TRUE(store_->Verify(info->sha256).ok());
  EXPECT_THAT(FilesUnder(root_ / "tmp"), IsEmpty());
}

TEST_F(LocalArtifactStoreTest, UriForNamesAbsoluteBlobPath) {
  const std::string sha = Sha256Hex("x");
  EXPECT_EQ(store_->UriFor(sha), "file://" + BlobFile(sha).string());
  EXPECT_EQ(store_->BlobPath(sha), BlobFile(sha).string());
}

TEST_F(LocalArtifactStoreTest, ConcurrentWritersOfSameContentYieldOneBlob) {
  const std::string content = PatternBytes(3 << 20, 9);
  constexpr int kThreads = 4;
  std::vector<absl::StatusOr<ArtifactInfo>> results(kThreads, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { results[t] = Put(content, 1 << 15, Sha256Hex(content)); });
  }
  for (auto& th : threads) th.join();

  int newly_created = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->sha256, Sha256Hex(content));
    newly_created += r->newly_created ? 1 : 0;
  }
  // Exact with renameat2(RENAME_NOREPLACE), which ext4/xfs/tmpfs/btrfs support.
  EXPECT_EQ(newly_created, 1);
  const std::string sha = Sha256Hex(content);
  EXPECT_THAT(FilesUnder(root_), ::testing::ElementsAre("sha256/" + sha.substr(0, 2) + "/" + sha));
  EXPECT_TRUE(store_->Verify(sha).ok());
}

}  // namespace
}  // namespace hotswap::storage
