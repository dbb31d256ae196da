//===- QuantOptions.h - Options of calibrate and quantize -------*- C++ -*-===//
//
// The quantization method options `qopt-run calibrate --sequential` and
// `qopt-run quantize` share, spelled as qopt-quantize-weights' options, and
// their translation to that pass's option string.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_QOPT_RUN_QUANTOPTIONS_H
#define QOPT_TOOLS_QOPT_RUN_QUANTOPTIONS_H

#include "qopt/Quant/Methods.h"
#include "qopt/Transforms/Passes.h"

#include "llvm/Support/Error.h"

#include <string>

namespace qopt::run {

/// The qopt-quantize-weights options the command line asks for (without
/// calibration and layout).
mlir::qopt::QuantizeWeightsPassOptions quantizePassOptions();

/// The method options of the command line, checked, for sequential
/// calibration (which quantizes with qopt::quant directly).
llvm::Expected<::qopt::quant::MethodOptions> methodOptions();

/// The --layers roles.
const std::string &quantizedRoles();

} // namespace qopt::run

#endif // QOPT_TOOLS_QOPT_RUN_QUANTOPTIONS_H
