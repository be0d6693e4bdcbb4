// The DatasetStore suite on SQLite.
#include "registry/dataset_store_suite.h"
#include "registry/sqlite_dataset_store.h"
#include "registry/sqlite_registry.h"

namespace hotswap::registry {
namespace {

using testing::DatasetBackend;
using testing::DatasetBackendName;
using testing::DatasetStores;
using testing::DatasetStoreSuite;

DatasetStores MakeSqliteStores(Clock* clock, const std::string& dir) {
  auto db = SqliteDatabase::Open(dir + "/registry.db");
  if (!db.ok()) {
    ADD_FAILURE() << db.status();
    return {};
  }
  auto registry = SqliteRegistry::Create(*db, clock);
  if (!registry.ok()) {
    ADD_FAILURE() << registry.status();
    return {};
  }
  return {*std::move(registry), std::make_unique<SqliteDatasetStore>(*db)};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, DatasetStoreSuite,
                         ::testing::Values(DatasetBackend{"Sqlite", &MakeSqliteStores}),
                         DatasetBackendName);

}  // namespace
}  // namespace hotswap::registry
