//===- IntegerPanels.cpp - Prefill GEMM of the integer matmul path -------===//
//
// The integer path of qopt.kernel_matmul for calls with many tokens
// (prefill): a packed GEMM. The weight rows are taken in *panels* of L rows
// (L = plan.lanes, the i32 lanes of one vector: 16 on 512-bit vectors, 8
// on 256-bit ones). Once per call, each panel's codes are unpacked from
// their storage form (any width, dense or nested, IntegerPlan.cpp) and
// interleaved: chunk j (four codes) of superblock sb holds, in lane r, the
// four codes of row n0 + r, so one vector load gives the same four columns
// of L rows. The panel's weight scales and zero-point factors are
// transposed the same way, to one vector of L rows per group. The codes
// of a 4096-column panel take 64 KiB (176 KiB at 11008 columns): the
// micro-kernel sweeps them from L2. A thread packs its run of panels
// first, then takes the tokens in blocks of 128, each block over all the
// run's panels, so that a block's activations stay in L2 too.
//
// Micro-kernel. A tile of T tokens (8 with 512-bit vectors, 4 with 256-bit
// ones: 2T accumulators) x L rows: per chunk, one load of the panel's codes
// and, per token, a broadcast of its four activation codes and one
// `vpdpbusd` into the token's i32 accumulator. The chunks of a superblock
// that share one weight group and one activation block (a *lane set*,
// IntegerPlan's order) accumulate together; then, per token, the i32 sums
// are converted and scaled by that set's weight scales (a vector over the
// rows) times the token's activation scale, into f32 accumulators. After
// the last superblock the zero-point terms are added group by group (the
// same groupSums as the row-wise kernel), and y[t, n0 .. n0 + L) is stored
// as one vector. Compared with the row-wise kernel (one conversion, multiply
// and FMA per vpdpbusd, a horizontal reduction per output), the float work
// is divided by the chunks per set (8 for groups of 32 on 512-bit vectors)
// and no reduction remains.
//
// With the `amx` option (vector width 16) the micro-kernel is AMX tiles
// instead (IntegerAmx.cpp): 16 tokens x the panel's 16 rows per tile, the
// packed rows of a superblock in lane-set order.
//
// The arithmetic is the integer path's definition (docs/lowering.md): the
// same integer sums, the same f32 scale products; only the order of the
// f32 additions differs from the row-wise kernel.
//
//===----------------------------------------------------------------------===//

#include "IntegerPlan.h"

#include <numeric>

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::integer;

namespace {

/// A vector<4L x i8> that repeats the four activation codes at
/// codes[t, col .. col + 4).
Value broadcastWord(KernelBuilder &k, Value codes, Value t, Value col,
                    int64_t lanes) {
  Type i8 = k.b.getI8Type(), i32 = k.b.getI32Type();
  Value bytes = vector::LoadOp::create(k.b, k.loc, vecOf(4, i8), codes,
                                       ValueRange{t, col});
  Value word = vector::ExtractOp::create(
      k.b, k.loc, vector::BitCastOp::create(k.b, k.loc, vecOf(1, i32), bytes),
      0);
  return vector::BitCastOp::create(k.b, k.loc, vecOf(4 * lanes, i8),
                                   k.splat(vecOf(lanes, i32), word));
}

/// vector.from_elements of f32 scalars.
Value fromScalars(KernelBuilder &k, ArrayRef<Value> values) {
  return vector::FromElementsOp::create(
      k.b, k.loc, vecOf(static_cast<int64_t>(values.size()), k.b.getF32Type()),
      values);
}

} // namespace

SmallVector<Value> integer::transposeSquare(KernelBuilder &k,
                                            SmallVector<Value> rows) {
  int64_t n = rows.size();
  for (int64_t b = n / 2; b >= 1; b /= 2) {
    SmallVector<int64_t> low(n), high(n);
    for (int64_t p = 0; p < n; ++p) {
      low[p] = (p & b) ? n + p - b : p;
      high[p] = (p & b) ? n + p : p + b;
    }
    for (int64_t i = 0; i < n; ++i) {
      if (i & b)
        continue;
      Value a = rows[i], c = rows[i + b];
      rows[i] = vector::ShuffleOp::create(k.b, k.loc, a, c, low);
      rows[i + b] = vector::ShuffleOp::create(k.b, k.loc, a, c, high);
    }
  }
  return rows;
}

