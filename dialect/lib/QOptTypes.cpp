//===- QOptTypes.cpp - !qopt.qtensor ----------------------------*- C++ -*-===//
//
// Parsing, printing and verification of !qopt.qtensor, and the shape rules
// for its scales that every op verifier shares.
//
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::qopt;

//===----------------------------------------------------------------------===//
// Derived shapes
//===----------------------------------------------------------------------===//

RankedTensorType QTensorType::getExpressedTensorType() const {
  return RankedTensorType::get(getShape(), getExpressedType());
}

int64_t QTensorType::getElementsPerGroup() const {
  switch (getGranularity()) {
  case Granularity::Group:
    return getGroupSize();
  case Granularity::PerChannel:
    return getShape()[getAxis()];
  case Granularity::PerTensor:
    break;
  }
  return ShapedType::kDynamic;
}

SmallVector<int64_t> QTensorType::getScalesShape() const {
  if (getGranularity() == Granularity::PerTensor)
    return {};
  SmallVector<int64_t> shape(getShape());
  if (isTwoLevel()) {
    int64_t &last = shape.back();
    if (!ShapedType::isDynamic(last))
      last /= getSuperGroup();
    shape.push_back(getRecordBytes());
    return shape;
  }
  int64_t &dim = shape[getAxis()];
  if (getGranularity() == Granularity::PerChannel)
    dim = 1;
  else if (!ShapedType::isDynamic(dim))
    dim = llvm::divideCeil(dim, getGroupSize());
  return shape;
}

SmallVector<int64_t> QTensorType::getStorageShape() const {
  SmallVector<int64_t> shape(getShape());
  if (shape.empty())
    shape.push_back(1);
  int64_t &last = shape.back();
  if (getLayout() == Layout::Nested) {
    if (!ShapedType::isDynamic(last))
      last = llvm::divideCeil(last, 8);
    shape.insert(shape.begin(), getEffectiveParentBits());
  } else if (!ShapedType::isDynamic(last)) {
    last = llvm::divideCeil(last * getBits(), 8);
  }
  return shape;
}

RankedTensorType QTensorType::getStorageType() const {
  return RankedTensorType::get(getStorageShape(),
                               IntegerType::get(getContext(), 8));
}

RankedTensorType QTensorType::getScalesType() const {
  Type element =
      isTwoLevel() ? IntegerType::get(getContext(), 8) : getScaleType();
  return RankedTensorType::get(getScalesShape(), element);
}

QTensorType QTensorType::cloneWithBits(unsigned bits,
                                       unsigned parentBits) const {
  return QTensorType::get(getContext(), getShape(), getExpressedType(), bits,
                          parentBits, getScheme(), getGranularity(),
                          getGroupSize(), getAxis(), getLayout(),
                          getScaleType(), getSuperGroup(), getSubBits());
}

//===----------------------------------------------------------------------===//
// Verification
//===----------------------------------------------------------------------===//

