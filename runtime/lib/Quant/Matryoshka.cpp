//===- Matryoshka.cpp - Matryoshka-aware GPTQ -------------------*- C++ -*-===//
//
// matryoshkaQuantize: one parent code per weight for several served widths.
//
// SliceCoder finds the parent code q minimising
//   sum_i lambda_i (t_i - What_i(q))^2,  What_i(q) = a (S(q, r_i) - z),
// exactly, for per-width targets t_i. Each term is a non-increasing function
// of q below its target's position p_i = t_i / a + z and non-decreasing
// above it (S is monotone and rounds to the nearest level), so the minimiser
// lies in [min p_i, max p_i] (searched with one code of margin each side).
// There the coarse slices are piecewise constant, changing at the odd
// multiples of 2^(c-r-1); on each piece only the parent term (or nothing)
// still varies, so the codes next to its position are the only candidates.
//
// The GPTQ pass uses it as runGPTQPass's quantizer; the coordinate-descent
// sweeps then minimise the objective with the caller's H, one code at a time.
//
//===----------------------------------------------------------------------===//

#include "GPTQPass.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace qopt;
using namespace qopt::quant;
using namespace qopt::quant::detail;

namespace rt = ::qopt::runtime;

namespace {

//===----------------------------------------------------------------------===//
// SliceCoder
//===----------------------------------------------------------------------===//

/// The exact multi-width code choice.
class SliceCoder {
public:
  /// Keeps the widths whose lambda is positive.
  SliceCoder(unsigned bits, llvm::ArrayRef<unsigned> allWidths,
             llvm::ArrayRef<double> allLambdas)
      : bits(bits), maxCode(rt::maxCode(bits)) {
    for (size_t i = 0; i < allWidths.size(); ++i) {
      if (allLambdas[i] == 0.0)
        continue;
      if (allWidths[i] == bits)
        parentIndex = static_cast<int>(widths.size());
      else
        halves.push_back(1u << (bits - allWidths[i] - 1));
      widths.push_back(allWidths[i]);
      lambdas.push_back(allLambdas[i]);
      lambdaSum += allLambdas[i];
    }
  }

  size_t size() const { return widths.size(); }
  llvm::ArrayRef<unsigned> servedWidths() const { return widths; }
  llvm::ArrayRef<double> servedLambdas() const { return lambdas; }
  double lambda(size_t i) const { return lambdas[i]; }
  double totalLambda() const { return lambdaSum; }

  /// What_i(q).
  double value(uint32_t q, size_t i, rt::GroupParams p) const {
    return slicedValue(q, bits, widths[i], p.scale, p.zero);
  }

  /// A code minimising sum_i lambda_i (targets[i] - What_i(q))^2; writes
  /// What_i of that code to values[i] and returns its cost in `cost`. Of
  /// codes with equal slices (all of equal cost when the parent width is
  /// not served) it takes one next to the parent's position, else to the
  /// lambda-weighted mean position; other ties keep the smaller code.
  uint32_t best(const double *targets, rt::GroupParams p, double *values,
                double &cost) const {
    double lowest = std::numeric_limits<double>::infinity();
    double highest = -lowest, weighted = 0.0, parent = 0.0;
    for (size_t i = 0; i < widths.size(); ++i) {
      double position = targets[i] / p.scale + p.zero;
      lowest = std::min(lowest, position);
      highest = std::max(highest, position);
      weighted += lambdas[i] * position;
      if (static_cast<int>(i) == parentIndex)
        parent = position;
    }
    double center = parentIndex >= 0 ? parent : weighted / lambdaSum;
    int64_t lo = 0, hi = maxCode;
    if (std::isfinite(lowest) && std::isfinite(highest)) {
      lo = clampCode(std::floor(lowest) - 1.0);
      hi = clampCode(std::ceil(highest) + 1.0);
    }
    if (!std::isfinite(center))
      center = p.zero;

    uint32_t bestCode = static_cast<uint32_t>(lo);
    cost = std::numeric_limits<double>::infinity();
    auto consider = [&](int64_t q) {
      double c = 0.0;
      for (size_t i = 0; i < widths.size(); ++i) {
        double d = targets[i] - value(static_cast<uint32_t>(q), i, p);
        c += lambdas[i] * d * d;
      }
      if (c < cost || (c == cost && q < bestCode)) {
        cost = c;
        bestCode = static_cast<uint32_t>(q);
      }
    };
    double nearest = std::floor(center);
    for (int64_t s = lo; s <= hi;) {
      int64_t e = hi;
      for (uint32_t h : halves) {
        // The next change of this slice: the smallest odd multiple of h
        // above s.
        int64_t m = s / h + 1;
        if (m % 2 == 0)
          ++m;
        e = std::min<int64_t>(e, m * h - 1);
      }
      int64_t a = static_cast<int64_t>(
          std::min(std::max(nearest, double(s)), double(e)));
      consider(a);
      if (a + 1 <= e)
        consider(a + 1);
      s = e + 1;
    }
    for (size_t i = 0; i < widths.size(); ++i)
      values[i] = value(bestCode, i, p);
    return bestCode;
  }

private:
  int64_t clampCode(double x) const {
    if (!(x > 0.0))
      return 0;
    if (x > maxCode)
      return maxCode;
    return static_cast<int64_t>(x);
  }

