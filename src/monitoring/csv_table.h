// A small, strict CSV reader for the offline monitoring commands (`hotswap profile`,
// `hotswap drift`): RFC 4180 (comma separator, a header row, double-quoted fields with ""
// escapes and embedded newlines, \n or \r\n line ends). Every record must have as many fields
// as the header; errors name the line. Cells stay text; IsMissingCell says which are missing.
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
};

// True for the cells that mean "no value": "" (also a quoted ""), "NA", "NaN" and "null".
bool IsMissingCell(std::string_view cell);

// Parses CSV text. InvalidArgument with "line N: ..." for an unterminated quote, text after a
// closing quote, a record with the wrong number of fields, an empty or duplicate column name,
// or a file without a header. Lines that are entirely empty are skipped when the header has
// more than one column (with one column an empty line is a missing value).
absl::StatusOr<CsvTable> ParseCsv(std::string_view text);

// Reads and parses a file; NotFound when it cannot be opened, and parse errors prefixed with
// the path.
absl::StatusOr<CsvTable> ReadCsvFile(const std::string& path);

}  // namespace hotswap::monitoring
