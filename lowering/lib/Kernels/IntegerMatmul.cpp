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
// Layout. One integer dot covers a *superblock* of S = 4 * L elements (L i32
// lanes: S = 64 on 512-bit vectors, 32 on 256-bit ones). Its codes are read
// in the order the storage makes cheap: a dense c-bit row (c | 8) as its
// S*c/8 bytes split into 8/c parts (bits s*c.. of every byte), concatenated;
// nested bit planes and 8-bit rows in element order. The activations of each
// matmul call are quantized once into that same order, so the products pair
// up without shuffling the weights; every i32 lane sums four products of one
// 32-block, and a per-lane vector of that block's activation scale is
// stored beside the codes. Each weight row then costs, per superblock: the
// code unpack, and per token one `vpdpbusd`, a conversion, a multiply and
// an FMA. Tokens are processed in tiles that share the unpacked codes. The
// zero-point terms, sum over groups of sw * z * sx * sum(q), are a short
// f32 dot product over the row's groups after the main loop.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "qopt/Conversion/Patterns.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <numeric>

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// The static shape of the integer path for one weight type.
struct IntegerPlan {
  /// Elements per integer dot (S) and its i32 lanes (L = S / 4).
  int64_t superblock = 0, lanes = 0;
  /// Weight group size (columns for per-channel and per-tensor).
  int64_t group = 0;
  /// order[p]: the element of the superblock at byte p of the code vector.
  SmallVector<int64_t> order;
  /// The 32-block (within the superblock) of every i32 lane.
  SmallVector<int64_t> blockOfLane;
  /// p - r: served codes are in units of 2^shift of the parent's.
  unsigned shift = 0;
  /// Dense rows: a unit of `unitBytes` storage bytes holds `perUnit` codes
  /// (8 / gcd(c, 8) codes of c bits: 8 of 1, 3, 5 or 7 bits, 4 of 2 or 6, 2
  /// of 4, 1 of 8). The codes are extracted part by part, part i holding
  /// code i of every unit; when the part order would put two groups in one
  /// lane (odd widths with groups of 16), `reorder` shuffles them back into
  /// element order.
  int64_t perUnit = 1, unitBytes = 1;
  SmallVector<int64_t> reorder;
};

constexpr int64_t kBlock = 32;
/// The smallest weight group the integer path takes (ggml's Q2_K, Q3_K and
/// Q6_K sub-blocks).
constexpr int64_t kMinGroup = 16;

/// True if each i32 lane of `order` (four consecutive bytes) stays in one
/// weight group and one activation block.
bool lanesStayInGroups(ArrayRef<int64_t> order, int64_t group) {
  for (size_t lane = 0; lane + 3 < order.size(); lane += 4)
    for (size_t j = 1; j < 4; ++j)
      if (order[lane + j] / group != order[lane] / group ||
          order[lane + j] / kBlock != order[lane] / kBlock)
        return false;
  return true;
}

/// The plan for weights of `type` at `width` f32 lanes, or nothing when the
/// integer path does not apply (then the exact path is used).
std::optional<IntegerPlan> planFor(QTensorType type, int64_t width) {
  if (type.getRank() != 2 || ShapedType::isDynamic(type.getShape()[1]))
    return std::nullopt;
  int64_t cols = type.getShape()[1];
  unsigned bits = type.getBits(), parent = type.getEffectiveParentBits();
  bool nested = type.getLayout() == Layout::Nested;
  int64_t group =
      type.getGranularity() == Granularity::Group ? type.getGroupSize() : cols;
  for (int64_t s : {int64_t(64), int64_t(32)}) {
    if (s > 4 * width || cols % s != 0 || group % kMinGroup != 0)
      continue;
    if (group % s != 0 && s % group != 0)
      continue;
    IntegerPlan plan;
    plan.superblock = s;
    plan.lanes = s / 4;
    plan.group = group;
    plan.shift = parent - bits;
    if (!nested) {
      plan.perUnit = 8 / std::gcd<int64_t>(bits, 8);
      plan.unitBytes = plan.perUnit * bits / 8;
    }
    // Nested planes and 8-bit rows: element order. Dense c-bit rows: byte
    // p of part i = p / (S / perUnit) is code i of unit j = p % (S /
    // perUnit), element j * perUnit + i.
    int64_t per = plan.perUnit;
    int64_t partBytes = s / per;
    for (int64_t p = 0; p < s; ++p)
      plan.order.push_back((p % partBytes) * per + p / partBytes);
    if (!lanesStayInGroups(plan.order, group)) {
      // Element e sits at byte (e % per) * partBytes + e / per of the parts.
      for (int64_t e = 0; e < s; ++e)
        plan.reorder.push_back((e % per) * partBytes + e / per);
      std::iota(plan.order.begin(), plan.order.end(), 0);
    }
    for (int64_t lane = 0; lane < plan.lanes; ++lane)
      plan.blockOfLane.push_back(plan.order[4 * lane] / kBlock);
    return plan;
  }
  return std::nullopt;
}

