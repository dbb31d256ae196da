//===- Attention.cpp - qopt.kernel_attention to vector loops ----*- C++ -*-===//
//
// Causal grouped-query attention over the KV cache buffers. The new keys and
// values are appended at their positions first; then the (head, token)
// pairs are processed in parallel in *tiles* of R consecutive tokens of one
// head (R = 4 for a prompt of at least 4 tokens, 1 for decode). A tile
// reads each cached key and value row once for its R tokens, where a token
// at a time read it R times (a prompt of T tokens reads every head's rows
// about T^2 / 2R times instead of T^2 / 2; the rows of one head lie
// kv_dim elements apart, so they do not stay in cache between tokens).
//
// A tile walks its positions (the first token's first to the last token's
// last) in blocks of 256 keys with an online softmax, so its buffers are
// fixed (4 x 256 scores, 4 x head_dim outputs) whatever the context (at
// 512 tokens, blocks of 64 were 3-4% slower than one block; 256 are not):
//
//   1. scores[i][s] = q_i . K[s] / sqrt(head_dim) over the block, the R
//      dots sharing each key vector, -inf where s is outside token i's
//      range, and the block's maximum per token;
//   2. with m the maximum so far and m' the new one, the token's output and
//      sum so far are scaled by exp(m - m') and the block's exp(s - m')
//      added to the sum;
//   3. out_i += sum_s p_i[s] V[s] with R x C vector accumulators in
//      registers (C vectors of the head at a time), each value vector
//      loaded once for the R tokens;
//
// and at the end divides each output by its sum. The positions every token
// attends to take loops without masks; the few at the ends of the range
// that some token does not attend to keep that token's accumulator with a
// select (so a non-finite value there cannot reach it).
//
// The last tile of a prompt whose length is not a multiple of R repeats its
// last token in the spare slots (the same values computed and stored again).
// A sliding window W (Mistral) moves token i's first position to
// max(0, p_i + 1 - W). The cache element type may be f32 or a 16-bit float
// (widened on load, rounded on store).
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

/// Tokens per tile in prefill.
constexpr int64_t kTileTokens = 4;
/// Keys per block of the online softmax.
constexpr int64_t kKeyBlock = 256;

/// The emitter of one attention op: the operands and the tile loops.
class AttentionEmitter {
public:
  AttentionEmitter(KernelBuilder &k, KernelAttentionOp op,
                   KernelAttentionOp::Adaptor adaptor)
      : k(k), q(adaptor.getQuery()), kc(adaptor.getKeyCache()),
        vc(adaptor.getValueCache()), pos(adaptor.getPosition()),
        out(adaptor.getInit()), heads(op.getNumHeads()),
        headDim(op.getHeadDim()), group(heads / op.getNumKvHeads()),
        window(op.getSlidingWindow()), layer(k.index(op.getLayer())),
        numTokens(k.dim(q, 0)) {}

  /// Appends the new keys and values to the cache: token t reads positions
  /// up to pos + t only, so the later tokens' entries are not seen by it.
  void appendToCache(Value key, Value value) {
    int64_t kvDim = cast<MemRefType>(key.getType()).getDimSize(1);
    k.forLoop(0, numTokens, [&](Value t) {
      Value p = k.addi(pos, t);
      k.forLoop(0, k.index(kvDim), [&](Value i) {
        k.store(k.load(key, {t, i}), kc, {layer, p, i});
        k.store(k.load(value, {t, i}), vc, {layer, p, i});
      });
    });
  }

