// SqliteRegistry: the embedded ModelRegistry, stored in the SQLite database of SqliteDatabase
// (tables models, model_tags, model_versions, aliases; see migrations.cpp).
//
// Thread-safe: every call runs its SQL in one Transaction of the shared SqliteDatabase (writes
// BEGIN IMMEDIATE), so concurrent calls, in this process or another one using the same file,
// are serialised per transaction. Validation, JSON encoding and decoding run outside the
// database lock. Schema, training, baseline and preprocessing are stored as the domain's JSON.
//
// Page tokens are opaque (base64url); a token from ListModels is not valid for ListVersions.
//
// Typical sequence:
//   HS_ASSIGN_OR_RETURN(auto db, SqliteDatabase::Open(dir + "/registry.db"));
//   HS_ASSIGN_OR_RETURN(auto reg, SqliteRegistry::Create(db, SystemClock::Get()));
//   reg->CreateModel({.name = "iris"});
#pragma once

#include <memory>

#include "common/clock.h"
#include "registry/model_registry.h"
#include "registry/sqlite_database.h"

namespace hotswap::registry {

class SqliteRegistry final : public ModelRegistry {
 public:
  // `clock` stamps created_at/updated_at and must outlive the registry.
  static absl::StatusOr<std::unique_ptr<SqliteRegistry>> Create(std::shared_ptr<SqliteDatabase> db,
                                                                Clock* clock);

  absl::StatusOr<domain::Model> CreateModel(const domain::Model& model) override;
  absl::StatusOr<ModelPage> ListModels(const ListModelsQuery& query) override;
  absl::StatusOr<domain::Model> GetModel(const std::string& name) override;
  absl::StatusOr<domain::Model> UpdateModel(const std::string& name,
                                            const ModelUpdate& update) override;
  absl::StatusOr<std::vector<std::string>> DeleteModel(const std::string& name,
                                                       bool force) override;

  absl::StatusOr<domain::ModelVersion> CreateVersion(const NewVersion& nv) override;
  absl::StatusOr<VersionPage> ListVersions(const std::string& model,
                                           const ListVersionsQuery& query) override;
  absl::StatusOr<domain::ModelVersion> GetVersion(const std::string& model,
                                                  int64_t version) override;
  absl::StatusOr<domain::ModelVersion> GetVersionByAlias(const std::string& model,
                                                         const std::string& alias) override;
  absl::StatusOr<domain::ModelVersion> SetVersionStatus(const std::string& model, int64_t version,
                                                        domain::VersionStatus status) override;
  absl::StatusOr<domain::ModelVersion> SetVersionTags(
      const std::string& model, int64_t version,
      const std::map<std::string, std::string>& tags) override;
  absl::StatusOr<bool> IsArtifactReferenced(const std::string& sha256) override;

  absl::Status SetAlias(const std::string& model, const std::string& alias,
                        int64_t version) override;
  absl::Status DeleteAlias(const std::string& model, const std::string& alias) override;
  absl::StatusOr<std::map<std::string, int64_t>> ListAliases(const std::string& model) override;

 private:
  SqliteRegistry(std::shared_ptr<SqliteDatabase> db, Clock* clock)
      : db_(std::move(db)), clock_(clock) {}

  const std::shared_ptr<SqliteDatabase> db_;
  Clock* const clock_;
};

}  // namespace hotswap::registry
