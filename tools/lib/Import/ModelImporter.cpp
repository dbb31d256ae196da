//===- ModelImporter.cpp - Checkpoints to qopt MLIR -------------*- C++ -*-===//
//
// Emits the prefill and decode functions of a Llama-family decoder from
// qopt model ops, with weights in dense_resource blobs.
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/ModelImporter.h"

#include "QuantizedWeight.h"
#include "ResidentBlob.h"

#include <cstring>

#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"

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
        f32(Float32Type::get(&ctx)), loc(UnknownLoc::get(&ctx)) {}

  llvm::Expected<OwningOpRef<ModuleOp>> run();

private:
  MLIRContext &ctx;
  const model::Checkpoint &ckpt;
  const model::ModelConfig &cfg;
  const ImportOptions &options;
  OpBuilder b;
  Type f32;
  llvm::StringMap<DenseResourceElementsAttr> weights;
  /// Block-quantized GGUF matrices, imported once each.
  llvm::StringMap<QuantizedWeight> quantized;

  /// The weight `name` as a value at the builder's insertion point: a
  /// constant, or for a block-quantized matrix (Q8_0, Q4_0, K-quants)
  /// `qopt.dequantize(qopt.pack(codes, scales[, zeros]))` (the lowering
  /// fuses it into the matmul; the codes are never expanded to f32 in
  /// memory).
  llvm::Expected<Value> weightValue(StringRef name);

  llvm::Error checkConfig();
  llvm::Expected<DenseResourceElementsAttr> weight(StringRef name);

  /// The state of the function being built: its location (one per layer),
  /// arguments and the attributes every layer's ops share.
  Location loc;
  int64_t numTokens = 0;
  Value pos, keyCache, valueCache;
  FloatAttr eps;
  RopeStyleAttr style;
  DenseF32ArrayAttr invFreq;
  FloatAttr ropeScale, ntkFactor;
  IntegerAttr ntkMaxPositions, slidingWindow;

  /// The activation type [numTokens, width].
  RankedTensorType act(int64_t width);
  /// Sets the RoPE and attention attributes of the ops from the config.
  void setLayerAttributes();
  /// `x` normalized with the weight `wname`.
  llvm::Expected<Value> rmsNorm(Value x, StringRef wname);
  /// Every linear and embedding carries its role (and the layer index of
  /// the layers' linears) as discardable attributes, so passes such as
  /// qopt-quantize-weights select weights by role whatever the checkpoint
  /// format named them.
  void tag(Operation *op, StringRef role, int64_t layer);
  /// `x` times the weight `wname`, tagged with `role` and `layer`.
  llvm::Expected<Value> linear(Value x, StringRef wname, StringRef role,
                               int64_t layer);
  /// `x` rotated at the position argument.
  Value rope(Value x);
  /// Qwen2's q/k/v biases, added after the projections.
  llvm::Expected<Value> biasAdd(Value x, StringRef bname);
  /// Emits decoder layer `l` on the hidden state `x`.
  llvm::Expected<Value> buildLayer(int64_t l, Value x);
  llvm::Error buildFunction(ModuleOp module, StringRef name,
                            int64_t tokenCount);
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
  bool inPlace = native && aligned && !options.copyWeights;
  if (inPlace) {
    // Zero copy: the blob points into the mapped checkpoint.
    blob = UnmanagedAsmResourceBlob::allocateWithAlign(
        ArrayRef<char>(reinterpret_cast<const char *>(t.data), t.numBytes),
        elementBytes);
  } else if (native) {
    blob = residentBlob(
        ArrayRef<char>(reinterpret_cast<const char *>(t.data), t.numBytes),
        elementBytes);
  } else {
    llvm::Expected<std::vector<float>> values = model::toF32(t);
    if (!values)
      return values.takeError();
    blob = residentBlob(ArrayRef<float>(*values));
  }
  // A copy is the module's own: the file's pages need not stay resident
  // (with --no-mmap, f32/f16 matrices would otherwise count twice).
  if (!inPlace)
    ckpt.releasePages(t);
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
  if (!model::isBlockQuantized(t.dtype) || t.shape.size() != 2) {
    llvm::Expected<DenseResourceElementsAttr> attr = weight(name);
    if (!attr)
      return attr.takeError();
    return arith::ConstantOp::create(b, loc, *attr).getResult();
  }
  auto it = quantized.find(name);
  if (it == quantized.end()) {
    llvm::Expected<QuantizedWeight> w =
        importQuantizedWeight(ctx, ckpt, name, t, options.kquantScales);
    if (!w)
      return w.takeError();
    it = quantized.insert({name, *w}).first;
  }
  const QuantizedWeight &w = it->second;
  Value codes = arith::ConstantOp::create(b, loc, w.codes);
  Value scales = arith::ConstantOp::create(b, loc, w.scales);
  Value zeros;
  if (w.zeros)
    zeros = arith::ConstantOp::create(b, loc, w.zeros);
  Value packed = PackOp::create(b, loc, w.type, codes, scales, zeros);
  return DequantizeOp::create(b, loc, w.type.getExpressedTensorType(), packed)
      .getResult();
}

RankedTensorType Importer::act(int64_t width) {
  return RankedTensorType::get({numTokens, width}, f32);
}

