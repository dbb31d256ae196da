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
#include "qopt/Runtime/Storage.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::qopt;

namespace rt = ::qopt::runtime;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// The group indexer (QuantMath.h) of a static-shaped quantized tensor,
/// following the granularity rules of !qopt.qtensor, shorter last group
/// included.
namespace {
class GroupIndexer : public rt::GroupIndexer {
public:
  explicit GroupIndexer(QTensorType type) : rt::GroupIndexer(make(type)) {}

private:
  static rt::GroupIndexer make(QTensorType type) {
    ArrayRef<int64_t> shape = type.getShape();
    if (type.getGranularity() == Granularity::PerTensor)
      return rt::GroupIndexer::perTensor(
          type.getExpressedTensorType().getNumElements());
    return rt::GroupIndexer(shape.data(), shape.size(), type.getAxis(),
                            type.getElementsPerGroup());
  }
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
  v.convert(type.getFloatSemantics(), APFloat::rmNearestTiesToEven, &losesInfo);
  v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &losesInfo);
  return v.convertToFloat();
}

/// Reads a constant float tensor as f32 values.
static SmallVector<float> readFloats(DenseElementsAttr attr) {
  SmallVector<float> out;
  out.reserve(attr.getNumElements());
  for (APFloat v : attr.getValues<APFloat>()) {
    bool losesInfo;
    v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &losesInfo);
    out.push_back(v.convertToFloat());
  }
  return out;
}

/// The values of a `type` tensor with two-level scales (`super = S`) from
/// its codes and its constant i8 records (`zeros` null for `sym`): a =
/// f16(d) * s[g], then a * code - dmin * m[g] (asym) or a * (code - z), in
/// f32 in that order, as the kernels evaluate it.
static SmallVector<float> twoLevelValues(QTensorType type,
                                         ArrayRef<uint32_t> codes,
                                         DenseElementsAttr scales,
                                         DenseElementsAttr zeros) {
  auto bytesOf = [](DenseElementsAttr attr) {
    SmallVector<uint8_t> out;
    if (!attr)
      return out;
    for (APInt v : attr.getValues<APInt>())
      out.push_back(static_cast<uint8_t>(v.getZExtValue()));
    return out;
  };
  SmallVector<uint8_t> scaleBytes = bytesOf(scales), zeroBytes = bytesOf(zeros);
  int64_t cols = type.getShape().back(), super = type.getSuperGroup();
  int64_t group = type.getGroupSize(), recordBytes = type.getRecordBytes();
  unsigned subBits = type.getSubBits();
  auto value = [&](ArrayRef<uint8_t> bytes, int64_t record, int64_t g) {
    const uint8_t *r = bytes.data() + record * recordBytes;
    APFloat d(APFloat::IEEEhalf(), APInt(16, r[0] | (r[1] << 8)));
    bool losesInfo;
    d.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &losesInfo);
    int sub = subBits == 4 ? (r[2 + g / 2] >> (4 * (g % 2))) & 0xF
                           : static_cast<int8_t>(r[2 + g]);
    return d.convertToFloat() * static_cast<float>(sub);
  };
  float zero = static_cast<float>(rt::symmetricZero(type.getBits()));
  SmallVector<float> values(codes.size());
  for (int64_t i = 0, e = codes.size(); i < e; ++i) {
    int64_t row = i / cols, col = i % cols;
    int64_t record = row * (cols / super) + col / super;
    int64_t g = col % super / group;
    float a = value(scaleBytes, record, g);
    float q = static_cast<float>(codes[i]);
    if (zeros) {
      float aq = a * q;
      values[i] = aq - value(zeroBytes, record, g);
    } else {
      values[i] = a * (q - zero);
    }
  }
  return values;
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

/// Rows and columns of the storage form of `type` (see Storage.h): the last
/// dimension is a row; a rank-0 tensor is one row of one element.
static std::pair<size_t, size_t> storageRowsCols(QTensorType type) {
  ArrayRef<int64_t> shape = type.getShape();
  if (shape.empty())
    return {1, 1};
  size_t rows = 1;
  for (int64_t d : shape.drop_back())
    rows *= d;
  return {rows, static_cast<size_t>(shape.back())};
}

