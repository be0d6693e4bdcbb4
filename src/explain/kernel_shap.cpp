#include "explain/kernel_shap.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace hotswap::explain {
namespace {

double Binomial(int64_t n, int64_t k) {
  double r = 1;
  for (int64_t i = 1; i <= k; ++i) r = r * static_cast<double>(n - k + i) / static_cast<double>(i);
  return r;
}

// The chosen coalitions: masks (1 = the feature is x's) and their kernel weights.
struct Coalitions {
  std::vector<std::vector<char>> masks;
  std::vector<double> weights;
  bool exact = false;
};

// Calls `visit` with every subset of {0..m-1} of size `s` (as a mask), in lexicographic order.
template <typename Visit>
void ForEachSubset(int64_t m, int64_t s, Visit visit) {
  std::vector<int64_t> idx(static_cast<size_t>(s));
  std::iota(idx.begin(), idx.end(), 0);
  while (true) {
    std::vector<char> mask(static_cast<size_t>(m), 0);
    for (int64_t i : idx) mask[static_cast<size_t>(i)] = 1;
    visit(mask);
    int64_t i = s - 1;
    while (i >= 0 && idx[static_cast<size_t>(i)] == m - s + i) --i;
    if (i < 0) return;
    ++idx[static_cast<size_t>(i)];
    for (int64_t j = i + 1; j < s; ++j) idx[static_cast<size_t>(j)] = idx[static_cast<size_t>(j - 1)] + 1;
  }
}

std::vector<char> Complement(const std::vector<char>& mask) {
  std::vector<char> c(mask.size());
  for (size_t i = 0; i < mask.size(); ++i) c[i] = mask[i] ? 0 : 1;
  return c;
}

Coalitions Choose(int64_t m, int64_t nsamples, uint64_t seed) {
  Coalitions out;
  if (m <= 1) return out;
  if (m <= 30 && (int64_t{1} << m) - 2 <= nsamples) {
    out.exact = true;
    for (int64_t s = 1; s < m; ++s) {
      const double w = static_cast<double>(m - 1) / (Binomial(m, s) * s * (m - s));
      ForEachSubset(m, s, [&](const std::vector<char>& mask) {
        out.masks.push_back(mask);
        out.weights.push_back(w);
      });
    }
    return out;
  }
  // shap's KernelExplainer: sizes s and m - s are handled together ("paired").
  const int64_t num_sizes = (m - 1 + 1) / 2;  // ceil((m - 1) / 2)
  const int64_t num_paired = (m - 1) / 2;
  std::vector<double> w(static_cast<size_t>(num_sizes + 1), 0.0);  // by size, 1-based
  double total = 0;
  for (int64_t s = 1; s <= num_sizes; ++s) {
    w[s] = static_cast<double>(m - 1) / (s * (m - s));
    if (s <= num_paired) w[s] *= 2;
    total += w[s];
  }
  for (double& v : w) v /= total;
  std::vector<double> remaining_w = w;
  int64_t remaining = nsamples;
  int64_t full = 0;
  for (int64_t s = 1; s <= num_sizes; ++s) {
    const bool paired = s <= num_paired;
    const double nsub = Binomial(m, s) * (paired ? 2 : 1);
    if (static_cast<double>(remaining) * remaining_w[s] + 1e-8 < nsub) break;
    ++full;
    remaining -= static_cast<int64_t>(nsub);
    if (remaining_w[s] < 1) {
      const double left = 1 - remaining_w[s];
      for (double& v : remaining_w) v /= left;
    }
    const double each = w[s] / Binomial(m, s) / (paired ? 2 : 1);
    ForEachSubset(m, s, [&](const std::vector<char>& mask) {
      out.masks.push_back(mask);
      out.weights.push_back(each);
      if (paired) {
        out.masks.push_back(Complement(mask));
        out.weights.push_back(each);
      }
    });
  }
  if (full == num_sizes || remaining <= 0) return out;

  // The rest: sizes drawn from the kernel's distribution over the sizes not enumerated, a
  // random subset of that size and its complement; repeats add weight instead of a row.
  std::vector<double> size_w(w.begin(), w.end());
  for (int64_t s = 0; s <= full; ++s) size_w[s] = 0;
  double left_weight = 0;
  for (double v : size_w) left_weight += v;
  std::mt19937_64 rng(seed);
  std::discrete_distribution<int64_t> pick_size(size_w.begin(), size_w.end());
  std::vector<int64_t> order(static_cast<size_t>(m));
  std::iota(order.begin(), order.end(), 0);
  std::map<std::vector<char>, size_t> seen;
  const size_t first_sampled = out.masks.size();
  auto add = [&](std::vector<char> mask) {
    auto it = seen.find(mask);
    if (it != seen.end()) {
      out.weights[it->second] += 1;
      return;
    }
    seen.emplace(mask, out.masks.size());
    out.masks.push_back(std::move(mask));
    out.weights.push_back(1);
    --remaining;
  };
  for (int64_t attempts = 0; remaining > 0 && attempts < 4 * nsamples + 16; ++attempts) {
    const int64_t s = pick_size(rng);
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<char> mask(static_cast<size_t>(m), 0);
    for (int64_t i = 0; i < s; ++i) mask[static_cast<size_t>(order[static_cast<size_t>(i)])] = 1;
    std::vector<char> complement = Complement(mask);
    add(std::move(mask));
    if (s <= num_paired && remaining > 0) add(std::move(complement));
  }
  // Sampled coalitions share the kernel mass of the sizes not enumerated, in proportion to
  // how often each was drawn (shap's KernelExplainer does the same).
  double sampled = 0;
  for (size_t i = first_sampled; i < out.weights.size(); ++i) sampled += out.weights[i];
  for (size_t i = first_sampled; i < out.weights.size(); ++i) {
    out.weights[i] *= left_weight / sampled;
  }
  return out;
}

// Solves A x = B for x (A n x n symmetric, B n x k) by Gaussian elimination with partial
// pivoting; A and B are overwritten. A tiny ridge keeps a rank-deficient sample solvable.
absl::StatusOr<Matrix> Solve(Matrix a, Matrix b) {
  const int64_t n = a.rows;
  double trace = 0;
  for (int64_t i = 0; i < n; ++i) trace += a.at(i, i);
  for (int64_t i = 0; i < n; ++i) a.at(i, i) += 1e-12 * (trace / std::max<int64_t>(n, 1));
  for (int64_t col = 0; col < n; ++col) {
    int64_t pivot = col;
    for (int64_t r = col + 1; r < n; ++r) {
      if (std::abs(a.at(r, col)) > std::abs(a.at(pivot, col))) pivot = r;
    }
    if (std::abs(a.at(pivot, col)) < 1e-300) {
      return absl::InternalError("Kernel SHAP: the coalition sample does not determine every "
                                 "feature; raise nsamples");
    }
    if (pivot != col) {
      for (int64_t c = 0; c < n; ++c) std::swap(a.at(col, c), a.at(pivot, c));
      for (int64_t c = 0; c < b.cols; ++c) std::swap(b.at(col, c), b.at(pivot, c));
    }
    for (int64_t r = col + 1; r < n; ++r) {
      const double f = a.at(r, col) / a.at(col, col);
      if (f == 0) continue;
      for (int64_t c = col; c < n; ++c) a.at(r, c) -= f * a.at(col, c);
      for (int64_t c = 0; c < b.cols; ++c) b.at(r, c) -= f * b.at(col, c);
    }
  }
  Matrix x(n, b.cols);
  for (int64_t r = n - 1; r >= 0; --r) {
    for (int64_t c = 0; c < b.cols; ++c) {
      double v = b.at(r, c);
      for (int64_t j = r + 1; j < n; ++j) v -= a.at(r, j) * x.at(j, c);
      x.at(r, c) = v / a.at(r, r);
    }
  }
  return x;
}

// Runs `model` on `rows` in batches of at most `batch` rows; checks the output shape.
absl::StatusOr<Matrix> RunBatched(const BatchModel& model, const Matrix& rows, int64_t batch,
                                  int64_t* outputs, int64_t* model_rows) {
  Matrix out;
  for (int64_t start = 0; start < rows.rows; start += batch) {
    const int64_t n = std::min(batch, rows.rows - start);
    Matrix chunk(n, rows.cols);
    std::copy(rows.values.begin() + start * rows.cols, rows.values.begin() + (start + n) * rows.cols,
              chunk.values.begin());
    HS_ASSIGN_OR_RETURN(Matrix y, model(chunk));
    if (y.rows != n || (*outputs >= 0 && y.cols != *outputs) || y.cols < 1 ||
        static_cast<int64_t>(y.values.size()) != y.rows * y.cols) {
      return absl::InternalError(absl::StrCat("the model returned ", y.rows, "x", y.cols,
                                              " outputs for ", n, " rows"));
    }
    *outputs = y.cols;
    *model_rows += n;
    if (out.rows == 0) out = Matrix(rows.rows, y.cols);
    std::copy(y.values.begin(), y.values.end(), out.values.begin() + start * y.cols);
  }
  return out;
}

}  // namespace

