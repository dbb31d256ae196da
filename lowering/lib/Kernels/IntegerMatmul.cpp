//===- IntegerMatmul.cpp - int8-activation quantized matmul -----*- C++ -*-===//
//
// The integer path of qopt.kernel_matmul (pass option `int8-activations`):
// the activations are quantized on the fly to int8, per block of 32
// elements, and each weight row meets them in integer dot products of u8
// codes and s8 activations (AVX-512 VNNI / AVX-VNNI `vpdpbusd`, or portable
// vector integer code), with the scale and zero-point corrections in f32.
// docs/lowering.md states the arithmetic; in short, for a block b of 32
// activations with a = max |x_k|:
//
//   sx_b = a / 127,  q_k = clamp(roundeven(x_k * (127 / a)), -127, 127)
//   y[t, n] = sum_b sw_b * (sx_b * sum_k code_k * q_k - z_b * sx_b * sum_k q_k)
//
// where code_k are the served codes (r bits) and sw, z the weight group's
// scale and zero point in units of the served codes (scale * 2^(p - r),
// zero / 2^(p - r)). Unlike the exact path, a 16-bit scale is not rounded
// into each weight (the product scale * (code - zero) is kept in f32).
//
// Layout. A *superblock* of S = 4 * L * P elements is P integer dots of L
// i32 lanes (P parts). Its codes are read in the order the storage makes
// cheap: a dense c-bit row (c | 8) as its S*c/8 bytes split into 8/c parts
// (bits s*c.. of every byte); with P = 8/c parts of 4L bytes each (a 2-bit
// row: 256 elements), lane l of every part holds codes of one weight group
// and one activation block (elements 16l .. 16l + 15 for 2 bits). Odd
// widths whose 3-byte units would straddle groups of 16 gather each code
// from its 16-bit window instead, in the order lane l of part p = elements
// l * 4P + 4p .. + 3. Nested bit planes and 8-bit rows: element order, one
// part. The activations of each matmul call are quantized once into that
// same order, so the products pair up without shuffling the weights; a
// per-lane vector of the activation scale of each lane's 32-block is
// stored beside the codes. Each weight row then costs, per superblock: the
// code unpack, and per token P chained `vpdpbusd` (the parts of a lane
// share its group and block, so they sum in i32), a conversion, a multiply
// and an FMA. Tokens are processed in tiles that share the unpacked codes.
// The zero-point terms, sum over groups of sw * z * sx * sum(q), are a
// short f32 dot product over the row's groups after the main loop.
//
// This row-wise kernel serves decode and short calls; from `panelTokens`
// tokens on, whole panels of rows take the packed GEMM of IntegerPanels.cpp
// on the same quantized activations.
//
//===----------------------------------------------------------------------===//

#include "IntegerPlan.h"

#include "qopt/Conversion/Patterns.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <numeric>

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::integer;

