//===- ImportQuant.cpp - Upstream quant casts to qopt ops -------*- C++ -*-===//
//
// The qopt-import-quant pass: rewrites quant.qcast / quant.dcast /
// quant.scast on !quant.uniform tensors (per-tensor, per-axis, sub-channel)
// into qopt.quantize / qopt.dequantize / qopt.pack / qopt.get_codes, with
// the scales and zero points that upstream keeps in the type materialized as
// constant tensors. Function signatures are converted with them.
//
//===----------------------------------------------------------------------===//

#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_IMPORTQUANTPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

//===----------------------------------------------------------------------===//
// Type analysis
//===----------------------------------------------------------------------===//

namespace {
/// What an upstream quantized tensor type becomes in qopt.
struct ImportedQuantType {
  QTensorType type;
  /// Scales in the qopt scales shape, row-major.
  SmallVector<double> scales;
  /// Zero points in units of qopt's unsigned codes (upstream zp - storageMin).
  SmallVector<int64_t> zeros;
  /// The upstream storage minimum: code = stored - storageMin.
  int64_t storageMin = 0;
  /// The upstream storage integer type (signless).
  IntegerType storageType;
};
} // namespace

/// Converts a ranked tensor of !quant.uniform elements, or explains why not.
static FailureOr<ImportedQuantType> analyzeQuantTensor(RankedTensorType tensor,
                                                       std::string &why) {
  llvm::raw_string_ostream os(why);
  auto quantType = dyn_cast<quant::QuantizedType>(tensor.getElementType());
  if (!quantType) {
    os << "not a quantized tensor";
    return failure();
  }
  unsigned bits = quantType.getStorageTypeIntegralWidth();
  if (bits < 1 || bits > 8) {
    os << "storage width " << bits << " is not supported (qopt codes are 1..8 "
       << "bits)";
    return failure();
  }
  bool isSigned = quantType.isSigned();
  int64_t fullMin =
      quant::QuantizedType::getDefaultMinimumForInteger(isSigned, bits);
  int64_t fullMax =
      quant::QuantizedType::getDefaultMaximumForInteger(isSigned, bits);
  if (quantType.getStorageTypeMin() != fullMin ||
      quantType.getStorageTypeMax() != fullMax) {
    os << "narrow storage range [" << quantType.getStorageTypeMin() << ", "
       << quantType.getStorageTypeMax() << "] is not supported (qopt codes use "
       << "the full range [" << fullMin << ", " << fullMax << "])";
    return failure();
  }
  auto storage = dyn_cast<IntegerType>(quantType.getStorageType());
  if (!storage) {
    os << "storage type " << quantType.getStorageType()
       << " is not an integer type";
    return failure();
  }

  ArrayRef<int64_t> shape = tensor.getShape();
  int64_t rank = shape.size();
  ImportedQuantType result;
  result.storageMin = fullMin;
  result.storageType =
      IntegerType::get(tensor.getContext(), storage.getWidth());
  SmallVector<double> scales;
  SmallVector<int64_t> zeroPoints;
  // Block size per dimension, as upstream's sub-channel type defines it.
  SmallVector<int64_t> blocks(shape);
  bool perTensor = false;

  if (auto uniform = dyn_cast<quant::UniformQuantizedType>(quantType)) {
    perTensor = true;
    scales.push_back(uniform.getScale());
    zeroPoints.push_back(uniform.getZeroPoint());
  } else if (auto perAxis =
                 dyn_cast<quant::UniformQuantizedPerAxisType>(quantType)) {
    int32_t dim = perAxis.getQuantizedDimension();
    if (dim < 0 || dim >= rank) {
      os << "quantized dimension " << dim << " is out of range";
      return failure();
    }
    blocks[dim] = 1;
    llvm::append_range(scales, perAxis.getScales());
    llvm::append_range(zeroPoints, perAxis.getZeroPoints());
  } else if (auto sub =
                 dyn_cast<quant::UniformQuantizedSubChannelType>(quantType)) {
    for (auto [dim, block] : sub.getBlockSizeInfo()) {
      if (dim < 0 || dim >= rank) {
        os << "quantized dimension " << dim << " is out of range";
        return failure();
      }
      blocks[dim] = block;
    }
    for (APFloat v : sub.getScales().getValues<APFloat>())
      scales.push_back(v.convertToDouble());
    for (APInt v : sub.getZeroPoints().getValues<APInt>())
      zeroPoints.push_back(v.getSExtValue());
  } else {
    os << "only !quant.uniform types are supported, got " << quantType;
    return failure();
  }

  Granularity granularity = Granularity::PerTensor;
  int64_t groupSize = 0, axis = 0;
  if (!perTensor) {
    if (!tensor.hasStaticShape()) {
      os << "per-axis and sub-channel quantization need a static shape";
      return failure();
    }
    // qopt groups run along one axis; every other dimension has one scale per
    // index (block size 1).
    SmallVector<int64_t> blockedDims;
    for (int64_t d = 0; d < rank; ++d)
      if (blocks[d] != 1 && shape[d] != 1)
        blockedDims.push_back(d);
    if (rank == 0) {
      os << "a scalar cannot be quantized per axis";
      return failure();
    }
    if (blockedDims.size() > 1) {
      os << "scales shared across more than one dimension (dims "
         << blockedDims[0] << " and " << blockedDims[1]
         << ") cannot be expressed as qopt groups along a single axis";
      return failure();
    }
    axis = blockedDims.empty() ? rank - 1 : blockedDims[0];
    int64_t block = blocks[axis];
    if (block == shape[axis] && shape[axis] != 1) {
      granularity = Granularity::PerChannel;
    } else {
      granularity = Granularity::Group;
      groupSize = block;
    }
  }
  if (scales.size() != zeroPoints.size()) {
    os << "scales and zero points differ in count";
    return failure();
  }

  // Zero points relative to the unsigned code range. All equal to 2^(b-1)
  // is qopt's symmetric scheme.
  bool symmetric = true;
  for (int64_t &zp : zeroPoints) {
    zp -= fullMin;
    symmetric &= zp == (int64_t(1) << (bits - 1));
  }
  QuantScheme scheme =
      symmetric ? QuantScheme::Symmetric : QuantScheme::Asymmetric;
  auto type = QTensorType::getChecked(
      [&]() { return mlir::emitError(UnknownLoc::get(tensor.getContext())); },
      tensor.getContext(), shape, quantType.getExpressedType(), bits,
      /*parentBits=*/0u, scheme, granularity, groupSize, axis, Layout::Dense);
  if (!type) {
    os << "the equivalent qopt type is invalid";
    return failure();
  }
  if (static_cast<int64_t>(scales.size()) !=
      type.getScalesType().getNumElements()) {
    os << "expected " << type.getScalesType().getNumElements()
       << " scales for the tensor shape, got " << scales.size();
    return failure();
  }
  result.type = type;
  result.scales = std::move(scales);
  result.zeros = std::move(zeroPoints);
  return result;
}

