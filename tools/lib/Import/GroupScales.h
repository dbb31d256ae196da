//===- GroupScales.h - Storage of imported group scales ---------*- C++ -*-===//
//
// How the importer stores a block-quantized matrix's group scales and zero
// points: f32, or f16 (the file's own f16 block scales, or K-quant scales
// rounded under --kquant-scales f16 when they fit).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_LIB_IMPORT_GROUPSCALES_H
#define QOPT_TOOLS_LIB_IMPORT_GROUPSCALES_H

#include "mlir/IR/AsmState.h"

namespace mlir::qopt {

/// True if rounding to f16 moves every scale by at most 2^-11 of itself
/// (0, exact, or in f16's normal range) and every zero point (in code
/// units) is within f16's range.
bool groupValuesFitHalf(ArrayRef<float> scales, ArrayRef<float> zeros);

/// A blob of `values`, as f16 when `half`, else as f32.
AsmResourceBlob groupValuesBlob(ArrayRef<float> values, bool half);

} // namespace mlir::qopt

#endif // QOPT_TOOLS_LIB_IMPORT_GROUPSCALES_H
