//===- GPTQ.h - GPTQ, Matryoshka GPTQ and clipped RTN -----------*- C++ -*-===//
//
// The numerical core of calibrated weight quantization (docs/gptq.md):
//  - gptqQuantize: GPTQ (arXiv 2210.17323) with relative dampening, dead
//    columns, optional act-order, the upper Cholesky factor of H^-1 and lazy
//    block updates;
//  - matryoshkaQuantize: codes, scales and zeros of one parent (e.g. int8)
//    chosen for the weighted error of its Matryoshka slices at several served
//    widths, with a choice of error feedback and coordinate-descent sweeps;
//  - clipQuantize: round-to-nearest with an H-weighted clipping search;
//  - outputError / matryoshkaObjective: tr((W - What) H (W - What)^T).
//
// Weights are [rows, cols] row-major floats (a linear layer's [N, K]: groups
// along K, the last group shorter when the group size does not divide K); H
// is the cols x cols Hessian X^T X of the layer's inputs, row-major doubles.
// Results are codes, scales and zero points in qopt's conventions
// (docs/quantization.md, QuantMath.h), ready for Storage.h's packing.
//
// Depends on LLVM Support (Expected, ThreadPool); Eigen is private to the
// implementation.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_QUANT_GPTQ_H
#define QOPT_QUANT_GPTQ_H

#include "qopt/Runtime/QuantMath.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace qopt {
namespace quant {

/// The float type scales are stored in. Codes are always computed with the
/// scale rounded to this type, as qopt-quantize-weights does.
enum class ScaleType : uint8_t { F32, F16, BF16 };

/// What every method shares: the code width and the grouping.
struct QuantConfig {
  /// Code width c in 1..8 (the parent width for matryoshkaQuantize).
  unsigned bits = 8;
  /// Elements per group along the columns; 0 (or >= cols) is per channel.
  int64_t groupSize = 32;
  /// Zero-point scheme; Symmetric needs bits >= 2.
  runtime::Scheme scheme = runtime::Scheme::Asymmetric;
  /// Storage type of the scales.
  ScaleType scaleType = ScaleType::F32;
};

/// A quantized [rows, cols] weight in qopt's conventions.
struct QuantizedWeight {
  int64_t rows = 0;
  int64_t cols = 0;
  /// Groups per row: ceil(cols / groupSize), 1 per channel.
  int64_t groupsPerRow = 0;
  /// rows * cols codes of `bits` bits, one per byte, row-major.
  std::vector<uint8_t> codes;
  /// rows * groupsPerRow scales (the scales tensor [rows, groupsPerRow]),
  /// exactly representable in the configured ScaleType.
  std::vector<float> scales;
  /// Zero points, same shape; 2^(bits-1) everywhere for Symmetric (which
  /// qopt does not store).
  std::vector<float> zeros;
};

/// Round-to-nearest min-max quantization with QuantMath's formulas, the
/// numbers qopt-quantize-weights produces. Fails on invalid sizes or
/// configurations and on non-finite weights.
llvm::Expected<QuantizedWeight> rtnQuantize(llvm::ArrayRef<float> weight,
                                            int64_t rows, int64_t cols,
                                            const QuantConfig &config);

//===----------------------------------------------------------------------===//
// GPTQ
//===----------------------------------------------------------------------===//

/// Options of GPTQ's Hessian preparation and of its column loop.
struct GPTQOptions {
  /// Relative dampening: percDamp * mean(diag H) is added to the diagonal.
  double percDamp = 0.01;
  /// Process columns by descending diag(H). Groups stay consecutive columns
  /// of the original order (qopt's storage has no group index).
  bool actOrder = false;
  /// Columns per lazy block update.
  int64_t blockSize = 128;
  /// Worker threads; 0 uses every hardware thread. Results do not depend on
  /// it.
  unsigned numThreads = 0;
};

/// What GPTQ needs from H, prepared once and shared by every weight that
/// reads the same input (q/k/v, gate/up): dead columns, the processing
/// order and the upper Cholesky factor U of (H + damp I)^-1 = U^T U in that
/// order.
class HessianFactor {
public:
  /// Prepares `hessian` (cols x cols, row-major, symmetric) with the
  /// dampening and act-order of `options`. A zero diagonal entry marks a
  /// dead column: the entry becomes 1 and GPTQ zeroes that weight column.
  /// Fails on a size mismatch, a non-finite or asymmetric H, a negative
  /// diagonal, or an H that is not positive definite after dampening.
  static llvm::Expected<HessianFactor> compute(llvm::ArrayRef<double> hessian,
                                               int64_t cols,
                                               const GPTQOptions &options);

