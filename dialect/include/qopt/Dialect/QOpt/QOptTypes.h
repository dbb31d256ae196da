//===- QOptTypes.h - qopt types ---------------------------------*- C++ -*-===//
//
// !qopt.qtensor and helpers shared by the verifiers and the passes.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_QOPTTYPES_H
#define QOPT_DIALECT_QOPT_QOPTTYPES_H

#include "mlir/IR/BuiltinTypes.h"
#include "qopt/Dialect/QOpt/QOptDialect.h"

#define GET_TYPEDEF_CLASSES
#include "qopt/Dialect/QOpt/QOptOpsTypes.h.inc"

#endif // QOPT_DIALECT_QOPT_QOPTTYPES_H
