//===- Patterns.h - qopt-lower-quantized-types patterns ---------*- C++ -*-===//
//
// Private header of the 1:N decomposition of !qopt.qtensor values into their
// parts, split by op family: QuantOps.cpp (pack, accessors, slice, quantize,
// dequantize) and ComputeOps.cpp (qmatmul, linear, embedding, attention to
// kernel ops).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LOWERING_QUANTIZEDTYPES_PATTERNS_H
#define QOPT_LOWERING_QUANTIZEDTYPES_PATTERNS_H

#include "../Common/TensorUtils.h"
#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::qopt {

/// The run-time width slots of a module: one per distinct unsliced nested
/// weight that a kernel reads. The runtime fills the width table in this
/// order (module attribute `qopt.width_table`).
struct WidthSlots {
  llvm::StringMap<int64_t> index;
  SmallVector<Attribute> entries;
  int64_t anonymous = 0;

  /// The slot of the nested qtensor `value` (before conversion), read by
  /// `user`, created on first use. Its entry records the name of the codes
  /// resource, the parent width, and `qopt.layer` / `qopt.role` of `user`.
  int64_t slotFor(Value value, Operation *user);
};

/// A `qopt.served_width` of `value`'s slot if `type` is an unsliced nested
/// qtensor (its width is a run-time parameter), else null.
Value servedWidthFor(OpBuilder &b, Location loc, WidthSlots *slots, Value value,
                     QTensorType type, Operation *user);

void populateQuantOpLoweringPatterns(const TypeConverter &converter,
                                     RewritePatternSet &patterns,
                                     WidthSlots *slots);
void populateComputeOpLoweringPatterns(const TypeConverter &converter,
                                       RewritePatternSet &patterns,
                                       WidthSlots *slots);

} // namespace mlir::qopt

#endif // QOPT_LOWERING_QUANTIZEDTYPES_PATTERNS_H