namespace {

/// Quantizes x (f32 [tokens, cols]) for `plan`. `symZero` is the parent
/// zero point of symmetric weights (folded into the group sums), or nullopt
/// for asymmetric ones.
Activations quantizeActivations(KernelBuilder &k, const IntegerPlan &plan,
                                Value x, Value numTokens, int64_t cols,
                                std::optional<float> symZero) {
  Type f32 = k.b.getF32Type(), i8 = k.b.getI8Type(), i32 = k.b.getI32Type();
  int64_t numSuper = cols / plan.superblock;
  int64_t numGroups = cols / plan.group;
  auto alloc = [&](int64_t columns, Type element) {
    auto type = MemRefType::get({ShapedType::kDynamic, columns}, element);
    return memref::AllocOp::create(k.b, k.loc, type, ValueRange{numTokens},
                                   k.b.getI64IntegerAttr(64))
        .getResult();
  };
  Activations act{alloc(cols, i8), alloc(numSuper * plan.lanes, f32),
                  alloc(numGroups, f32)};
  auto blockF = vecOf(kBlock, f32);
  auto blockI = vecOf(kBlock, i32);
  int64_t blocks = plan.superblock / kBlock;
  float scaleFactor = static_cast<float>(1u << plan.shift);
  float sumFactor = symZero ? -*symZero : -1.0f;
  int64_t blocksPerGroup = plan.group / kBlock;
  k.parallelLoop(0, numTokens, [&](Value t) {
    // Group sums accumulate block by block from zero.
    k.forLoop(0, k.index(numGroups), [&](Value g) {
      memref::StoreOp::create(k.b, k.loc, k.f32(0.0f), act.groupSums,
                              ValueRange{t, g});
    });
    k.forLoop(0, k.index(numSuper), [&](Value sb) {
      Value base = k.muli(sb, k.index(plan.superblock));
      SmallVector<Value> codes, scales;
      for (int64_t j = 0; j < blocks; ++j) {
        Value col = k.addi(base, k.index(j * kBlock));
        Value xs = k.widen(vector::LoadOp::create(
            k.b, k.loc,
            vecOf(kBlock, cast<MemRefType>(x.getType()).getElementType()), x,
            ValueRange{t, col}));
        // a = max |x| (NaN propagates into the scale, so into y).
        Value amax = vector::ReductionOp::create(
            k.b, k.loc, vector::CombiningKind::MAXIMUMF,
            math::AbsFOp::create(k.b, k.loc, xs));
        Value sx = k.divf(amax, k.f32(127.0f));
        Value isZero = arith::CmpFOp::create(
            k.b, k.loc, arith::CmpFPredicate::OEQ, amax, k.f32(0.0f));
        Value inv = arith::SelectOp::create(k.b, k.loc, isZero, k.f32(0.0f),
                                            k.divf(k.f32(127.0f), amax));
        Value scaled = math::RoundEvenOp::create(
            k.b, k.loc, k.mulf(xs, k.splat(blockF, inv)));
        // Clamp, mapping NaN to a finite code (fptosi of NaN is poison).
        scaled = arith::MaxNumFOp::create(k.b, k.loc, scaled,
                                          k.splat(blockF, k.f32(-127.0f)));
        scaled = arith::MinNumFOp::create(k.b, k.loc, scaled,
                                          k.splat(blockF, k.f32(127.0f)));
        Value q = arith::FPToSIOp::create(k.b, k.loc, blockI, scaled);
        codes.push_back(
            arith::TruncIOp::create(k.b, k.loc, vecOf(kBlock, i8), q));
        scales.push_back(sx);
        // groupSums[t, col / G] += factor * sx * sum(q): one sum per block,
        // or per group of 16 when a block holds two.
        Value g = k.divui(col, k.index(plan.group));
        int64_t span = std::min(plan.group, kBlock);
        for (int64_t h = 0; h < kBlock / span; ++h) {
          Value part = q;
          if (span < kBlock) {
            SmallVector<int64_t> lanes(span);
            std::iota(lanes.begin(), lanes.end(), h * span);
            part = vector::ShuffleOp::create(k.b, k.loc, q, q, lanes);
          }
          Value sum = arith::SIToFPOp::create(
              k.b, k.loc, f32,
              vector::ReductionOp::create(k.b, k.loc,
                                          vector::CombiningKind::ADD, part));
          Value add = k.mulf(k.f32(sumFactor), k.mulf(sx, sum));
          Value at = k.addi(g, k.index(h));
          if (blocksPerGroup > 1)
            add = k.addf(memref::LoadOp::create(k.b, k.loc, act.groupSums,
                                                ValueRange{t, at}),
                         add);
          memref::StoreOp::create(k.b, k.loc, add, act.groupSums,
                                  ValueRange{t, at});
        }
      }
      Value all = concatVectors(k, codes);
      Value ordered =
          vector::ShuffleOp::create(k.b, k.loc, all, all, plan.order);
      vector::StoreOp::create(k.b, k.loc, ordered, act.codes,
                              ValueRange{t, base});
      // Lane i holds the scale of its 32-block, times 2^shift.
      Value v = vector::FromElementsOp::create(k.b, k.loc, vecOf(blocks, f32),
                                               scales);
      Value lanes =
          vector::ShuffleOp::create(k.b, k.loc, v, v, plan.blockOfLane);
      lanes =
          k.mulf(lanes, k.splat(vecOf(plan.lanes, f32), k.f32(scaleFactor)));
      vector::StoreOp::create(k.b, k.loc, lanes, act.scale,
                              ValueRange{t, k.muli(sb, k.index(plan.lanes))});
    });
  });
  return act;
}

/// The zero-point correction of y[t, n]: sum over the weight groups g of
/// scale[n, g] * groupSums[t, g] (times zero[n, g] for asymmetric weights,
/// or the minimum of two-level ones; symmetric ones have the zero folded
/// into the sums), vectorized over groups.
Value groupCorrection(KernelBuilder &k, const QuantBuffers &q,
                      const IntegerPlan &plan, Value groupSums, Value n,
                      Value t, int64_t numGroups) {
  auto term = [&](Value g) {
    SmallVector<Value> idx =
        scaleIndices(k, q.type, {n, k.muli(g, k.index(plan.group))});
    Value w = groupScale(k, q, idx);
    if (q.zeros)
      w = groupOffset(k, q, idx, w);
    return k.mulf(
        w, memref::LoadOp::create(k.b, k.loc, groupSums, ValueRange{t, g}));
  };
  int64_t w = k.width;
  if (q.type.getGranularity() != Granularity::Group || numGroups < w ||
      !groupVectorOk(q.type, w)) {
    Value total = k.f32(0.0f);
    for (int64_t g = 0; g < numGroups; ++g)
      total = k.addf(total, term(k.index(g)));
    return total;
  }
  auto vecF = vecOf(w, k.b.getF32Type());
  Value zero = arith::ConstantOp::create(
      k.b, k.loc, DenseElementsAttr::get(vecF, k.b.getF32FloatAttr(0)));
  int64_t full = numGroups / w * w;
  Value acc = k.forLoopCarried(
      k.index(0), k.index(full), w, {zero},
      [&](Value g, ValueRange carried) -> SmallVector<Value> {
        Value sw = groupVector(k, q, /*offsets=*/bool(q.zeros), n, g, w);
        Value sums = k.vectorLoad(groupSums, {t, g});
        return {vector::FMAOp::create(k.b, k.loc, sw, sums, carried[0])};
      })[0];
  Value tail = k.f32(0.0f);
  for (int64_t g = full; g < numGroups; ++g)
    tail = k.addf(tail, term(k.index(g)));
  return vector::ReductionOp::create(k.b, k.loc, vector::CombiningKind::ADD,
                                     acc, tail, arith::FastMathFlags::reassoc);
}

} // namespace

