//===- OutputError.cpp - tr((W - What) H (W - What)^T) ----------*- C++ -*-===//
//
// outputError and matryoshkaObjective: checked entry points of
// detail::totalError, the evaluation the Matryoshka sweeps report.
//
//===----------------------------------------------------------------------===//

#include "QuantCommon.h"

using namespace qopt;
using namespace qopt::quant;
using namespace qopt::quant::detail;

llvm::Expected<double> quant::matryoshkaObjective(
    llvm::ArrayRef<float> weight, int64_t rows, int64_t cols,
    llvm::ArrayRef<double> hessian, const QuantizedWeight &quantized,
    const QuantConfig &config, llvm::ArrayRef<unsigned> widths,
    llvm::ArrayRef<double> lambdas, unsigned numThreads) {
  if (llvm::Error err = checkWeight(weight, rows, cols))
    return std::move(err);
  if (llvm::Error err = checkConfig(config))
    return std::move(err);
  if (llvm::Error err = checkWidths(widths, lambdas, config.bits))
    return std::move(err);
  if (llvm::Error err = checkHessian(hessian, cols))
    return std::move(err);
  if (llvm::Error err = checkQuantized(quantized, rows, cols, config))
    return std::move(err);
  return totalError(weight, rows, cols, hessian, quantized,
                    groupSizeOf(config, cols), config.bits, widths, lambdas,
                    resolveThreads(numThreads));
}

llvm::Expected<double> quant::outputError(llvm::ArrayRef<float> weight,
                                          int64_t rows, int64_t cols,
                                          llvm::ArrayRef<double> hessian,
                                          const QuantizedWeight &quantized,
                                          const QuantConfig &config,
                                          unsigned width, unsigned numThreads) {
  const double one = 1.0;
  return matryoshkaObjective(weight, rows, cols, hessian, quantized, config,
                             width, one, numThreads);
}