VectorType vecOf(int64_t n, Type element) {
  return VectorType::get({n}, element);
}

/// concat(parts): one vector of all their lanes, in order.
Value concat(KernelBuilder &k, ArrayRef<Value> parts) {
  SmallVector<Value> level(parts);
  while (level.size() > 1) {
    SmallVector<Value> next;
    for (size_t i = 0; i + 1 < level.size(); i += 2) {
      int64_t n = cast<VectorType>(level[i].getType()).getNumElements();
      SmallVector<int64_t> mask(2 * n);
      std::iota(mask.begin(), mask.end(), 0);
      next.push_back(
          vector::ShuffleOp::create(k.b, k.loc, level[i], level[i + 1], mask));
    }
    if (level.size() % 2)
      next.push_back(level.back());
    level = std::move(next);
  }
  return level.front();
}

/// The activation buffers of one matmul call: int8 codes in the plan's
/// order [tokens, cols]; per superblock the lane vector of the activation
/// scale times 2^shift [tokens, superblocks * L]; and per weight group the
/// correction -sum over its blocks of sx * sum(q) [tokens, groups] (times
/// the zero point for symmetric weights, which is a constant).
struct Activations {
  Value codes, scale, groupSums;
};

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
        Value sum = vector::ReductionOp::create(k.b, k.loc,
                                                vector::CombiningKind::ADD, q);
        Value sumF = arith::SIToFPOp::create(k.b, k.loc, f32, sum);
        codes.push_back(
            arith::TruncIOp::create(k.b, k.loc, vecOf(kBlock, i8), q));
        scales.push_back(sx);
        // groupSums[t, col / G] += factor * sx * sum(q); a block holds
        // several groups of 16: one sum each.
        Value g = k.divui(col, k.index(plan.group));
        if (plan.group < kBlock) {
          for (int64_t h = 0; h < kBlock / plan.group; ++h) {
            SmallVector<int64_t> half(plan.group);
            std::iota(half.begin(), half.end(), h * plan.group);
            Value part = vector::ShuffleOp::create(k.b, k.loc, q, q, half);
            Value partSum = arith::SIToFPOp::create(
                k.b, k.loc, f32,
                vector::ReductionOp::create(k.b, k.loc,
                                            vector::CombiningKind::ADD, part));
            memref::StoreOp::create(
                k.b, k.loc, k.mulf(k.f32(sumFactor), k.mulf(sx, partSum)),
                act.groupSums, ValueRange{t, k.addi(g, k.index(h))});
          }
          continue;
        }
        Value old =
            memref::LoadOp::create(k.b, k.loc, act.groupSums, ValueRange{t, g});
        Value add = k.mulf(k.f32(sumFactor), k.mulf(sx, sumF));
        memref::StoreOp::create(k.b, k.loc,
                                blocksPerGroup == 1 ? add : k.addf(old, add),
                                act.groupSums, ValueRange{t, g});
      }
      Value all = concat(k, codes);
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
/// scale[n, g] * groupSums[t, g] (times zero[n, g] for asymmetric weights;
/// symmetric ones have the zero folded into the sums), vectorized over
/// groups.
Value groupCorrection(KernelBuilder &k, const QuantBuffers &q,
                      const IntegerPlan &plan, Value groupSums, Value n,
                      Value t, int64_t numGroups) {
  auto term = [&](Value g) {
    SmallVector<Value> idx =
        scaleIndices(k, q.type, {n, k.muli(g, k.index(plan.group))});
    Value w = k.load(q.scales, idx);
    if (q.zeros)
      w = k.mulf(w, k.load(q.zeros, idx));
    return k.mulf(
        w, memref::LoadOp::create(k.b, k.loc, groupSums, ValueRange{t, g}));
  };
  int64_t w = k.width;
  if (q.type.getGranularity() != Granularity::Group || numGroups < w) {
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
        Value sw = k.vectorLoad(q.scales, {n, g});
        if (q.zeros)
          sw = k.mulf(sw, k.vectorLoad(q.zeros, {n, g}));
        Value sums = k.vectorLoad(groupSums, {t, g});
        return {vector::FMAOp::create(k.b, k.loc, sw, sums, carried[0])};
      })[0];
  Value tail = k.f32(0.0f);
  for (int64_t g = full; g < numGroups; ++g)
    tail = k.addf(tail, term(k.index(g)));
  return vector::ReductionOp::create(k.b, k.loc, vector::CombiningKind::ADD,
                                     acc, tail, arith::FastMathFlags::reassoc);
}

