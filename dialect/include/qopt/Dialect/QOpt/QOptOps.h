//===- QOptOps.h - qopt operations ------------------------------*- C++ -*-===//
//
// The umbrella header of the qopt dialect: dialect, enums, types and ops.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_QOPTOPS_H
#define QOPT_DIALECT_QOPT_QOPTOPS_H

#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "qopt/Dialect/QOpt/QOptDialect.h"
#include "qopt/Dialect/QOpt/QOptTypes.h"

namespace mlir {
namespace qopt {
/// The largest static dimension of a shaped operand or result of a qopt op
/// (exclusive), and the most elements its static dimensions may hold.
constexpr int64_t kMaxDimension = int64_t(1) << 31;
constexpr int64_t kMaxShapeElements = int64_t(1) << 48;

/// Fails, naming the operand or result, if a shaped operand or result of
/// `op` has a static dimension of kMaxDimension or more or more than
/// kMaxShapeElements elements.
LogicalResult verifyBoundedShapes(Operation *op);

/// The op trait of every qopt op that checks verifyBoundedShapes.
template <typename ConcreteType>
class BoundedShapes : public OpTrait::TraitBase<ConcreteType, BoundedShapes> {
public:
  static LogicalResult verifyTrait(Operation *op) {
    return verifyBoundedShapes(op);
  }
};
} // namespace qopt
} // namespace mlir

#define GET_OP_CLASSES
#include "qopt/Dialect/QOpt/QOptOps.h.inc"

namespace mlir {
namespace qopt {
/// The largest qopt.dequantize, in elements, that canonicalization folds
/// into an f32/f16/bf16 constant (dequantize(pack(constants))). Larger
/// quantized tensors stay quantized: expanding a weight to floats would undo
/// the quantization (4x to 32x the bytes) and hide it from
/// qopt-fuse-dequant-matmul. Documented in the op description and
/// docs/dialect.md.
constexpr int64_t kMaxFoldedDequantizeElements = 256;

/// The values `qopt.dequantize` gives for `pack` (of static shape) when its
/// codes, scales and zero points are constants (dense elements or
/// `dense_resource` blobs, in either form `qopt.pack` accepts), as f32 after
/// rounding to the expressed type; fails on anything else (non-constant
/// operands, elided blobs, codes out of range). No size limit: this is for
/// passes that re-quantize a weight explicitly, not for folding.
FailureOr<SmallVector<float>> evaluateConstantPack(PackOp pack);

/// True if `codes` holds the codes of `type` in its storage form
/// (QTensorType::getStorageType: dense rows packed at `bits` per code, or
/// the nested layout's bit planes) rather than one code per element. 8-bit
/// dense codes are one per element either way and report false.
bool isPackedCodes(QTensorType type, ShapedType codes);

/// The types of the parts a value of `type` is made of after
/// `qopt-lower-quantized-types`: codes in their storage form, scales, and
/// zero points for `asym`.
SmallVector<Type> getQTensorPartTypes(QTensorType type);

/// Verifies that `type` is a quantized matrix read one row at a time: rank
/// 2, a static shape, grouped along its second dimension (`axis = 1` for
/// `group = G` and `per_channel`, or `per_tensor`) and an f32, f16 or bf16
/// expressed type. `what` names the operand in diagnostics ("weight",
/// "quantized embedding table"). Shared by qopt.qmatmul and qopt.embedding.
LogicalResult verifyRowGroupedMatrix(Operation *op, QTensorType type,
                                     StringRef what);
/// Verifies the KV cache operands of qopt.attention and
/// qopt.kernel_attention: both of one type, `[layers, seq, kv_dim]` with
/// static `layers` and `kv_dim` (`seq` may be dynamic, but not a static 0),
/// and one element type (the ODS constraint admits f32, f16 and bf16).
LogicalResult verifyKVCaches(Operation *op, MemRefType keyCache,
                             MemRefType valueCache);

} // namespace qopt
} // namespace mlir

#endif // QOPT_DIALECT_QOPT_QOPTOPS_H
