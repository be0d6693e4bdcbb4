#include "monitoring/reference_profile.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/csv.h"
#include "common/status.h"

namespace hotswap::monitoring {
namespace {

using nlohmann::json;

constexpr std::string_view kFormat = "hotswap.reference_profile/v1";
constexpr double kProfileQuantiles[] = {0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99};

absl::StatusOr<ColumnType> ParseType(const std::string& s) {
  if (s == "numeric") return ColumnType::kNumeric;
  if (s == "categorical") return ColumnType::kCategorical;
  return absl::InvalidArgumentError(absl::StrCat("unknown column type '", s, "' (numeric|categorical)"));
}

absl::StatusOr<ColumnRole> ParseRole(const std::string& s) {
  if (s == "input") return ColumnRole::kInput;
  if (s == "output") return ColumnRole::kOutput;
  return absl::InvalidArgumentError(absl::StrCat("unknown column role '", s, "' (input|output)"));
}

NumericProfile ProfileNumeric(std::vector<double> values, const ProfileOptions& options) {
  NumericProfile p;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  if (n == 0) return p;
  std::vector<double> edges;
  for (int i = 0; i <= options.bins; ++i) {
    double q = i == options.bins ? 1.0 : static_cast<double>(i) * (1.0 / options.bins);
    edges.push_back(LinearQuantile(values, q));
  }
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  p.edges = std::move(edges);
  p.bin_counts.assign(p.regular_bins() + 2, 0);
  for (double v : values) ++p.bin_counts[p.BinOf(v)];
  p.min = values.front();
  p.max = values.back();
  long double sum = 0;
  for (double v : values) sum += v;
  p.mean = static_cast<double>(sum / static_cast<long double>(n));
  long double ss = 0;
  for (double v : values) ss += (static_cast<long double>(v) - p.mean) * (static_cast<long double>(v) - p.mean);
  p.std = static_cast<double>(std::sqrt(ss / static_cast<long double>(n)));
  for (double q : kProfileQuantiles) p.quantiles.emplace_back(q, LinearQuantile(values, q));
  if (options.sample_size == 0 || n <= options.sample_size) {
    p.sample = std::move(values);
    p.sample_exact = true;
  } else {
    const size_t k = options.sample_size;
    p.sample.reserve(k);
    for (size_t i = 0; i < k; ++i) {
      size_t idx = static_cast<size_t>((static_cast<double>(i) + 0.5) * static_cast<double>(n) / static_cast<double>(k));
      p.sample.push_back(values[std::min(idx, n - 1)]);
    }
    p.sample_exact = false;
  }
  return p;
}

CategoricalProfile ProfileCategorical(const std::vector<std::string>& column, const ProfileOptions& options) {
  absl::flat_hash_map<std::string, uint64_t> counts;
  for (const auto& cell : column)
    if (!IsMissingCell(cell)) ++counts[cell];
  std::vector<std::pair<std::string, uint64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  CategoricalProfile p;
  const size_t k = std::min(sorted.size(), static_cast<size_t>(options.top_k));
  uint64_t other = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i < k) {
      p.categories.push_back(sorted[i].first);
      p.bin_counts.push_back(sorted[i].second);
    } else {
      other += sorted[i].second;
      p.other_values.push_back(sorted[i].first);
    }
  }
  std::sort(p.other_values.begin(), p.other_values.end());
  if (p.other_values.size() > options.max_other_values) {
    p.other_values.resize(options.max_other_values);
    p.other_values_truncated = true;
  }
  p.bin_counts.push_back(other);
  p.bin_counts.push_back(0);  // UNSEEN
  p.BuildIndex();
  return p;
}

}  // namespace

std::string_view ColumnTypeName(ColumnType type) {
  return type == ColumnType::kNumeric ? "numeric" : "categorical";
}
std::string_view ColumnRoleName(ColumnRole role) { return role == ColumnRole::kInput ? "input" : "output"; }

