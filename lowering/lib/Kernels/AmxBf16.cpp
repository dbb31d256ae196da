//===- AmxBf16.cpp - bf16 AMX tiles in the prefill GEMM -------------------===//
//
// The prefill GEMM of the integer path with bf16 AMX tiles (the `amx-bf16`
// option, vector width 16; amxBf16For: AMX-TILE and AMX-BF16). Where the
// int8 micro-kernel (IntegerAmx.cpp) must store and scale the i32 sums of
// every lane set (one weight group and one activation block) before the
// next set adds to them, here the scales are applied before the multiply:
// each panel of 16 weight rows is dequantized once per call to bf16 (the
// exact path's weights, scale * (code - zero), rounded to bf16), the
// activations are rounded from f32 to bf16, and `tdpbf16ps` accumulates
// their products in f32 tiles over the whole row. A tile of the output
// stays in its register from the first column to the last; there is no
// store, conversion or scaling per set.
//
// Layout. The weights are read with the integer plan's readers
// (loadSuperblockCodes: any width, dense or nested), in the plan's element
// order, so the activations are copied in that order too (one shuffle per
// superblock, as quantizeActivations does for int8 codes). `tdpbf16ps`
// computes C[m][n] += A[m][2k] B[k][2n] + A[m][2k+1] B[k][2n+1]. A is the
// weights: a panel is packed as [chunk][16 rows][32] bf16, each 32-column
// chunk of the plan's order one contiguous tile, with no transposition.
// B is the activations, copied once per call to [ceil(tokens / 16), cols x
// 16] bf16: per 16 tokens and chunk a contiguous 1 KiB tile whose row r
// holds the pair of elements 2r, 2r + 1 of each of the 16 tokens (a 16 x 16
// transposition of 4-byte pairs per superblock), padded with zero tokens to
// a multiple of 16. C is then 16 weight rows x 16 tokens.
//
// Micro-kernel: 2 x 2 tiles (two panels x 32 tokens): per chunk two tile
// loads of weights, two of activations and four `tdpbf16ps` into four f32
// accumulator tiles (all eight tile registers), carried across a block of
// kBfChunkBlock chunks; remainders take 2 x 1, 1 x 2 or 1 x 1. Between
// column blocks the sums of a block of kBfTokenBlock tokens x the run's
// panels wait in a buffer (stored and loaded once per column block). After
// the last column block each tile is transposed into y, for the tokens
// below the call's count.
//
// Arithmetic: y[t, n] = sum_k bf16(w[n, k]) * bf16(x[t, k]) in f32 (AMX
// sums a pair of products per step, docs/lowering.md states the bound the
// oracle checks). The weights are the exact path's, rounded to bf16 once.
//
//===----------------------------------------------------------------------===//

#include "IntegerPlan.h"

#include "mlir/Dialect/AMX/AMXDialect.h"

#include <numeric>

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::integer;

/// Tokens and weight rows per tile, and bf16 elements per tile row.
static constexpr int64_t kBfTile = 16, kBfDepth = 32;
/// Tokens per block of the sweep (a multiple of 2 x kBfTile), and column
/// chunks (of kBfDepth) per block of columns.
static constexpr int64_t kBfTokenBlock = 256, kBfChunkBlock = 8;

