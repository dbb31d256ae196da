//===- QuantizedCodes.cpp - Quantized code I/O ------------------*- C++ -*-===//
//
// The readers and writers of quantized codes in their storage forms (dense
// rows at c bits, nested bit planes), scalar and vector, and the Matryoshka
// slice arithmetic, shared by the matmul, gather and codec kernels
// (declared in KernelBuilder.h).
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::qopt;

//===----------------------------------------------------------------------===//
// Scalar code readers
//===----------------------------------------------------------------------===//

/// The parent width P of `type`: the width its scales are expressed in.
static unsigned parentBits(QTensorType type) {
  return type.getEffectiveParentBits();
}

Value mlir::qopt::servedWidth(KernelBuilder &k, const QuantBuffers &q) {
  if (!q.width)
    return k.i32(q.type.getBits());
  // Clamp the run-time width to [1, P].
  Value w = arith::IndexCastOp::create(k.b, k.loc, k.b.getI32Type(), q.width);
  w = arith::MaxSIOp::create(k.b, k.loc, w, k.i32(1));
  return arith::MinSIOp::create(k.b, k.loc, w, k.i32(parentBits(q.type)));
}

Value mlir::qopt::sliceCode(KernelBuilder &k, Value q, Value c, Value r) {
  // r >= c keeps q. shift = c - r (>= 0); half = shift > 0 ? 1 << (shift - 1)
  // : 0.
  r = arith::MinSIOp::create(k.b, k.loc, r, c);
  Value shift = k.subi(c, r);
  Value one = k.i32(1);
  Value positive = arith::CmpIOp::create(k.b, k.loc, arith::CmpIPredicate::sgt,
                                         shift, k.i32(0));
  Value half = arith::SelectOp::create(
      k.b, k.loc, positive,
      arith::ShLIOp::create(k.b, k.loc, one, k.subi(shift, one)), k.i32(0));
  Value rounded = arith::ShRUIOp::create(k.b, k.loc, k.addi(q, half), shift);
  Value top = k.subi(arith::ShLIOp::create(k.b, k.loc, one, r), one);
  return k.minui(rounded, top);
}

/// Byte `byteIdx` of the last dimension of `storage` at leading indices
/// `prefix`, zero-extended to i32.
static Value loadByte(KernelBuilder &k, Value storage, ValueRange prefix,
                      Value byteIdx) {
  SmallVector<Value> idx(prefix);
  idx.push_back(byteIdx);
  Value byte = memref::LoadOp::create(k.b, k.loc, storage, idx);
  Type element = byte.getType();
  if (element.getIntOrFloatBitWidth() > 32)
    return arith::TruncIOp::create(k.b, k.loc, k.b.getI32Type(), byte);
  if (element.getIntOrFloatBitWidth() < 32)
    return arith::ExtUIOp::create(k.b, k.loc, k.b.getI32Type(), byte);
  return byte;
}

