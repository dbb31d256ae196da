//===- Attention.cpp - qopt.kernel_attention to vector loops ----*- C++ -*-===//
//
// Causal grouped-query attention over the KV cache buffers: the new keys and
// values are appended at their positions, then for each (token, head) pair,
// in parallel, the scores against every cached position are computed with
// the vector dot product into a scratch buffer, a max-subtracted softmax is
// taken, and the values are accumulated `width` lanes at a time. A sliding
// window (Mistral) only moves the first position each token attends to. The
// cache element type may be f32 or a 16-bit float (widened on load, rounded
// on store).
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/Math/IR/Math.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::qopt;

namespace {
struct KernelAttentionLowering : public OpConversionPattern<KernelAttentionOp> {
  KernelAttentionLowering(MLIRContext *ctx, int64_t width)
      : OpConversionPattern(ctx), width(width) {}

  LogicalResult
  matchAndRewrite(KernelAttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (op->getNumResults() != 0)
      return rewriter.notifyMatchFailure(op, "not bufferized");
    KernelBuilder k(rewriter, op.getLoc(), width);
    Value q = adaptor.getQuery(), key = adaptor.getKey(),
          value = adaptor.getValue();
    Value kc = adaptor.getKeyCache(), vc = adaptor.getValueCache();
    Value pos = adaptor.getPosition(), out = adaptor.getInit();
    int64_t heads = op.getNumHeads(), kvHeads = op.getNumKvHeads();
    int64_t headDim = op.getHeadDim(), kvDim = kvHeads * headDim;
    int64_t group = heads / kvHeads;
    Value layer = k.index(op.getLayer());

    Value scale = k.f32(1.0f / std::sqrt(static_cast<float>(headDim)));
    Value negInf = k.f32(-std::numeric_limits<float>::infinity());
    Value zero = k.f32(0.0f), one = k.f32(1.0f);
    auto vecType = VectorType::get({k.width}, rewriter.getF32Type());
    auto scoresType =
        MemRefType::get({ShapedType::kDynamic}, rewriter.getF32Type());
    bool vectorizeHead = headDim % k.width == 0;
    Value numTokens = k.dim(q, 0);

    // Append every new token's key and value to the cache first: token t
    // reads positions up to pos + t only, so the later tokens' entries are
    // not seen by it.
    k.forLoop(0, numTokens, [&](Value t) {
      Value p = k.addi(pos, t);
      k.forLoop(0, k.index(kvDim), [&](Value i) {
        k.store(k.load(key, {t, i}), kc, {layer, p, i});
        k.store(k.load(value, {t, i}), vc, {layer, p, i});
      });
    });
    // One independent iteration per (head, token), split between threads
    // head-major: a thread's share is whole heads (or runs of tokens of one
    // head), so the causal work (token t reads t + 1 positions) is divided
    // evenly, and consecutive iterations reread one head's keys and values
    // from the cache instead of every head's. Each keeps its scores over
    // the cached positions in its own buffer (a heap allocation: an alloca
    // would need an alloca_scope, which cannot hold the loops once they are
    // lowered to branches).
    k.parallelLoop(0, k.muli(numTokens, k.index(heads)), [&](Value th) {
      Value h = k.divui(th, numTokens);
      Value t = k.remui(th, numTokens);
      Value p = k.addi(pos, t);
      Value end = k.addi(p, k.index(1));
      // Sliding window W: only positions max(0, p + 1 - W) .. p.
      Value start = k.index(0);
      if (std::optional<uint64_t> window = op.getSlidingWindow()) {
        Value w = k.index(static_cast<int64_t>(*window));
        Value past = arith::CmpIOp::create(k.b, k.loc,
                                           arith::CmpIPredicate::ugt, end, w);
        start =
            arith::SelectOp::create(k.b, k.loc, past, k.subi(end, w), start);
      }
      Value scores = memref::AllocOp::create(
          k.b, k.loc, scoresType, ValueRange{end}, k.b.getI64IntegerAttr(64));
      Value qOff = k.muli(h, k.index(headDim));
      Value kvHead = k.divui(h, k.index(group));
      Value kOff = k.muli(kvHead, k.index(headDim));
      // scores[s] = q . K[s] / sqrt(head_dim), tracking the maximum.
      Value maxScore = k.forLoopCarried(
          start, end, 1, {negInf},
          [&](Value s, ValueRange carried) -> SmallVector<Value> {
            Value dot = k.dot(q, {t}, qOff, kc, {layer, s}, kOff, headDim);
            Value sc = k.mulf(dot, scale);
            k.store(sc, scores, {s});
            return {arith::MaximumFOp::create(k.b, k.loc, carried[0], sc)};
          })[0];
      Value sum = k.forLoopCarried(
          start, end, 1, {zero},
          [&](Value s, ValueRange carried) -> SmallVector<Value> {
            Value ex = math::ExpOp::create(
                k.b, k.loc, k.subf(k.load(scores, {s}), maxScore));
            k.store(ex, scores, {s});
            return {k.addf(carried[0], ex)};
          })[0];
      Value inv = k.divf(one, sum);
      // out[t, head] = sum_s softmax[s] * V[s, kv head].
      if (vectorizeHead) {
        Value vzero = arith::ConstantOp::create(
            k.b, k.loc,
            DenseElementsAttr::get(vecType, k.b.getF32FloatAttr(0)));
        // Up to 8 vectors of the head at a time, one accumulator each
        // (independent FMA chains), positions in the inner loop.
        int64_t chunks = headDim / k.width;
        for (int64_t c0 = 0; c0 < chunks; c0 += 8) {
          int64_t count = std::min<int64_t>(8, chunks - c0);
          SmallVector<Value> acc = k.forLoopCarried(
              start, end, 1, SmallVector<Value>(count, vzero),
              [&](Value s, ValueRange carried) -> SmallVector<Value> {
                Value w = k.splat(vecType, k.load(scores, {s}));
                SmallVector<Value> next;
                for (int64_t c = 0; c < count; ++c) {
                  Value col = k.addi(kOff, k.index((c0 + c) * k.width));
                  Value vv = k.vectorLoad(vc, {layer, s, col});
                  next.push_back(
                      vector::FMAOp::create(k.b, k.loc, w, vv, carried[c]));
                }
                return next;
              });
          for (int64_t c = 0; c < count; ++c) {
            Value scaled = k.mulf(acc[c], k.splat(vecType, inv));
            vector::StoreOp::create(
                k.b, k.loc, scaled, out,
                ValueRange{t, k.addi(qOff, k.index((c0 + c) * k.width))});
          }
        }
      } else {
        k.forLoop(0, k.index(headDim), [&](Value i) {
          Value acc = k.forLoopCarried(
              start, end, 1, {zero},
              [&](Value s, ValueRange carried) -> SmallVector<Value> {
                Value term = k.mulf(k.load(scores, {s}),
                                    k.load(vc, {layer, s, k.addi(kOff, i)}));
                return {k.addf(carried[0], term)};
              })[0];
          k.store(k.mulf(acc, inv), out, {t, k.addi(qOff, i)});
        });
      }
      memref::DeallocOp::create(k.b, k.loc, scores);
    });
    rewriter.eraseOp(op);
    return success();
  }

  int64_t width;
};
} // namespace

void mlir::qopt::populateAttentionKernelPatterns(RewritePatternSet &patterns,
                                                 int64_t width) {
  patterns.add<KernelAttentionLowering>(patterns.getContext(), width);
}
