//===- Clip.cpp - RTN with an H-weighted clipping search --------*- C++ -*-===//
//
// clipQuantize: for every row and group, QuantMath's min-max parameters of
// m * x for each range factor m of the search (m = 1 is RTN), scored by the
// H-weighted error of the group's round-to-nearest codes, e = x - What:
//   Diagonal:   sum_j H_jj e_j^2
//   GroupBlock: e^T H[G, G] e
// and the parameters with the smallest score kept (the first on ties, so
// RTN unless a factor is strictly better).
//
//===----------------------------------------------------------------------===//

#include "QuantCommon.h"

#include <algorithm>
#include <limits>

using namespace qopt;
using namespace qopt::quant;
using namespace qopt::quant::detail;

namespace rt = ::qopt::runtime;

llvm::Expected<QuantizedWeight>
quant::clipQuantize(llvm::ArrayRef<float> weight, int64_t rows, int64_t cols,
                    llvm::ArrayRef<double> hessian, const QuantConfig &config,
                    const ClipOptions &options) {
  if (llvm::Error err = checkWeight(weight, rows, cols))
    return std::move(err);
  if (llvm::Error err = checkConfig(config))
    return std::move(err);
  if (llvm::Error err =
          checkRangeSearch(options.rangeSearch, 1.0, "the clipping search's"))
    return std::move(err);
  if (llvm::Error err = checkHessian(hessian, cols))
    return std::move(err);

  const int64_t groupSize = groupSizeOf(config, cols);
  QuantizedWeight out = makeQuantized(rows, cols, groupSize);
  const int64_t groups = out.groupsPerRow;
  const llvm::SmallVector<double> factors = rangeFactors(options.rangeSearch);
  const bool block = options.measure == ClipMeasure::GroupBlock;

  int64_t tiles = (rows + kRowTile - 1) / kRowTile;
  parallelFor(resolveThreads(options.numThreads), tiles, [&](int64_t tile) {
    const int64_t r0 = tile * kRowTile;
    const int64_t t = std::min(kRowTile, rows - r0);
    std::vector<float> scratch(groupSize);
    std::vector<double> error(groupSize);
    std::vector<uint8_t> codes(groupSize);
    for (int64_t row = r0; row < r0 + t; ++row) {
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t c0 = g * groupSize;
        const int64_t n = std::min(groupSize, cols - c0);
        const float *x = weight.data() + row * cols + c0;
        double bestScore = std::numeric_limits<double>::infinity();
        for (double factor : factors) {
          rt::GroupParams p = rangeParams(x, n, factor, config, scratch.data());
          for (int64_t c = 0; c < n; ++c) {
            codes[c] = static_cast<uint8_t>(
                rt::quantizeValue(x[c], p.scale, p.zero, config.bits));
            error[c] = x[c] - rt::dequantizeValue(codes[c], p.scale, p.zero);
          }
          double score = 0.0;
          for (int64_t a = 0; a < n; ++a) {
            const double *h = hessian.data() + (c0 + a) * cols + c0;
            if (!block) {
              score += h[a] * error[a] * error[a];
              continue;
            }
            double dot = 0.0;
            for (int64_t b = 0; b < n; ++b)
              dot += h[b] * error[b];
            score += error[a] * dot;
          }
          if (score < bestScore) {
            bestScore = score;
            out.scales[row * groups + g] = p.scale;
            out.zeros[row * groups + g] = p.zero;
            std::copy(codes.begin(), codes.begin() + n,
                      out.codes.begin() + row * cols + c0);
          }
        }
      }
    }
  });
  return out;
}
