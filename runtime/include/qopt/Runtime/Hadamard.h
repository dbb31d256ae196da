//===- Hadamard.h - Hadamard matrices and the fast transform ----*- C++ -*-===//
//
// The Hadamard matrices qopt rotates with (qopt.hadamard, the hadamard kind
// of qopt-fold-rotations) and a reference fast Walsh-Hadamard transform.
//
// An order n is supported when n = base * 2^m with base = 1 or base one of
// the orders qopt constructs directly (Paley I, Paley II or Williamson; see
// docs/hadamard.md for the constructions and the list). H_n is then the
// Kronecker product H_base (x) H_{2^m} of the base matrix and a Sylvester
// matrix, so the transform is a butterfly over each contiguous block of 2^m
// elements followed by a dense base x base mix across the blocks.
//
// Nothing here depends on MLIR or LLVM.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_RUNTIME_HADAMARD_H
#define QOPT_RUNTIME_HADAMARD_H

#include "qopt/Runtime/QOptRuntime.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace qopt {
namespace runtime {

/// Largest base order: a larger cofactor is never constructed, which bounds
/// the base x base mix of the transform (and the size of H_base).
inline constexpr int64_t kMaxHadamardBase = 1024;

/// Largest supported order, 2^31: n * n and every index of H_n fit in int64_t.
inline constexpr int64_t kMaxHadamardOrder = int64_t(1) << 31;

/// n = base * 2^log2Pow where `base` is an order for which qopt constructs a
/// Hadamard matrix directly (1, or one of the non-power-of-two orders of
/// docs/hadamard.md).
struct HadamardSize {
  int64_t base;
  int64_t log2Pow;
};

/// The decomposition qopt uses for n, or std::nullopt when it cannot build a
/// Hadamard matrix of order n (n <= 0, n > kMaxHadamardOrder, or n = K * 2^m
/// with no constructible K). The rule: the largest power of two 2^m dividing
/// n whose cofactor n / 2^m is 1 or a constructible base, so the base is as
/// small as possible (e.g. 40 = 20 * 2, 11008 = 172 * 2^6, 648 = 648 * 2^0
/// because 81, 162 and 324 are not constructible).
QOPT_RUNTIME_EXPORT std::optional<HadamardSize> factorHadamardSize(int64_t n);

/// The +-1 Hadamard matrix H_n (row-major n*n, int8 entries), H_n H_n^T = n I,
/// for a supported n, defined as H_n = H_base (x) H_{2^m} (Kronecker product,
/// index i = a * 2^m + b with a < base, b < 2^m), H_{2^m} the Sylvester matrix
/// (H_1 = [1], H_{2k} = [[H_k, H_k], [H_k, -H_k]]). Empty vector if
/// unsupported.
QOPT_RUNTIME_EXPORT std::vector<int8_t> hadamardMatrix(int64_t n);

/// The transform, in place, of `rows` contiguous rows of `n` floats:
/// row := (1/sqrt(n)) * H_n * row  (i.e. y[i] = 1/sqrt(n) * sum_j H_n[i][j]
/// x[j]). An O(n log n) butterfly over each contiguous block of 2^m elements,
/// then the dense base x base mix across blocks (stride 2^m, vectorized along
/// b and across rows). Returns false, leaving `data` untouched, if n is not
/// supported, rows < 0, or data is null while rows > 0.
QOPT_RUNTIME_EXPORT bool fastHadamardTransform(float *data, int64_t rows,
                                               int64_t n);

/// The same transform in double precision, written for exactness rather than
/// speed (plain butterflies, then the base mix): what qopt-fold-rotations
/// folds into weights. Same contract as fastHadamardTransform.
QOPT_RUNTIME_EXPORT bool hadamardTransformDouble(double *data, int64_t rows,
                                                 int64_t n);

} // namespace runtime
} // namespace qopt

#endif // QOPT_RUNTIME_HADAMARD_H
