//===- QuantCommon.cpp - Shared helpers of qopt_gptq ------------*- C++ -*-===//
//
// Validation, group geometry, range parameters, scale rounding, the row-tile
// thread loop and the per-row output-error evaluation (Eigen GEMM).
//
//===----------------------------------------------------------------------===//

#include "QuantCommon.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/Support/ThreadPool.h"
#include "llvm/Support/Threading.h"

#include <Eigen/Core>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <system_error>

using namespace qopt;
using namespace qopt::quant;
using namespace qopt::quant::detail;

namespace rt = ::qopt::runtime;

using RowMajor =
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

llvm::Error detail::invalidArgument(const llvm::Twine &message) {
  return llvm::createStringError(
      std::make_error_code(std::errc::invalid_argument), message);
}

std::string detail::formatDouble(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}

//===----------------------------------------------------------------------===//
// Validation
//===----------------------------------------------------------------------===//

llvm::Error detail::checkWeight(llvm::ArrayRef<float> weight, int64_t rows,
                                int64_t cols) {
  if (rows <= 0 || cols <= 0)
    return invalidArgument("the weight must have positive rows and cols, got " +
                           llvm::Twine(rows) + " x " + llvm::Twine(cols));
  if (static_cast<uint64_t>(weight.size()) !=
      static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols))
    return invalidArgument("the weight has " + llvm::Twine(weight.size()) +
                           " elements, expected rows * cols = " +
                           llvm::Twine(rows) + " * " + llvm::Twine(cols));
  for (size_t i = 0, e = weight.size(); i < e; ++i)
    if (!std::isfinite(weight[i]))
      return invalidArgument("weight element " + llvm::Twine(i) +
                             " is not finite");
  return llvm::Error::success();
}

llvm::Error detail::checkConfig(const QuantConfig &config) {
  if (!rt::isValidBits(config.bits))
    return invalidArgument("bits must be in 1..8, got " +
                           llvm::Twine(config.bits));
  if (config.scheme == rt::Scheme::Symmetric && config.bits < 2)
    return invalidArgument("the symmetric scheme needs at least 2 bits, got " +
                           llvm::Twine(config.bits));
  if (config.groupSize < 0)
    return invalidArgument(
        "the group size must be positive, or 0 for per channel, got " +
        llvm::Twine(config.groupSize));
  return llvm::Error::success();
}

llvm::Error detail::checkHessian(llvm::ArrayRef<double> hessian, int64_t cols) {
  if (static_cast<uint64_t>(hessian.size()) !=
      static_cast<uint64_t>(cols) * static_cast<uint64_t>(cols))
    return invalidArgument("the Hessian has " + llvm::Twine(hessian.size()) +
                           " elements, expected cols * cols = " +
                           llvm::Twine(cols) + " * " + llvm::Twine(cols));
  double maxDiag = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    double d = hessian[j * cols + j];
    if (!std::isfinite(d))
      return invalidArgument("the Hessian entry (" + llvm::Twine(j) + ", " +
                             llvm::Twine(j) + ") is not finite");
    if (d < 0.0)
      return invalidArgument("the Hessian diagonal entry (" + llvm::Twine(j) +
                             ", " + llvm::Twine(j) + ") = " + formatDouble(d) +
                             " is negative");
    maxDiag = std::max(maxDiag, d);
  }
  // Pairs (i, j) and (j, i) by tiles, so that both reads stay in cache.
  constexpr int64_t tile = 64;
  for (int64_t i0 = 0; i0 < cols; i0 += tile) {
    for (int64_t j0 = 0; j0 <= i0; j0 += tile) {
      for (int64_t i = i0; i < std::min(i0 + tile, cols); ++i) {
        for (int64_t j = j0; j < std::min(j0 + tile, i); ++j) {
          double a = hessian[i * cols + j], b = hessian[j * cols + i];
          if (!std::isfinite(a) || !std::isfinite(b))
            return invalidArgument("the Hessian entry (" + llvm::Twine(i) +
                                   ", " + llvm::Twine(j) + ") is not finite");
          if (std::fabs(a - b) >
              1e-9 * (std::fabs(a) + std::fabs(b)) + 1e-12 * maxDiag)
            return invalidArgument("the Hessian is not symmetric: (" +
                                   llvm::Twine(i) + ", " + llvm::Twine(j) +
                                   ") = " + formatDouble(a) + " but (" +
                                   llvm::Twine(j) + ", " + llvm::Twine(i) +
                                   ") = " + formatDouble(b));
        }
      }
    }
  }
  return llvm::Error::success();
}

