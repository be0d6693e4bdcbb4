// VersionDatasets on a real SQLite registry and a real local artifact store: what is stored,
// what a refused CSV leaves (nothing), replacement, and corruption detected on read.
#include "governance/version_datasets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/sha256.h"
#include "registry/registry_test_util.h"
#include "registry/sqlite_dataset_store.h"
#include "registry/sqlite_registry.h"
#include "storage/local_artifact_store.h"

namespace hotswap::governance {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class VersionDatasetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = registry::SqliteDatabase::Open(dir_.File("registry.db"));
    ASSERT_TRUE(db.ok()) << db.status();
    auto reg = registry::SqliteRegistry::Create(*db, &clock_);
    ASSERT_TRUE(reg.ok());
    registry_ = *std::move(reg);
    store_ = std::make_unique<registry::SqliteDatasetStore>(*db);
    storage::LocalArtifactStore::Options so;
    so.root_dir = dir_.File("artifacts");
    auto artifacts = storage::LocalArtifactStore::Open(so);
    ASSERT_TRUE(artifacts.ok());
    artifacts_ = *std::move(artifacts);
    ASSERT_TRUE(registry_->CreateModel({.name = "iris"}).ok());
    domain::TensorSchema schema;
    schema.inputs.push_back({"input", domain::DataType::kFp32, {-1, 2}});
    schema.outputs.push_back({"y", domain::DataType::kFp32, {-1}});
    registry::NewVersion nv{.model_name = "iris", .version = 1, .framework = "onnx",
                            .sha256 = Sha256Hex("model"), .size_bytes = 5, .schema = schema};
    auto v = registry_->CreateVersion(nv);
    ASSERT_TRUE(v.ok()) << v.status();
    version_ = *v;
    datasets_ = std::make_unique<VersionDatasets>(VersionDatasets::Options{.max_dataset_bytes = 1024},
                                                  registry_.get(), store_.get(), artifacts_.get(),
                                                  &clock_);
  }

  int Blobs() {
    int n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir_.File("artifacts/sha256"))) {
      n += e.is_regular_file() ? 1 : 0;
    }
    return n;
  }

  FakeClock clock_;
  registry::testing::ScratchDir dir_;
  std::unique_ptr<registry::ModelRegistry> registry_;
  std::unique_ptr<registry::SqliteDatasetStore> store_;
  std::unique_ptr<storage::LocalArtifactStore> artifacts_;
  domain::ModelVersion version_;
  std::unique_ptr<VersionDatasets> datasets_;
};

TEST_F(VersionDatasetsTest, PutStoresTheBlobAndRecordAndLoadReadsThemBack) {
  const std::string csv = "a,b,label\n1,2,0\n3,4,1\n";
  auto put = datasets_->Put(version_, "holdout", csv, "ci");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_FALSE(put->replaced);
  EXPECT_EQ(put->dataset.sha256, Sha256Hex(csv));
  EXPECT_EQ(put->dataset.rows, 2);
  EXPECT_EQ(put->dataset.size_bytes, static_cast<int64_t>(csv.size()));
  EXPECT_TRUE(*artifacts_->Exists(Sha256Hex(csv)));
  auto loaded = datasets_->Load("iris", 1, "holdout");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->dataset, put->dataset);
  EXPECT_EQ(loaded->table.rows.size(), 2u);
  EXPECT_EQ(*datasets_->ReadBytes(put->dataset), csv);
}

TEST_F(VersionDatasetsTest, RefusedCsvStoresNothing) {
  for (const std::string& bad : {std::string("1,2\n3,4\n"), std::string("a,b\n1\n"),
                                 std::string("a,b\nx,2\n"), std::string(2000, 'a')}) {
    auto put = datasets_->Put(version_, "reference", bad, "ci");
    EXPECT_FALSE(put.ok());
  }
  EXPECT_TRUE(absl::IsInvalidArgument(datasets_->Put(version_, "training", "a,b\n1,2\n", "ci").status()));
  EXPECT_TRUE(absl::IsResourceExhausted(
      datasets_->Put(version_, "reference", std::string(2000, 'a'), "ci").status()));
  EXPECT_EQ(Blobs(), 0);
  EXPECT_TRUE(datasets_->List("iris", 1)->empty());
}

TEST_F(VersionDatasetsTest, ReplacingADatasetRemovesTheOldBlob) {
  ASSERT_TRUE(datasets_->Put(version_, "background", "a,b\n1,2\n", "ci").ok());
  auto second = datasets_->Put(version_, "background", "a,b\n5,6\n", "ci");
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->replaced);
  EXPECT_EQ(Blobs(), 1);
  EXPECT_FALSE(*artifacts_->Exists(Sha256Hex("a,b\n1,2\n")));
  // The same bytes as another kind's dataset stay while that one uses them.
  ASSERT_TRUE(datasets_->Put(version_, "reference", "a,b\n5,6\n", "ci").ok());
  ASSERT_TRUE(datasets_->Put(version_, "background", "a,b\n7,8\n", "ci").ok());
  EXPECT_TRUE(*artifacts_->Exists(Sha256Hex("a,b\n5,6\n")));
}

TEST_F(VersionDatasetsTest, CorruptedBlobIsRefusedOnRead) {
  const std::string csv = "a,b\n1,2\n";
  auto put = datasets_->Put(version_, "holdout", csv, "ci");
  ASSERT_TRUE(put.ok());
  const std::string sha = put->dataset.sha256;
  const std::string path = dir_.File("artifacts/sha256/" + sha.substr(0, 2) + "/" + sha);
  ASSERT_TRUE(fs::exists(path)) << path;
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  { std::ofstream(path, std::ios::trunc) << "a,b\n9,9\n"; }
  auto loaded = datasets_->Load("iris", 1, "holdout");
  EXPECT_TRUE(absl::IsDataLoss(loaded.status())) << loaded.status();
}

}  // namespace
}  // namespace hotswap::governance
