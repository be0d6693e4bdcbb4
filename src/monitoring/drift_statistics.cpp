#include "monitoring/drift_statistics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace hotswap::monitoring {
namespace {

std::vector<double> Normalise(const std::vector<uint64_t>& counts) {
  double total = 0;
  for (auto c : counts) total += static_cast<double>(c);
  std::vector<double> p(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) p[i] = static_cast<double>(counts[i]) / total;
  return p;
}

// Walks the union of the two samples' distinct values in ascending order, calling
// fn(x, F_ref(x), F_cur(x), next_x) with the right-continuous CDFs at x (next_x = NaN at the end).
template <typename Fn>
void WalkCdfs(const WeightedSample& a, const WeightedSample& b, Fn fn) {
  double total_a = std::accumulate(a.weights.begin(), a.weights.end(), 0.0);
  double total_b = std::accumulate(b.weights.begin(), b.weights.end(), 0.0);
  size_t i = 0, j = 0;
  double cum_a = 0, cum_b = 0;
  while (i < a.values.size() || j < b.values.size()) {
    double x;
    if (j >= b.values.size() || (i < a.values.size() && a.values[i] <= b.values[j])) x = a.values[i];
    else x = b.values[j];
    while (i < a.values.size() && a.values[i] == x) cum_a += a.weights[i++];
    while (j < b.values.size() && b.values[j] == x) cum_b += b.weights[j++];
    double next;
    if (i < a.values.size() && j < b.values.size()) next = std::min(a.values[i], b.values[j]);
    else if (i < a.values.size()) next = a.values[i];
    else if (j < b.values.size()) next = b.values[j];
    else next = std::nan("");
    fn(x, cum_a / total_a, cum_b / total_b, next);
  }
}

}  // namespace

WeightedSample WeightedSample::FromValues(std::vector<double> values) {
  WeightedSample s;
  std::sort(values.begin(), values.end());
  s.n = values.size();
  s.weights.assign(values.size(), 1.0);
  s.values = std::move(values);
  return s;
}

WeightedSample WeightedSample::FromSketch(const QuantileSketch& sketch) {
  WeightedSample s;
  for (const auto& [v, c] : sketch.Buckets()) {
    s.values.push_back(v);
    s.weights.push_back(static_cast<double>(c));
  }
  s.n = sketch.count();
  return s;
}

WeightedSample WeightedSample::FromProfile(const NumericProfile& profile, uint64_t count) {
  WeightedSample s;
  s.values = profile.sample;
  double w = profile.sample_exact || profile.sample.empty()
                 ? 1.0
                 : static_cast<double>(count) / static_cast<double>(profile.sample.size());
  s.weights.assign(s.values.size(), w);
  s.n = profile.sample_exact ? profile.sample.size() : count;
  return s;
}

double PopulationStabilityIndex(const std::vector<uint64_t>& ref, const std::vector<uint64_t>& cur, double epsilon) {
  auto smooth = [epsilon](std::vector<double> p) {
    double total = 0;
    for (double& v : p) total += (v = std::max(v, epsilon));
    for (double& v : p) v /= total;
    return p;
  };
  std::vector<double> p = smooth(Normalise(ref));
  std::vector<double> q = smooth(Normalise(cur));
  double psi = 0;
  for (size_t i = 0; i < p.size(); ++i) psi += (q[i] - p[i]) * std::log(q[i] / p[i]);
  return psi;
}

double JensenShannonDistance(const std::vector<uint64_t>& ref, const std::vector<uint64_t>& cur) {
  std::vector<double> p = Normalise(ref), q = Normalise(cur);
  double js = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    double m = (p[i] + q[i]) / 2.0;
    if (p[i] > 0) js += p[i] * std::log(p[i] / m);
    if (q[i] > 0) js += q[i] * std::log(q[i] / m);
  }
  js = js / 2.0 / std::log(2.0);
  return std::sqrt(std::max(js, 0.0));
}

double HellingerDistance(const std::vector<uint64_t>& ref, const std::vector<uint64_t>& cur) {
  std::vector<double> p = Normalise(ref), q = Normalise(cur);
  double s = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    double d = std::sqrt(p[i]) - std::sqrt(q[i]);
    s += d * d;
  }
  return std::sqrt(s / 2.0);
}

KsPValue KolmogorovSmirnovTest(const WeightedSample& ref, const WeightedSample& cur) {
  double max_diff = 0, min_diff = 0;
  WalkCdfs(ref, cur, [&](double, double fa, double fb, double) {
    double d = fa - fb;
    max_diff = std::max(max_diff, d);
    min_diff = std::min(min_diff, d);
  });
  double d = std::max(max_diff, std::clamp(-min_diff, 0.0, 1.0));
  return KsTwoSamplePValue(static_cast<int64_t>(ref.n), static_cast<int64_t>(cur.n), d);
}

double WassersteinDistance(const WeightedSample& ref, const WeightedSample& cur) {
  double w = 0;
  WalkCdfs(ref, cur, [&](double x, double fa, double fb, double next) {
    if (!std::isnan(next)) w += std::fabs(fa - fb) * (next - x);
  });
  return w;
}

ChiSquareResult ChiSquareTwoSample(const std::vector<uint64_t>& ref, const std::vector<uint64_t>& cur) {
  std::vector<std::pair<double, double>> cols;
  double r0 = 0, r1 = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (ref[i] == 0 && cur[i] == 0) continue;
    cols.emplace_back(static_cast<double>(ref[i]), static_cast<double>(cur[i]));
    r0 += static_cast<double>(ref[i]);
    r1 += static_cast<double>(cur[i]);
  }
  ChiSquareResult out;
  out.dof = static_cast<int>(cols.size()) - 1;
  if (out.dof <= 0) {
    out.dof = 0;
    return out;
  }
  const double n = r0 + r1;
  double stat = 0;
  for (const auto& [o0, o1] : cols) {
    double c = o0 + o1;
    double e0 = r0 * c / n, e1 = r1 * c / n;
    double d0 = o0 - e0, d1 = o1 - e1;
    if (out.dof == 1) {  // Yates: O moves towards E by min(0.5, |O - E|)
      d0 = std::copysign(std::max(std::fabs(d0) - 0.5, 0.0), d0);
      d1 = std::copysign(std::max(std::fabs(d1) - 0.5, 0.0), d1);
    }
    stat += d0 * d0 / e0 + d1 * d1 / e1;
  }
  out.statistic = stat;
  out.pvalue = ChiSquareSf(stat, out.dof);
  return out;
}

std::vector<bool> BenjaminiHochberg(const std::vector<double>& pvalues, double q) {
  const size_t m = pvalues.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return pvalues[a] < pvalues[b]; });
  size_t k = 0;
  for (size_t i = 0; i < m; ++i)
    if (pvalues[order[i]] <= static_cast<double>(i + 1) * q / static_cast<double>(m)) k = i + 1;
  std::vector<bool> reject(m, false);
  for (size_t i = 0; i < k; ++i) reject[order[i]] = true;
  return reject;
}

}  // namespace hotswap::monitoring
