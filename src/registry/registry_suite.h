// The ModelRegistry behaviour suite, shared by every backend. A backend's test file includes this
// header (in exactly one .cpp of its test binary) and instantiates it:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, RegistrySuite,
//                            ::testing::Values(RegistryBackend{"Sqlite", &MakeSqliteRegistry}),
//                            RegistryBackendName);
//
// Each test gets a FakeClock and a fresh, empty scratch directory (removed afterwards). The
// factory must return a registry whose data lives there (or in storage keyed by it), and a
// second call with the same directory must open the same data: the suite uses that for
// persistence and for concurrency through two handles.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/model_registry.h"
#include "registry/registry_test_util.h"

namespace hotswap::registry::testing {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// Makes a registry over the data in `scratch_dir`; nullptr on failure (the test then fails).
using RegistryFactory =
    std::function<std::unique_ptr<ModelRegistry>(Clock* clock, const std::string& scratch_dir)>;

struct RegistryBackend {
  std::string name;  // gtest parameter name, e.g. "Sqlite"
  RegistryFactory factory;
  friend void PrintTo(const RegistryBackend& b, std::ostream* os) { *os << b.name; }
};

inline std::string RegistryBackendName(const ::testing::TestParamInfo<RegistryBackend>& info) {
  return info.param.name;
}

class RegistrySuite : public ::testing::TestWithParam<RegistryBackend> {
 protected:
  void SetUp() override {
    registry_ = Open();
    ASSERT_NE(registry_, nullptr) << "the " << GetParam().name << " factory failed";
  }

  // Another handle on this test's data.
  std::unique_ptr<ModelRegistry> Open() { return GetParam().factory(&clock_, dir_.path()); }

  static std::string Digest(int n) { return Sha256Hex("artifact-" + std::to_string(n)); }

  domain::Model CreateModelOrDie(const std::string& name,
                                 std::map<std::string, std::string> tags = {}) {
    auto m = registry_->CreateModel({.name = name, .description = "", .tags = std::move(tags)});
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : domain::Model{};
  }

  static NewVersion Version(const std::string& model, int digest = 1,
                            const std::string& framework = "onnx") {
    return NewVersion{.model_name = model,
                      .framework = framework,
                      .sha256 = Digest(digest),
                      .size_bytes = 1024,
                      .created_by = "ci-bot"};
  }

  int64_t CreateVersionOrDie(const NewVersion& nv) {
    auto v = registry_->CreateVersion(nv);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? v->version : -1;
  }

  std::vector<int64_t> AllVersionNumbers(const std::string& model) {
    std::vector<int64_t> numbers;
    auto page = registry_->ListVersions(model, {.limit = 1000});
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const auto& v : page->versions) numbers.push_back(v.version);
    }
    return numbers;
  }

  std::vector<std::string> AllModelNames(ListModelsQuery query = {.limit = 1000}) {
    std::vector<std::string> names;
    auto page = registry_->ListModels(query);
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const auto& m : page->models) names.push_back(m.name);
    }
    return names;
  }

  FakeClock clock_;
  ScratchDir dir_;  // declared before registry_: outlives it
  std::unique_ptr<ModelRegistry> registry_;
};

// ---- Models ------------------------------------------------------------------------------------

TEST_P(RegistrySuite, CreateModelStampsTimestampsAndGetModelReturnsIt) {
  HS_ASSERT_OK_AND_ASSIGN(
      domain::Model created,
      registry_->CreateModel({.name = "iris",
                              .description = "flower classifier",
                              .tags = {{"team", "vision"}},
                              .created_at_ms = 5,  // ignored: the registry stamps its own time
                              .updated_at_ms = 5}));
  EXPECT_EQ(created.name, "iris");
  EXPECT_EQ(created.created_at_ms, clock_.NowMillis());
  EXPECT_EQ(created.updated_at_ms, clock_.NowMillis());
  HS_ASSERT_OK_AND_ASSIGN(domain::Model got, registry_->GetModel("iris"));
  EXPECT_EQ(got, created);
}

TEST_P(RegistrySuite, CreateModelWithTakenNameIsAlreadyExistsAndKeepsOriginal) {
  CreateModelOrDie("iris", {{"owner", "a"}});
  EXPECT_THAT(StatusOf(registry_->CreateModel({.name = "iris", .description = "other"})),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("iris")));
  HS_ASSERT_OK_AND_ASSIGN(domain::Model got, registry_->GetModel("iris"));
  EXPECT_EQ(got.description, "");
  EXPECT_EQ(got.tags.at("owner"), "a");
}

TEST_P(RegistrySuite, CreateModelInvalidListsEveryFieldErrorAndStoresNothing) {
  auto result = registry_->CreateModel(
      {.name = "-bad name", .description = std::string(5000, 'x'), .tags = {{"bad key", "v"}}});
  EXPECT_THAT(StatusOf(result), StatusIs(absl::StatusCode::kInvalidArgument,
                                         AllOf(HasSubstr("name"), HasSubstr("description"),
                                               HasSubstr("tags.bad key"))));
  EXPECT_THAT(AllModelNames(), IsEmpty());
}

