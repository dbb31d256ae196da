//===- PrepareABI.cpp - The qopt-prepare-abi pass ---------------*- C++ -*-===//
//
// Gives every model function the calling convention of the runtime before
// bufferization, still on tensors:
//  - a `memref<?xi64>` weight table argument: each `dense_resource` weight
//    constant becomes a read-only `bufferization.to_tensor` of
//    `qopt.weight_ref %table[i]`, so weights are used in place from the
//    mapped checkpoint (module attribute `qopt.weight_table` names the
//    entries);
//  - a `memref<?xi32>` width table argument: each `qopt.served_width` becomes
//    a load of its slot (module attribute `qopt.width_table`);
//  - results become trailing out-parameter buffers, written with
//    `bufferization.materialize_in_destination`;
//  - `llvm.emit_c_interface`.
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Patterns.h"
#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_PREPAREABIPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {
struct PrepareABIPass : public qopt::impl::PrepareABIPassBase<PrepareABIPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    llvm::StringMap<int64_t> weightIndex;
    SmallVector<Attribute> weightNames;
    for (func::FuncOp func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      if (!func.getBody().hasOneBlock()) {
        func.emitError("qopt-prepare-abi: only single-block functions are "
                       "supported");
        return signalPassFailure();
      }
      if (failed(prepare(func, weightIndex, weightNames)))
        return signalPassFailure();
    }
    module->setAttr("qopt.weight_table", ArrayAttr::get(ctx, weightNames));
    if (!module->hasAttr("qopt.width_table"))
      module->setAttr("qopt.width_table", ArrayAttr::get(ctx, {}));
  }

  LogicalResult prepare(func::FuncOp func, llvm::StringMap<int64_t> &index,
                        SmallVectorImpl<Attribute> &names) {
    MLIRContext *ctx = func.getContext();
    Block &entry = func.getBody().front();
    FunctionType type = func.getFunctionType();
    for (Type t : type.getResults())
      if (!isa<RankedTensorType>(t))
        return func.emitError()
               << "qopt-prepare-abi: results must be ranked tensors, got " << t;
    Location loc = func.getLoc();
    // The caller's input buffers are read-only: a kernel that works in place
    // (qopt.kernel_hadamard) on an argument gets a copy from one-shot
    // bufferization instead of overwriting the caller's data.
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      if (isa<TensorType>(func.getArgument(i).getType()))
        func.setArgAttr(i, "bufferization.writable", BoolAttr::get(ctx, false));
    auto tableType =
        MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 64));
    auto widthsType =
        MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 32));
    auto append = [&](Type t) -> Value {
      unsigned at = func.getNumArguments();
      if (failed(func.insertArgument(at, t, DictionaryAttr(), loc)))
        return Value();
      return func.getArgument(at);
    };
    Value table = append(tableType);
    Value widths = append(widthsType);
    SmallVector<Value> outs;
    for (Type t : type.getResults()) {
      auto tensor = cast<RankedTensorType>(t);
      outs.push_back(
          append(MemRefType::get(tensor.getShape(), tensor.getElementType())));
    }
    if (!table || !widths || llvm::is_contained(outs, Value()))
      return func.emitError("qopt-prepare-abi: cannot add arguments");

    OpBuilder b(ctx);
    WalkResult walk = func.walk([&](Operation *op) -> WalkResult {
      if (auto cst = dyn_cast<arith::ConstantOp>(op)) {
        auto resource = dyn_cast<DenseResourceElementsAttr>(cst.getValue());
        auto tensor = dyn_cast<RankedTensorType>(cst.getType());
        if (!resource || !tensor)
          return WalkResult::advance();
        StringRef key = resource.getRawHandle().getKey();
        auto [it, inserted] = index.try_emplace(key, names.size());
        if (inserted)
          names.push_back(StringAttr::get(ctx, key));
        b.setInsertionPoint(cst);
        auto memrefType =
            MemRefType::get(tensor.getShape(), tensor.getElementType());
        Value ref = WeightRefOp::create(b, cst.getLoc(), memrefType, table,
                                        b.getI64IntegerAttr(it->second));
        Value asTensor = bufferization::ToTensorOp::create(
            b, cst.getLoc(), tensor, ref, /*restrict=*/true,
            /*writable=*/false);
        cst.replaceAllUsesWith(asTensor);
        cst.erase();
        return WalkResult::skip();
      }
      if (auto width = dyn_cast<ServedWidthOp>(op)) {
        // The runtime sizes the width table from qopt.width_table: a slot
        // past its end would read outside the table.
        auto slots =
            func->getParentOfType<ModuleOp>()->getAttrOfType<ArrayAttr>(
                "qopt.width_table");
        if (!slots || width.getSlot() >= slots.size()) {
          width.emitError()
              << "qopt-prepare-abi: width slot " << width.getSlot()
              << " is not an entry of the module's "
                 "qopt.width_table ("
              << (slots ? slots.size() : 0) << " entries)";
          return WalkResult::interrupt();
        }
        b.setInsertionPoint(width);
        Value slot =
            arith::ConstantIndexOp::create(b, width.getLoc(), width.getSlot());
        Value w = memref::LoadOp::create(b, width.getLoc(), widths, slot);
        Value asIndex =
            arith::IndexCastOp::create(b, width.getLoc(), b.getIndexType(), w);
        width.replaceAllUsesWith(asIndex);
        width.erase();
        return WalkResult::skip();
      }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return failure();

    auto ret = cast<func::ReturnOp>(entry.getTerminator());
    b.setInsertionPoint(ret);
    for (auto [value, out] : llvm::zip(ret.getOperands(), outs))
      bufferization::MaterializeInDestinationOp::create(
          b, ret.getLoc(), TypeRange{}, value, out, /*restrict=*/true,
          /*writable=*/true);
    func::ReturnOp::create(b, ret.getLoc());
    ret.erase();
    SmallVector<Type> inputs(entry.getArgumentTypes());
    func.setFunctionType(FunctionType::get(ctx, inputs, {}));
    func.removeResAttrsAttr();
    func->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
    return success();
  }
};
} // namespace
