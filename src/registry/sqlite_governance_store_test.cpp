// The GovernanceStore suite on SQLite.
#include "registry/sqlite_governance_store.h"

#include "registry/governance_store_suite.h"
#include "registry/sqlite_registry.h"

namespace hotswap::registry {
namespace {

using testing::GovernanceBackend;
using testing::GovernanceBackendName;
using testing::GovernanceStores;
using testing::GovernanceStoreSuite;

GovernanceStores MakeSqliteStores(Clock* clock, const std::string& dir) {
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
  return {*std::move(registry), std::make_unique<SqliteGovernanceStore>(*db)};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, GovernanceStoreSuite,
                         ::testing::Values(GovernanceBackend{"Sqlite", &MakeSqliteStores}),
                         GovernanceBackendName);

}  // namespace
}  // namespace hotswap::registry
