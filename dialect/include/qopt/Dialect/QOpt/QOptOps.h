//===- QOptOps.h - qopt operations ------------------------------*- C++ -*-===//
//
// The umbrella header of the qopt dialect: dialect, enums, types and ops.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_QOPTOPS_H
#define QOPT_DIALECT_QOPT_QOPTOPS_H

#include "qopt/Dialect/QOpt/QOptDialect.h"
#include "qopt/Dialect/QOpt/QOptTypes.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "qopt/Dialect/QOpt/QOptOps.h.inc"

namespace mlir {
namespace qopt {
/// True if `codes` is the packed form of the codes of `type`: dense layout,
/// 1, 2 or 4 bits, i8 bytes, each row of the last dimension packed as
/// `dim * bits / 8` bytes (element i at bits [i*c, (i+1)*c) of the row's
/// little-endian bit stream, as the runtime's qopt_pack_dense writes it).
bool isPackedCodes(QTensorType type, ShapedType codes);
} // namespace qopt
} // namespace mlir

#endif // QOPT_DIALECT_QOPT_QOPTOPS_H
