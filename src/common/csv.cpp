#include "common/csv.h"

#include <charconv>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace hotswap::common {
namespace {

struct Record {
  int64_t line = 0;
  std::vector<std::string> fields;
  bool blank = false;  // a line with nothing on it
};

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // UTF-8 byte-order mark
  }
  bool done() const { return pos_ >= text_.size(); }

  // The next record; call only when !done().
  absl::Status Next(Record& record) {
    record.line = line_;
    record.fields.clear();
    record.blank = true;
    std::string field;
    while (true) {
      field.clear();
      if (pos_ < text_.size() && text_[pos_] == '"') {
        record.blank = false;
        const int64_t opened = line_;
        ++pos_;
        bool closed = false;
        while (pos_ < text_.size()) {
          char c = text_[pos_];
          if (c == '"') {
            if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
              field.push_back('"');
              pos_ += 2;
              continue;
            }
            ++pos_;
            closed = true;
            break;
          }
          if (c == '\n') ++line_;
          field.push_back(c);
          ++pos_;
        }
        if (!closed) {
          return absl::InvalidArgumentError(absl::StrCat("line ", opened, ": unterminated quoted field"));
        }
        if (pos_ < text_.size() && text_[pos_] != ',' && !AtLineEnd()) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", line_, ": unexpected text after a closing quote"));
        }
      } else {
        size_t start = pos_;
        while (pos_ < text_.size() && text_[pos_] != ',' && !AtLineEnd()) ++pos_;
        field.assign(text_.substr(start, pos_ - start));
        if (!field.empty()) record.blank = false;
      }
      record.fields.push_back(std::move(field));
      if (pos_ >= text_.size()) return absl::OkStatus();
      if (text_[pos_] == ',') {
        record.blank = false;
        ++pos_;
        continue;
      }
      if (text_[pos_] == '\r') ++pos_;  // AtLineEnd: "\r\n" or a final "\r"
      if (pos_ < text_.size()) ++pos_;  // '\n'
      ++line_;
      return absl::OkStatus();
    }
  }

 private:
  bool AtLineEnd() const {
    char c = text_[pos_];
    return c == '\n' || (c == '\r' && (pos_ + 1 == text_.size() || text_[pos_ + 1] == '\n'));
  }

  std::string_view text_;
  size_t pos_ = 0;
  int64_t line_ = 1;
};

absl::Status CheckHeader(const std::vector<std::string>& header) {
  absl::flat_hash_set<std::string_view> names;
  bool all_numbers = true;
  for (size_t c = 0; c < header.size(); ++c) {
    const std::string& name = header[c];
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line 1: column ", c + 1, " has no name; the first row must be a header"));
    }
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("line 1: column name '", ShownCell(name), "' appears twice"));
    }
    all_numbers = all_numbers && ParseNumberCell(name).has_value();
  }
  if (all_numbers) {
    return absl::InvalidArgumentError(
        "line 1: the first row holds only numbers; the first row must be a header of column names");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CsvRows> ParseCsvRows(std::string_view text) {
  Reader reader(text);
  CsvRows out;
  Record record;
  bool have_header = false;
  size_t trailing_blank = 0;  // blank one-column records not yet known to be inside the data
  while (!reader.done()) {
    if (absl::Status s = reader.Next(record); !s.ok()) return s;
    if (!have_header) {
      if (absl::Status s = CheckHeader(record.fields); !s.ok()) return s;
      out.header = std::move(record.fields);
      have_header = true;
      continue;
    }
    if (record.blank) {
      if (out.header.size() > 1) continue;
      ++trailing_blank;
    } else {
      trailing_blank = 0;
    }
    if (record.fields.size() != out.header.size()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", record.line, ": expected ",
                                                     out.header.size(), " fields, found ",
                                                     record.fields.size()));
    }
    out.rows.push_back(std::move(record.fields));
    out.row_lines.push_back(record.line);
  }
  if (!have_header) return absl::InvalidArgumentError("empty file: no header row");
  out.rows.resize(out.rows.size() - trailing_blank);
  out.row_lines.resize(out.rows.size());
  return out;
}

std::string ShownCell(std::string_view cell) {
  if (cell.size() <= 40) return std::string(cell);
  return std::string(cell.substr(0, 37)) + "...";
}

std::optional<double> ParseNumberCell(std::string_view cell) {
  while (!cell.empty() && (cell.front() == ' ' || cell.front() == '\t')) cell.remove_prefix(1);
  while (!cell.empty() && (cell.back() == ' ' || cell.back() == '\t')) cell.remove_suffix(1);
  const bool plus = !cell.empty() && cell.front() == '+';
  if (plus) cell.remove_prefix(1);
  if (cell.empty() || (plus && cell.front() == '-')) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
  if (ec != std::errc() || ptr != cell.data() + cell.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace hotswap::common