LogicalResult QTensorType::verify(function_ref<InFlightDiagnostic()> emitError,
                                  ArrayRef<int64_t> shape, Type expressedType,
                                  unsigned bits, unsigned parentBits,
                                  QuantScheme scheme, Granularity granularity,
                                  int64_t groupSize, int64_t axis,
                                  Layout layout, Type scaleType,
                                  int64_t superGroup, unsigned subBits) {
  if (bits < 1 || bits > 8)
    return emitError() << "code width must be in 1..8, got " << bits;
  if (parentBits != 0 && (parentBits <= bits || parentBits > 8))
    return emitError() << "Matryoshka parent width must be in " << bits + 1
                       << "..8 for a " << bits << "-bit slice, got "
                       << parentBits;
  if (!isa<FloatType>(expressedType))
    return emitError() << "expressed type must be a float type, got "
                       << expressedType;
  // Scales narrower than the expressed type must widen to it exactly.
  if (scaleType != expressedType &&
      !(expressedType.isF32() && (scaleType.isF16() || scaleType.isBF16())))
    return emitError() << "scale type " << scaleType
                       << " must be the expressed type " << expressedType
                       << " (or f16/bf16 for f32 values)";
  // The element count bounds every index the lowering computes (codes,
  // scales, bit planes): keep it far from int64 overflow.
  constexpr int64_t kMaxElements = int64_t(1) << 48;
  int64_t elements = 1;
  for (int64_t dim : shape) {
    if (ShapedType::isDynamic(dim))
      continue;
    if (dim < 0)
      return emitError() << "dimensions must be non-negative, got " << dim;
    if (llvm::MulOverflow(elements, dim, elements) || elements > kMaxElements)
      return emitError() << "the static dimensions hold more than 2^48 "
                            "elements";
  }
  int64_t rank = shape.size();
  if (granularity == Granularity::PerTensor) {
    if (groupSize != 0)
      return emitError() << "per_tensor quantization takes no group size";
    return success();
  }
  if (rank == 0)
    return emitError() << "grouped or per-channel quantization needs a "
                          "tensor of rank >= 1";
  if (axis < 0 || axis >= rank)
    return emitError() << "group axis " << axis << " is out of range for rank "
                       << rank;
  if (granularity == Granularity::PerChannel) {
    if (groupSize != 0)
      return emitError() << "per_channel quantization takes no group size";
    return success();
  }
  if (groupSize <= 0)
    return emitError() << "group size must be positive, got " << groupSize;
  // A group size that does not divide the grouped dimension leaves a
  // shorter last group (e.g. 172 = 5 * 32 + 12): there are ceil(dim / G)
  // groups.
  (void)scheme;
  if (superGroup == 0) {
    if (subBits != 0)
      return emitError() << "'sub' needs two-level scales ('super = S')";
    return success();
  }
  // Two-level scales: byte records along the last dimension.
  if (superGroup < 0 || superGroup % groupSize != 0)
    return emitError() << "super-group " << superGroup
                       << " must be a positive multiple of the group size "
                       << groupSize;
  if (subBits != 4 && subBits != 8)
    return emitError() << "two-level sub-scales must be 4 or 8 bits, got "
                       << subBits;
  if (axis != rank - 1)
    return emitError() << "two-level scales group the last dimension";
  if (layout != Layout::Dense || parentBits != 0)
    return emitError() << "two-level scales need dense, unsliced codes";
  if (!expressedType.isF32() || !scaleType.isF16())
    return emitError() << "two-level scales need f32 values and f16 "
                          "super-scales ('scale = f16')";
  int64_t last = shape.back();
  if (!ShapedType::isDynamic(last) && last % superGroup != 0)
    return emitError() << "the last dimension (" << last
                       << ") must be a multiple of the super-group "
                       << superGroup;
  return success();
}

//===----------------------------------------------------------------------===//
// Assembly format
//===----------------------------------------------------------------------===//

namespace {
/// The optional parameters of a !qopt.qtensor, as parsed.
struct QTensorParams {
  std::optional<unsigned> bits, parentBits;
  std::optional<QuantScheme> scheme;
  std::optional<Granularity> granularity;
  std::optional<int64_t> axis;
  std::optional<Layout> layout;
  Type scaleType;
  int64_t groupSize = 0;
  std::optional<int64_t> superGroup;
  std::optional<unsigned> subBits;
};
} // namespace

/// `= N` with N a width in 0..64.
static ParseResult parseWidth(AsmParser &parser, std::optional<unsigned> &out) {
  int64_t v;
  SMLoc at = parser.getCurrentLocation();
  if (parser.parseEqual() || parser.parseInteger(v))
    return failure();
  if (v < 0 || v > 64)
    return parser.emitError(at) << "expected a width in 0..64, got " << v;
  out = static_cast<unsigned>(v);
  return success();
}

/// `= dense` or `= nested`.
static ParseResult parseLayout(AsmParser &parser, std::optional<Layout> &out) {
  StringRef name;
  SMLoc nameLoc = parser.getCurrentLocation();
  if (parser.parseEqual() || parser.parseKeyword(&name))
    return failure();
  out = symbolizeLayout(name);
  if (!out)
    return parser.emitError(nameLoc)
           << "unknown layout '" << name << "', expected 'dense' or 'nested'";
  return success();
}