  /// Every (head, tile of `r` tokens), in parallel, head-major: a thread's
  /// share is whole heads (or runs of tiles of one head), so the causal
  /// work (token t reads t + 1 positions) is divided evenly, and
  /// consecutive iterations reread one head's rows.
  void emitTiles(int64_t r) {
    Value numTiles = k.divui(k.addi(numTokens, k.index(r - 1)), k.index(r));
    k.parallelLoop(0, k.muli(numTiles, k.index(heads)), [&](Value it) {
      Value h = k.divui(it, numTiles);
      Value first = k.muli(k.remui(it, numTiles), k.index(r));
      Value last = k.subi(numTokens, k.index(1));
      Tile tile;
      for (int64_t i = 0; i < r; ++i) {
        Value t = k.minui(k.addi(first, k.index(i)), last);
        Value end = k.addi(k.addi(pos, t), k.index(1));
        tile.tokens.push_back(t);
        tile.ends.push_back(end);
        tile.starts.push_back(windowStart(end));
      }
      emitTile(h, tile);
    });
  }

private:
  struct Tile {
    /// Per slot: the token, and its first and one-past-last positions.
    SmallVector<Value> tokens, starts, ends;
    int64_t size() const { return tokens.size(); }
  };

  /// max(0, end - W) with a sliding window W, else 0.
  Value windowStart(Value end) {
    if (!window)
      return k.index(0);
    Value w = k.index(static_cast<int64_t>(*window));
    Value past =
        arith::CmpIOp::create(k.b, k.loc, arith::CmpIPredicate::ugt, end, w);
    return arith::SelectOp::create(k.b, k.loc, past, k.subi(end, w),
                                   k.index(0));
  }

  /// Whether slot i attends to position s, or null where it attends to all
  /// of [tile start, tile end): the first slot starts the range, the last
  /// one ends it, and only a window moves a later slot's start.
  Value attends(const Tile &tile, int64_t i, Value s) {
    Value inRange;
    auto both = [&](Value c) {
      inRange = inRange ? arith::AndIOp::create(k.b, k.loc, inRange, c) : c;
    };
    if (window && i > 0)
      both(arith::CmpIOp::create(k.b, k.loc, arith::CmpIPredicate::uge, s,
                                 tile.starts[i]));
    if (i + 1 < tile.size())
      both(arith::CmpIOp::create(k.b, k.loc, arith::CmpIPredicate::ult, s,
                                 tile.ends[i]));
    return inRange;
  }

  /// q_i . K[s] for every slot i, sharing the key's vectors: per slot
  /// max(1, 4 / R) vector accumulators, then a tree reduction.
  SmallVector<Value> scoreDots(const Tile &tile, Value qOff, Value kOff,
                               Value s) {
    int64_t r = tile.size();
    if (headDim % k.width != 0) {
      SmallVector<Value> dots;
      for (int64_t i = 0; i < r; ++i)
        dots.push_back(
            k.dot(q, {tile.tokens[i]}, qOff, kc, {layer, s}, kOff, headDim));
      return dots;
    }
    auto vecType = VectorType::get({k.width}, k.b.getF32Type());
    Value vzero = arith::ConstantOp::create(
        k.b, k.loc, DenseElementsAttr::get(vecType, k.b.getF32FloatAttr(0)));
    int64_t chunks = headDim / k.width;
    int64_t perSlot = std::min(chunks, std::max<int64_t>(1, 4 / r));
    SmallVector<SmallVector<Value>> accs(r, SmallVector<Value>(perSlot, vzero));
    for (int64_t c = 0; c < chunks; ++c) {
      Value kv =
          k.vectorLoad(kc, {layer, s, k.addi(kOff, k.index(c * k.width))});
      for (int64_t i = 0; i < r; ++i) {
        Value qv = k.vectorLoad(
            q, {tile.tokens[i], k.addi(qOff, k.index(c * k.width))});
        Value &acc = accs[i][c % perSlot];
        acc = vector::FMAOp::create(k.b, k.loc, qv, kv, acc);
      }
    }
    auto reassoc = arith::FastMathFlags::reassoc;
    SmallVector<Value> dots;
    for (int64_t i = 0; i < r; ++i) {
      Value sum = accs[i][0];
      for (int64_t u = 1; u < perSlot; ++u)
        sum = k.addf(sum, accs[i][u], reassoc);
      dots.push_back(vector::ReductionOp::create(
          k.b, k.loc, vector::CombiningKind::ADD, sum, reassoc));
    }
    return dots;
  }

