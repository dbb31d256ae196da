//===- Observe.cpp - qopt.observe to a runtime call -------------*- C++ -*-===//
//
// The buffer form of the calibration instrumentation becomes a call of the
// runtime's observer,
//   func.func private @qopt_observe(i64, memref<?x?xf32, strided<[?, ?],
//                                                          offset: ?>>)
// which the conversion to LLVM expands to the C function (docs/calibration.md)
//   void qopt_observe(int64_t site, float *allocated, float *aligned,
//                     int64_t offset, int64_t rows, int64_t cols,
//                     int64_t rowStride, int64_t colStride);
// The JIT resolves the symbol to the observer of `qopt-run calibrate`.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;
using namespace mlir::qopt;

namespace {
constexpr llvm::StringLiteral kObserverFunction = "qopt_observe";

struct ObserveToCall : public OpConversionPattern<ObserveOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(ObserveOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto bufferType = dyn_cast<MemRefType>(adaptor.getInput().getType());
    if (!bufferType)
      return rewriter.notifyMatchFailure(op, "not bufferized");
    MLIRContext *ctx = op.getContext();
    int64_t dyn = ShapedType::kDynamic;
    auto argType = MemRefType::get(
        {dyn, dyn}, rewriter.getF32Type(),
        StridedLayoutAttr::get(ctx, dyn, ArrayRef<int64_t>{dyn, dyn}));
    auto i64 = rewriter.getI64Type();
    auto fnType = rewriter.getFunctionType({i64, argType}, {});
    auto module = op->getParentOfType<ModuleOp>();
    auto callee = module.lookupSymbol<func::FuncOp>(kObserverFunction);
    if (!callee) {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(module.getBody());
      callee = func::FuncOp::create(rewriter, op.getLoc(), kObserverFunction,
                                    fnType);
      callee.setPrivate();
    } else if (callee.getFunctionType() != fnType) {
      return op.emitOpError()
             << "@" << kObserverFunction << " is declared with another type";
    }
    Location loc = op.getLoc();
    Value site = arith::ConstantIntOp::create(
        rewriter, loc, i64, static_cast<int64_t>(op.getSite()));
    Value buffer =
        memref::CastOp::create(rewriter, loc, argType, adaptor.getInput());
    func::CallOp::create(rewriter, loc, callee, ValueRange{site, buffer});
    rewriter.eraseOp(op);
    return success();
  }
};
} // namespace

void mlir::qopt::populateObserveKernelPatterns(RewritePatternSet &patterns) {
  patterns.add<ObserveToCall>(patterns.getContext());
}
