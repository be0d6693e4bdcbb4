// ReferenceProfile: what a model version's training or validation data looked like, frozen so
// that live traffic can be compared with it (docs/monitoring.md, "Drift and feature
// distributions"). Per column (feature or, with role output, prediction):
//   numeric:     quantile bin edges from the reference (default 20 bins, equal edges merged),
//                plus underflow, overflow (and, counted apart, missing) bins; the reference
//                count in each bin; min, max, mean, population std; quantiles p1..p99; and a
//                sorted sample for KS / Wasserstein: every value when there are at most
//                sample_size of them, else sample_size evenly spaced order statistics (the
//                summary's CDF is within 1/sample_size + 1/n of the data's everywhere).
//   categorical: the top-K values (default 20; by count, ties by byte order) plus OTHER (the
//                reference's other values, which are listed up to max_other_values) and UNSEEN
//                (values the reference never had; reference count 0).
// Immutable once built: safe to share between threads (the server keeps it in a shared_ptr and
// every per-thread FeatureWindow points at it).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "monitoring/csv_table.h"
#include "nlohmann/json.hpp"

namespace hotswap::monitoring {

enum class ColumnType { kNumeric, kCategorical };
enum class ColumnRole { kInput, kOutput };

std::string_view ColumnTypeName(ColumnType type);  // "numeric" | "categorical"
std::string_view ColumnRoleName(ColumnRole role);  // "input" | "output"

struct ProfileOptions {
  int bins = 20;                    // numeric quantile bins (>= 1)
  int top_k = 20;                   // categorical values kept by name (>= 1)
  size_t sample_size = 5000;        // numeric values kept for KS / Wasserstein; 0 = all
  size_t max_other_values = 10000;  // reference values outside the top K listed for OTHER
};

// The `--schema` file: {"columns": {"<name>": {"type": "numeric"|"categorical",
// "role": "input"|"output"}}}; both keys optional per column. Columns it does not name are
// typed from the data (numeric when every non-missing cell is a number) and are inputs.
struct ProfileSchema {
  struct Column {
    std::optional<ColumnType> type;
    ColumnRole role = ColumnRole::kInput;
  };
  std::map<std::string, Column> columns;
  static absl::StatusOr<ProfileSchema> FromJson(const nlohmann::json& j);
};

struct NumericProfile {
  std::vector<double> edges;         // ascending, distinct; empty when the column has no values
  std::vector<uint64_t> bin_counts;  // [underflow, regular bins..., overflow]
  double min = 0, max = 0, mean = 0, std = 0;  // std: population (ddof = 0)
  std::vector<std::pair<double, double>> quantiles;  // (q, value), numpy's linear method
  std::vector<double> sample;        // sorted
  bool sample_exact = true;          // false: sample is the order-statistic summary

  // Regular bins: edges.size() - 1, or 1 when all reference values are equal ([c, c]).
  size_t regular_bins() const { return edges.size() <= 1 ? edges.size() : edges.size() - 1; }
  // Bin of x in bin_counts: 0 underflow (x < edges.front()), 1 + j for [edges[j], edges[j+1])
  // (the last regular bin is closed: [edges[n-2], edges[n-1]]), bin_counts.size() - 1 overflow
  // (x > edges.back()). Binary search; no allocation. Requires non-empty edges.
  size_t BinOf(double x) const;
};

struct CategoricalProfile {
  std::vector<std::string> categories;  // top-K, most frequent first
  std::vector<uint64_t> bin_counts;     // [categories..., OTHER, UNSEEN]; UNSEEN is 0
  std::vector<std::string> other_values;  // sorted
  bool other_values_truncated = false;    // more than max_other_values: unknown values → OTHER

  size_t other_bin() const { return categories.size(); }
  size_t unseen_bin() const { return categories.size() + 1; }
  // Bin of a value: its top-K slot, OTHER, or UNSEEN. No allocation.
  size_t BinOf(std::string_view value) const;

  void BuildIndex();  // called by the profile's constructors
 private:
  absl::flat_hash_map<std::string, uint32_t> index_;  // category → bin; other value → OTHER
};

struct FeatureProfile {
  std::string name;
  ColumnType type = ColumnType::kNumeric;
  ColumnRole role = ColumnRole::kInput;
  uint64_t count = 0;    // non-missing reference values
  uint64_t missing = 0;  // missing reference cells
  NumericProfile numeric;          // when type == kNumeric
  CategoricalProfile categorical;  // when type == kCategorical

  size_t bin_count() const {
    return type == ColumnType::kNumeric ? numeric.bin_counts.size() : categorical.bin_counts.size();
  }
  const std::vector<uint64_t>& bin_counts() const {
    return type == ColumnType::kNumeric ? numeric.bin_counts : categorical.bin_counts;
  }
  // missing / (count + missing); nullopt with no rows.
  std::optional<double> missing_rate() const;
};

class ReferenceProfile {
 public:
  // Profiles every column of the table. InvalidArgument for bad options, a schema column the
  // table does not have, or a non-number in a column the schema calls numeric.
  static absl::StatusOr<ReferenceProfile> FromTable(const CsvTable& table, const ProfileOptions& options,
                                                    const ProfileSchema* schema = nullptr);
  // Reads the JSON that ToJson writes ("format": "hotswap.reference_profile/v1"); checks its
  // consistency (bin counts match edges, sorted edges, known types).
  static absl::StatusOr<ReferenceProfile> FromJson(const nlohmann::json& j);
  nlohmann::json ToJson() const;

  const std::vector<FeatureProfile>& features() const { return features_; }
  int FeatureIndex(std::string_view name) const;  // -1 when absent
  uint64_t row_count() const { return row_count_; }
  const ProfileOptions& options() const { return options_; }

 private:
  ProfileOptions options_;
  uint64_t row_count_ = 0;
  std::vector<FeatureProfile> features_;
};

// numpy.quantile(sorted, q) with the default 'linear' method, including numpy's two-sided
// interpolation (a + (b-a)·t below t = 0.5, b - (b-a)·(1-t) from there), so edges equal
// numpy's bit for bit. `sorted` must be non-empty and ascending.
double LinearQuantile(const std::vector<double>& sorted, double q);

}  // namespace hotswap::monitoring
