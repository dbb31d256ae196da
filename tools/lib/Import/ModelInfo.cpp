//===- ModelInfo.cpp - A model module's configuration -----------*- C++ -*-===//
//
// What the runner and the exporters read back from an imported model
// module: the KV cache type (names, element types, and the cache arguments
// of @prefill and @decode), the qopt.model configuration, checked against
// the entry points and the attention and rotary ops, and the decoding of
// 16- and 32-bit float constants.
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/ModelImporter.h"

#include "qopt/Dialect/QOpt/QOptOps.h"
#include "qopt/Model/GGUFWriter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstring>
#include <limits>

using namespace mlir;
using namespace mlir::qopt;
namespace model = ::qopt::model;

//===----------------------------------------------------------------------===//
// KV cache type
//===----------------------------------------------------------------------===//

std::optional<KVCacheType> mlir::qopt::parseKVCacheType(StringRef name) {
  if (name == "f32")
    return KVCacheType::F32;
  if (name == "f16")
    return KVCacheType::F16;
  if (name == "bf16")
    return KVCacheType::BF16;
  return std::nullopt;
}

std::optional<KQuantScales> mlir::qopt::parseKQuantScales(StringRef name) {
  if (name == "two-level")
    return KQuantScales::TwoLevel;
  if (name == "f32")
    return KQuantScales::F32;
  if (name == "f16")
    return KQuantScales::F16;
  return std::nullopt;
}

StringRef mlir::qopt::kvCacheTypeName(KVCacheType type) {
  switch (type) {
  case KVCacheType::F32:
    return "f32";
  case KVCacheType::F16:
    return "f16";
  case KVCacheType::BF16:
    return "bf16";
  }
  llvm_unreachable("unknown KV cache type");
}

int64_t mlir::qopt::kvCacheElementBytes(KVCacheType type) {
  return type == KVCacheType::F32 ? 4 : 2;
}

Type mlir::qopt::getKVCacheElementType(MLIRContext &context, KVCacheType type) {
  switch (type) {
  case KVCacheType::F32:
    return Float32Type::get(&context);
  case KVCacheType::F16:
    return Float16Type::get(&context);
  case KVCacheType::BF16:
    return BFloat16Type::get(&context);
  }
  llvm_unreachable("unknown KV cache type");
}

/// The KV cache type of an element type, if it is one.
static std::optional<KVCacheType> kvCacheTypeOf(Type element) {
  if (element.isF32())
    return KVCacheType::F32;
  if (element.isF16())
    return KVCacheType::F16;
  if (element.isBF16())
    return KVCacheType::BF16;
  return std::nullopt;
}

/// The key cache argument of `fn`: the one named `key_cache` by the
/// importer, else the third argument.
static MemRefType keyCacheType(func::FuncOp fn) {
  for (unsigned i = 0, e = fn.getNumArguments(); i < e; ++i)
    if (auto name = fn.getArgAttrOfType<StringAttr>(i, "qopt.name"))
      if (name.getValue() == "key_cache")
        return dyn_cast<MemRefType>(fn.getArgument(i).getType());
  if (fn.getNumArguments() > 2)
    return dyn_cast<MemRefType>(fn.getArgument(2).getType());
  return {};
}

llvm::Expected<KVCacheInfo> mlir::qopt::readKVCacheInfo(ModuleOp module) {
  auto fail = [](const llvm::Twine &why) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), why);
  };
  MemRefType cache;
  for (StringRef name : {kPrefillFunction, kDecodeFunction}) {
    auto fn = module.lookupSymbol<func::FuncOp>(name);
    if (!fn || fn.isExternal())
      return fail("model module has no function @" + name);
    MemRefType type = keyCacheType(fn);
    if (!type || type.getRank() != 3)
      return fail("@" + name +
                  " has no [layers, seq, kv_dim] key cache "
                  "argument (is the module already lowered?)");
    if (cache && type != cache)
      return fail("@prefill and @decode disagree on the KV cache type");
    cache = type;
  }
  std::optional<KVCacheType> type = kvCacheTypeOf(cache.getElementType());
  if (!type)
    return fail("unsupported KV cache element type in the module");
  if (auto dict = module->getAttrOfType<DictionaryAttr>(kModelAttr))
    if (auto recorded = dict.getAs<TypeAttr>("kv_type"))
      if (recorded.getValue() != cache.getElementType()) {
        std::string message;
        llvm::raw_string_ostream os(message);
        os << "qopt.model's kv_type " << recorded.getValue()
           << " does not match the KV cache arguments' element type "
           << cache.getElementType();
        return fail(message);
      }
  KVCacheInfo info;
  info.type = *type;
  if (!cache.isDynamicDim(1))
    info.staticPositions = cache.getDimSize(1);
  return info;
}

/// A "qopt.model: " error.
static llvm::Error configError(const llvm::Twine &why) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "qopt.model: " + why);
}