std::pair<Value, Value> mlir::qopt::loadServedCode(KernelBuilder &k,
                                                   const QuantBuffers &q,
                                                   ValueRange indices) {
  QTensorType type = q.type;
  unsigned bits = type.getBits();
  Value r = servedWidth(k, q);
  if (q.unpacked) {
    // One code per element (an integer of any width).
    Value code = loadByte(k, q.codes, indices.drop_back(), indices.back());
    return {arith::AndIOp::create(k.b, k.loc, code, k.i32((1u << bits) - 1u)),
            r};
  }
  SmallVector<Value> idx(indices);
  if (idx.empty())
    idx.push_back(k.index(0)); // rank 0: one row of one element
  Value col = idx.back();
  ValueRange prefix = ValueRange(idx).drop_back();
  if (type.getLayout() == Layout::Dense) {
    // Element `col` is bits [col*c, (col+1)*c) of the row's bytes; it may
    // straddle two bytes (c = 3, 5, 6, 7). The second byte index is clamped
    // to the row so the last element never reads past it.
    Value bit = k.muli(col, k.index(bits));
    Value byteIdx = k.divui(bit, k.index(8));
    auto storageType = cast<MemRefType>(q.codes.getType());
    Value rowBytes = k.dim(q.codes, storageType.getRank() - 1);
    Value next =
        k.minui(k.addi(byteIdx, k.index(1)), k.subi(rowBytes, k.index(1)));
    Value lo = loadByte(k, q.codes, prefix, byteIdx);
    Value hi = loadByte(k, q.codes, prefix, next);
    Value both = arith::OrIOp::create(
        k.b, k.loc, lo, arith::ShLIOp::create(k.b, k.loc, hi, k.i32(8)));
    Value shift = arith::IndexCastOp::create(k.b, k.loc, k.b.getI32Type(),
                                             k.remui(bit, k.index(8)));
    Value code = arith::AndIOp::create(
        k.b, k.loc, arith::ShRUIOp::create(k.b, k.loc, both, shift),
        k.i32((1u << bits) - 1u));
    return {code, k.i32(bits)};
  }
  // Nested: plane p holds bit P-1-p of each parent code; element `col` is
  // bit col % 8 of byte col / 8. Read the top min(r + 1, P) planes.
  unsigned parent = parentBits(type);
  Value planes = k.minui(k.addi(r, k.i32(1)), k.i32(parent));
  Value byteIdx = k.divui(col, k.index(8));
  Value bitInByte = arith::IndexCastOp::create(k.b, k.loc, k.b.getI32Type(),
                                               k.remui(col, k.index(8)));
  Value planesIdx =
      arith::IndexCastOp::create(k.b, k.loc, k.b.getIndexType(), planes);
  Value top = k.forLoopCarried(
      k.index(0), planesIdx, 1, {k.i32(0)},
      [&](Value p, ValueRange acc) -> SmallVector<Value> {
        SmallVector<Value> planePrefix{p};
        planePrefix.append(prefix.begin(), prefix.end());
        Value byte = loadByte(k, q.codes, planePrefix, byteIdx);
        Value bitv = arith::AndIOp::create(
            k.b, k.loc, arith::ShRUIOp::create(k.b, k.loc, byte, bitInByte),
            k.i32(1));
        Value pos =
            k.subi(k.i32(parent - 1),
                   arith::IndexCastOp::create(k.b, k.loc, k.b.getI32Type(), p));
        return {arith::OrIOp::create(
            k.b, k.loc, acc[0], arith::ShLIOp::create(k.b, k.loc, bitv, pos))};
      })[0];
  // The served code: S(q, r) from the planes read (the low planes are zero,
  // which sliceCode never looks at).
  return {sliceCode(k, top, k.i32(parent), r), r};
}

Value mlir::qopt::loadCodeValue(KernelBuilder &k, const QuantBuffers &q,
                                ValueRange indices) {
  auto [code, r] = loadServedCode(k, q, indices);
  Value shift = k.subi(k.i32(parentBits(q.type)), r);
  return arith::ShLIOp::create(k.b, k.loc, code, shift);
}

SmallVector<Value> mlir::qopt::scaleIndices(KernelBuilder &k, QTensorType type,
                                            ValueRange indices) {
  if (type.getGranularity() == Granularity::PerTensor)
    return {};
  SmallVector<Value> idx(indices);
  int64_t axis = type.getAxis();
  if (type.getGranularity() == Granularity::PerChannel)
    idx[axis] = k.index(0);
  else
    idx[axis] = k.divui(idx[axis], k.index(type.getGroupSize()));
  return idx;
}

Value mlir::qopt::zeroValue(KernelBuilder &k, const QuantBuffers &q,
                            ValueRange scaleIdx) {
  if (!q.zeros)
    return k.f32(static_cast<float>(1u << (parentBits(q.type) - 1)));
  return k.load(q.zeros, scaleIdx);
}