  /// The buffers of one tile: the scores of one key block [slot, key -
  /// block start] and the unnormalized outputs [slot, head element] (heap
  /// allocations: an alloca would need an alloca_scope, which cannot hold
  /// the loops once they are lowered to branches).
  struct TileBuffers {
    Value scores, acc, qOff, kOff;
  };

  void emitTile(Value h, const Tile &tile) {
    int64_t r = tile.size();
    Type f32 = k.b.getF32Type();
    TileBuffers bufs;
    bufs.scores = memref::AllocOp::create(
        k.b, k.loc, MemRefType::get({r, kKeyBlock}, f32), ValueRange{},
        k.b.getI64IntegerAttr(64));
    bufs.acc =
        memref::AllocOp::create(k.b, k.loc, MemRefType::get({r, headDim}, f32),
                                ValueRange{}, k.b.getI64IntegerAttr(64));
    for (int64_t i = 0; i < r; ++i)
      k.forLoop(0, k.index(headDim), [&](Value e) {
        k.store(k.f32(0.0f), bufs.acc, {k.index(i), e});
      });
    bufs.qOff = k.muli(h, k.index(headDim));
    bufs.kOff = k.muli(k.divui(h, k.index(group)), k.index(headDim));

    // Positions every slot attends to: [a, b) with b = the first slot's end
    // and a = the last slot's start (a later start only with a window;
    // a < b unless the window is shorter than the tile). The positions
    // before and after take the masked loops.
    Value lo = tile.starts.front(), hi = tile.ends.back();
    Value b = tile.ends.front();
    Value a = k.minui(tile.starts.back(), b);
    // Per slot the running maximum and sum of the online softmax.
    SmallVector<Value> state(r, k.f32(-std::numeric_limits<float>::infinity()));
    state.append(r, k.f32(0.0f));
    if (r > 1 && window)
      state = emitKeys(tile, bufs, lo, a, /*masked=*/true, state);
    state = emitKeys(tile, bufs, r > 1 ? a : lo, r > 1 ? b : hi,
                     /*masked=*/false, state);
    if (r > 1)
      state = emitKeys(tile, bufs, b, hi, /*masked=*/true, state);

    // out_i = acc_i / sum_i.
    for (int64_t i = 0; i < r; ++i) {
      Value inv = k.divf(k.f32(1.0f), state[r + i]);
      if (headDim % k.width == 0) {
        auto vecType = VectorType::get({k.width}, f32);
        for (int64_t c = 0; c < headDim / k.width; ++c) {
          Value col = k.index(c * k.width);
          Value v = k.mulf(k.vectorLoad(bufs.acc, {k.index(i), col}),
                           k.splat(vecType, inv));
          vector::StoreOp::create(
              k.b, k.loc, v, out,
              ValueRange{tile.tokens[i], k.addi(bufs.qOff, col)});
        }
      } else {
        k.forLoop(0, k.index(headDim), [&](Value e) {
          k.store(k.mulf(k.load(bufs.acc, {k.index(i), e}), inv), out,
                  {tile.tokens[i], k.addi(bufs.qOff, e)});
        });
      }
    }
    memref::DeallocOp::create(k.b, k.loc, bufs.scores);
    memref::DeallocOp::create(k.b, k.loc, bufs.acc);
  }