namespace {

/// A [d0, d1] buffer of `element`, d0 dynamic if `dynamicRows` is given.
Value allocBf16Buffer(KernelBuilder &k, int64_t d0, int64_t d1, Type element,
                      Value dynamicRows = nullptr) {
  if (dynamicRows)
    return memref::AllocOp::create(
        k.b, k.loc, MemRefType::get({ShapedType::kDynamic, d1}, element),
        ValueRange{dynamicRows}, k.b.getI64IntegerAttr(64));
  return memref::AllocOp::create(k.b, k.loc, MemRefType::get({d0, d1}, element),
                                 k.b.getI64IntegerAttr(64));
}

/// The activations of the call as B tiles of bf16 pairs (see the file
/// comment): [padded / 16, cols * 16], the tile of tokens 16b .. 16b + 15
/// and column chunk c at [b, c * 512], its row r holding pair r (elements
/// 2r, 2r + 1 of the chunk, the plan's order) of each of the 16 tokens.
Value copyBf16Activations(KernelBuilder &k, const IntegerPlan &plan, Value x,
                          Value numTokens, int64_t cols, Value padded) {
  Type bf16 = k.b.getBF16Type(), i32 = k.b.getI32Type();
  const int64_t s = plan.superblock;
  Value copy = allocBf16Buffer(k, 0, cols * kBfTile, bf16,
                               k.divui(padded, k.index(kBfTile)));
  Type xElement = cast<MemRefType>(x.getType()).getElementType();
  bool inOrder = llvm::equal(plan.order, llvm::seq<int64_t>(0, s));
  Value zero = arith::ConstantOp::create(
      k.b, k.loc,
      DenseElementsAttr::get(vecOf(s / 2, i32), k.b.getI32IntegerAttr(0)));
  Value last = k.subi(numTokens, k.index(1));
  k.parallelLoop(
      k.index(0), k.divui(padded, k.index(kBfTile)), [&](Value block) {
        k.forLoop(0, k.index(cols / s), [&](Value sb) {
          Value col = k.muli(sb, k.index(s));
          // Per token, the superblock's S/2 pairs (two bf16 in an i32), zero
          // for padding tokens.
          SmallVector<Value> pairs;
          for (int64_t i = 0; i < kBfTile; ++i) {
            Value t = k.addi(k.muli(block, k.index(kBfTile)), k.index(i));
            Value valid = arith::CmpIOp::create(
                k.b, k.loc, arith::CmpIPredicate::ult, t, numTokens);
            Value source = k.minui(t, last);
            SmallVector<Value> pieces;
            for (int64_t j = 0; j < s / kBfDepth; ++j) {
              Value xs = k.widen(vector::LoadOp::create(
                  k.b, k.loc, vecOf(kBfDepth, xElement), x,
                  ValueRange{source, k.addi(col, k.index(j * kBfDepth))}));
              pieces.push_back(arith::TruncFOp::create(
                  k.b, k.loc, vecOf(kBfDepth, bf16), xs));
            }
            Value v = concatVectors(k, pieces);
            if (!inOrder)
              v = vector::ShuffleOp::create(k.b, k.loc, v, v, plan.order);
            v = vector::BitCastOp::create(k.b, k.loc, vecOf(s / 2, i32), v);
            pairs.push_back(
                arith::SelectOp::create(k.b, k.loc, valid, v, zero));
          }
          // Pairs 16h .. 16h + 15 of the 16 tokens, transposed: row r of chunk
          // (col / 32 + h) holds pair r of every token.
          for (int64_t h = 0; h < s / kBfDepth; ++h) {
            SmallVector<Value> byToken;
            SmallVector<int64_t> lanes(kBfTile);
            std::iota(lanes.begin(), lanes.end(), h * kBfTile);
            for (Value v : pairs)
              byToken.push_back(
                  vector::ShuffleOp::create(k.b, k.loc, v, v, lanes));
            SmallVector<Value> byPair = transposeSquare(k, byToken);
            Value at =
                k.muli(k.addi(col, k.index(h * kBfDepth)), k.index(kBfTile));
            for (int64_t r = 0; r < kBfTile; ++r)
              vector::StoreOp::create(
                  k.b, k.loc,
                  vector::BitCastOp::create(k.b, k.loc, vecOf(kBfDepth, bf16),
                                            byPair[r]),
                  copy, ValueRange{block, k.addi(at, k.index(r * kBfDepth))});
          }
        });
      });
  return copy;
}

/// Dequantizes the 16 rows `rows` of the weights to bf16 into `dst`
/// ([chunks * 16, 32] bf16: chunk c of row r at row c * 16 + r, the plan's
/// element order), the A tiles of the micro-kernel.
void packBf16Panel(KernelBuilder &k, const QuantBuffers &q,
                   const IntegerPlan &plan, ArrayRef<Value> rows, Value dst) {
  Type f32 = k.b.getF32Type(), bf16 = k.b.getBF16Type(), i32 = k.b.getI32Type();
  const int64_t s = plan.superblock, lanes = plan.lanes;
  const int64_t partBytes = 4 * lanes;
  int64_t cols = q.type.getShape()[1];
  auto partF = vecOf(partBytes, f32);
  // Element e of a part belongs to lane e / 4.
  SmallVector<int64_t> laneOf(partBytes);
  for (int64_t e = 0; e < partBytes; ++e)
    laneOf[e] = e / 4;
  // The exact path's weights, in f32 (DESIGN.md): a * (v - z) with v the
  // served code in the parent's units (v = code * 2^shift, exact) and z the
  // zero point (2^(p-1) for symmetric weights), or for asymmetric two-level
  // scales a * v - m with m the minimum (groupOffset).
  bool twoLevelAsym = q.zeros && q.type.isTwoLevel();
  Value symZero;
  if (!q.zeros)
    symZero = k.splat(partF, k.f32(static_cast<float>(symmetricZero(q.type))));
  Value unit =
      k.splat(partF, k.f32(static_cast<float>(int64_t(1) << plan.shift)));
  // One-level zero points are read as groupLanes reads scales: the same
  // indices into the zeros' buffer.
  QuantBuffers zeroPoints = q;
  zeroPoints.scales = q.zeros;
  zeroPoints.zeros = nullptr;
  auto expand = [&](Value lanesValue) {
    return vector::ShuffleOp::create(k.b, k.loc, lanesValue, lanesValue,
                                     laneOf);
  };
  k.forLoop(0, k.index(cols / s), [&](Value sb) {
    Value chunk0 = k.muli(sb, k.index(s / kBfDepth));
    for (auto [r, n] : llvm::enumerate(rows)) {
      Value scales = expand(groupLanes(k, q, plan, n, sb));
      Value zero = symZero, minimum;
      if (twoLevelAsym)
        minimum = expand(groupLanes(k, q, plan, n, sb, /*offsets=*/true));
      else if (q.zeros)
        zero = expand(groupLanes(k, zeroPoints, plan, n, sb));
      for (auto [p, part] :
           llvm::enumerate(loadSuperblockCodes(k, q, plan, n, sb))) {
        Value v = k.mulf(arith::UIToFPOp::create(
                             k.b, k.loc, partF,
                             arith::ExtUIOp::create(
                                 k.b, k.loc, vecOf(partBytes, i32), part)),
                         unit);
        Value w = minimum ? k.subf(k.mulf(v, scales), minimum)
                          : k.mulf(k.subf(v, zero), scales);
        w = arith::TruncFOp::create(k.b, k.loc, vecOf(partBytes, bf16), w);
        // Part p holds plan positions 64p .. 64p + 63: two chunks.
        for (int64_t h = 0; h < partBytes / kBfDepth; ++h) {
          SmallVector<int64_t> half(kBfDepth);
          std::iota(half.begin(), half.end(), h * kBfDepth);
          Value c = k.addi(chunk0, k.index(p * (partBytes / kBfDepth) + h));
          vector::StoreOp::create(
              k.b, k.loc, vector::ShuffleOp::create(k.b, k.loc, w, w, half),
              dst,
              ValueRange{k.addi(k.muli(c, k.index(kBfTile)),
                                k.index(static_cast<int64_t>(r))),
                         k.index(0)});
        }
      }
    }
  });
}

} // namespace

