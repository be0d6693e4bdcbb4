// PostgresDatasetStore: DatasetStore on the registry's PostgreSQL database (table
// `version_datasets`, migration 6). Behaves as SqliteDatasetStore (same codes and messages);
// a Put locks its model's row, so concurrent Puts of one model are serialised and each sees
// the dataset it replaces. Thread-safe: each call is one PgDatabase::Run transaction.
#pragma once

#include <memory>

#include "registry/dataset_store.h"
#include "registry/postgres/pg_database.h"

namespace hotswap::registry {

class PostgresDatasetStore final : public DatasetStore {
 public:
  explicit PostgresDatasetStore(std::shared_ptr<PgDatabase> db) : db_(std::move(db)) {}

  absl::StatusOr<std::optional<VersionDataset>> Put(const VersionDataset& d) override;
  absl::StatusOr<VersionDataset> Get(const std::string& model, int64_t version,
                                     const std::string& kind) override;
  absl::StatusOr<std::vector<VersionDataset>> List(const std::string& model,
                                                   int64_t version) override;
  absl::StatusOr<bool> IsReferenced(const std::string& sha256) override;

 private:
  const std::shared_ptr<PgDatabase> db_;
};

}  // namespace hotswap::registry
