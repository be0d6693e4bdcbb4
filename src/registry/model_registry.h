// ModelRegistry: the catalogue of models, versions, aliases and lineage. SQLite is the embedded
// default (sqlite_registry.h); PostgreSQL comes with the production-backends issue and must pass
// the same suite (registry_suite.h).
//
// Thread-safe: implementations may be called from any thread concurrently. Every multi-row
// change is one transaction, so a crash never leaves a half-registered version or a half-moved
// alias.
//
// Errors (canonical codes):
//   NotFound           unknown model / version / alias
//   AlreadyExists      model name taken; version number taken
//   InvalidArgument    the input fails domain validation (message lists every field error)
//   FailedPrecondition DeleteModel on a model with a deployed version without force
//   Unavailable        the database cannot be reached
//
// Typical sequence:
//   HS_ASSIGN_OR_RETURN(auto db, SqliteDatabase::Open(dir + "/registry.db"));
//   HS_ASSIGN_OR_RETURN(auto reg, SqliteRegistry::Create(db, SystemClock::Get()));
//   reg->CreateModel({.name = "iris"});
//   NewVersion nv{.model_name = "iris", .framework = "onnx", .sha256 = d, .size_bytes = n};
//   auto v = (*reg)->CreateVersion(nv);          // v->version == 1
//   (*reg)->SetAlias("iris", "production", 1);
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "domain/model.h"

namespace hotswap::registry {

struct ListModelsQuery {
  std::string name_prefix;                 // "" = all
  std::optional<std::pair<std::string, std::string>> tag;  // models having tag key=value
  std::string framework;                   // models with at least one version of it; "" = any
  int limit = 50;                          // 1..1000
  std::string page_token;                  // opaque; from a previous page's next_page_token
};

struct ModelPage {
  std::vector<domain::Model> models;       // ordered by name
  std::string next_page_token;             // "" on the last page
};

struct ModelUpdate {
  std::optional<std::string> description;
  std::optional<std::map<std::string, std::string>> tags;  // replaces all tags
};

// Everything needed to register a version. version == 0 means "next number"; otherwise the
// caller names it (AlreadyExists when taken).
struct NewVersion {
  std::string model_name;
  int64_t version = 0;
  std::string framework;
  std::string sha256;
  int64_t size_bytes = 0;
  std::optional<domain::TensorSchema> schema;
  std::optional<domain::TrainingMetadata> training;
  std::optional<domain::PerformanceBaseline> baseline;
  domain::Json preprocessing = nullptr;
  std::map<std::string, std::string> tags;
  std::optional<int64_t> parent_version;   // must exist in the same model (InvalidArgument)
  std::string created_by;
};

struct ListVersionsQuery {
  int limit = 50;             // 1..1000
  std::string page_token;
};

struct VersionPage {
  std::vector<domain::ModelVersion> versions;  // ordered by version ascending
  std::string next_page_token;
};

class ModelRegistry {
 public:
  virtual ~ModelRegistry() = default;

  // Models.
  virtual absl::StatusOr<domain::Model> CreateModel(const domain::Model& model) = 0;
  virtual absl::StatusOr<ModelPage> ListModels(const ListModelsQuery& query) = 0;
  virtual absl::StatusOr<domain::Model> GetModel(const std::string& name) = 0;
  virtual absl::StatusOr<domain::Model> UpdateModel(const std::string& name,
                                                    const ModelUpdate& update) = 0;
  // Deletes the model with its versions and aliases. Returns the artifact digests no longer
  // referenced by any version (the caller may delete those blobs).
  virtual absl::StatusOr<std::vector<std::string>> DeleteModel(const std::string& name,
                                                               bool force) = 0;

  // Versions.
  virtual absl::StatusOr<domain::ModelVersion> CreateVersion(const NewVersion& nv) = 0;
  virtual absl::StatusOr<VersionPage> ListVersions(const std::string& model,
                                                   const ListVersionsQuery& query) = 0;
  virtual absl::StatusOr<domain::ModelVersion> GetVersion(const std::string& model,
                                                          int64_t version) = 0;
  virtual absl::StatusOr<domain::ModelVersion> GetVersionByAlias(const std::string& model,
                                                                 const std::string& alias) = 0;
  virtual absl::StatusOr<domain::ModelVersion> SetVersionStatus(const std::string& model,
                                                                int64_t version,
                                                                domain::VersionStatus status) = 0;
  virtual absl::StatusOr<domain::ModelVersion> SetVersionTags(
      const std::string& model, int64_t version, const std::map<std::string, std::string>& tags) = 0;
  // True when some version (of any model) references the digest.
  virtual absl::StatusOr<bool> IsArtifactReferenced(const std::string& sha256) = 0;

  // Aliases: a name pointing at one version of a model. SetAlias creates or moves it atomically.
  virtual absl::Status SetAlias(const std::string& model, const std::string& alias,
                                int64_t version) = 0;
  virtual absl::Status DeleteAlias(const std::string& model, const std::string& alias) = 0;
  virtual absl::StatusOr<std::map<std::string, int64_t>> ListAliases(const std::string& model) = 0;
};

}  // namespace hotswap::registry
