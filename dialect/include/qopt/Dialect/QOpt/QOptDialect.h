//===- QOptDialect.h - qopt dialect declaration -----------------*- C++ -*-===//
//
// The qopt dialect class and its enums. Include QOptOps.h for everything.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_QOPTDIALECT_H
#define QOPT_DIALECT_QOPT_QOPTDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpImplementation.h"

#include "qopt/Dialect/QOpt/QOptEnums.h.inc"

#include "qopt/Dialect/QOpt/QOptOpsDialect.h.inc"

#define GET_ATTRDEF_CLASSES
#include "qopt/Dialect/QOpt/QOptAttrs.h.inc"

#endif // QOPT_DIALECT_QOPT_QOPTDIALECT_H