void integer::lowerBf16Panels(KernelBuilder &k, const QuantBuffers &q,
                              const IntegerPlan &plan, Value x, Value out,
                              Value numTokens, int64_t panels) {
  assert(plan.lanes == kBfTile && "bf16 AMX panels are 16 rows");
  Type f32 = k.b.getF32Type(), bf16 = k.b.getBF16Type();
  const int64_t cols = q.type.getShape()[1], chunks = cols / kBfDepth;
  const int64_t panelRows = cols / 2;
  auto tileA = amx::TileType::get({kBfTile, kBfDepth}, bf16);
  auto tileC = amx::TileType::get({kBfTile, kBfTile}, f32);
  auto rowsF = vecOf(kBfTile, f32);
  Value padded = amxPaddedTokens(k, numTokens);
  Value acts = copyBf16Activations(k, plan, x, numTokens, cols, padded);
  Type outElement = cast<MemRefType>(out.getType()).getElementType();

  // Runs of consecutive panels (at most 64, an even number of panels each
  // where there are two or more), as in lowerPanels: a run packs its panels
  // into one buffer, then sweeps them block by block: kBfTokenBlock tokens
  // x kBfChunkBlock column chunks, a block's sums kept in `acc` between its
  // column blocks. Within a block, each pair of token tiles meets every
  // panel pair of the run while its activations (2 x 8 KiB) stay in L1.
  int64_t perRun = std::min(panels, static_cast<int64_t>(llvm::alignTo(
                                        std::max<int64_t>(2, panels / 64), 2)));
  int64_t runs = llvm::divideCeil(panels, perRun);
  int64_t kBlocks = llvm::divideCeil(chunks, kBfChunkBlock);
  const int64_t accTiles = kBfTokenBlock / kBfTile * perRun;
  k.parallelLoop(0, k.index(runs), [&](Value run) {
    Value first = k.muli(run, k.index(perRun));
    Value last = k.minui(k.addi(first, k.index(perRun)), k.index(panels));
    Value packed = allocBf16Buffer(k, perRun * panelRows, 2 * kBfTile, bf16);
    // The f32 sums of a token block, tile after tile: tile (i, j) (tokens
    // 16i.., panel j of the run) at rows (i * perRun + j) * 16.
    Value acc = allocBf16Buffer(k, accTiles * kBfTile, kBfTile, f32);
    auto rowsOf = [&](Value panel) {
      SmallVector<Value> rows;
      Value n0 = k.muli(panel, k.index(kBfTile));
      for (int64_t r = 0; r < kBfTile; ++r)
        rows.push_back(k.addi(n0, k.index(r)));
      return rows;
    };
    auto packedRow = [&](Value panel) {
      return k.muli(k.subi(panel, first), k.index(panelRows));
    };
    k.forLoop(first, last, 1, [&](Value panel) {
      SmallVector<OpFoldResult> offsets = {packedRow(panel),
                                           k.b.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes = {k.b.getIndexAttr(panelRows),
                                         k.b.getIndexAttr(2 * kBfTile)};
      SmallVector<OpFoldResult> strides(2, k.b.getIndexAttr(1));
      Value view = memref::SubViewOp::create(k.b, k.loc, packed, offsets, sizes,
                                             strides);
      packBf16Panel(k, q, plan, rowsOf(panel), view);
    });
    auto accRow = [&](Value tLocal, Value panel) {
      Value i = k.divui(tLocal, k.index(kBfTile));
      return k.muli(k.addi(k.muli(i, k.index(perRun)), k.subi(panel, first)),
                    k.index(kBfTile));
    };
    // The sums of tokens t0 .. t0 + 16 mt (block-local tl0) x panels p0 ..
    // p0 + nt over chunks [c0, c1): from zero (`fresh`) or from acc.
    auto microKernel = [&](Value t0, Value tl0, Value p0, int64_t mt,
                           int64_t nt, Value c0, Value c1, bool fresh) {
      Value block = k.divui(t0, k.index(kBfTile));
      SmallVector<Value> init;
      for (int64_t i = 0; i < mt; ++i)
        for (int64_t j = 0; j < nt; ++j)
          init.push_back(
              fresh ? amx::TileZeroOp::create(k.b, k.loc, tileC).getResult()
                    : amx::TileLoadOp::create(
                          k.b, k.loc, tileC, acc,
                          ValueRange{accRow(k.addi(tl0, k.index(i * kBfTile)),
                                            k.addi(p0, k.index(j))),
                                     k.index(0)})
                          .getResult());
      SmallVector<Value> sums = k.forLoopCarried(
          c0, c1, 1, init,
          [&](Value c, ValueRange carried) -> SmallVector<Value> {
            SmallVector<Value> lhs, rhs, next;
            Value at = k.muli(c, k.index(kBfDepth * kBfTile));
            for (int64_t i = 0; i < mt; ++i)
              lhs.push_back(amx::TileLoadOp::create(
                  k.b, k.loc, tileA, acts,
                  ValueRange{k.addi(block, k.index(i)), at},
                  k.index(kBfDepth)));
            for (int64_t j = 0; j < nt; ++j)
              rhs.push_back(amx::TileLoadOp::create(
                  k.b, k.loc, tileA, packed,
                  ValueRange{k.addi(packedRow(k.addi(p0, k.index(j))),
                                    k.muli(c, k.index(kBfTile))),
                             k.index(0)}));
            // C[row][token] += sum over pairs of weights x activations.
            for (int64_t i = 0; i < mt; ++i)
              for (int64_t j = 0; j < nt; ++j)
                next.push_back(amx::TileMulFOp::create(
                    k.b, k.loc, tileC, rhs[j], lhs[i], carried[i * nt + j]));
            return next;
          });
      for (int64_t i = 0; i < mt; ++i)
        for (int64_t j = 0; j < nt; ++j)
          amx::TileStoreOp::create(
              k.b, k.loc, acc,
              ValueRange{accRow(k.addi(tl0, k.index(i * kBfTile)),
                                k.addi(p0, k.index(j))),
                         k.index(0)},
              sums[i * nt + j]);
    };
    Value numBlocks = k.divui(k.addi(numTokens, k.index(kBfTokenBlock - 1)),
                              k.index(kBfTokenBlock));
    Value pairsEnd = k.addi(
        first, k.muli(k.divui(k.subi(last, first), k.index(2)), k.index(2)));
    k.forLoop(k.index(0), numBlocks, 1, [&](Value b) {
      Value tBegin = k.muli(b, k.index(kBfTokenBlock));
      Value tEnd = k.minui(k.addi(tBegin, k.index(kBfTokenBlock)), numTokens);
      Value tPairs = k.addi(
          tBegin, k.muli(k.divui(k.subi(tEnd, tBegin), k.index(2 * kBfTile)),
                         k.index(2 * kBfTile)));
      // The column chunks [c0, c1) of every panel and token of the block.
      auto columns = [&](Value c0, Value c1, bool fresh) {
        auto sweepPanels = [&](Value t0, int64_t mt) {
          // Runs of one panel (a weight of 16 to 31 rows) have no pairs.
          if (perRun >= 2)
            k.forLoop(first, pairsEnd, 2, [&](Value p0) {
              microKernel(t0, k.subi(t0, tBegin), p0, mt, 2, c0, c1, fresh);
            });
          k.forLoop(pairsEnd, last, 1, [&](Value p0) {
            microKernel(t0, k.subi(t0, tBegin), p0, mt, 1, c0, c1, fresh);
          });
        };
        k.forLoop(tBegin, tPairs, 2 * kBfTile,
                  [&](Value t0) { sweepPanels(t0, 2); });
        k.forLoop(tPairs, tEnd, kBfTile, [&](Value t0) { sweepPanels(t0, 1); });
      };
      columns(k.index(0), k.index(std::min(kBfChunkBlock, chunks)), true);
      k.forLoop(k.index(1), k.index(kBlocks), 1, [&](Value kb) {
        Value c0 = k.muli(kb, k.index(kBfChunkBlock));
        columns(c0,
                k.minui(k.addi(c0, k.index(kBfChunkBlock)), k.index(chunks)),
                false);
      });
      // The block's sums to y, each tile transposed (its rows are weight
      // rows); tokens past numTokens are padding.
      k.forLoop(tBegin, tEnd, kBfTile, [&](Value t0) {
        Value tl = k.subi(t0, tBegin);
        k.forLoop(first, last, 1, [&](Value panel) {
          SmallVector<Value> byRow;
          for (int64_t r = 0; r < kBfTile; ++r)
            byRow.push_back(vector::LoadOp::create(
                k.b, k.loc, rowsF, acc,
                ValueRange{k.addi(accRow(tl, panel), k.index(r)), k.index(0)}));
          SmallVector<Value> byToken = transposeSquare(k, byRow);
          Value n = k.muli(panel, k.index(kBfTile));
          for (int64_t e = 0; e < kBfTile; ++e) {
            Value t = k.addi(t0, k.index(e));
            Value valid = arith::CmpIOp::create(
                k.b, k.loc, arith::CmpIPredicate::ult, t, tEnd);
            scf::IfOp::create(
                k.b, k.loc, valid, [&](OpBuilder &b, Location loc) {
                  if (outElement.isF32())
                    vector::StoreOp::create(k.b, k.loc, byToken[e], out,
                                            ValueRange{t, n});
                  else
                    for (int64_t c = 0; c < kBfTile; ++c)
                      k.store(
                          vector::ExtractOp::create(k.b, k.loc, byToken[e], c),
                          out, {t, k.addi(n, k.index(c))});
                  scf::YieldOp::create(b, loc);
                });
          }
        });
      });
    });
    memref::DeallocOp::create(k.b, k.loc, packed);
    memref::DeallocOp::create(k.b, k.loc, acc);
  });
  memref::DeallocOp::create(k.b, k.loc, acts);
}
