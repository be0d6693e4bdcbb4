// The registry database's schema history: an ordered list of SQL scripts. SqliteDatabase::Open
// applies each one not yet recorded in schema_migrations, once, inside its own transaction.
//
// Rules: never edit or reorder a released migration; add a new one with the next version.
// Thread-safe (immutable data).
#pragma once

#include <span>
#include <string_view>

namespace hotswap::registry {

struct Migration {
  int version = 0;               // 1, 2, 3, ... strictly increasing
  std::string_view description;  // for the log line and schema_migrations readers
  std::string_view sql;          // one or more statements; no BEGIN/COMMIT
};

// The migrations of the registry and token tables, oldest first.
std::span<const Migration> RegistryMigrations();

}  // namespace hotswap::registry
