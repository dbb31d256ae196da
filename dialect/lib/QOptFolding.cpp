//===- QOptFolding.cpp - Constant folding of qopt ops -----------*- C++ -*-===//
//
// Canonicalization patterns that evaluate quantize, slice and dequantize on
// constants. All arithmetic goes through qopt/Runtime/QuantMath.h, the same
// reference the runtime kernels and tests use, so a folded constant is bit
// for bit what a kernel would compute.
//
// A qtensor is an aggregate of three tensors, so "folding to a constant"
// means building a qopt.pack of arith.constant codes, scales and zero
// points; that is why these are patterns rather than OpFoldResult folders.
//
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/QOptOps.h"
#include "qopt/Runtime/QuantMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::qopt;

namespace rt = ::qopt::runtime;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Maps a linear element index of a quantized tensor to the linear index of
/// its scale, following the granularity rules of !qopt.qtensor.
namespace {
class GroupIndexer {
public:
  explicit GroupIndexer(QTensorType type) {
    ArrayRef<int64_t> shape = type.getShape();
    perTensor = type.getGranularity() == Granularity::PerTensor;
    if (perTensor)
      return;
    int64_t axis = type.getAxis();
    axisDim = shape[axis];
    perGroup = type.getElementsPerGroup();
    inner = 1;
    for (int64_t d : shape.drop_front(axis + 1))
      inner *= d;
  }

  /// Linear index of the scale of element `i`.
  int64_t scaleIndex(int64_t i) const {
    if (perTensor)
      return 0;
    int64_t outer = i / (axisDim * inner);
    int64_t along = (i / inner) % axisDim;
    int64_t in = i % inner;
    return (outer * (axisDim / perGroup) + along / perGroup) * inner + in;
  }

  /// Elements of group `g` are `first(g) + k * stride()` for k < count().
  int64_t first(int64_t g) const {
    if (perTensor)
      return 0;
    int64_t groupsAlong = axisDim / perGroup;
    int64_t in = g % inner;
    int64_t rest = g / inner;
    int64_t along = rest % groupsAlong;
    int64_t outer = rest / groupsAlong;
    return (outer * axisDim + along * perGroup) * inner + in;
  }
  int64_t stride() const { return perTensor ? 1 : inner; }

private:
  bool perTensor = false;
  int64_t axisDim = 1, perGroup = 1, inner = 1;
};
} // namespace

/// True for the float types the folders evaluate (in f32 arithmetic).
static bool isFoldableFloat(Type type) {
  return type.isF32() || type.isF16() || type.isBF16();
}

/// Rounds `value` to the precision of `type` (f32, f16 or bf16).
static float roundTo(float value, FloatType type) {
  APFloat v(value);
  bool losesInfo;
  v.convert(type.getFloatSemantics(), APFloat::rmNearestTiesToEven,
            &losesInfo);
  v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &losesInfo);
  return v.convertToFloat();
}

/// Reads a constant float tensor as f32 values.
static SmallVector<float> readFloats(DenseElementsAttr attr) {
  SmallVector<float> out;
  out.reserve(attr.getNumElements());
  for (APFloat v : attr.getValues<APFloat>()) {
    bool losesInfo;
    v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven,
              &losesInfo);
    out.push_back(v.convertToFloat());
  }
  return out;
}

/// Builds a constant float tensor of `type` from f32 values.
static Value makeFloatConstant(PatternRewriter &rewriter, Location loc,
                               RankedTensorType type, ArrayRef<float> values) {
  auto elementType = cast<FloatType>(type.getElementType());
  SmallVector<APFloat> elements;
  elements.reserve(values.size());
  for (float v : values) {
    APFloat f(v);
    bool losesInfo;
    f.convert(elementType.getFloatSemantics(), APFloat::rmNearestTiesToEven,
              &losesInfo);
    elements.push_back(f);
  }
  return arith::ConstantOp::create(rewriter, loc,
                                   DenseElementsAttr::get(type, elements));
}

/// Builds a constant tensor of i8 codes with `shape`.
static Value makeCodesConstant(PatternRewriter &rewriter, Location loc,
                               ArrayRef<int64_t> shape,
                               ArrayRef<uint32_t> codes) {
  auto type = RankedTensorType::get(shape, rewriter.getI8Type());
  SmallVector<APInt> elements;
  elements.reserve(codes.size());
  for (uint32_t c : codes)
    elements.emplace_back(8, c);
  return arith::ConstantOp::create(rewriter, loc,
                                   DenseElementsAttr::get(type, elements));
}

