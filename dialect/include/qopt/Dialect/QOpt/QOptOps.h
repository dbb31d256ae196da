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

#endif // QOPT_DIALECT_QOPT_QOPTOPS_H