  unsigned bits;
  uint32_t maxCode;
  llvm::SmallVector<unsigned, 8> widths;
  llvm::SmallVector<double, 8> lambdas;
  llvm::SmallVector<uint32_t, 8> halves;
  double lambdaSum = 0.0;
  int parentIndex = -1;
};

//===----------------------------------------------------------------------===//
// GPTQ pass
//===----------------------------------------------------------------------===//

/// runGPTQPass's quantizer for the Matryoshka objective.
class MatryoshkaQuantizer {
public:
  MatryoshkaQuantizer(const SliceCoder &coder, const QuantConfig &config,
                      const MatryoshkaOptions &options)
      : coder(coder), config(config),
        perWidth(options.feedback == ErrorFeedback::PerWidth),
        factors(rangeFactors(options.rangeSearch)) {}

  unsigned numStates() const {
    return perWidth ? static_cast<unsigned>(coder.size()) : 1u;
  }

  /// The range of the lambda-weighted mean of the states, scaled by the
  /// factor whose parameters give the smallest sum over the group's columns
  /// of lossWeight * sum_i lambda_i (t_i - What_i)^2 (the objective's GPTQ
  /// loss, feedback within the group ignored).
  rt::GroupParams groupParams(const double *values, const double *lossWeights,
                              int64_t count,
                              std::vector<float> &scratch) const {
    unsigned states = numStates();
    scratch.resize(2 * count);
    float *base = scratch.data();
    for (int64_t c = 0; c < count; ++c) {
      double v = 0.0;
      if (states == 1) {
        v = values[c];
      } else {
        for (unsigned s = 0; s < states; ++s)
          v += coder.lambda(s) * values[s * count + c];
        v /= coder.totalLambda();
      }
      base[c] = static_cast<float>(v);
    }
    rt::GroupParams bestParams =
        rangeParams(base, count, factors[0], config, base + count);
    if (factors.size() == 1)
      return bestParams;
    double bestCost = std::numeric_limits<double>::infinity();
    llvm::SmallVector<double, 8> targets(coder.size()), sliced(coder.size());
    for (double factor : factors) {
      rt::GroupParams p =
          rangeParams(base, count, factor, config, base + count);
      double total = 0.0;
      // Stops as soon as this candidate cannot be the best.
      for (int64_t c = 0; c < count && total < bestCost; ++c) {
        for (size_t i = 0; i < coder.size(); ++i)
          targets[i] = values[(states == 1 ? 0 : i) * count + c];
        double cost;
        coder.best(targets.data(), p, sliced.data(), cost);
        total += lossWeights[c] * cost;
      }
      if (total < bestCost) {
        bestCost = total;
        bestParams = p;
      }
    }
    return bestParams;
  }

