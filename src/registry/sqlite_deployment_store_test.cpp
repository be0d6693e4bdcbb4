#include "registry/sqlite_deployment_store.h"

#include "registry/registry_test_util.h"

namespace hotswap::registry {
namespace {

using testing::ScratchDir;

domain::Deployment Make(const std::string& id, const std::string& endpoint, int64_t version,
                        const std::string& state, int64_t at) {
  domain::Deployment d;
  d.id = id;
  d.endpoint = endpoint;
  d.model_name = endpoint;
  d.version = version;
  d.state = state;
  d.created_at_ms = d.updated_at_ms = at;
  return d;
}

class DeploymentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = SqliteDatabase::Open(dir_.path() + "/r.db");
    ASSERT_TRUE(db.ok()) << db.status();
    store_ = std::make_unique<SqliteDeploymentStore>(*db);
  }
  ScratchDir dir_;
  std::unique_ptr<SqliteDeploymentStore> store_;
};

TEST_F(DeploymentStoreTest, InsertGetAndUpdateRoundTrip) {
  domain::Deployment d = Make("d1", "iris", 2, "pending", 1000);
  d.previous_version = 1;
  ASSERT_TRUE(store_->Insert(d).ok());
  auto got = store_->Get("d1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, d);
  d.state = "failed";
  d.message = "load failed: corrupt artifact";
  d.updated_at_ms = 2000;
  ASSERT_TRUE(store_->Update(d).ok());
  EXPECT_EQ(*store_->Get("d1"), d);
}

TEST_F(DeploymentStoreTest, UnknownIdIsNotFoundAndDuplicateIdIsAlreadyExists) {
  EXPECT_TRUE(absl::IsNotFound(store_->Get("nope").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Update(Make("nope", "e", 1, "failed", 1))));
  ASSERT_TRUE(store_->Insert(Make("d1", "e", 1, "pending", 1)).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(store_->Insert(Make("d1", "e", 2, "pending", 2))));
}

TEST_F(DeploymentStoreTest, ListIsNewestFirstAndFiltersByEndpoint) {
  ASSERT_TRUE(store_->Insert(Make("a", "iris", 1, "succeeded", 1)).ok());
  ASSERT_TRUE(store_->Insert(Make("b", "fraud", 1, "succeeded", 2)).ok());
  ASSERT_TRUE(store_->Insert(Make("c", "iris", 2, "failed", 3)).ok());
  auto all = store_->List("", 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, "c");
  auto iris = store_->List("iris", 1);
  ASSERT_TRUE(iris.ok());
  ASSERT_EQ(iris->size(), 1u);
  EXPECT_EQ((*iris)[0].id, "c");
}

TEST_F(DeploymentStoreTest, ActiveByEndpointIsTheLastSuccessUnlessUndeployed) {
  ASSERT_TRUE(store_->Insert(Make("a", "iris", 1, "succeeded", 1)).ok());
  ASSERT_TRUE(store_->Insert(Make("b", "iris", 2, "succeeded", 2)).ok());
  ASSERT_TRUE(store_->Insert(Make("c", "iris", 3, "failed", 3)).ok());      // failed: ignored
  ASSERT_TRUE(store_->Insert(Make("d", "fraud", 1, "succeeded", 4)).ok());
  ASSERT_TRUE(store_->Insert(Make("e", "fraud", 1, "undeployed", 5)).ok()); // unloaded since
  auto active = store_->ActiveByEndpoint();
  ASSERT_TRUE(active.ok()) << active.status();
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ((*active)[0].endpoint, "iris");
  EXPECT_EQ((*active)[0].version, 2);
}

}  // namespace
}  // namespace hotswap::registry
