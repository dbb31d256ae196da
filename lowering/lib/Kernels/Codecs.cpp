//===- Codecs.cpp - dequantize, quantize and repack kernels -----*- C++ -*-===//
//
// The kernels that convert between floats and codes, or between code forms:
//  - qopt.kernel_dequantize: every element, any rank, layout and grouping;
//  - qopt.kernel_quantize: run-time RTN quantization with QuantMath's
//    arithmetic (computeGroupParams / quantizeValue) into the storage form;
//  - qopt.kernel_repack: codes from one form to another, slicing on the way.
// They are scalar loops: they serve standalone dequantization, run-time
// quantization and layout changes, not the matmuls.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;
using namespace mlir::qopt;

/// The logical sizes of a tensor of `type`'s shape: static dimensions as
/// constants, dynamic ones from `like` (a buffer of the same logical rank,
/// or of the nested storage rank when `nested`).
static SmallVector<Value> sizesOf(KernelBuilder &k, ArrayRef<int64_t> shape,
                                  Value like, bool nested) {
  SmallVector<Value> sizes;
  for (auto [d, size] : llvm::enumerate(shape))
    sizes.push_back(ShapedType::isDynamic(size) ? k.dim(like, d + nested)
                                                : k.index(size));
  return sizes;
}

/// Zero-fills a buffer of integers (the codes are OR-ed in afterwards).
static void zeroFill(KernelBuilder &k, Value buffer) {
  Type element = cast<MemRefType>(buffer.getType()).getElementType();
  Value zero = arith::ConstantOp::create(k.b, k.loc, element,
                                         k.b.getIntegerAttr(element, 0));
  linalg::FillOp::create(k.b, k.loc, ValueRange{zero}, ValueRange{buffer});
}