llvm::Expected<Value> Importer::rmsNorm(Value x, StringRef wname) {
  llvm::Expected<Value> w = weightValue(wname);
  if (!w)
    return w.takeError();
  return RMSNormOp::create(b, loc, x.getType(), x, *w, eps).getResult();
}

void Importer::tag(Operation *op, StringRef role, int64_t layer) {
  op->setAttr("qopt.role", b.getStringAttr(role));
  if (layer >= 0)
    op->setAttr("qopt.layer", b.getI64IntegerAttr(layer));
}

llvm::Expected<Value> Importer::linear(Value x, StringRef wname, StringRef role,
                                       int64_t layer) {
  llvm::Expected<Value> w = weightValue(wname);
  if (!w)
    return w.takeError();
  int64_t out = cast<RankedTensorType>(w->getType()).getDimSize(0);
  auto op = LinearOp::create(b, loc, act(out), x, *w);
  tag(op, role, layer);
  return op.getResult();
}

void Importer::setLayerAttributes() {
  int64_t headDim = cfg.headDim();
  eps = b.getF32FloatAttr(cfg.normEps);
  style =
      RopeStyleAttr::get(&ctx, cfg.ropeStyle == model::RopeStyle::Interleaved
                                   ? RopeStyle::Interleaved
                                   : RopeStyle::RotateHalf);
  // Scaled RoPE: the frequency table and cos/sin scale are computed here,
  // once per model; dynamic NTK, which depends on each call's length, is
  // left to the op.
  model::RopeFrequencies freqs =
      model::computeRopeFrequencies(headDim, cfg.ropeTheta, cfg.ropeScaling);
  invFreq = {};
  if (!freqs.invFreq.empty())
    invFreq = b.getDenseF32ArrayAttr(freqs.invFreq);
  ropeScale = {};
  if (freqs.scale != 1.0f)
    ropeScale = b.getF32FloatAttr(freqs.scale);
  ntkFactor = {};
  ntkMaxPositions = {};
  if (cfg.ropeScaling.type == model::RopeScalingType::Dynamic) {
    ntkFactor = b.getF32FloatAttr(static_cast<float>(cfg.ropeScaling.factor));
    ntkMaxPositions = b.getI64IntegerAttr(cfg.ropeScaling.originalMaxPositions);
  }
  slidingWindow = {};
  if (cfg.slidingWindow > 0)
    slidingWindow = b.getI64IntegerAttr(cfg.slidingWindow);
}

Value Importer::rope(Value x) {
  int64_t headDim = cfg.headDim();
  return RopeOp::create(b, loc, x.getType(), x, pos,
                        b.getI64IntegerAttr(headDim),
                        b.getF32FloatAttr(cfg.ropeTheta), style, invFreq,
                        ropeScale, ntkFactor, ntkMaxPositions)
      .getResult();
}

llvm::Expected<Value> Importer::biasAdd(Value x, StringRef bname) {
  if (!cfg.attentionBias)
    return x;
  llvm::Expected<Value> bias = weightValue(bname);
  if (!bias)
    return bias.takeError();
  return BiasAddOp::create(b, loc, x, *bias).getResult();
}

llvm::Expected<Value> Importer::buildLayer(int64_t l, Value x) {
  int64_t headDim = cfg.headDim();
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
  return x;
}

llvm::Error Importer::buildFunction(ModuleOp module, StringRef name,
                                    int64_t tokenCount) {
  numTokens = tokenCount;
  int64_t kvDim = cfg.kvDim();
  // The runtime chooses how many positions to allocate (up to
  // max_seq_len), so the sequence dimension is dynamic.
  auto cacheType = MemRefType::get({cfg.numLayers, ShapedType::kDynamic, kvDim},
                                   getKVCacheElementType(ctx, options.kvType));
  auto tokensType = RankedTensorType::get({numTokens}, b.getI32Type());
  auto fnType = FunctionType::get(
      &ctx, {tokensType, b.getIndexType(), cacheType, cacheType},
      {act(cfg.vocabSize)});
  loc = NameLoc::get(b.getStringAttr(name));
  b.setInsertionPointToEnd(module.getBody());
  auto fn = func::FuncOp::create(b, loc, name, fnType);
  fn.setArgAttr(0, "qopt.name", b.getStringAttr("tokens"));
  fn.setArgAttr(1, "qopt.name", b.getStringAttr("position"));
  fn.setArgAttr(2, "qopt.name", b.getStringAttr("key_cache"));
  fn.setArgAttr(3, "qopt.name", b.getStringAttr("value_cache"));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Value tokens = entry->getArgument(0);
  pos = entry->getArgument(1);
  keyCache = entry->getArgument(2);
  valueCache = entry->getArgument(3);
  setLayerAttributes();

  llvm::Expected<Value> table = weightValue("tok_embeddings");
  if (!table)
    return table.takeError();
  auto embedding = EmbeddingOp::create(b, loc, act(cfg.dim), *table, tokens);
  tag(embedding, "embedding", /*layer=*/-1);
  Value x = embedding;
  for (int64_t l = 0; l < cfg.numLayers; ++l) {
    llvm::Expected<Value> next = buildLayer(l, x);
    if (!next)
      return next.takeError();
    x = *next;
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