SmallVector<SmallVector<int64_t>>
integer::panelLaneSets(const IntegerPlan &plan) {
  int64_t span = std::min(plan.group, kBlock);
  SmallVector<SmallVector<int64_t>> sets(plan.superblock / span);
  for (int64_t word = 0; word < plan.superblock / 4; ++word)
    sets[plan.order[4 * word] / span].push_back(word);
  return sets;
}

SetScales integer::panelSetScales(KernelBuilder &k, const IntegerPlan &plan,
                                  const PanelPack &pack, Value sb,
                                  ArrayRef<int64_t> setWords) {
  int64_t first = setWords.front();
  Value col = k.muli(sb, k.index(plan.superblock));
  Value group =
      k.divui(k.addi(col, k.index(plan.order[4 * first])), k.index(plan.group));
  Value weights =
      vector::LoadOp::create(k.b, k.loc, vecOf(plan.lanes, k.b.getF32Type()),
                             pack.scales, ValueRange{group, k.index(0)});
  Value column =
      k.addi(k.muli(sb, k.index(plan.lanes)), k.index(first % plan.lanes));
  return {weights, column};
}

void integer::finishPanelTile(KernelBuilder &k, const Activations &act,
                              const PanelPack &pack, Value out,
                              ArrayRef<Value> tokens, SmallVector<Value> acc,
                              int64_t numGroups, ArrayRef<Value> rows,
                              Value numTokens) {
  int64_t tile = tokens.size(), rowsPer = rows.size();
  auto rowsF = vecOf(rowsPer, k.b.getF32Type());
  // Zero-point terms: sum over groups of sw * z * groupSums[t, g] (signed
  // codes hold them in their integer sums). Tokens past numTokens read the
  // last token's sums and are not stored.
  if (!pack.signedCodes) {
    SmallVector<Value> read(tokens);
    if (numTokens)
      for (Value &t : read)
        t = k.minui(t, k.subi(numTokens, k.index(1)));
    acc = k.forLoopCarried(
        k.index(0), k.index(numGroups), 1, acc,
        [&](Value g, ValueRange carried) -> SmallVector<Value> {
          Value z = vector::LoadOp::create(k.b, k.loc, rowsF, pack.zeros,
                                           ValueRange{g, k.index(0)});
          SmallVector<Value> next;
          for (int64_t i = 0; i < tile; ++i) {
            Value sum = memref::LoadOp::create(k.b, k.loc, act.groupSums,
                                               ValueRange{read[i], g});
            next.push_back(vector::FMAOp::create(
                k.b, k.loc, z, k.splat(rowsF, sum), carried[i]));
          }
          return next;
        });
  }
  Type outElement = cast<MemRefType>(out.getType()).getElementType();
  for (int64_t i = 0; i < tile; ++i) {
    auto store = [&] {
      if (outElement.isF32()) {
        vector::StoreOp::create(k.b, k.loc, acc[i], out,
                                ValueRange{tokens[i], rows.front()});
        return;
      }
      for (int64_t r = 0; r < rowsPer; ++r)
        k.store(vector::ExtractOp::create(k.b, k.loc, acc[i], r), out,
                {tokens[i], rows[r]});
    };
    if (!numTokens) {
      store();
      continue;
    }
    Value valid = arith::CmpIOp::create(k.b, k.loc, arith::CmpIPredicate::ult,
                                        tokens[i], numTokens);
    scf::IfOp::create(k.b, k.loc, valid, [&](OpBuilder &b, Location loc) {
      store();
      scf::YieldOp::create(b, loc);
    });
  }
}

