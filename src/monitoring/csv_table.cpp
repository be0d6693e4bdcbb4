#include "monitoring/csv_table.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/csv.h"
#include "common/status.h"

namespace hotswap::monitoring {

int CsvTable::ColumnIndex(std::string_view name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

bool IsMissingCell(std::string_view cell) {
  return cell.empty() || cell == "NA" || cell == "NaN" || cell == "null";
}

CsvTable CsvTable::FromRows(std::vector<std::string> header,
                           std::vector<std::vector<std::string>> rows) {
  CsvTable table;
  table.header = std::move(header);
  table.columns.assign(table.header.size(), {});
  for (auto& column : table.columns) column.reserve(rows.size());
  for (auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < table.columns.size(); ++c) {
      table.columns[c].push_back(std::move(row[c]));
    }
  }
  return table;
}

absl::StatusOr<CsvTable> ParseCsv(std::string_view text) {
  HS_ASSIGN_OR_RETURN(common::CsvRows parsed, common::ParseCsvRows(text));
  return CsvTable::FromRows(std::move(parsed.header), std::move(parsed.rows));
}

absl::StatusOr<CsvTable> ReadCsvFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read CSV file '", path, "'"));
  std::ostringstream buf;
  buf << in.rdbuf();
  auto table = ParseCsv(buf.str());
  if (!table.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", table.status().message()));
  return table;
}

}  // namespace hotswap::monitoring
