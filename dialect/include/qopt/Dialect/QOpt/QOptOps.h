//===- QOptOps.h - qopt operations ------------------------------*- C++ -*-===//
//
// The umbrella header of the qopt dialect: dialect, enums, types and ops.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_QOPTOPS_H
#define QOPT_DIALECT_QOPT_QOPTOPS_H

#include "qopt/Dialect/QOpt/QOptDialect.h"
#include "qopt/Dialect/QOpt/QOptTypes.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "qopt/Dialect/QOpt/QOptOps.h.inc"

namespace mlir {
namespace qopt {
/// True if `codes` holds the codes of `type` in its storage form
/// (QTensorType::getStorageType: dense rows packed at `bits` per code, or
/// the nested layout's bit planes) rather than one code per element. 8-bit
/// dense codes are one per element either way and report false.
bool isPackedCodes(QTensorType type, ShapedType codes);

/// The types of the parts a value of `type` is made of after
/// `qopt-lower-quantized-types`: codes in their storage form, scales, and
/// zero points for `asym`.
SmallVector<Type> getQTensorPartTypes(QTensorType type);
} // namespace qopt
} // namespace mlir

#endif // QOPT_DIALECT_QOPT_QOPTOPS_H
