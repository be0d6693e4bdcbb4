#include "monitoring/drift_report.h"

#include <cmath>

namespace hotswap::monitoring {
namespace {

using nlohmann::json;

json OrNull(const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return nullptr;
  return *v;
}

}  // namespace

DriftReport ComputeDrift(const FeatureWindow& current, const DriftOptions& options) {
  const ReferenceProfile& profile = current.profile();
  DriftReport report;
  // Every test's p-value, with the feature and which test it is, for Benjamini–Hochberg.
  struct Test {
    size_t feature;
    bool distribution;
  };
  std::vector<double> pvalues;
  std::vector<Test> tests;

  for (size_t i = 0; i < profile.features().size(); ++i) {
    const FeatureProfile& ref = profile.features()[i];
    const FeatureWindow::Counts& cur = current.feature(i);
    FeatureDrift fd;
    fd.name = ref.name;
    fd.type = ref.type;
    fd.role = ref.role;
    fd.reference_count = ref.count;
    fd.current_count = cur.count;
    fd.missing_rate_ref = ref.missing_rate();
    if (cur.count + cur.missing > 0)
      fd.missing_rate_cur = static_cast<double>(cur.missing) / static_cast<double>(cur.count + cur.missing);

    if (ref.count > 0 && cur.count > 0) {
      const auto& ref_bins = ref.bin_counts();
      fd.psi = PopulationStabilityIndex(ref_bins, cur.bins, options.psi_epsilon);
      fd.js_distance = JensenShannonDistance(ref_bins, cur.bins);
      fd.hellinger = HellingerDistance(ref_bins, cur.bins);
      if (ref.type == ColumnType::kNumeric) {
        WeightedSample r = WeightedSample::FromProfile(ref.numeric, ref.count);
        WeightedSample c = current.options().keep_values ? WeightedSample::FromValues(cur.values)
                                                         : WeightedSample::FromSketch(*cur.sketch);
        KsPValue ks = KolmogorovSmirnovTest(r, c);
        fd.ks_statistic = ks.statistic;
        fd.ks_pvalue = ks.pvalue;
        double w = WassersteinDistance(r, c);
        fd.wasserstein_norm = ref.numeric.std > 0 ? w / ref.numeric.std : w;
        pvalues.push_back(ks.pvalue);
      } else {
        ChiSquareResult chi = ChiSquareTwoSample(ref_bins, cur.bins);
        fd.chi2_statistic = chi.statistic;
        fd.chi2_pvalue = chi.pvalue;
        fd.unseen_rate = static_cast<double>(cur.bins[ref.categorical.unseen_bin()]) / static_cast<double>(cur.count);
        pvalues.push_back(chi.pvalue);
      }
      tests.push_back({i, true});
    } else if (ref.type == ColumnType::kCategorical && cur.count > 0) {
      // An all-missing reference: every current value is unseen.
      fd.unseen_rate = 1.0;
    }
    if (fd.missing_rate_ref && fd.missing_rate_cur) {
      std::vector<uint64_t> ref_m{ref.count, ref.missing}, cur_m{cur.count, cur.missing};
      ChiSquareResult chi = ChiSquareTwoSample(ref_m, cur_m);
      fd.missing_pvalue = chi.pvalue;
      pvalues.push_back(chi.pvalue);
      tests.push_back({i, false});
    }
    report.features.push_back(std::move(fd));
  }

  std::vector<bool> reject = BenjaminiHochberg(pvalues, options.fdr);
  for (size_t t = 0; t < tests.size(); ++t) {
    if (!reject[t]) continue;
    FeatureDrift& fd = report.features[tests[t].feature];
    if (tests[t].distribution) fd.distribution_significant = true;
    else fd.missing_significant = true;
  }
  for (FeatureDrift& fd : report.features) {
    if (fd.distribution_significant) {
      bool large = fd.psi.value_or(0) >= options.psi_threshold;
      if (fd.type == ColumnType::kNumeric) large = large || fd.wasserstein_norm.value_or(0) >= options.wasserstein_threshold;
      if (large) fd.reasons.push_back("distribution");
      if (fd.unseen_rate.value_or(0) >= options.unseen_threshold) fd.reasons.push_back("unseen");
    }
    if (fd.missing_significant &&
        std::fabs(*fd.missing_rate_cur - *fd.missing_rate_ref) >= options.missing_rate_threshold)
      fd.reasons.push_back("missing_rate");
    fd.drift = !fd.reasons.empty();
    if (fd.drift) ++report.drifted_features;
  }
  if (!report.features.empty()) {
    report.drifted_share = static_cast<double>(report.drifted_features) / static_cast<double>(report.features.size());
    report.dataset_drift = report.drifted_features > 0 && report.drifted_share >= options.dataset_drift_share;
  }
  return report;
}

json DriftReport::ToJson(bool detailed) const {
  json features_json = json::object();
  for (const auto& f : features) {
    json j{{"type", ColumnTypeName(f.type)},
           {"psi", OrNull(f.psi)},
           {"js_distance", OrNull(f.js_distance)},
           {"hellinger", OrNull(f.hellinger)},
           {"ks_statistic", OrNull(f.ks_statistic)},
           {"ks_pvalue", OrNull(f.ks_pvalue)},
           {"chi2_statistic", OrNull(f.chi2_statistic)},
           {"chi2_pvalue", OrNull(f.chi2_pvalue)},
           {"wasserstein_norm", OrNull(f.wasserstein_norm)},
           {"missing_rate_ref", OrNull(f.missing_rate_ref)},
           {"missing_rate_cur", OrNull(f.missing_rate_cur)},
           {"unseen_rate", OrNull(f.unseen_rate)},
           {"drift", f.drift}};
    if (detailed) {
      j["role"] = ColumnRoleName(f.role);
      j["reference_count"] = f.reference_count;
      j["current_count"] = f.current_count;
      j["missing_pvalue"] = OrNull(f.missing_pvalue);
      j["reasons"] = f.reasons;
    }
    features_json[f.name] = std::move(j);
  }
  json out{{"features", std::move(features_json)}, {"dataset_drift", dataset_drift}};
  if (detailed) out["drifted_share"] = drifted_share;
  return out;
}

}  // namespace hotswap::monitoring
