#include "governance/csv_dataset.h"

#include "absl/strings/str_cat.h"
#include "common/csv.h"
#include "common/status.h"

namespace hotswap::governance {

absl::Status CheckAgainstSchema(const CsvTable& table,
                                const std::optional<domain::TensorSchema>& schema) {
  if (!schema) return absl::OkStatus();
  std::vector<std::pair<size_t, std::string>> numeric;  // column index, why
  auto column_of = [&](const std::string& name) -> std::optional<size_t> {
    for (size_t c = 0; c < table.header.size(); ++c) {
      if (table.header[c] == name) return c;
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
      if (static_cast<int64_t>(table.header.size()) < m) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the schema's input '", in.name, "' takes ", m, " features per row; the CSV has ",
            table.header.size(), " columns"));
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
      if (!common::ParseNumberCell(table.rows[r][c])) {
        return absl::InvalidArgumentError(absl::StrCat(
            "line ", table.row_lines[r], ", column '", table.header[c], "': '", common::ShownCell(table.rows[r][c]),
            "' is not a finite number, and the version's schema makes the column numeric (", why,
            ")"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> FeatureMatrix(const CsvTable& table, int64_t features) {
  if (features < 1 || static_cast<int64_t>(table.header.size()) < features) {
    return absl::InvalidArgumentError(absl::StrCat("the dataset has ", table.header.size(),
                                                   " columns; ", features, " features are needed"));
  }
  std::vector<double> out;
  out.reserve(table.rows.size() * static_cast<size_t>(features));
  for (size_t r = 0; r < table.rows.size(); ++r) {
    for (int64_t c = 0; c < features; ++c) {
      auto v = common::ParseNumberCell(table.rows[r][static_cast<size_t>(c)]);
      if (!v) {
        return absl::InvalidArgumentError(absl::StrCat(
            "line ", table.row_lines[r], ", column '", table.header[static_cast<size_t>(c)], "': '",
            common::ShownCell(table.rows[r][static_cast<size_t>(c)]), "' is not a finite number"));
      }
      out.push_back(*v);
    }
  }
  return out;
}

}  // namespace hotswap::governance
