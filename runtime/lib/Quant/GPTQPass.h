//===- GPTQPass.h - GPTQ's column loop --------------------------*- C++ -*-===//
//
// Private to runtime/lib/Quant. runGPTQPass is GPTQ's sequential pass over
// the columns in processing order, with lazy block updates, for any
// quantizer of one column element: gptqQuantize plugs in QuantMath's
// round-to-nearest, matryoshkaQuantize its multi-width code choice with one
// or several running weights ("states") per row.
//
// Rows are independent given U, so the pass runs over tiles of kRowTile rows
// in parallel, each tile through all the columns: per block [i1, i2) every
// column j is quantized, its error e = (w_j - effective) / U_jj is fed to the
// block's remaining columns at once (w_k -= e U_jk) and to the columns after
// the block by one GEMM at the block's end (W[:, i2:] -= E U[i1:i2, i2:]).
//
// A group's parameters are computed when the first of its columns is about
// to be quantized, from the current values of all its columns: within the
// block these are up to date, after it the pending block update is added
// for the group's columns only. So the result does not depend on the block
// size, and groups may straddle blocks or, with act-order, be reached in any
// order.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_QUANT_GPTQPASS_H
#define QOPT_LIB_QUANT_GPTQPASS_H

#include "QuantCommon.h"

#include <Eigen/Core>

#include <algorithm>
#include <vector>

namespace qopt {
namespace quant {
namespace detail {

/// Fills the codes, scales and zeros of `out` (sized by makeQuantized) by
/// GPTQ's pass over `weight` with `factor`. `Quantizer` provides
///   unsigned numStates() const;
///   runtime::GroupParams groupParams(const double *values,
///       const double *lossWeights, int64_t count,
///       std::vector<float> &scratch) const;
///     the parameters of one group of one row, from the current values of
///     its `count` columns (values[s * count + k] for state s) and the GPTQ
///     loss weights 1 / U_pp^2 of those columns;
///   uint8_t quantize(const double *targets, runtime::GroupParams params,
///       double *effective) const;
///     the code of one element whose states hold targets[s]; writes to
///     effective[s] the value state s is compensated towards.
template <typename Quantizer>
void runGPTQPass(llvm::ArrayRef<float> weight, int64_t rows, int64_t cols,
                 const HessianFactor &factor, int64_t groupSize,
                 int64_t blockSize, unsigned numThreads,
                 const Quantizer &quantizer, QuantizedWeight &out) {
  using RowMajor =
      Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Strided = Eigen::Map<RowMajor, 0, Eigen::OuterStride<>>;
  const int64_t k = cols;
  blockSize = std::min(blockSize, k);
  llvm::ArrayRef<int64_t> order = factor.order();
  llvm::ArrayRef<uint8_t> dead = factor.isDead();
  const double *u = factor.upper().data();
  const int64_t groups = out.groupsPerRow;
  const unsigned numStates = quantizer.numStates();

  // Processing position of every column, the group first reached at each
  // position (-1: none) and the loss weight of every position.
  std::vector<int64_t> position(k);
  for (int64_t j = 0; j < k; ++j)
    position[order[j]] = j;
  std::vector<int64_t> firstPosition(groups, k);
  for (int64_t j = 0; j < k; ++j) {
    int64_t g = order[j] / groupSize;
    firstPosition[g] = std::min(firstPosition[g], j);
  }
  std::vector<int64_t> groupStartingAt(k, -1);
  for (int64_t g = 0; g < groups; ++g)
    groupStartingAt[firstPosition[g]] = g;
  std::vector<double> lossWeight(k);
  for (int64_t j = 0; j < k; ++j)
    lossWeight[j] = 1.0 / (u[j * k + j] * u[j * k + j]);

  Eigen::Map<const RowMajor> uMap(u, k, k);
  int64_t tiles = (rows + kRowTile - 1) / kRowTile;
  parallelFor(numThreads, tiles, [&](int64_t tile) {
    const int64_t r0 = tile * kRowTile;
    const int64_t t = std::min(kRowTile, rows - r0);
    // state[(s * t + r) * k + j]: state s of row r at position j.
    std::vector<double> state(numStates * t * k);
    std::vector<double> error(numStates * t * blockSize);
    std::vector<double> values(numStates * groupSize), weights(groupSize);
    std::vector<double> targets(numStates), effective(numStates);
    std::vector<float> scratch;
    for (int64_t r = 0; r < t; ++r) {
      const float *src = weight.data() + (r0 + r) * k;
      for (int64_t j = 0; j < k; ++j) {
        double v = dead[order[j]] ? 0.0 : static_cast<double>(src[order[j]]);
        for (unsigned s = 0; s < numStates; ++s)
          state[(s * t + r) * k + j] = v;
      }
    }
    auto stateRow = [&](unsigned s, int64_t r) {
      return state.data() + (s * t + r) * k;
    };
    auto errorRow = [&](unsigned s, int64_t r) {
      return error.data() + (s * t + r) * blockSize;
    };

    for (int64_t i1 = 0; i1 < k; i1 += blockSize) {
      const int64_t i2 = std::min(i1 + blockSize, k);
      for (int64_t j = i1; j < i2; ++j) {
        if (int64_t g = groupStartingAt[j]; g >= 0) {
          const int64_t c0 = g * groupSize;
          const int64_t n = std::min(groupSize, k - c0);
          for (int64_t c = 0; c < n; ++c)
            weights[c] = lossWeight[position[c0 + c]];
          for (int64_t r = 0; r < t; ++r) {
            for (unsigned s = 0; s < numStates; ++s) {
              const double *w = stateRow(s, r);
              const double *e = errorRow(s, r);
              for (int64_t c = 0; c < n; ++c) {
                int64_t p = position[c0 + c];
                double v = w[p];
                if (p >= i2)
                  for (int64_t i = i1; i < j; ++i)
                    v -= e[i - i1] * u[i * k + p];
                values[s * n + c] = v;
              }
            }
            runtime::GroupParams params = quantizer.groupParams(
                values.data(), weights.data(), n, scratch);
            out.scales[(r0 + r) * groups + g] = params.scale;
            out.zeros[(r0 + r) * groups + g] = params.zero;
          }
        }

        const int64_t c = order[j];
        const int64_t g = c / groupSize;
        const double d = u[j * k + j];
        const double *uj = u + j * k;
        for (int64_t r = 0; r < t; ++r) {
          const int64_t row = r0 + r;
          runtime::GroupParams params{out.scales[row * groups + g],
                                      out.zeros[row * groups + g]};
          for (unsigned s = 0; s < numStates; ++s)
            targets[s] = stateRow(s, r)[j];
          out.codes[row * k + c] =
              quantizer.quantize(targets.data(), params, effective.data());
          for (unsigned s = 0; s < numStates; ++s) {
            double e = (targets[s] - effective[s]) / d;
            errorRow(s, r)[j - i1] = e;
            double *w = stateRow(s, r);
            for (int64_t q = j + 1; q < i2; ++q)
              w[q] -= e * uj[q];
          }
        }
      }
      if (i2 == k)
        break;
      for (unsigned s = 0; s < numStates; ++s) {
        Strided w(stateRow(s, 0), t, k, Eigen::OuterStride<>(k));
        Strided e(errorRow(s, 0), t, i2 - i1, Eigen::OuterStride<>(blockSize));
        w.rightCols(k - i2).noalias() -=
            e * uMap.block(i1, i2, i2 - i1, k - i2);
      }
    }
  });
}

} // namespace detail
} // namespace quant
} // namespace qopt

#endif // QOPT_LIB_QUANT_GPTQPASS_H
