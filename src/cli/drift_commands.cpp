#include "cli/drift_commands.h"

#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "fmt/format.h"
#include "monitoring/csv_table.h"
#include "monitoring/drift_report.h"
#include "monitoring/feature_window.h"
#include "monitoring/reference_profile.h"

namespace hotswap::cli {
namespace {

using monitoring::ColumnType;
using monitoring::CsvTable;
using monitoring::ProfileOptions;
using monitoring::ProfileSchema;
using monitoring::ReferenceProfile;
using nlohmann::json;

constexpr int kExitBadInput = 2;

absl::StatusOr<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", ToAbsl(what), " file '", path, "'"));
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

absl::StatusOr<json> ReadJsonFile(const std::string& path, std::string_view what) {
  HS_ASSIGN_OR_RETURN(std::string text, ReadFile(path, what));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(what), " file '", path, "' is not valid JSON"));
  return j;
}

absl::StatusOr<std::unique_ptr<ProfileSchema>> LoadSchema(const std::string& path) {
  if (path.empty()) return std::unique_ptr<ProfileSchema>();
  HS_ASSIGN_OR_RETURN(json j, ReadJsonFile(path, "schema"));
  auto schema = ProfileSchema::FromJson(j);
  if (!schema.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", schema.status().message()));
  return std::make_unique<ProfileSchema>(std::move(*schema));
}

absl::StatusOr<ReferenceProfile> ProfileCsv(const std::string& path, const ProfileOptions& options,
                                            const std::string& schema_path) {
  HS_ASSIGN_OR_RETURN(auto schema, LoadSchema(schema_path));
  HS_ASSIGN_OR_RETURN(CsvTable table, monitoring::ReadCsvFile(path));
  auto profile = ReferenceProfile::FromTable(table, options, schema.get());
  if (!profile.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", profile.status().message()));
  return profile;
}

// A reference is a profile when its first non-blank character opens a JSON object.
absl::StatusOr<ReferenceProfile> LoadReference(const std::string& path, const ProfileOptions& options,
                                               const std::string& schema_path) {
  HS_ASSIGN_OR_RETURN(std::string text, ReadFile(path, "reference"));
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    if (!schema_path.empty())
      return absl::InvalidArgumentError("--schema applies to a CSV reference; a profile already has its types");
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat("reference '", path, "' is not valid JSON"));
    auto profile = ReferenceProfile::FromJson(j);
    if (!profile.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", profile.status().message()));
    return profile;
  }
  return ProfileCsv(path, options, schema_path);
}

absl::StatusOr<monitoring::DriftReport> Drift(const std::string& reference_path, const std::string& current_path,
                                              const ProfileOptions& options, const std::string& schema_path,
                                              const monitoring::DriftOptions& drift_options) {
  HS_ASSIGN_OR_RETURN(ReferenceProfile ref, LoadReference(reference_path, options, schema_path));
  auto profile = std::make_shared<const ReferenceProfile>(std::move(ref));
  HS_ASSIGN_OR_RETURN(CsvTable current, monitoring::ReadCsvFile(current_path));
  monitoring::FeatureWindow window(profile, {.keep_values = true});
  for (size_t i = 0; i < profile->features().size(); ++i) {
    const auto& name = profile->features()[i].name;
    int c = current.ColumnIndex(name);
    if (c < 0)
      return absl::InvalidArgumentError(
          absl::StrCat(current_path, ": no column '", name, "' (the reference has it)"));
    const auto& column = current.columns[static_cast<size_t>(c)];
    for (size_t r = 0; r < column.size(); ++r) {
      absl::Status s = window.RecordCell(i, column[r]);
      if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(current_path, ", data row ", r + 1, ": ", s.message()));
    }
  }
  return monitoring::ComputeDrift(window, drift_options);
}

std::string Num(const std::optional<double>& v, const char* spec = "{:.4f}") {
  if (!v) return "-";
  if (!std::isfinite(*v)) return fmt::format("{}", *v);
  return fmt::format(fmt::runtime(spec), *v);
}

void PrintReport(std::ostream& out, const monitoring::DriftReport& report) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"FEATURE", "TYPE", "PSI", "JS", "HELLINGER", "KS", "KS_P", "CHI2", "CHI2_P", "W1/STD",
                  "MISSING REF→CUR", "UNSEEN", "DRIFT"});
  for (const auto& f : report.features) {
    std::string name = f.name + (f.role == monitoring::ColumnRole::kOutput ? " (output)" : "");
    std::string missing = Num(f.missing_rate_ref, "{:.3f}") + "→" + Num(f.missing_rate_cur, "{:.3f}");
    std::string drift = f.drift ? "YES" : "no";
    if (f.drift) {
      drift += " (";
      for (size_t i = 0; i < f.reasons.size(); ++i) drift += (i ? ", " : "") + f.reasons[i];
      drift += ")";
    }
    rows.push_back({name, std::string(monitoring::ColumnTypeName(f.type)), Num(f.psi), Num(f.js_distance),
                    Num(f.hellinger), Num(f.ks_statistic), Num(f.ks_pvalue, "{:.3g}"), Num(f.chi2_statistic, "{:.2f}"),
                    Num(f.chi2_pvalue, "{:.3g}"), Num(f.wasserstein_norm), missing, Num(f.unseen_rate, "{:.3f}"),
                    drift});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  auto display_width = [](const std::string& s) {  // UTF-8 code points
    size_t n = 0;
    for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
    return n;
  };
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], display_width(r[i]));
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - display_width(r[i]) + 2, ' ');
    }
    out << line << "\n";
  }
  out << fmt::format("dataset drift: {} ({} of {} features drifted)\n", report.dataset_drift ? "YES" : "no",
                     report.drifted_features, report.features.size());
}

}  // namespace

