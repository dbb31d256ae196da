//===- QuantOps.cpp - Lower pack, slice, quantize, dequantize ---*- C++ -*-===//
//
// 1:N patterns of qopt-lower-quantized-types for the ops that build, take
// apart and convert quantized tensors. A `!qopt.qtensor` value becomes its
// parts (codes in the storage form of its layout, scales, zero points):
//  - `qopt.pack` is its operands (repacked into the storage form by
//    `qopt.kernel_repack` when the codes are given one per element);
//  - `qopt.get_*` are the parts (codes read back by a repack);
//  - `qopt.slice` of a nested tensor is the same parts under the sliced type
//    (the consumer reads fewer planes); of a dense one, a repack at r bits;
//  - `qopt.quantize` / `qopt.dequantize` become kernel ops.
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qopt;

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

/// The name of the constant behind the codes of `value`, if any.
static std::string codesName(Value value) {
  if (auto pack = value.getDefiningOp<PackOp>())
    if (auto cst = pack.getCodes().getDefiningOp<arith::ConstantOp>())
      if (auto res = dyn_cast<DenseResourceElementsAttr>(cst.getValue()))
        return res.getRawHandle().getKey().str();
  return "";
}

int64_t WidthSlots::slotFor(Value value, Operation *user) {
  std::string name = codesName(value);
  if (name.empty())
    name = "<value " + std::to_string(anonymous++) + ">";
  auto [it, inserted] = index.try_emplace(name, entries.size());
  if (!inserted)
    return it->second;
  MLIRContext *ctx = user->getContext();
  auto type = cast<QTensorType>(value.getType());
  SmallVector<NamedAttribute> fields;
  Builder b(ctx);
  fields.push_back(b.getNamedAttr("name", b.getStringAttr(name)));
  fields.push_back(
      b.getNamedAttr("parent_bits", b.getI64IntegerAttr(type.getBits())));
  if (Attribute layer = user->getAttr("qopt.layer"))
    fields.push_back(b.getNamedAttr("layer", layer));
  if (Attribute role = user->getAttr("qopt.role"))
    fields.push_back(b.getNamedAttr("role", role));
  entries.push_back(b.getDictionaryAttr(fields));
  return it->second;
}

Value mlir::qopt::servedWidthFor(OpBuilder &b, Location loc, WidthSlots *slots,
                                 Value value, QTensorType type,
                                 Operation *user) {
  if (!slots || type.getLayout() != Layout::Nested || type.isSliced())
    return Value();
  return ServedWidthOp::create(b, loc, slots->slotFor(value, user));
}

/// `value` cast to `type` if their (compatible) shapes differ.
static Value castTo(OpBuilder &b, Location loc, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return tensor::CastOp::create(b, loc, type, value);
}

/// The parts of `type` from `parts`, each cast to the canonical part type.
static SmallVector<Value> canonicalParts(OpBuilder &b, Location loc,
                                         QTensorType type, ValueRange parts) {
  SmallVector<Value> result;
  for (auto [value, partType] : llvm::zip(parts, getQTensorPartTypes(type)))
    result.push_back(castTo(b, loc, value, partType));
  return result;
}

/// Codes in the storage form of `type`, from one code per element.
static Value repackUnpacked(OpBuilder &b, Location loc, QTensorType type,
                            Value codes) {
  RankedTensorType storage = type.getStorageType();
  bool nested = type.getLayout() == Layout::Nested;
  Value init = emptyTensor(b, loc, storage, codes, nested ? -1 : 0);
  auto op = KernelRepackOp::create(
      b, loc, TypeRange{storage}, codes, /*width=*/Value(), init,
      TypeAttr::get(type), /*source_unpacked=*/b.getUnitAttr(),
      TypeAttr::get(type), /*result_unpacked=*/UnitAttr());
  return op.getResult()[0];
}

namespace {

//===----------------------------------------------------------------------===//
// pack and accessors
//===----------------------------------------------------------------------===//

struct PackLowering : public OpConversionPattern<PackOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(PackOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    QTensorType type = op.getType();
    Location loc = op.getLoc();
    Value codes = adaptor.getCodes().front();
    auto codesType = cast<RankedTensorType>(op.getCodes().getType());
    // The storage form is taken as is; so are 8-bit (or single-column) dense
    // codes, whose storage form has one byte per code.
    bool isStorage = isPackedCodes(type, codesType) ||
                     (type.getLayout() == Layout::Dense && type.getRank() > 0 &&
                      codesType.getElementType().isInteger(8) &&
                      type.getStorageShape().back() == type.getShape().back());
    if (!isStorage)
      codes = repackUnpacked(rewriter, loc, type, codes);
    SmallVector<Value> parts{codes, adaptor.getScales().front()};
    if (!adaptor.getZeros().empty())
      parts.push_back(adaptor.getZeros().front());
    rewriter.replaceOpWithMultiple(
        op, {canonicalParts(rewriter, loc, type, parts)});
    return success();
  }
};

