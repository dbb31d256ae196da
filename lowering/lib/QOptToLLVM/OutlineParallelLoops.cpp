//===- OutlineParallelLoops.cpp - A function per parallel loop -*- C++ -*-===//
//
// The qopt-outline-parallel-loops pass: each outermost scf.parallel becomes
// a call of a private function holding the loop. The OpenMP translation to
// LLVM IR outlines every omp.parallel region with LLVM's CodeExtractor,
// which analyses the whole enclosing function each time; with every kernel
// of a model in one forward function that is quadratic (a nested stories260K
// spent 50 s there). One small function per loop keeps it linear.
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Patterns.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_OUTLINEPARALLELLOOPSPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

/// Values `loop` reads from above it: its operands and the values its body
/// captures, in first-use order.
llvm::SetVector<Value> capturedValues(scf::ParallelOp loop) {
  llvm::SetVector<Value> values;
  values.insert(loop->operand_begin(), loop->operand_end());
  getUsedValuesDefinedAbove(loop->getRegions(), values);
  return values;
}

/// A constant is cloned into the outlined function rather than passed: the
/// kernels' vector constants stay visible to folding there.
bool isClonedConstant(Value value) {
  Operation *def = value.getDefiningOp();
  return def && def->getNumOperands() == 0 && def->getNumRegions() == 0 &&
         def->hasTrait<OpTrait::ConstantLike>();
}

/// Moves `loop` into a new private function next to `caller` and replaces
/// it with a call, which it returns.
func::CallOp outline(scf::ParallelOp loop, func::FuncOp caller,
                     SymbolTable &symbols, unsigned index) {
  MLIRContext *context = loop.getContext();
  Location loc = loop.getLoc();
  SmallVector<Value> arguments, constants;
  for (Value value : capturedValues(loop))
    (isClonedConstant(value) ? constants : arguments).push_back(value);

  auto type = FunctionType::get(context, ValueRange(arguments).getTypes(),
                                loop->getResultTypes());
  OpBuilder builder(caller);
  builder.setInsertionPointAfter(caller);
  auto callee = func::FuncOp::create(
      builder, loc, (caller.getSymName() + "_parallel_" + Twine(index)).str(),
      type);
  callee.setPrivate();
  // The kernel's schedule hint, for qopt-parallel-schedule (the OpenMP
  // conversion drops the loop's own attributes).
  if (Attribute hint = loop->getAttr(qopt::kScheduleHintAttrName))
    callee->setAttr(qopt::kScheduleHintAttrName, hint);
  // func-to-llvm gives the llvm.func the linkage named by "llvm.linkage".
  callee->setAttr("llvm.linkage",
                  LLVM::LinkageAttr::get(context, LLVM::Linkage::Internal));
  // Renames the function if its name is taken.
  symbols.insert(callee);

  Block *body = callee.addEntryBlock();
  IRMapping mapping;
  mapping.map(arguments, body->getArguments());
  builder.setInsertionPointToStart(body);
  for (Value constant : constants)
    builder.clone(*constant.getDefiningOp(), mapping);
  Operation *copy = builder.clone(*loop, mapping);
  func::ReturnOp::create(builder, loc, copy->getResults());

  builder.setInsertionPoint(loop);
  auto call = func::CallOp::create(builder, loc, callee, arguments);
  loop->replaceAllUsesWith(call.getResults());
  loop->erase();
  return call;
}

/// A hash of a function's type and body that ignores locations and value
/// identities: equal for structurally equal functions.
llvm::hash_code structuralHash(func::FuncOp function) {
  llvm::hash_code hash = hash_value(function.getFunctionType());
  function.getBody().walk([&](Operation *op) {
    hash =
        llvm::hash_combine(hash, OperationEquivalence::computeHash(
                                     op, OperationEquivalence::ignoreHashValue,
                                     OperationEquivalence::ignoreHashValue,
                                     OperationEquivalence::IgnoreLocations));
  });
  return hash;
}

/// Points every call whose callee is structurally equal to an earlier one
/// at the earlier one and erases its own: the layers of a model run the same
/// kernels on different buffers, so most outlined loops are repeats.
void mergeEqualCallees(ArrayRef<func::CallOp> calls, SymbolTable &symbols) {
  DenseMap<llvm::hash_code, SmallVector<func::FuncOp, 1>> seen;
  for (func::CallOp call : calls) {
    auto callee = symbols.lookup<func::FuncOp>(call.getCallee());
    SmallVector<func::FuncOp, 1> &candidates = seen[structuralHash(callee)];
    auto equal = llvm::find_if(candidates, [&](func::FuncOp candidate) {
      return candidate.getFunctionType() == callee.getFunctionType() &&
             OperationEquivalence::isRegionEquivalentTo(
                 &candidate.getBody(), &callee.getBody(),
                 OperationEquivalence::IgnoreLocations);
    });
    if (equal == candidates.end()) {
      candidates.push_back(callee);
      continue;
    }
    call.setCallee(equal->getSymName());
    symbols.erase(callee);
  }
}

struct OutlineParallelLoopsPass
    : public qopt::impl::OutlineParallelLoopsPassBase<
          OutlineParallelLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> functions(module.getOps<func::FuncOp>());
    SmallVector<func::CallOp> calls;
    for (func::FuncOp function : functions) {
      SmallVector<scf::ParallelOp> loops;
      function.walk<WalkOrder::PreOrder>([&](scf::ParallelOp loop) {
        loops.push_back(loop);
        return WalkResult::skip();
      });
      for (auto [index, loop] : llvm::enumerate(loops))
        calls.push_back(outline(loop, function, symbols, index));
    }
    mergeEqualCallees(calls, symbols);
  }
};

} // namespace
