//===- QOptDialect.cpp - qopt dialect registration --------------*- C++ -*-===//
//
// Registers the qopt types and operations.
//
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::qopt;

#include "qopt/Dialect/QOpt/QOptEnums.cpp.inc"

#include "qopt/Dialect/QOpt/QOptOpsDialect.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "qopt/Dialect/QOpt/QOptOpsTypes.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "qopt/Dialect/QOpt/QOptAttrs.cpp.inc"

void QOptDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "qopt/Dialect/QOpt/QOptAttrs.cpp.inc"
      >();
  addTypes<
#define GET_TYPEDEF_LIST
#include "qopt/Dialect/QOpt/QOptOpsTypes.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "qopt/Dialect/QOpt/QOptOps.cpp.inc"
      >();
}
