#include "monitoring/csv_table.h"

#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace hotswap::monitoring {

int CsvTable::ColumnIndex(std::string_view name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

bool IsMissingCell(std::string_view cell) {
  return cell.empty() || cell == "NA" || cell == "NaN" || cell == "null";
}

absl::StatusOr<CsvTable> ParseCsv(std::string_view text) {
  CsvTable table;
  size_t pos = 0;
  int64_t line = 1;  // physical line of `pos`
  bool have_header = false;
  std::vector<std::string> fields;
  std::string field;
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;  // UTF-8 byte-order mark

  while (pos < text.size()) {
    const int64_t record_line = line;
    fields.clear();
    bool record_done = false;
    bool blank = true;  // the record is a line with nothing on it
    while (!record_done) {
      field.clear();
      if (pos < text.size() && text[pos] == '"') {
        blank = false;
        ++pos;
        bool closed = false;
        while (pos < text.size()) {
          char c = text[pos];
          if (c == '"') {
            if (pos + 1 < text.size() && text[pos + 1] == '"') {
              field.push_back('"');
              pos += 2;
              continue;
            }
            ++pos;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          field.push_back(c);
          ++pos;
        }
        if (!closed)
          return absl::InvalidArgumentError(
              absl::StrCat("line ", record_line, ": unterminated quoted field"));
        if (pos < text.size() && text[pos] != ',' && text[pos] != '\n' &&
            !(text[pos] == '\r' && (pos + 1 == text.size() || text[pos + 1] == '\n')))
          return absl::InvalidArgumentError(
              absl::StrCat("line ", line, ": unexpected text after a closing quote"));
      } else {
        while (pos < text.size() && text[pos] != ',' && text[pos] != '\n' &&
               !(text[pos] == '\r' && (pos + 1 == text.size() || text[pos + 1] == '\n'))) {
          if (text[pos] == '"')
            return absl::InvalidArgumentError(
                absl::StrCat("line ", line, ": a quote inside an unquoted field"));
          field.push_back(text[pos]);
          ++pos;
        }
        if (!field.empty()) blank = false;
      }
      fields.push_back(field);
      if (pos >= text.size()) {
        record_done = true;
      } else if (text[pos] == ',') {
        blank = false;
        ++pos;
      } else {  // end of line
        if (text[pos] == '\r') ++pos;
        if (pos < text.size() && text[pos] == '\n') ++pos;
        ++line;
        record_done = true;
      }
    }
    if (!have_header) {
      absl::flat_hash_set<std::string> seen;
      for (const auto& name : fields) {
        if (name.empty())
          return absl::InvalidArgumentError(absl::StrCat("line ", record_line, ": empty column name in the header"));
        if (!seen.insert(name).second)
          return absl::InvalidArgumentError(
              absl::StrCat("line ", record_line, ": duplicate column name '", name, "'"));
      }
      table.header = fields;
      table.columns.assign(fields.size(), {});
      have_header = true;
      continue;
    }
    if (blank && table.header.size() > 1) continue;
    if (fields.size() != table.header.size())
      return absl::InvalidArgumentError(absl::StrCat("line ", record_line, ": expected ",
                                                     table.header.size(), " fields, found ",
                                                     fields.size()));
    for (size_t c = 0; c < fields.size(); ++c) table.columns[c].push_back(std::move(fields[c]));
  }
  if (!have_header) return absl::InvalidArgumentError("empty file: no header row");
  return table;
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