Value mlir::qopt::dequantizeElement(KernelBuilder &k, const QuantBuffers &q,
                                    ValueRange indices) {
  SmallVector<Value> sIdx = scaleIndices(k, q.type, indices);
  Value code = arith::UIToFPOp::create(k.b, k.loc, k.b.getF32Type(),
                                       loadCodeValue(k, q, indices));
  Value scale = groupScale(k, q, sIdx);
  // K-quant form: a * q - m, ggml's order of roundings.
  if (q.type.isTwoLevel() && q.zeros)
    return k.subf(k.mulf(scale, code), groupOffset(k, q, sIdx, scale));
  return k.mulf(scale, k.subf(code, zeroValue(k, q, sIdx)));
}

//===----------------------------------------------------------------------===//
// Vector code readers
//===----------------------------------------------------------------------===//

bool mlir::qopt::canVectorizeCodes(const KernelBuilder &k,
                                   const QuantBuffers &q, int64_t groupStep) {
  if (q.unpacked || k.width % 8 != 0 || groupStep % 8 != 0)
    return false;
  return q.type.getRank() == 2;
}

/// Lane i of the result = lane `picks[i]` of `v` (one vector).
static Value pick(KernelBuilder &k, Value v, ArrayRef<int64_t> picks) {
  return vector::ShuffleOp::create(k.b, k.loc, v, v, picks);
}

