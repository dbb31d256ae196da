//===- ModelImporter.cpp - Checkpoints to qopt MLIR -------------*- C++ -*-===//
//
// Emits the prefill and decode functions of a Llama-family decoder from
// qopt model ops, with weights in dense_resource blobs.
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/ModelImporter.h"

#include "qopt/Model/GGUFWriter.h"

#include <cstring>

#include "qopt/Dialect/QOpt/QOptOps.h"
#include "qopt/Runtime/QOptRuntime.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::qopt;
namespace model = ::qopt::model;

void mlir::qopt::registerImportDialects(DialectRegistry &registry) {
  registry.insert<QOptDialect, arith::ArithDialect, func::FuncDialect,
                  memref::MemRefDialect, tensor::TensorDialect>();
}

namespace {
/// Builds the two model functions, sharing one resource per weight.
class Importer {
public:
  Importer(MLIRContext &ctx, const model::Checkpoint &ckpt,
           const ImportOptions &options)
      : ctx(ctx), ckpt(ckpt), cfg(ckpt.config), options(options), b(&ctx),
        f32(Float32Type::get(&ctx)) {}

  llvm::Expected<OwningOpRef<ModuleOp>> run();

private:
  MLIRContext &ctx;
  const model::Checkpoint &ckpt;
  const model::ModelConfig &cfg;
  const ImportOptions &options;
  OpBuilder b;
  Type f32;
  llvm::StringMap<DenseResourceElementsAttr> weights;
  /// Block-quantized GGUF matrices: codes, scales and their qtensor type.
  struct QuantizedWeight {
    DenseResourceElementsAttr codes, scales;
    QTensorType type;
  };
  llvm::StringMap<QuantizedWeight> quantized;

  /// The weight `name` as a value at the builder's insertion point: a
  /// constant, or for a Q8_0/Q4_0 matrix `qopt.dequantize(qopt.pack(codes,
  /// scales))` (the lowering fuses it into the matmul; the codes are never
  /// expanded to f32 in memory).
  llvm::Expected<Value> weightValue(StringRef name);

  llvm::Error checkConfig();
  llvm::Expected<DenseResourceElementsAttr> weight(StringRef name);
  llvm::Error buildFunction(ModuleOp module, StringRef name, int64_t numTokens);
};
} // namespace

llvm::Error Importer::checkConfig() {
  auto fail = [&](const llvm::Twine &why) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   llvm::Twine(ckpt.path) + ": " + why);
  };
  if (cfg.dim <= 0 || cfg.hiddenDim <= 0 || cfg.numLayers <= 0 ||
      cfg.numHeads <= 0 || cfg.numKVHeads <= 0 || cfg.vocabSize <= 0 ||
      cfg.maxSeqLen <= 0)
    return fail("model configuration has a non-positive size");
  if (cfg.dim % cfg.numHeads != 0)
    return fail("dim is not a multiple of the number of heads");
  if (cfg.numHeads % cfg.numKVHeads != 0)
    return fail("number of heads is not a multiple of the KV heads");
  if (cfg.headDim() % 2 != 0)
    return fail("head dimension must be even for RoPE");
  return llvm::Error::success();
}

llvm::Expected<DenseResourceElementsAttr> Importer::weight(StringRef name) {
  auto it = weights.find(name);
  if (it != weights.end())
    return it->second;
  llvm::Expected<const model::TensorRef *> tensor = ckpt.get(name);
  if (!tensor)
    return tensor.takeError();
  const model::TensorRef &t = **tensor;
  // Matrices stay in the checkpoint's 16-bit format (the lowering widens
  // them as it reads them); everything else becomes f32.
  Type element = f32;
  size_t elementBytes = sizeof(float);
  if (t.shape.size() == 2 && t.dtype == model::DType::F16) {
    element = Float16Type::get(&ctx);
    elementBytes = 2;
  } else if (t.shape.size() == 2 && t.dtype == model::DType::BF16) {
    element = BFloat16Type::get(&ctx);
    elementBytes = 2;
  }
  auto type = RankedTensorType::get(t.shape, element);
  AsmResourceBlob blob;
  bool native = element != f32 || t.dtype == model::DType::F32;
  bool aligned = reinterpret_cast<uintptr_t>(t.data) % elementBytes == 0;
  if (native && aligned) {
    // Zero copy: the blob points into the mapped checkpoint.
    blob = UnmanagedAsmResourceBlob::allocateWithAlign(
        ArrayRef<char>(reinterpret_cast<const char *>(t.data), t.numBytes),
        elementBytes);
  } else if (native) {
    blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
        ArrayRef<char>(reinterpret_cast<const char *>(t.data), t.numBytes),
        elementBytes);
  } else {
    llvm::Expected<std::vector<float>> values = model::toF32(t);
    if (!values)
      return values.takeError();
    blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(
        ArrayRef<float>(*values));
  }
  auto attr = DenseResourceElementsAttr::get(type, name, std::move(blob));
  weights[name] = attr;
  return attr;
}

