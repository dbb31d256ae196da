//===- LowerQuantizedTypes.cpp - !qopt.qtensor to its parts -----*- C++ -*-===//
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

#include "qopt/Conversion/Patterns.h"

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

  /// Diagnoses what the kernels cannot do before converting anything, so
  /// the user sees one precise error rather than a failed legalization.
  static LogicalResult checkSupported(ModuleOp module) {
    WalkResult result = module.walk([](Operation *op) -> WalkResult {
      auto lastDynamic = [](QTensorType t) {
        return t.getRank() > 0 && ShapedType::isDynamic(t.getShape().back());
      };
      if (auto slice = dyn_cast<SliceOp>(op)) {
        QTensorType in = slice.getInput().getType();
        if (in.getLayout() == Layout::Nested && in.isSliced())
          return slice.emitOpError()
                 << "slicing a nested slice again is not supported (it "
                    "rounds twice, which reading fewer planes cannot "
                    "express); slice the parent to "
                 << slice.getBits() << " bits directly";
        if (in.getLayout() == Layout::Dense && lastDynamic(in))
          return slice.emitOpError() << "cannot repack a dense slice whose "
                                        "last dimension is dynamic";
      }
      if (auto quantize = dyn_cast<QuantizeOp>(op))
        if (lastDynamic(quantize.getType()))
          return quantize.emitOpError()
                 << "run-time quantization needs a static last dimension";
      if (auto pack = dyn_cast<PackOp>(op))
        if (lastDynamic(pack.getType()) &&
            (pack.getType().getLayout() == Layout::Nested ||
             pack.getType().getBits() != 8))
          return pack.emitOpError()
                 << "codes of " << pack.getType().getBits()
                 << " bits in rows of dynamic length have no storage form "
                    "(only 8-bit dense rows may be dynamic)";
      return WalkResult::advance();
    });
    return failure(result.wasInterrupted());
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    if (failed(checkSupported(module)))
      return signalPassFailure();
    QTensorTypeConverter converter;
    WidthSlots slots;
    RewritePatternSet patterns(ctx);
    populateLowerQuantizedTypesPatterns(converter, patterns, &slots);

    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect, tensor::TensorDialect>();
    target.addLegalOp<KernelMatmulOp, KernelGatherOp, KernelDequantizeOp,
                      KernelQuantizeOp, KernelRepackOp, KernelAttentionOp,
                      KernelHadamardOp, ServedWidthOp, WeightRefOp>();
    target.addIllegalOp<PackOp, GetCodesOp, GetScalesOp, GetZerosOp, QuantizeOp,
                        DequantizeOp, SliceOp, QMatmulOp, LinearOp, EmbeddingOp,
                        AttentionOp, HadamardOp>();
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
