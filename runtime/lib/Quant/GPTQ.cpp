//===- GPTQ.cpp - Round-to-nearest and GPTQ ---------------------*- C++ -*-===//
//
// rtnQuantize (QuantMath's min-max formulas, as qopt-quantize-weights) and
// gptqQuantize: runGPTQPass with QuantMath's round-to-nearest as the column
// quantizer, so that with H = I (no error feedback) GPTQ is RTN exactly.
//
//===----------------------------------------------------------------------===//

#include "GPTQPass.h"

#include <algorithm>

using namespace qopt;
using namespace qopt::quant;
using namespace qopt::quant::detail;

namespace rt = ::qopt::runtime;

llvm::Expected<QuantizedWeight> quant::rtnQuantize(llvm::ArrayRef<float> weight,
                                                   int64_t rows, int64_t cols,
                                                   const QuantConfig &config) {
  if (llvm::Error err = checkWeight(weight, rows, cols))
    return std::move(err);
  if (llvm::Error err = checkConfig(config))
    return std::move(err);
  int64_t groupSize = groupSizeOf(config, cols);
  QuantizedWeight out = makeQuantized(rows, cols, groupSize);
  std::vector<float> scratch(groupSize);
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t g = 0; g < out.groupsPerRow; ++g) {
      int64_t c0 = g * groupSize;
      int64_t n = std::min(groupSize, cols - c0);
      const float *x = weight.data() + row * cols + c0;
      rt::GroupParams p = rangeParams(x, n, 1.0, config, scratch.data());
      out.scales[row * out.groupsPerRow + g] = p.scale;
      out.zeros[row * out.groupsPerRow + g] = p.zero;
      for (int64_t c = 0; c < n; ++c)
        out.codes[row * cols + c0 + c] = static_cast<uint8_t>(
            rt::quantizeValue(x[c], p.scale, p.zero, config.bits));
    }
  }
  return out;
}

namespace {
/// GPTQ's column quantizer: one state, QuantMath's min-max parameters from
/// the current values and round-to-nearest codes.
class NearestQuantizer {
public:
  explicit NearestQuantizer(const QuantConfig &config) : config(config) {}

  unsigned numStates() const { return 1; }

  rt::GroupParams groupParams(const double *values, const double *,
                              int64_t count,
                              std::vector<float> &scratch) const {
    scratch.resize(count);
    for (int64_t c = 0; c < count; ++c)
      scratch[c] = static_cast<float>(values[c]);
    rt::GroupParams p = rt::computeGroupParams(scratch.data(), count, 1,
                                               config.bits, config.scheme);
    p.scale = roundScale(p.scale, config.scaleType);
    return p;
  }

  uint8_t quantize(const double *targets, rt::GroupParams params,
                   double *effective) const {
    uint32_t q = rt::quantizeValue(static_cast<float>(targets[0]), params.scale,
                                   params.zero, config.bits);
    effective[0] = rt::dequantizeValue(q, params.scale, params.zero);
    return static_cast<uint8_t>(q);
  }

private:
  const QuantConfig &config;
};
} // namespace

/// Checks what both gptqQuantize overloads need before any work.
static llvm::Error checkInputs(llvm::ArrayRef<float> weight, int64_t rows,
                               int64_t cols, const QuantConfig &config,
                               const GPTQOptions &options) {
  if (llvm::Error err = checkWeight(weight, rows, cols))
    return err;
  if (llvm::Error err = checkConfig(config))
    return err;
  return checkPassOptions(options);
}

/// GPTQ on checked inputs.
static QuantizedWeight runGPTQ(llvm::ArrayRef<float> weight, int64_t rows,
                               int64_t cols, const HessianFactor &factor,
                               const QuantConfig &config,
                               const GPTQOptions &options) {
  int64_t groupSize = groupSizeOf(config, cols);
  QuantizedWeight out = makeQuantized(rows, cols, groupSize);
  runGPTQPass(weight, rows, cols, factor, groupSize, options.blockSize,
              resolveThreads(options.numThreads), NearestQuantizer(config),
              out);
  return out;
}

llvm::Expected<QuantizedWeight>
quant::gptqQuantize(llvm::ArrayRef<float> weight, int64_t rows, int64_t cols,
                    const HessianFactor &factor, const QuantConfig &config,
                    const GPTQOptions &options) {
  if (llvm::Error err = checkInputs(weight, rows, cols, config, options))
    return std::move(err);
  if (llvm::Error err = checkFactor(factor, cols, options))
    return std::move(err);
  return runGPTQ(weight, rows, cols, factor, config, options);
}

llvm::Expected<QuantizedWeight>
quant::gptqQuantize(llvm::ArrayRef<float> weight, int64_t rows, int64_t cols,
                    llvm::ArrayRef<double> hessian, const QuantConfig &config,
                    const GPTQOptions &options) {
  if (llvm::Error err = checkInputs(weight, rows, cols, config, options))
    return std::move(err);
  llvm::Expected<HessianFactor> factor =
      HessianFactor::compute(hessian, cols, options);
  if (!factor)
    return factor.takeError();
  return runGPTQ(weight, rows, cols, *factor, config, options);
}
