//===- QOptOps.cpp - qopt operation verifiers and folders -------*- C++ -*-===//
//
// Verifiers, type inference and single-op folders of the qopt operations.
// The verifiers share the shape rules of !qopt.qtensor through the helpers
// below; canonicalization patterns live in QOptFolding.cpp.
//
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::qopt;

//===----------------------------------------------------------------------===//
// Shared verification helpers
//===----------------------------------------------------------------------===//

/// Fails if `type` (operand or result `index` of `op`) is shaped with a
/// static dimension or element count beyond the dialect's bounds.
static LogicalResult verifyBoundedShape(Operation *op, Type type,
                                        StringRef kind, unsigned index) {
  auto shaped = dyn_cast<ShapedType>(type);
  if (!shaped || !shaped.hasRank())
    return success();
  int64_t elements = 1;
  for (int64_t dim : shaped.getShape()) {
    if (ShapedType::isDynamic(dim))
      continue;
    if (dim < 0 || dim >= kMaxDimension)
      return op->emitOpError()
             << kind << " #" << index << " has dimension " << dim
             << "; static dimensions must be in [0, 2^31)";
    if (llvm::MulOverflow(elements, dim, elements) ||
        elements > kMaxShapeElements)
      return op->emitOpError() << kind << " #" << index << " (" << type
                               << ") holds more than 2^48 elements";
  }
  return success();
}

LogicalResult mlir::qopt::verifyBoundedShapes(Operation *op) {
  for (auto [index, type] : llvm::enumerate(op->getOperandTypes()))
    if (failed(verifyBoundedShape(op, type, "operand", index)))
      return failure();
  for (auto [index, type] : llvm::enumerate(op->getResultTypes()))
    if (failed(verifyBoundedShape(op, type, "result", index)))
      return failure();
  return success();
}

/// Checks that `actual` is a shape compatible with `expected` (a dynamic
/// dimension on either side matches anything).
static bool isCompatibleShape(ArrayRef<int64_t> actual,
                              ArrayRef<int64_t> expected) {
  if (actual.size() != expected.size())
    return false;
  for (auto [a, e] : llvm::zip(actual, expected))
    if (!ShapedType::isDynamic(a) && !ShapedType::isDynamic(e) && a != e)
      return false;
  return true;
}

bool mlir::qopt::isPackedCodes(QTensorType type, ShapedType codes) {
  if (!codes.getElementType().isInteger(8))
    return false;
  // Where the dense storage form has one byte per code (8 bits, or rows of
  // one element) it holds the same numbers as unpacked codes.
  if (type.getLayout() == Layout::Dense && type.getRank() > 0 &&
      type.getStorageShape().back() == type.getShape().back())
    return false;
  return isCompatibleShape(codes.getShape(), type.getStorageShape()) &&
         codes.getRank() == static_cast<int64_t>(type.getStorageShape().size());
}

/// Prints a shape as `4x8` (or `scalar` for rank 0) in diagnostics.
static std::string formatShape(ArrayRef<int64_t> shape) {
  if (shape.empty())
    return "scalar";
  std::string s;
  llvm::raw_string_ostream os(s);
  llvm::interleave(
      shape, os,
      [&](int64_t d) {
        if (ShapedType::isDynamic(d))
          os << '?';
        else
          os << d;
      },
      "x");
  return s;
}

/// Verifies a float tensor holding values of `type` (same shape and
/// expressed element type), naming it `what` in diagnostics.
static LogicalResult verifyExpressedTensor(Operation *op, QTensorType type,
                                           RankedTensorType tensor,
                                           StringRef what) {
  if (!isCompatibleShape(tensor.getShape(), type.getShape()))
    return op->emitOpError()
           << what << " shape " << formatShape(tensor.getShape())
           << " does not match the quantized shape "
           << formatShape(type.getShape());
  if (tensor.getElementType() != type.getExpressedType())
    return op->emitOpError()
           << what << " element type " << tensor.getElementType()
           << " does not match the expressed type " << type.getExpressedType();
  return success();
}

/// Verifies the scale (and zero-point) tensors of a quantized tensor of type
/// `type`. `zeros` may be null.
static LogicalResult verifyScalesAndZeros(Operation *op, QTensorType type,
                                          RankedTensorType scales,
                                          RankedTensorType zeros) {
  SmallVector<int64_t> expected = type.getScalesShape();
  if (!isCompatibleShape(scales.getShape(), expected))
    return op->emitOpError()
           << "scales shape " << formatShape(scales.getShape())
           << " does not match " << formatShape(expected)
           << " required by the quantized type's granularity";
  Type element = type.getScalesType().getElementType();
  if (scales.getElementType() != element)
    return op->emitOpError()
           << "scales element type " << scales.getElementType()
           << " does not match the quantized type's scale type " << element
           << (type.isTwoLevel() ? " (two-level records are bytes)" : "");
  if (type.isAsymmetric() && !zeros)
    return op->emitOpError() << "asymmetric quantization needs zero points";
  if (!type.isAsymmetric() && zeros)
    return op->emitOpError()
           << "symmetric quantization takes no zero points (the zero point "
              "is fixed at 2^(p-1))";
  if (zeros && zeros != scales)
    return op->emitOpError() << "zero points type " << zeros
                             << " must equal the scales type " << scales;
  return success();
}

