// PostgresRegistry: the ModelRegistry for production, stored in PostgreSQL through PgDatabase
// (tables models, model_tags, model_versions, aliases; see PgRegistryMigrations()). It behaves
// exactly as SqliteRegistry (same codes and messages); both pass registry_suite.h.
//
// Thread-safe, and safe with several servers on one database: every call runs its SQL in one
// PgDatabase::Run transaction. Writers lock the model's row (SELECT ... FOR UPDATE) first, so
// changes to one model are serialised across connections and processes: automatic version
// numbers are distinct and consecutive, and an explicit number taken by a concurrent writer is
// AlreadyExists. Reads run in one REPEATABLE READ snapshot, so an alias move is atomic for them.
// Validation, JSON encoding and decoding run outside transactions.
//
// Page tokens are opaque (base64url) and the same as SqliteRegistry's.
//
// Typical sequence:
//   HS_ASSIGN_OR_RETURN(auto db, PgDatabase::Open({.conninfo = "postgresql://hotswap@db/hs"}));
//   HS_ASSIGN_OR_RETURN(auto reg, PostgresRegistry::Create(db, SystemClock::Get()));
//   reg->CreateModel({.name = "iris"});
#pragma once

#include <memory>

#include "common/clock.h"
#include "registry/model_registry.h"
#include "registry/postgres/pg_database.h"

namespace hotswap::registry {

class PostgresRegistry final : public ModelRegistry {
 public:
  // `clock` stamps created_at/updated_at and must outlive the registry.
  static absl::StatusOr<std::unique_ptr<PostgresRegistry>> Create(std::shared_ptr<PgDatabase> db,
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
  PostgresRegistry(std::shared_ptr<PgDatabase> db, Clock* clock)
      : db_(std::move(db)), clock_(clock) {}

  const std::shared_ptr<PgDatabase> db_;
  Clock* const clock_;
};

}  // namespace hotswap::registry