/// True if `type` is or contains a quantized element type.
static bool isQuantizedTensor(Type type) {
  auto shaped = dyn_cast<ShapedType>(type);
  return shaped && isa<quant::QuantizedType>(shaped.getElementType());
}

//===----------------------------------------------------------------------===//
// Conversion patterns
//===----------------------------------------------------------------------===//

namespace {
/// Builds constant scale and zero-point tensors for an imported type.
static std::pair<Value, Value>
materializeParams(OpBuilder &builder, Location loc,
                  const ImportedQuantType &info) {
  RankedTensorType scalesType = info.type.getScalesType();
  auto floatType = cast<FloatType>(scalesType.getElementType());
  auto toAttr = [&](ArrayRef<double> values) {
    SmallVector<APFloat> elements;
    for (double v : values) {
      APFloat f(v);
      bool losesInfo;
      f.convert(floatType.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                &losesInfo);
      elements.push_back(f);
    }
    return DenseElementsAttr::get(scalesType, elements);
  };
  Value scales = arith::ConstantOp::create(builder, loc, toAttr(info.scales));
  Value zeros;
  if (info.type.isAsymmetric()) {
    SmallVector<double> z(info.zeros.begin(), info.zeros.end());
    zeros = arith::ConstantOp::create(builder, loc, toAttr(z));
  }
  return {scales, zeros};
}

/// Re-analyzes the quantized tensor type `type`; the pre-walk of the pass
/// guarantees success.
static ImportedQuantType analyzeOrDie(Type type) {
  std::string why;
  FailureOr<ImportedQuantType> info =
      analyzeQuantTensor(cast<RankedTensorType>(type), why);
  assert(succeeded(info) && "type was checked before conversion");
  return *info;
}

struct QuantizeCastLowering
    : public OpConversionPattern<quant::QuantizeCastOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(quant::QuantizeCastOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImportedQuantType info = analyzeOrDie(op.getResult().getType());
    auto [scales, zeros] = materializeParams(rewriter, op.getLoc(), info);
    rewriter.replaceOpWithNewOp<QuantizeOp>(op, info.type, adaptor.getInput(),
                                            scales, zeros);
    return success();
  }
};

struct DequantizeCastLowering
    : public OpConversionPattern<quant::DequantizeCastOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(quant::DequantizeCastOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<DequantizeOp>(op, op.getResult().getType(),
                                              adaptor.getInput());
    return success();
  }
};

