#include "monitoring/distributions.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <vector>

namespace hotswap::monitoring {
namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kMinLog = -7.08396418532264106224e2;  // log of the smallest normal double
constexpr double kEpsilon = 1e-15;
constexpr int kMaxIterations = 100000;

double Clip01(double p) { return std::clamp(p, 0.0, 1.0); }

// P(a, x) by its power series; valid (fast) for x < a + 1.
double GammaPSeries(double a, double x) {
  double term = 1.0 / a;
  double sum = term;
  for (int n = 1; n < kMaxIterations; ++n) {
    term *= x / (a + n);
    sum += term;
    if (std::fabs(term) < std::fabs(sum) * kEpsilon) break;
  }
  return sum * std::exp(a * std::log(x) - x - std::lgamma(a));
}

// Q(a, x) by its continued fraction (modified Lentz); valid for x >= a + 1.
double GammaQContinuedFraction(double a, double x) {
  constexpr double kTiny = 1e-300;
  double b = x + 1.0 - a;
  double c = 1.0 / kTiny;
  double d = 1.0 / b;
  double h = d;
  for (int i = 1; i < kMaxIterations; ++i) {
    double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < kEpsilon) break;
  }
  return std::exp(a * std::log(x) - x - std::lgamma(a)) * h;
}

// log(n! / n^n) by Stirling's series with the n·log(n) removed up front (as scipy does).
double LogFactorialOverPower(int64_t n) {
  static constexpr double kStirling[] = {-2.955065359477124183e-2, 6.4102564102564102564e-3,
                                         -1.9175269175269175269e-3, 8.4175084175084175084e-4,
                                         -5.952380952380952381e-4, 7.9365079365079365079e-4,
                                         -2.7777777777777777778e-3, 8.3333333333333333333e-2};
  double rn = 1.0 / static_cast<double>(n);
  double y = rn / static_cast<double>(n);
  double poly = 0;
  for (double c : kStirling) poly = poly * y + c;
  return std::log(static_cast<double>(n)) / 2 - static_cast<double>(n) + std::log(2 * kPi) / 2 + rn * poly;
}

using Matrix = std::vector<double>;  // row-major, m×m

void MatMul(const Matrix& a, const Matrix& b, Matrix& out, int m) {
  std::fill(out.begin(), out.end(), 0.0);
  for (int i = 0; i < m; ++i)
    for (int k = 0; k < m; ++k) {
      double aik = a[i * m + k];
      if (aik == 0) continue;
      for (int j = 0; j < m; ++j) out[i * m + j] += aik * b[k * m + j];
    }
}

// Two-sided exact p-value for n1 == n2 == n: 2 Σ_k (-1)^k C(2n, n - (k+1)h) / C(2n, n), evaluated
// Horner-style from the innermost term so nothing cancels.
double ExactSquare(int64_t n, int64_t h) {
  double p = 0.0;
  for (int64_t k = n / h; k >= 0; --k) {
    double ratio = 1.0;
    for (int64_t j = 0; j < h; ++j)
      ratio = static_cast<double>(n - k * h - j) * ratio / static_cast<double>(n + k * h + j + 1);
    p = ratio * (1.0 - p);
  }
  return 2 * p;
}