namespace {

//===----------------------------------------------------------------------===//
// Dequantize
//===----------------------------------------------------------------------===//

struct KernelDequantizeLowering
    : public OpConversionPattern<KernelDequantizeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KernelDequantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (op->getNumResults() != 0)
      return rewriter.notifyMatchFailure(op, "not bufferized");
    KernelBuilder k(rewriter, op.getLoc());
    auto type = cast<QTensorType>(op.getQtype());
    ValueRange parts = adaptor.getParts();
    QuantBuffers q{type, parts[0], parts[1],
                   type.isAsymmetric() ? parts[2] : Value(),
                   adaptor.getWidth()};
    Value out = adaptor.getInit();
    SmallVector<Value> sizes =
        sizesOf(k, type.getShape(), out, /*nested=*/false);
    k.forEachIndex(sizes, [&](ValueRange idx) {
      k.store(dequantizeElement(k, q, idx), out, idx);
    });
    rewriter.eraseOp(op);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Quantize
//===----------------------------------------------------------------------===//

/// True if `x` is finite (ordered and not +-inf).
static Value isFinite(KernelBuilder &k, Value x) {
  Value absx = math::AbsFOp::create(k.b, k.loc, x);
  return arith::CmpFOp::create(k.b, k.loc, arith::CmpFPredicate::ONE, absx,
                               k.f32(std::numeric_limits<float>::infinity()));
}

/// QuantMath's computeGroupParams from the group's min (<= 0) and max
/// (>= 0): returns (scale, zero) as f32.
static std::pair<Value, Value> groupParams(KernelBuilder &k, QTensorType type,
                                           Value lo, Value hi) {
  unsigned bits = type.getBits();
  auto select = [&](Value c, Value a, Value b) {
    return arith::SelectOp::create(k.b, k.loc, c, a, b).getResult();
  };
  auto gt = [&](Value a, Value b) {
    return arith::CmpFOp::create(k.b, k.loc, arith::CmpFPredicate::OGT, a, b)
        .getResult();
  };
  Value one = k.f32(1.0f), zero = k.f32(0.0f);
  auto sanitize = [&](Value scale) {
    Value ok = arith::AndIOp::create(
        k.b, k.loc, isFinite(k, scale),
        arith::CmpFOp::create(k.b, k.loc, arith::CmpFPredicate::ONE, scale,
                              zero));
    return select(ok, scale, one);
  };
  if (!type.isAsymmetric()) {
    Value absmax = arith::MaxNumFOp::create(
        k.b, k.loc, arith::NegFOp::create(k.b, k.loc, lo), hi);
    float levels = static_cast<float>((1u << (bits - 1)) - 1u);
    Value scale = levels > 0 ? select(gt(absmax, zero),
                                      k.divf(absmax, k.f32(levels)), one)
                             : one;
    return {sanitize(scale), k.f32(static_cast<float>(1u << (bits - 1)))};
  }
  float maxCode = static_cast<float>((1u << bits) - 1u);
  Value range = k.subf(hi, lo);
  Value scale =
      sanitize(select(gt(range, zero), k.divf(range, k.f32(maxCode)), one));
  Value z = math::RoundEvenOp::create(
      k.b, k.loc, k.divf(arith::NegFOp::create(k.b, k.loc, lo), scale));
  z = select(gt(z, zero), z, zero); // also NaN and -0 -> +0
  z = arith::MinimumFOp::create(k.b, k.loc, z, k.f32(maxCode));
  return {scale, z};
}

/// QuantMath's quantizeValue: clamp(round_half_even(x / a) + z, 0, 2^c - 1)
/// as an i32, NaN mapping to the zero point.
static Value quantizeScalar(KernelBuilder &k, unsigned bits, Value x,
                            Value scale, Value zero) {
  Value isNan =
      arith::CmpFOp::create(k.b, k.loc, arith::CmpFPredicate::UNO, x, x);
  Value q =
      k.addf(math::RoundEvenOp::create(k.b, k.loc, k.divf(x, scale)), zero);
  Value v = arith::SelectOp::create(k.b, k.loc, isNan, zero, q);
  // NaN or negative -> 0; above the top -> top.
  Value nonNeg = arith::CmpFOp::create(k.b, k.loc, arith::CmpFPredicate::OGE, v,
                                       k.f32(0.0f));
  v = arith::SelectOp::create(k.b, k.loc, nonNeg, v, k.f32(0.0f));
  v = arith::MinimumFOp::create(k.b, k.loc, v,
                                k.f32(static_cast<float>((1u << bits) - 1u)));
  v = math::RoundEvenOp::create(k.b, k.loc, v);
  return arith::FPToUIOp::create(k.b, k.loc, k.b.getI32Type(), v);
}

struct KernelQuantizeLowering : public OpConversionPattern<KernelQuantizeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KernelQuantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (op->getNumResults() != 0)
      return rewriter.notifyMatchFailure(op, "not bufferized");
    KernelBuilder k(rewriter, op.getLoc());
    auto type = cast<QTensorType>(op.getQtype());
    Value x = adaptor.getInput();
    ValueRange inits = adaptor.getInits(), params = adaptor.getParams();
    bool given = !params.empty();
    Value codes = inits[0];
    Value scales = given ? params[0] : inits[1];
    Value zeros =
        type.isAsymmetric() ? (given ? params[1] : inits[2]) : Value();
    zeroFill(k, codes);
    SmallVector<Value> sizes = sizesOf(k, type.getShape(), x, false);
    unsigned bits = type.getBits();

    // Visits every group: `outer` indexes the dimensions other than the
    // grouped one; the group spans [k0, k1) along `axis`.
    auto quantizeGroup = [&](ArrayRef<Value> sIdx, auto forEachElement) {
      Value scale, zero;
      if (given) {
        scale = k.load(scales, sIdx);
        zero = zeros ? k.load(zeros, sIdx)
                     : k.f32(static_cast<float>(1u << (bits - 1)));
      } else {
        // Pass 1: min(0, min x) and max(0, max x), NaNs ignored.
        Value lo = k.f32(0.0f), hi = k.f32(0.0f);
        Value scratch = memref::AllocaOp::create(
            k.b, k.loc, MemRefType::get({2}, k.b.getF32Type()));
        k.store(lo, scratch, {k.index(0)});
        k.store(hi, scratch, {k.index(1)});
        forEachElement([&](ValueRange idx) {
          Value v = k.load(x, idx);
          k.store(arith::MinNumFOp::create(k.b, k.loc,
                                           k.load(scratch, {k.index(0)}), v),
                  scratch, {k.index(0)});
          k.store(arith::MaxNumFOp::create(k.b, k.loc,
                                           k.load(scratch, {k.index(1)}), v),
                  scratch, {k.index(1)});
        });
        lo = k.load(scratch, {k.index(0)});
        hi = k.load(scratch, {k.index(1)});
        std::tie(scale, zero) = groupParams(k, type, lo, hi);
        k.store(scale, scales, sIdx);
        if (zeros)
          k.store(zero, zeros, sIdx);
        // Dequantization uses the stored (possibly 16-bit) parameters.
        scale = k.load(scales, sIdx);
        if (zeros)
          zero = k.load(zeros, sIdx);
      }
      // Pass 2: the codes.
      forEachElement([&](ValueRange idx) {
        Value code = quantizeScalar(k, bits, k.load(x, idx), scale, zero);
        storeCode(k, type, codes, idx, code);
      });
    };