Value mlir::qopt::loadCodeVector(KernelBuilder &k, const QuantBuffers &q,
                                 Value row, Value col) {
  QTensorType type = q.type;
  unsigned bits = type.getBits(), parent = parentBits(type);
  int64_t w = k.width;
  Type i8 = k.b.getI8Type(), i16 = k.b.getI16Type(), i32 = k.b.getI32Type();
  auto f32Vec = VectorType::get({w}, k.b.getF32Type());
  auto i32Vec = VectorType::get({w}, i32);
  auto toFloat = [&](Value codes) {
    return arith::UIToFPOp::create(k.b, k.loc, f32Vec, codes).getResult();
  };
  if (type.getLayout() == Layout::Dense) {
    Value codes;
    if (bits == 8) {
      codes = vector::LoadOp::create(k.b, k.loc, VectorType::get({w}, i8),
                                     q.codes, ValueRange{row, col});
    } else if (8 % bits == 0) {
      // 1, 2 and 4 bits tile a byte: code s of each byte is
      // (byte >> (s * c)) & mask; interleaving those vectors (recursively,
      // evens then odds) restores element order.
      int64_t per = 8 / bits, nbytes = w / per;
      auto byteVec = VectorType::get({nbytes}, i8);
      Value byteCol = k.divui(col, k.index(per));
      Value bytes = vector::LoadOp::create(k.b, k.loc, byteVec, q.codes,
                                           ValueRange{row, byteCol});
      auto splat8 = [&](int64_t v) {
        return k.splat(byteVec, arith::ConstantIntOp::create(k.b, k.loc, v, 8));
      };
      SmallVector<Value> parts;
      for (int64_t s = 0; s < per; ++s) {
        Value shifted =
            s == 0 ? bytes
                   : arith::ShRUIOp::create(k.b, k.loc, bytes, splat8(s * bits))
                         .getResult();
        parts.push_back(arith::AndIOp::create(k.b, k.loc, shifted,
                                              splat8((1 << bits) - 1)));
      }
      std::function<Value(ArrayRef<Value>)> combine =
          [&](ArrayRef<Value> vs) -> Value {
        if (vs.size() == 1)
          return vs.front();
        SmallVector<Value> evens, odds;
        for (auto [i, v] : llvm::enumerate(vs))
          (i % 2 ? odds : evens).push_back(v);
        return vector::InterleaveOp::create(k.b, k.loc, combine(evens),
                                            combine(odds));
      };
      codes = combine(parts);
    } else {
      // w codes of c bits are w*c/8 bytes starting at col*c/8 (col is a
      // multiple of 8). Lane i takes its low byte and the next one, joins
      // them as 16 bits, shifts and masks.
      int64_t nbytes = w * bits / 8;
      Value byteCol = k.divui(k.muli(col, k.index(bits)), k.index(8));
      Value bytes =
          vector::LoadOp::create(k.b, k.loc, VectorType::get({nbytes}, i8),
                                 q.codes, ValueRange{row, byteCol});
      SmallVector<int64_t> lo, hi, shifts;
      for (int64_t i = 0; i < w; ++i) {
        int64_t bit = i * bits;
        lo.push_back(bit / 8);
        hi.push_back(std::min<int64_t>(bit / 8 + 1, nbytes - 1));
        shifts.push_back(bit % 8);
      }
      auto i16Vec = VectorType::get({w}, i16);
      Value loV =
          arith::ExtUIOp::create(k.b, k.loc, i16Vec, pick(k, bytes, lo));
      Value hiV =
          arith::ExtUIOp::create(k.b, k.loc, i16Vec, pick(k, bytes, hi));
      Value joined = arith::OrIOp::create(
          k.b, k.loc, loV,
          arith::ShLIOp::create(k.b, k.loc, hiV,
                                k.splat(i16Vec, arith::ConstantIntOp::create(
                                                    k.b, k.loc, 8, 16))));
      Value shifted =
          arith::ShRUIOp::create(k.b, k.loc, joined, k.intVector(shifts, i16));
      codes = arith::AndIOp::create(
          k.b, k.loc, shifted,
          k.splat(i16Vec, arith::ConstantIntOp::create(k.b, k.loc,
                                                       (1 << bits) - 1, 16)));
    }
    Value values = toFloat(codes);
    if (parent > bits) // a dense slice: codes are in units of 2^(p-c)
      values = arith::MulFOp::create(
          k.b, k.loc, values,
          k.splat(f32Vec, k.f32(static_cast<float>(1u << (parent - bits)))));
    return values;
  }
  // Nested: w lanes take w/8 bytes of each plane; lane i tests bit i % 8 of
  // byte i / 8.
  int64_t nbytes = w / 8;
  Value r = servedWidth(k, q);
  Value planes =
      arith::IndexCastOp::create(k.b, k.loc, k.b.getIndexType(),
                                 k.minui(k.addi(r, k.i32(1)), k.i32(parent)));
  Value byteCol = k.divui(col, k.index(8));
  SmallVector<int64_t> byteOfLane, bitOfLane;
  for (int64_t i = 0; i < w; ++i) {
    byteOfLane.push_back(i / 8);
    bitOfLane.push_back(1 << (i % 8));
  }
  Value laneBits = k.intVector(bitOfLane, i8);
  Value zeroV = k.splat(i32Vec, k.i32(0));
  Value top = k.forLoopCarried(
      k.index(0), planes, 1, {zeroV},
      [&](Value p, ValueRange acc) -> SmallVector<Value> {
        Value bytes =
            vector::LoadOp::create(k.b, k.loc, VectorType::get({nbytes}, i8),
                                   q.codes, ValueRange{p, row, byteCol});
        Value lanes = pick(k, bytes, byteOfLane);
        Value set = arith::CmpIOp::create(
            k.b, k.loc, arith::CmpIPredicate::ne,
            arith::AndIOp::create(k.b, k.loc, lanes, laneBits),
            k.splat(VectorType::get({w}, i8),
                    arith::ConstantIntOp::create(k.b, k.loc, 0, 8)));
        Value pos = k.subi(k.i32(parent - 1),
                           arith::IndexCastOp::create(k.b, k.loc, i32, p));
        Value bitValue = arith::ShLIOp::create(k.b, k.loc, k.i32(1), pos);
        Value add = arith::SelectOp::create(k.b, k.loc, set,
                                            k.splat(i32Vec, bitValue), zeroV);
        return {arith::OrIOp::create(k.b, k.loc, acc[0], add)};
      })[0];
  // Slice in parent units: min((top + half) >> shift, 2^r - 1) << shift.
  Value shift = k.subi(k.i32(parent), r);
  Value one = k.i32(1);
  Value positive = arith::CmpIOp::create(k.b, k.loc, arith::CmpIPredicate::sgt,
                                         shift, k.i32(0));
  Value half = arith::SelectOp::create(
      k.b, k.loc, positive,
      arith::ShLIOp::create(k.b, k.loc, one, k.subi(shift, one)), k.i32(0));
  Value maxCode = k.subi(arith::ShLIOp::create(k.b, k.loc, one, r), one);
  Value shiftV = k.splat(i32Vec, shift);
  Value rounded = arith::ShRUIOp::create(
      k.b, k.loc, arith::AddIOp::create(k.b, k.loc, top, k.splat(i32Vec, half)),
      shiftV);
  Value clamped =
      arith::MinUIOp::create(k.b, k.loc, rounded, k.splat(i32Vec, maxCode));
  return toFloat(arith::ShLIOp::create(k.b, k.loc, clamped, shiftV));
}

