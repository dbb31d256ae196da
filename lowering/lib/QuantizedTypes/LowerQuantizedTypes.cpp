//===- LowerQuantizedTypes.cpp - !qopt.qtensor to its parts ------*- C++ -*-===//
//
// The qopt-lower-quantized-types pass: a TypeConverter maps each
// `!qopt.qtensor` 1:N onto its parts (codes in the storage form of its
// layout, scales, zero points for `asym`), for values, block arguments,
// function signatures, calls and returns; the patterns of QuantOps.cpp and
// ComputeOps.cpp rewrite the ops. What remains is plain tensors and
// destination-passing qopt.kernel_* ops, ready for one-shot bufferization.
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"

#include "qopt/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_LOWERQUANTIZEDTYPESPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

mlir::qopt::QTensorTypeConverter::QTensorTypeConverter() {
  addConversion([](Type type) { return type; });
  addConversion([](QTensorType type, SmallVectorImpl<Type> &results) {
    llvm::append_range(results, getQTensorPartTypes(type));
    return success();
  });
}

void mlir::qopt::populateLowerQuantizedTypesPatterns(
    const TypeConverter &converter, RewritePatternSet &patterns,
    WidthSlots *slots) {
  populateQuantOpLoweringPatterns(converter, patterns, slots);
  populateComputeOpLoweringPatterns(converter, patterns, slots);
  populateFunctionOpInterfaceTypeConversionPattern<func::FuncOp>(patterns,
                                                                 converter);
  populateCallOpTypeConversionPattern(patterns, converter);
  populateReturnOpTypeConversionPattern(patterns, converter);
}

namespace {
struct LowerQuantizedTypesPass
    : public qopt::impl::LowerQuantizedTypesPassBase<LowerQuantizedTypesPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    QTensorTypeConverter converter;
    WidthSlots slots;
    RewritePatternSet patterns(ctx);
    populateLowerQuantizedTypesPatterns(converter, patterns, &slots);

    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect, tensor::TensorDialect>();
    target.addLegalOp<KernelMatmulOp, KernelGatherOp, KernelDequantizeOp,
                      KernelQuantizeOp, KernelRepackOp, KernelAttentionOp,
                      ServedWidthOp, WeightRefOp>();
    target.addIllegalOp<PackOp, GetCodesOp, GetScalesOp, GetZerosOp,
                        QuantizeOp, DequantizeOp, SliceOp, QMatmulOp,
                        LinearOp, EmbeddingOp, AttentionOp>();
    target.addDynamicallyLegalOp<func::FuncOp>([&](func::FuncOp op) {
      return converter.isSignatureLegal(op.getFunctionType()) &&
             converter.isLegal(&op.getBody());
    });
    target.addDynamicallyLegalOp<func::CallOp, func::ReturnOp>(
        [&](Operation *op) { return converter.isLegal(op); });
    target.markUnknownOpDynamicallyLegal(
        [&](Operation *op) { return converter.isLegal(op); });
    if (failed(applyFullConversion(module, target, std::move(patterns))))
      return signalPassFailure();
    if (!slots.entries.empty() || !module->hasAttr("qopt.width_table"))
      module->setAttr("qopt.width_table", ArrayAttr::get(ctx, slots.entries));
  }
};
} // namespace
