// Kernel SHAP: model-agnostic feature attributions (Lundberg & Lee, 2017), free of HTTP and of
// any engine. The model is a function from a batch of rows to a batch of outputs; the caller
// (api/explain_api.cpp) runs it through a loaded version's runtime, in batches.
//
// What is computed. For an explained row x with M features, a background set B (rows b with
// weights w_b summing to 1) defines the value of a coalition S of features as
//     v(S) = sum_b w_b f(x_S, b_{not S})         (interventional: hidden features take
//                                                 background values)
// so v({}) = E_B[f] (the expected value) and v(all) = f(x). The Shapley values phi_i of v are
// estimated by weighted least squares over coalitions with the Shapley kernel weights
//     pi(S) = (M - 1) / (C(M, |S|) |S| (M - |S|)),
// with the efficiency constraint enforced exactly: sum_i phi_i + E_B[f] == f(x) (up to floating
// error). When every coalition fits in the sample budget (2^M - 2 <= nsamples) all are
// enumerated and the result is the exact Shapley values of v (`exact`); otherwise coalitions
// are chosen as shap's KernelExplainer does: whole subset sizes (with their complements) from
// the smallest up while the budget covers them, the rest sampled in complementary pairs from
// the kernel's size distribution with a seeded generator, so a seed gives the same answer.
// The same coalitions serve every row of one call.
//
// Cost: (coalitions x background rows) model rows per explained row, plus one batch for the
// background and one for the rows; EvaluationRows() computes it before anything runs.
//
// Thread-safety: free functions; KernelShap calls `model` from the calling thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"

namespace hotswap::explain {

// Row-major matrix of doubles.
struct Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<double> values;  // rows * cols

  Matrix() = default;
  Matrix(int64_t r, int64_t c) : rows(r), cols(c), values(static_cast<size_t>(r * c), 0.0) {}
  double& at(int64_t r, int64_t c) { return values[static_cast<size_t>(r * cols + c)]; }
  double at(int64_t r, int64_t c) const { return values[static_cast<size_t>(r * cols + c)]; }
};

// Evaluates the model on `rows` ([n, M]) and returns its outputs [n, K] (K the same on every
// call). Errors are passed through to the caller of KernelShap.
using BatchModel = std::function<absl::StatusOr<Matrix>(const Matrix& rows)>;

struct Background {
  Matrix data;                  // [n, M]
  std::vector<double> weights;  // n weights summing to 1
};

// Every row of `data` when it has at most `max_rows`; otherwise `max_rows` rows drawn without
// replacement with a generator seeded by `seed` (same seed, same rows). Uniform weights.
Background SummariseBackground(const Matrix& data, int64_t max_rows, uint64_t seed);

struct KernelShapOptions {
  int64_t nsamples = 0;          // coalition budget per row; 0 = DefaultSamples(M)
  uint64_t seed = 0;             // coalition sampling
  int64_t max_batch_rows = 4096; // rows per call of the model
};

// shap's "auto" budget: 2 * M + 2048.
int64_t DefaultSamples(int64_t features);
// Coalitions evaluated per row for M features and a budget (after enumeration is decided):
// 2^M - 2 when that fits in the budget, else the budget.
int64_t CoalitionCount(int64_t features, int64_t nsamples);
// Model rows one call evaluates: rows * coalitions * background + background + rows.
int64_t EvaluationRows(int64_t rows, int64_t features, int64_t nsamples, int64_t background_rows);

struct ShapResult {
  Matrix fx;                           // [N, K] the model's outputs for the explained rows
  std::vector<double> expected_value;  // [K] E_B[f]
  std::vector<Matrix> shap_values;     // K matrices [N, M]
  bool exact = false;                  // every coalition was enumerated
  int64_t coalitions = 0;              // per row
  int64_t nsamples = 0;                // the budget used
  int64_t model_rows = 0;              // rows the model evaluated in all
};

// InvalidArgument when x has no rows or no features, the background's width differs from x's,
// the background is empty, or nsamples < 2 * M for a sampled (non-exact) run.
absl::StatusOr<ShapResult> KernelShap(const BatchModel& model, const Matrix& x,
                                      const Background& background,
                                      const KernelShapOptions& options);

}  // namespace hotswap::explain