// Two-sided exact p-value for n1 != n2: the share of monotone lattice paths from (0,0) to (m,n)
// that leave the band |x·n/g - y·m/g| < h at some point. Each cell holds that share for the
// paths reaching it (1 outside the band), so the recursion never needs binomial coefficients:
// v(i,j) = (i·v(i-1,j) + j·v(i,j-1)) / (i+j). One column at a time, only its in-band window.
double ExactInsideBand(int64_t m, int64_t n, int64_t g, int64_t h) {
  if (m < n) std::swap(m, n);
  const int64_t mg = m / g;
  const int64_t ng = n / g;
  std::vector<double> prev(static_cast<size_t>(n + 1), 0.0);
  std::vector<double> cur(static_cast<size_t>(n + 1), 0.0);
  int64_t prev_min = 0;
  int64_t prev_max = std::min<int64_t>((h + mg - 1) / mg, n + 1);  // ceil(h / mg)
  // Column 0: the cells (0, j) inside the band are reached by one path that stayed inside.
  for (int64_t j = prev_min; j < prev_max; ++j) prev[static_cast<size_t>(j - prev_min)] = 0.0;
  auto floor_div = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
  auto ceil_div = [](int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
  int64_t cur_min = 0, cur_max = 0;
  for (int64_t i = 1; i <= m; ++i) {
    cur_min = std::min(std::max<int64_t>(floor_div(ng * i - h, mg) + 1, 0), n);
    cur_max = std::min(ceil_div(ng * i + h, mg), n + 1);
    if (cur_max <= cur_min) return 1.0;
    double below = cur_min == 0 ? 0.0 : 1.0;  // v(i, cur_min - 1): outside the band
    for (int64_t j = cur_min; j < cur_max; ++j) {
      double left = (j >= prev_min && j < prev_max) ? prev[static_cast<size_t>(j - prev_min)] : 1.0;
      below = (left * static_cast<double>(i) + below * static_cast<double>(j)) / static_cast<double>(i + j);
      cur[static_cast<size_t>(j - cur_min)] = below;
    }
    std::swap(prev, cur);
    prev_min = cur_min;
    prev_max = cur_max;
  }
  return prev[static_cast<size_t>(prev_max - prev_min - 1)];
}

}  // namespace

double RegularizedGammaQ(double a, double x) {
  if (std::isnan(a) || std::isnan(x) || a <= 0) return std::numeric_limits<double>::quiet_NaN();
  if (x <= 0) return 1.0;
  if (std::isinf(x)) return 0.0;
  if (x < a + 1.0) return Clip01(1.0 - GammaPSeries(a, x));
  return Clip01(GammaQContinuedFraction(a, x));
}

double ChiSquareSf(double x, double dof) {
  if (std::isnan(x)) return x;
  if (x <= 0) return 1.0;
  return RegularizedGammaQ(dof / 2.0, x / 2.0);
}

double SmirnovSf(int64_t n, double x) {
  if (std::isnan(x) || n <= 0 || x < 0 || x > 1) return std::numeric_limits<double>::quiet_NaN();
  if (n == 1) return 1.0 - x;
  if (x == 0.0) return 1.0;
  if (x == 1.0) return 0.0;
  const long double nl = static_cast<long double>(n);
  const long double xl = x;
  const long double nx = nl * xl;
  const int64_t nx_floor = static_cast<int64_t>(std::floor(nx));
  const bool nx_integral = nx == static_cast<long double>(nx_floor);
  if (nx_floor == 0 || (nx_floor == 1 && nx_integral)) {  // x <= 1/n
    double cdf = x * std::pow(1.0 + x, static_cast<double>(n - 1));
    return Clip01(1.0 - cdf);
  }
  if (-2.0 * static_cast<double>(n) * x * x < kMinLog) return 0.0;
  if (nx_floor >= n - 1) return Clip01(std::pow(1.0 - x, static_cast<double>(n)));
  if (n > 1000000) {
    double logp = -std::pow(6.0 * static_cast<double>(n) * x + 1, 2) / 18.0 / static_cast<double>(n);
    if (logp < -std::numbers::ln2) return Clip01(std::exp(logp));
    return Clip01(1.0 - -std::expm1(logp));
  }
  // Birnbaum–Tingey: every term is positive, so the sum is accurate term by term.
  const long double log_x = std::log(xl);
  const long double lgamma_n1 = std::lgamma(nl + 1);
  long double sum = 0;
  const int64_t last = n - nx_floor;  // j <= n(1-x)
  for (int64_t j = 0; j <= last; ++j) {
    long double jl = static_cast<long double>(j);
    long double t2 = (nl - jl) / nl - xl;  // 1 - x - j/n
    if (t2 <= 0) break;
    long double t1 = xl + jl / nl;         // x + j/n
    long double log_term = lgamma_n1 - std::lgamma(jl + 1) - std::lgamma(nl - jl + 1) + log_x +
                           (jl - 1) * std::log(t1) + (nl - jl) * std::log(t2);
    long double term = std::exp(log_term);
    sum += term;
    if (j > 2 && term < sum * 1e-21L && jl > nx) break;  // past the peak and negligible
  }
  return Clip01(static_cast<double>(sum));
}