llvm::Error detail::checkQuantized(const QuantizedWeight &quantized,
                                   int64_t rows, int64_t cols,
                                   const QuantConfig &config) {
  int64_t groups = groupsPerRow(groupSizeOf(config, cols), cols);
  if (quantized.rows != rows || quantized.cols != cols ||
      quantized.groupsPerRow != groups ||
      static_cast<int64_t>(quantized.codes.size()) != rows * cols ||
      static_cast<int64_t>(quantized.scales.size()) != rows * groups ||
      static_cast<int64_t>(quantized.zeros.size()) != rows * groups)
    return invalidArgument("the quantized weight does not match a " +
                           llvm::Twine(rows) + " x " + llvm::Twine(cols) +
                           " weight with " + llvm::Twine(groups) +
                           " groups per row");
  uint32_t maxCode = rt::maxCode(config.bits);
  for (uint8_t q : quantized.codes)
    if (q > maxCode)
      return invalidArgument("code " + llvm::Twine(q) + " does not fit in " +
                             llvm::Twine(config.bits) + " bits");
  return llvm::Error::success();
}

llvm::Error detail::checkRangeSearch(const RangeSearch &search,
                                     double upperBound, llvm::StringRef what) {
  if (search.points == 0)
    return llvm::Error::success();
  if (!(search.minFactor > 0.0) || !(search.minFactor <= search.maxFactor) ||
      !(search.maxFactor <= upperBound) || !std::isfinite(search.maxFactor))
    return invalidArgument(what +
                           " range factors must satisfy 0 < min <= "
                           "max <= " +
                           formatDouble(upperBound) + ", got [" +
                           formatDouble(search.minFactor) + ", " +
                           formatDouble(search.maxFactor) + "]");
  return llvm::Error::success();
}

llvm::Error detail::checkFactor(const HessianFactor &factor, int64_t cols,
                                const GPTQOptions &options) {
  if (factor.cols() != cols)
    return invalidArgument("the Hessian factor has " +
                           llvm::Twine(factor.cols()) + " columns, expected " +
                           llvm::Twine(cols));
  if (factor.percDamp() != options.percDamp ||
      factor.actOrder() != options.actOrder)
    return invalidArgument(
        "the Hessian factor was prepared with other dampening or act-order "
        "options");
  return llvm::Error::success();
}

llvm::Error detail::checkPassOptions(const GPTQOptions &options) {
  if (options.blockSize < 1)
    return invalidArgument("the block size must be positive, got " +
                           llvm::Twine(options.blockSize));
  return llvm::Error::success();
}