double LinearQuantile(const std::vector<double>& sorted, double q) {
  const size_t n = sorted.size();
  const double virtual_index = static_cast<double>(n - 1) * q;
  double prev = std::floor(virtual_index);
  size_t lo = static_cast<size_t>(std::clamp(prev, 0.0, static_cast<double>(n - 1)));
  size_t hi = std::min(lo + 1, n - 1);
  double t = virtual_index - prev;
  double a = sorted[lo], b = sorted[hi];
  double diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

size_t NumericProfile::BinOf(double x) const {
  if (x < edges.front()) return 0;
  if (x > edges.back()) return bin_counts.size() - 1;
  // upper_bound - 1 = index of the last edge <= x; the top edge belongs to the last bin.
  size_t j = static_cast<size_t>(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin()) - 1;
  return 1 + std::min(j, regular_bins() - 1);
}

void CategoricalProfile::BuildIndex() {
  index_.clear();
  for (size_t i = 0; i < categories.size(); ++i) index_.emplace(categories[i], static_cast<uint32_t>(i));
  for (const auto& v : other_values) index_.emplace(v, static_cast<uint32_t>(other_bin()));
}

size_t CategoricalProfile::BinOf(std::string_view value) const {
  auto it = index_.find(ToAbsl(value));
  if (it != index_.end()) return it->second;
  return other_values_truncated ? other_bin() : unseen_bin();
}

std::optional<double> FeatureProfile::missing_rate() const {
  if (count + missing == 0) return std::nullopt;
  return static_cast<double>(missing) / static_cast<double>(count + missing);
}

absl::StatusOr<ProfileSchema> ProfileSchema::FromJson(const json& j) {
  if (!j.is_object() || !j.contains("columns") || !j["columns"].is_object())
    return absl::InvalidArgumentError(R"(schema must be {"columns": {"<name>": {"type": ..., "role": ...}}})");
  for (const auto& [key, _] : j.items())
    if (key != "columns") return absl::InvalidArgumentError(absl::StrCat("schema: unknown key '", key, "'"));
  ProfileSchema schema;
  for (const auto& [name, spec] : j["columns"].items()) {
    if (!spec.is_object()) return absl::InvalidArgumentError(absl::StrCat("schema column '", name, "' must be an object"));
    Column col;
    for (const auto& [key, value] : spec.items()) {
      if (!value.is_string())
        return absl::InvalidArgumentError(absl::StrCat("schema column '", name, "': '", key, "' must be a string"));
      if (key == "type") {
        auto t = ParseType(value.get<std::string>());
        if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat("schema column '", name, "': ", t.status().message()));
        col.type = *t;
      } else if (key == "role") {
        auto r = ParseRole(value.get<std::string>());
        if (!r.ok()) return absl::InvalidArgumentError(absl::StrCat("schema column '", name, "': ", r.status().message()));
        col.role = *r;
      } else {
        return absl::InvalidArgumentError(absl::StrCat("schema column '", name, "': unknown key '", key, "'"));
      }
    }
    schema.columns[name] = col;
  }
  return schema;
}

absl::StatusOr<ReferenceProfile> ReferenceProfile::FromTable(const CsvTable& table, const ProfileOptions& options,
                                                             const ProfileSchema* schema) {
  if (options.bins < 1) return absl::InvalidArgumentError("--bins must be at least 1");
  if (options.top_k < 1) return absl::InvalidArgumentError("--top-k must be at least 1");
  if (schema != nullptr)
    for (const auto& [name, _] : schema->columns)
      if (table.ColumnIndex(name) < 0)
        return absl::InvalidArgumentError(
            absl::StrCat("schema names column '", name, "', which is not in the data"));
  ReferenceProfile profile;
  profile.options_ = options;
  profile.row_count_ = table.row_count();
  for (size_t c = 0; c < table.header.size(); ++c) {
    const auto& column = table.columns[c];
    FeatureProfile f;
    f.name = table.header[c];
    std::optional<ColumnType> declared;
    if (schema != nullptr) {
      auto it = schema->columns.find(f.name);
      if (it != schema->columns.end()) {
        declared = it->second.type;
        f.role = it->second.role;
      }
    }
    std::vector<double> numbers;
    bool all_numbers = true;
    for (size_t r = 0; r < column.size(); ++r) {
      if (IsMissingCell(column[r])) {
        ++f.missing;
        continue;
      }
      ++f.count;
      if (!all_numbers) continue;
      auto v = common::ParseNumberCell(column[r]);
      if (!v) {
        if (declared == ColumnType::kNumeric)
          return absl::InvalidArgumentError(absl::StrCat("column '", f.name, "', data row ", r + 1, ": '",
                                                         column[r], "' is not a number (the schema says numeric)"));
        all_numbers = false;
        continue;
      }
      numbers.push_back(*v);
    }
    f.type = declared.value_or(all_numbers ? ColumnType::kNumeric : ColumnType::kCategorical);
    if (f.type == ColumnType::kNumeric) f.numeric = ProfileNumeric(std::move(numbers), options);
    else f.categorical = ProfileCategorical(column, options);
    profile.features_.push_back(std::move(f));
  }
  return profile;
}

int ReferenceProfile::FeatureIndex(std::string_view name) const {
  for (size_t i = 0; i < features_.size(); ++i)
    if (features_[i].name == name) return static_cast<int>(i);
  return -1;
}