  uint8_t quantize(const double *stateValues, rt::GroupParams params,
                   double *effective) const {
    llvm::SmallVector<double, 8> targets(coder.size()), sliced(coder.size());
    for (size_t i = 0; i < coder.size(); ++i)
      targets[i] = stateValues[perWidth ? i : 0];
    double cost;
    uint32_t q = coder.best(targets.data(), params, sliced.data(), cost);
    if (perWidth) {
      for (size_t i = 0; i < coder.size(); ++i)
        effective[i] = sliced[i];
    } else {
      double mean = 0.0;
      for (size_t i = 0; i < coder.size(); ++i)
        mean += coder.lambda(i) * sliced[i];
      effective[0] = mean / coder.totalLambda();
    }
    return static_cast<uint8_t>(q);
  }

private:
  const SliceCoder &coder;
  const QuantConfig &config;
  bool perWidth;
  llvm::SmallVector<double> factors;
};

} // namespace

//===----------------------------------------------------------------------===//
// Coordinate descent
//===----------------------------------------------------------------------===//

/// Columns per lazy update of the coordinate-descent sweeps.
static constexpr int64_t kSweepBlock = 64;

/// Runs `sweeps` coordinate-descent sweeps on the objective of `coder` with
/// the caller's `hessian`, in place on `q`; returns the objective before the
/// first sweep and after each.
///
/// Per row and width the sweeps keep E = W - What and R = E H. Changing the
/// code of column c by Delta (in What) changes that width's objective by
/// Delta^2 H_cc - 2 Delta R_c, so the exact minimiser over the parent codes
/// with the other codes fixed is SliceCoder::best at the targets
/// What_i + R_ic / H_cc; a code is replaced when that strictly lowers the
/// objective. As in GPTQ's lazy batches, R is brought up to date by one GEMM
/// per block of kSweepBlock columns (R -= Delta H[block, :]), the changes
/// earlier in the same block being added column by column. After a sweep a
/// row's objective is sum_i lambda_i <E_i, R_i>; a row that did not improve
/// is restored to its best codes and leaves the loop, so the sequence never
/// increases. objective[0] is evaluated from scratch, the later entries from
/// the updated R (equal to a fresh evaluation up to rounding).
static std::vector<double>
coordinateDescent(llvm::ArrayRef<float> weight, int64_t rows, int64_t cols,
                  llvm::ArrayRef<double> hessian, unsigned bits,
                  int64_t groupSize, const SliceCoder &coder, unsigned sweeps,
                  unsigned numThreads, QuantizedWeight &q) {
  using RowMajor =
      Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Strided = Eigen::Map<RowMajor, 0, Eigen::OuterStride<>>;
  llvm::ArrayRef<unsigned> widths = coder.servedWidths();
  llvm::ArrayRef<double> lambdas = coder.servedLambdas();
  const size_t numWidths = coder.size();
  const int64_t groups = q.groupsPerRow;
  Eigen::Map<const RowMajor> hMap(hessian.data(), cols, cols);
  // history[s * rows + row]: the row's best objective after s sweeps.
  std::vector<double> history((sweeps + 1) * rows);
  int64_t tiles = (rows + kRowTile - 1) / kRowTile;
  parallelFor(numThreads, tiles, [&](int64_t tile) {
    const int64_t r0 = tile * kRowTile;
    const int64_t t = std::min(kRowTile, rows - r0);
    std::vector<std::vector<double>> residual, product;
    std::vector<double> rowError(t), best(t);
    evaluateRows(weight, cols, hessian, q, groupSize, bits, widths, lambdas, r0,
                 t, residual, product, best.data());
    for (int64_t r = 0; r < t; ++r)
      history[r0 + r] = best[r];
    std::vector<uint8_t> bestCodes(q.codes.begin() + r0 * cols,
                                   q.codes.begin() + (r0 + t) * cols);
    std::vector<uint8_t> active(t, 1);
    // delta[(i * t + r) * kSweepBlock + k]: change of What_i at column
    // b0 + k of row r in the current block.
    std::vector<double> delta(numWidths * t * kSweepBlock);
    llvm::SmallVector<double, 8> current(numWidths), targets(numWidths),
        sliced(numWidths), residualProduct(numWidths);
    unsigned sweep = 1;
    for (; sweep <= sweeps; ++sweep) {
      for (int64_t b0 = 0; b0 < cols; b0 += kSweepBlock) {
        const int64_t b1 = std::min(b0 + kSweepBlock, cols);
        std::fill(delta.begin(), delta.end(), 0.0);
        bool blockChanged = false;
        for (int64_t r = 0; r < t; ++r) {
          if (!active[r])
            continue;
          const int64_t row = r0 + r;
          int64_t firstChange = b1;
          for (int64_t c = b0; c < b1; ++c) {
            const double hcc = hessian[c * cols + c];
            if (!(hcc > 0.0))
              continue;
            const int64_t g = row * groups + c / groupSize;
            rt::GroupParams p{q.scales[g], q.zeros[g]};
            uint8_t &code = q.codes[row * cols + c];
            const double *hRow = hessian.data() + c * cols;
            for (size_t i = 0; i < numWidths; ++i) {
              double rc = product[i][r * cols + c];
              const double *d = delta.data() + (i * t + r) * kSweepBlock - b0;
              for (int64_t k = firstChange; k < c; ++k)
                rc -= d[k] * hRow[k];
              residualProduct[i] = rc;
              current[i] = coder.value(code, i, p);
              targets[i] = current[i] + rc / hcc;
            }
            double cost;
            uint32_t next = coder.best(targets.data(), p, sliced.data(), cost);
            if (next == code)
              continue;
            double change = 0.0;
            for (size_t i = 0; i < numWidths; ++i) {
              double d = sliced[i] - current[i];
              change +=
                  lambdas[i] * (d * d * hcc - 2.0 * d * residualProduct[i]);
            }
            if (!(change < 0.0))
              continue;
            code = static_cast<uint8_t>(next);
            for (size_t i = 0; i < numWidths; ++i) {
              delta[(i * t + r) * kSweepBlock + (c - b0)] =
                  sliced[i] - current[i];
              residual[i][r * cols + c] = weight[row * cols + c] - sliced[i];
            }
            firstChange = std::min(firstChange, c);
            blockChanged = true;
          }
        }
        if (!blockChanged)
          continue;
        for (size_t i = 0; i < numWidths; ++i) {
          Eigen::Map<RowMajor> rMap(product[i].data(), t, cols);
          Strided d(delta.data() + i * t * kSweepBlock, t, b1 - b0,
                    Eigen::OuterStride<>(kSweepBlock));
          rMap.noalias() -= d * hMap.middleRows(b0, b1 - b0);
        }
      }
      rowErrors(residual, product, lambdas, t, cols, rowError.data());
      bool anyActive = false;
      for (int64_t r = 0; r < t; ++r) {
        uint8_t *codes = q.codes.data() + (r0 + r) * cols;
        uint8_t *kept = bestCodes.data() + r * cols;
        if (active[r] && rowError[r] < best[r]) {
          best[r] = rowError[r];
          std::copy(codes, codes + cols, kept);
          anyActive = true;
        } else if (active[r]) {
          std::copy(kept, kept + cols, codes);
          active[r] = 0;
        }
        history[sweep * rows + r0 + r] = best[r];
      }
      if (!anyActive)
        break;
    }
    for (unsigned later = sweep + 1; later <= sweeps; ++later)
      for (int64_t r = 0; r < t; ++r)
        history[later * rows + r0 + r] = best[r];
  });
  std::vector<double> objective(sweeps + 1, 0.0);
  for (unsigned s = 0; s <= sweeps; ++s)
    for (int64_t row = 0; row < rows; ++row)
      objective[s] += history[s * rows + row];
  return objective;
}

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