/// Reads constant codes, failing if one does not fit in `bits`.
static FailureOr<SmallVector<uint32_t>> readCodes(DenseElementsAttr attr,
                                                  unsigned bits) {
  SmallVector<uint32_t> out;
  out.reserve(attr.getNumElements());
  for (APInt v : attr.getValues<APInt>()) {
    uint64_t code = v.getZExtValue();
    if (code > rt::maxCode(bits))
      return failure();
    out.push_back(static_cast<uint32_t>(code));
  }
  return out;
}

/// True if `type` has a fully static shape the folders can evaluate.
static bool isFoldableType(QTensorType type) {
  return llvm::none_of(type.getShape(), ShapedType::isDynamic) &&
         isFoldableFloat(type.getExpressedType());
}

//===----------------------------------------------------------------------===//
// quantize(constant) -> pack(constant codes, scales, zeros)
//===----------------------------------------------------------------------===//

namespace {
struct FoldQuantizeOfConstant : public OpRewritePattern<QuantizeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(QuantizeOp op,
                                PatternRewriter &rewriter) const override {
    QTensorType type = op.getType();
    if (!isFoldableType(type))
      return rewriter.notifyMatchFailure(
          op, "needs a static shape and an f32/f16/bf16 expressed type");
    DenseElementsAttr input, givenScales, givenZeros;
    if (!matchPattern(op.getInput(), m_Constant(&input)))
      return rewriter.notifyMatchFailure(op, "input is not a constant");
    if (op.getScales() &&
        !matchPattern(op.getScales(), m_Constant(&givenScales)))
      return rewriter.notifyMatchFailure(op, "scales are not constant");
    if (op.getZeros() && !matchPattern(op.getZeros(), m_Constant(&givenZeros)))
      return rewriter.notifyMatchFailure(op, "zero points are not constant");

    SmallVector<float> x = readFloats(input);
    RankedTensorType scalesType = type.getScalesType();
    int64_t numGroups = scalesType.getNumElements();
    auto expressed = cast<FloatType>(type.getExpressedType());
    GroupIndexer indexer(type);
    unsigned bits = type.getBits();
    rt::Scheme scheme =
        type.isAsymmetric() ? rt::Scheme::Asymmetric : rt::Scheme::Symmetric;
    int64_t perGroup =
        x.empty() ? 0 : static_cast<int64_t>(x.size()) / numGroups;

    SmallVector<float> scales(numGroups), zeros(numGroups);
    if (givenScales) {
      scales = readFloats(givenScales);
      if (llvm::any_of(scales,
                       [](float a) { return !std::isfinite(a) || a <= 0; }))
        return rewriter.notifyMatchFailure(
            op, "a given scale is not a positive finite number");
      if (givenZeros)
        zeros = readFloats(givenZeros);
      else
        zeros.assign(numGroups, static_cast<float>(rt::symmetricZero(bits)));
    } else {
      for (int64_t g = 0; g < numGroups; ++g) {
        rt::GroupParams p =
            rt::computeGroupParams(x.data() + indexer.first(g), perGroup,
                                   indexer.stride(), bits, scheme);
        // The scale is stored in the expressed type: quantize with the value
        // that will actually be stored.
        scales[g] = roundTo(p.scale, expressed);
        zeros[g] = p.zero;
      }
    }

    SmallVector<uint32_t> codes(x.size());
    for (int64_t i = 0, e = x.size(); i < e; ++i) {
      int64_t g = indexer.scaleIndex(i);
      codes[i] = rt::quantizeValue(x[i], scales[g], zeros[g], bits);
    }

    Location loc = op.getLoc();
    Value codesValue = makeCodesConstant(rewriter, loc, type.getShape(), codes);
    Value scalesValue = op.getScales()
                            ? op.getScales()
                            : makeFloatConstant(rewriter, loc, scalesType,
                                                scales);
    Value zerosValue;
    if (type.isAsymmetric())
      zerosValue = op.getZeros() ? op.getZeros()
                                 : makeFloatConstant(rewriter, loc, scalesType,
                                                     zeros);
    rewriter.replaceOpWithNewOp<PackOp>(op, type, codesValue, scalesValue,
                                        zerosValue);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// slice(pack(constant codes, s, z)) -> pack(constant sliced codes, s, z)
//===----------------------------------------------------------------------===//

struct FoldSliceOfConstant : public OpRewritePattern<SliceOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SliceOp op,
                                PatternRewriter &rewriter) const override {
    QTensorType inType = op.getInput().getType();
    QTensorType outType = op.getType();
    if (outType.getLayout() == Layout::Nested)
      return rewriter.notifyMatchFailure(
          op, "a nested slice keeps reading its parent's bit planes");
    auto pack = op.getInput().getDefiningOp<PackOp>();
    if (!pack)
      return rewriter.notifyMatchFailure(op, "input is not a qopt.pack");
    DenseElementsAttr codesAttr;
    if (!matchPattern(pack.getCodes(), m_Constant(&codesAttr)))
      return rewriter.notifyMatchFailure(op, "codes are not constant");
    if (isPackedCodes(inType, pack.getCodes().getType()))
      return rewriter.notifyMatchFailure(op, "codes are in packed form");
    if (llvm::any_of(inType.getShape(), ShapedType::isDynamic))
      return rewriter.notifyMatchFailure(op, "dynamic shape");
    FailureOr<SmallVector<uint32_t>> codes =
        readCodes(codesAttr, inType.getBits());
    if (failed(codes))
      return rewriter.notifyMatchFailure(op, "a constant code is out of range");
    for (uint32_t &q : *codes)
      q = rt::sliceCode(q, inType.getBits(), outType.getBits());
    Value sliced =
        makeCodesConstant(rewriter, op.getLoc(), inType.getShape(), *codes);
    rewriter.replaceOpWithNewOp<PackOp>(op, outType, sliced, pack.getScales(),
                                        pack.getZeros());
    return success();
  }
};

