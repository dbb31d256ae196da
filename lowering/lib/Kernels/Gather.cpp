//===- Gather.cpp - qopt.kernel_gather to loops -----------------*- C++ -*-===//
//
// Embedding rows by token id: a plain table is copied (widened to f32), a
// quantized one is dequantized one row at a time, never as a whole. Token
// ids are clamped to the table, so a bad id cannot read outside it (the
// runtime rejects them before a call).
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

using namespace mlir;
using namespace mlir::qopt;

namespace {
struct KernelGatherLowering : public OpConversionPattern<KernelGatherOp> {
  KernelGatherLowering(MLIRContext *ctx, int64_t width)
      : OpConversionPattern(ctx), width(width) {}

  LogicalResult
  matchAndRewrite(KernelGatherOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (op->getNumResults() != 0)
      return rewriter.notifyMatchFailure(op, "not bufferized");
    KernelBuilder k(rewriter, op.getLoc(), width);
    Value tokens = adaptor.getTokens(), out = adaptor.getInit();
    ValueRange parts = adaptor.getTable();
    auto quantized = dyn_cast<QTensorType>(op.getTableType());
    ArrayRef<int64_t> shape =
        quantized ? quantized.getShape()
                  : cast<RankedTensorType>(op.getTableType()).getShape();
    int64_t rows = shape[0], cols = shape[1];
    QuantBuffers q;
    if (quantized)
      q = {quantized, parts[0], parts[1],
           quantized.isAsymmetric() ? parts[2] : Value(), adaptor.getWidth()};
    k.forLoop(0, k.dim(tokens, 0), [&](Value t) {
      Value token = memref::LoadOp::create(k.b, k.loc, tokens, ValueRange{t});
      Value row =
          arith::IndexCastOp::create(k.b, k.loc, k.b.getIndexType(), token);
      row = k.maxsi(row, k.index(0));
      row = arith::MinSIOp::create(k.b, k.loc, row, k.index(rows - 1));
      k.forLoop(0, k.index(cols), [&](Value d) {
        Value v = quantized ? dequantizeElement(k, q, {row, d})
                            : k.load(parts[0], {row, d});
        // A 16-bit table's values are those of qopt.dequantize in that type.
        Type expressed = quantized ? quantized.getExpressedType() : Type();
        if (expressed && (expressed.isF16() || expressed.isBF16()))
          v = k.widen(arith::TruncFOp::create(k.b, k.loc, expressed, v));
        k.store(v, out, {t, d});
      });
    });
    rewriter.eraseOp(op);
    return success();
  }

  int64_t width;
};
} // namespace

void mlir::qopt::populateGatherKernelPatterns(RewritePatternSet &patterns,
                                              int64_t width) {
  patterns.add<KernelGatherLowering>(patterns.getContext(), width);
}