std::vector<double> quant::balancedLambdas(llvm::ArrayRef<unsigned> widths,
                                           unsigned bits) {
  std::vector<double> lambdas;
  for (unsigned r : widths)
    lambdas.push_back(
        std::ldexp(1.0, 2 * (static_cast<int>(r) - static_cast<int>(bits))));
  return lambdas;
}

std::vector<double> quant::servingLambdas(llvm::ArrayRef<unsigned> widths,
                                          unsigned bits) {
  std::vector<double> lambdas;
  for (unsigned r : widths)
    lambdas.push_back(
        std::ldexp(1.0, static_cast<int>(r) - static_cast<int>(bits)));
  return lambdas;
}

/// Checks what both matryoshkaQuantize overloads need before any work.
static llvm::Error checkInputs(llvm::ArrayRef<float> weight, int64_t rows,
                               int64_t cols, const QuantConfig &config,
                               const GPTQOptions &gptqOptions,
                               const MatryoshkaOptions &options) {
  if (llvm::Error err = checkWeight(weight, rows, cols))
    return err;
  if (llvm::Error err = checkConfig(config))
    return err;
  if (llvm::Error err = checkPassOptions(gptqOptions))
    return err;
  if (llvm::Error err =
          checkWidths(options.widths, options.lambdas, config.bits))
    return err;
  return checkRangeSearch(options.rangeSearch,
                          std::numeric_limits<double>::infinity(),
                          "the scale search's");
}

