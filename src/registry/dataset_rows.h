// Row mapping of the version_datasets table (migration 6), shared by the SQLite and PostgreSQL
// dataset stores. Internal to src/registry.
#pragma once

#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "registry/dataset_store.h"

namespace hotswap::registry::rows {

// Selected from `version_datasets d JOIN models m ON m.id = d.model_id`.
inline constexpr const char* kDatasetColumns =
    "m.name, d.version, d.kind, d.sha256, d.size_bytes, d.row_count, d.columns_json, "
    "d.created_by, d.created_at";

template <typename Stmt>
VersionDataset ReadDatasetRow(const Stmt& st) {
  VersionDataset d;
  d.model_name = st.ColumnText(0);
  d.version = st.ColumnInt64(1);
  d.kind = st.ColumnText(2);
  d.sha256 = st.ColumnText(3);
  d.size_bytes = st.ColumnInt64(4);
  d.rows = st.ColumnInt64(5);
  nlohmann::json cols = nlohmann::json::parse(st.ColumnText(6), nullptr, false);
  if (cols.is_array()) {
    for (const auto& c : cols) {
      if (c.is_string()) d.columns.push_back(c.get<std::string>());
    }
  }
  d.created_by = st.ColumnText(7);
  d.created_at_ms = st.ColumnInt64(8);
  return d;
}

inline std::string ColumnsJson(const VersionDataset& d) { return nlohmann::json(d.columns).dump(); }

}  // namespace hotswap::registry::rows
