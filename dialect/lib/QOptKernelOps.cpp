//===- QOptKernelOps.cpp - qopt kernel operations ---------------*- C++ -*-===//
//
// Verifiers and memory effects of the kernel-level operations (the
// destination-passing-style ops that qopt-lower-quantized-types produces and
// convert-qopt-kernels-to-loops turns into vector code).
//
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/QOptOps.h"
#include "qopt/Runtime/Hadamard.h"

#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::qopt;

SmallVector<Type> mlir::qopt::getQTensorPartTypes(QTensorType type) {
  SmallVector<Type> parts{type.getStorageType(), type.getScalesType()};
  if (type.isAsymmetric())
    parts.push_back(type.getScalesType());
  return parts;
}

/// Memory effects of a kernel in destination-passing style: its buffer inits
/// are written, every other buffer operand is read. `readWrite` lists
/// operands that are both (the KV caches of attention).
static void kernelEffects(
    Operation *op,
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects,
    ArrayRef<Value> readWrite = {}) {
  auto dps = cast<DestinationStyleOpInterface>(op);
  for (OpOperand &operand : op->getOpOperands()) {
    if (!isa<MemRefType>(operand.get().getType()))
      continue;
    bool both = llvm::is_contained(readWrite, operand.get());
    if (!dps.isDpsInit(&operand) || both)
      effects.emplace_back(MemoryEffects::Read::get(), &operand,
                           SideEffects::DefaultResource::get());
    if (dps.isDpsInit(&operand) || both)
      effects.emplace_back(MemoryEffects::Write::get(), &operand,
                           SideEffects::DefaultResource::get());
  }
}

