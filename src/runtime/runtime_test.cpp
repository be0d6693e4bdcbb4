#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/backend.h"
#include "runtime/tensor.h"

namespace hotswap::runtime {
namespace {

TEST(ElementCountTest, IsTheProductOfDimensions) {
  EXPECT_EQ(ElementCount({2, 3, 4}), 24);
  EXPECT_EQ(ElementCount({7}), 7);
  EXPECT_EQ(ElementCount({5, 0, 3}), 0);
}

TEST(ElementCountTest, ScalarHasOneElement) { EXPECT_EQ(ElementCount({}), 1); }

TEST(ElementCountTest, NegativeDimensionGivesMinusOne) {
  EXPECT_EQ(ElementCount({-1, 4}), -1);
  EXPECT_EQ(ElementCount({0, -1}), -1);
}

TEST(ElementCountTest, OverflowGivesMinusOne) {
  const int64_t big = int64_t{1} << 40;
  EXPECT_EQ(ElementCount({big, big}), -1);
  EXPECT_EQ(ElementCount({std::numeric_limits<int64_t>::max(), 2}), -1);
  EXPECT_EQ(ElementCount({std::numeric_limits<int64_t>::max(), 1}),
            std::numeric_limits<int64_t>::max());
}

TEST(ElementCountTest, TensorUsesItsShape) {
  Tensor t;
  t.shape = {3, 2};
  EXPECT_EQ(t.ElementCount(), 6);
}

class FakeBackend : public Backend {
 public:
  explicit FakeBackend(std::string framework, std::string version = "fake 1")
      : framework_(std::move(framework)), version_(std::move(version)) {}
  std::string_view framework() const override { return framework_; }
  std::string version() const override { return version_; }
  absl::StatusOr<std::unique_ptr<LoadedModel>> Load(const std::string&,
                                                    const LoadOptions&) override {
    return absl::UnimplementedError("fake");
  }

 private:
  std::string framework_;
  std::string version_;
};

TEST(BackendRegistryTest, FindsRegisteredBackendsByFramework) {
  BackendRegistry registry;
  registry.Register(std::make_unique<FakeBackend>("onnx"));
  registry.Register(std::make_unique<FakeBackend>("xgboost"));
  ASSERT_NE(registry.Find("onnx"), nullptr);
  EXPECT_EQ(registry.Find("onnx")->framework(), "onnx");
  EXPECT_EQ(registry.Find("xgboost")->framework(), "xgboost");
  EXPECT_EQ(registry.Find("torchscript"), nullptr);
  EXPECT_EQ(registry.Find(""), nullptr);
}

TEST(BackendRegistryTest, ListsFrameworksSorted) {
  BackendRegistry registry;
  EXPECT_TRUE(registry.Frameworks().empty());
  registry.Register(std::make_unique<FakeBackend>("xgboost"));
  registry.Register(std::make_unique<FakeBackend>("onnx"));
  EXPECT_THAT(registry.Frameworks(), testing::ElementsAre("onnx", "xgboost"));
}

TEST(BackendRegistryTest, LaterRegistrationReplacesAndNullIsIgnored) {
  BackendRegistry registry;
  registry.Register(std::make_unique<FakeBackend>("onnx", "first"));
  registry.Register(std::make_unique<FakeBackend>("onnx", "second"));
  registry.Register(nullptr);
  EXPECT_EQ(registry.Find("onnx")->version(), "second");
  EXPECT_THAT(registry.Frameworks(), testing::ElementsAre("onnx"));
}

}  // namespace
}  // namespace hotswap::runtime