void AddDriftCommands(CLI::App& app, std::ostream& out, std::ostream& err, const bool& global_json, int& rc) {
  struct State {
    std::string data, schema, output, reference, current;
    ProfileOptions options;
    monitoring::DriftOptions drift;
    bool json = false;
  };
  auto st = std::make_shared<State>();
  auto fail = [&err, &rc](const absl::Status& s) {
    err << "error: " << s.message() << "\n";
    rc = kExitBadInput;
  };

  auto* profile = app.add_subcommand(
      "profile",
      "Compute a reference profile (frozen bins, quantiles, top-K categories) from a CSV of training or "
      "validation data; offline, no server needed");
  profile->add_option("data", st->data, "CSV file with a header row")->required();
  profile->add_option("--schema", st->schema,
                      R"(JSON {"columns": {"<name>": {"type": "numeric|categorical", "role": "input|output"}}})");
  profile->add_option("--bins", st->options.bins, "Quantile bins per numeric column")->capture_default_str();
  profile->add_option("--top-k", st->options.top_k, "Categories kept by name per categorical column")
      ->capture_default_str();
  profile->add_option("--sample-size", st->options.sample_size,
                      "Numeric values kept for KS/Wasserstein (0 = all; more are summarised by order statistics)")
      ->capture_default_str();
  profile->add_option("-o,--output", st->output, "Write the profile here (default: standard output)");
  profile->add_flag("--json", st->json, "With -o, print a JSON summary instead of text");
  profile->callback([st, &out, &global_json, fail, &rc] {
    auto p = ProfileCsv(st->data, st->options, st->schema);
    if (!p.ok()) return fail(p.status());
    json j = p->ToJson();
    if (st->output.empty()) {
      out << j.dump(1) << "\n";
      rc = 0;
      return;
    }
    std::ofstream f(st->output, std::ios::binary | std::ios::trunc);
    f << j.dump(1) << "\n";
    f.close();
    if (!f) return fail(absl::InvalidArgumentError(absl::StrCat("cannot write '", st->output, "'")));
    if (st->json || global_json) {
      out << json{{"profile", st->output}, {"rows", p->row_count()}, {"features", p->features().size()}}.dump(2)
          << "\n";
    } else {
      out << "wrote " << st->output << ": " << p->features().size() << " columns from " << p->row_count()
          << " rows\n";
      for (const auto& f : p->features())
        out << "  " << f.name << ": " << monitoring::ColumnTypeName(f.type)
            << (f.role == monitoring::ColumnRole::kOutput ? " (output)" : "") << ", " << f.bin_count()
            << " bins, missing " << f.missing << "\n";
    }
    rc = 0;
  });

  auto* drift = app.add_subcommand(
      "drift",
      "Compare current data with a reference (CSV or profile JSON): PSI, Jensen-Shannon, Hellinger, KS, "
      "chi-square, Wasserstein, missing and unseen rates, drift flags; offline, no server needed");
  drift->add_option("--reference", st->reference, "Reference data: a CSV file or a profile from `hotswap profile`")
      ->required();
  drift->add_option("--current", st->current, "Current data: a CSV file with the reference's columns")->required();
  drift->add_option("--schema", st->schema, "Column types/roles for a CSV reference (as for `profile`)");
  drift->add_option("--bins", st->options.bins, "Quantile bins (CSV reference)")->capture_default_str();
  drift->add_option("--top-k", st->options.top_k, "Top categories (CSV reference)")->capture_default_str();
  drift->add_option("--fdr", st->drift.fdr, "Benjamini-Hochberg false discovery rate")->capture_default_str();
  drift->add_option("--psi-threshold", st->drift.psi_threshold, "PSI effect-size threshold")->capture_default_str();
  drift->add_option("--dataset-share", st->drift.dataset_drift_share,
                    "Share of drifted features that makes the dataset drift")
      ->capture_default_str();
  drift->add_flag("--json", st->json, "Machine-readable JSON (docs/monitoring.md)");
  drift->callback([st, &out, &global_json, fail, &rc] {
    ProfileOptions options = st->options;
    options.sample_size = 0;  // a CSV reference keeps every value: KS and Wasserstein are exact
    auto report = Drift(st->reference, st->current, options, st->schema, st->drift);
    if (!report.ok()) return fail(report.status());
    if (st->json || global_json) out << report->ToJson().dump(2) << "\n";
    else PrintReport(out, *report);
    rc = 0;
  });
}

}  // namespace hotswap::cli
