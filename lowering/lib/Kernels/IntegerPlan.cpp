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
/// weight group and one activation block, and, with `lanes` lanes a part,
/// lane l of every part is in the group and block of lane l of the first.
static bool lanesStayInGroups(ArrayRef<int64_t> order, int64_t group,
                              int64_t lanes) {
  auto same = [&](int64_t a, int64_t b) {
    return order[a] / group == order[b] / group &&
           order[a] / kBlock == order[b] / kBlock;
  };
  for (size_t word = 0; 4 * word + 3 < order.size(); ++word)
    for (size_t j = 1; j < 4; ++j)
      if (!same(4 * word + j, 4 * word) || !same(4 * word, 4 * (word % lanes)))
        return false;
  return true;
}

/// The plan with superblocks of S = 4L * parts elements, or nothing when
/// the weight's shape or layout does not allow it.
static std::optional<IntegerPlan> tryPlan(QTensorType type, int64_t cols,
                                          int64_t group, int64_t lanes,
                                          int64_t parts, bool gathered) {
  unsigned bits = type.getBits(), parent = type.getEffectiveParentBits();
  bool nested = type.getLayout() == Layout::Nested;
  int64_t s = 4 * lanes * parts;
  if (cols % s != 0 || group % kMinGroup != 0)
    return std::nullopt;
  if (group % s != 0 && s % group != 0)
    return std::nullopt;
  // Two-level scales: a superblock within one record.
  if (type.isTwoLevel() && type.getSuperGroup() % s != 0)
    return std::nullopt;
  IntegerPlan plan;
  plan.superblock = s;
  plan.lanes = lanes;
  plan.parts = parts;
  plan.group = group;
  plan.shift = parent - bits;
  if (!nested) {
    plan.perUnit = 8 / std::gcd<int64_t>(bits, 8);
    plan.unitBytes = plan.perUnit * bits / 8;
  }
  // Nested planes and 8-bit rows: element order. Dense c-bit rows: byte p
  // of part i = p / (S / perUnit) is code i of unit j = p % (S / perUnit),
  // element j * perUnit + i.
  int64_t per = plan.perUnit;
  int64_t partBytes = s / per;
  if (gathered) {
    // Lane l of part p: elements l * 4P + 4p + j.
    plan.gathered = true;
    for (int64_t p = 0; p < s; ++p) {
      int64_t part = p / (4 * lanes), lane = p / 4 % lanes;
      plan.order.push_back(lane * 4 * parts + 4 * part + p % 4);
    }
    if (!lanesStayInGroups(plan.order, group, lanes))
      return std::nullopt;
  } else {
    for (int64_t p = 0; p < s; ++p)
      plan.order.push_back((p % partBytes) * per + p / partBytes);
  }
  if (!lanesStayInGroups(plan.order, group, lanes)) {
    // Several parts need the unpacked order itself.
    if (parts > 1)
      return std::nullopt;
    // Element e sits at byte (e % per) * partBytes + e / per of the parts.
    for (int64_t e = 0; e < s; ++e)
      plan.reorder.push_back((e % per) * partBytes + e / per);
    std::iota(plan.order.begin(), plan.order.end(), 0);
  }
  for (int64_t lane = 0; lane < plan.lanes; ++lane)
    plan.blockOfLane.push_back(plan.order[4 * lane] / kBlock);
  return plan;
}

