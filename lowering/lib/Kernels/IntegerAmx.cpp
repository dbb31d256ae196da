//===- IntegerAmx.cpp - AMX tiles in the integer prefill GEMM -------------===//
//
// The micro-kernel of the prefill GEMM (IntegerPanels.cpp) with AMX tiles
// (upstream `amx` dialect), where the `amx` option is on (amxFor: width 16
// with AMX-TILE and AMX-INT8). A panel is L = 16 weight rows; a tile of the
// output is 16 tokens x 16 rows of i32 sums.
//
// `tdpbsud` multiplies a tile A of signed bytes (16 rows of up to 64) by a
// tile B of unsigned bytes whose row r holds, for each of 16 columns, the
// four bytes r * 4 .. r * 4 + 3 of that column: exactly a run of W packed
// rows of the panel (four codes of each of its 16 rows). So A is 16
// tokens' activation codes of the same W words, B is the panel's codes of
// those words, and C[t][n] = sum over the 4W bytes of code * q. Symmetric
// weights' codes are packed less their zero point (lowerPanels), as signed
// bytes, and multiplied by tdpbssd: their sums need no zero-point terms.
//
// The integer sums of one lane set (one weight group and one activation
// block, IntegerPlan's order) must be scaled before the next set adds to
// them: each tdpbsud covers exactly one set (W = min(group, 32) / 4 words,
// K = 4W bytes), into a zeroed tile that is stored to memory, converted and
// multiplied by the set's weight scales (a vector over the rows) times each
// token's activation scale, into 16 f32 accumulators (one vector per
// token) that live across the superblocks. Tiles are not renamed: two sets
// are multiplied at a time, each with operand and accumulator tiles of its
// own, and a superblock's sums are scaled while the next superblock's
// multiply (two slots of sums). For both operands to be contiguous tiles,
// the words of each superblock are packed set by set (amxWordRows), in the
// panel's codes and in a copy of the activations made once per call
// (amxActivations) that keeps each set's bytes of 16 tokens side by side
// (rows `cols` bytes apart would fall into one L1 set), padded with zero
// tokens to a multiple of 16.
//
// The arithmetic is the integer path's definition (docs/lowering.md): the
// same integer sums and f32 scale products as the VNNI micro-kernel.
//
//===----------------------------------------------------------------------===//

#include "IntegerPlan.h"

#include "mlir/Dialect/AMX/AMXDialect.h"

#include <numeric>

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::integer;

/// Tokens (and weight rows) per tile.
static constexpr int64_t kTile = 16;
/// Lane sets multiplied into separate accumulator tiles at a time, their
/// operands loaded first: 2 x 3 of the 8 tile registers.
static constexpr int64_t kInFlight = 2;

int64_t integer::amxSumsRows(const IntegerPlan &plan) {
  return 2 * static_cast<int64_t>(panelLaneSets(plan).size()) * kTile;
}

SmallVector<int64_t> integer::amxWordRows(const IntegerPlan &plan) {
  SmallVector<int64_t> rows(plan.superblock / 4);
  int64_t next = 0;
  for (const SmallVector<int64_t> &set : panelLaneSets(plan))
    for (int64_t word : set)
      rows[word] = next++;
  return rows;
}

Value integer::amxPaddedTokens(KernelBuilder &k, Value numTokens) {
  return k.muli(k.divui(k.addi(numTokens, k.index(kTile - 1)), k.index(kTile)),
                k.index(kTile));
}

