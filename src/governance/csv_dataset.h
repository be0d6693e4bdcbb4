// CsvDataset: the CSV form of a version's datasets (holdout, reference, background) — checks
// against the version's schema and the numeric feature matrix; parsing is common::ParseCsvRows.
//
// Format: common/csv.h (RFC 4180, a header of unique names, every row as wide as the header),
// shared with the offline drift commands.
//
// Numeric cells: what common::ParseNumberCell reads (a finite number; no NaN or infinity, no
// empty cells in a numeric column).
//
// Which columns must be numeric (CheckAgainstSchema), from the version's declared schema:
//   - a column named like a schema input whose datatype is numeric (not BYTES) and whose shape
//     is [-1] or [-1, 1] (one value per row): that column;
//   - a schema with exactly one input, numeric, of shape [-1, M] with M fixed and no column of
//     that name: the first M columns are its features (extra columns, e.g. a label, may follow)
//     and the CSV must have at least M columns.
// Without a schema only the structure is checked.
//
// Plain value type; functions are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/csv.h"
#include "domain/model.h"

namespace hotswap::governance {

// A dataset as common::ParseCsvRows reads it (header, rows, the line of each row).
using CsvTable = common::CsvRows;

// InvalidArgument naming the row, column and cell when a column the schema makes numeric holds
// something else, or when the CSV has fewer columns than the schema's single input has features.
absl::Status CheckAgainstSchema(const CsvTable& table,
                                const std::optional<domain::TensorSchema>& schema);

// The first `features` columns as a row-major [rows, features] matrix of doubles.
// InvalidArgument when the table has fewer columns or a cell there is not a finite number.
absl::StatusOr<std::vector<double>> FeatureMatrix(const CsvTable& table, int64_t features);

}  // namespace hotswap::governance
