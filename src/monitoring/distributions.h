// The null distributions behind the drift tests' p-values: chi-square (through the regularised
// incomplete gamma function) and the Kolmogorov–Smirnov distributions that
// scipy.stats.ks_2samp uses (exact two-sample counts for small samples, the one-sample
// Kolmogorov distribution `kstwo` for large ones). Implemented here (no Boost, no Cephes) and
// checked against scipy 1.17 in distributions_test.cpp. Pure functions; thread-safe.
#pragma once

#include <cstdint>

namespace hotswap::monitoring {

// Q(a, x) = Γ(a, x) / Γ(a), the regularised upper incomplete gamma function (a > 0, x >= 0).
// Series for x < a + 1, Lentz continued fraction otherwise; relative error ~1e-14.
double RegularizedGammaQ(double a, double x);

// Survival function of the chi-square distribution with `dof` > 0 degrees of freedom:
// P[X >= x] = Q(dof / 2, x / 2). Equals scipy.stats.chi2.sf(x, dof). 1 for x <= 0.
double ChiSquareSf(double x, double dof);

// P[D+_n >= x] for the one-sided one-sample Smirnov statistic (scipy.special.smirnov(n, x)):
// the Birnbaum–Tingey sum x Σ_{j=0}^{⌊n(1-x)⌋} C(n,j) (x + j/n)^(j-1) (1 - x - j/n)^(n-j),
// summed in log space with long double; the closed forms for x <= 1/n and x >= 1 - 1/n and
// scipy's approximation exp(-(6nx+1)²/18n) for n > 1,000,000.
double SmirnovSf(int64_t n, double x);

// P[D_n >= x] for the two-sided one-sample Kolmogorov statistic with n observations: what
// scipy.stats.kstwo.sf(x, n) returns. Follows scipy's choice of method per region (Simard &
// L'Ecuyer 2011): Ruben–Gambino closed forms near the ends, 2·smirnov for large n·x², the
// Durbin matrix (Marsaglia–Tsang–Wang) for small n·x², Pelz–Good's expansion otherwise. Where
// scipy uses Pomeranz's recursion (n <= 140, 0.754693 < n·x² <= 4) this uses the Durbin matrix,
// which is exact as well (the two agree to ~1e-13).
double KolmogorovSf(int64_t n, double x);

// The Kolmogorov CDF P[D_n <= x] by the Durbin matrix algorithm (exact; cost O(k³ log n) with
// k = ⌈n·x⌉). Exposed for tests.
double KolmogorovCdfDurbin(int64_t n, double x);

// The Pelz–Good asymptotic expansion of P[D_n <= x] (four terms). Exposed for tests.
double KolmogorovCdfPelzGood(int64_t n, double x);

// Result of the two-sample Kolmogorov–Smirnov p-value computation.
struct KsPValue {
  double statistic = 0;    // D, rounded to a multiple of 1/lcm(n1, n2) when exact
  double pvalue = 1;
  bool exact = false;      // false: the asymptotic ('asymp') method was used
};

// The two-sided p-value of the two-sample KS statistic `d` for sample sizes n1, n2 > 0, as
// scipy.stats.ks_2samp(method='auto') computes it: exact when max(n1, n2) <= 10000 (Hodges'
// lattice-path count: the closed alternating sum when n1 == n2, Viehmann's numerically stable
// "1 - p inside" recursion otherwise), falling back to the asymptotic method when the exact
// computation fails; asymptotic: kstwo.sf(d, round(n1·n2 / (n1 + n2))).
KsPValue KsTwoSamplePValue(int64_t n1, int64_t n2, double d);

}  // namespace hotswap::monitoring
