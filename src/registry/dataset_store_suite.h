// The DatasetStore behaviour suite, shared by the SQLite and PostgreSQL stores. A backend's test
// file includes this header (in exactly one .cpp of its test binary) and instantiates it:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, DatasetStoreSuite,
//                            ::testing::Values(DatasetBackend{"Sqlite", &MakeSqliteStores}),
//                            DatasetBackendName);
//
// The factory returns a registry and a dataset store on one fresh database.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "common/clock.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/dataset_store.h"
#include "registry/model_registry.h"
#include "registry/registry_test_util.h"

namespace hotswap::registry::testing {

struct DatasetStores {
  std::unique_ptr<ModelRegistry> registry;
  std::unique_ptr<DatasetStore> datasets;
};
using DatasetStoresFactory = std::function<DatasetStores(Clock* clock, const std::string& dir)>;

struct DatasetBackend {
  std::string name;
  DatasetStoresFactory factory;
  friend void PrintTo(const DatasetBackend& b, std::ostream* os) { *os << b.name; }
};

inline std::string DatasetBackendName(const ::testing::TestParamInfo<DatasetBackend>& info) {
  return info.param.name;
}

class DatasetStoreSuite : public ::testing::TestWithParam<DatasetBackend> {
 protected:
  void SetUp() override {
    stores_ = GetParam().factory(&clock_, dir_.path());
    ASSERT_NE(stores_.registry, nullptr);
    ASSERT_NE(stores_.datasets, nullptr);
    domain::Model m;
    m.name = "iris";
    ASSERT_TRUE(stores_.registry->CreateModel(m).ok());
    for (int v = 1; v <= 2; ++v) {
      NewVersion nv{.model_name = "iris", .version = v, .framework = "onnx",
                    .sha256 = Sha256Hex("artifact-" + std::to_string(v)), .size_bytes = 10,
                    .created_by = "ci"};
      ASSERT_TRUE(stores_.registry->CreateVersion(nv).ok());
    }
  }

  VersionDataset Make(int64_t version, const std::string& kind, const std::string& content) {
    VersionDataset d;
    d.model_name = "iris";
    d.version = version;
    d.kind = kind;
    d.sha256 = Sha256Hex(content);
    d.size_bytes = static_cast<int64_t>(content.size());
    d.rows = 3;
    d.columns = {"sepal_length", "sepal_width", "label"};
    d.created_by = "ci";
    d.created_at_ms = clock_.NowMillis();
    return d;
  }

  FakeClock clock_;
  ScratchDir dir_;
  DatasetStores stores_;
};

TEST_P(DatasetStoreSuite, PutThenGetAndListReturnWhatWasStored) {
  DatasetStore& s = *stores_.datasets;
  VersionDataset holdout = Make(1, "holdout", "a,b,label\n1,2,0\n");
  VersionDataset background = Make(1, "background", "a,b\n1,2\n");
  HS_ASSERT_OK_AND_ASSIGN(auto replaced, s.Put(holdout));
  EXPECT_FALSE(replaced.has_value());
  HS_ASSERT_OK_AND_ASSIGN(replaced, s.Put(background));
  EXPECT_FALSE(replaced.has_value());
  HS_ASSERT_OK_AND_ASSIGN(VersionDataset got, s.Get("iris", 1, "holdout"));
  EXPECT_EQ(got, holdout);
  HS_ASSERT_OK_AND_ASSIGN(auto list, s.List("iris", 1));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0], background);  // ordered by kind
  EXPECT_EQ(list[1], holdout);
  HS_ASSERT_OK_AND_ASSIGN(auto other, s.List("iris", 2));
  EXPECT_TRUE(other.empty());
}

TEST_P(DatasetStoreSuite, PutReplacesTheDatasetOfItsKindAndReturnsThePreviousOne) {
  DatasetStore& s = *stores_.datasets;
  VersionDataset first = Make(1, "reference", "x\n1\n");
  HS_ASSERT_OK(s.Put(first).status());
  clock_.Advance(1000);
  VersionDataset second = Make(1, "reference", "x\n2\n");
  second.rows = 7;
  HS_ASSERT_OK_AND_ASSIGN(auto replaced, s.Put(second));
  ASSERT_TRUE(replaced.has_value());
  EXPECT_EQ(*replaced, first);
  HS_ASSERT_OK_AND_ASSIGN(VersionDataset got, s.Get("iris", 1, "reference"));
  EXPECT_EQ(got, second);
  HS_ASSERT_OK_AND_ASSIGN(auto list, s.List("iris", 1));
  EXPECT_EQ(list.size(), 1u);
}

TEST_P(DatasetStoreSuite, UnknownModelVersionKindOrDatasetIsRefusedAndNothingIsStored) {
  DatasetStore& s = *stores_.datasets;
  VersionDataset d = Make(1, "holdout", "a\n1\n");
  d.model_name = "nope";
  EXPECT_THAT(StatusOf(s.Put(d)), StatusIs(absl::StatusCode::kNotFound,
                                           ::testing::HasSubstr("model nope not found")));
  d = Make(9, "holdout", "a\n1\n");
  EXPECT_THAT(StatusOf(s.Put(d)), StatusIs(absl::StatusCode::kNotFound,
                                           ::testing::HasSubstr("version 9 of model iris")));
  d = Make(1, "training", "a\n1\n");
  EXPECT_THAT(StatusOf(s.Put(d)), StatusIs(absl::StatusCode::kInvalidArgument,
                                           ::testing::HasSubstr("holdout, reference, background")));
  EXPECT_THAT(StatusOf(s.Get("iris", 1, "holdout")),
              StatusIs(absl::StatusCode::kNotFound, ::testing::HasSubstr("no holdout dataset")));
  EXPECT_THAT(StatusOf(s.List("iris", 9)), StatusIs(absl::StatusCode::kNotFound));
  HS_ASSERT_OK_AND_ASSIGN(auto list, s.List("iris", 1));
  EXPECT_TRUE(list.empty());
  HS_ASSERT_OK_AND_ASSIGN(bool referenced, s.IsReferenced(Sha256Hex("a\n1\n")));
  EXPECT_FALSE(referenced);
}

TEST_P(DatasetStoreSuite, DeletingTheModelDeletesItsDatasetRecords) {
  DatasetStore& s = *stores_.datasets;
  VersionDataset d = Make(2, "background", "a\n1\n");
  HS_ASSERT_OK(s.Put(d).status());
  HS_ASSERT_OK_AND_ASSIGN(bool referenced, s.IsReferenced(d.sha256));
  EXPECT_TRUE(referenced);
  HS_ASSERT_OK(stores_.registry->DeleteModel("iris", /*force=*/true).status());
  HS_ASSERT_OK_AND_ASSIGN(referenced, s.IsReferenced(d.sha256));
  EXPECT_FALSE(referenced);
  EXPECT_THAT(StatusOf(s.Get("iris", 2, "background")), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace hotswap::registry::testing