llvm::Error detail::checkWidths(llvm::ArrayRef<unsigned> widths,
                                llvm::ArrayRef<double> lambdas, unsigned bits) {
  if (widths.empty())
    return invalidArgument("at least one served width is needed");
  if (widths.size() != lambdas.size())
    return invalidArgument(llvm::Twine(widths.size()) + " widths but " +
                           llvm::Twine(lambdas.size()) + " lambdas");
  double sum = 0.0;
  for (size_t i = 0; i < widths.size(); ++i) {
    if (widths[i] < 1 || widths[i] > bits)
      return invalidArgument("served width " + llvm::Twine(widths[i]) +
                             " is outside 1.." + llvm::Twine(bits) +
                             " (the parent bits)");
    for (size_t j = 0; j < i; ++j)
      if (widths[j] == widths[i])
        return invalidArgument("served width " + llvm::Twine(widths[i]) +
                               " is listed twice");
    if (!(lambdas[i] >= 0.0) || !std::isfinite(lambdas[i]))
      return invalidArgument("the lambda of width " + llvm::Twine(widths[i]) +
                             " must be finite and >= 0, got " +
                             formatDouble(lambdas[i]));
    sum += lambdas[i];
  }
  if (!(sum > 0.0))
    return invalidArgument("the lambdas must not all be zero");
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Groups and parameters
//===----------------------------------------------------------------------===//

int64_t detail::groupSizeOf(const QuantConfig &config, int64_t cols) {
  if (config.groupSize == 0 || config.groupSize >= cols)
    return cols;
  return config.groupSize;
}

QuantizedWeight detail::makeQuantized(int64_t rows, int64_t cols,
                                      int64_t groupSize) {
  QuantizedWeight q;
  q.rows = rows;
  q.cols = cols;
  q.groupsPerRow = groupsPerRow(groupSize, cols);
  q.codes.assign(rows * cols, 0);
  q.scales.assign(rows * q.groupsPerRow, 0.0f);
  q.zeros.assign(rows * q.groupsPerRow, 0.0f);
  return q;
}

float detail::roundScale(float scale, ScaleType type) {
  if (type == ScaleType::F32)
    return scale;
  llvm::APFloat v(scale);
  bool losesInfo;
  v.convert(type == ScaleType::F16 ? llvm::APFloat::IEEEhalf()
                                   : llvm::APFloat::BFloat(),
            llvm::APFloat::rmNearestTiesToEven, &losesInfo);
  v.convert(llvm::APFloat::IEEEsingle(), llvm::APFloat::rmNearestTiesToEven,
            &losesInfo);
  return v.convertToFloat();
}

llvm::SmallVector<double> detail::rangeFactors(const RangeSearch &search) {
  llvm::SmallVector<double> factors = {1.0};
  for (unsigned i = 0; i < search.points; ++i) {
    double t = search.points == 1 ? 0.0 : double(i) / (search.points - 1);
    factors.push_back(search.minFactor +
                      t * (search.maxFactor - search.minFactor));
  }
  return factors;
}

rt::GroupParams detail::rangeParams(const float *x, int64_t n, double factor,
                                    const QuantConfig &config, float *scratch) {
  const float *values = x;
  if (factor != 1.0) {
    float f = static_cast<float>(factor);
    for (int64_t k = 0; k < n; ++k)
      scratch[k] = f * x[k];
    values = scratch;
  }
  rt::GroupParams p =
      rt::computeGroupParams(values, n, 1, config.bits, config.scheme);
  p.scale = roundScale(p.scale, config.scaleType);
  return p;
}

//===----------------------------------------------------------------------===//
// Threads
//===----------------------------------------------------------------------===//

unsigned detail::resolveThreads(unsigned requested) {
  if (requested != 0)
    return requested;
  return std::max(1u, llvm::hardware_concurrency().compute_thread_count());
}

void detail::parallelFor(unsigned numThreads, int64_t numTasks,
                         llvm::function_ref<void(int64_t)> body) {
  int64_t workers = std::min<int64_t>(numThreads, numTasks);
  if (workers <= 1) {
    for (int64_t t = 0; t < numTasks; ++t)
      body(t);
    return;
  }
  std::atomic<int64_t> next(0);
  auto work = [&] {
    for (int64_t t = next++; t < numTasks; t = next++)
      body(t);
  };
  llvm::DefaultThreadPool pool(
      llvm::hardware_concurrency(static_cast<unsigned>(workers - 1)));
  for (int64_t w = 1; w < workers; ++w)
    pool.async(work);
  work();
  pool.wait();
}

//===----------------------------------------------------------------------===//
// Output error
//===----------------------------------------------------------------------===//

void detail::multiplyHessian(const std::vector<double> &residual,
                             llvm::ArrayRef<double> hessian, int64_t count,
                             int64_t cols, std::vector<double> &product) {
  product.resize(count * cols);
  Eigen::Map<const RowMajor> e(residual.data(), count, cols);
  Eigen::Map<const RowMajor> h(hessian.data(), cols, cols);
  Eigen::Map<RowMajor> out(product.data(), count, cols);
  out.noalias() = e * h;
}

void detail::rowErrors(const std::vector<std::vector<double>> &residual,
                       const std::vector<std::vector<double>> &product,
                       llvm::ArrayRef<double> lambdas, int64_t count,
                       int64_t cols, double *rowError) {
  for (int64_t r = 0; r < count; ++r) {
    double total = 0.0;
    for (size_t i = 0; i < lambdas.size(); ++i) {
      const double *e = residual[i].data() + r * cols;
      const double *p = product[i].data() + r * cols;
      double dot = 0.0;
      for (int64_t j = 0; j < cols; ++j)
        dot += e[j] * p[j];
      total += lambdas[i] * dot;
    }
    rowError[r] = total;
  }
}

void detail::evaluateRows(
    llvm::ArrayRef<float> weight, int64_t cols, llvm::ArrayRef<double> hessian,
    const QuantizedWeight &quantized, int64_t groupSize, unsigned bits,
    llvm::ArrayRef<unsigned> widths, llvm::ArrayRef<double> lambdas,
    int64_t row0, int64_t count, std::vector<std::vector<double>> &residual,
    std::vector<std::vector<double>> &product, double *rowError) {
  residual.resize(widths.size());
  product.resize(widths.size());
  for (size_t i = 0; i < widths.size(); ++i) {
    std::vector<double> &e = residual[i];
    e.resize(count * cols);
    for (int64_t r = 0; r < count; ++r) {
      int64_t row = row0 + r;
      for (int64_t c = 0; c < cols; ++c) {
        int64_t g = row * quantized.groupsPerRow + c / groupSize;
        e[r * cols + c] =
            weight[row * cols + c] -
            slicedValue(quantized.codes[row * cols + c], bits, widths[i],
                        quantized.scales[g], quantized.zeros[g]);
      }
    }
    multiplyHessian(e, hessian, count, cols, product[i]);
  }
  rowErrors(residual, product, lambdas, count, cols, rowError);
}

double detail::totalError(llvm::ArrayRef<float> weight, int64_t rows,
                          int64_t cols, llvm::ArrayRef<double> hessian,
                          const QuantizedWeight &quantized, int64_t groupSize,
                          unsigned bits, llvm::ArrayRef<unsigned> widths,
                          llvm::ArrayRef<double> lambdas, unsigned numThreads) {
  std::vector<double> rowError(rows);
  int64_t tiles = (rows + kRowTile - 1) / kRowTile;
  parallelFor(numThreads, tiles, [&](int64_t tile) {
    int64_t r0 = tile * kRowTile;
    std::vector<std::vector<double>> residual, product;
    evaluateRows(weight, cols, hessian, quantized, groupSize, bits, widths,
                 lambdas, r0, std::min(kRowTile, rows - r0), residual, product,
                 rowError.data() + r0);
  });
  double total = 0.0;
  for (double e : rowError)
    total += e;
  return total;
}