Value integer::dotBytes(KernelBuilder &k, IntDot isa, Value acc, Value u,
                        Value s) {
  auto accType = cast<VectorType>(acc.getType());
  int64_t lanes = accType.getNumElements();
  if (isa == IntDot::Vnni) {
    StringRef name = lanes == 16 ? "llvm.x86.avx512.vpdpbusd.512"
                                 : "llvm.x86.avx512.vpdpbusd.256";
    return LLVM::CallIntrinsicOp::create(k.b, k.loc, accType,
                                         k.b.getStringAttr(name),
                                         ValueRange{acc, u, s})
        .getResult(0);
  }
  // Portable: widen, multiply, and add each lane's four products.
  auto wide = vecOf(4 * lanes, k.b.getI32Type());
  Value products = k.muli(arith::ExtUIOp::create(k.b, k.loc, wide, u),
                          arith::ExtSIOp::create(k.b, k.loc, wide, s));
  Value sum = acc;
  for (int64_t j = 0; j < 4; ++j) {
    SmallVector<int64_t> mask;
    for (int64_t i = 0; i < lanes; ++i)
      mask.push_back(4 * i + j);
    sum = k.addi(
        sum, vector::ShuffleOp::create(k.b, k.loc, products, products, mask));
  }
  return sum;
}

bool mlir::qopt::integerMatmulApplies(QTensorType type, int64_t width) {
  return planFor(type, width).has_value();
}

