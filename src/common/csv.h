// The one CSV reader behind version datasets (governance: holdout, reference, background) and
// the offline drift commands (monitoring: `hotswap profile`, `hotswap drift`), so a file one of
// them accepts the other accepts too.
//
// Format: RFC 4180. Comma separators; a field may be double-quoted, and a quoted field may hold
// commas, line ends and `""` for a quote; a quote inside an unquoted field is an ordinary
// character (as Python's csv module and pandas read it); LF or CRLF line ends, the last one
// optional; a UTF-8 byte-order mark is skipped. The first record is the header: non-empty,
// unique column names, not all numbers (a first row made only of numbers is a missing header).
// Every other record has as many fields as the header. Empty lines at the end are ignored;
// elsewhere an empty line is skipped when the header has more than one column, and is a record
// with one empty field when it has one.
//
// Errors are InvalidArgument and start with "line N: " (the physical line, 1-based), except an
// empty file. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hotswap::common {

struct CsvRows {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each header.size() fields
  std::vector<int64_t> row_lines;              // the line each row starts on
};

absl::StatusOr<CsvRows> ParseCsvRows(std::string_view text);

// A cell as a finite double: surrounding spaces and tabs and a leading '+' allowed; "inf",
// "nan", hexadecimal and anything after the number are not. Locale-independent and
// allocation-free. nullopt when the cell is not such a number.
std::optional<double> ParseNumberCell(std::string_view cell);

// A cell as error messages quote it: at most 40 characters ("..." ends a longer one).
std::string ShownCell(std::string_view cell);

}  // namespace hotswap::common