/// Verifies the integer codes tensor of a quantized tensor of type `type`:
/// either one code per element (the tensor's shape), or the storage form of
/// the type's layout (see isPackedCodes).
static LogicalResult verifyCodes(Operation *op, QTensorType type,
                                 RankedTensorType codes) {
  if (isPackedCodes(type, codes))
    return success();
  if (!isCompatibleShape(codes.getShape(), type.getShape()))
    return op->emitOpError() << "codes shape " << formatShape(codes.getShape())
                             << " does not match the quantized shape "
                             << formatShape(type.getShape());
  unsigned width = codes.getElementType().getIntOrFloatBitWidth();
  if (width < type.getBits())
    return op->emitOpError()
           << "codes element type " << codes.getElementType()
           << " is narrower than the code width " << type.getBits();
  return success();
}

static RankedTensorType optionalTensorType(Value value) {
  return value ? cast<RankedTensorType>(value.getType()) : RankedTensorType();
}

//===----------------------------------------------------------------------===//
// PackOp
//===----------------------------------------------------------------------===//

LogicalResult PackOp::verify() {
  QTensorType type = getResult().getType();
  if (type.isSliced() && type.getLayout() == Layout::Nested)
    return emitOpError()
           << "cannot pack a nested-layout slice from its " << type.getBits()
           << "-bit codes: the nested layout stores all "
           << type.getParentBits()
           << " planes of the parent; pack the parent and use qopt.slice, or "
              "use layout = dense";
  if (failed(verifyCodes(*this, type, getCodes().getType())))
    return failure();
  return verifyScalesAndZeros(*this, type, getScales().getType(),
                              optionalTensorType(getZeros()));
}

OpFoldResult PackOp::fold(FoldAdaptor) {
  // pack(get_codes(q), get_scales(q)[, get_zeros(q)]) -> q
  auto codes = getCodes().getDefiningOp<GetCodesOp>();
  auto scales = getScales().getDefiningOp<GetScalesOp>();
  if (!codes || !scales || codes.getInput() != scales.getInput())
    return {};
  Value source = codes.getInput();
  if (source.getType() != getType())
    return {};
  if (getZeros()) {
    auto zeros = getZeros().getDefiningOp<GetZerosOp>();
    if (!zeros || zeros.getInput() != source)
      return {};
  }
  if (codes.getType() != cast<QTensorType>(source.getType())
                             .getExpressedTensorType()
                             .clone(codes.getType().getElementType()))
    return {};
  return source;
}

//===----------------------------------------------------------------------===//
// Accessors
//===----------------------------------------------------------------------===//

LogicalResult GetCodesOp::verify() {
  return verifyCodes(*this, getInput().getType(), getResult().getType());
}

OpFoldResult GetCodesOp::fold(FoldAdaptor) {
  if (auto pack = getInput().getDefiningOp<PackOp>())
    if (pack.getCodes().getType() == getType())
      return pack.getCodes();
  return {};
}

LogicalResult GetScalesOp::verify() {
  QTensorType type = getInput().getType();
  RankedTensorType scales = getResult().getType();
  return verifyScalesAndZeros(
      *this, type, scales, type.isAsymmetric() ? scales : RankedTensorType());
}

OpFoldResult GetScalesOp::fold(FoldAdaptor) {
  if (auto pack = getInput().getDefiningOp<PackOp>())
    if (pack.getScales().getType() == getType())
      return pack.getScales();
  return {};
}

LogicalResult GetZerosOp::verify() {
  QTensorType type = getInput().getType();
  if (!type.isAsymmetric())
    return emitOpError() << "symmetric quantized tensors have no zero-point "
                            "operand (the zero point is fixed at 2^(p-1))";
  return verifyScalesAndZeros(*this, type, getResult().getType(),
                              getResult().getType());
}

OpFoldResult GetZerosOp::fold(FoldAdaptor) {
  if (auto pack = getInput().getDefiningOp<PackOp>())
    if (pack.getZeros() && pack.getZeros().getType() == getType())
      return pack.getZeros();
  return {};
}

//===----------------------------------------------------------------------===//
// QuantizeOp / DequantizeOp
//===----------------------------------------------------------------------===//

