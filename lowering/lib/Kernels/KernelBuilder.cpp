//===- KernelBuilder.cpp - Helpers of the kernel patterns -------*- C++ -*-===//
//
// Loops, arithmetic and the float dot product of the kernel builder (see
// KernelBuilder.h and docs/lowering.md); the quantized code readers and
// writers are in QuantizedCodes.cpp.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::qopt;

/// Independent vector accumulators of the float dot products.
static constexpr int64_t kUnroll = 4;

//===----------------------------------------------------------------------===//
// Arithmetic
//===----------------------------------------------------------------------===//

Value KernelBuilder::index(int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}
Value KernelBuilder::i32(int64_t v) {
  return arith::ConstantIntOp::create(b, loc, v, 32);
}
Value KernelBuilder::f32(float v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}
Value KernelBuilder::addi(Value x, Value y) {
  return arith::AddIOp::create(b, loc, x, y);
}
Value KernelBuilder::subi(Value x, Value y) {
  return arith::SubIOp::create(b, loc, x, y);
}
Value KernelBuilder::muli(Value x, Value y) {
  return arith::MulIOp::create(b, loc, x, y);
}
Value KernelBuilder::divui(Value x, Value y) {
  return arith::DivUIOp::create(b, loc, x, y);
}
Value KernelBuilder::remui(Value x, Value y) {
  return arith::RemUIOp::create(b, loc, x, y);
}
Value KernelBuilder::minui(Value x, Value y) {
  return arith::MinUIOp::create(b, loc, x, y);
}
Value KernelBuilder::maxsi(Value x, Value y) {
  return arith::MaxSIOp::create(b, loc, x, y);
}
Value KernelBuilder::addf(Value x, Value y, arith::FastMathFlags flags) {
  return arith::AddFOp::create(b, loc, x, y, flags);
}
Value KernelBuilder::subf(Value x, Value y) {
  return arith::SubFOp::create(b, loc, x, y);
}
Value KernelBuilder::mulf(Value x, Value y) {
  return arith::MulFOp::create(b, loc, x, y);
}
Value KernelBuilder::divf(Value x, Value y) {
  return arith::DivFOp::create(b, loc, x, y);
}

Value KernelBuilder::widen(Value v) {
  Type element = getElementTypeOrSelf(v.getType());
  if (!element.isF16() && !element.isBF16())
    return v;
  Type target = b.getF32Type();
  if (auto vec = dyn_cast<VectorType>(v.getType()))
    target = vec.clone(target);
  return arith::ExtFOp::create(b, loc, target, v);
}

Value KernelBuilder::load(Value memref, ValueRange indices) {
  return widen(memref::LoadOp::create(b, loc, memref, indices));
}

Value KernelBuilder::vectorLoad(Value memref, ValueRange indices) {
  Type element = cast<MemRefType>(memref.getType()).getElementType();
  return widen(vector::LoadOp::create(b, loc, VectorType::get({width}, element),
                                      memref, indices));
}

void KernelBuilder::store(Value value, Value memref, ValueRange indices) {
  Type element = cast<MemRefType>(memref.getType()).getElementType();
  if (element != value.getType())
    value = arith::TruncFOp::create(b, loc, element, value);
  memref::StoreOp::create(b, loc, value, memref, indices);
}

Value KernelBuilder::dim(Value memref, int64_t d) {
  auto type = cast<MemRefType>(memref.getType());
  if (!type.isDynamicDim(d))
    return index(type.getDimSize(d));
  return memref::DimOp::create(b, loc, memref, d);
}

Value KernelBuilder::intVector(ArrayRef<int64_t> values, Type element) {
  auto type = VectorType::get({static_cast<int64_t>(values.size())}, element);
  SmallVector<APInt> bits;
  for (int64_t v : values)
    bits.push_back(APInt(element.getIntOrFloatBitWidth(), v));
  return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(type, bits));
}

Value KernelBuilder::splat(VectorType type, Value scalar) {
  return vector::BroadcastOp::create(b, loc, type, scalar);
}

//===----------------------------------------------------------------------===//
// Loops
//===----------------------------------------------------------------------===//

void KernelBuilder::forLoop(Value lb, Value ub, int64_t step,
                            function_ref<void(Value)> body) {
  auto loop = scf::ForOp::create(b, loc, lb, ub, index(step));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  body(loop.getInductionVar());
}

