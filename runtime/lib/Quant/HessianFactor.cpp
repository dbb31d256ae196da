//===- HessianFactor.cpp - GPTQ's inverse-Hessian factor --------*- C++ -*-===//
//
// HessianFactor::compute: dead columns, act-order, relative dampening and the
// upper Cholesky factor U of H^-1 (H^-1 = U^T U), which GPTQ's reference
// computes as cholesky(cholesky_inverse(cholesky(H)), upper). Here one
// Cholesky factorisation and one triangular inverse give the same U: with J
// the reversal permutation and J H J = L L^T,
//   H^-1 = J L^-T L^-1 J = (J L^-1 J)^T (J L^-1 J),
// and J L^-1 J is upper triangular with a positive diagonal, hence the
// Cholesky factor. Both steps run on the thread pool: the Cholesky
// factorisation is blocked (right-looking: panel solve and trailing update
// split over row and column blocks), the triangular inverse is split over
// column chunks (column k of L^-1 is zero above row k). The split is fixed,
// so the factor does not depend on the number of threads.
//
//===----------------------------------------------------------------------===//

#include "QuantCommon.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace qopt;
using namespace qopt::quant;
using namespace qopt::quant::detail;

/// Columns per parallel task when building A and solving for L^-1.
static constexpr int64_t kInverseChunk = 64;
/// Panel width of the blocked Cholesky factorisation, and the row and
/// column blocks of its parallel tasks.
static constexpr int64_t kPanel = 256;
static constexpr int64_t kUpdateBlock = 128;

/// Overwrites the lower triangle of `a` with its Cholesky factor L
/// (a = L L^T), on `threads` threads; the strict upper triangle is
/// clobbered. Returns false if `a` is not positive definite.
static bool blockedCholesky(Eigen::MatrixXd &a, unsigned threads) {
  const int64_t n = a.rows();
  for (int64_t k = 0; k < n; k += kPanel) {
    const int64_t b = std::min(kPanel, n - k);
    const int64_t m = n - k - b;
    Eigen::Ref<Eigen::MatrixXd> a11 = a.block(k, k, b, b);
    Eigen::LLT<Eigen::Ref<Eigen::MatrixXd>, Eigen::Lower> llt(a11);
    if (llt.info() != Eigen::Success)
      return false;
    if (m == 0)
      break;
    // L21 = A21 L11^-T, by blocks of rows.
    const int64_t rowBlocks = (m + kUpdateBlock - 1) / kUpdateBlock;
    parallelFor(threads, rowBlocks, [&](int64_t t) {
      const int64_t r0 = t * kUpdateBlock;
      const int64_t rows = std::min(kUpdateBlock, m - r0);
      a11.triangularView<Eigen::Lower>()
          .transpose()
          .solveInPlace<Eigen::OnTheRight>(a.block(k + b + r0, k, rows, b));
    });
    // A22 -= L21 L21^T on and below the diagonal, by blocks of columns.
    const auto l21 = a.block(k + b, k, m, b);
    parallelFor(threads, rowBlocks, [&](int64_t t) {
      const int64_t c0 = t * kUpdateBlock;
      const int64_t cols = std::min(kUpdateBlock, m - c0);
      a.block(k + b + c0, k + b + c0, m - c0, cols).noalias() -=
          l21.bottomRows(m - c0) * l21.middleRows(c0, cols).transpose();
    });
  }
  return true;
}

llvm::Expected<HessianFactor>
HessianFactor::compute(llvm::ArrayRef<double> hessian, int64_t cols,
                       const GPTQOptions &options) {
  if (cols <= 0)
    return invalidArgument("the Hessian must have positive size, got " +
                           llvm::Twine(cols));
  if (llvm::Error err = checkHessian(hessian, cols))
    return std::move(err);
  if (!(options.percDamp >= 0.0) || !std::isfinite(options.percDamp))
    return invalidArgument("percdamp must be finite and >= 0, got " +
                           formatDouble(options.percDamp));

  HessianFactor f;
  f.numCols = cols;
  f.damping = options.percDamp;
  f.actOrdered = options.actOrder;
  f.dead.assign(cols, 0);
  std::vector<double> diag(cols);
  for (int64_t j = 0; j < cols; ++j) {
    diag[j] = hessian[j * cols + j];
    if (diag[j] == 0.0) {
      f.dead[j] = 1;
      diag[j] = 1.0;
    }
  }
  f.columnOrder.resize(cols);
  std::iota(f.columnOrder.begin(), f.columnOrder.end(), int64_t(0));
  if (options.actOrder)
    std::stable_sort(f.columnOrder.begin(), f.columnOrder.end(),
                     [&](int64_t a, int64_t b) { return diag[a] > diag[b]; });
  double damp = options.percDamp *
                (std::accumulate(diag.begin(), diag.end(), 0.0) / cols);

  // A = J P (H + damp I) P^T J, lower triangle, column-major, by chunks of
  // columns.
  const unsigned threads = resolveThreads(options.numThreads);
  const int64_t chunks = (cols + kInverseChunk - 1) / kInverseChunk;
  Eigen::MatrixXd a(cols, cols);
  parallelFor(threads, chunks, [&](int64_t t) {
    const int64_t c0 = t * kInverseChunk;
    for (int64_t k = c0; k < std::min(c0 + kInverseChunk, cols); ++k) {
      const int64_t ck = f.columnOrder[cols - 1 - k];
      a(k, k) = diag[ck] + damp;
      for (int64_t i = k + 1; i < cols; ++i)
        a(i, k) = hessian[ck * cols + f.columnOrder[cols - 1 - i]];
    }
  });
  if (!blockedCholesky(a, threads))
    return invalidArgument(
        "the Hessian is not positive definite after dampening (percdamp " +
        formatDouble(options.percDamp) + ")");

  // U[p][q] = (L^-1)[cols-1-p][cols-1-q]. Chunk t solves columns
  // [c0, c0 + n) of L^-1 (zero above row c0) and writes all of columns
  // [cols - c0 - n, cols - c0) of U, zeros included, so U needs no
  // initialisation.
  f.factor.reset(new double[cols * cols]);
  parallelFor(threads, chunks, [&](int64_t t) {
    const int64_t c0 = t * kInverseChunk;
    const int64_t n = std::min(kInverseChunk, cols - c0);
    const int64_t m = cols - c0;
    Eigen::MatrixXd x = Eigen::MatrixXd::Identity(m, n);
    a.bottomRightCorner(m, m).triangularView<Eigen::Lower>().solveInPlace(x);
    for (int64_t i = 0; i < m; ++i) {
      // Row cols - 1 - (c0 + i) of U is row c0 + i of L^-1, reversed.
      double *row = f.factor.get() + (cols - 1 - (c0 + i)) * cols;
      for (int64_t k = 0; k < n; ++k)
        row[cols - 1 - (c0 + k)] = k <= i ? x(i, k) : 0.0;
    }
    // Rows of L^-1 above c0 are zero in the chunk's columns.
    for (int64_t p = cols - c0; p < cols; ++p)
      std::fill_n(f.factor.get() + p * cols + (cols - c0 - n), n, 0.0);
  });
  return f;
}
