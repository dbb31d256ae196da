//===- Calibrator.h - Calibration from the compiled model -------*- C++ -*-===//
//
// `qopt-run calibrate`: instruments a model with qopt-instrument-calibration,
// compiles it with the runtime observer bound to `qopt_observe`, runs the
// calibration sequences and writes H = X^T X of every linear input to a
// .calib file (qopt/Quant/Calibration.h). In sequential mode, decoder block
// i is calibrated on the model whose blocks 0..i-1 are already quantized
// (GPTQ's sequential order): after each block's H is recorded, its weights
// are quantized with the requested method and the compiled code reads them
// from then on (ModelRunner::replaceWeight), without recompiling.
// docs/calibration.md.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_CALIBRATOR_H
#define QOPT_TOOLS_CALIBRATOR_H

#include "qopt/Quant/Methods.h"
#include "qopt/Tools/ModelRunner.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir {
namespace qopt {

/// One observation site of an instrumented module (qopt.observe_sites).
struct ObserveSite {
  int64_t site = 0;
  /// Decoder layer, or -1 for the classifier.
  int64_t layer = -1;
  /// The roles of the linears reading the observed input, sorted.
  std::vector<std::string> roles;
  /// Input features.
  int64_t cols = 0;
};

/// The sites of an instrumented module, validated (numbered 0..n-1 in
/// order, positive widths).
llvm::Expected<std::vector<ObserveSite>> readObserveSites(ModuleOp module);

struct CalibrateOptions {
  CompileOptions compile;
  /// Sequential mode: quantize each block with `method` once its H is
  /// recorded.
  bool sequential = false;
  ::qopt::quant::MethodOptions method;
  /// The roles sequential mode quantizes (qopt-quantize-weights' `layers`
  /// spelling; the classifier's H is recorded on the quantized blocks but
  /// the classifier is quantized only if listed).
  std::string roles = "q,k,v,o,gate,up,down";
  /// Recorded in the file.
  std::string source;
  std::string text;
  /// Draw a progress bar on stderr.
  bool progress = true;
};

/// Calibrates `module` (instrumented and lowered in place) on `sequences`
/// (token ids, each already starting with BOS and at most the model's
/// context long) and writes the calibration file `outPath`.
llvm::Error calibrateModel(ModuleOp module,
                           llvm::ArrayRef<std::vector<int32_t>> sequences,
                           const CalibrateOptions &options,
                           llvm::StringRef outPath);

} // namespace qopt
} // namespace mlir

#endif // QOPT_TOOLS_CALIBRATOR_H