bool mlir::qopt::lowerIntegerMatmul(KernelBuilder &k, const QuantBuffers &q,
                                    Value x, Value out, Value numTokens,
                                    const IntegerMatmulOptions &options) {
  std::optional<IntegerPlan> maybePlan = planFor(q.type, k.width);
  if (!maybePlan || q.unpacked || q.width)
    return false;
  IntegerPlan &plan = *maybePlan;
  plan.gfni = options.gfni && gfniApplies(q.type, plan);
  // AMX tiles hold 16 rows of 64 bytes: 16 weight rows of four codes.
  plan.amx = options.amx && plan.lanes == 16;
  // bf16 tiles: 16 rows of 32 elements, pairs of 16 weight rows.
  plan.amxBf16 = options.amxBf16 && plan.lanes == 16;
  IntDot isa = options.intDot;
  int64_t tokenTile = options.tokenTile, panelTokens = options.panelTokens;
  // The served width (a nested tensor's unsliced type has its parent's).
  bool prefetchNext =
      static_cast<int64_t>(q.type.getBits()) <= options.decodePrefetchBits;
  int64_t rows = q.type.getShape()[0], cols = q.type.getShape()[1];
  int64_t numSuper = cols / plan.superblock;
  // From `panelTokens` tokens on, whole panels of L rows take the packed
  // GEMM (IntegerPanels.cpp, or AmxBf16.cpp on bf16 tiles) and the
  // remaining rows the row-wise kernel; below it every row does. One
  // row-wise kernel serves both cases: its first row is chosen at run time.
  int64_t panels = rows / plan.lanes;
  Value many;
  if (panelTokens > 0 && panels > 0)
    many = arith::CmpIOp::create(k.b, k.loc, arith::CmpIPredicate::uge,
                                 numTokens, k.index(panelTokens));
  // The bf16 GEMM reads x itself: where it takes every row, no token needs
  // int8 codes.
  Value quantized = numTokens;
  if (many && plan.amxBf16 && panels * plan.lanes == rows)
    quantized =
        arith::SelectOp::create(k.b, k.loc, many, k.index(0), numTokens);
  std::optional<float> symZero;
  if (!q.zeros)
    symZero = static_cast<float>(symmetricZero(q.type));
  Activations act = quantizeActivations(k, plan, x, quantized, cols, symZero);

  Type f32 = k.b.getF32Type();
  auto lanesF = vecOf(plan.lanes, f32);
  auto lanesI = vecOf(plan.lanes, k.b.getI32Type());
  auto bytes = vecOf(4 * plan.lanes, k.b.getI8Type());
  // y[t0 .. t0 + tile) of row n, sharing each superblock's codes.
  int64_t numGroups = cols / plan.group;
  auto rowTile = [&](Value n, Value t0, int64_t tile) {
    // The row to prefetch: decode-sized calls only, where the width asks
    // for it (with a tile of tokens the row is reused from the cache, and
    // the loop is compute-bound).
    Value next;
    if (tile == 1 && prefetchNext)
      next = k.minui(k.addi(n, k.index(1)), k.index(rows - 1));
    Value zeroF = arith::ConstantOp::create(
        k.b, k.loc, DenseElementsAttr::get(lanesF, k.b.getF32FloatAttr(0)));
    Value zeroI = arith::ConstantOp::create(
        k.b, k.loc, DenseElementsAttr::get(lanesI, k.b.getI32IntegerAttr(0)));
    SmallVector<Value> init(tile, zeroF);
    // sum over superblocks of sw * sx * dot, lane by lane.
    SmallVector<Value> acc = k.forLoopCarried(
        k.index(0), k.index(numSuper), 1, init,
        [&](Value sb, ValueRange carried) -> SmallVector<Value> {
          if (next)
            prefetchSuperblock(k, q, plan, next, sb);
          SmallVector<Value> codes = loadSuperblockCodes(k, q, plan, n, sb);
          Value sw = groupLanes(k, q, plan, n, sb);
          Value col = k.muli(sb, k.index(plan.superblock));
          Value laneCol = k.muli(sb, k.index(plan.lanes));
          SmallVector<Value> next;
          for (int64_t i = 0; i < tile; ++i) {
            Value t = k.addi(t0, k.index(i));
            // The parts' products of one lane share its group and block:
            // they sum in i32.
            Value dot = zeroI;
            for (auto [p, part] : llvm::enumerate(codes)) {
              Value at = k.addi(col, k.index(4 * plan.lanes * p));
              Value a = vector::LoadOp::create(k.b, k.loc, bytes, act.codes,
                                               ValueRange{t, at});
              dot = dotBytes(k, isa, dot, part, a);
            }
            Value f = arith::SIToFPOp::create(k.b, k.loc, lanesF, dot);
            Value sx = vector::LoadOp::create(k.b, k.loc, lanesF, act.scale,
                                              ValueRange{t, laneCol});
            next.push_back(vector::FMAOp::create(k.b, k.loc, k.mulf(sw, sx), f,
                                                 carried[i]));
          }
          return next;
        });
    for (int64_t i = 0; i < tile; ++i) {
      Value t = k.addi(t0, k.index(i));
      Value correction =
          groupCorrection(k, q, plan, act.groupSums, n, t, numGroups);
      Value total = vector::ReductionOp::create(
          k.b, k.loc, vector::CombiningKind::ADD, acc[i], correction,
          arith::FastMathFlags::reassoc);
      k.store(total, out, {t, n});
    }
  };
  tokenTile = std::max<int64_t>(tokenTile, 1);
  Value first = k.index(0);
  if (many) {
    scf::IfOp::create(k.b, k.loc, many, [&](OpBuilder &b, Location loc) {
      if (plan.amxBf16)
        lowerBf16Panels(k, q, plan, x, out, numTokens, panels);
      else
        lowerPanels(k, q, plan, act, out, numTokens, isa, panels);
      scf::YieldOp::create(b, loc);
    });
    first = arith::SelectOp::create(k.b, k.loc, many,
                                    k.index(panels * plan.lanes), first);
  }
  // Row-wise: rows [first, rows), each streamed once for all tokens.
  k.parallelLoop(
      first, k.index(rows),
      [&](Value n) {
        Value tiled =
            k.muli(k.divui(numTokens, k.index(tokenTile)), k.index(tokenTile));
        if (tokenTile > 1)
          k.forLoop(k.index(0), tiled, tokenTile,
                    [&](Value t0) { rowTile(n, t0, tokenTile); });
        k.forLoop(tiled, numTokens, 1, [&](Value t) { rowTile(n, t, 1); });
      },
      KernelBuilder::rowLoopSchedule(cols * q.type.getBits() / 8));
  for (Value buffer : {act.codes, act.scale, act.groupSums})
    memref::DeallocOp::create(k.b, k.loc, buffer);
  return true;
}