TEST_P(RegistrySuite, GetModelUnknownIsNotFound) {
  EXPECT_THAT(StatusOf(registry_->GetModel("nope")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
}

TEST_P(RegistrySuite, ListModelsIsOrderedByName) {
  for (const char* name : {"mango", "apple", "zebra", "Banana", "apple-2"}) CreateModelOrDie(name);
  EXPECT_THAT(AllModelNames(), ElementsAre("Banana", "apple", "apple-2", "mango", "zebra"));
}

TEST_P(RegistrySuite, ListModelsPaginatesThreePagesWithoutGapsOrDuplicates) {
  std::vector<std::string> expected;
  // Created out of order so that insertion order and name order differ.
  for (int i :
       {7, 3, 19, 0, 11, 24, 5, 16, 2, 21, 9, 14, 1, 23, 6, 18, 10, 4, 22, 13, 8, 20, 12, 17, 15}) {
    CreateModelOrDie("model-" + std::string(i < 10 ? "0" : "") + std::to_string(i));
  }
  for (int i = 0; i < 25; ++i) {
    expected.push_back("model-" + std::string(i < 10 ? "0" : "") + std::to_string(i));
  }

  std::vector<std::string> seen;
  std::vector<size_t> page_sizes;
  ListModelsQuery query{.limit = 10};
  for (int pages = 0; pages < 10; ++pages) {
    HS_ASSERT_OK_AND_ASSIGN(ModelPage page, registry_->ListModels(query));
    page_sizes.push_back(page.models.size());
    for (const auto& m : page.models) seen.push_back(m.name);
    if (page.next_page_token.empty()) break;
    query.page_token = page.next_page_token;
  }
  EXPECT_THAT(page_sizes, ElementsAre(10, 10, 5));
  EXPECT_EQ(seen, expected);
}

TEST_P(RegistrySuite, ListModelsLastFullPageHasNoNextToken) {
  for (const char* name : {"a", "b", "c", "d"}) CreateModelOrDie(name);
  HS_ASSERT_OK_AND_ASSIGN(ModelPage first, registry_->ListModels({.limit = 2}));
  ASSERT_FALSE(first.next_page_token.empty());
  HS_ASSERT_OK_AND_ASSIGN(ModelPage second,
                          registry_->ListModels({.limit = 2, .page_token = first.next_page_token}));
  EXPECT_EQ(second.models.size(), 2u);
  EXPECT_EQ(second.next_page_token, "");
}

TEST_P(RegistrySuite, ListModelsPrefixFilterTreatsWildcardsLiterally) {
  for (const char* name : {"a_b", "axb", "a_c", "a.x", "abx", "b_a"}) CreateModelOrDie(name);
  EXPECT_THAT(AllModelNames({.name_prefix = "a_", .limit = 100}), ElementsAre("a_b", "a_c"));
  EXPECT_THAT(AllModelNames({.name_prefix = "a.", .limit = 100}), ElementsAre("a.x"));
  EXPECT_THAT(AllModelNames({.name_prefix = "a%", .limit = 100}), IsEmpty());
  EXPECT_THAT(AllModelNames({.name_prefix = "ax", .limit = 100}), ElementsAre("axb"));
}

TEST_P(RegistrySuite, ListModelsFiltersByTagKeyAndValue) {
  CreateModelOrDie("iris", {{"team", "vision"}, {"tier", "gold"}});
  CreateModelOrDie("bert", {{"team", "nlp"}});
  CreateModelOrDie("resnet", {{"team", "vision"}});
  CreateModelOrDie("plain");
  EXPECT_THAT(AllModelNames({.tag = std::pair{"team", "vision"}, .limit = 100}),
              ElementsAre("iris", "resnet"));
  EXPECT_THAT(AllModelNames({.tag = std::pair{"tier", "gold"}, .limit = 100}), ElementsAre("iris"));
  EXPECT_THAT(AllModelNames({.tag = std::pair{"team", "none"}, .limit = 100}), IsEmpty());
}

TEST_P(RegistrySuite, ListModelsFiltersByFrameworkOfAnyVersion) {
  CreateModelOrDie("iris");
  CreateModelOrDie("bert");
  CreateModelOrDie("empty");
  CreateVersionOrDie(Version("iris", 1, "onnx"));
  CreateVersionOrDie(Version("iris", 2, "xgboost"));
  CreateVersionOrDie(Version("bert", 3, "torchscript"));
  EXPECT_THAT(AllModelNames({.framework = "onnx", .limit = 100}), ElementsAre("iris"));
  EXPECT_THAT(AllModelNames({.framework = "xgboost", .limit = 100}), ElementsAre("iris"));
  EXPECT_THAT(AllModelNames({.framework = "torchscript", .limit = 100}), ElementsAre("bert"));
  EXPECT_THAT(AllModelNames({.framework = "tensorflow", .limit = 100}), IsEmpty());
}

TEST_P(RegistrySuite, ListModelsCombinesFiltersWithPagination) {
  for (int i = 0; i < 6; ++i) {
    const std::string name = "vision-" + std::to_string(i);
    CreateModelOrDie(name, {{"team", i % 2 == 0 ? "a" : "b"}});
  }
  CreateModelOrDie("other-0", {{"team", "a"}});
  ListModelsQuery query{.name_prefix = "vision-", .tag = std::pair{"team", "a"}, .limit = 2};
  HS_ASSERT_OK_AND_ASSIGN(ModelPage first, registry_->ListModels(query));
  query.page_token = first.next_page_token;
  HS_ASSERT_OK_AND_ASSIGN(ModelPage second, registry_->ListModels(query));
  ASSERT_EQ(first.models.size(), 2u);
  ASSERT_EQ(second.models.size(), 1u);
  EXPECT_EQ(first.models[0].name, "vision-0");
  EXPECT_EQ(first.models[1].name, "vision-2");
  EXPECT_EQ(second.models[0].name, "vision-4");
  EXPECT_EQ(second.next_page_token, "");
}

TEST_P(RegistrySuite, ListModelsRejectsOutOfRangeLimit) {
  for (int limit : {0, -1, 1001}) {
    EXPECT_THAT(StatusOf(registry_->ListModels({.limit = limit})),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")))
        << limit;
  }
  HS_EXPECT_OK(registry_->ListModels({.limit = 1}));
  HS_EXPECT_OK(registry_->ListModels({.limit = 1000}));
}

TEST_P(RegistrySuite, ListModelsRejectsMalformedPageTokenAndUnknownFramework) {
  EXPECT_THAT(StatusOf(registry_->ListModels({.page_token = "not a token!"})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  CreateModelOrDie("iris");
  for (int i = 0; i < 3; ++i) CreateVersionOrDie(Version("iris"));
  HS_ASSERT_OK_AND_ASSIGN(VersionPage versions, registry_->ListVersions("iris", {.limit = 1}));
  EXPECT_THAT(StatusOf(registry_->ListModels({.page_token = versions.next_page_token})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  EXPECT_THAT(StatusOf(registry_->ListModels({.framework = "caffe"})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("framework")));
}

TEST_P(RegistrySuite, UpdateModelChangesOnlyGivenFieldsAndBumpsUpdatedAt) {
  domain::Model created = CreateModelOrDie("iris", {{"team", "vision"}});
  clock_.Advance(1000);
  HS_ASSERT_OK_AND_ASSIGN(domain::Model updated,
                          registry_->UpdateModel("iris", {.description = "v2 notes"}));
  EXPECT_EQ(updated.description, "v2 notes");
  EXPECT_EQ(updated.tags, created.tags);
  EXPECT_EQ(updated.created_at_ms, created.created_at_ms);
  EXPECT_EQ(updated.updated_at_ms, created.created_at_ms + 1000);

  clock_.Advance(1000);
  HS_ASSERT_OK_AND_ASSIGN(
      updated, registry_->UpdateModel(
                   "iris", {.tags = std::map<std::string, std::string>{{"owner", "kim"}}}));
  EXPECT_EQ(updated.description, "v2 notes");
  EXPECT_EQ(updated.tags, (std::map<std::string, std::string>{{"owner", "kim"}}));
  EXPECT_EQ(updated.updated_at_ms, created.created_at_ms + 2000);
  HS_ASSERT_OK_AND_ASSIGN(domain::Model got, registry_->GetModel("iris"));
  EXPECT_EQ(got, updated);
  // The tag filter follows the replaced tags.
  EXPECT_THAT(AllModelNames({.tag = std::pair{"team", "vision"}, .limit = 10}), IsEmpty());
  EXPECT_THAT(AllModelNames({.tag = std::pair{"owner", "kim"}, .limit = 10}), ElementsAre("iris"));
}

TEST_P(RegistrySuite, UpdateModelUnknownIsNotFound) {
  EXPECT_THAT(StatusOf(registry_->UpdateModel("nope", {.description = "x"})),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(RegistrySuite, UpdateModelInvalidIsInvalidArgumentAndChangesNothing) {
  domain::Model created = CreateModelOrDie("iris", {{"team", "vision"}});
  clock_.Advance(1000);
  EXPECT_THAT(StatusOf(registry_->UpdateModel(
                  "iris", {.description = "fine",
                           .tags = std::map<std::string, std::string>{{"", "empty key"}}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tags")));
  HS_ASSERT_OK_AND_ASSIGN(domain::Model got, registry_->GetModel("iris"));
  EXPECT_EQ(got, created);
}

TEST_P(RegistrySuite, DeleteModelRemovesVersionsAndAliasesAndFreesTheName) {
  CreateModelOrDie("iris");
  CreateVersionOrDie(Version("iris", 1));
  CreateVersionOrDie(Version("iris", 2));
  HS_ASSERT_OK(registry_->SetAlias("iris", "production", 2));
  HS_ASSERT_OK(registry_->DeleteModel("iris", /*force=*/false).status());

  EXPECT_THAT(StatusOf(registry_->GetModel("iris")), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(StatusOf(registry_->GetVersion("iris", 1)), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(StatusOf(registry_->ListAliases("iris")), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(AllModelNames(), IsEmpty());

  // Re-creating the name starts a fresh model: no old versions or aliases leak back.
  CreateModelOrDie("iris");
  EXPECT_EQ(CreateVersionOrDie(Version("iris", 3)), 1);
  HS_ASSERT_OK_AND_ASSIGN(auto aliases, registry_->ListAliases("iris"));
  EXPECT_THAT(aliases, IsEmpty());
}

TEST_P(RegistrySuite, DeleteModelWithDeployedVersionNeedsForce) {
  CreateModelOrDie("iris");
  CreateVersionOrDie(Version("iris", 1));
  CreateVersionOrDie(Version("iris", 2));
  HS_ASSERT_OK(registry_->SetVersionStatus("iris", 2, domain::VersionStatus::kDeployed).status());

  EXPECT_THAT(StatusOf(registry_->DeleteModel("iris", /*force=*/false)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("2")));
  EXPECT_THAT(AllVersionNumbers("iris"), ElementsAre(1, 2));  // nothing changed

  HS_ASSERT_OK_AND_ASSIGN(std::vector<std::string> freed, registry_->DeleteModel("iris", true));
  EXPECT_THAT(freed, UnorderedElementsAre(Digest(1), Digest(2)));
  EXPECT_THAT(StatusOf(registry_->GetModel("iris")), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(RegistrySuite, DeleteModelReturnsOnlyDigestsNoRemainingVersionReferences) {
  CreateModelOrDie("iris");
  CreateModelOrDie("iris-copy");
  CreateVersionOrDie(Version("iris", 1));
  CreateVersionOrDie(Version("iris", 2));
  CreateVersionOrDie(Version("iris", 1));  // same artifact twice: reported once
  CreateVersionOrDie(Version("iris-copy", 2));

  HS_ASSERT_OK_AND_ASSIGN(std::vector<std::string> freed, registry_->DeleteModel("iris", false));
  EXPECT_THAT(freed, ElementsAre(Digest(1)));
  HS_ASSERT_OK_AND_ASSIGN(bool one_referenced, registry_->IsArtifactReferenced(Digest(1)));
  HS_ASSERT_OK_AND_ASSIGN(bool two_referenced, registry_->IsArtifactReferenced(Digest(2)));
  EXPECT_FALSE(one_referenced);
  EXPECT_TRUE(two_referenced);

  HS_ASSERT_OK_AND_ASSIGN(freed, registry_->DeleteModel("iris-copy", false));
  EXPECT_THAT(freed, ElementsAre(Digest(2)));
}

TEST_P(RegistrySuite, DeleteModelUnknownIsNotFound) {
  EXPECT_THAT(StatusOf(registry_->DeleteModel("nope", true)),
              StatusIs(absl::StatusCode::kNotFound));
}

// ---- Versions ----------------------------------------------------------------------------------

TEST_P(RegistrySuite, CreateVersionNumbersAutomaticallyFromOne) {
  CreateModelOrDie("iris");
  CreateModelOrDie("bert");
  EXPECT_EQ(CreateVersionOrDie(Version("iris")), 1);
  EXPECT_EQ(CreateVersionOrDie(Version("iris")), 2);
  EXPECT_EQ(CreateVersionOrDie(Version("bert")), 1);  // numbering is per model
  EXPECT_EQ(CreateVersionOrDie(Version("iris")), 3);
}

TEST_P(RegistrySuite, CreateVersionExplicitNumberThenAutomaticContinuesAfterMax) {
  CreateModelOrDie("iris");
  NewVersion nv = Version("iris");
  nv.version = 10;
  EXPECT_EQ(CreateVersionOrDie(nv), 10);
  EXPECT_EQ(CreateVersionOrDie(Version("iris")), 11);
  nv.version = 5;  // filling a gap is allowed
  EXPECT_EQ(CreateVersionOrDie(nv), 5);
  EXPECT_EQ(CreateVersionOrDie(Version("iris")), 12);
  EXPECT_THAT(AllVersionNumbers("iris"), ElementsAre(5, 10, 11, 12));
}

TEST_P(RegistrySuite, CreateVersionTakenNumberIsAlreadyExistsAndKeepsOriginal) {
  CreateModelOrDie("iris");
  CreateVersionOrDie(Version("iris", 1));
  NewVersion dup = Version("iris", 2);
  dup.version = 1;
  EXPECT_THAT(StatusOf(registry_->CreateVersion(dup)),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("version 1 of model iris already exists")));
  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion v1, registry_->GetVersion("iris", 1));
  EXPECT_EQ(v1.sha256, Digest(1));
}

TEST_P(RegistrySuite, CreateVersionOfUnknownModelIsNotFound) {
  EXPECT_THAT(StatusOf(registry_->CreateVersion(Version("nope"))),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
}

TEST_P(RegistrySuite, CreateVersionValidationErrorsNameTheirFieldPaths) {
  CreateModelOrDie("iris");
  NewVersion nv = Version("iris");
  nv.framework = "caffe";
  nv.sha256 = "ABC";
  nv.size_bytes = -1;
  nv.schema = domain::TensorSchema{
      .inputs = {{.name = "x", .datatype = domain::DataType::kFp32, .shape = {1, -3}}},
      .outputs = {{.name = "y", .datatype = domain::DataType::kFp32, .shape = {1}}}};
  nv.baseline = domain::PerformanceBaseline{.latency_p50_ms = 20, .latency_p99_ms = 10};
  auto result = registry_->CreateVersion(nv);
  EXPECT_THAT(
      StatusOf(result),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("framework"), HasSubstr("sha256"), HasSubstr("size_bytes"),
                     HasSubstr("schema.inputs[0].shape"), HasSubstr("baseline.latency_p99_ms"))));
  EXPECT_THAT(AllVersionNumbers("iris"), IsEmpty());
}

TEST_P(RegistrySuite, CreateVersionRoundTripsAllMetadata) {
  CreateModelOrDie("iris");
  NewVersion nv = Version("iris", 7, "xgboost");
  nv.size_bytes = 123456789012;
  nv.schema = domain::TensorSchema{
      .inputs = {{.name = "features", .datatype = domain::DataType::kFp32, .shape = {-1, 4}}},
      .outputs = {{.name = "label", .datatype = domain::DataType::kInt64, .shape = {-1}},
                  {.name = "probs", .datatype = domain::DataType::kFp64, .shape = {-1, 3}}}};
  nv.training = domain::TrainingMetadata{
      .framework = "sklearn",
      .framework_version = "1.3.2",
      .run_id = "run-42",
      .code_commit = "abcdef1",
      .dataset_uri = "s3://data/iris.csv",
      .dataset_sha256 = Digest(99),
      .hyperparameters = domain::Json{{"depth", 6}, {"eta", 0.3}, {"tags", {"a", "b"}}},
      .metrics = {{"accuracy", 0.97}, {"f1", 0.95}},
      .created_by = "alice"};
  nv.baseline = domain::PerformanceBaseline{
      .latency_p50_ms = 2.5,
      .latency_p99_ms = 9.75,
      .quality = domain::QualityMetric{.name = "accuracy", .value = 0.97, .tolerated_drop = 0.01},
      .min_throughput_rps = 150};
  nv.preprocessing = domain::Json{{"scale", {1.0, 2.0, 0.5, 4.0}}, {"impute", "mean"}};
  nv.tags = {{"stage", "candidate"}, {"unicode", "na\xc3\xafve"}};
  nv.created_by = "alice";
  clock_.Advance(42);

  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion created, registry_->CreateVersion(nv));
  EXPECT_EQ(created.model_name, "iris");
  EXPECT_EQ(created.version, 1);
  EXPECT_EQ(created.status, domain::VersionStatus::kRegistered);
  EXPECT_EQ(created.created_at_ms, clock_.NowMillis());
  EXPECT_EQ(created.schema, nv.schema);
  EXPECT_EQ(created.training, nv.training);
  EXPECT_EQ(created.baseline, nv.baseline);
  EXPECT_EQ(created.preprocessing, nv.preprocessing);
  EXPECT_THAT(created.aliases, IsEmpty());

  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion got, registry_->GetVersion("iris", 1));
  EXPECT_EQ(got, created);
}

TEST_P(RegistrySuite, CreateVersionParentMustExistInTheSameModel) {
  CreateModelOrDie("iris");
  CreateModelOrDie("bert");
  CreateVersionOrDie(Version("bert"));
  CreateVersionOrDie(Version("bert"));
  CreateVersionOrDie(Version("iris"));
  NewVersion nv = Version("iris");
  nv.parent_version = 2;  // exists in bert only
  EXPECT_THAT(StatusOf(registry_->CreateVersion(nv)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("parent_version")));
  EXPECT_THAT(AllVersionNumbers("iris"), ElementsAre(1));
}

TEST_P(RegistrySuite, LineageRecordsParentVersion) {
  CreateModelOrDie("iris");
  CreateVersionOrDie(Version("iris", 1));
  NewVersion child = Version("iris", 2);
  child.parent_version = 1;
  EXPECT_EQ(CreateVersionOrDie(child), 2);
  EXPECT_EQ(CreateVersionOrDie(child), 3);  // a second child of 1
  child.parent_version = 3;
  EXPECT_EQ(CreateVersionOrDie(child), 4);

  HS_ASSERT_OK_AND_ASSIGN(VersionPage page, registry_->ListVersions("iris", {.limit = 10}));
  ASSERT_EQ(page.versions.size(), 4u);
  EXPECT_FALSE(page.versions[0].parent_version.has_value());
  EXPECT_EQ(page.versions[1].parent_version, 1);
  EXPECT_EQ(page.versions[2].parent_version, 1);
  EXPECT_EQ(page.versions[3].parent_version, 3);

  // A parent must be older than its child.
  NewVersion bad = Version("iris");
  bad.version = 2;  // taken, but lineage is validated first
  bad.parent_version = 4;
  EXPECT_THAT(StatusOf(registry_->CreateVersion(bad)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("parent_version")));
  // Deleting a model with a lineage chain works (the self-reference does not block it).
  HS_EXPECT_OK(registry_->DeleteModel("iris", false).status());
}

TEST_P(RegistrySuite, ListVersionsPaginatesInVersionOrder) {
  CreateModelOrDie("iris");
  for (int i = 0; i < 7; ++i) CreateVersionOrDie(Version("iris", i));
  std::vector<int64_t> seen;
  std::vector<size_t> sizes;
  ListVersionsQuery query{.limit = 3};
  for (int pages = 0; pages < 10; ++pages) {
    HS_ASSERT_OK_AND_ASSIGN(VersionPage page, registry_->ListVersions("iris", query));
    sizes.push_back(page.versions.size());
    for (const auto& v : page.versions) seen.push_back(v.version);
    if (page.next_page_token.empty()) break;
    query.page_token = page.next_page_token;
  }
  EXPECT_THAT(sizes, ElementsAre(3, 3, 1));
  EXPECT_THAT(seen, ElementsAre(1, 2, 3, 4, 5, 6, 7));
}

TEST_P(RegistrySuite, ListVersionsRejectsBadInputAndUnknownModel) {
  CreateModelOrDie("iris");
  EXPECT_THAT(StatusOf(registry_->ListVersions("nope", {})), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(StatusOf(registry_->ListVersions("iris", {.limit = 0})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  EXPECT_THAT(StatusOf(registry_->ListVersions("iris", {.limit = 1001})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  EXPECT_THAT(StatusOf(registry_->ListVersions("iris", {.page_token = "%%%"})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  HS_ASSERT_OK_AND_ASSIGN(VersionPage empty, registry_->ListVersions("iris", {}));
  EXPECT_THAT(empty.versions, IsEmpty());
  EXPECT_EQ(empty.next_page_token, "");
}

TEST_P(RegistrySuite, GetVersionUnknownModelOrVersionIsNotFound) {
  CreateModelOrDie("iris");
  CreateVersionOrDie(Version("iris"));
  EXPECT_THAT(StatusOf(registry_->GetVersion("nope", 1)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("model nope")));
  for (int64_t v : {0, -1, 2}) {
    EXPECT_THAT(StatusOf(registry_->GetVersion("iris", v)),
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("of model iris")))
        << v;
  }
}

TEST_P(RegistrySuite, SetVersionStatusPersistsAndUnknownIsNotFound) {
  CreateModelOrDie("iris");
  CreateVersionOrDie(Version("iris"));
  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion v,
                          registry_->SetVersionStatus("iris", 1, domain::VersionStatus::kApproved));
  EXPECT_EQ(v.status, domain::VersionStatus::kApproved);
  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion got, registry_->GetVersion("iris", 1));
  EXPECT_EQ(got.status, domain::VersionStatus::kApproved);
  EXPECT_THAT(StatusOf(registry_->SetVersionStatus("iris", 2, domain::VersionStatus::kArchived)),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(StatusOf(registry_->SetVersionStatus("nope", 1, domain::VersionStatus::kArchived)),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(RegistrySuite, SetVersionTagsReplacesTagsAndValidates) {
  CreateModelOrDie("iris");
  NewVersion nv = Version("iris");
  nv.tags = {{"stage", "candidate"}};
  CreateVersionOrDie(nv);
  HS_ASSERT_OK(registry_->SetAlias("iris", "staging", 1));
  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion v,
                          registry_->SetVersionTags("iris", 1, {{"reviewed", "yes"}}));
  EXPECT_EQ(v.tags, (std::map<std::string, std::string>{{"reviewed", "yes"}}));
  EXPECT_THAT(v.aliases, ElementsAre("staging"));
  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion got, registry_->GetVersion("iris", 1));
  EXPECT_EQ(got, v);

  EXPECT_THAT(StatusOf(registry_->SetVersionTags("iris", 1, {{"bad key!", "x"}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tags.bad key!")));
  EXPECT_THAT(StatusOf(registry_->SetVersionTags("iris", 1, {{"k", std::string(300, 'v')}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tags.k")));
  HS_ASSERT_OK_AND_ASSIGN(got, registry_->GetVersion("iris", 1));
  EXPECT_EQ(got.tags, v.tags);  // unchanged by the rejected calls
  EXPECT_THAT(StatusOf(registry_->SetVersionTags("iris", 9, {})),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(RegistrySuite, IsArtifactReferencedTracksVersionsOfAnyModel) {
  HS_ASSERT_OK_AND_ASSIGN(bool before, registry_->IsArtifactReferenced(Digest(1)));
  EXPECT_FALSE(before);
  CreateModelOrDie("iris");
  CreateVersionOrDie(Version("iris", 1));
  HS_ASSERT_OK_AND_ASSIGN(bool after, registry_->IsArtifactReferenced(Digest(1)));
  EXPECT_TRUE(after);
  HS_ASSERT_OK_AND_ASSIGN(bool other, registry_->IsArtifactReferenced(Digest(2)));
  EXPECT_FALSE(other);
  HS_ASSERT_OK_AND_ASSIGN(bool junk, registry_->IsArtifactReferenced("not-a-digest"));
  EXPECT_FALSE(junk);
}

// ---- Aliases -----------------------------------------------------------------------------------

TEST_P(RegistrySuite, SetAliasResolvesThroughGetVersionByAlias) {
  CreateModelOrDie("iris");
  CreateVersionOrDie(Version("iris", 1));
  CreateVersionOrDie(Version("iris", 2));
  HS_ASSERT_OK(registry_->SetAlias("iris", "production", 1));
  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion v,
                          registry_->GetVersionByAlias("iris", "production"));
  EXPECT_EQ(v.version, 1);
  EXPECT_EQ(v.sha256, Digest(1));
  EXPECT_THAT(v.aliases, ElementsAre("production"));
  EXPECT_THAT(StatusOf(registry_->GetVersionByAlias("iris", "staging")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("staging")));
  EXPECT_THAT(StatusOf(registry_->GetVersionByAlias("nope", "production")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
}

TEST_P(RegistrySuite, SetAliasMovesItAndVersionsShowTheMove) {
  CreateModelOrDie("iris");
  CreateVersionOrDie(Version("iris", 1));
  CreateVersionOrDie(Version("iris", 2));
  HS_ASSERT_OK(registry_->SetAlias("iris", "production", 1));
  HS_ASSERT_OK(registry_->SetAlias("iris", "production", 2));  // move, not a second row

  HS_ASSERT_OK_AND_ASSIGN(auto aliases, registry_->ListAliases("iris"));
  EXPECT_EQ(aliases, (std::map<std::string, int64_t>{{"production", 2}}));
  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion v1, registry_->GetVersion("iris", 1));
  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion v2, registry_->GetVersion("iris", 2));
  EXPECT_THAT(v1.aliases, IsEmpty());
  EXPECT_THAT(v2.aliases, ElementsAre("production"));
  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion by_alias,
                          registry_->GetVersionByAlias("iris", "production"));
  EXPECT_EQ(by_alias.version, 2);
}

TEST_P(RegistrySuite, AliasMoveIsAtomicForConcurrentReaders) {
  CreateModelOrDie("iris");
  CreateVersionOrDie(Version("iris", 1));
  CreateVersionOrDie(Version("iris", 2));
  HS_ASSERT_OK(registry_->SetAlias("iris", "production", 1));

  std::atomic<bool> stop{false};
  std::atomic<int> bad_reads{0};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto v = registry_->GetVersionByAlias("iris", "production");
        auto aliases = registry_->ListAliases("iris");
        ++reads;
        // The alias always resolves, to a version that lists it, and it exists exactly once.
        if (!v.ok() || (v->version != 1 && v->version != 2) ||
            std::count(v->aliases.begin(), v->aliases.end(), "production") != 1 || !aliases.ok() ||
            aliases->size() != 1) {
          ++bad_reads;
        }
      }
    });
  }
  for (int i = 0; i < 100; ++i) {
    EXPECT_THAT(StatusOf(registry_->SetAlias("iris", "production", 1 + (i % 2))), IsOk());
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(bad_reads.load(), 0);
}

TEST_P(RegistrySuite, SetAliasRejectsBadNameUnknownModelAndUnknownVersion) {
  CreateModelOrDie("iris");
  CreateVersionOrDie(Version("iris"));
  EXPECT_THAT(StatusOf(registry_->SetAlias("iris", "bad alias", 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("alias")));
  EXPECT_THAT(StatusOf(registry_->SetAlias("iris", "", 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("alias")));
  EXPECT_THAT(StatusOf(registry_->SetAlias("iris", "production", 0)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("version")));
  EXPECT_THAT(StatusOf(registry_->SetAlias("iris", "production", 2)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("version 2")));
  EXPECT_THAT(StatusOf(registry_->SetAlias("nope", "production", 1)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
  HS_ASSERT_OK_AND_ASSIGN(auto aliases, registry_->ListAliases("iris"));
  EXPECT_THAT(aliases, IsEmpty());
}

TEST_P(RegistrySuite, DeleteAliasRemovesItAndMissingIsNotFound) {
  CreateModelOrDie("iris");
  CreateVersionOrDie(Version("iris"));
  HS_ASSERT_OK(registry_->SetAlias("iris", "production", 1));
  HS_ASSERT_OK(registry_->SetAlias("iris", "staging", 1));
  HS_ASSERT_OK(registry_->DeleteAlias("iris", "production"));
  HS_ASSERT_OK_AND_ASSIGN(auto aliases, registry_->ListAliases("iris"));
  EXPECT_EQ(aliases, (std::map<std::string, int64_t>{{"staging", 1}}));
  EXPECT_THAT(StatusOf(registry_->GetVersionByAlias("iris", "production")),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(StatusOf(registry_->DeleteAlias("iris", "production")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("production")));
  EXPECT_THAT(StatusOf(registry_->DeleteAlias("nope", "staging")),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(RegistrySuite, VersionsListTheirAliasesSorted) {
  CreateModelOrDie("iris");
  for (int i = 0; i < 3; ++i) CreateVersionOrDie(Version("iris", i));
  HS_ASSERT_OK(registry_->SetAlias("iris", "zeta", 2));
  HS_ASSERT_OK(registry_->SetAlias("iris", "alpha", 2));
  HS_ASSERT_OK(registry_->SetAlias("iris", "mid", 2));
  HS_ASSERT_OK(registry_->SetAlias("iris", "latest", 3));
  HS_ASSERT_OK_AND_ASSIGN(VersionPage page, registry_->ListVersions("iris", {.limit = 10}));
  ASSERT_EQ(page.versions.size(), 3u);
  EXPECT_THAT(page.versions[0].aliases, IsEmpty());
  EXPECT_THAT(page.versions[1].aliases, ElementsAre("alpha", "mid", "zeta"));
  EXPECT_THAT(page.versions[2].aliases, ElementsAre("latest"));
  HS_ASSERT_OK_AND_ASSIGN(domain::ModelVersion v2, registry_->GetVersionByAlias("iris", "mid"));
  EXPECT_THAT(v2.aliases, ElementsAre("alpha", "mid", "zeta"));
  HS_ASSERT_OK_AND_ASSIGN(auto aliases, registry_->ListAliases("iris"));
  EXPECT_EQ(aliases,
            (std::map<std::string, int64_t>{{"alpha", 2}, {"latest", 3}, {"mid", 2}, {"zeta", 2}}));
}

TEST_P(RegistrySuite, ListAliasesOfUnknownModelIsNotFound) {
  EXPECT_THAT(StatusOf(registry_->ListAliases("nope")), StatusIs(absl::StatusCode::kNotFound));
}

// ---- Concurrency and persistence ---------------------------------------------------------------

TEST_P(RegistrySuite, ConcurrentCreateVersionYieldsDistinctConsecutiveNumbers) {
  CreateModelOrDie("iris");
  // Two handles on the same data, so that backends with one connection per handle are tested
  // across connections too.
  std::unique_ptr<ModelRegistry> second = Open();
  ASSERT_NE(second, nullptr);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 5;
  std::vector<std::vector<int64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    ModelRegistry* reg = t % 2 == 0 ? registry_.get() : second.get();
    threads.emplace_back([&, reg, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto v = reg->CreateVersion(Version("iris", t * 100 + i));
        if (v.ok()) {
          got[t].push_back(v->version);
        } else {
          ADD_FAILURE() << v.status();
        }
      }
    });
  }
  for (auto& t : threads) t.join();

  std::vector<int64_t> all;
  for (const auto& g : got) {
    EXPECT_TRUE(std::is_sorted(g.begin(), g.end()));  // each thread sees increasing numbers
    all.insert(all.end(), g.begin(), g.end());
  }
  std::sort(all.begin(), all.end());
  std::vector<int64_t> expected(kThreads * kPerThread);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<int64_t>(i) + 1;
  EXPECT_EQ(all, expected);
  EXPECT_EQ(AllVersionNumbers("iris"), expected);
}

TEST_P(RegistrySuite, DataSurvivesReopening) {
  CreateModelOrDie("iris", {{"team", "vision"}});
  NewVersion nv = Version("iris", 1);
  nv.preprocessing = domain::Json{{"scale", 2}};
  CreateVersionOrDie(nv);
  nv.parent_version = 1;
  CreateVersionOrDie(nv);
  HS_ASSERT_OK(registry_->SetAlias("iris", "production", 2));
  HS_ASSERT_OK(registry_->SetVersionStatus("iris", 2, domain::VersionStatus::kDeployed).status());
  HS_ASSERT_OK_AND_ASSIGN(domain::Model model_before, registry_->GetModel("iris"));
  HS_ASSERT_OK_AND_ASSIGN(VersionPage versions_before, registry_->ListVersions("iris", {}));

  registry_.reset();
  registry_ = Open();
  ASSERT_NE(registry_, nullptr);
  HS_ASSERT_OK_AND_ASSIGN(domain::Model model_after, registry_->GetModel("iris"));
  HS_ASSERT_OK_AND_ASSIGN(VersionPage versions_after, registry_->ListVersions("iris", {}));
  EXPECT_EQ(model_after, model_before);
  EXPECT_EQ(versions_after.versions, versions_before.versions);
  EXPECT_EQ(CreateVersionOrDie(Version("iris")), 3);  // numbering continues
}

}  // namespace hotswap::registry::testing
