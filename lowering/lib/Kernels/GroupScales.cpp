//===- GroupScales.cpp - Group scales of quantized kernels ------*- C++ -*-===//
//
// The group scales and zero-point terms the matmul, gather and dequantize
// kernels read (declared in KernelBuilder.h): one-level scales and zero
// points, and the byte records of two-level scales (`super = S`, GGUF's
// K-quants as imported): an f16 super-scale and the groups' integer
// sub-scales, read scalar or as a vector of consecutive groups.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include <numeric>

using namespace mlir;
using namespace mlir::qopt;

namespace {
/// The record of group index `scaleIdx` (leading indices, group) of a
/// two-level tensor: its indices up to the super-group, and the group's
/// position in the record.
struct RecordRef {
  SmallVector<Value> at;
  Value sub;
};
} // namespace

static RecordRef recordOf(KernelBuilder &k, QTensorType type,
                          ValueRange scaleIdx) {
  Value g = scaleIdx.back();
  Value perSuper = k.index(type.getGroupsPerSuper());
  RecordRef ref{SmallVector<Value>(scaleIdx.drop_back()), k.remui(g, perSuper)};
  ref.at.push_back(k.divui(g, perSuper));
  return ref;
}

/// The super-scale of record `at` (its first two bytes, f16) as f32.
static Value recordSuper(KernelBuilder &k, Value records, ValueRange at) {
  SmallVector<Value> idx(at);
  idx.push_back(k.index(0));
  Value bytes = vector::LoadOp::create(
      k.b, k.loc, VectorType::get({2}, k.b.getI8Type()), records, idx);
  Value half = vector::BitCastOp::create(
      k.b, k.loc, VectorType::get({1}, k.b.getF16Type()), bytes);
  return k.widen(vector::ExtractOp::create(k.b, k.loc, half, 0));
}

/// Sub-code `sub` (an index) of record `at` as f32: a signed byte, or an
/// unsigned nibble (low nibble for even groups) when `subBits` is 4.
static Value recordSub(KernelBuilder &k, unsigned subBits, Value records,
                       ValueRange at, Value sub) {
  Type f32 = k.b.getF32Type(), i32 = k.b.getI32Type();
  SmallVector<Value> idx(at);
  if (subBits == 8) {
    idx.push_back(k.addi(sub, k.index(2)));
    Value byte = memref::LoadOp::create(k.b, k.loc, records, idx);
    return arith::SIToFPOp::create(k.b, k.loc, f32, byte);
  }
  idx.push_back(k.addi(k.divui(sub, k.index(2)), k.index(2)));
  Value byte = arith::ExtUIOp::create(
      k.b, k.loc, i32, memref::LoadOp::create(k.b, k.loc, records, idx));
  Value shift = arith::IndexCastOp::create(
      k.b, k.loc, i32, k.muli(k.remui(sub, k.index(2)), k.index(4)));
  Value nibble = arith::AndIOp::create(
      k.b, k.loc, arith::ShRUIOp::create(k.b, k.loc, byte, shift), k.i32(15));
  return arith::UIToFPOp::create(k.b, k.loc, f32, nibble);
}

