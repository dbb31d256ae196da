//===- ComputeOps.cpp - qmatmul, linear, embedding, attention ---*- C++ -*-===//
//
// 1:N patterns of qopt-lower-quantized-types for the ops that compute on
// weights (and qopt.hadamard, an in-place kernel): each becomes a
// destination-passing kernel op on the parts of its quantized operand (or on
// its plain weight), with a `tensor.empty` init that one-shot bufferization
// turns into the output buffer.
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qopt;

namespace {

struct QMatmulLowering : public OpConversionPattern<QMatmulOp> {
  QMatmulLowering(const TypeConverter &converter, MLIRContext *ctx,
                  WidthSlots *slots)
      : OpConversionPattern(converter, ctx), slots(slots) {}

  LogicalResult
  matchAndRewrite(QMatmulOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    QTensorType type = op.getWeight().getType();
    Value x = adaptor.getInput().front();
    Value init = emptyTensor(rewriter, loc, op.getType(), x);
    Value width =
        servedWidthFor(rewriter, loc, slots, op.getWeight(), type, op);
    auto kernel = KernelMatmulOp::create(rewriter, loc, TypeRange{op.getType()},
                                         x, adaptor.getWeight(), width, init,
                                         TypeAttr::get(type));
    rewriter.replaceOp(op, kernel.getResult()[0]);
    return success();
  }

  WidthSlots *slots;
};

struct LinearLowering : public OpConversionPattern<LinearOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value init = emptyTensor(rewriter, loc, op.getType(), adaptor.getInput());
    auto kernel = KernelMatmulOp::create(
        rewriter, loc, TypeRange{op.getType()}, adaptor.getInput(),
        ValueRange{adaptor.getWeight()}, Value(), init,
        TypeAttr::get(op.getWeight().getType()));
    rewriter.replaceOp(op, kernel.getResult()[0]);
    return success();
  }
};

struct EmbeddingLowering : public OpConversionPattern<EmbeddingOp> {
  EmbeddingLowering(const TypeConverter &converter, MLIRContext *ctx,
                    WidthSlots *slots)
      : OpConversionPattern(converter, ctx), slots(slots) {}

  LogicalResult
  matchAndRewrite(EmbeddingOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value tokens = adaptor.getTokens().front();
    Value init = emptyTensor(rewriter, loc, op.getType(), tokens);
    Type tableType = op.getTable().getType();
    Value width;
    if (auto q = dyn_cast<QTensorType>(tableType))
      width = servedWidthFor(rewriter, loc, slots, op.getTable(), q, op);
    auto kernel = KernelGatherOp::create(rewriter, loc, TypeRange{op.getType()},
                                         tokens, adaptor.getTable(), width,
                                         init, TypeAttr::get(tableType));
    rewriter.replaceOp(op, kernel.getResult()[0]);
    return success();
  }

  WidthSlots *slots;
};

struct AttentionLowering : public OpConversionPattern<AttentionOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value init = emptyTensor(rewriter, loc, op.getType(), adaptor.getQuery());
    auto kernel = KernelAttentionOp::create(
        rewriter, loc, TypeRange{op.getType()}, adaptor.getQuery(),
        adaptor.getKey(), adaptor.getValue(), adaptor.getKeyCache(),
        adaptor.getValueCache(), adaptor.getPosition(), init, op.getLayerAttr(),
        op.getNumHeadsAttr(), op.getNumKvHeadsAttr(), op.getHeadDimAttr(),
        op.getSlidingWindowAttr());
    rewriter.replaceOp(op, kernel.getResult()[0]);
    return success();
  }
};

struct HadamardLowering : public OpConversionPattern<HadamardOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(HadamardOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto kernel =
        KernelHadamardOp::create(rewriter, op.getLoc(), TypeRange{op.getType()},
                                 adaptor.getInput(), op.getSize());
    rewriter.replaceOp(op, kernel.getResult()[0]);
    return success();
  }
};

} // namespace

void mlir::qopt::populateComputeOpLoweringPatterns(
    const TypeConverter &converter, RewritePatternSet &patterns,
    WidthSlots *slots) {
  MLIRContext *ctx = patterns.getContext();
  patterns.add<LinearLowering, AttentionLowering, HadamardLowering>(converter,
                                                                    ctx);
  patterns.add<QMatmulLowering, EmbeddingLowering>(converter, ctx, slots);
}