/// acc[i] + sum_{j < 4} u[4i + j] * s[4i + j] (u unsigned, s signed bytes).
Value dotBytes(KernelBuilder &k, IntDot isa, Value acc, Value u, Value s) {
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

/// The S served codes of superblock `sb` of row `n` as u8 in the plan's
/// order.
Value loadSuperblockCodes(KernelBuilder &k, const QuantBuffers &q,
                          const IntegerPlan &plan, Value n, Value sb) {
  QTensorType type = q.type;
  unsigned bits = type.getBits(), parent = type.getEffectiveParentBits();
  int64_t s = plan.superblock;
  Type i8 = k.b.getI8Type();
  auto bytesOf = [&](int64_t count) { return vecOf(count, i8); };
  auto splat8 = [&](int64_t count, int64_t v) {
    return k.splat(bytesOf(count),
                   arith::ConstantIntOp::create(k.b, k.loc, v, 8));
  };
  if (type.getLayout() == Layout::Dense) {
    int64_t nbytes = s * bits / 8;
    Value byteCol = k.muli(sb, k.index(nbytes));
    Value bytes = vector::LoadOp::create(k.b, k.loc, bytesOf(nbytes), q.codes,
                                         ValueRange{n, byteCol});
    if (bits == 8)
      return bytes;
    // Part i: code i of every unit, at bit i * c of the unit. Byte b of the
    // part is byte b * unitBytes + offset of the superblock (a plain copy
    // when units are single bytes).
    int64_t units = s / plan.perUnit;
    auto unitBytes = [&](int64_t offset) -> Value {
      if (plan.unitBytes == 1)
        return bytes;
      SmallVector<int64_t> mask;
      for (int64_t u = 0; u < units; ++u)
        mask.push_back(u * plan.unitBytes + offset);
      return vector::ShuffleOp::create(k.b, k.loc, bytes, bytes, mask);
    };
    SmallVector<Value> parts;
    for (int64_t i = 0; i < plan.perUnit; ++i) {
      int64_t bit = i * bits, offset = bit / 8, shift = bit % 8;
      Value part = unitBytes(offset);
      if (shift != 0)
        part = arith::ShRUIOp::create(k.b, k.loc, part, splat8(units, shift));
      if (shift + bits > 8) {
        // The code continues in the next byte.
        Value high = arith::ShLIOp::create(k.b, k.loc, unitBytes(offset + 1),
                                           splat8(units, 8 - shift));
        part = arith::OrIOp::create(k.b, k.loc, part, high);
      }
      if (shift + bits != 8)
        part = arith::AndIOp::create(k.b, k.loc, part,
                                     splat8(units, (1 << bits) - 1));
      parts.push_back(part);
    }
    Value codes = concat(k, parts);
    if (!plan.reorder.empty())
      codes = vector::ShuffleOp::create(k.b, k.loc, codes, codes, plan.reorder);
    return codes;
  }
  // Nested: the served code S(q, r) from the top r + 1 planes, in served
  // units: sum_{p < r} bit_p * 2^(r - 1 - p), plus the rounding bit of plane
  // r when r < P, clamped to 2^r - 1. Plane bytes hold 8 elements each,
  // bit i for element i, so a plane's S/8 bytes are an S-lane mask.
  unsigned r = bits;
  unsigned planes = std::min(r + 1, parent);
  Value byteCol = k.muli(sb, k.index(s / 8));
  auto maskType = vecOf(s, k.b.getI1Type());
  Value code = splat8(s, 0);
  for (unsigned p = 0; p < planes; ++p) {
    Value bytes = vector::LoadOp::create(k.b, k.loc, bytesOf(s / 8), q.codes,
                                         ValueRange{k.index(p), n, byteCol});
    Value mask = vector::BitCastOp::create(k.b, k.loc, maskType, bytes);
    int64_t value = p < r ? int64_t(1) << (r - 1 - p) : 1;
    Value with = p < r
                     ? arith::OrIOp::create(k.b, k.loc, code, splat8(s, value))
                           .getResult()
                     : arith::AddIOp::create(k.b, k.loc, code, splat8(s, value))
                           .getResult();
    code = arith::SelectOp::create(k.b, k.loc, mask, with, code);
  }
  if (planes > r) // rounded up past the top code: clamp
    code = arith::MinUIOp::create(k.b, k.loc, code,
                                  splat8(s, (int64_t(1) << r) - 1));
  return code;
}

/// Asks the cache for the codes (and the scales) of superblock `sb` of row
/// `next`, the row this thread streams after the current one: the rows of
/// a thread's share are contiguous, so this keeps a row's worth of bytes
/// in flight ahead of the loads.
void prefetchSuperblock(KernelBuilder &k, const QuantBuffers &q,
                        const IntegerPlan &plan, Value next, Value sb) {
  auto prefetch = [&](Value buffer, ValueRange indices) {
    memref::PrefetchOp::create(k.b, k.loc, buffer, indices,
                               /*isWrite=*/false, /*localityHint=*/3,
                               /*isDataCache=*/true);
  };
  QTensorType type = q.type;
  int64_t s = plan.superblock;
  if (type.getLayout() == Layout::Dense) {
    prefetch(q.codes, {next, k.muli(sb, k.index(s * type.getBits() / 8))});
  } else {
    unsigned planes =
        std::min(type.getBits() + 1, type.getEffectiveParentBits());
    Value byteCol = k.muli(sb, k.index(s / 8));
    for (unsigned p = 0; p < planes; ++p)
      prefetch(q.codes, {k.index(p), next, byteCol});
  }
  // A 64-byte line holds 16 f32 scales: one prefetch per line.
  if (type.getGranularity() == Granularity::Group &&
      (plan.group * 16) % s == 0) {
    int64_t perLine = plan.group * 16 / s;
    Value atLine = arith::CmpIOp::create(
        k.b, k.loc, arith::CmpIPredicate::eq,
        arith::RemUIOp::create(k.b, k.loc, sb, k.index(perLine)), k.index(0));
    scf::IfOp::create(k.b, k.loc, atLine, [&](OpBuilder &b, Location loc) {
      Value col = k.muli(sb, k.index(s));
      prefetch(q.scales, {next, k.divui(col, k.index(plan.group))});
      if (q.zeros)
        prefetch(q.zeros, {next, k.divui(col, k.index(plan.group))});
      scf::YieldOp::create(b, loc);
    });
  }
}

/// Lane vector of a per-group weight value (`values`: scales or zero
/// points, [rows, groups] or per-channel/per-tensor) for superblock `sb`.
Value groupLanes(KernelBuilder &k, const QuantBuffers &q,
                 const IntegerPlan &plan, Value values, Value n, Value sb) {
  auto lanesF = vecOf(plan.lanes, k.b.getF32Type());
  Value col = k.muli(sb, k.index(plan.superblock));
  if (plan.group % plan.superblock == 0)
    return k.splat(lanesF, k.load(values, scaleIndices(k, q.type, {n, col})));
  // Several groups per superblock (group < S, both multiples of 16).
  int64_t groups = plan.superblock / plan.group;
  Type element = cast<MemRefType>(values.getType()).getElementType();
  Value first = k.divui(col, k.index(plan.group));
  Value v = k.widen(vector::LoadOp::create(k.b, k.loc, vecOf(groups, element),
                                           values, ValueRange{n, first}));
  SmallVector<int64_t> groupOfLane;
  for (int64_t lane = 0; lane < plan.lanes; ++lane)
    groupOfLane.push_back(plan.order[4 * lane] / plan.group);
  return vector::ShuffleOp::create(k.b, k.loc, v, v, groupOfLane);
}

} // namespace