  /// Positions [from, to) in blocks of kKeyBlock keys, with masks where
  /// `masked`. `state` is every slot's running maximum, then every slot's
  /// running sum; returns them updated. Per block: the scores and their
  /// maximum m'; with m the maximum so far, the outputs and the sum so far
  /// are scaled by exp(m - m') and the block's exp(score - m') added (a
  /// slot that has attended to nothing yet has m' = -inf: 0 is subtracted
  /// instead, so its masked scores give exp(-inf) = 0, not NaN).
  SmallVector<Value> emitKeys(const Tile &tile, const TileBuffers &bufs,
                              Value from, Value to, bool masked,
                              ValueRange state) {
    int64_t r = tile.size();
    Value negInf = k.f32(-std::numeric_limits<float>::infinity());
    Value scale = k.f32(1.0f / std::sqrt(static_cast<float>(headDim)));
    return k.forLoopCarried(
        from, to, kKeyBlock, state,
        [&](Value block, ValueRange carried) -> SmallVector<Value> {
          Value end = k.minui(k.addi(block, k.index(kKeyBlock)), to);
          auto scoreAt = [&](int64_t i, Value s) {
            return SmallVector<Value>{k.index(i), k.subi(s, block)};
          };
          SmallVector<Value> maxima = k.forLoopCarried(
              block, end, 1, SmallVector<Value>(r, negInf),
              [&](Value s, ValueRange blockMax) -> SmallVector<Value> {
                SmallVector<Value> dots =
                    scoreDots(tile, bufs.qOff, bufs.kOff, s);
                SmallVector<Value> next;
                for (int64_t i = 0; i < r; ++i) {
                  Value sc = k.mulf(dots[i], scale);
                  if (Value in = masked ? attends(tile, i, s) : Value())
                    sc = arith::SelectOp::create(k.b, k.loc, in, sc, negInf);
                  k.store(sc, bufs.scores, scoreAt(i, s));
                  next.push_back(
                      arith::MaximumFOp::create(k.b, k.loc, blockMax[i], sc));
                }
                return next;
              });
          SmallVector<Value> shift, rescale, next;
          for (int64_t i = 0; i < r; ++i) {
            Value m =
                arith::MaximumFOp::create(k.b, k.loc, carried[i], maxima[i]);
            Value none = arith::CmpFOp::create(
                k.b, k.loc, arith::CmpFPredicate::OEQ, m, negInf);
            shift.push_back(
                arith::SelectOp::create(k.b, k.loc, none, k.f32(0.0f), m));
            rescale.push_back(math::ExpOp::create(
                k.b, k.loc, k.subf(carried[i], shift.back())));
            next.push_back(m);
          }
          SmallVector<Value> sums = k.forLoopCarried(
              block, end, 1, SmallVector<Value>(r, k.f32(0.0f)),
              [&](Value s, ValueRange sum) -> SmallVector<Value> {
                SmallVector<Value> added;
                for (int64_t i = 0; i < r; ++i) {
                  Value ex = math::ExpOp::create(
                      k.b, k.loc,
                      k.subf(k.load(bufs.scores, scoreAt(i, s)), shift[i]));
                  k.store(ex, bufs.scores, scoreAt(i, s));
                  added.push_back(k.addf(sum[i], ex));
                }
                return added;
              });
          for (int64_t i = 0; i < r; ++i)
            next.push_back(k.addf(k.mulf(carried[r + i], rescale[i]), sums[i]));
          if (headDim % k.width == 0)
            emitValuesVector(tile, bufs, block, end, masked, rescale, scoreAt);
          else
            emitValuesScalar(tile, bufs, block, end, masked, rescale, scoreAt);
          return next;
        });
  }