  /// Number of columns.
  int64_t cols() const { return numCols; }
  /// The relative dampening this factor was prepared with.
  double percDamp() const { return damping; }
  /// Whether this factor processes the columns in act-order.
  bool actOrder() const { return actOrdered; }
  /// order()[j] is the original column processed j-th.
  llvm::ArrayRef<int64_t> order() const { return columnOrder; }
  /// isDead()[c] is 1 for an original column c whose H diagonal was 0.
  llvm::ArrayRef<uint8_t> isDead() const { return dead; }
  /// U, cols x cols row-major, rows and columns in processing order.
  llvm::ArrayRef<double> upper() const {
    return llvm::ArrayRef<double>(factor.get(), numCols * numCols);
  }

private:
  HessianFactor() = default;

  int64_t numCols = 0;
  double damping = 0.0;
  bool actOrdered = false;
  std::vector<int64_t> columnOrder;
  std::vector<uint8_t> dead;
  std::unique_ptr<double[]> factor;
};

/// GPTQ of a [rows, cols] weight against `hessian`. Columns are quantized
/// in processing order, each with the code of its current (error-updated)
/// value, and the rounding error is fed back to the columns not yet
/// quantized through U; a group's scale and zero point are computed with
/// QuantMath's min-max formulas from the current values of all its columns
/// when its first column is reached. Fails as rtnQuantize and
/// HessianFactor::compute do, and on a block size below 1.
llvm::Expected<QuantizedWeight> gptqQuantize(llvm::ArrayRef<float> weight,
                                             int64_t rows, int64_t cols,
                                             llvm::ArrayRef<double> hessian,
                                             const QuantConfig &config,
                                             const GPTQOptions &options);

/// gptqQuantize with a prepared factor, whose dampening and act-order must
/// be those of `options`.
llvm::Expected<QuantizedWeight> gptqQuantize(llvm::ArrayRef<float> weight,
                                             int64_t rows, int64_t cols,
                                             const HessianFactor &factor,
                                             const QuantConfig &config,
                                             const GPTQOptions &options);

//===----------------------------------------------------------------------===//
// Matryoshka-aware quantization
//===----------------------------------------------------------------------===//

/// How matryoshkaQuantize feeds rounding errors back in its GPTQ pass.
enum class ErrorFeedback : uint8_t {
  /// MatGPTQ's choice: one running weight per row, fed back the lambda-
  /// weighted mean of the per-width errors. This compensates the error of
  /// the averaged model sum_r lambda_r What_r / sum_r lambda_r, not the
  /// average of the per-width errors.
  Mean,
  /// One running weight per served width, each fed back its own width's
  /// error; the shared parent code is chosen against all of them. Each
  /// width's term of the objective then gets exactly GPTQ's compensation.
  PerWidth,
};

/// A search over range factors m: a group's candidate scale and zero point
/// are QuantMath's min-max parameters of m * x. Candidates are m = 1 and
/// `points` values evenly spaced in [minFactor, maxFactor].
struct RangeSearch {
  /// Factors tried besides 1 (0: none, the min-max parameters of x).
  unsigned points = 0;
  /// The smallest and largest factor tried.
  double minFactor = 1.0;
  double maxFactor = 1.0;
};

/// The served widths and the Matryoshka method's choices.
struct MatryoshkaOptions {
  /// Served widths r, each in 1..bits, distinct (e.g. {8, 4, 2}).
  std::vector<unsigned> widths;
  /// lambda_r >= 0 for each width, not all zero.
  std::vector<double> lambdas;
  /// Error feedback of the GPTQ pass.
  ErrorFeedback feedback = ErrorFeedback::PerWidth;
  /// Scale search over the sliced grids when a group starts: the candidate
  /// with the smallest GPTQ loss over the group's columns,
  /// sum_j sum_r lambda_r (t_rj - What_rj)^2 / U_jj^2 (feedback within the
  /// group ignored).
  RangeSearch rangeSearch = {6, 0.85, 1.3};
  /// Coordinate-descent sweeps after the GPTQ pass (0: none).
  unsigned sweeps = 2;
};

/// lambda_r = 4^(r - bits) for each of `widths`: the quantization noise of a
/// grid of step a 2^(bits-r) grows as 4^(bits-r), so these weights make
/// every served width count alike relative to its own noise. With equal
/// lambdas the coarsest width dominates the objective.
std::vector<double> balancedLambdas(llvm::ArrayRef<unsigned> widths,
                                    unsigned bits);

/// lambda_r = 2^(r - bits): the default of qopt-quantize-weights and
/// `qopt-run quantize`. Between equal weights (the coarsest width dominates)
/// and balancedLambdas (the coarsest width barely counts): on stories260K
/// it keeps int8 and int4 within 0.01 NLL of direct GPTQ while serving int2
/// 0.3 NLL better than a sliced GPTQ int8 (docs/matryoshka.md).
std::vector<double> servingLambdas(llvm::ArrayRef<unsigned> widths,
                                   unsigned bits);

/// A Matryoshka result and the objective of every iteration.
struct MatryoshkaResult {
  /// The parent codes, scales and zeros.
  QuantizedWeight weight;
  /// objective[0] after the GPTQ pass, objective[i] after sweep i; never
  /// increasing (equal values once every row has converged). The weight is
  /// the state of the last entry.
  std::vector<double> objective;
};

/// Chooses the parent codes, scales and zeros (bits = config.bits) that
/// minimise sum_r lambda_r tr((W - What_r) H (W - What_r)^T), What_r the
/// slice S(q, r) dequantized with the parent's scale and zero:
///  1. a GPTQ pass over the parent (dampened H, act-order and blocks as in
///     gptqQuantize) with `options.feedback`, each code the exact
///     minimiser of the column's lambda-weighted error over all parent
///     codes, each group's parameters from `options.rangeSearch`;
///  2. `options.sweeps` coordinate-descent sweeps on the objective with the
///     caller's H: each code replaced by the exact minimiser with the others
///     fixed, a row kept at its best state.
/// Fails as gptqQuantize does, and on invalid widths or lambdas.
llvm::Expected<MatryoshkaResult>
matryoshkaQuantize(llvm::ArrayRef<float> weight, int64_t rows, int64_t cols,
                   llvm::ArrayRef<double> hessian, const QuantConfig &config,
                   const GPTQOptions &gptqOptions,
                   const MatryoshkaOptions &options);

/// matryoshkaQuantize with a prepared factor of `hessian`, whose dampening
/// and act-order must be those of `gptqOptions`.
llvm::Expected<MatryoshkaResult>
matryoshkaQuantize(llvm::ArrayRef<float> weight, int64_t rows, int64_t cols,
                   llvm::ArrayRef<double> hessian, const HessianFactor &factor,
                   const QuantConfig &config, const GPTQOptions &gptqOptions,
                   const MatryoshkaOptions &options);

//===----------------------------------------------------------------------===//
// Output error
//===----------------------------------------------------------------------===//

/// tr((W - What_r) H (W - What_r)^T) = ||X (W - What_r)^T||^2 for H = X^T X
/// (X: one row per token), What_r the codes of `quantized` (bits = config.bits)
/// sliced to `width` and dequantized. The caller's H, no dampening. Fails on
/// mismatched sizes or a width outside 1..bits.
llvm::Expected<double> outputError(llvm::ArrayRef<float> weight, int64_t rows,
                                   int64_t cols, llvm::ArrayRef<double> hessian,
                                   const QuantizedWeight &quantized,
                                   const QuantConfig &config, unsigned width,
                                   unsigned numThreads = 0);

/// sum_r lambda_r outputError(..., r), the objective matryoshkaQuantize
/// minimises, evaluated from scratch: matryoshkaQuantize's objective[0] is
/// computed the same way, its later entries agree with it to rounding.
llvm::Expected<double>
matryoshkaObjective(llvm::ArrayRef<float> weight, int64_t rows, int64_t cols,
                    llvm::ArrayRef<double> hessian,
                    const QuantizedWeight &quantized, const QuantConfig &config,
                    llvm::ArrayRef<unsigned> widths,
                    llvm::ArrayRef<double> lambdas, unsigned numThreads = 0);

//===----------------------------------------------------------------------===//
// Clipping search for RTN
//===----------------------------------------------------------------------===//

/// The error measure of the clipping search, per row and group, e = w - What
/// over the group's columns G.
enum class ClipMeasure : uint8_t {
  /// sum_{j in G} H_jj e_j^2: cheap, ignores correlations.
  Diagonal,
  /// e^T H[G, G] e: the exact output error of the group alone (cross-group
  /// terms ignored); |G|^2 work per candidate, costly per channel.
  GroupBlock,
};

/// Options of clipQuantize.
struct ClipOptions {
  /// Range factors m (<= 1) tried besides 1.
  RangeSearch rangeSearch = {20, 0.5, 1.0};
  /// The error measure that picks the factor.
  ClipMeasure measure = ClipMeasure::Diagonal;
  /// Worker threads; 0 uses every hardware thread.
  unsigned numThreads = 0;
};

/// RTN whose every group keeps, among the range factors of
/// `options.rangeSearch` (m = 1 is RTN), the parameters with the smallest
/// `options.measure`. Fails on mismatched sizes, non-finite or asymmetric H,
/// and range factors outside (0, 1].
llvm::Expected<QuantizedWeight> clipQuantize(llvm::ArrayRef<float> weight,
                                             int64_t rows, int64_t cols,
                                             llvm::ArrayRef<double> hessian,
                                             const QuantConfig &config,
                                             const ClipOptions &options);

} // namespace quant
} // namespace qopt

#endif // QOPT_QUANT_GPTQ_H