Background SummariseBackground(const Matrix& data, int64_t max_rows, uint64_t seed) {
  Background bg;
  if (data.rows <= max_rows) {
    bg.data = data;
  } else {
    std::vector<int64_t> idx(static_cast<size_t>(data.rows));
    std::iota(idx.begin(), idx.end(), 0);
    std::mt19937_64 rng(seed);
    // Partial Fisher-Yates: the first max_rows positions are a uniform sample.
    for (int64_t i = 0; i < max_rows; ++i) {
      std::uniform_int_distribution<int64_t> pick(i, data.rows - 1);
      std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(pick(rng))]);
    }
    idx.resize(static_cast<size_t>(max_rows));
    std::sort(idx.begin(), idx.end());
    bg.data = Matrix(max_rows, data.cols);
    for (int64_t r = 0; r < max_rows; ++r) {
      for (int64_t c = 0; c < data.cols; ++c) bg.data.at(r, c) = data.at(idx[static_cast<size_t>(r)], c);
    }
  }
  bg.weights.assign(static_cast<size_t>(bg.data.rows),
                    bg.data.rows > 0 ? 1.0 / static_cast<double>(bg.data.rows) : 0.0);
  return bg;
}

int64_t DefaultSamples(int64_t features) { return 2 * features + 2048; }