/// Checks the sizes of `cfg`: in range and consistent.
static llvm::Error checkConfigSizes(const model::ModelConfig &cfg) {
  // Each size at most 2^31 - 1 (token ids are i32), so that products of two
  // sizes cannot overflow.
  constexpr int64_t maxSize = std::numeric_limits<int32_t>::max();
  for (auto [key, value] : {std::pair<StringRef, int64_t>{"dim", cfg.dim},
                            {"hidden_dim", cfg.hiddenDim},
                            {"num_layers", cfg.numLayers},
                            {"num_heads", cfg.numHeads},
                            {"num_kv_heads", cfg.numKVHeads},
                            {"vocab_size", cfg.vocabSize}})
    if (value < 1 || value > maxSize)
      return configError(
          llvm::formatv("{0} = {1} is outside [1, {2}]", key, value, maxSize)
              .str());
  if (cfg.maxSeqLen < 1 || cfg.maxSeqLen > model::kMaxContextLength)
    return configError(llvm::formatv("max_seq_len = {0} is outside [1, {1}]",
                                     cfg.maxSeqLen, model::kMaxContextLength)
                           .str());
  if (cfg.dim % cfg.numHeads != 0 || cfg.numHeads % cfg.numKVHeads != 0 ||
      cfg.headDim() % 2 != 0)
    return configError(
        llvm::formatv("num_heads = {0} must divide dim = {1} into "
                      "even head sizes, and num_kv_heads = {2} must "
                      "divide num_heads",
                      cfg.numHeads, cfg.dim, cfg.numKVHeads)
            .str());
  if (!(cfg.normEps > 0) || !std::isfinite(cfg.normEps) ||
      !(cfg.ropeTheta > 0) || !std::isfinite(cfg.ropeTheta))
    return configError("norm_eps and rope_theta must be positive and finite");
  return llvm::Error::success();
}

/// Checks `cfg` against the extents of the entry points' logits ([tokens,
/// vocab_size]) and key cache ([num_layers, positions, kv_dim]) where those
/// are static.
static llvm::Error checkEntryPoints(ModuleOp module,
                                    const model::ModelConfig &cfg) {
  for (StringRef name : {kPrefillFunction, kDecodeFunction}) {
    auto fn = module.lookupSymbol<func::FuncOp>(name);
    if (!fn)
      continue; // readKVCacheInfo names the missing function
    auto logits = fn.getNumResults() == 1
                      ? dyn_cast<RankedTensorType>(fn.getResultTypes()[0])
                      : RankedTensorType();
    if (!logits || logits.getRank() != 2 ||
        (!logits.isDynamicDim(1) && logits.getDimSize(1) != cfg.vocabSize))
      return configError(
          llvm::formatv("vocab_size = {0} disagrees with the result "
                        "of @{1} (logits [tokens, vocab_size] "
                        "expected)",
                        cfg.vocabSize, name)
              .str());
    MemRefType cache = keyCacheType(fn);
    if (!cache || cache.getRank() != 3)
      continue; // readKVCacheInfo reports it
    if ((!cache.isDynamicDim(0) && cache.getDimSize(0) != cfg.numLayers) ||
        (!cache.isDynamicDim(2) && cache.getDimSize(2) != cfg.kvDim()))
      return configError(
          llvm::formatv("num_layers = {0} and kv_dim = {1} disagree "
                        "with the key cache of @{2} ([num_layers, "
                        "positions, kv_dim] expected)",
                        cfg.numLayers, cfg.kvDim(), name)
              .str());
  }
  return llvm::Error::success();
}

/// Checks `cfg` against the attention and rotary ops (before or after
/// lowering to kernels): the runner sizes the KV cache and the head loops
/// of the compiled code by it.
static llvm::Error checkOpAttributes(ModuleOp module,
                                     const model::ModelConfig &cfg) {
  std::string mismatch;
  auto check = [&](Operation *op, StringRef key, int64_t value,
                   int64_t expected, StringRef field) {
    if (!mismatch.empty() || value == expected)
      return;
    mismatch =
        llvm::formatv("{0} = {1} disagrees with {2} = {3} of a '{4}' "
                      "op",
                      field, expected, key, value, op->getName().getStringRef())
            .str();
  };
  module.walk([&](Operation *op) {
    int64_t heads, kvHeads, headDim, layer;
    if (auto attn = dyn_cast<AttentionOp>(op)) {
      heads = attn.getNumHeads();
      kvHeads = attn.getNumKvHeads();
      headDim = attn.getHeadDim();
      layer = attn.getLayer();
    } else if (auto attn = dyn_cast<KernelAttentionOp>(op)) {
      heads = attn.getNumHeads();
      kvHeads = attn.getNumKvHeads();
      headDim = attn.getHeadDim();
      layer = attn.getLayer();
    } else {
      if (auto rope = dyn_cast<RopeOp>(op))
        check(op, "head_dim", rope.getHeadDim(), cfg.headDim(),
              "dim / num_heads");
      if (auto embedding = dyn_cast<EmbeddingOp>(op)) {
        auto type = cast<RankedTensorType>(embedding.getType());
        if (!type.isDynamicDim(1))
          check(op, "width", type.getDimSize(1), cfg.dim, "dim");
      }
      return;
    }
    check(op, "num_heads", heads, cfg.numHeads, "num_heads");
    check(op, "num_kv_heads", kvHeads, cfg.numKVHeads, "num_kv_heads");
    check(op, "head_dim", headDim, cfg.headDim(), "dim / num_heads");
    if (mismatch.empty() && (layer < 0 || layer >= cfg.numLayers))
      mismatch =
          llvm::formatv("num_layers = {0} disagrees with layer = {1} "
                        "of a '{2}' op",
                        cfg.numLayers, layer, op->getName().getStringRef())
              .str();
  });
  if (!mismatch.empty())
    return configError(mismatch);
  return llvm::Error::success();
}

