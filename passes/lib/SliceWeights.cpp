//===- SliceWeights.cpp - Serve quantized weights at fewer bits -*- C++ -*-===//
//
// qopt-slice-weights: puts a qopt.slice (the Matryoshka slice to `bits`)
// between each selected op and its quantized weight: before the
// qopt.dequantize that feeds a qopt.linear (or a float embedding table), or
// directly on a quantized qopt.embedding table. The slice of a nested
// weight still reads its parent's bit planes; a dense one is repacked by
// the folders or the lowering.
//
//===----------------------------------------------------------------------===//

#include "WeightRoles.h"

#include "qopt/Runtime/QuantMath.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "qopt-slice-weights"

namespace mlir::qopt {
#define GEN_PASS_DEF_SLICEWEIGHTSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {
struct SliceWeightsPass
    : public mlir::qopt::impl::SliceWeightsPassBase<SliceWeightsPass> {
  using Base::Base;

  void runOnOperation() override;
};
} // namespace

/// The slice of `q` to `bits`, built at `b`'s insertion point.
static Value buildSlice(OpBuilder &b, Location loc, Value q, unsigned bits) {
  return SliceOp::create(b, loc, q, b.getI32IntegerAttr(bits)).getResult();
}

void SliceWeightsPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (!::qopt::runtime::isValidBits(bits)) {
    module.emitError() << "qopt-slice-weights: bits must be in 1..8, got "
                       << static_cast<unsigned>(bits);
    return signalPassFailure();
  }
  RoleSelection roles;
  std::string error;
  if (!parseRoleSelection(layers, roles, error)) {
    module.emitError() << "qopt-slice-weights: " << error;
    return signalPassFailure();
  }

  SmallVector<OpOperand *> uses = roles.selectedWeights(module);

  for (OpOperand *use : uses) {
    Operation *user = use->getOwner();
    Value weight = use->get();
    // A quantized table read directly by the embedding.
    if (auto qtype = dyn_cast<QTensorType>(weight.getType())) {
      if (qtype.getBits() <= bits) {
        LLVM_DEBUG(llvm::dbgs()
                   << DEBUG_TYPE ": " << user->getLoc() << ": already at "
                   << qtype.getBits() << " bits\n");
        continue;
      }
      OpBuilder b(user);
      use->set(buildSlice(b, user->getLoc(), weight, bits));
      continue;
    }
    auto dequantize = weight.getDefiningOp<DequantizeOp>();
    if (!dequantize) {
      LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": " << user->getLoc()
                              << ": weight is not quantized\n");
      continue;
    }
    QTensorType type = dequantize.getInput().getType();
    if (type.getBits() <= bits) {
      LLVM_DEBUG(llvm::dbgs()
                 << DEBUG_TYPE ": " << user->getLoc() << ": already at "
                 << type.getBits() << " bits\n");
      continue;
    }
    OpBuilder b(user);
    if (dequantize->hasOneUse()) {
      b.setInsertionPoint(dequantize);
      dequantize.getInputMutable().assign(
          buildSlice(b, dequantize.getLoc(), dequantize.getInput(), bits));
      continue;
    }
    // Other users keep the full width: a slice and dequantize of its own.
    Value sliced =
        buildSlice(b, dequantize.getLoc(), dequantize.getInput(), bits);
    use->set(DequantizeOp::create(b, dequantize.getLoc(), dequantize.getType(),
                                  sliced)
                 .getResult());
  }
}