LogicalResult QuantizeOp::verify() {
  QTensorType type = getResult().getType();
  if (failed(verifyExpressedTensor(*this, type, getInput().getType(), "input")))
    return failure();
  if (type.isSliced())
    return emitOpError()
           << "cannot quantize directly to a Matryoshka slice (parent = "
           << type.getParentBits()
           << "): quantize to the parent width and use qopt.slice";
  if (type.isTwoLevel())
    return emitOpError() << "cannot quantize to two-level scales (super = "
                         << type.getSuperGroup()
                         << "): they are imported from K-quant files";
  if (!getScales()) {
    if (getZeros())
      return emitOpError() << "zero points given without scales";
    if (!type.isAsymmetric() && type.getBits() < 2)
      return emitOpError() << "symmetric quantization with computed scales "
                              "needs at least 2 bits";
    return success();
  }
  return verifyScalesAndZeros(*this, type, getScales().getType(),
                              optionalTensorType(getZeros()));
}

LogicalResult DequantizeOp::verify() {
  return verifyExpressedTensor(*this, getInput().getType(),
                               getResult().getType(), "result");
}

//===----------------------------------------------------------------------===//
// SliceOp
//===----------------------------------------------------------------------===//

/// The result type of slicing `input` to `bits`, or failure with a
/// diagnostic at `loc` when the width is invalid.
static FailureOr<QTensorType> inferSliceType(std::optional<Location> loc,
                                             QTensorType input, int64_t bits) {
  if (input.isTwoLevel()) {
    (void)emitOptionalError(loc,
                            "cannot slice a tensor with two-level "
                            "scales (super = ",
                            input.getSuperGroup(), ")");
    return failure();
  }
  if (bits < 1 || bits >= static_cast<int64_t>(input.getBits())) {
    (void)emitOptionalError(loc, "slice width ", bits, " must be in 1..",
                            input.getBits() - 1, " for a ", input.getBits(),
                            "-bit input");
    return failure();
  }
  return input.cloneWithBits(static_cast<unsigned>(bits),
                             input.getEffectiveParentBits());
}

LogicalResult
SliceOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                          ValueRange operands, DictionaryAttr attributes,
                          OpaqueProperties properties, RegionRange,
                          SmallVectorImpl<Type> &inferredReturnTypes) {
  SliceOp::Adaptor adaptor(operands, attributes, properties);
  auto input = dyn_cast<QTensorType>(adaptor.getInput().getType());
  if (!input)
    return emitOptionalError(loc, "operand must be a !qopt.qtensor");
  IntegerAttr bitsAttr = adaptor.getBitsAttr();
  if (!bitsAttr)
    return emitOptionalError(loc, "requires a 'bits' attribute");
  FailureOr<QTensorType> result =
      inferSliceType(loc, input, bitsAttr.getValue().getSExtValue());
  if (failed(result))
    return failure();
  inferredReturnTypes.push_back(*result);
  return success();
}

LogicalResult SliceOp::verify() {
  // The result type itself is checked against inferReturnTypes by the
  // InferTypeOpInterface verifier; only the width needs a diagnostic here.
  return inferSliceType(getLoc(), getInput().getType(), getBits());
}

//===----------------------------------------------------------------------===//
// QMatmulOp
//===----------------------------------------------------------------------===//

LogicalResult mlir::qopt::verifyRowGroupedMatrix(Operation *op,
                                                 QTensorType type,
                                                 StringRef what) {
  if (type.getRank() != 2)
    return op->emitOpError() << what << " must be a rank-2 quantized tensor, "
                             << "got rank " << type.getRank();
  if (type.getGranularity() != Granularity::PerTensor && type.getAxis() != 1)
    return op->emitOpError()
           << what << " must be grouped along its second dimension "
           << "(axis = 1), got axis = " << type.getAxis();
  if (!type.getExpressedTensorType().hasStaticShape())
    return op->emitOpError() << what << " must have a static shape, got "
                             << formatShape(type.getShape());
  Type expressed = type.getExpressedType();
  if (!expressed.isF32() && !expressed.isF16() && !expressed.isBF16())
    return op->emitOpError() << what << " expressed type must be f32, f16 "
                             << "or bf16, got " << expressed;
  return success();
}

LogicalResult QMatmulOp::verify() {
  QTensorType w = getWeight().getType();
  if (failed(verifyRowGroupedMatrix(*this, w, "weight")))
    return failure();
  int64_t n = w.getShape()[0], k = w.getShape()[1];
  RankedTensorType x = getInput().getType(), y = getType();
  if (!ShapedType::isDynamic(x.getDimSize(1)) && x.getDimSize(1) != k)
    return emitOpError() << "input has " << x.getDimSize(1)
                         << " features but the weight expects " << k;
  if (!ShapedType::isDynamic(y.getDimSize(1)) && y.getDimSize(1) != n)
    return emitOpError() << "result has " << y.getDimSize(1)
                         << " features but the weight produces " << n;
  if (!ShapedType::isDynamic(x.getDimSize(0)) &&
      !ShapedType::isDynamic(y.getDimSize(0)) &&
      x.getDimSize(0) != y.getDimSize(0))
    return emitOpError() << "result has " << y.getDimSize(0)
                         << " rows but the input has " << x.getDimSize(0);
  return success();
}

#define GET_OP_CLASSES
#include "qopt/Dialect/QOpt/QOptOps.cpp.inc"