llvm::Expected<Value> Importer::weightValue(StringRef name) {
  Location loc = NameLoc::get(b.getStringAttr(name));
  llvm::Expected<const model::TensorRef *> tensor = ckpt.get(name);
  if (!tensor)
    return tensor.takeError();
  const model::TensorRef &t = **tensor;
  bool blockQuantized =
      t.dtype == model::DType::Q8_0 || t.dtype == model::DType::Q4_0;
  if (!blockQuantized || t.shape.size() != 2) {
    llvm::Expected<DenseResourceElementsAttr> attr = weight(name);
    if (!attr)
      return attr.takeError();
    return arith::ConstantOp::create(b, loc, *attr).getResult();
  }
  auto it = quantized.find(name);
  if (it == quantized.end()) {
    llvm::Expected<model::BlockQuantized> q = model::toBlockQuantized(t);
    if (!q)
      return q.takeError();
    int64_t rows = t.shape[0], cols = t.shape[1];
    if (cols % q->groupSize != 0)
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          llvm::Twine(ckpt.path) + ": tensor '" + name + "' has rows of " +
              llvm::Twine(cols) +
              " elements, not a multiple of its block size");
    QuantizedWeight w;
    w.type = QTensorType::get(&ctx, t.shape, f32, q->bits, /*parentBits=*/0u,
                              QuantScheme::Symmetric, Granularity::Group,
                              q->groupSize, /*axis=*/1, Layout::Dense);
    // 4-bit codes are kept packed, two per byte (the dense layout's packed
    // form), so a Q4_0 model takes about the memory of its file.
    SmallVector<int64_t> codesShape(t.shape.begin(), t.shape.end());
    std::vector<uint8_t> packed;
    const std::vector<uint8_t> *codeBytes = &q->codes;
    if (q->bits == 4) {
      codesShape.back() = cols / 2;
      packed.resize(q->codes.size() / 2);
      if (qopt_pack_dense(q->codes.data(), q->codes.size(), 4, packed.data()) !=
          QOPT_OK)
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       llvm::Twine(ckpt.path) + ": tensor '" +
                                           name + "' has codes outside 4 bits");
      codeBytes = &packed;
    }
    w.codes = DenseResourceElementsAttr::get(
        RankedTensorType::get(codesShape, b.getI8Type()),
        (name + ".codes").str(),
        HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<int8_t>(
            reinterpret_cast<const int8_t *>(codeBytes->data()),
            codeBytes->size())));
    w.scales = DenseResourceElementsAttr::get(
        RankedTensorType::get({rows, cols / q->groupSize}, f32),
        (name + ".scales").str(),
        HeapAsmResourceBlob::allocateAndCopyInferAlign(
            ArrayRef<float>(q->scales)));
    it = quantized.insert({name, w}).first;
  }
  const QuantizedWeight &w = it->second;
  Value codes = arith::ConstantOp::create(b, loc, w.codes);
  Value scales = arith::ConstantOp::create(b, loc, w.scales);
  Value packed = PackOp::create(b, loc, w.type, codes, scales, Value());
  return DequantizeOp::create(b, loc, w.type.getExpressedTensorType(), packed)
      .getResult();
}

