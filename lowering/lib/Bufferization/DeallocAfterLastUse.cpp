//===- DeallocAfterLastUse.cpp - Early frees --------------------*- C++ -*-===//
//
// The qopt-dealloc-after-last-use pass. Ownership-based buffer deallocation
// (upstream) decides *whether* a buffer is freed and inserts the frees at the
// end of the block that owns the buffer. In a model function that block is
// the whole forward pass, so every activation of every layer would stay
// alive until the return, and memory would grow with depth. This pass moves
// each unconditional `memref.dealloc` up to just after the last operation of
// its block that uses the buffer or any view of it (aliases from upstream's
// BufferViewFlowAnalysis; uses nested in loops count as uses by the loop).
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Patterns.h"

#include "mlir/Dialect/Bufferization/Transforms/BufferViewFlowAnalysis.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_DEALLOCAFTERLASTUSEPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {
struct DeallocAfterLastUsePass
    : public qopt::impl::DeallocAfterLastUsePassBase<DeallocAfterLastUsePass> {
  using Base::Base;

  void runOnOperation() override {
    Operation *root = getOperation();
    BufferViewFlowAnalysis aliases(root);
    SmallVector<memref::DeallocOp> deallocs;
    root->walk([&](memref::DeallocOp op) { deallocs.push_back(op); });
    for (memref::DeallocOp dealloc : deallocs) {
      Block *block = dealloc->getBlock();
      Operation *last = nullptr;
      bool escapes = false;
      for (Value alias : aliases.resolve(dealloc.getMemref())) {
        // A view defined outside this block is not ours to reason about.
        if (alias.getParentBlock() != block &&
            !block->getParent()->isAncestor(alias.getParentRegion()))
          escapes = true;
        for (Operation *user : alias.getUsers()) {
          if (user == dealloc)
            continue;
          Operation *ancestor = block->findAncestorOpInBlock(*user);
          if (!ancestor) {
            escapes = true;
            continue;
          }
          if (!last || last->isBeforeInBlock(ancestor))
            last = ancestor;
        }
      }
      if (escapes || !last || !last->isBeforeInBlock(dealloc))
        continue;
      // Not past the definition: the buffer must exist where it is freed.
      if (Operation *def = dealloc.getMemref().getDefiningOp())
        if (def->getBlock() == block && last->isBeforeInBlock(def))
          continue;
      dealloc->moveAfter(last);
    }
  }
};
} // namespace