//===----------------------------------------------------------------------===//
// dequantize(pack(constants)) -> constant, tiny tensors only
//===----------------------------------------------------------------------===//

// The only folder that expands quantized data to floats. It is limited to
// kMaxFoldedDequantizeElements so that canonicalization keeps weights
// quantized (issue 7, item 5).

struct FoldDequantizeOfConstant : public OpRewritePattern<DequantizeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DequantizeOp op,
                                PatternRewriter &rewriter) const override {
    QTensorType type = op.getInput().getType();
    if (!isFoldableType(type))
      return rewriter.notifyMatchFailure(
          op, "needs a static shape and an f32/f16/bf16 expressed type");
    if (type.getExpressedTensorType().getNumElements() >
        kMaxFoldedDequantizeElements)
      return rewriter.notifyMatchFailure(
          op, "more than kMaxFoldedDequantizeElements elements: the tensor "
              "stays quantized");
    auto pack = op.getInput().getDefiningOp<PackOp>();
    if (!pack)
      return rewriter.notifyMatchFailure(op, "input is not a qopt.pack");
    DenseElementsAttr codesAttr, scalesAttr, zerosAttr;
    if (!matchPattern(pack.getCodes(), m_Constant(&codesAttr)) ||
        !matchPattern(pack.getScales(), m_Constant(&scalesAttr)) ||
        (pack.getZeros() &&
         !matchPattern(pack.getZeros(), m_Constant(&zerosAttr))))
      return rewriter.notifyMatchFailure(op, "operands are not constant");
    if (isPackedCodes(type, pack.getCodes().getType()))
      return rewriter.notifyMatchFailure(op, "codes are in packed form");
    FailureOr<SmallVector<uint32_t>> codes =
        readCodes(codesAttr, type.getBits());
    if (failed(codes))
      return rewriter.notifyMatchFailure(op, "a constant code is out of range");
    SmallVector<float> scales = readFloats(scalesAttr);
    unsigned parent = type.getEffectiveParentBits();
    SmallVector<float> zeros =
        zerosAttr ? readFloats(zerosAttr)
                  : SmallVector<float>(scales.size(),
                                       static_cast<float>(
                                           rt::symmetricZero(parent)));
    GroupIndexer indexer(type);
    unsigned shift = parent - type.getBits();
    SmallVector<float> values(codes->size());
    for (int64_t i = 0, e = codes->size(); i < e; ++i) {
      int64_t g = indexer.scaleIndex(i);
      values[i] = rt::dequantizeValue((*codes)[i] << shift, scales[g], zeros[g]);
    }
    if (!op.getType().hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic result shape");
    rewriter.replaceOp(op, makeFloatConstant(rewriter, op.getLoc(),
                                             op.getType(), values));
    return success();
  }
};
} // namespace

void QuantizeOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                             MLIRContext *context) {
  results.add<FoldQuantizeOfConstant>(context);
}

void SliceOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<FoldSliceOfConstant>(context);
}

void DequantizeOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                               MLIRContext *context) {
  results.add<FoldDequantizeOfConstant>(context);
}