llvm::Error Importer::buildFunction(ModuleOp module, StringRef name,
                                    int64_t numTokens) {
  int64_t kvDim = cfg.kvDim(), headDim = cfg.headDim();
  // The runtime chooses how many positions to allocate (up to
  // max_seq_len), so the sequence dimension is dynamic.
  auto cacheType = MemRefType::get({cfg.numLayers, ShapedType::kDynamic, kvDim},
                                   getKVCacheElementType(ctx, options.kvType));
  auto tokensType = RankedTensorType::get({numTokens}, b.getI32Type());
  auto act = [&](int64_t width) {
    return RankedTensorType::get({numTokens, width}, f32);
  };
  auto fnType = FunctionType::get(
      &ctx, {tokensType, b.getIndexType(), cacheType, cacheType},
      {act(cfg.vocabSize)});
  Location loc = NameLoc::get(b.getStringAttr(name));
  b.setInsertionPointToEnd(module.getBody());
  auto fn = func::FuncOp::create(b, loc, name, fnType);
  fn.setArgAttr(0, "qopt.name", b.getStringAttr("tokens"));
  fn.setArgAttr(1, "qopt.name", b.getStringAttr("position"));
  fn.setArgAttr(2, "qopt.name", b.getStringAttr("key_cache"));
  fn.setArgAttr(3, "qopt.name", b.getStringAttr("value_cache"));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Value tokens = entry->getArgument(0), pos = entry->getArgument(1);
  Value keyCache = entry->getArgument(2), valueCache = entry->getArgument(3);

  auto constant = [&](StringRef wname) { return weightValue(wname); };
  auto eps = b.getF32FloatAttr(cfg.normEps);
  auto rmsNorm = [&](Value x, StringRef wname) -> llvm::Expected<Value> {
    llvm::Expected<Value> w = constant(wname);
    if (!w)
      return w.takeError();
    return RMSNormOp::create(b, loc, x.getType(), x, *w, eps).getResult();
  };
  // Every linear and embedding carries its role (and the layer index of
  // the layers' linears) as discardable attributes, so passes such as
  // qopt-quantize-weights select weights by role whatever the checkpoint
  // format named them.
  auto tag = [&](Operation *op, StringRef role, int64_t layer) {
    op->setAttr("qopt.role", b.getStringAttr(role));
    if (layer >= 0)
      op->setAttr("qopt.layer", b.getI64IntegerAttr(layer));
  };
  auto linear = [&](Value x, StringRef wname, StringRef role,
                    int64_t layer) -> llvm::Expected<Value> {
    llvm::Expected<Value> w = constant(wname);
    if (!w)
      return w.takeError();
    int64_t out = cast<RankedTensorType>(w->getType()).getDimSize(0);
    auto op = LinearOp::create(b, loc, act(out), x, *w);
    tag(op, role, layer);
    return op.getResult();
  };
  auto style =
      RopeStyleAttr::get(&ctx, cfg.ropeStyle == model::RopeStyle::Interleaved
                                   ? RopeStyle::Interleaved
                                   : RopeStyle::RotateHalf);
  // Scaled RoPE: the frequency table and cos/sin scale are computed here,
  // once per model; dynamic NTK, which depends on each call's length, is
  // left to the op.
  model::RopeFrequencies freqs =
      model::computeRopeFrequencies(headDim, cfg.ropeTheta, cfg.ropeScaling);
  DenseF32ArrayAttr invFreq;
  if (!freqs.invFreq.empty())
    invFreq = b.getDenseF32ArrayAttr(freqs.invFreq);
  FloatAttr ropeScale;
  if (freqs.scale != 1.0f)
    ropeScale = b.getF32FloatAttr(freqs.scale);
  FloatAttr ntkFactor;
  IntegerAttr ntkMaxPositions;
  if (cfg.ropeScaling.type == model::RopeScalingType::Dynamic) {
    ntkFactor = b.getF32FloatAttr(static_cast<float>(cfg.ropeScaling.factor));
    ntkMaxPositions = b.getI64IntegerAttr(cfg.ropeScaling.originalMaxPositions);
  }
  auto rope = [&](Value x) {
    return RopeOp::create(b, loc, x.getType(), x, pos,
                          b.getI64IntegerAttr(headDim),
                          b.getF32FloatAttr(cfg.ropeTheta), style, invFreq,
                          ropeScale, ntkFactor, ntkMaxPositions)
        .getResult();
  };
  IntegerAttr slidingWindow;
  if (cfg.slidingWindow > 0)
    slidingWindow = b.getI64IntegerAttr(cfg.slidingWindow);
  // Qwen2's q/k/v biases, added after the projections.
  auto biasAdd = [&](Value x, StringRef bname) -> llvm::Expected<Value> {
    if (!cfg.attentionBias)
      return x;
    llvm::Expected<Value> bias = constant(bname);
    if (!bias)
      return bias.takeError();
    return BiasAddOp::create(b, loc, x, *bias).getResult();
  };

  llvm::Expected<Value> table = constant("tok_embeddings");
  if (!table)
    return table.takeError();
  auto embedding = EmbeddingOp::create(b, loc, act(cfg.dim), *table, tokens);
  tag(embedding, "embedding", /*layer=*/-1);
  Value x = embedding;
  for (int64_t l = 0; l < cfg.numLayers; ++l) {
    std::string p = llvm::formatv("layers.{0}.", l).str();
    loc = NameLoc::get(b.getStringAttr(llvm::formatv("layer{0}", l).str()));
    llvm::Expected<Value> h = rmsNorm(x, p + "attention_norm");
    if (!h)
      return h.takeError();
    llvm::Expected<Value> q = linear(*h, p + "wq", "q", l);
    if (!q)
      return q.takeError();
    llvm::Expected<Value> k = linear(*h, p + "wk", "k", l);
    if (!k)
      return k.takeError();
    llvm::Expected<Value> v = linear(*h, p + "wv", "v", l);
    if (!v)
      return v.takeError();
    q = biasAdd(*q, p + "bq");
    if (!q)
      return q.takeError();
    k = biasAdd(*k, p + "bk");
    if (!k)
      return k.takeError();
    v = biasAdd(*v, p + "bv");
    if (!v)
      return v.takeError();
    Value attn = AttentionOp::create(
        b, loc, act(cfg.dim), rope(*q), rope(*k), *v, keyCache, valueCache, pos,
        b.getI64IntegerAttr(l), b.getI64IntegerAttr(cfg.numHeads),
        b.getI64IntegerAttr(cfg.numKVHeads), b.getI64IntegerAttr(headDim),
        slidingWindow);
    llvm::Expected<Value> o = linear(attn, p + "wo", "o", l);
    if (!o)
      return o.takeError();
    x = arith::AddFOp::create(b, loc, x, *o);
    llvm::Expected<Value> h2 = rmsNorm(x, p + "ffn_norm");
    if (!h2)
      return h2.takeError();
    llvm::Expected<Value> gate = linear(*h2, p + "w1", "gate", l);
    if (!gate)
      return gate.takeError();
    llvm::Expected<Value> up = linear(*h2, p + "w3", "up", l);
    if (!up)
      return up.takeError();
    Value hidden = SwiGLUOp::create(b, loc, *gate, *up);
    llvm::Expected<Value> down = linear(hidden, p + "w2", "down", l);
    if (!down)
      return down.takeError();
    x = arith::AddFOp::create(b, loc, x, *down);
  }
  loc = NameLoc::get(b.getStringAttr("head"));
  llvm::Expected<Value> normed = rmsNorm(x, "norm");
  if (!normed)
    return normed.takeError();
  llvm::Expected<Value> logits =
      linear(*normed, cfg.tiedEmbeddings ? "tok_embeddings" : "output",
             "classifier", /*layer=*/-1);
  if (!logits)
    return logits.takeError();
  func::ReturnOp::create(b, loc, *logits);
  return llvm::Error::success();
}