/// quant.scast between stored integers and a quantized tensor. qopt codes
/// are unsigned, so the stored value is offset by the storage minimum
/// (modulo 2^bits, which the integer tensor's wrap-around gives for free).
struct StorageCastLowering : public OpConversionPattern<quant::StorageCastOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(quant::StorageCastOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type inType = op.getInput().getType();
    Type outType = op.getResult().getType();
    if (!isa<RankedTensorType>(inType) || !isa<RankedTensorType>(outType))
      return rewriter.notifyMatchFailure(op, "only ranked tensors");
    bool toQuantized = isQuantizedTensor(outType);
    ImportedQuantType info = analyzeOrDie(toQuantized ? outType : inType);
    auto intType =
        RankedTensorType::get(info.type.getShape(), info.storageType);
    auto offsetBy = [&](Value v, int64_t delta) -> Value {
      if (delta == 0)
        return v;
      auto splat = DenseElementsAttr::get(
          intType, APInt(info.storageType.getWidth(), delta, /*isSigned=*/true,
                         /*implicitTrunc=*/true));
      Value c = arith::ConstantOp::create(rewriter, loc, splat);
      return arith::AddIOp::create(rewriter, loc, v, c);
    };
    if (toQuantized) {
      Value codes = offsetBy(adaptor.getInput(), -info.storageMin);
      auto [scales, zeros] = materializeParams(rewriter, loc, info);
      rewriter.replaceOpWithNewOp<PackOp>(op, info.type, codes, scales, zeros);
      return success();
    }
    Value codes =
        GetCodesOp::create(rewriter, loc, intType, adaptor.getInput());
    rewriter.replaceOp(op, offsetBy(codes, info.storageMin));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

struct ImportQuantPass
    : public qopt::impl::ImportQuantPassBase<ImportQuantPass> {
  using Base::Base;

  void runOnOperation() override;
};
} // namespace

void ImportQuantPass::runOnOperation() {
  ModuleOp module = getOperation();
  MLIRContext *ctx = &getContext();

  // Check every quantized type and every user first, so that each problem
  // gets a diagnostic that names the op and the reason.
  bool ok = true;
  auto checkType = [&](Operation *op, Type type) {
    if (!isQuantizedTensor(type))
      return;
    auto ranked = dyn_cast<RankedTensorType>(type);
    if (!ranked) {
      op->emitError() << "cannot import " << type
                      << ": quantized values must be ranked tensors";
      ok = false;
      return;
    }
    std::string why;
    if (failed(analyzeQuantTensor(ranked, why))) {
      op->emitError() << "cannot import " << type << ": " << why;
      ok = false;
    }
  };
  module.walk([&](Operation *op) {
    bool touchesQuant = false;
    // Each value's type is checked once, where the value is defined.
    for (Type t : op->getOperandTypes())
      touchesQuant |= isQuantizedTensor(t) || isa<quant::QuantizedType>(t);
    for (Type t : op->getResultTypes()) {
      touchesQuant |= isQuantizedTensor(t) || isa<quant::QuantizedType>(t);
      checkType(op, t);
    }
    if (auto func = dyn_cast<func::FuncOp>(op))
      for (Type t : func.getFunctionType().getResults())
        checkType(op, t);
    for (Region &region : op->getRegions())
      for (Block &block : region)
        for (BlockArgument arg : block.getArguments())
          checkType(op, arg.getType());
    if (!touchesQuant)
      return;
    if (isa<quant::QuantizeCastOp, quant::DequantizeCastOp,
            quant::StorageCastOp, func::ReturnOp, func::CallOp>(op)) {
      for (Type t : op->getResultTypes())
        if (isa<quant::QuantizedType>(t)) {
          op->emitError() << "cannot import scalar quantized value of type "
                          << t << ": only ranked tensors are supported";
          ok = false;
          break;
        }
      return;
    }
    op->emitError() << "cannot import: '" << op->getName()
                    << "' uses a quantized value; qopt-import-quant converts "
                       "only quant.qcast, quant.dcast, quant.scast and func "
                       "signatures, calls and returns";
    ok = false;
  });
  if (!ok)
    return signalPassFailure();

  TypeConverter converter;
  converter.addConversion([](Type type) { return type; });
  converter.addConversion([](RankedTensorType type) -> std::optional<Type> {
    if (!isQuantizedTensor(type))
      return type;
    std::string why;
    FailureOr<ImportedQuantType> info = analyzeQuantTensor(type, why);
    if (failed(info))
      return std::nullopt;
    return Type(info->type);
  });

  ConversionTarget target(*ctx);
  target.addIllegalDialect<quant::QuantDialect>();
  target.addLegalDialect<QOptDialect, arith::ArithDialect,
                         tensor::TensorDialect>();
  target.addDynamicallyLegalOp<func::FuncOp>([&](func::FuncOp op) {
    return converter.isSignatureLegal(op.getFunctionType()) &&
           converter.isLegal(&op.getBody());
  });
  target.markUnknownOpDynamicallyLegal(
      [&](Operation *op) { return converter.isLegal(op); });

  RewritePatternSet patterns(ctx);
  patterns
      .add<QuantizeCastLowering, DequantizeCastLowering, StorageCastLowering>(
          converter, ctx);
  populateFunctionOpInterfaceTypeConversionPattern<func::FuncOp>(patterns,
                                                                 converter);
  populateReturnOpTypeConversionPattern(patterns, converter);
  populateCallOpTypeConversionPattern(patterns, converter);

  // Upstream folds dcast(qcast(x)) to x and scast(scast(x)) to x, which
  // would silently drop the quantization this pass is meant to import.
  ConversionConfig config;
  config.foldingMode = DialectConversionFoldingMode::Never;
  if (failed(
          applyPartialConversion(module, target, std::move(patterns), config)))
    return signalPassFailure();
}