Value integer::amxActivations(KernelBuilder &k, const IntegerPlan &plan,
                              Value codes, Value numTokens, int64_t cols) {
  Type i8 = k.b.getI8Type(), i32 = k.b.getI32Type();
  int64_t s = plan.superblock, words = s / 4;
  Value padded = amxPaddedTokens(k, numTokens);
  int64_t span = 4 * panelLaneSets(plan).front().size();
  auto type = MemRefType::get({ShapedType::kDynamic, cols * kTile}, i8);
  Value copy = memref::AllocOp::create(
      k.b, k.loc, type, ValueRange{k.divui(padded, k.index(kTile))},
      k.b.getI64IntegerAttr(64));
  // Word w of a superblock moves to position rows[w].
  SmallVector<int64_t> rows = amxWordRows(plan), from(words);
  for (int64_t w = 0; w < words; ++w)
    from[rows[w]] = w;
  auto bytes = vecOf(s, i8), wordsType = vecOf(words, i32);
  Value zero = arith::ConstantOp::create(
      k.b, k.loc, DenseElementsAttr::get(bytes, k.b.getI8IntegerAttr(0)));
  Value last = k.subi(numTokens, k.index(1));
  k.parallelLoop(0, padded, [&](Value t) {
    Value valid = arith::CmpIOp::create(k.b, k.loc, arith::CmpIPredicate::ult,
                                        t, numTokens);
    Value source = k.minui(t, last);
    // Set j of a superblock at column col: bytes [(col + j * span) * 16 +
    // i * span, + span) of block t / 16, i = t % 16.
    Value block = k.divui(t, k.index(kTile));
    Value row = k.muli(k.remui(t, k.index(kTile)), k.index(span));
    k.forLoop(0, k.index(cols / s), [&](Value sb) {
      Value col = k.muli(sb, k.index(s));
      Value v = vector::LoadOp::create(k.b, k.loc, bytes, codes,
                                       ValueRange{source, col});
      Value w = vector::BitCastOp::create(k.b, k.loc, wordsType, v);
      w = vector::ShuffleOp::create(k.b, k.loc, w, w, from);
      v = vector::BitCastOp::create(k.b, k.loc, bytes, w);
      v = arith::SelectOp::create(k.b, k.loc, valid, v, zero);
      for (int64_t j = 0; j < s / span; ++j) {
        SmallVector<int64_t> lanes(span);
        std::iota(lanes.begin(), lanes.end(), j * span);
        Value part = vector::ShuffleOp::create(k.b, k.loc, v, v, lanes);
        Value at =
            k.addi(k.muli(k.addi(col, k.index(j * span)), k.index(kTile)), row);
        vector::StoreOp::create(k.b, k.loc, part, copy, ValueRange{block, at});
      }
    });
  });
  return copy;
}