llvm::Expected<OwningOpRef<ModuleOp>> Importer::run() {
  if (llvm::Error err = checkConfig())
    return std::move(err);
  ctx.loadDialect<QOptDialect, arith::ArithDialect, func::FuncDialect,
                  memref::MemRefDialect, tensor::TensorDialect>();
  OwningOpRef<ModuleOp> module =
      ModuleOp::create(FileLineColLoc::get(&ctx, ckpt.path, 0, 0));
  auto i64 = [&](int64_t v) { return b.getI64IntegerAttr(v); };
  NamedAttrList config;
  config.append("architecture", b.getStringAttr(cfg.architecture));
  config.append("dim", i64(cfg.dim));
  config.append("hidden_dim", i64(cfg.hiddenDim));
  config.append("num_layers", i64(cfg.numLayers));
  config.append("num_heads", i64(cfg.numHeads));
  config.append("num_kv_heads", i64(cfg.numKVHeads));
  config.append("vocab_size", i64(cfg.vocabSize));
  config.append("max_seq_len", i64(cfg.maxSeqLen));
  config.append("kv_type",
                TypeAttr::get(getKVCacheElementType(ctx, options.kvType)));
  config.append("norm_eps", b.getF32FloatAttr(cfg.normEps));
  config.append("rope_theta", b.getF32FloatAttr(cfg.ropeTheta));
  config.append("rope_style",
                b.getStringAttr(cfg.ropeStyle == model::RopeStyle::Interleaved
                                    ? "interleaved"
                                    : "rotate_half"));
  config.append("tied_embeddings", b.getBoolAttr(cfg.tiedEmbeddings));
  // Informational (the ops carry the semantics): the RoPE scaling, the
  // biases and the sliding window the checkpoint declared.
  if (cfg.ropeScaling.type != model::RopeScalingType::None)
    config.append("rope_scaling", b.getStringAttr(model::ropeScalingName(
                                      cfg.ropeScaling.type)));
  if (cfg.attentionBias)
    config.append("attention_bias", b.getBoolAttr(true));
  if (cfg.slidingWindow > 0)
    config.append("sliding_window", i64(cfg.slidingWindow));
  config.append("source", b.getStringAttr(ckpt.path));
  config.append("format", b.getStringAttr(ckpt.format));
  (*module)->setAttr(kModelAttr, config.getDictionary(&ctx));
  if (llvm::Error err =
          buildFunction(*module, kPrefillFunction, ShapedType::kDynamic))
    return std::move(err);
  if (llvm::Error err = buildFunction(*module, kDecodeFunction, 1))
    return std::move(err);
  return std::move(module);
}