int64_t CoalitionCount(int64_t features, int64_t nsamples) {
  if (features <= 1) return 0;
  if (features <= 30 && (int64_t{1} << features) - 2 <= nsamples) return (int64_t{1} << features) - 2;
  return nsamples;
}

int64_t EvaluationRows(int64_t rows, int64_t features, int64_t nsamples, int64_t background_rows) {
  const double total = static_cast<double>(rows) * static_cast<double>(CoalitionCount(features, nsamples)) *
                           static_cast<double>(background_rows) +
                       static_cast<double>(background_rows + rows);
  return total > 9e18 ? INT64_MAX : static_cast<int64_t>(total);
}

absl::StatusOr<ShapResult> KernelShap(const BatchModel& model, const Matrix& x,
                                      const Background& background,
                                      const KernelShapOptions& options) {
  const int64_t m = x.cols;
  if (x.rows < 1 || m < 1) return absl::InvalidArgumentError("nothing to explain: no rows or no features");
  if (background.data.rows < 1) return absl::InvalidArgumentError("the background set is empty");
  if (background.data.cols != m) {
    return absl::InvalidArgumentError(absl::StrCat("the background rows have ", background.data.cols,
                                                   " features; the explained rows have ", m));
  }
  if (static_cast<int64_t>(background.weights.size()) != background.data.rows) {
    return absl::InvalidArgumentError("background weights do not match its rows");
  }
  ShapResult result;
  result.nsamples = options.nsamples > 0 ? options.nsamples : DefaultSamples(m);
  const int64_t batch = std::max<int64_t>(1, options.max_batch_rows);
  Coalitions co = Choose(m, result.nsamples, options.seed);
  if (m > 1 && !co.exact && result.nsamples < 2 * m) {
    return absl::InvalidArgumentError(absl::StrCat("nsamples ", result.nsamples,
                                                   " is too small for ", m,
                                                   " features; at least ", 2 * m, " are needed"));
  }
  result.exact = co.exact || m == 1;
  result.coalitions = static_cast<int64_t>(co.masks.size());

  int64_t k = -1;
  HS_ASSIGN_OR_RETURN(result.fx, RunBatched(model, x, batch, &k, &result.model_rows));
  HS_ASSIGN_OR_RETURN(Matrix fb, RunBatched(model, background.data, batch, &k, &result.model_rows));
  const int64_t nb = background.data.rows;
  result.expected_value.assign(static_cast<size_t>(k), 0.0);
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t j = 0; j < k; ++j) result.expected_value[j] += background.weights[b] * fb.at(b, j);
  }
  result.shap_values.assign(static_cast<size_t>(k), Matrix(x.rows, m));

  const int64_t c_count = result.coalitions;
  // The regression's design (efficiency constraint eliminated through the last feature):
  // etmp[c][i] = mask[c][i] - mask[c][m-1] for i < m-1.
  Matrix a(m - 1, m - 1);
  for (int64_t c = 0; c < c_count; ++c) {
    const auto& mask = co.masks[c];
    for (int64_t i = 0; i + 1 < m; ++i) {
      const double ei = mask[i] - mask[m - 1];
      if (ei == 0) continue;
      for (int64_t j = 0; j + 1 < m; ++j) {
        a.at(i, j) += co.weights[c] * ei * (mask[j] - mask[m - 1]);
      }
    }
  }

  for (int64_t r = 0; r < x.rows; ++r) {
    std::vector<double> total(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) total[j] = result.fx.at(r, j) - result.expected_value[j];
    if (m == 1) {
      for (int64_t j = 0; j < k; ++j) result.shap_values[j].at(r, 0) = total[j];
      continue;
    }
    // v(S) for every coalition, evaluated in chunks of whole coalitions.
    Matrix ey(c_count, k);
    const int64_t per_chunk = std::max<int64_t>(1, batch / nb);
    for (int64_t c0 = 0; c0 < c_count; c0 += per_chunk) {
      const int64_t cn = std::min(per_chunk, c_count - c0);
      Matrix rows(cn * nb, m);
      for (int64_t c = 0; c < cn; ++c) {
        const auto& mask = co.masks[c0 + c];
        for (int64_t b = 0; b < nb; ++b) {
          for (int64_t i = 0; i < m; ++i) {
            rows.at(c * nb + b, i) = mask[i] ? x.at(r, i) : background.data.at(b, i);
          }
        }
      }
      HS_ASSIGN_OR_RETURN(Matrix y, RunBatched(model, rows, batch, &k, &result.model_rows));
      for (int64_t c = 0; c < cn; ++c) {
        for (int64_t b = 0; b < nb; ++b) {
          for (int64_t j = 0; j < k; ++j) ey.at(c0 + c, j) += background.weights[b] * y.at(c * nb + b, j);
        }
      }
    }
    Matrix rhs(m - 1, k);
    for (int64_t c = 0; c < c_count; ++c) {
      const auto& mask = co.masks[c];
      for (int64_t j = 0; j < k; ++j) {
        const double adj = ey.at(c, j) - result.expected_value[j] - mask[m - 1] * total[j];
        for (int64_t i = 0; i + 1 < m; ++i) {
          rhs.at(i, j) += co.weights[c] * (mask[i] - mask[m - 1]) * adj;
        }
      }
    }
    HS_ASSIGN_OR_RETURN(Matrix phi, Solve(a, rhs));
    for (int64_t j = 0; j < k; ++j) {
      double sum = 0;
      for (int64_t i = 0; i + 1 < m; ++i) {
        result.shap_values[j].at(r, i) = phi.at(i, j);
        sum += phi.at(i, j);
      }
      result.shap_values[j].at(r, m - 1) = total[j] - sum;
    }
  }
  return result;
}

}  // namespace hotswap::explain