std::optional<IntegerPlan> integer::planFor(QTensorType type, int64_t width) {
  if (type.getRank() != 2 || ShapedType::isDynamic(type.getShape()[1]))
    return std::nullopt;
  int64_t cols = type.getShape()[1];
  int64_t group =
      type.getGranularity() == Granularity::Group ? type.getGroupSize() : cols;
  // A shorter last group (K = 96 in groups of 64) would need its own
  // correction terms: the exact path takes it.
  if (cols % group != 0)
    return std::nullopt;
  // Dense rows of c < 8 bits: as many parts as a storage unit holds codes
  // (4L bytes of storage unpack into that many vectors), or fewer.
  int64_t maxParts = 1;
  if (type.getLayout() == Layout::Dense && type.getBits() < 8)
    maxParts = 8 / std::gcd<int64_t>(type.getBits(), 8);
  for (int64_t lanes : {int64_t(16), int64_t(8)}) {
    if (lanes > width)
      continue;
    // Parts unpacked by shifts, else gathered parts (at most 8: a lane's
    // 4P elements in one activation block), else one part in element or
    // unit order.
    for (int64_t parts = maxParts; parts > 1; parts /= 2)
      if (std::optional<IntegerPlan> plan =
              tryPlan(type, cols, group, lanes, parts, /*gathered=*/false))
        return plan;
    if (maxParts > 1)
      for (int64_t parts : {int64_t(8), int64_t(4), int64_t(2)})
        if (std::optional<IntegerPlan> plan =
                tryPlan(type, cols, group, lanes, parts, /*gathered=*/true))
          return plan;
    if (std::optional<IntegerPlan> plan =
            tryPlan(type, cols, group, lanes, 1, /*gathered=*/false))
      return plan;
  }
  return std::nullopt;
}

VectorType integer::vecOf(int64_t n, Type element) {
  return VectorType::get({n}, element);
}

/// `codes` (S bytes) as plan.parts vectors of 4L bytes.
static SmallVector<Value> splitParts(KernelBuilder &k, const IntegerPlan &plan,
                                     Value codes) {
  if (plan.parts == 1)
    return {codes};
  SmallVector<Value> parts;
  int64_t bytes = 4 * plan.lanes;
  for (int64_t p = 0; p < plan.parts; ++p) {
    SmallVector<int64_t> mask(bytes);
    std::iota(mask.begin(), mask.end(), p * bytes);
    parts.push_back(vector::ShuffleOp::create(k.b, k.loc, codes, codes, mask));
  }
  return parts;
}

/// The parts of a gathered plan from the superblock's `nbytes` storage
/// bytes: code e (bits e*c .. e*c + c of the row) lies in the 16-bit
/// window at byte e*c/8. Per half part (2L codes): a byte shuffle builds
/// the windows as i16 lanes, a shift by each lane's bit offset and a mask
/// leave the codes, and a truncation narrows them to bytes.
static SmallVector<Value> gatherParts(KernelBuilder &k, const IntegerPlan &plan,
                                      unsigned bits, Value bytes,
                                      int64_t nbytes) {
  Type i16 = k.b.getI16Type(), i8 = k.b.getI8Type();
  int64_t half = 2 * plan.lanes;
  auto halfType = vecOf(half, i16);
  Value mask = k.splat(
      halfType, arith::ConstantIntOp::create(k.b, k.loc, (1 << bits) - 1, 16));
  SmallVector<Value> parts;
  for (int64_t p = 0; p < plan.parts; ++p) {
    SmallVector<Value> halves;
    for (int64_t h = 0; h < 2; ++h) {
      SmallVector<int64_t> gather;
      SmallVector<int16_t> shifts;
      for (int64_t j = 0; j < half; ++j) {
        int64_t bit = plan.order[p * 4 * plan.lanes + h * half + j] * bits;
        int64_t low = bit / 8;
        gather.push_back(low);
        // The last code of the superblock ends in its last byte.
        gather.push_back(std::min(low + 1, nbytes - 1));
        shifts.push_back(static_cast<int16_t>(bit % 8));
      }
      Value windows = vector::BitCastOp::create(
          k.b, k.loc, halfType,
          vector::ShuffleOp::create(k.b, k.loc, bytes, bytes, gather));
      Value shift = arith::ConstantOp::create(
          k.b, k.loc,
          DenseElementsAttr::get(halfType, ArrayRef<int16_t>(shifts)));
      Value codes = arith::AndIOp::create(
          k.b, k.loc, arith::ShRUIOp::create(k.b, k.loc, windows, shift), mask);
      halves.push_back(
          arith::TruncIOp::create(k.b, k.loc, vecOf(half, i8), codes));
    }
    parts.push_back(concatVectors(k, halves));
  }
  return parts;
}