bool mlir::qopt::integerMatmulApplies(QTensorType type, int64_t width) {
  return planFor(type, width).has_value();
}

bool mlir::qopt::lowerIntegerMatmul(KernelBuilder &k, const QuantBuffers &q,
                                    Value x, Value out, Value numTokens,
                                    IntDot isa, int64_t tokenTile) {
  std::optional<IntegerPlan> maybePlan = planFor(q.type, k.width);
  if (!maybePlan || q.unpacked || q.width)
    return false;
  const IntegerPlan &plan = *maybePlan;
  int64_t rows = q.type.getShape()[0], cols = q.type.getShape()[1];
  int64_t numSuper = cols / plan.superblock;
  unsigned parent = q.type.getEffectiveParentBits();
  std::optional<float> symZero;
  if (!q.zeros)
    symZero = static_cast<float>(1u << (parent - 1));
  Activations act = quantizeActivations(k, plan, x, numTokens, cols, symZero);

  Type f32 = k.b.getF32Type();
  auto lanesF = vecOf(plan.lanes, f32);
  auto lanesI = vecOf(plan.lanes, k.b.getI32Type());
  auto bytes = vecOf(plan.superblock, k.b.getI8Type());
  // y[t0 .. t0 + tile) of row n, sharing each superblock's codes.
  int64_t numGroups = cols / plan.group;
  auto rowTile = [&](Value n, Value t0, int64_t tile) {
    Value next = k.minui(k.addi(n, k.index(1)), k.index(rows - 1));
    Value zeroF = arith::ConstantOp::create(
        k.b, k.loc, DenseElementsAttr::get(lanesF, k.b.getF32FloatAttr(0)));
    Value zeroI = arith::ConstantOp::create(
        k.b, k.loc, DenseElementsAttr::get(lanesI, k.b.getI32IntegerAttr(0)));
    SmallVector<Value> init(tile, zeroF);
    // sum over superblocks of sw * sx * dot, lane by lane.
    SmallVector<Value> acc = k.forLoopCarried(
        k.index(0), k.index(numSuper), 1, init,
        [&](Value sb, ValueRange carried) -> SmallVector<Value> {
          // Decode-sized calls only: with a tile of tokens the row is
          // reused from the cache, and the loop is compute-bound.
          if (tile == 1)
            prefetchSuperblock(k, q, plan, next, sb);
          Value codes = loadSuperblockCodes(k, q, plan, n, sb);
          Value sw = groupLanes(k, q, plan, q.scales, n, sb);
          Value col = k.muli(sb, k.index(plan.superblock));
          Value laneCol = k.muli(sb, k.index(plan.lanes));
          SmallVector<Value> next;
          for (int64_t i = 0; i < tile; ++i) {
            Value t = k.addi(t0, k.index(i));
            Value a = vector::LoadOp::create(k.b, k.loc, bytes, act.codes,
                                             ValueRange{t, col});
            Value dot = dotBytes(k, isa, zeroI, codes, a);
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
  k.parallelLoop(0, k.index(rows), [&](Value n) {
    Value tiled =
        k.muli(k.divui(numTokens, k.index(tokenTile)), k.index(tokenTile));
    if (tokenTile > 1)
      k.forLoop(k.index(0), tiled, tokenTile,
                [&](Value t0) { rowTile(n, t0, tokenTile); });
    k.forLoop(tiled, numTokens, 1, [&](Value t) { rowTile(n, t, 1); });
  });
  for (Value buffer : {act.codes, act.scale, act.groupSums})
    memref::DeallocOp::create(k.b, k.loc, buffer);
  return true;
}
