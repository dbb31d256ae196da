//===- QOptModelOps.cpp - Verifiers of the model operations -----*- C++ -*-===//
//
// Shape verification of the Llama-family model operations (embedding,
// rms_norm, linear, rope, attention). Every relation between operand and
// result shapes is checked; a dynamic token dimension matches anything.
//
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/QOptOps.h"
#include "qopt/Runtime/Hadamard.h"

#include "llvm/Support/CheckedArithmetic.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qopt;

/// True if two dimensions may be equal (a dynamic one matches anything).
static bool dimsMatch(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Verifies that the token (first) dimensions of `types` agree.
static LogicalResult
verifyTokenDims(Operation *op,
                ArrayRef<std::pair<StringRef, ShapedType>> types) {
  for (auto [name, type] : types.drop_front())
    if (!dimsMatch(type.getDimSize(0), types.front().second.getDimSize(0)))
      return op->emitOpError()
             << "token dimension of " << name << " (" << type.getDimSize(0)
             << ") does not match that of " << types.front().first << " ("
             << types.front().second.getDimSize(0) << ")";
  return success();
}

/// Verifies that the feature (last) dimension of `type` is static and equals
/// `expected`.
static LogicalResult verifyFeatures(Operation *op, StringRef name,
                                    ShapedType type, int64_t expected,
                                    StringRef what) {
  int64_t actual = type.getShape().back();
  if (ShapedType::isDynamic(actual))
    return op->emitOpError() << name << " must have a static feature dimension";
  if (actual != expected)
    return op->emitOpError() << name << " has " << actual << " features but "
                             << what << " is " << expected;
  return success();
}

LogicalResult EmbeddingOp::verify() {
  ShapedType table;
  if (auto q = dyn_cast<QTensorType>(getTable().getType())) {
    if (failed(verifyRowGroupedMatrix(*this, q, "quantized embedding table")))
      return failure();
    table = q.getExpressedTensorType();
  } else {
    table = cast<RankedTensorType>(getTable().getType());
  }
  if (!table.hasStaticShape())
    return emitOpError() << "embedding table must have a static shape";
  if (table.getNumElements() == 0)
    return emitOpError() << "embedding table must not be empty";
  if (failed(verifyFeatures(*this, "result", getType(), table.getDimSize(1),
                            "the embedding width")))
    return failure();
  return verifyTokenDims(
      *this, {{"tokens", getTokens().getType()}, {"result", getType()}});
}

LogicalResult RMSNormOp::verify() {
  int64_t width = getWeight().getType().getDimSize(0);
  if (ShapedType::isDynamic(width))
    return emitOpError() << "weight must have a static size";
  if (width == 0)
    return emitOpError() << "cannot normalize an empty feature dimension";
  if (failed(verifyFeatures(*this, "input", getInput().getType(), width,
                            "the weight size")))
    return failure();
  if (getType() != getInput().getType())
    return emitOpError() << "result type " << getType()
                         << " must equal the input type "
                         << getInput().getType();
  if (!(getEpsilon().convertToFloat() >= 0.0f))
    return emitOpError() << "epsilon must be non-negative";
  return success();
}

LogicalResult LinearOp::verify() {
  RankedTensorType weight = getWeight().getType();
  if (!weight.hasStaticShape())
    return emitOpError() << "weight must have a static shape";
  if (failed(verifyFeatures(*this, "input", getInput().getType(),
                            weight.getDimSize(1),
                            "the weight's input dimension")) ||
      failed(verifyFeatures(*this, "result", getType(), weight.getDimSize(0),
                            "the weight's output dimension")))
    return failure();
  return verifyTokenDims(
      *this, {{"input", getInput().getType()}, {"result", getType()}});
}

LogicalResult RopeOp::verify() {
  int64_t headDim = getHeadDim();
  int64_t width = getInput().getType().getShape().back();
  if (headDim % 2 != 0)
    return emitOpError() << "head_dim must be even, got " << headDim;
  if (ShapedType::isDynamic(width))
    return emitOpError() << "input must have a static feature dimension";
  if (width % headDim != 0)
    return emitOpError() << "feature dimension " << width
                         << " is not a multiple of head_dim " << headDim;
  if (getType() != getInput().getType())
    return emitOpError() << "result type " << getType()
                         << " must equal the input type "
                         << getInput().getType();
  float theta = getTheta().convertToFloat();
  if (!(theta > 0.0f) || !std::isfinite(theta))
    return emitOpError() << "theta must be positive and finite";
  if (std::optional<ArrayRef<float>> invFreq = getInvFreq()) {
    if (static_cast<int64_t>(invFreq->size()) != headDim / 2)
      return emitOpError() << "inv_freq has " << invFreq->size()
                           << " entries, expected head_dim / 2 = "
                           << headDim / 2;
    for (auto [j, f] : llvm::enumerate(*invFreq))
      if (!(f > 0.0f) || !std::isfinite(f))
        return emitOpError() << "inv_freq[" << j << "] = " << f
                             << " is not positive and finite";
  }
  if (std::optional<APFloat> scale = getScale()) {
    float s = scale->convertToFloat();
    if (!(s > 0.0f) || !std::isfinite(s))
      return emitOpError() << "scale must be positive and finite";
  }
  bool hasFactor = getNtkFactor().has_value();
  if (hasFactor != getNtkMaxPositions().has_value())
    return emitOpError()
           << "ntk_factor and ntk_max_positions must be given together";
  if (hasFactor) {
    float factor = getNtkFactor()->convertToFloat();
    if (!(factor >= 1.0f) || !std::isfinite(factor))
      return emitOpError() << "ntk_factor must be finite and at least 1";
    if (getInvFreq())
      return emitOpError() << "dynamic NTK scaling (ntk_factor) recomputes "
                              "the frequencies; it excludes inv_freq";
    if (headDim <= 2)
      return emitOpError() << "dynamic NTK scaling needs head_dim > 2";
  }
  return success();
}

LogicalResult BiasAddOp::verify() {
  int64_t width = getInput().getType().getDimSize(1);
  int64_t size = getBias().getType().getDimSize(0);
  if (ShapedType::isDynamic(width) || width != size)
    return emitOpError() << "bias of " << size
                         << " elements does not match the feature dimension "
                         << width << " of the input";
  return success();
}

LogicalResult mlir::qopt::verifyKVCaches(Operation *op, MemRefType keyCache,
                                         MemRefType valueCache) {
  if (keyCache.getElementType() != valueCache.getElementType())
    return op->emitOpError()
           << "key cache element type " << keyCache.getElementType()
           << " differs from value cache element type "
           << valueCache.getElementType();
  if (keyCache != valueCache)
    return op->emitOpError() << "key and value caches must have the same type";
  if (keyCache.isDynamicDim(0) || keyCache.isDynamicDim(2))
    return op->emitOpError()
           << "KV caches must have static layer and row dimensions "
              "[layers, seq, kv_dim] (seq may be dynamic)";
  if (keyCache.getDimSize(1) == 0)
    return op->emitOpError() << "KV caches must hold at least one position";
  return success();
}

LogicalResult AttentionOp::verify() {
  int64_t heads = getNumHeads(), kvHeads = getNumKvHeads(),
          headDim = getHeadDim();
  if (heads % kvHeads != 0)
    return emitOpError() << "num_heads (" << heads
                         << ") must be a multiple of num_kv_heads (" << kvHeads
                         << ")";
  // num_heads >= num_kv_heads, so this bounds both feature products.
  if (!llvm::checkedMul(heads, headDim))
    return emitOpError() << "num_heads * head_dim (" << heads << " * "
                         << headDim << ") overflows";
  MemRefType keyCache = getKeyCache().getType();
  if (failed(verifyKVCaches(*this, keyCache, getValueCache().getType())))
    return failure();
  if (static_cast<int64_t>(getLayer()) >= keyCache.getDimSize(0))
    return emitOpError() << "layer " << getLayer()
                         << " is out of range for a cache of "
                         << keyCache.getDimSize(0) << " layers";
  if (keyCache.getDimSize(2) != kvHeads * headDim)
    return emitOpError() << "cache row has " << keyCache.getDimSize(2)
                         << " elements but num_kv_heads * head_dim is "
                         << kvHeads * headDim;
  if (failed(verifyFeatures(*this, "query", getQuery().getType(),
                            heads * headDim, "num_heads * head_dim")) ||
      failed(verifyFeatures(*this, "key", getKey().getType(), kvHeads * headDim,
                            "num_kv_heads * head_dim")) ||
      failed(verifyFeatures(*this, "value", getValue().getType(),
                            kvHeads * headDim, "num_kv_heads * head_dim")) ||
      failed(verifyFeatures(*this, "result", getType(), heads * headDim,
                            "num_heads * head_dim")))
    return failure();
  return verifyTokenDims(*this, {{"query", getQuery().getType()},
                                 {"key", getKey().getType()},
                                 {"value", getValue().getType()},
                                 {"result", getType()}});
}

LogicalResult SwiGLUOp::verify() {
  // The trait only requires compatible shapes; the custom form prints a
  // single type, so the types must be identical.
  if (getGate().getType() != getType() || getUp().getType() != getType())
    return emitOpError() << "gate, up and result must have the same type";
  return success();
}

LogicalResult HadamardOp::verify() {
  if (getInput().getType() != getType())
    return emitOpError() << "input and result must have the same type";
  int64_t size = getSize();
  if (!::qopt::runtime::factorHadamardSize(size))
    return emitOpError() << "qopt cannot construct a Hadamard matrix of order "
                         << size
                         << " (supported: K * 2^m for K = 1 or a Paley / "
                            "Williamson order, see docs/hadamard.md)";
  int64_t cols = getType().getDimSize(1);
  if (ShapedType::isDynamic(cols))
    return emitOpError() << "the transformed dimension must be static";
  if (cols % size != 0)
    return emitOpError() << "row length " << cols
                         << " is not a multiple of the block size " << size;
  return success();
}

void ObserveOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  if (isa<MemRefType>(getInput().getType()))
    effects.emplace_back(MemoryEffects::Read::get(), &getInputMutable(),
                         SideEffects::DefaultResource::get());
  // The observer: the op is kept even though it has no results.
  effects.emplace_back(MemoryEffects::Write::get(),
                       SideEffects::DefaultResource::get());
}

LogicalResult WeightRefOp::verify() {
  if (!getType().getLayout().isIdentity())
    return emitOpError() << "result must have the identity layout (weights "
                            "are contiguous row-major buffers)";
  return success();
}