    if (type.getGranularity() == Granularity::PerTensor) {
      quantizeGroup({}, [&](function_ref<void(ValueRange)> body) {
        k.forEachIndex(sizes, body);
      });
    } else {
      int64_t axis = type.getAxis();
      SmallVector<Value> outerSizes(sizes);
      Value axisSize = sizes[axis];
      int64_t group =
          type.getGranularity() == Granularity::Group ? type.getGroupSize() : 0;
      Value groupSize = group ? k.index(group) : axisSize;
      outerSizes[axis] =
          k.divui(k.subi(k.addi(axisSize, groupSize), k.index(1)),
                  groupSize); // number of groups
      k.forEachIndex(outerSizes, [&](ValueRange outer) {
        SmallVector<Value> sIdx(outer);
        Value g = outer[axis];
        Value k0 = k.muli(g, groupSize);
        Value k1 = k.minui(k.addi(k0, groupSize), axisSize);
        quantizeGroup(sIdx, [&](function_ref<void(ValueRange)> body) {
          k.forLoop(k0, k1, 1, [&](Value i) {
            SmallVector<Value> idx(outer);
            idx[axis] = i;
            body(idx);
          });
        });
      });
    }
    rewriter.eraseOp(op);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Repack
//===----------------------------------------------------------------------===//

struct KernelRepackLowering : public OpConversionPattern<KernelRepackOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KernelRepackOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (op->getNumResults() != 0)
      return rewriter.notifyMatchFailure(op, "not bufferized");
    KernelBuilder k(rewriter, op.getLoc());
    auto source = cast<QTensorType>(op.getSourceType());
    auto result = cast<QTensorType>(op.getResultType());
    QuantBuffers q{source,  adaptor.getSource(), Value(),
                   Value(), adaptor.getWidth(),  op.getSourceUnpacked()};
    Value out = adaptor.getInit();
    bool resultUnpacked = op.getResultUnpacked();
    // Sizes from whichever side holds one code per element.
    SmallVector<Value> sizes;
    if (resultUnpacked)
      sizes = sizesOf(k, result.getShape(), out, false);
    else if (op.getSourceUnpacked())
      sizes = sizesOf(k, source.getShape(), q.codes, false);
    else if (!source.getShape().empty() &&
             ShapedType::isDynamic(source.getShape().back()))
      return op.emitOpError("cannot repack packed codes whose last "
                            "dimension is dynamic");
    else
      sizes = sizesOf(k, source.getShape(), q.codes,
                      source.getLayout() == Layout::Nested);
    if (!resultUnpacked)
      zeroFill(k, out);
    Type outElement = cast<MemRefType>(out.getType()).getElementType();
    k.forEachIndex(sizes, [&](ValueRange idx) {
      auto [code, width] = loadServedCode(k, q, idx);
      if (result.getBits() < source.getBits() || q.width)
        code = sliceCode(k, code, width, k.i32(result.getBits()));
      if (!resultUnpacked) {
        storeCode(k, result, out, idx, code);
        return;
      }
      Value v = code;
      unsigned w = outElement.getIntOrFloatBitWidth();
      if (w < 32)
        v = arith::TruncIOp::create(k.b, k.loc, outElement, v);
      else if (w > 32)
        v = arith::ExtUIOp::create(k.b, k.loc, outElement, v);
      memref::StoreOp::create(k.b, k.loc, v, out, idx);
    });
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void mlir::qopt::populateCodecKernelPatterns(RewritePatternSet &patterns) {
  patterns.add<KernelDequantizeLowering, KernelQuantizeLowering,
               KernelRepackLowering>(patterns.getContext());
}