json ReferenceProfile::ToJson() const {
  json features = json::array();
  for (const auto& f : features_) {
    json j{{"name", f.name}, {"type", ColumnTypeName(f.type)}, {"role", ColumnRoleName(f.role)},
           {"count", f.count}, {"missing", f.missing}};
    if (f.type == ColumnType::kNumeric) {
      const auto& n = f.numeric;
      j["edges"] = n.edges;
      j["bin_counts"] = n.bin_counts;
      if (f.count > 0) {
        j["min"] = n.min;
        j["max"] = n.max;
        j["mean"] = n.mean;
        j["std"] = n.std;
        json q = json::object();
        for (const auto& [p, v] : n.quantiles) q[absl::StrCat("p", static_cast<int>(std::lround(p * 100)))] = v;
        j["quantiles"] = q;
      }
      j["sample"] = json{{"exact", n.sample_exact}, {"values", n.sample}};
    } else {
      const auto& c = f.categorical;
      j["categories"] = c.categories;
      j["bin_counts"] = c.bin_counts;
      j["other_values"] = c.other_values;
      j["other_values_truncated"] = c.other_values_truncated;
    }
    features.push_back(std::move(j));
  }
  return json{{"format", kFormat},
              {"row_count", row_count_},
              {"options", {{"bins", options_.bins}, {"top_k", options_.top_k}, {"sample_size", options_.sample_size},
                           {"max_other_values", options_.max_other_values}}},
              {"features", std::move(features)}};
}

absl::StatusOr<ReferenceProfile> ReferenceProfile::FromJson(const json& j) {
  auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("not a reference profile: ", ToAbsl(what)));
  };
  try {
    if (!j.is_object() || j.value("format", "") != kFormat)
      return bad(absl::StrCat("\"format\" must be \"", ToAbsl(kFormat), "\""));
    ReferenceProfile p;
    p.row_count_ = j.at("row_count").get<uint64_t>();
    const auto& o = j.at("options");
    p.options_.bins = o.at("bins").get<int>();
    p.options_.top_k = o.at("top_k").get<int>();
    p.options_.sample_size = o.at("sample_size").get<size_t>();
    p.options_.max_other_values = o.at("max_other_values").get<size_t>();
    for (const auto& jf : j.at("features")) {
      FeatureProfile f;
      f.name = jf.at("name").get<std::string>();
      HS_ASSIGN_OR_RETURN(f.type, ParseType(jf.at("type").get<std::string>()));
      HS_ASSIGN_OR_RETURN(f.role, ParseRole(jf.value("role", "input")));
      f.count = jf.at("count").get<uint64_t>();
      f.missing = jf.at("missing").get<uint64_t>();
      uint64_t total = 0;
      if (f.type == ColumnType::kNumeric) {
        auto& n = f.numeric;
        n.edges = jf.at("edges").get<std::vector<double>>();
        n.bin_counts = jf.at("bin_counts").get<std::vector<uint64_t>>();
        if (!std::is_sorted(n.edges.begin(), n.edges.end()) ||
            std::adjacent_find(n.edges.begin(), n.edges.end()) != n.edges.end())
          return bad(absl::StrCat("feature '", f.name, "': edges must be ascending and distinct"));
        size_t want = n.edges.empty() ? 0 : n.regular_bins() + 2;
        if (n.bin_counts.size() != want)
          return bad(absl::StrCat("feature '", f.name, "': ", n.bin_counts.size(), " bin counts for ",
                                  n.edges.size(), " edges (want ", want, ")"));
        if (f.count > 0) {
          n.min = jf.at("min").get<double>();
          n.max = jf.at("max").get<double>();
          n.mean = jf.at("mean").get<double>();
          n.std = jf.at("std").get<double>();
          for (double q : kProfileQuantiles) {
            std::string key = absl::StrCat("p", static_cast<int>(std::lround(q * 100)));
            n.quantiles.emplace_back(q, jf.at("quantiles").at(key).get<double>());
          }
        }
        n.sample_exact = jf.at("sample").at("exact").get<bool>();
        n.sample = jf.at("sample").at("values").get<std::vector<double>>();
        if (!std::is_sorted(n.sample.begin(), n.sample.end()))
          return bad(absl::StrCat("feature '", f.name, "': sample values must be sorted"));
        if (f.count > 0 && n.sample.empty()) return bad(absl::StrCat("feature '", f.name, "': empty sample"));
        for (auto c : n.bin_counts) total += c;
      } else {
        auto& c = f.categorical;
        c.categories = jf.at("categories").get<std::vector<std::string>>();
        c.bin_counts = jf.at("bin_counts").get<std::vector<uint64_t>>();
        c.other_values = jf.value("other_values", std::vector<std::string>{});
        c.other_values_truncated = jf.value("other_values_truncated", false);
        if (c.bin_counts.size() != c.categories.size() + 2)
          return bad(absl::StrCat("feature '", f.name, "': bin_counts must have one count per category plus OTHER and UNSEEN"));
        c.BuildIndex();
        for (auto n : c.bin_counts) total += n;
      }
      if (total != f.count)
        return bad(absl::StrCat("feature '", f.name, "': bin counts add up to ", total, ", not count ", f.count));
      p.features_.push_back(std::move(f));
    }
    return p;
  } catch (const json::exception& e) {
    return bad(e.what());
  }
}

}  // namespace hotswap::monitoring