/// `count` sub-codes of record `at` from sub-code `first` (a multiple of
/// `count`, which divides the record's groups), as f32.
static Value recordSubs(KernelBuilder &k, unsigned subBits, Value records,
                        ValueRange at, Value first, int64_t count) {
  Type i8 = k.b.getI8Type();
  auto f32s = VectorType::get({count}, k.b.getF32Type());
  SmallVector<Value> idx(at);
  if (subBits == 8) {
    idx.push_back(k.addi(first, k.index(2)));
    Value bytes = vector::LoadOp::create(
        k.b, k.loc, VectorType::get({count}, i8), records, idx);
    return arith::SIToFPOp::create(k.b, k.loc, f32s, bytes);
  }
  if (count == 1)
    return k.splat(f32s, recordSub(k, subBits, records, at, first));
  int64_t n = count / 2;
  auto bytesType = VectorType::get({n}, i8);
  idx.push_back(k.addi(k.divui(first, k.index(2)), k.index(2)));
  Value bytes = vector::LoadOp::create(k.b, k.loc, bytesType, records, idx);
  auto splat8 = [&](int64_t v) {
    return k.splat(bytesType, arith::ConstantIntOp::create(k.b, k.loc, v, 8));
  };
  Value low = arith::AndIOp::create(k.b, k.loc, bytes, splat8(15));
  Value high = arith::ShRUIOp::create(k.b, k.loc, bytes, splat8(4));
  SmallVector<int64_t> mask;
  for (int64_t i = 0; i < n; ++i) {
    mask.push_back(i);
    mask.push_back(n + i);
  }
  Value nibbles = vector::ShuffleOp::create(k.b, k.loc, low, high, mask);
  return arith::UIToFPOp::create(k.b, k.loc, f32s, nibbles);
}

Value mlir::qopt::groupScale(KernelBuilder &k, const QuantBuffers &q,
                             ValueRange scaleIdx) {
  if (!q.type.isTwoLevel())
    return k.load(q.scales, scaleIdx);
  RecordRef r = recordOf(k, q.type, scaleIdx);
  return k.mulf(recordSuper(k, q.scales, r.at),
                recordSub(k, q.type.getSubBits(), q.scales, r.at, r.sub));
}

Value mlir::qopt::groupOffset(KernelBuilder &k, const QuantBuffers &q,
                              ValueRange scaleIdx, Value scale) {
  if (!q.type.isTwoLevel())
    return k.mulf(scale, k.load(q.zeros, scaleIdx));
  RecordRef r = recordOf(k, q.type, scaleIdx);
  return k.mulf(recordSuper(k, q.zeros, r.at),
                recordSub(k, q.type.getSubBits(), q.zeros, r.at, r.sub));
}

bool mlir::qopt::groupVectorOk(QTensorType type, int64_t count) {
  if (!type.isTwoLevel())
    return true;
  int64_t perSuper = type.getGroupsPerSuper();
  return perSuper % count == 0 || count % perSuper == 0;
}

Value mlir::qopt::groupVector(KernelBuilder &k, const QuantBuffers &q,
                              bool offsets, Value n, Value g0, int64_t count) {
  if (!q.type.isTwoLevel()) {
    Type element = cast<MemRefType>(q.scales.getType()).getElementType();
    auto load = [&](Value values) {
      return k.widen(vector::LoadOp::create(k.b, k.loc,
                                            VectorType::get({count}, element),
                                            values, ValueRange{n, g0}));
    };
    Value scales = load(q.scales);
    return offsets ? k.mulf(scales, load(q.zeros)) : scales;
  }
  Value records = offsets ? q.zeros : q.scales;
  unsigned subBits = q.type.getSubBits();
  int64_t perSuper = q.type.getGroupsPerSuper();
  // Within one record, or whole records concatenated.
  int64_t chunk = std::min(count, perSuper);
  SmallVector<Value> chunks;
  for (int64_t c = 0; c < count; c += chunk) {
    RecordRef r = recordOf(k, q.type, {n, k.addi(g0, k.index(c))});
    Value subs = recordSubs(k, subBits, records, r.at, r.sub, chunk);
    Value super = recordSuper(k, records, r.at);
    chunks.push_back(k.mulf(
        k.splat(VectorType::get({chunk}, k.b.getF32Type()), super), subs));
  }
  return concatVectors(k, chunks);
}

Value mlir::qopt::concatVectors(KernelBuilder &k, ArrayRef<Value> parts) {
  auto length = [](Value v) {
    return cast<VectorType>(v.getType()).getNumElements();
  };
  SmallVector<Value> level(parts);
  while (level.size() > 1) {
    SmallVector<Value> next;
    for (size_t i = 0; i + 1 < level.size(); i += 2) {
      SmallVector<int64_t> mask(length(level[i]) + length(level[i + 1]));
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