llvm::Expected<OwningOpRef<ModuleOp>>
mlir::qopt::importCheckpoint(MLIRContext &context,
                             const model::Checkpoint &checkpoint,
                             const ImportOptions &options) {
  return Importer(context, checkpoint, options).run();
}

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

/// Checks a configuration read from `module`'s qopt.model attribute: sizes
/// in range and consistent, and equal to the extents of the entry points'
/// logits ([tokens, vocab_size]) and key cache ([num_layers, positions,
/// kv_dim]) where those are static. Nothing sized by the attribute is
/// allocated before this holds.
static llvm::Error checkModelConfig(ModuleOp module,
                                    const model::ModelConfig &cfg) {
  auto fail = [](const llvm::Twine &why) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "qopt.model: " + why);
  };
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
      return fail(
          llvm::formatv("{0} = {1} is outside [1, {2}]", key, value, maxSize)
              .str());
  if (cfg.maxSeqLen < 1 || cfg.maxSeqLen > model::kMaxContextLength)
    return fail(llvm::formatv("max_seq_len = {0} is outside [1, {1}]",
                              cfg.maxSeqLen, model::kMaxContextLength)
                    .str());
  if (cfg.dim % cfg.numHeads != 0 || cfg.numHeads % cfg.numKVHeads != 0 ||
      cfg.headDim() % 2 != 0)
    return fail(llvm::formatv("num_heads = {0} must divide dim = {1} into "
                              "even head sizes, and num_kv_heads = {2} must "
                              "divide num_heads",
                              cfg.numHeads, cfg.dim, cfg.numKVHeads)
                    .str());
  if (!(cfg.normEps > 0) || !std::isfinite(cfg.normEps) ||
      !(cfg.ropeTheta > 0) || !std::isfinite(cfg.ropeTheta))
    return fail("norm_eps and rope_theta must be positive and finite");
  for (StringRef name : {kPrefillFunction, kDecodeFunction}) {
    auto fn = module.lookupSymbol<func::FuncOp>(name);
    if (!fn)
      continue; // readKVCacheInfo names the missing function
    auto logits = fn.getNumResults() == 1
                      ? dyn_cast<RankedTensorType>(fn.getResultTypes()[0])
                      : RankedTensorType();
    if (!logits || logits.getRank() != 2 ||
        (!logits.isDynamicDim(1) && logits.getDimSize(1) != cfg.vocabSize))
      return fail(llvm::formatv("vocab_size = {0} disagrees with the result "
                                "of @{1} (logits [tokens, vocab_size] "
                                "expected)",
                                cfg.vocabSize, name)
                      .str());
    MemRefType cache = keyCacheType(fn);
    if (!cache || cache.getRank() != 3)
      continue; // readKVCacheInfo reports it
    if ((!cache.isDynamicDim(0) && cache.getDimSize(0) != cfg.numLayers) ||
        (!cache.isDynamicDim(2) && cache.getDimSize(2) != cfg.kvDim()))
      return fail(llvm::formatv("num_layers = {0} and kv_dim = {1} disagree "
                                "with the key cache of @{2} ([num_layers, "
                                "positions, kv_dim] expected)",
                                cfg.numLayers, cfg.kvDim(), name)
                      .str());
  }
  // The attention and rotary ops (before or after lowering to kernels) must
  // agree with the attribute: the runner sizes the KV cache and the head
  // loops of the compiled code by it.
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
    return fail(mismatch);
  return llvm::Error::success();
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
