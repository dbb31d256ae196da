//===- QuantCommon.h - Shared helpers of qopt_gptq --------------*- C++ -*-===//
//
// Private to runtime/lib/Quant: argument validation with clear messages,
// group geometry, the range-factor parameters of a group, scale rounding to
// the stored type, the parallel loop over row tiles, and the evaluation of
// tr((W - What) H (W - What)^T) per row that both the public objective and
// the Matryoshka sweeps use (so their sums agree bit for bit).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_QUANT_QUANTCOMMON_H
#define QOPT_LIB_QUANT_QUANTCOMMON_H

#include "qopt/Quant/GPTQ.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <string>
#include <vector>

namespace qopt {
namespace quant {
namespace detail {

/// Rows per tile of the row-parallel loops. Fixed, so that results do not
/// depend on the number of threads.
inline constexpr int64_t kRowTile = 64;

/// An llvm::Error of category invalid_argument with `message`.
llvm::Error invalidArgument(const llvm::Twine &message);

/// `value` printed with %g, for error messages.
std::string formatDouble(double value);

/// Checks rows, cols > 0 and weight.size() == rows * cols, all finite.
llvm::Error checkWeight(llvm::ArrayRef<float> weight, int64_t rows,
                        int64_t cols);
/// Checks bits in 1..8, Symmetric only with bits >= 2, groupSize >= 0.
llvm::Error checkConfig(const QuantConfig &config);
/// Checks hessian.size() == cols * cols, finite entries, symmetry to a
/// relative 1e-9 and a non-negative diagonal.
llvm::Error checkHessian(llvm::ArrayRef<double> hessian, int64_t cols);
/// Checks the sizes of `quantized` against rows, cols and config, and its
/// codes against the code width.
llvm::Error checkQuantized(const QuantizedWeight &quantized, int64_t rows,
                           int64_t cols, const QuantConfig &config);
/// Checks a range search: no points, or 0 < minFactor <= maxFactor, finite,
/// and maxFactor <= `upperBound`.
llvm::Error checkRangeSearch(const RangeSearch &search, double upperBound,
                             llvm::StringRef what);

/// Checks that `factor` was prepared for `cols` columns with the dampening
/// and act-order of `options`.
llvm::Error checkFactor(const HessianFactor &factor, int64_t cols,
                        const GPTQOptions &options);
/// Checks the options GPTQ's pass reads: a positive block size.
llvm::Error checkPassOptions(const GPTQOptions &options);
/// Checks served widths and their lambdas: as many lambdas as widths, at
/// least one width, each in 1..bits and distinct, lambdas finite and >= 0
/// with a positive sum.
llvm::Error checkWidths(llvm::ArrayRef<unsigned> widths,
                        llvm::ArrayRef<double> lambdas, unsigned bits);

/// The group size along the columns: config.groupSize, or cols per channel.
int64_t groupSizeOf(const QuantConfig &config, int64_t cols);
/// Groups per row.
inline int64_t groupsPerRow(int64_t groupSize, int64_t cols) {
  return (cols + groupSize - 1) / groupSize;
}

/// A QuantizedWeight of the right sizes, filled later.
QuantizedWeight makeQuantized(int64_t rows, int64_t cols, int64_t groupSize);

/// `scale` rounded to `type` (the value the codes are computed with).
float roundScale(float scale, ScaleType type);

/// The range factors of `search`: 1 first, then its points.
llvm::SmallVector<double> rangeFactors(const RangeSearch &search);

/// QuantMath's min-max parameters of factor * x[0..n), the scale rounded to
/// config.scaleType. `scratch` holds at least n floats.
runtime::GroupParams rangeParams(const float *x, int64_t n, double factor,
                                 const QuantConfig &config, float *scratch);

/// The number of worker threads for a request (0: all hardware threads).
unsigned resolveThreads(unsigned requested);

/// Runs body(task) for every task in [0, numTasks) on up to `numThreads`
/// threads (the caller's included); tasks are handed out in order.
void parallelFor(unsigned numThreads, int64_t numTasks,
                 llvm::function_ref<void(int64_t)> body);

/// The dequantized value of parent code q (c = config.bits) served at
/// `width`, with the parent's scale and zero.
inline double slicedValue(uint32_t q, unsigned bits, unsigned width,
                          float scale, float zero) {
  return runtime::dequantizeValue(runtime::sliceValue(q, bits, width), scale,
                                  zero);
}

/// Output error of rows [row0, row0 + count) of `quantized` (groups of
/// `groupSize` columns, codes of `bits` bits) at each width:
/// fills residual[i] (count x cols, row-major) with E_i = W - What_i and
/// product[i] with E_i H, and rowError[r] with
/// sum_i lambdas[i] * <E_i row r, (E_i H) row r>.
void evaluateRows(llvm::ArrayRef<float> weight, int64_t cols,
                  llvm::ArrayRef<double> hessian,
                  const QuantizedWeight &quantized, int64_t groupSize,
                  unsigned bits, llvm::ArrayRef<unsigned> widths,
                  llvm::ArrayRef<double> lambdas, int64_t row0, int64_t count,
                  std::vector<std::vector<double>> &residual,
                  std::vector<std::vector<double>> &product, double *rowError);

/// sum_i lambdas[i] tr((W - What_i) H (W - What_i)^T) over all rows, by
/// evaluateRows on tiles of kRowTile rows, then summed in row order.
double totalError(llvm::ArrayRef<float> weight, int64_t rows, int64_t cols,
                  llvm::ArrayRef<double> hessian,
                  const QuantizedWeight &quantized, int64_t groupSize,
                  unsigned bits, llvm::ArrayRef<unsigned> widths,
                  llvm::ArrayRef<double> lambdas, unsigned numThreads);

/// E H for the count x cols residual E (row-major), into `product`.
void multiplyHessian(const std::vector<double> &residual,
                     llvm::ArrayRef<double> hessian, int64_t count,
                     int64_t cols, std::vector<double> &product);

/// sum_i lambdas[i] <residual[i] row r, product[i] row r> for each row r.
void rowErrors(const std::vector<std::vector<double>> &residual,
               const std::vector<std::vector<double>> &product,
               llvm::ArrayRef<double> lambdas, int64_t count, int64_t cols,
               double *rowError);

} // namespace detail
} // namespace quant
} // namespace qopt

#endif // QOPT_LIB_QUANT_QUANTCOMMON_H