struct GetCodesLowering : public OpConversionPattern<GetCodesOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(GetCodesOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    QTensorType type = op.getInput().getType();
    Value storage = adaptor.getInput()[0];
    RankedTensorType resultType = op.getType();
    if (isPackedCodes(type, resultType) ||
        (type.getLayout() == Layout::Dense && type.getRank() > 0 &&
         resultType.getElementType().isInteger(8) &&
         type.getStorageShape().back() == type.getShape().back())) {
      rewriter.replaceOp(op,
                         castTo(rewriter, op.getLoc(), storage, resultType));
      return success();
    }
    Value init = emptyTensor(rewriter, op.getLoc(), resultType, storage,
                             type.getLayout() == Layout::Nested ? 1 : 0);
    auto repack = KernelRepackOp::create(
        rewriter, op.getLoc(), TypeRange{resultType}, storage, Value(), init,
        TypeAttr::get(type), UnitAttr(), TypeAttr::get(type),
        rewriter.getUnitAttr());
    rewriter.replaceOp(op, repack.getResult()[0]);
    return success();
  }
};

template <typename OpTy, int Part>
struct GetPartLowering : public OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  using OneToNOpAdaptor = typename OpConversionPattern<OpTy>::OneToNOpAdaptor;

  LogicalResult
  matchAndRewrite(OpTy op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, castTo(rewriter, op.getLoc(),
                                  adaptor.getInput()[Part], op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// slice
//===----------------------------------------------------------------------===//

struct SliceLowering : public OpConversionPattern<SliceOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SliceOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    QTensorType in = op.getInput().getType(), out = op.getType();
    SmallVector<Value> parts(adaptor.getInput());
    if (in.getLayout() == Layout::Nested) {
      // The planes stay; the consumer reads the top r + 1 of them. Slicing
      // a slice again would round twice, which plane reads cannot express.
      if (in.isSliced())
        return op.emitOpError()
               << "slicing a nested slice again is not supported (it rounds "
                  "twice, which reading fewer planes cannot express); slice "
                  "the parent to "
               << out.getBits() << " bits directly";
      rewriter.replaceOpWithMultiple(op, {parts});
      return success();
    }
    RankedTensorType storage = out.getStorageType();
    if (!in.getShape().empty() && ShapedType::isDynamic(in.getShape().back()))
      return op.emitOpError()
             << "cannot repack a dense slice whose last dimension is dynamic";
    Value init = emptyTensor(rewriter, op.getLoc(), storage, parts[0]);
    auto repack = KernelRepackOp::create(
        rewriter, op.getLoc(), TypeRange{storage}, parts[0], Value(), init,
        TypeAttr::get(in), UnitAttr(), TypeAttr::get(out), UnitAttr());
    parts[0] = repack.getResult()[0];
    rewriter.replaceOpWithMultiple(op, {parts});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// quantize / dequantize
//===----------------------------------------------------------------------===//

struct QuantizeLowering : public OpConversionPattern<QuantizeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(QuantizeOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    QTensorType type = op.getType();
    Location loc = op.getLoc();
    Value input = adaptor.getInput().front();
    RankedTensorType storage = type.getStorageType();
    if (type.getRank() > 0 && ShapedType::isDynamic(type.getShape().back()))
      return op.emitOpError()
             << "run-time quantization needs a static last dimension";
    bool nested = type.getLayout() == Layout::Nested;
    SmallVector<Value> params, inits;
    inits.push_back(
        emptyTensor(rewriter, loc, storage, input, nested ? -1 : 0));
    if (!adaptor.getScales().empty()) {
      params.push_back(adaptor.getScales().front());
      if (!adaptor.getZeros().empty())
        params.push_back(adaptor.getZeros().front());
    } else {
      RankedTensorType scalesType = type.getScalesType();
      inits.push_back(emptyTensor(rewriter, loc, scalesType, input));
      if (type.isAsymmetric())
        inits.push_back(emptyTensor(rewriter, loc, scalesType, input));
    }
    SmallVector<Type> resultTypes;
    for (Value init : inits)
      resultTypes.push_back(init.getType());
    auto kernel = KernelQuantizeOp::create(rewriter, loc, resultTypes, input,
                                           params, inits, TypeAttr::get(type));
    SmallVector<Value> parts(kernel.getResults());
    parts.append(params.begin(), params.end());
    rewriter.replaceOpWithMultiple(
        op, {canonicalParts(rewriter, loc, type, parts)});
    return success();
  }
};

struct DequantizeLowering : public OpConversionPattern<DequantizeOp> {
  DequantizeLowering(const TypeConverter &converter, MLIRContext *ctx,
                     WidthSlots *slots)
      : OpConversionPattern(converter, ctx), slots(slots) {}

  LogicalResult
  matchAndRewrite(DequantizeOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    QTensorType type = op.getInput().getType();
    Location loc = op.getLoc();
    ValueRange parts = adaptor.getInput();
    Value init = emptyTensor(rewriter, loc, op.getType(), parts[0],
                             type.getLayout() == Layout::Nested ? 1 : 0);
    Value width = servedWidthFor(rewriter, loc, slots, op.getInput(), type, op);
    auto kernel =
        KernelDequantizeOp::create(rewriter, loc, TypeRange{op.getType()},
                                   parts, width, init, TypeAttr::get(type));
    rewriter.replaceOp(op, kernel.getResult()[0]);
    return success();
  }

  WidthSlots *slots;
};

} // namespace

void mlir::qopt::populateQuantOpLoweringPatterns(const TypeConverter &converter,
                                                 RewritePatternSet &patterns,
                                                 WidthSlots *slots) {
  MLIRContext *ctx = patterns.getContext();
  patterns.add<PackLowering, GetCodesLowering, GetPartLowering<GetScalesOp, 1>,
               GetPartLowering<GetZerosOp, 2>, SliceLowering, QuantizeLowering>(
      converter, ctx);
  patterns.add<DequantizeLowering>(converter, ctx, slots);
}