void integer::lowerPanels(KernelBuilder &k, const QuantBuffers &q,
                          const IntegerPlan &plan, const Activations &act,
                          Value out, Value numTokens, IntDot isa,
                          int64_t panels) {
  const int64_t rowsPer = plan.lanes, s = plan.superblock, words = s / 4;
  int64_t cols = q.type.getShape()[1];
  int64_t numSuper = cols / s, numGroups = cols / plan.group;
  SmallVector<SmallVector<int64_t>> sets = panelLaneSets(plan);
  int64_t numSets = sets.size();
  Type f32 = k.b.getF32Type(), i8 = k.b.getI8Type(), i32 = k.b.getI32Type();
  auto rowsF = vecOf(rowsPer, f32);
  auto rowsI = vecOf(rowsPer, i32);
  auto chunk = vecOf(4 * rowsPer, i8);
  auto alloc = [&](int64_t d0, int64_t d1, Type element) {
    return memref::AllocOp::create(k.b, k.loc,
                                   MemRefType::get({d0, d1}, element),
                                   k.b.getI64IntegerAttr(64))
        .getResult();
  };
  // Tokens per micro-kernel tile: T i32 and T f32 accumulators, with room
  // for the codes and the broadcasts (32 registers with AVX-512, 16 with
  // AVX2).
  const int64_t tileTokens = k.width >= 16 ? 8 : 4;
  // Tokens per block: a multiple of the AMX tile's 16 and of tileTokens.
  constexpr int64_t kTokenBlock = 128;

  // The parallel loop runs over runs of consecutive panels (at most 64
  // runs), each packing all its panels into buffers it allocates once (a
  // buffer of more than 128 KiB per panel would otherwise be mapped and
  // faulted in anew for every panel), then sweeping them with the tokens
  // kTokenBlock at a time. Against every token per panel, the blocks keep
  // 512 KiB of activations (4096 columns) in L2 instead of streaming all
  // of them from L3 for every panel: q8g32 4096 x 4096, M = 512, one
  // thread, 61.3 -> 50.1 ms (AMX) and 73.5 -> 55.6 ms (VNNI) when each
  // block even packed its panels again (docs/lowering.md, Stop 29).
  int64_t perRun = std::max<int64_t>(1, panels / 64);
  int64_t runs = llvm::divideCeil(panels, perRun);
  // With AMX tiles the packed rows of a superblock go set by set (the
  // activations' copy likewise), so that a lane set is one tile of each.
  SmallVector<int64_t> packedRow(words);
  std::iota(packedRow.begin(), packedRow.end(), 0);
  Value amxCodes;
  if (plan.amx) {
    packedRow = amxWordRows(plan);
    amxCodes = amxActivations(k, plan, act.codes, numTokens, cols);
  }
  // AMX multiplies signed by signed bytes too (tdpbssd), so symmetric
  // weights' codes are packed less their zero point, 2^(p-1) in the served
  // codes' units (2^(r-1): they fit in a signed byte), and the tiles need
  // no zero-point terms: per token and group one FMA less beside the
  // three (convert, multiply, FMA) of every lane set.
  const bool signedCodes = plan.amx && !q.zeros;
  Value codeOffset;
  if (signedCodes)
    codeOffset = arith::ConstantOp::create(
        k.b, k.loc,
        DenseElementsAttr::get(vecOf(4 * rowsPer, i8),
                               k.b.getI8IntegerAttr(static_cast<int8_t>(
                                   symmetricZero(q.type) >> plan.shift))));
  k.parallelLoop(0, k.index(runs), [&](Value run) {
    // Pack, once per call, every panel of the run: codes [superblock * L +
    // chunk, 4L]; per group, the weight scales and the zero-point factors
    // (scale * zero; the scales themselves for symmetric weights, whose
    // zero is in the group sums) [group, L]; panel after panel.
    Value first = k.muli(run, k.index(perRun));
    Value last = k.minui(k.addi(first, k.index(perRun)), k.index(panels));
    Value runCodes = alloc(perRun * numSuper * words, 4 * rowsPer, i8);
    Value runScales = alloc(perRun * numGroups, rowsPer, f32);
    Value runZeros =
        q.zeros ? alloc(perRun * numGroups, rowsPer, f32) : runScales;
    // The AMX accumulator tile goes through memory to be scaled.
    Value amxSums;
    if (plan.amx)
      amxSums = alloc(amxSumsRows(plan), rowsPer, i32);
    // Panel `panel`'s part of the run's buffers, and its rows.
    auto panelOf = [&](Value panel, SmallVector<Value> &rows) {
      Value n0 = k.muli(panel, k.index(rowsPer));
      rows.clear();
      for (int64_t r = 0; r < rowsPer; ++r)
        rows.push_back(k.addi(n0, k.index(r)));
      Value local = k.subi(panel, first);
      auto view = [&](Value buffer, int64_t extent, int64_t width) {
        SmallVector<OpFoldResult> offsets = {k.muli(local, k.index(extent)),
                                             k.b.getIndexAttr(0)};
        SmallVector<OpFoldResult> sizes = {k.b.getIndexAttr(extent),
                                           k.b.getIndexAttr(width)};
        SmallVector<OpFoldResult> strides(2, k.b.getIndexAttr(1));
        return memref::SubViewOp::create(k.b, k.loc, buffer, offsets, sizes,
                                         strides)
            .getResult();
      };
      Value scales = view(runScales, numGroups, rowsPer);
      return PanelPack{view(runCodes, numSuper * words, 4 * rowsPer), scales,
                       q.zeros ? view(runZeros, numGroups, rowsPer) : scales,
                       signedCodes};
    };
    k.forLoop(first, last, 1, [&](Value panel) {
      SmallVector<Value> rows;
      PanelPack pack = panelOf(panel, rows);
      Value codes = pack.codes, scales = pack.scales, zeros = pack.zeros;
      k.forLoop(0, k.index(numSuper), [&](Value sb) {
        SmallVector<SmallVector<Value>> byPart(plan.parts);
        for (Value n : rows)
          for (auto [p, part] :
               llvm::enumerate(loadSuperblockCodes(k, q, plan, n, sb)))
            byPart[p].push_back(vector::BitCastOp::create(
                k.b, k.loc, rowsI,
                signedCodes ? k.subi(part, codeOffset) : part));
        for (int64_t p = 0; p < plan.parts; ++p) {
          SmallVector<Value> chunks = transposeSquare(k, byPart[p]);
          Value base = k.muli(sb, k.index(words));
          for (int64_t j = 0; j < rowsPer; ++j)
            vector::StoreOp::create(
                k.b, k.loc,
                vector::BitCastOp::create(k.b, k.loc, chunk, chunks[j]), codes,
                ValueRange{k.addi(base, k.index(packedRow[p * rowsPer + j])),
                           k.index(0)});
        }
      });
      // L groups at a time by the same transposition (group granularity),
      // then the rest group by group.
      int64_t fullGroups = 0;
      if (q.type.getGranularity() == Granularity::Group &&
          groupVectorOk(q.type, rowsPer))
        fullGroups = numGroups / rowsPer * rowsPer;
      if (fullGroups > 0)
        k.forLoop(k.index(0), k.index(fullGroups), rowsPer, [&](Value g0) {
          SmallVector<Value> sw, swz;
          for (Value n : rows) {
            sw.push_back(groupVector(k, q, /*offsets=*/false, n, g0, rowsPer));
            if (q.zeros)
              swz.push_back(
                  groupVector(k, q, /*offsets=*/true, n, g0, rowsPer));
          }
          for (auto [values, dst] :
               {std::pair(&sw, scales), std::pair(&swz, zeros)}) {
            if (values->empty())
              continue;
            SmallVector<Value> byGroup = transposeSquare(k, *values);
            for (int64_t j = 0; j < rowsPer; ++j)
              vector::StoreOp::create(
                  k.b, k.loc, byGroup[j], dst,
                  ValueRange{k.addi(g0, k.index(j)), k.index(0)});
          }
        });
      k.forLoop(k.index(fullGroups), k.index(numGroups), 1, [&](Value g) {
        Value col = k.muli(g, k.index(plan.group));
        SmallVector<Value> sw, swz;
        for (Value n : rows) {
          SmallVector<Value> idx = scaleIndices(k, q.type, {n, col});
          sw.push_back(groupScale(k, q, idx));
          if (q.zeros)
            swz.push_back(groupOffset(k, q, idx, sw.back()));
        }
        for (auto [values, dst] :
             {std::pair(&sw, scales), std::pair(&swz, zeros)})
          if (!values->empty())
            vector::StoreOp::create(k.b, k.loc, fromScalars(k, *values), dst,
                                    ValueRange{g, k.index(0)});
      });
    });
    // Then the tokens in blocks of kTokenBlock, each block over all the
    // run's panels: a block's activations stay in L2 while the panels
    // stream past them.
    Value numBlocks = k.divui(k.addi(numTokens, k.index(kTokenBlock - 1)),
                              k.index(kTokenBlock));
    k.forLoop(k.index(0), numBlocks, 1, [&](Value block) {
      Value tBegin = k.muli(block, k.index(kTokenBlock));
      Value tEnd = k.minui(k.addi(tBegin, k.index(kTokenBlock)), numTokens);
      k.forLoop(first, last, 1, [&](Value panel) {
        SmallVector<Value> rows;
        PanelPack pack = panelOf(panel, rows);
        Value codes = pack.codes;
        if (plan.amx) {
          amxPanel(k, plan, act, amxCodes, pack, amxSums, out, numTokens,
                   tBegin, tEnd, numGroups, rows);
          return;
        }
        // y[t0 .. t0 + tile, n0 .. n0 + L).
        auto tokenTile = [&](Value t0, int64_t tile) {
          SmallVector<Value> tokens;
          for (int64_t i = 0; i < tile; ++i)
            tokens.push_back(k.addi(t0, k.index(i)));
          Value zeroF = arith::ConstantOp::create(
              k.b, k.loc,
              DenseElementsAttr::get(rowsF, k.b.getF32FloatAttr(0)));
          Value zeroI = arith::ConstantOp::create(
              k.b, k.loc,
              DenseElementsAttr::get(rowsI, k.b.getI32IntegerAttr(0)));
          SmallVector<Value> acc = k.forLoopCarried(
              k.index(0), k.index(numSuper), 1, SmallVector<Value>(tile, zeroF),
              [&](Value sb, ValueRange carried) -> SmallVector<Value> {
                SmallVector<Value> facc(carried);
                Value col = k.muli(sb, k.index(s));
                Value chunkBase = k.muli(sb, k.index(words));
                for (int64_t set = 0; set < numSets; ++set) {
                  SmallVector<Value> iacc(tile, zeroI);
                  for (int64_t word : sets[set]) {
                    Value w = vector::LoadOp::create(
                        k.b, k.loc, chunk, codes,
                        ValueRange{k.addi(chunkBase, k.index(word)),
                                   k.index(0)});
                    Value at = k.addi(col, k.index(4 * word));
                    for (int64_t i = 0; i < tile; ++i)
                      iacc[i] = dotBytes(
                          k, isa, iacc[i], w,
                          broadcastWord(k, act.codes, tokens[i], at, rowsPer));
                  }
                  SetScales setScales =
                      panelSetScales(k, plan, pack, sb, sets[set]);
                  Value sw = setScales.weights;
                  for (int64_t i = 0; i < tile; ++i) {
                    Value sx = memref::LoadOp::create(
                        k.b, k.loc, act.scale,
                        ValueRange{tokens[i], setScales.activationColumn});
                    Value f =
                        arith::SIToFPOp::create(k.b, k.loc, rowsF, iacc[i]);
                    facc[i] = vector::FMAOp::create(
                        k.b, k.loc, f, k.mulf(sw, k.splat(rowsF, sx)), facc[i]);
                  }
                }
                return facc;
              });
          finishPanelTile(k, act, pack, out, tokens, acc, numGroups, rows);
        };
        Value tiled = k.addi(
            tBegin, k.muli(k.divui(k.subi(tEnd, tBegin), k.index(tileTokens)),
                           k.index(tileTokens)));
        k.forLoop(tBegin, tiled, tileTokens,
                  [&](Value t0) { tokenTile(t0, tileTokens); });
        k.forLoop(tiled, tEnd, 1, [&](Value t) { tokenTile(t, 1); });
      });
    });
    memref::DeallocOp::create(k.b, k.loc, runCodes);
    memref::DeallocOp::create(k.b, k.loc, runScales);
    if (q.zeros)
      memref::DeallocOp::create(k.b, k.loc, runZeros);
    if (amxSums)
      memref::DeallocOp::create(k.b, k.loc, amxSums);
  });
  if (amxCodes)
    memref::DeallocOp::create(k.b, k.loc, amxCodes);
}
