//===- WeightConstants.cpp - Reading and writing weight constants ---------===//
//
// See WeightConstants.h.
//
//===----------------------------------------------------------------------===//

#include "WeightConstants.h"

#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/APFloat.h"

#include <cstring>

using namespace mlir;
using namespace mlir::qopt;

bool mlir::qopt::isWeightFloat(Type type) {
  return type.isF32() || type.isF16() || type.isBF16();
}

FailureOr<SmallVector<float>> mlir::qopt::readWeight(ElementsAttr attr) {
  auto type = cast<ShapedType>(attr.getType());
  auto floatType = dyn_cast<FloatType>(type.getElementType());
  if (!floatType || !isWeightFloat(floatType))
    return failure();
  int64_t n = type.getNumElements();
  SmallVector<float> out;
  out.reserve(n);
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    for (APFloat v : dense.getValues<APFloat>()) {
      bool losesInfo;
      v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven,
                &losesInfo);
      out.push_back(v.convertToFloat());
    }
    return out;
  }
  auto resource = dyn_cast<DenseResourceElementsAttr>(attr);
  if (!resource)
    return failure();
  AsmResourceBlob *blob = resource.getRawHandle().getBlob();
  if (!blob)
    return failure();
  ArrayRef<char> data = blob->getData();
  unsigned width = floatType.getWidth() / 8;
  if (static_cast<int64_t>(data.size()) != n * width)
    return failure();
  for (int64_t i = 0; i < n; ++i) {
    if (width == 4) {
      float v;
      std::memcpy(&v, data.data() + 4 * i, 4);
      out.push_back(v);
      continue;
    }
    uint16_t bitsValue;
    std::memcpy(&bitsValue, data.data() + 2 * i, 2);
    APFloat v(floatType.getFloatSemantics(), APInt(16, bitsValue));
    bool losesInfo;
    v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &losesInfo);
    out.push_back(v.convertToFloat());
  }
  return out;
}

/// `value` rounded to `type`.
static APFloat roundToType(double value, FloatType type) {
  APFloat v(value);
  bool losesInfo;
  v.convert(type.getFloatSemantics(), APFloat::rmNearestTiesToEven, &losesInfo);
  return v;
}

float mlir::qopt::roundTo(double value, FloatType type) {
  APFloat v = roundToType(value, type);
  bool losesInfo;
  v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &losesInfo);
  return v.convertToFloat();
}

template <typename T>
static DenseResourceElementsAttr makeBlob(RankedTensorType type, StringRef name,
                                          ArrayRef<T> values) {
  auto floatType = cast<FloatType>(type.getElementType());
  if (floatType.isF32()) {
    SmallVector<float> floats(values.begin(), values.end());
    return DenseResourceElementsAttr::get(
        type, name,
        HeapAsmResourceBlob::allocateAndCopyInferAlign(
            ArrayRef<float>(floats)));
  }
  SmallVector<uint16_t> halves;
  halves.reserve(values.size());
  for (T v : values)
    halves.push_back(static_cast<uint16_t>(
        roundToType(v, floatType).bitcastToAPInt().getZExtValue()));
  return DenseResourceElementsAttr::get(
      type, name,
      HeapAsmResourceBlob::allocateAndCopyInferAlign(
          ArrayRef<uint16_t>(halves)));
}

DenseResourceElementsAttr mlir::qopt::makeFloatBlob(RankedTensorType type,
                                                    StringRef name,
                                                    ArrayRef<float> values) {
  return makeBlob(type, name, values);
}

DenseResourceElementsAttr mlir::qopt::makeFloatBlob(RankedTensorType type,
                                                    StringRef name,
                                                    ArrayRef<double> values) {
  return makeBlob(type, name, values);
}

ElementsAttr mlir::qopt::makeFloatWeight(ElementsAttr like,
                                         RankedTensorType type, StringRef name,
                                         ArrayRef<double> values) {
  if (!isa_and_nonnull<DenseElementsAttr>(like))
    return makeFloatBlob(type, name, values);
  auto floatType = cast<FloatType>(type.getElementType());
  SmallVector<APFloat> rounded;
  rounded.reserve(values.size());
  for (double v : values)
    rounded.push_back(roundToType(v, floatType));
  return DenseElementsAttr::get(type, rounded);
}

std::string mlir::qopt::blobBaseName(ElementsAttr weight, Operation *user) {
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(weight)) {
    // The codes of a quantized weight are named `<weight>.codes`.
    StringRef key = resource.getRawHandle().getKey();
    key.consume_back(".codes");
    return key.str();
  }
  auto role = user->getAttrOfType<StringAttr>("qopt.role");
  auto layer = user->getAttrOfType<IntegerAttr>("qopt.layer");
  std::string name = role ? role.getValue().str() : std::string("weight");
  if (layer)
    name = "layers." + std::to_string(layer.getInt()) + "." + name;
  return name;
}

bool mlir::qopt::isAllOnes(ElementsAttr attr) {
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (!isa<FloatType>(dense.getElementType()))
      return false;
    return llvm::all_of(dense.getValues<APFloat>(),
                        [](const APFloat &v) { return v.isExactlyValue(1.0); });
  }
  FailureOr<SmallVector<float>> values = readWeight(attr);
  return succeeded(values) &&
         llvm::all_of(*values, [](float v) { return v == 1.0f; });
}

ElementsAttr mlir::qopt::constantElements(Value value) {
  ElementsAttr attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return {};
  return attr;
}

std::optional<WeightValue> mlir::qopt::getWeightValue(Value weight) {
  WeightValue value;
  Value packed = weight;
  if (auto deq = weight.getDefiningOp<DequantizeOp>())
    packed = deq.getInput();
  if (auto pack = packed.getDefiningOp<PackOp>()) {
    QTensorType q = pack.getType();
    if (!matchPattern(pack.getCodes(), m_Constant(&value.key)))
      return std::nullopt;
    value.type = RankedTensorType::get(q.getShape(), q.getExpressedType());
    value.pack = pack;
  } else {
    ElementsAttr attr;
    if (!matchPattern(weight, m_Constant(&attr)))
      return std::nullopt;
    value.type = dyn_cast<RankedTensorType>(attr.getType());
    value.key = attr;
    value.constant = attr;
  }
  if (!value.type || value.type.getRank() != 2 ||
      !value.type.hasStaticShape() ||
      !isWeightFloat(value.type.getElementType()))
    return std::nullopt;
  return value;
}

FailureOr<SmallVector<float>> WeightValue::read() const {
  if (constant)
    return readWeight(constant);
  return evaluateConstantPack(cast<PackOp>(pack));
}

/// Erases `op` if it has no users, then its operands' defining ops that are
/// left without users.
static void eraseIfDead(Operation *op) {
  if (!op || !op->use_empty())
    return;
  SmallVector<Operation *> operands;
  for (Value v : op->getOperands())
    operands.push_back(v.getDefiningOp());
  op->erase();
  for (Operation *def : operands)
    eraseIfDead(def);
}

void mlir::qopt::replaceWeight(OpOperand &use, ElementsAttr attr) {
  Operation *old = use.get().getDefiningOp();
  OpBuilder b(use.getOwner());
  use.set(arith::ConstantOp::create(b, old ? old->getLoc() : b.getUnknownLoc(),
                                    attr));
  eraseIfDead(old);
}