/// Checks that `parts` are the parts of a value of `described` (a float
/// tensor type: one operand of that shape and element type; a qtensor:
/// getQTensorPartTypes, shapes compared up to dynamic dimensions and
/// tensor/buffer form).
static LogicalResult verifyParts(Operation *op, StringRef what, Type described,
                                 ValueRange parts, Value width) {
  SmallVector<Type> expected;
  if (auto q = dyn_cast<QTensorType>(described)) {
    expected = getQTensorPartTypes(q);
    if (width && (q.getLayout() != Layout::Nested || q.isSliced()))
      return op->emitOpError()
             << "a run-time width needs an unsliced nested " << what;
  } else if (auto t = dyn_cast<RankedTensorType>(described)) {
    expected.push_back(t);
    if (width)
      return op->emitOpError() << "a run-time width needs a quantized " << what;
  } else {
    return op->emitOpError() << what << " type must be a ranked tensor or a "
                             << "!qopt.qtensor type, got " << described;
  }
  if (parts.size() != expected.size())
    return op->emitOpError()
           << "expects " << expected.size() << " " << what << " operands for "
           << described << ", got " << parts.size();
  for (auto [part, type] : llvm::zip(parts, expected)) {
    auto actual = cast<ShapedType>(part.getType());
    auto want = cast<ShapedType>(type);
    if (actual.getElementType() != want.getElementType() ||
        failed(verifyCompatibleShape(actual.getShape(), want.getShape())))
      return op->emitOpError()
             << what << " operand of type " << actual << " does not match "
             << want << " of " << described;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

LogicalResult KernelMatmulOp::verify() {
  if (failed(verifyParts(*this, "weight", getWeightType(), getWeight(),
                         getWidth())))
    return failure();
  auto w = cast<ShapedType>(
      isa<QTensorType>(getWeightType())
          ? cast<QTensorType>(getWeightType()).getExpressedTensorType()
          : getWeightType());
  if (w.getRank() != 2 || !w.hasStaticShape())
    return emitOpError() << "weight must be a static [N, K] matrix";
  auto x = cast<ShapedType>(getInput().getType());
  auto y = cast<ShapedType>(getInit().getType());
  if (x.getRank() != 2 || y.getRank() != 2)
    return emitOpError() << "input and init must be matrices";
  if (failed(verifyCompatibleShape(ArrayRef<int64_t>{x.getDimSize(1)},
                                   ArrayRef<int64_t>{w.getDimSize(1)})) ||
      failed(verifyCompatibleShape(ArrayRef<int64_t>{y.getDimSize(1)},
                                   ArrayRef<int64_t>{w.getDimSize(0)})))
    return emitOpError() << "shapes do not match the weight";
  return success();
}

LogicalResult KernelGatherOp::verify() {
  return verifyParts(*this, "table", getTableType(), getTable(), getWidth());
}

LogicalResult KernelDequantizeOp::verify() {
  if (!isa<QTensorType>(getQtype()))
    return emitOpError() << "qtype must be a !qopt.qtensor type";
  return verifyParts(*this, "quantized", getQtype(), getParts(), getWidth());
}

LogicalResult KernelQuantizeOp::verify() {
  auto q = dyn_cast<QTensorType>(getQtype());
  if (!q)
    return emitOpError() << "qtype must be a !qopt.qtensor type";
  if (q.isTwoLevel())
    return emitOpError() << "cannot quantize to two-level scales";
  SmallVector<Type> parts = getQTensorPartTypes(q);
  size_t given = getParams().size(), inits = getInits().size();
  if (given == 0 ? inits != parts.size()
                 : (given != parts.size() - 1 || inits != 1))
    return emitOpError() << "expects the codes, scales and zero points of " << q
                         << " split between params and inits";
  return success();
}

LogicalResult KernelRepackOp::verify() {
  auto source = dyn_cast<QTensorType>(getSourceType());
  auto result = dyn_cast<QTensorType>(getResultType());
  if (!source || !result)
    return emitOpError() << "source_type and result_type must be "
                            "!qopt.qtensor types";
  if (source.getShape() != result.getShape())
    return emitOpError() << "source and result must have one shape";
  if (source.isTwoLevel() || result.isTwoLevel())
    return emitOpError() << "cannot repack codes with two-level scales";
  if (result.getBits() > source.getBits())
    return emitOpError() << "cannot widen " << source.getBits()
                         << "-bit codes to " << result.getBits();
  if (getWidth() && (source.getLayout() != Layout::Nested || source.isSliced()))
    return emitOpError() << "a run-time width needs an unsliced nested source";
  return success();
}

LogicalResult KernelAttentionOp::verify() {
  if (getNumHeads() <= 0 || getNumKvHeads() <= 0 || getHeadDim() <= 0 ||
      getNumHeads() % getNumKvHeads() != 0)
    return emitOpError() << "head counts must be positive, kv heads dividing "
                            "heads";
  if (std::optional<uint64_t> window = getSlidingWindow();
      window && static_cast<int64_t>(*window) <= 0)
    return emitOpError() << "sliding_window must be positive";
  return verifyKVCaches(*this, cast<MemRefType>(getKeyCache().getType()),
                        cast<MemRefType>(getValueCache().getType()));
}

LogicalResult KernelHadamardOp::verify() {
  auto type = cast<ShapedType>(getInit().getType());
  if (type.getRank() != 2 || !type.getElementType().isF32())
    return emitOpError() << "init must be a rank-2 f32 tensor or buffer";
  int64_t size = getSize(), cols = type.getDimSize(1);
  if (!::qopt::runtime::factorHadamardSize(size))
    return emitOpError() << "qopt cannot construct a Hadamard matrix of order "
                         << size;
  if (ShapedType::isDynamic(cols) || cols % size != 0)
    return emitOpError() << "the row length must be a static multiple of "
                         << size;
  if (!getResult().empty() && getResult()[0].getType() != type)
    return emitOpError() << "the result must have the type of init";
  return success();
}

//===----------------------------------------------------------------------===//
// Memory effects
//===----------------------------------------------------------------------===//

#define QOPT_KERNEL_EFFECTS(OP, ...)                                           \
  void OP::getEffects(                                                         \
      SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>      \
          &effects) {                                                          \
    kernelEffects(*this, effects __VA_ARGS__);                                 \
  }

QOPT_KERNEL_EFFECTS(KernelMatmulOp)
QOPT_KERNEL_EFFECTS(KernelGatherOp)
QOPT_KERNEL_EFFECTS(KernelDequantizeOp)
QOPT_KERNEL_EFFECTS(KernelQuantizeOp)
QOPT_KERNEL_EFFECTS(KernelRepackOp)
QOPT_KERNEL_EFFECTS(KernelAttentionOp, , {getKeyCache(), getValueCache()})
QOPT_KERNEL_EFFECTS(KernelHadamardOp, , {getInit()})
#undef QOPT_KERNEL_EFFECTS
