//===- IntegerPlan.cpp - Weight codes of the integer matmul path -*- C++
//-*-===//
//
// See IntegerPlan.h. The layout is explained in IntegerMatmul.cpp's header
// and in docs/lowering.md ("Layout").
//
//===----------------------------------------------------------------------===//

#include "IntegerPlan.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

#include <numeric>

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::integer;

/// True if each i32 lane of `order` (four consecutive bytes) stays in one
/// weight group and one activation block.
static bool lanesStayInGroups(ArrayRef<int64_t> order, int64_t group) {
  for (size_t lane = 0; lane + 3 < order.size(); lane += 4)
    for (size_t j = 1; j < 4; ++j)
      if (order[lane + j] / group != order[lane] / group ||
          order[lane + j] / kBlock != order[lane] / kBlock)
        return false;
  return true;
}

std::optional<IntegerPlan> integer::planFor(QTensorType type, int64_t width) {
  if (type.getRank() != 2 || ShapedType::isDynamic(type.getShape()[1]))
    return std::nullopt;
  int64_t cols = type.getShape()[1];
  unsigned bits = type.getBits(), parent = type.getEffectiveParentBits();
  bool nested = type.getLayout() == Layout::Nested;
  int64_t group =
      type.getGranularity() == Granularity::Group ? type.getGroupSize() : cols;
  // A shorter last group (K = 96 in groups of 64) would need its own
  // correction terms: the exact path takes it.
  if (cols % group != 0)
    return std::nullopt;
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

VectorType integer::vecOf(int64_t n, Type element) {
  return VectorType::get({n}, element);
}

Value integer::concat(KernelBuilder &k, ArrayRef<Value> parts) {
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

Value integer::loadSuperblockCodes(KernelBuilder &k, const QuantBuffers &q,
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
void integer::prefetchSuperblock(KernelBuilder &k, const QuantBuffers &q,
                                 const IntegerPlan &plan, Value next,
                                 Value sb) {
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

/// [rows, groups] values, or per-channel/per-tensor ones.
Value integer::groupLanes(KernelBuilder &k, const QuantBuffers &q,
                          const IntegerPlan &plan, Value values, Value n,
                          Value sb) {
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