/// Reads the constant codes of a `type` tensor, one per element, from
/// either form qopt.pack accepts: one code per element (failing if one does
/// not fit in `type`'s width), or the storage form of its layout (dense rows
/// at `bits` per code, or all the nested planes of the parent codes).
static FailureOr<SmallVector<uint32_t>> readCodesOf(QTensorType type,
                                                    DenseElementsAttr attr) {
  if (!isPackedCodes(type, cast<ShapedType>(attr.getType())))
    return readCodes(attr, type.getBits());
  if (llvm::any_of(type.getShape(), ShapedType::isDynamic))
    return failure();
  SmallVector<uint8_t> bytes;
  bytes.reserve(attr.getNumElements());
  for (APInt v : attr.getValues<APInt>())
    bytes.push_back(static_cast<uint8_t>(v.getZExtValue()));
  auto [rows, cols] = storageRowsCols(type);
  SmallVector<uint8_t> unpacked(rows * cols);
  if (type.getLayout() == Layout::Nested) {
    unsigned planes = type.getEffectiveParentBits();
    rt::unpackNestedPlanes(bytes.data(), rows, cols, planes, planes,
                           unpacked.data());
  } else {
    rt::unpackDenseRows(bytes.data(), rows, cols, type.getBits(),
                        unpacked.data());
  }
  return SmallVector<uint32_t>(unpacked.begin(), unpacked.end());
}

/// Builds a constant holding `codes` (one per element of `type`) in the
/// storage form of `type`.
static Value makeStorageConstant(PatternRewriter &rewriter, Location loc,
                                 QTensorType type, ArrayRef<uint32_t> codes) {
  auto [rows, cols] = storageRowsCols(type);
  SmallVector<uint8_t> in(codes.begin(), codes.end());
  RankedTensorType storage = type.getStorageType();
  SmallVector<uint8_t> out(storage.getNumElements());
  if (type.getLayout() == Layout::Nested)
    rt::packNestedPlanes(in.data(), rows, cols, type.getEffectiveParentBits(),
                         out.data());
  else
    rt::packDenseRows(in.data(), rows, cols, type.getBits(), out.data());
  return makeCodesConstant(rewriter, loc, storage.getShape(),
                           SmallVector<uint32_t>(out.begin(), out.end()));
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
    auto scaleType = cast<FloatType>(type.getScaleType());
    GroupIndexer indexer(type);
    unsigned bits = type.getBits();
    rt::Scheme scheme =
        type.isAsymmetric() ? rt::Scheme::Asymmetric : rt::Scheme::Symmetric;

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
        rt::GroupParams p = rt::computeGroupParams(
            x.data() + indexer.first(g), x.empty() ? 0 : indexer.count(g),
            indexer.stride(), bits, scheme);
        // The scale is stored in the scale type: quantize with the value
        // that will actually be stored.
        scales[g] = roundTo(p.scale, scaleType);
        zeros[g] = roundTo(p.zero, scaleType);
      }
    }

    SmallVector<uint32_t> codes(x.size());
    for (int64_t i = 0, e = x.size(); i < e; ++i) {
      int64_t g = indexer.scaleIndex(i);
      codes[i] = rt::quantizeValue(x[i], scales[g], zeros[g], bits);
    }

    Location loc = op.getLoc();
    Value codesValue = makeCodesConstant(rewriter, loc, type.getShape(), codes);
    Value scalesValue =
        op.getScales() ? op.getScales()
                       : makeFloatConstant(rewriter, loc, scalesType, scales);
    Value zerosValue;
    if (type.isAsymmetric())
      zerosValue = op.getZeros()
                       ? op.getZeros()
                       : makeFloatConstant(rewriter, loc, scalesType, zeros);
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
    if (llvm::any_of(inType.getShape(), ShapedType::isDynamic))
      return rewriter.notifyMatchFailure(op, "dynamic shape");
    FailureOr<SmallVector<uint32_t>> codes = readCodesOf(inType, codesAttr);
    if (failed(codes))
      return rewriter.notifyMatchFailure(op, "a constant code is out of range");
    for (uint32_t &q : *codes)
      q = rt::sliceCode(q, inType.getBits(), outType.getBits());
    // Codes given in the storage form stay in it (now at the slice's width).
    Value sliced =
        isPackedCodes(inType, pack.getCodes().getType())
            ? makeStorageConstant(rewriter, op.getLoc(), outType, *codes)
            : makeCodesConstant(rewriter, op.getLoc(), inType.getShape(),
                                *codes);
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
    FailureOr<SmallVector<uint32_t>> codes = readCodesOf(type, codesAttr);
    if (failed(codes))
      return rewriter.notifyMatchFailure(op, "a constant code is out of range");
    if (!op.getType().hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic result shape");
    if (type.isTwoLevel()) {
      rewriter.replaceOp(
          op, makeFloatConstant(
                  rewriter, op.getLoc(), op.getType(),
                  twoLevelValues(type, *codes, scalesAttr, zerosAttr)));
      return success();
    }
    SmallVector<float> scales = readFloats(scalesAttr);
    unsigned parent = type.getEffectiveParentBits();
    SmallVector<float> zeros =
        zerosAttr
            ? readFloats(zerosAttr)
            : SmallVector<float>(scales.size(),
                                 static_cast<float>(rt::symmetricZero(parent)));
    GroupIndexer indexer(type);
    unsigned shift = parent - type.getBits();
    SmallVector<float> values(codes->size());
    for (int64_t i = 0, e = codes->size(); i < e; ++i) {
      int64_t g = indexer.scaleIndex(i);
      values[i] =
          rt::dequantizeValue((*codes)[i] << shift, scales[g], zeros[g]);
    }
    rewriter.replaceOp(
        op, makeFloatConstant(rewriter, op.getLoc(), op.getType(), values));
    return success();
  }
};
} // namespace