bool integer::gfniApplies(QTensorType type, const IntegerPlan &plan) {
  unsigned planes = std::min(type.getBits() + 1, type.getEffectiveParentBits());
  return type.getLayout() == Layout::Nested && plan.superblock == 64 &&
         plan.parts == 1 && planes >= 4;
}

/// The served codes (u8, element order) of the `s` = 64 elements of a
/// nested superblock at byte `byteCol` of row `n`, from its top `planes`
/// planes, with GFNI. Plane p's 8 bytes (bit i of byte j: element 8j + i)
/// are transposed into 8-byte words, word j holding byte j of plane 0..7
/// (0 for planes not read); vgf2p8affineqb with that word as the bit
/// matrix and 1 << i as byte i of the other operand gives, in byte i, bit
/// i of every plane at bit 7 - p: the parent code of element 8j + i with
/// the unread planes 0. Shifted down to the top `planes` bits v, the
/// served code is v itself, or with the rounding plane (v >> 1) + (v & 1)
/// clamped to 2^r - 1, as the select-based reader computes it.
static Value gfniNestedCodes(KernelBuilder &k, const QuantBuffers &q, int64_t s,
                             unsigned planes, unsigned r, Value n,
                             Value byteCol) {
  Type i8 = k.b.getI8Type();
  int64_t per = s / 8; // bytes per plane
  auto bytes = vecOf(s, i8);
  auto splat8 = [&](int64_t v) {
    return k.splat(bytes, arith::ConstantIntOp::create(k.b, k.loc, v, 8));
  };
  SmallVector<Value> rows;
  for (unsigned p = 0; p < 8; ++p)
    rows.push_back(
        p < planes ? vector::LoadOp::create(k.b, k.loc, vecOf(per, i8), q.codes,
                                            ValueRange{k.index(p), n, byteCol})
                         .getResult()
                   : k.splat(vecOf(per, i8),
                             arith::ConstantIntOp::create(k.b, k.loc, 0, 8)));
  Value planeMajor = concatVectors(k, rows);
  SmallVector<int64_t> transpose(s);
  for (int64_t j = 0; j < per; ++j)
    for (int64_t p = 0; p < 8; ++p)
      transpose[8 * j + p] = p * per + j;
  Value words =
      vector::ShuffleOp::create(k.b, k.loc, planeMajor, planeMajor, transpose);
  SmallVector<int8_t> select(s);
  for (int64_t i = 0; i < s; ++i)
    select[i] = static_cast<int8_t>(1u << (i % 8));
  Value unit = arith::ConstantOp::create(
      k.b, k.loc, DenseElementsAttr::get(bytes, ArrayRef<int8_t>(select)));
  Value code =
      LLVM::CallIntrinsicOp::create(
          k.b, k.loc, bytes, k.b.getStringAttr("llvm.x86.vgf2p8affineqb.512"),
          ValueRange{unit, words,
                     arith::ConstantIntOp::create(k.b, k.loc, 0, 8)})
          .getResult(0);
  if (planes < 8)
    code = arith::ShRUIOp::create(k.b, k.loc, code, splat8(8 - planes));
  if (planes > r) {
    // With the rounding plane: (v >> 1) + (v & 1), clamped.
    Value half = arith::ShRUIOp::create(k.b, k.loc, code, splat8(1));
    Value round = arith::AndIOp::create(k.b, k.loc, code, splat8(1));
    code = arith::MinUIOp::create(
        k.b, k.loc, arith::AddIOp::create(k.b, k.loc, half, round),
        splat8((int64_t(1) << r) - 1));
  }
  return code;
}

