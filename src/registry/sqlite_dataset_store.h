// SqliteDatasetStore: DatasetStore on the shared registry database (table `version_datasets`,
// migration 6). Thread-safe.
#pragma once

#include <memory>

#include "registry/dataset_store.h"
#include "registry/sqlite_database.h"

namespace hotswap::registry {

class SqliteDatasetStore final : public DatasetStore {
 public:
  explicit SqliteDatasetStore(std::shared_ptr<SqliteDatabase> db) : db_(std::move(db)) {}

  absl::StatusOr<std::optional<VersionDataset>> Put(const VersionDataset& d) override;
  absl::StatusOr<VersionDataset> Get(const std::string& model, int64_t version,
                                     const std::string& kind) override;
  absl::StatusOr<std::vector<VersionDataset>> List(const std::string& model,
                                                   int64_t version) override;
  absl::StatusOr<bool> IsReferenced(const std::string& sha256) override;

 private:
  std::shared_ptr<SqliteDatabase> db_;
};

}  // namespace hotswap::registry