/// Checks a configuration read from `module`'s qopt.model attribute: sizes
/// in range and consistent, and equal to the extents of the entry points'
/// logits ([tokens, vocab_size]) and key cache ([num_layers, positions,
/// kv_dim]) where those are static. Nothing sized by the attribute is
/// allocated before this holds.
static llvm::Error checkModelConfig(ModuleOp module,
                                    const model::ModelConfig &cfg) {
  if (llvm::Error err = checkConfigSizes(cfg))
    return err;
  if (llvm::Error err = checkEntryPoints(module, cfg))
    return err;
  return checkOpAttributes(module, cfg);
}

llvm::Expected<model::ModelConfig>
mlir::qopt::readModelConfig(ModuleOp module) {
  auto dict = module->getAttrOfType<DictionaryAttr>(kModelAttr);
  auto fail = [](const llvm::Twine &why) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), why);
  };
  if (!dict)
    return fail("module has no 'qopt.model' attribute: not a qopt model "
                "(produce one with qopt-import)");
  model::ModelConfig cfg;
  auto getInt = [&](StringRef key, int64_t &out) -> llvm::Error {
    auto attr = dict.getAs<IntegerAttr>(key);
    if (!attr)
      return fail("qopt.model is missing integer '" + key + "'");
    out = attr.getInt();
    return llvm::Error::success();
  };
  auto getFloat = [&](StringRef key, float &out) -> llvm::Error {
    auto attr = dict.getAs<FloatAttr>(key);
    if (!attr)
      return fail("qopt.model is missing float '" + key + "'");
    out = attr.getValue().convertToFloat();
    return llvm::Error::success();
  };
  for (auto [key, field] : {std::pair<StringRef, int64_t *>{"dim", &cfg.dim},
                            {"hidden_dim", &cfg.hiddenDim},
                            {"num_layers", &cfg.numLayers},
                            {"num_heads", &cfg.numHeads},
                            {"num_kv_heads", &cfg.numKVHeads},
                            {"vocab_size", &cfg.vocabSize},
                            {"max_seq_len", &cfg.maxSeqLen}})
    if (llvm::Error err = getInt(key, *field))
      return std::move(err);
  if (llvm::Error err = getFloat("norm_eps", cfg.normEps))
    return std::move(err);
  if (llvm::Error err = getFloat("rope_theta", cfg.ropeTheta))
    return std::move(err);
  if (auto style = dict.getAs<StringAttr>("rope_style"))
    cfg.ropeStyle = style.getValue() == "rotate_half"
                        ? model::RopeStyle::RotateHalf
                        : model::RopeStyle::Interleaved;
  if (auto tied = dict.getAs<BoolAttr>("tied_embeddings"))
    cfg.tiedEmbeddings = tied.getValue();
  if (auto arch = dict.getAs<StringAttr>("architecture"))
    cfg.architecture = arch.getValue().str();
  if (auto bias = dict.getAs<BoolAttr>("attention_bias"))
    cfg.attentionBias = bias.getValue();
  if (auto window = dict.getAs<IntegerAttr>("sliding_window"))
    cfg.slidingWindow = window.getInt();
  if (llvm::Error err = checkModelConfig(module, cfg))
    return std::move(err);
  return cfg;
}

std::vector<float> mlir::qopt::decodeFloatElements(ArrayRef<char> bytes,
                                                   Type type) {
  if (type.isF32()) {
    std::vector<float> out(bytes.size() / 4);
    std::memcpy(out.data(), bytes.data(), out.size() * 4);
    return out;
  }
  std::vector<float> out(bytes.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    uint16_t bits;
    std::memcpy(&bits, bytes.data() + 2 * i, 2);
    out[i] = type.isF16() ? ::qopt::model::halfToFloat(bits)
                          : ::qopt::model::bf16ToFloat(bits);
  }
  return out;
}