/// matryoshkaQuantize on checked inputs.
static MatryoshkaResult
runMatryoshka(llvm::ArrayRef<float> weight, int64_t rows, int64_t cols,
              llvm::ArrayRef<double> hessian, const HessianFactor &factor,
              const QuantConfig &config, const GPTQOptions &gptqOptions,
              const MatryoshkaOptions &options) {
  unsigned threads = resolveThreads(gptqOptions.numThreads);
  int64_t groupSize = groupSizeOf(config, cols);
  SliceCoder coder(config.bits, options.widths, options.lambdas);
  MatryoshkaResult result;
  result.weight = makeQuantized(rows, cols, groupSize);
  runGPTQPass(weight, rows, cols, factor, groupSize, gptqOptions.blockSize,
              threads, MatryoshkaQuantizer(coder, config, options),
              result.weight);
  result.objective =
      coordinateDescent(weight, rows, cols, hessian, config.bits, groupSize,
                        coder, options.sweeps, threads, result.weight);
  return result;
}

llvm::Expected<MatryoshkaResult> quant::matryoshkaQuantize(
    llvm::ArrayRef<float> weight, int64_t rows, int64_t cols,
    llvm::ArrayRef<double> hessian, const HessianFactor &factor,
    const QuantConfig &config, const GPTQOptions &gptqOptions,
    const MatryoshkaOptions &options) {
  if (llvm::Error err =
          checkInputs(weight, rows, cols, config, gptqOptions, options))
    return std::move(err);
  if (llvm::Error err = checkHessian(hessian, cols))
    return std::move(err);
  if (llvm::Error err = checkFactor(factor, cols, gptqOptions))
    return std::move(err);
  return runMatryoshka(weight, rows, cols, hessian, factor, config, gptqOptions,
                       options);
}

llvm::Expected<MatryoshkaResult> quant::matryoshkaQuantize(
    llvm::ArrayRef<float> weight, int64_t rows, int64_t cols,
    llvm::ArrayRef<double> hessian, const QuantConfig &config,
    const GPTQOptions &gptqOptions, const MatryoshkaOptions &options) {
  if (llvm::Error err =
          checkInputs(weight, rows, cols, config, gptqOptions, options))
    return std::move(err);
  llvm::Expected<HessianFactor> factor =
      HessianFactor::compute(hessian, cols, gptqOptions);
  if (!factor)
    return factor.takeError();
  return runMatryoshka(weight, rows, cols, hessian, *factor, config,
                       gptqOptions, options);
}
