#include "governance/csv_dataset.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace hotswap::governance {
namespace {

// A cell for an error message: at most 40 characters.
std::string Shown(std::string_view cell) {
  if (cell.size() <= 40) return std::string(cell);
  return std::string(cell.substr(0, 37)) + "...";
}

}  // namespace

std::optional<double> ParseNumber(std::string_view cell) {
  size_t b = 0, e = cell.size();
  while (b < e && (cell[b] == ' ' || cell[b] == '\t')) ++b;
  while (e > b && (cell[e - 1] == ' ' || cell[e - 1] == '\t')) --e;
  if (b == e || e - b > 64) return std::nullopt;
  std::string s(cell.substr(b, e - b));
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

absl::StatusOr<CsvTable> ParseCsv(std::string_view text) {
  std::vector<std::vector<std::string>> records;
  std::vector<int64_t> lines;  // the line each record starts on
  std::vector<std::string> record;
  std::string field;
  int64_t line = 1;
  int64_t record_line = 1;
  size_t i = 0;
  bool any = false;  // the current record has content (a field separator or a character)
  const size_t n = text.size();
  while (i < n) {
    char c = text[i];
    if (c == '"' && field.empty()) {
      // A quoted field.
      const int64_t opened = line;
      ++i;
      bool closed = false;
      while (i < n) {
        if (text[i] == '"') {
          if (i + 1 < n && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        if (text[i] == '\n') ++line;
        field += text[i++];
      }
      if (!closed) {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", opened, ": a quoted field is not closed"));
      }
      any = true;
      if (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line, ": unexpected character after a quoted field"));
      }
      continue;
    }
    if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
      any = true;
      ++i;
      continue;
    }
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
      ++i;
      if (any || !field.empty()) {
        record.push_back(std::move(field));
        records.push_back(std::move(record));
        lines.push_back(record_line);
      } else {
        records.emplace_back();  // an empty line
        lines.push_back(record_line);
      }
      record.clear();
      field.clear();
      any = false;
      ++line;
      record_line = line;
      continue;
    }
    field += c;
    any = true;
    ++i;
  }
  if (any || !field.empty()) {
    record.push_back(std::move(field));
    records.push_back(std::move(record));
    lines.push_back(record_line);
  }
  while (!records.empty() && records.back().empty()) {
    records.pop_back();
    lines.pop_back();
  }
  if (records.empty()) return absl::InvalidArgumentError("the CSV is empty; expected a header row");
  CsvTable table;
  table.columns = std::move(records[0]);
  if (table.columns.empty()) return absl::InvalidArgumentError("line 1: the header is empty");
  bool all_numbers = true;
  std::set<std::string> names;
  for (size_t c = 0; c < table.columns.size(); ++c) {
    const std::string& name = table.columns[c];
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line 1: column ", c + 1, " has no name; the first row must be a header"));
    }
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("line 1: column name '", Shown(name), "' appears twice"));
    }
    all_numbers = all_numbers && ParseNumber(name).has_value();
  }
  if (all_numbers) {
    return absl::InvalidArgumentError(
        "line 1: the first row holds only numbers; the first row must be a header of column "
        "names");
  }
  for (size_t r = 1; r < records.size(); ++r) {
    const size_t got = records[r].empty() ? 1 : records[r].size();
    if (got != table.columns.size()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", lines[r], ": ", got, " fields; the header has ",
                                                     table.columns.size()));
    }
    if (records[r].empty()) records[r].emplace_back();
    table.rows.push_back(std::move(records[r]));
  }
  return table;
}

absl::Status CheckAgainstSchema(const CsvTable& table,
                                const std::optional<domain::TensorSchema>& schema) {
  if (!schema) return absl::OkStatus();
  std::vector<std::pair<size_t, std::string>> numeric;  // column index, why
  auto column_of = [&](const std::string& name) -> std::optional<size_t> {
    for (size_t c = 0; c < table.columns.size(); ++c) {
      if (table.columns[c] == name) return c;
    }
    return std::nullopt;
  };
  for (const domain::TensorSpec& in : schema->inputs) {
    if (in.datatype == domain::DataType::kBytes) continue;
    const bool one_per_row = (in.shape.size() == 1) || (in.shape.size() == 2 && in.shape[1] == 1);
    if (one_per_row) {
      if (auto c = column_of(in.name)) {
        numeric.push_back({*c, absl::StrCat("input '", in.name, "' is ",
                                            ToAbsl(domain::DataTypeName(in.datatype)))});
      }
    }
  }
  if (schema->inputs.size() == 1) {
    const domain::TensorSpec& in = schema->inputs[0];
    if (in.datatype != domain::DataType::kBytes && in.shape.size() == 2 && in.shape[1] >= 1 &&
        !column_of(in.name)) {
      const int64_t m = in.shape[1];
      if (static_cast<int64_t>(table.columns.size()) < m) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the schema's input '", in.name, "' takes ", m, " features per row; the CSV has ",
            table.columns.size(), " columns"));
      }
      for (int64_t c = 0; c < m; ++c) {
        numeric.push_back({static_cast<size_t>(c),
                           absl::StrCat("feature ", c, " of input '", in.name, "' (",
                                        ToAbsl(domain::DataTypeName(in.datatype)), ")")});
      }
    }
  }
  for (const auto& [c, why] : numeric) {
    for (size_t r = 0; r < table.rows.size(); ++r) {
      if (!ParseNumber(table.rows[r][c])) {
        return absl::InvalidArgumentError(absl::StrCat(
            "line ", r + 2, ", column '", table.columns[c], "': '", Shown(table.rows[r][c]),
            "' is not a finite number, and the version's schema makes the column numeric (", why,
            ")"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> FeatureMatrix(const CsvTable& table, int64_t features) {
  if (features < 1 || static_cast<int64_t>(table.columns.size()) < features) {
    return absl::InvalidArgumentError(absl::StrCat("the dataset has ", table.columns.size(),
                                                   " columns; ", features, " features are needed"));
  }
  std::vector<double> out;
  out.reserve(table.rows.size() * static_cast<size_t>(features));
  for (size_t r = 0; r < table.rows.size(); ++r) {
    for (int64_t c = 0; c < features; ++c) {
      auto v = ParseNumber(table.rows[r][static_cast<size_t>(c)]);
      if (!v) {
        return absl::InvalidArgumentError(absl::StrCat(
            "line ", r + 2, ", column '", table.columns[static_cast<size_t>(c)], "': '",
            Shown(table.rows[r][static_cast<size_t>(c)]), "' is not a finite number"));
      }
      out.push_back(*v);
    }
  }
  return out;
}

}  // namespace hotswap::governance
