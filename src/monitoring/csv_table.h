// CSV tables by column for the offline monitoring commands (`hotswap profile`, `hotswap drift`)
// and drift references. The format and its errors are common/csv.h's, shared with version
// datasets. Cells stay text; IsMissingCell says which are missing.
// Pure functions and a plain value type; thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hotswap::monitoring {

// A parsed CSV file, stored by column (the profile and drift code read a column at a time).
struct CsvTable {
  std::vector<std::string> header;                // unique, non-empty column names
  std::vector<std::vector<std::string>> columns;  // columns[c][row], all of the same length
  size_t row_count() const { return columns.empty() ? 0 : columns[0].size(); }
  // Index of the named column, or -1.
  int ColumnIndex(std::string_view name) const;
  // By column from rows (each as wide as the header; extra fields are dropped).
  static CsvTable FromRows(std::vector<std::string> header,
                           std::vector<std::vector<std::string>> rows);
};

// True for the cells that mean "no value": "" (also a quoted ""), "NA", "NaN" and "null".
bool IsMissingCell(std::string_view cell);

// Parses CSV text (common::ParseCsvRows): InvalidArgument with "line N: ..." for an
// unterminated quote, text after a closing quote, a record with the wrong number of fields, an
// empty or duplicate column name, a header made only of numbers, or a file without a header.
absl::StatusOr<CsvTable> ParseCsv(std::string_view text);

// Reads and parses a file; NotFound when it cannot be opened, and parse errors prefixed with
// the path.
absl::StatusOr<CsvTable> ReadCsvFile(const std::string& path);

}  // namespace hotswap::monitoring
