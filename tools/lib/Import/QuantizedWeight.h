//===- QuantizedWeight.h - Block-quantized checkpoint matrices -*- C++ -*-===//
//
// How the importer turns one block-quantized GGUF matrix (Q8_0, Q4_0, the
// K-quants) into the parts of a `qopt.pack`: packed codes, scales (f32,
// f16, or two-level records) and zero points, each a resource blob the
// module owns, and their `!qopt.qtensor` type.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_LIB_IMPORT_QUANTIZEDWEIGHT_H
#define QOPT_TOOLS_LIB_IMPORT_QUANTIZEDWEIGHT_H

#include "qopt/Dialect/QOpt/QOptTypes.h"
#include "qopt/Tools/ModelImporter.h"

#include "mlir/IR/BuiltinAttributes.h"

namespace mlir::qopt {

/// The parts of a block-quantized matrix: codes, scales, zero points (for
/// formats with them) and their qtensor type.
struct QuantizedWeight {
  DenseResourceElementsAttr codes, scales, zeros;
  QTensorType type;
};

/// Imports block-quantized tensor `t` (named `name`) of `ckpt`, keeping a
/// K-quant's scales as `kquantScales` says, and releases the file's pages
/// of it (the module holds its own copy).
llvm::Expected<QuantizedWeight>
importQuantizedWeight(MLIRContext &ctx, const ::qopt::model::Checkpoint &ckpt,
                      StringRef name, const ::qopt::model::TensorRef &t,
                      KQuantScales kquantScales);

} // namespace mlir::qopt

#endif // QOPT_TOOLS_LIB_IMPORT_QUANTIZEDWEIGHT_H