/// `attr` as dense elements: a `dense_resource` blob is reinterpreted in
/// place (its bytes are the little-endian elements).
static FailureOr<DenseElementsAttr> asDense(Attribute attr) {
  if (auto dense = dyn_cast<DenseElementsAttr>(attr))
    return dense;
  auto resource = dyn_cast<DenseResourceElementsAttr>(attr);
  if (!resource)
    return failure();
  AsmResourceBlob *blob = resource.getRawHandle().getBlob();
  if (!blob)
    return failure();
  ArrayRef<char> data = blob->getData();
  auto type = cast<ShapedType>(resource.getType());
  int64_t width = type.getElementTypeBitWidth();
  if (width % 8 != 0 ||
      static_cast<int64_t>(data.size()) != type.getNumElements() * width / 8)
    return failure();
  return DenseElementsAttr::getFromRawBuffer(type, data);
}

FailureOr<SmallVector<float>> mlir::qopt::evaluateConstantPack(PackOp pack) {
  QTensorType type = pack.getType();
  if (!isFoldableType(type))
    return failure();
  Attribute codesAttr, scalesAttr, zerosAttr;
  if (!matchPattern(pack.getCodes(), m_Constant(&codesAttr)) ||
      !matchPattern(pack.getScales(), m_Constant(&scalesAttr)) ||
      (pack.getZeros() &&
       !matchPattern(pack.getZeros(), m_Constant(&zerosAttr))))
    return failure();
  FailureOr<DenseElementsAttr> codesDense = asDense(codesAttr);
  FailureOr<DenseElementsAttr> scalesDense = asDense(scalesAttr);
  if (failed(codesDense) || failed(scalesDense))
    return failure();
  FailureOr<SmallVector<uint32_t>> codes = readCodesOf(type, *codesDense);
  if (failed(codes))
    return failure();
  if (type.isTwoLevel()) {
    DenseElementsAttr zerosDense;
    if (zerosAttr) {
      FailureOr<DenseElementsAttr> dense = asDense(zerosAttr);
      if (failed(dense))
        return failure();
      zerosDense = *dense;
    }
    return twoLevelValues(type, *codes, *scalesDense, zerosDense);
  }
  SmallVector<float> scales = readFloats(*scalesDense);
  unsigned parent = type.getEffectiveParentBits();
  SmallVector<float> zeros(scales.size(),
                           static_cast<float>(rt::symmetricZero(parent)));
  if (zerosAttr) {
    FailureOr<DenseElementsAttr> zerosDense = asDense(zerosAttr);
    if (failed(zerosDense))
      return failure();
    zeros = readFloats(*zerosDense);
  }
  GroupIndexer indexer(type);
  unsigned shift = parent - type.getBits();
  auto expressed = cast<FloatType>(type.getExpressedType());
  SmallVector<float> values(codes->size());
  for (int64_t i = 0, e = codes->size(); i < e; ++i) {
    int64_t g = indexer.scaleIndex(i);
    values[i] =
        roundTo(rt::dequantizeValue((*codes)[i] << shift, scales[g], zeros[g]),
                expressed);
  }
  return values;
}

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