void KernelBuilder::forLoop(int64_t lb, Value ub,
                            function_ref<void(Value)> body) {
  forLoop(index(lb), ub, 1, body);
}

void KernelBuilder::parallelLoop(int64_t lb, Value ub,
                                 function_ref<void(Value)> body,
                                 StringRef schedule) {
  parallelLoop(index(lb), ub, body, schedule);
}

void KernelBuilder::parallelLoop(Value lb, Value ub,
                                 function_ref<void(Value)> body,
                                 StringRef schedule) {
  auto loop = scf::ParallelOp::create(b, loc, ValueRange{lb}, ValueRange{ub},
                                      ValueRange{index(1)});
  if (!schedule.empty())
    loop->setAttr(kScheduleHintAttrName, b.getStringAttr(schedule));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  body(loop.getInductionVars()[0]);
}

StringRef KernelBuilder::rowLoopSchedule(int64_t rowBytes) {
  constexpr int64_t kGuidedRowBytes = 4096;
  return rowBytes >= kGuidedRowBytes ? "guided" : "";
}

SmallVector<Value> KernelBuilder::forLoopCarried(
    Value lb, Value ub, int64_t step, ValueRange init,
    function_ref<SmallVector<Value>(Value, ValueRange)> body) {
  auto loop = scf::ForOp::create(
      b, loc, lb, ub, index(step), init,
      [&](OpBuilder &nested, Location, Value iv, ValueRange args) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nested.getInsertionBlock(),
                            nested.getInsertionPoint());
        SmallVector<Value> next = body(iv, args);
        scf::YieldOp::create(b, loc, next);
      });
  return SmallVector<Value>(loop.getResults());
}

void KernelBuilder::forEachIndex(ArrayRef<Value> sizes,
                                 function_ref<void(ValueRange)> body) {
  SmallVector<Value> ivs;
  std::function<void(size_t)> nest = [&](size_t d) {
    if (d == sizes.size()) {
      body(ivs);
      return;
    }
    forLoop(0, sizes[d], [&](Value iv) {
      ivs.push_back(iv);
      nest(d + 1);
      ivs.pop_back();
    });
  };
  nest(0);
}

Value KernelBuilder::dot(Value a, ValueRange aPrefix, Value aOffset, Value c,
                         ValueRange cPrefix, Value cOffset, int64_t length) {
  auto vecType = VectorType::get({width}, b.getF32Type());
  auto reassoc = arith::FastMathFlags::reassoc;
  auto indices = [&](ValueRange prefix, Value offset, Value kk) {
    SmallVector<Value> idx(prefix);
    idx.push_back(addi(offset, kk));
    return idx;
  };
  Value result = f32(0.0f);
  int64_t k0 = 0;
  if (length >= width) {
    Value zero = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vecType, b.getF32FloatAttr(0.0f)));
    SmallVector<Value> accs(kUnroll, zero);
    int64_t chunk = width * kUnroll;
    int64_t mainEnd = length / chunk * chunk;
    if (mainEnd > 0) {
      accs = forLoopCarried(
          index(0), index(mainEnd), chunk, accs,
          [&](Value kk, ValueRange carried) {
            SmallVector<Value> next;
            for (int64_t u = 0; u < kUnroll; ++u) {
              Value ku = addi(kk, index(u * width));
              Value va = vectorLoad(a, indices(aPrefix, aOffset, ku));
              Value vc = vectorLoad(c, indices(cPrefix, cOffset, ku));
              next.push_back(vector::FMAOp::create(b, loc, va, vc, carried[u]));
            }
            return next;
          });
    }
    k0 = mainEnd;
    for (int64_t u = 0; k0 + width <= length; k0 += width, ++u) {
      Value kk = index(k0);
      accs[u % kUnroll] = vector::FMAOp::create(
          b, loc, vectorLoad(a, indices(aPrefix, aOffset, kk)),
          vectorLoad(c, indices(cPrefix, cOffset, kk)), accs[u % kUnroll]);
    }
    Value sum = accs[0];
    for (int64_t u = 1; u < kUnroll; ++u)
      sum = addf(sum, accs[u], reassoc);
    result = vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                         sum, reassoc);
  }
  for (; k0 < length; ++k0) {
    Value kk = index(k0);
    result = addf(result, mulf(load(a, indices(aPrefix, aOffset, kk)),
                               load(c, indices(cPrefix, cOffset, kk))));
  }
  return result;
}