  /// acc_i = acc_i * rescale_i + sum_s p_i[s] V[s] over one key block, for
  /// a head whose dimension is a multiple of the vector width: C vectors of
  /// R slots in registers (R * C <= 16 with 32 vector registers, <= 8 with
  /// 16), the positions in the inner loop.
  template <typename ScoreAt>
  void emitValuesVector(const Tile &tile, const TileBuffers &bufs, Value from,
                        Value to, bool masked, ArrayRef<Value> rescale,
                        ScoreAt scoreAt) {
    int64_t r = tile.size();
    auto vecType = VectorType::get({k.width}, k.b.getF32Type());
    int64_t chunks = headDim / k.width;
    int64_t perTile = std::min<int64_t>(
        8, std::max<int64_t>(1, (k.width >= 16 ? 16 : 8) / r));
    for (int64_t c0 = 0; c0 < chunks; c0 += perTile) {
      int64_t count = std::min(perTile, chunks - c0);
      auto accAt = [&](int64_t i, int64_t c) {
        return SmallVector<Value>{k.index(i), k.index((c0 + c) * k.width)};
      };
      SmallVector<Value> init;
      for (int64_t i = 0; i < r; ++i)
        for (int64_t c = 0; c < count; ++c)
          init.push_back(k.mulf(k.vectorLoad(bufs.acc, accAt(i, c)),
                                k.splat(vecType, rescale[i])));
      SmallVector<Value> acc = k.forLoopCarried(
          from, to, 1, init,
          [&](Value s, ValueRange carried) -> SmallVector<Value> {
            SmallVector<Value> vv;
            for (int64_t c = 0; c < count; ++c)
              vv.push_back(k.vectorLoad(
                  vc,
                  {layer, s, k.addi(bufs.kOff, k.index((c0 + c) * k.width))}));
            SmallVector<Value> next;
            for (int64_t i = 0; i < r; ++i) {
              Value w = k.splat(vecType, k.load(bufs.scores, scoreAt(i, s)));
              Value in = masked ? attends(tile, i, s) : Value();
              for (int64_t c = 0; c < count; ++c) {
                Value old = carried[i * count + c];
                Value sum = vector::FMAOp::create(k.b, k.loc, w, vv[c], old);
                if (in)
                  sum = arith::SelectOp::create(k.b, k.loc, in, sum, old);
                next.push_back(sum);
              }
            }
            return next;
          });
      for (int64_t i = 0; i < r; ++i)
        for (int64_t c = 0; c < count; ++c)
          vector::StoreOp::create(k.b, k.loc, acc[i * count + c], bufs.acc,
                                  accAt(i, c));
    }
  }

  /// The same for any other head dimension: per slot and element, a scalar
  /// sum over the block.
  template <typename ScoreAt>
  void emitValuesScalar(const Tile &tile, const TileBuffers &bufs, Value from,
                        Value to, bool masked, ArrayRef<Value> rescale,
                        ScoreAt scoreAt) {
    for (int64_t i = 0; i < tile.size(); ++i)
      k.forLoop(0, k.index(headDim), [&](Value e) {
        SmallVector<Value> at{k.index(i), e};
        Value init = k.mulf(k.load(bufs.acc, at), rescale[i]);
        Value acc = k.forLoopCarried(
            from, to, 1, {init},
            [&](Value s, ValueRange carried) -> SmallVector<Value> {
              Value sum =
                  k.addf(carried[0],
                         k.mulf(k.load(bufs.scores, scoreAt(i, s)),
                                k.load(vc, {layer, s, k.addi(bufs.kOff, e)})));
              if (Value in = masked ? attends(tile, i, s) : Value())
                sum = arith::SelectOp::create(k.b, k.loc, in, sum, carried[0]);
              return {sum};
            })[0];
        k.store(acc, bufs.acc, at);
      });
  }

  KernelBuilder &k;
  Value q, kc, vc, pos, out;
  int64_t heads, headDim, group;
  std::optional<uint64_t> window;
  Value layer, numTokens;
};

struct KernelAttentionLowering : public OpConversionPattern<KernelAttentionOp> {
  KernelAttentionLowering(MLIRContext *ctx, int64_t width)
      : OpConversionPattern(ctx), width(width) {}

  LogicalResult
  matchAndRewrite(KernelAttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (op->getNumResults() != 0)
      return rewriter.notifyMatchFailure(op, "not bufferized");
    KernelBuilder k(rewriter, op.getLoc(), width);
    AttentionEmitter emitter(k, op, adaptor);
    emitter.appendToCache(adaptor.getKey(), adaptor.getValue());
    // Tiles of kTileTokens tokens from that many tokens on, else one token
    // at a time (decode).
    Value tiled = arith::CmpIOp::create(
        rewriter, op.getLoc(), arith::CmpIPredicate::uge,
        k.dim(adaptor.getQuery(), 0), k.index(kTileTokens));
    auto branch = scf::IfOp::create(rewriter, op.getLoc(), tiled,
                                    /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPoint(branch.thenBlock()->getTerminator());
      emitter.emitTiles(kTileTokens);
      rewriter.setInsertionPoint(branch.elseBlock()->getTerminator());
      emitter.emitTiles(1);
    }
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