void integer::amxPanel(KernelBuilder &k, const IntegerPlan &plan,
                       const Activations &act, Value amxCodes,
                       const PanelPack &pack, Value sums, Value out,
                       Value numTokens, Value tBegin, Value tEnd,
                       int64_t numGroups, ArrayRef<Value> rows) {
  assert(plan.lanes == kTile && rows.size() == kTile &&
         "AMX panels are 16 rows");
  Type f32 = k.b.getF32Type(), i8 = k.b.getI8Type(), i32 = k.b.getI32Type();
  const int64_t s = plan.superblock, words = s / 4, lanes = plan.lanes;
  int64_t cols = cast<MemRefType>(amxCodes.getType()).getShape()[1] / kTile;
  int64_t numSuper = cols / s;
  SmallVector<SmallVector<int64_t>> sets = panelLaneSets(plan);
  const int64_t setWords = sets.front().size();
  const int64_t numSets = sets.size();
  auto aType = amx::TileType::get({kTile, 4 * setWords}, i8);
  auto bType = amx::TileType::get({setWords, 4 * lanes}, i8);
  auto cType = amx::TileType::get({kTile, lanes}, i32);
  auto rowsF = vecOf(lanes, f32), rowsI = vecOf(lanes, i32);
  Value last = k.subi(numTokens, k.index(1));
  k.forLoop(tBegin, amxPaddedTokens(k, tEnd), kTile, [&](Value t0) {
    // Padding tokens read the last token's scales; they are not stored.
    Value block = k.divui(t0, k.index(kTile));
    SmallVector<Value> tokens, clamped;
    for (int64_t i = 0; i < kTile; ++i) {
      tokens.push_back(k.addi(t0, k.index(i)));
      clamped.push_back(k.minui(tokens.back(), last));
    }
    Value zeroF = arith::ConstantOp::create(
        k.b, k.loc, DenseElementsAttr::get(rowsF, k.b.getF32FloatAttr(0)));
    // The products of superblock sb into slot `slot` of the sums: up to
    // kInFlight sets at a time, operands loaded first so that every tile
    // of the group has a register of its own (tiles are not renamed: one
    // register reused set after set would serialize them).
    auto multiply = [&](Value sb, Value slot) {
      Value col = k.muli(sb, k.index(s));
      Value rowBase = k.muli(sb, k.index(words));
      Value slotRow = k.muli(slot, k.index(numSets * kTile));
      for (int64_t set0 = 0; set0 < numSets; set0 += kInFlight) {
        int64_t count = std::min(kInFlight, numSets - set0);
        SmallVector<Value> lhs, rhs, products;
        for (int64_t j = 0; j < count; ++j) {
          int64_t at = (set0 + j) * setWords;
          lhs.push_back(amx::TileLoadOp::create(
              k.b, k.loc, aType, amxCodes,
              ValueRange{block,
                         k.muli(k.addi(col, k.index(4 * at)), k.index(kTile))},
              k.index(4 * setWords)));
          rhs.push_back(amx::TileLoadOp::create(
              k.b, k.loc, bType, pack.codes,
              ValueRange{k.addi(rowBase, k.index(at)), k.index(0)}));
        }
        for (int64_t j = 0; j < count; ++j) {
          Value c = amx::TileZeroOp::create(k.b, k.loc, cType);
          // Activations signed, codes unsigned (tdpbsud) or signed
          // (tdpbssd: symmetric weights less their zero point).
          products.push_back(amx::TileMulIOp::create(
              k.b, k.loc, cType, lhs[j], rhs[j], c,
              /*isZextLhs=*/nullptr,
              /*isZextRhs=*/pack.signedCodes ? nullptr : k.b.getUnitAttr()));
        }
        for (int64_t j = 0; j < count; ++j)
          amx::TileStoreOp::create(
              k.b, k.loc, sums,
              ValueRange{k.addi(slotRow, k.index((set0 + j) * kTile)),
                         k.index(0)},
              products[j]);
      }
    };
    // facc[i] += sum * (sw * sx[i]) for every set of superblock sb, its
    // sums read from slot `slot`.
    auto scale = [&](Value sb, Value slot, SmallVector<Value> facc) {
      Value slotRow = k.muli(slot, k.index(numSets * kTile));
      for (int64_t set = 0; set < numSets; ++set) {
        SetScales scales = panelSetScales(k, plan, pack, sb, sets[set]);
        Value sw = scales.weights, laneCol = scales.activationColumn;
        for (int64_t i = 0; i < kTile; ++i) {
          Value sum = vector::LoadOp::create(
              k.b, k.loc, rowsI, sums,
              ValueRange{k.addi(slotRow, k.index(set * kTile + i)),
                         k.index(0)});
          Value sx = memref::LoadOp::create(k.b, k.loc, act.scale,
                                            ValueRange{clamped[i], laneCol});
          Value f = arith::SIToFPOp::create(k.b, k.loc, rowsF, sum);
          facc[i] = vector::FMAOp::create(
              k.b, k.loc, f, k.mulf(sw, k.splat(rowsF, sx)), facc[i]);
        }
      }
      return facc;
    };
    // Software-pipelined by one superblock: while the tiles of sb
    // multiply, the vector units scale the sums of sb - 1 (two slots).
    multiply(k.index(0), k.index(0));
    SmallVector<Value> acc = k.forLoopCarried(
        k.index(1), k.index(numSuper), 1, SmallVector<Value>(kTile, zeroF),
        [&](Value sb, ValueRange carried) -> SmallVector<Value> {
          Value slot = k.remui(sb, k.index(2));
          multiply(sb, slot);
          return scale(k.subi(sb, k.index(1)), k.subi(k.index(1), slot),
                       SmallVector<Value>(carried));
        });
    acc = scale(k.index(numSuper - 1), k.index((numSuper - 1) % 2), acc);
    finishPanelTile(k, act, pack, out, tokens, acc, numGroups, rows, numTokens);
  });
}