double KolmogorovCdfDurbin(int64_t n, double d) {
  if (d >= 1.0) return 1.0;
  const double nd = static_cast<double>(n) * d;
  if (nd <= 0.5) return 0.0;
  const int k = static_cast<int>(std::ceil(nd));
  const double h = k - nd;
  const int m = 2 * k - 1;
  std::vector<double> v(m), w(m);
  double fac = 1.0;
  for (int j = 1; j <= m; ++j) {
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] = (1.0 - std::pow(h, j)) * fac;
  }
  double tt = std::pow(std::max(2 * h - 1.0, 0.0), m) - 2 * std::pow(h, m);
  v[m - 1] = (1.0 + tt) * fac;
  Matrix H(static_cast<size_t>(m) * m, 0.0);
  for (int col = 1; col < m; ++col)
    for (int r = 0; col - 1 + r < m; ++r) H[(col - 1 + r) * m + col] = w[r];
  for (int row = 0; row < m; ++row) H[row * m] = v[row];
  for (int col = 0; col < m; ++col) H[(m - 1) * m + col] = v[m - 1 - col];

  const double kScaleUp = std::ldexp(1.0, 128);
  const double kScaleDown = std::ldexp(1.0, -128);
  Matrix power(static_cast<size_t>(m) * m, 0.0), tmp(static_cast<size_t>(m) * m);
  for (int i = 0; i < m; ++i) power[i * m + i] = 1.0;
  int64_t exponent = 0, h_exponent = 0;
  for (int64_t nn = n; nn > 0; nn /= 2) {
    if (nn % 2) {
      MatMul(power, H, tmp, m);
      std::swap(power, tmp);
      exponent += h_exponent;
    }
    MatMul(H, H, tmp, m);
    std::swap(H, tmp);
    h_exponent *= 2;
    if (std::fabs(H[(k - 1) * m + (k - 1)]) > kScaleUp) {
      for (double& e : H) e *= kScaleDown;
      h_exponent += 128;
    }
  }
  double p = power[(k - 1) * m + (k - 1)];
  for (int64_t i = 1; i <= n; ++i) {  // × n! / n^n
    p = static_cast<double>(i) * p / static_cast<double>(n);
    if (std::fabs(p) < kScaleDown) {
      p *= kScaleUp;
      exponent -= 128;
    }
  }
  if (exponent != 0) p = std::ldexp(p, static_cast<int>(exponent));
  return Clip01(p);
}

double KolmogorovCdfPelzGood(int64_t n, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double pi2 = kPi * kPi, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
  const double sqrt2pi = std::sqrt(2 * kPi);
  const double z = std::sqrt(static_cast<double>(n)) * x;
  const double z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
  const double qlog = -pi2 / 8 / z2;
  if (qlog < -708) return 0.0;
  double q = std::exp(qlog);
  const double k1a = -z2, k1b = pi2 / 4;
  const double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4, k2c = pi4 * (1 - 2 * z2) / 16;
  const double k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16;
  const double k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * std::pow(z, 8);
  double K[4] = {0, 0, 0, 0};
  const int64_t maxk = static_cast<int64_t>(std::ceil(16 * z / kPi));
  for (int64_t k = maxk; k > 0; --k) {  // Horner in q^8k over odd m = 2k-1
    double m = static_cast<double>(2 * k - 1);
    double m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
    double qpower = std::pow(q, static_cast<double>(8 * k));
    double coeffs[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6};
    for (int i = 0; i < 4; ++i) K[i] = K[i] * qpower + coeffs[i];
  }
  const double divisors[4] = {z, 6 * z4, 72 * std::pow(z, 7), 6480 * std::pow(z, 10)};
  for (int i = 0; i < 4; ++i) K[i] = K[i] * q * sqrt2pi / divisors[i];
  q = std::exp(-pi2 / 2 / z2);
  const double sqrt3z = std::sqrt(3.0) * z;
  double k2extra = 0, k3extra = 0;
  for (int64_t k = maxk; k > 0; --k) {
    double kd = static_cast<double>(k), k2 = kd * kd;
    double qp = std::pow(q, k2);
    k2extra += k2 * qp;
    k3extra += (sqrt3z + kPi * kd) * (sqrt3z - kPi * kd) * k2 * qp;
  }
  K[2] += k2extra * (pi2 * sqrt2pi / (-36 * z3));
  K[3] += k3extra * (pi2 * sqrt2pi / (216 * z6));
  double sum = 0;
  for (int i = 0; i < 4; ++i) sum += K[i] / std::pow(static_cast<double>(n), i / 2.0);
  return sum;
}

