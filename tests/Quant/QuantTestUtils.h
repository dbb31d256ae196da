//===- QuantTestUtils.h - Random problems for tests -------------*- C++ -*-===//
//
// Seeded random weights and Hessians (plain loops, no Eigen): Gaussian
// weights with a few outliers, and H = X^T X of inputs whose channels are
// correlated (an AR(1) process along the channels) and unevenly scaled, like
// a transformer layer's activations.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TESTS_QUANT_QUANTTESTUTILS_H
#define QOPT_TESTS_QUANT_QUANTTESTUTILS_H

#include "qopt/Quant/GPTQ.h"

#include "llvm/Support/Error.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace qopt {
namespace quant {
namespace testing {

/// rows x cols Gaussian weights, every 17th element multiplied by 4.
inline std::vector<float> randomWeight(int64_t rows, int64_t cols,
                                       unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(rows * cols);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = normal(rng) * (i % 17 == 5 ? 4.0f : 1.0f);
  return w;
}

/// X^T X for `samples` inputs x with x_k = rho x_(k-1) + sqrt(1 - rho^2) z,
/// channel k scaled by a factor in [0.5, 2].
inline std::vector<double> correlatedHessian(int64_t cols, int64_t samples,
                                             double rho, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.5, 2.0);
  std::vector<double> scale(cols);
  for (double &s : scale)
    s = uniform(rng);
  std::vector<double> h(cols * cols, 0.0), x(cols);
  for (int64_t t = 0; t < samples; ++t) {
    double prev = normal(rng);
    for (int64_t k = 0; k < cols; ++k) {
      prev = rho * prev + std::sqrt(1.0 - rho * rho) * normal(rng);
      x[k] = scale[k] * prev;
    }
    for (int64_t a = 0; a < cols; ++a)
      for (int64_t b = 0; b < cols; ++b)
        h[a * cols + b] += x[a] * x[b];
  }
  return h;
}

/// The cols x cols identity.
inline std::vector<double> identity(int64_t cols) {
  std::vector<double> h(cols * cols, 0.0);
  for (int64_t k = 0; k < cols; ++k)
    h[k * cols + k] = 1.0;
  return h;
}

/// The message of a failed Expected, "" on success.
template <typename T> std::string errorMessage(llvm::Expected<T> value) {
  if (value)
    return "";
  return llvm::toString(value.takeError());
}

/// The value of a successful Expected; aborts the test run otherwise.
template <typename T> T valueOf(llvm::Expected<T> value) {
  if (!value)
    llvm::report_fatal_error(value.takeError());
  return std::move(*value);
}

} // namespace testing
} // namespace quant
} // namespace qopt

#endif // QOPT_TESTS_QUANT_QUANTTESTUTILS_H
