//===- Rotations.h - Rotations and the structure they need -----*- C++ -*-===//
//
// The pieces of qopt-fold-rotations below the pass: orthogonal rotations
// (Hadamard and Haar-random), their application to the rows or columns of
// a weight, and the structure analysis that finds where R1 and R2 go (the
// residual stream, the value/output head pairs). Private to passes/lib.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TRANSFORMS_ROTATIONS_H
#define QOPT_TRANSFORMS_ROTATIONS_H

#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Support/LLVM.h"

#include <Eigen/Dense>

#include <cstdint>
#include <memory>
#include <string>

namespace mlir::qopt::rotation {

/// An orthogonal n x n matrix Q, applied to weight vectors as v -> Q^T v.
class Rotation {
public:
  /// Q = H_n^T / sqrt(n), so Q^T v = H_n v / sqrt(n): the transform of
  /// qopt.hadamard. Fails if qopt cannot construct H_n.
  static std::unique_ptr<Rotation> hadamard(int64_t n);
  /// A Haar-random orthogonal matrix from `seed`.
  static std::unique_ptr<Rotation> random(int64_t n, uint64_t seed);

  int64_t size() const { return n; }
  /// A key that identifies this matrix (for caching rotated weights).
  const std::string &key() const { return name; }

  /// Replaces each of the `data.size() / n` contiguous vectors of `data` by
  /// Q^T times it.
  void apply(MutableArrayRef<double> data) const;

private:
  int64_t n = 0;
  std::string name;
  // Random: Q, column-major.
  Eigen::MatrixXd q;
  bool isHadamard = true;
};

/// Q^T applied to the rows of a weight (segments of Q's size along each
/// row) or to its columns (segments along each column).
struct WeightTransform {
  enum Side { Rows, Columns } side;
  const Rotation *rotation;
};

/// Applies `t` to the row-major [rows, cols] `w`.
void applyTransform(MutableArrayRef<double> w, int64_t rows, int64_t cols,
                    const WeightTransform &t);

/// Fails with the rule broken unless `value` is a weight whose values are
/// known at compile time (WeightValue) and whose `side` dimension is a
/// multiple of `n`.
LogicalResult checkWeight(Operation *user, Value value,
                          WeightTransform::Side side, int64_t n,
                          std::string &why);

/// Where R1 goes: the embedding table (rows), the linears reading the
/// residual stream through weightless norms (rows), and the linears writing
/// it (columns).
struct ResidualStream {
  EmbeddingOp embedding;
  int64_t dim = 0;
  SmallVector<LinearOp> readers, writers;
};

/// The error of a structure check: the op to report at and the rule.
struct Refusal {
  Operation *op;
  std::string why;
};

/// Follows the residual stream of `func` from its embedding.
FailureOr<ResidualStream> findResidualStream(func::FuncOp func,
                                             Refusal &refusal);

/// Where R2 goes in one layer: v_proj's output heads, o_proj's input heads.
struct HeadPair {
  AttentionOp attention;
  LinearOp value, output;
};

/// The value and output projections around `attention`, checked for R2.
FailureOr<HeadPair> findHeadPair(AttentionOp attention, Refusal &refusal);

} // namespace mlir::qopt::rotation

#endif // QOPT_TRANSFORMS_ROTATIONS_H