/// One `key [= value]` parameter of a qtensor (the key already read, at
/// `at`) into `p`; each may be given once.
static ParseResult parseQTensorParam(AsmParser &parser, SMLoc at, StringRef key,
                                     QTensorParams &p) {
  auto duplicate = [&](StringRef what) {
    return parser.emitError(at) << "'" << what << "' given more than once";
  };
  if (key == "bits")
    return p.bits ? duplicate(key) : parseWidth(parser, p.bits);
  if (key == "parent")
    return p.parentBits ? duplicate(key) : parseWidth(parser, p.parentBits);
  if (key == "group" || key == "per_channel" || key == "per_tensor") {
    if (p.granularity)
      return duplicate("granularity");
    if (key != "group") {
      p.granularity = key == "per_channel" ? Granularity::PerChannel
                                           : Granularity::PerTensor;
      return success();
    }
    p.granularity = Granularity::Group;
    return failure(parser.parseEqual() || parser.parseInteger(p.groupSize));
  }
  if (key == "axis") {
    if (p.axis)
      return duplicate(key);
    int64_t v;
    if (parser.parseEqual() || parser.parseInteger(v))
      return failure();
    p.axis = v;
    return success();
  }
  if (key == "sym" || key == "asym") {
    if (p.scheme)
      return duplicate("scheme");
    p.scheme = key == "sym" ? QuantScheme::Symmetric : QuantScheme::Asymmetric;
    return success();
  }
  if (key == "layout")
    return p.layout ? duplicate(key) : parseLayout(parser, p.layout);
  if (key == "scale") {
    if (p.scaleType)
      return duplicate(key);
    return failure(parser.parseEqual() || parser.parseType(p.scaleType));
  }
  if (key == "super") {
    if (p.superGroup)
      return duplicate(key);
    int64_t v;
    if (parser.parseEqual() || parser.parseInteger(v))
      return failure();
    p.superGroup = v;
    return success();
  }
  if (key == "sub")
    return p.subBits ? duplicate(key) : parseWidth(parser, p.subBits);
  return parser.emitError(at) << "unknown qtensor parameter '" << key
                              << "', expected one of bits, parent, group, "
                                 "per_channel, per_tensor, axis, sym, asym, "
                                 "layout, scale, super, sub";
}

Type QTensorType::parse(AsmParser &parser) {
  MLIRContext *ctx = parser.getContext();
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<int64_t> shape;
  Type expressedType;
  if (parser.parseLess() ||
      parser.parseDimensionList(shape, /*allowDynamic=*/true,
                                /*withTrailingX=*/true) ||
      parser.parseType(expressedType))
    return {};

  QTensorParams p;
  while (succeeded(parser.parseOptionalComma())) {
    SMLoc at = parser.getCurrentLocation();
    StringRef key;
    if (parser.parseKeyword(&key) || parseQTensorParam(parser, at, key, p))
      return {};
  }
  if (parser.parseGreater())
    return {};
  auto error = [&](const Twine &message) {
    parser.emitError(loc) << message;
    return Type();
  };
  if (!p.bits)
    return error("qtensor type needs 'bits = c'");
  if (!p.granularity)
    return error("qtensor type needs a granularity: 'group = G', "
                 "'per_channel' or 'per_tensor'");
  if (!p.scheme)
    return error("qtensor type needs a scheme: 'sym' or 'asym'");
  if (p.parentBits && *p.parentBits == 0)
    return error("'parent' must be positive");
  int64_t resolvedAxis =
      p.axis ? *p.axis : static_cast<int64_t>(shape.size()) - 1;
  if (*p.granularity == Granularity::PerTensor && p.axis)
    return error("'axis' has no meaning for per_tensor");
  if (*p.granularity == Granularity::PerTensor)
    resolvedAxis = 0;
  if (p.superGroup && *p.superGroup == 0)
    return error("'super' must be positive");
  if (p.superGroup && *p.granularity != Granularity::Group)
    return error("two-level scales ('super') need 'group = G'");
  return parser.getChecked<QTensorType>(
      loc, ctx, ArrayRef<int64_t>(shape), expressedType, *p.bits,
      p.parentBits.value_or(0), *p.scheme, *p.granularity, p.groupSize,
      resolvedAxis, p.layout.value_or(Layout::Dense),
      p.scaleType ? p.scaleType : expressedType, p.superGroup.value_or(0),
      p.subBits.value_or(p.superGroup ? 8u : 0u));
}

void QTensorType::print(AsmPrinter &printer) const {
  printer << '<';
  for (int64_t dim : getShape()) {
    if (ShapedType::isDynamic(dim))
      printer << '?';
    else
      printer << dim;
    printer << 'x';
  }
  printer << getExpressedType() << ", bits = " << getBits();
  if (isSliced())
    printer << ", parent = " << getParentBits();
  switch (getGranularity()) {
  case Granularity::Group:
    printer << ", group = " << getGroupSize();
    break;
  case Granularity::PerChannel:
    printer << ", per_channel";
    break;
  case Granularity::PerTensor:
    printer << ", per_tensor";
    break;
  }
  if (getGranularity() != Granularity::PerTensor && getAxis() != getRank() - 1)
    printer << ", axis = " << getAxis();
  printer << ", " << stringifyQuantScheme(getScheme());
  if (getLayout() != Layout::Dense)
    printer << ", layout = " << stringifyLayout(getLayout());
  if (hasNarrowScales())
    printer << ", scale = " << getScaleType();
  if (isTwoLevel())
    printer << ", super = " << getSuperGroup() << ", sub = " << getSubBits();
  printer << '>';
}
