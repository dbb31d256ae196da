//===- HessianSource.h - H of the weights' inputs from a file ---*- C++ -*-===//
//
// Private to qopt-quantize-weights: the calibration file's H of each
// weight's input, read one entry at a time, with its GPTQ factor.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_PASSES_LIB_HESSIANSOURCE_H
#define QOPT_PASSES_LIB_HESSIANSOURCE_H

#include "qopt/Quant/Calibration.h"
#include "qopt/Quant/Methods.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <optional>
#include <vector>

namespace mlir::qopt {

/// The H of the weights' inputs, read from a calibration file one entry at
/// a time (weights are visited layer by layer, and the weights reading one
/// input, q/k/v or gate/up, follow each other), with its GPTQ factor.
class HessianSource {
public:
  /// Opens `path` and checks it against the module's qopt.model.
  LogicalResult open(StringRef path, ModuleOp module,
                     const ::qopt::quant::MethodOptions &method);

  /// The H of the input of `user` (a qopt.linear tagged with qopt.role), or
  /// an empty ArrayRef if the file has none. `factor` is set when the
  /// method needs one. Emits an error on `user` and fails on a corrupt entry
  /// or a width mismatch.
  LogicalResult lookup(Operation *user, int64_t cols, ArrayRef<double> &h,
                       const ::qopt::quant::HessianFactor *&factor);

private:
  std::optional<::qopt::quant::CalibrationFile> file;
  const ::qopt::quant::MethodOptions *method = nullptr;
  int64_t cachedIndex = -1;
  std::vector<double> cached;
  std::optional<::qopt::quant::HessianFactor> cachedFactor;
};

} // namespace mlir::qopt

#endif // QOPT_PASSES_LIB_HESSIANSOURCE_H