SmallVector<Value> integer::loadSuperblockCodes(KernelBuilder &k,
                                                const QuantBuffers &q,
                                                const IntegerPlan &plan,
                                                Value n, Value sb) {
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
      return splitParts(k, plan, bytes);
    if (plan.gathered)
      return gatherParts(k, plan, bits, bytes, nbytes);
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
    // One part per vector: the parts are the superblock's vectors.
    if (plan.parts == plan.perUnit && plan.reorder.empty())
      return parts;
    Value codes = concatVectors(k, parts);
    if (!plan.reorder.empty())
      codes = vector::ShuffleOp::create(k.b, k.loc, codes, codes, plan.reorder);
    return splitParts(k, plan, codes);
  }
  // Nested: the served code S(q, r) from the top r + 1 planes, in served
  // units: sum_{p < r} bit_p * 2^(r - 1 - p), plus the rounding bit of plane
  // r when r < P, clamped to 2^r - 1. Plane bytes hold 8 elements each,
  // bit i for element i, so a plane's S/8 bytes are an S-lane mask.
  unsigned r = bits;
  unsigned planes = std::min(r + 1, parent);
  Value byteCol = k.muli(sb, k.index(s / 8));
  if (plan.gfni)
    return splitParts(k, plan, gfniNestedCodes(k, q, s, planes, r, n, byteCol));
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
  return splitParts(k, plan, code);
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
    int64_t nbytes = s * type.getBits() / 8;
    Value byteCol = k.muli(sb, k.index(nbytes));
    for (int64_t line = 0; line < nbytes; line += 64)
      prefetch(q.codes, {next, k.addi(byteCol, k.index(line))});
  } else {
    unsigned planes =
        std::min(type.getBits() + 1, type.getEffectiveParentBits());
    Value byteCol = k.muli(sb, k.index(s / 8));
    for (unsigned p = 0; p < planes; ++p)
      prefetch(q.codes, {k.index(p), next, byteCol});
  }
  // Two-level records (10-18 bytes per super-group): each record when the
  // superblock starts one.
  if (type.isTwoLevel()) {
    int64_t perRecord = type.getSuperGroup() / s;
    Value col = k.muli(sb, k.index(s));
    auto atRecord = [&](OpBuilder &b, Location loc) {
      Value record = k.divui(col, k.index(type.getSuperGroup()));
      prefetch(q.scales, {next, record, k.index(0)});
      if (q.zeros)
        prefetch(q.zeros, {next, record, k.index(0)});
    };
    if (perRecord == 1) {
      atRecord(k.b, k.loc);
      return;
    }
    Value starts = arith::CmpIOp::create(
        k.b, k.loc, arith::CmpIPredicate::eq,
        arith::RemUIOp::create(k.b, k.loc, sb, k.index(perRecord)), k.index(0));
    scf::IfOp::create(k.b, k.loc, starts, [&](OpBuilder &b, Location loc) {
      atRecord(b, loc);
      scf::YieldOp::create(b, loc);
    });
    return;
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

/// [rows, groups] scales (or two-level records), or per-channel/per-tensor
/// ones.
Value integer::groupLanes(KernelBuilder &k, const QuantBuffers &q,
                          const IntegerPlan &plan, Value n, Value sb,
                          bool offsets) {
  auto lanesF = vecOf(plan.lanes, k.b.getF32Type());
  Value col = k.muli(sb, k.index(plan.superblock));
  if (plan.group % plan.superblock == 0) {
    SmallVector<Value> idx = scaleIndices(k, q.type, {n, col});
    Value scale = groupScale(k, q, idx);
    return k.splat(lanesF, offsets ? groupOffset(k, q, idx, scale) : scale);
  }
  // Several groups per superblock (group < S, both multiples of 16).
  int64_t groups = plan.superblock / plan.group;
  Value first = k.divui(col, k.index(plan.group));
  Value v = groupVector(k, q, offsets, n, first, groups);
  SmallVector<int64_t> groupOfLane;
  for (int64_t lane = 0; lane < plan.lanes; ++lane)
    groupOfLane.push_back(plan.order[4 * lane] / plan.group);
  // Lane l in group l (groups of 16 in 256-element superblocks): as loaded.
  if (llvm::equal(groupOfLane, llvm::seq<int64_t>(0, plan.lanes)))
    return v;
  return vector::ShuffleOp::create(k.b, k.loc, v, v, groupOfLane);
}