double KolmogorovSf(int64_t n, double x) {
  if (std::isnan(x) || n <= 0) return std::numeric_limits<double>::quiet_NaN();
  if (x >= 1.0) return 0.0;
  if (x <= 0.0) return 1.0;
  const double nd = static_cast<double>(n);
  const double t = nd * x;
  if (t <= 1.0) {  // Ruben–Gambino, 1/2n <= x <= 1/n
    if (t <= 0.5) return 1.0;
    double prob;
    if (n <= 140) {
      prob = 1.0;
      for (int64_t i = 1; i <= n; ++i) prob *= static_cast<double>(i) * (1.0 / nd) * (2 * t - 1);
    } else {
      prob = std::exp(LogFactorialOverPower(n) + nd * std::log(2 * t - 1));
    }
    return Clip01(1.0 - prob);
  }
  if (t >= nd - 1) return Clip01(2 * std::pow(1.0 - x, nd));  // Ruben–Gambino
  if (x >= 0.5) return Clip01(2 * SmirnovSf(n, x));
  const double nx2 = t * x;
  if (n <= 140) {
    if (nx2 <= 4) return Clip01(1.0 - KolmogorovCdfDurbin(n, x));
    return Clip01(2 * SmirnovSf(n, x));
  }
  if (nx2 >= 370.0) return 0.0;
  if (nx2 >= 2.2) return Clip01(2 * SmirnovSf(n, x));
  double cdf;
  if (n <= 100000 && nd * std::pow(x, 1.5) <= 1.4) cdf = KolmogorovCdfDurbin(n, x);
  else cdf = KolmogorovCdfPelzGood(n, x);
  return Clip01(1.0 - cdf);
}

KsPValue KsTwoSamplePValue(int64_t n1, int64_t n2, double d) {
  KsPValue out;
  out.statistic = d;
  if (n1 <= 0 || n2 <= 0 || std::isnan(d)) {
    out.pvalue = std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  constexpr int64_t kMaxExactN = 10000;  // scipy's MAX_AUTO_N
  const int64_t g = std::gcd(n1, n2);
  if (std::max(n1, n2) <= kMaxExactN) {
    const int64_t lcm = (n1 / g) * n2;
    const int64_t h = static_cast<int64_t>(std::nearbyint(d * static_cast<double>(lcm)));
    const double d_exact = static_cast<double>(h) / static_cast<double>(lcm);
    double p = h == 0 ? 1.0 : (n1 == n2 ? ExactSquare(n1, h) : ExactInsideBand(n1, n2, g, h));
    if (p >= 0 && p <= 1) {
      out.statistic = d_exact;
      out.pvalue = p;
      out.exact = true;
      return out;
    }
    out.statistic = d_exact;  // scipy keeps the rounded d when it falls back
    d = d_exact;
  }
  const double big = static_cast<double>(std::max(n1, n2));
  const double small = static_cast<double>(std::min(n1, n2));
  const double en = big * small / (big + small);
  out.pvalue = Clip01(KolmogorovSf(static_cast<int64_t>(std::nearbyint(en)), d));
  return out;
}

}  // namespace hotswap::monitoring