//===----------------------------------------------------------------------===//
// Code writer
//===----------------------------------------------------------------------===//

/// storage[prefix..., byteIdx] |= value (an i32 holding at most 8 bits).
static void orByte(KernelBuilder &k, Value storage, ValueRange prefix,
                   Value byteIdx, Value value) {
  SmallVector<Value> idx(prefix);
  idx.push_back(byteIdx);
  Value old = memref::LoadOp::create(k.b, k.loc, storage, idx);
  Value add = arith::TruncIOp::create(k.b, k.loc, old.getType(), value);
  memref::StoreOp::create(
      k.b, k.loc, arith::OrIOp::create(k.b, k.loc, old, add), storage, idx);
}

void mlir::qopt::storeCode(KernelBuilder &k, QTensorType type, Value storage,
                           ValueRange indices, Value code) {
  unsigned bits = type.getBits();
  SmallVector<Value> idx(indices);
  if (idx.empty())
    idx.push_back(k.index(0));
  Value col = idx.back();
  ValueRange prefix = ValueRange(idx).drop_back();
  if (type.getLayout() == Layout::Dense) {
    Value bit = k.muli(col, k.index(bits));
    Value byteIdx = k.divui(bit, k.index(8));
    Value shift = arith::IndexCastOp::create(k.b, k.loc, k.b.getI32Type(),
                                             k.remui(bit, k.index(8)));
    Value shifted = arith::ShLIOp::create(k.b, k.loc, code, shift);
    orByte(k, storage, prefix, byteIdx,
           arith::AndIOp::create(k.b, k.loc, shifted, k.i32(255)));
    // The high part, if the code straddles into the next byte.
    Value spill = arith::ShRUIOp::create(k.b, k.loc, shifted, k.i32(8));
    Value straddles = arith::CmpIOp::create(
        k.b, k.loc, arith::CmpIPredicate::ne, spill, k.i32(0));
    auto ifOp = scf::IfOp::create(k.b, k.loc, straddles, /*else=*/false);
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPointToStart(ifOp.thenBlock());
    orByte(k, storage, prefix, k.addi(byteIdx, k.index(1)), spill);
    return;
  }
  unsigned parent = type.getEffectiveParentBits();
  Value byteIdx = k.divui(col, k.index(8));
  Value bitInByte = arith::IndexCastOp::create(k.b, k.loc, k.b.getI32Type(),
                                               k.remui(col, k.index(8)));
  for (unsigned p = 0; p < parent; ++p) {
    Value bitv = arith::AndIOp::create(
        k.b, k.loc,
        arith::ShRUIOp::create(k.b, k.loc, code, k.i32(parent - 1 - p)),
        k.i32(1));
    SmallVector<Value> planePrefix{k.index(p)};
    planePrefix.append(prefix.begin(), prefix.end());
    orByte(k, storage, planePrefix, byteIdx,
           arith::ShLIOp::create(k.b, k.loc, bitv, bitInByte));
  }
}
