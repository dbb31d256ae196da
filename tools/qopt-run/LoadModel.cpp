//===- LoadModel.cpp - Load, import and compile a MODEL ---------*- C++ -*-===//
//
// MODEL is recognized by its contents (qopt/Model/Format.h): an artifact
// directory, a qopt module (MLIR text or bytecode), a checkpoint (GGUF,
// Hugging Face, llama2.c) or a synthetic model spec. An unknown file is an
// error, not a llama2.c checkpoint.
//
//===----------------------------------------------------------------------===//

#include "LoadModel.h"
#include "Options.h"
#include "Support.h"

#include "qopt/Model/Format.h"
#include "qopt/Tools/ModelImporter.h"
#include "qopt/Tools/ModuleInput.h"
#include "qopt/Tools/Registration.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cstring>

using mlir::DialectRegistry;
using mlir::DictionaryAttr;
using mlir::MLIRContext;
using mlir::ModuleOp;
using mlir::OwningOpRef;
using mlir::StringAttr;
using namespace qopt::run;
namespace model = ::qopt::model;

/// The xorshift generator the synthetic weights use.
static uint32_t xorshift(uint64_t &state) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return static_cast<uint32_t>((state * 0x2545F4914F6CDD1Dull) >> 32);
}

/// A synthetic Llama checkpoint with uniform random weights. `spec` is
/// `synthetic:llama-7b-layer` (one Llama-7B-shaped layer: dim 4096, FFN
/// 11008, 32 heads, a 256-token tied vocabulary) or `synthetic:llama`
/// followed by `,key=value` overrides of those numbers: dim, hidden, layers,
/// heads, kv_heads, vocab, context (e.g. `synthetic:llama,dim=1024,
/// hidden=2816,layers=32`, for measurements that vary one dimension).
static llvm::Expected<std::unique_ptr<model::Checkpoint>>
makeSynthetic(llvm::StringRef spec) {
  auto ckpt = std::make_unique<model::Checkpoint>();
  ckpt->path = spec.str();
  ckpt->format = "synthetic";
  model::ModelConfig &c = ckpt->config;
  c.dim = 4096;
  c.hiddenDim = 11008;
  c.numLayers = 1;
  c.numHeads = 32;
  c.numKVHeads = 32;
  c.vocabSize = 256;
  c.maxSeqLen = 1024;
  c.tiedEmbeddings = true;
  llvm::StringRef rest = spec.drop_front(strlen("synthetic:"));
  if (rest != "llama-7b-layer") {
    llvm::SmallVector<llvm::StringRef> parts;
    rest.split(parts, ',');
    if (parts.empty() || parts[0] != "llama")
      return llvm::createStringError(
          "unknown synthetic model '" + spec +
          "' (synthetic:llama-7b-layer or synthetic:llama,key=value,...)");
    for (llvm::StringRef part : llvm::drop_begin(parts)) {
      auto [key, value] = part.split('=');
      int64_t v = 0;
      if (value.getAsInteger(10, v) || v < 1 || v > (int64_t(1) << 20))
        return llvm::createStringError("synthetic model option '" + part +
                                       "' needs a value in 1..2^20");
      if (key == "dim")
        c.dim = v;
      else if (key == "hidden")
        c.hiddenDim = v;
      else if (key == "layers" && v <= 256)
        c.numLayers = v;
      else if (key == "heads")
        c.numHeads = v;
      else if (key == "kv_heads")
        c.numKVHeads = v;
      else if (key == "vocab")
        c.vocabSize = v;
      else if (key == "context")
        c.maxSeqLen = v;
      else
        return llvm::createStringError(
            "unknown synthetic model option '" + part +
            "' (dim, hidden, layers <= 256, heads, kv_heads, vocab, context)");
    }
    if (c.dim % c.numHeads != 0 || c.numHeads % c.numKVHeads != 0 ||
        (c.dim / c.numHeads) % 2 != 0)
      return llvm::createStringError(
          "synthetic model: heads must divide dim into even head sizes and "
          "kv_heads must divide heads");
    uint64_t bytes =
        4ull * (uint64_t(c.vocabSize) * c.dim +
                uint64_t(c.numLayers) *
                    (2ull * c.dim * c.dim + 2ull * c.kvDim() * c.dim +
                     3ull * c.hiddenDim * c.dim));
    if (bytes > (uint64_t(16) << 30))
      return llvm::createStringError("synthetic model of " +
                                     llvm::Twine(bytes >> 20) +
                                     " MiB is over the 16 GiB limit");
  }
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
      {"tok_embeddings", {c.vocabSize, c.dim}}};
  for (int64_t l = 0; l < c.numLayers; ++l) {
    std::string p = "layers." + std::to_string(l) + ".";
    shapes.push_back({p + "attention_norm", {c.dim}});
    shapes.push_back({p + "wq", {c.dim, c.dim}});
    shapes.push_back({p + "wk", {c.kvDim(), c.dim}});
    shapes.push_back({p + "wv", {c.kvDim(), c.dim}});
    shapes.push_back({p + "wo", {c.dim, c.dim}});
    shapes.push_back({p + "ffn_norm", {c.dim}});
    shapes.push_back({p + "w1", {c.hiddenDim, c.dim}});
    shapes.push_back({p + "w2", {c.dim, c.hiddenDim}});
    shapes.push_back({p + "w3", {c.hiddenDim, c.dim}});
  }
  shapes.push_back({"norm", {c.dim}});
  uint64_t state = 0x9E3779B97F4A7C15ull;
  for (auto &[name, shape] : shapes) {
    int64_t count = 1;
    for (int64_t d : shape)
      count *= d;
    auto buffer = llvm::WritableMemoryBuffer::getNewUninitMemBuffer(
        count * sizeof(float), name);
    float *data = reinterpret_cast<float *>(buffer->getBufferStart());
    bool isNorm = shape.size() == 1;
    for (int64_t i = 0; i < count; ++i)
      data[i] =
          isNorm
              ? 1.0f
              : (static_cast<float>(xorshift(state)) / 4294967296.0f - 0.5f) *
                    0.04f;
    model::TensorRef t;
    t.name = t.sourceName = name;
    t.file = ckpt->path;
    t.shape = shape;
    t.data = reinterpret_cast<const uint8_t *>(data);
    t.numBytes = count * sizeof(float);
    ckpt->tensors.push_back(std::move(t));
    ckpt->buffers.push_back(std::move(buffer));
  }
  return std::move(ckpt);
}

llvm::Expected<LoadedModel> qopt::run::loadModule(bool needTokenizer) {
  if (mlir::qopt::ModelRunner::isArtifactDirectory(modelPath()))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "'" + modelPath() +
            "' is a compiled artifact; give the checkpoint or qopt module it "
            "was compiled from");
  return loadModel(needTokenizer, nullptr, "", /*compile=*/false);
}

llvm::Expected<LoadedModel> qopt::run::loadModel(bool needTokenizer,
                                                 BeforeCompile beforeCompile,
                                                 llvm::StringRef compileTo,
                                                 bool compile) {
  LoadedModel m;
  DialectRegistry registry;
  mlir::qopt::registerImportDialects(registry);
  // Passes given with --pipeline may use any dialect qopt-opt knows.
  mlir::qopt::registerToolDialects(registry);
  m.context = std::make_unique<MLIRContext>(registry);
  m.context->loadAllAvailableDialects();
  auto error = [](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
  };
  std::optional<mlir::qopt::KVCacheType> kvType =
      mlir::qopt::parseKVCacheType(kvTypeName);
  if (!kvType)
    return error("--kv-type must be f32, f16 or bf16, got '" +
                 llvm::StringRef(kvTypeName) + "'");
  // A module or artifact was imported with its cache type: an explicit
  // --kv-type must agree with it.
  auto checkKVType = [&](mlir::qopt::KVCacheType actual) -> llvm::Error {
    if (kvTypeName.getNumOccurrences() == 0 || actual == *kvType)
      return llvm::Error::success();
    return error("--kv-type " + mlir::qopt::kvCacheTypeName(*kvType) +
                 " conflicts with the " + mlir::qopt::kvCacheTypeName(actual) +
                 " KV cache of '" + llvm::StringRef(modelPath()) +
                 "' (fixed when it was imported or compiled; re-import with "
                 "--kv-type, or leave the option out)");
  };

  llvm::StringRef path = modelPath();
  std::string checkpointSource, recordedTokenizer, artifactTokenizer;
  double start = now();
  if (mlir::qopt::ModelRunner::isArtifactDirectory(path)) {
    if (!compileTo.empty())
      return error("'" + path + "' is already a compiled artifact");
    if (!pipeline.empty())
      return error("--pipeline cannot change an ahead-of-time compiled "
                   "artifact; pass it to `qopt-run compile`");
    llvm::Expected<std::unique_ptr<mlir::qopt::ModelRunner>> runner =
        mlir::qopt::ModelRunner::loadArtifact(path, artifactTokenizer,
                                              noMmap.getValue());
    if (!runner)
      return runner.takeError();
    m.runner = std::move(*runner);
    checkpointSource = path.str(); // names the artifact in errors
    m.compileSeconds = now() - start;
    if (llvm::Error err = checkKVType(m.runner->cacheType()))
      return std::move(err);
    if (llvm::Error err = m.runner->setServedWidths(servedBits, layerBits))
      return std::move(err);
  } else if (path.starts_with("synthetic:")) {
    llvm::Expected<std::unique_ptr<model::Checkpoint>> ckpt =
        makeSynthetic(path);
    if (!ckpt)
      return ckpt.takeError();
    m.checkpoint = std::move(*ckpt);
  } else {
    model::ModelFormat format = model::ModelFormat::MLIRText;
    // A file named .mlir/.mlirbc is a module even before it exists, so that
    // a missing one gets the module's error.
    if (path.ends_with(".mlir") || path.ends_with(".mlirbc")) {
      if (!llvm::sys::fs::exists(path))
        return error("no such file: '" + path + "'");
      if (!llvm::sys::fs::is_regular_file(path))
        return error("qopt module '" + path + "' is not a regular file");
    } else {
      llvm::Expected<model::ModelFormat> detected =
          model::detectModelFormat(path);
      if (!detected)
        return detected.takeError();
      format = *detected;
    }
    if (format == model::ModelFormat::MLIRText ||
        format == model::ModelFormat::MLIRBytecode) {
      // Under qopt's policy for untrusted module files (ModuleInput.h).
      llvm::Expected<OwningOpRef<ModuleOp>> module =
          mlir::qopt::parseModuleFile(path, *m.context);
      if (!module)
        return module.takeError();
      m.module = std::move(*module);
      if (noMmap)
        mlir::qopt::makeWeightsResident(*m.module);
    } else {
      // Checkpoints, and the errors for directories and unknown files.
      llvm::Expected<std::unique_ptr<model::Checkpoint>> ckpt =
          model::loadCheckpoint(path);
      if (!ckpt)
        return ckpt.takeError();
      m.checkpoint = std::move(*ckpt);
    }
  }
  if (m.checkpoint) {
    // Options.cpp has checked the name.
    mlir::qopt::KQuantScales scales =
        mlir::qopt::parseKQuantScales(kquantScales)
            .value_or(mlir::qopt::KQuantScales::TwoLevel);
    llvm::Expected<OwningOpRef<ModuleOp>> module = mlir::qopt::importCheckpoint(
        *m.context, *m.checkpoint,
        {/*kvType=*/*kvType, /*copyWeights=*/noMmap.getValue(), scales});
    if (!module)
      return module.takeError();
    m.module = std::move(*module);
    checkpointSource = m.checkpoint->path;
  } else if (m.module) {
    // A module from qopt-import remembers its checkpoint (for the
    // tokenizer).
    if (auto dict =
            (*m.module)->getAttrOfType<DictionaryAttr>(mlir::qopt::kModelAttr))
      if (auto source = dict.getAs<StringAttr>("source"))
        checkpointSource = source.getValue().str();
    // `qopt-run quantize --tokenizer T` records T.
    if (auto tok = (*m.module)->getAttrOfType<StringAttr>("qopt.tokenizer"))
      recordedTokenizer = tok.getValue().str();
  }
  if (m.module) {
    llvm::Expected<model::ModelConfig> cfg =
        mlir::qopt::readModelConfig(*m.module);
    if (!cfg)
      return cfg.takeError();
    m.config = *cfg;
    llvm::Expected<mlir::qopt::KVCacheInfo> cache =
        mlir::qopt::readKVCacheInfo(*m.module);
    if (!cache)
      return cache.takeError();
    if (llvm::Error err = checkKVType(cache->type))
      return std::move(err);
  } else {
    m.config = m.runner->config();
  }

  if (needTokenizer && m.runner && tokenizerPath.empty() &&
      artifactTokenizer.empty())
    return error("the artifact '" + path +
                 "' has no tokenizer (none was found when it was compiled); "
                 "pass one with --tokenizer");
  if (needTokenizer) {
    // An artifact's own copy (relative to the artifact), unless --tokenizer.
    llvm::StringRef explicitPath =
        !tokenizerPath.empty()       ? llvm::StringRef(tokenizerPath)
        : !artifactTokenizer.empty() ? llvm::StringRef(artifactTokenizer)
                                     : llvm::StringRef(recordedTokenizer);
    llvm::Expected<std::unique_ptr<model::Tokenizer>> tok =
        model::loadTokenizerFor(checkpointSource, explicitPath,
                                m.config.vocabSize);
    if (!tok)
      return tok.takeError();
    m.tokenizer = std::move(*tok);
  }
  if (beforeCompile)
    if (llvm::Error err = beforeCompile(m))
      return std::move(err);
  if (m.runner || !compile)
    return std::move(m);

  mlir::qopt::CompileOptions options;
  options.pipeline = pipeline;

  options.vectorWidth = vectorWidth;
  options.int8Activations = activations == "int8";
  options.f16Activations = useF16Activations();
  options.intDot = intDot;
  options.amx = amx;
  options.amxBf16 = amxBf16;
  if (!compileTo.empty()) {
    options.targetCPU = targetCPU;
    options.targetFeatures = targetFeatures;
    // The artifact gets a copy of the tokenizer: the one given, the one
    // recorded in the module, or the one beside the checkpoint (none is
    // fine unless asked for).
    std::string tokenizerFile;
    llvm::StringRef requested = !tokenizerPath.empty()
                                    ? llvm::StringRef(tokenizerPath)
                                    : llvm::StringRef(recordedTokenizer);
    if (!requested.empty() ||
        (!checkpointSource.empty() &&
         !llvm::StringRef(checkpointSource).starts_with("synthetic:"))) {
      llvm::Expected<std::string> file = model::findTokenizerFor(
          checkpointSource, requested, m.config.vocabSize);
      if (file)
        tokenizerFile = *file;
      else if (!requested.empty())
        return file.takeError();
      else
        llvm::consumeError(file.takeError());
    }
    CompileIndicator indicator(llvm::sys::path::filename(path));
    if (llvm::Error err = mlir::qopt::ModelRunner::compileToDirectory(
            *m.module, options, compileTo, tokenizerFile))
      return std::move(err);
    m.compileSeconds = now() - start;
    return std::move(m);
  }
  CompileIndicator indicator(llvm::sys::path::filename(path));
  llvm::Expected<std::unique_ptr<mlir::qopt::ModelRunner>> runner =
      mlir::qopt::ModelRunner::compile(*m.module, options);
  indicator.stop();
  if (!runner)
    return runner.takeError();
  m.runner = std::move(*runner);
  m.compileSeconds = now() - start;
  if (llvm::Error err = m.runner->setServedWidths(servedBits, layerBits))
    return std::move(err);
  return std::move(m);
}

llvm::Error qopt::run::reserveCache(mlir::qopt::ModelRunner &runner,
                                    int64_t positions, int64_t needed) {
  if (kvReserve.getNumOccurrences() > 0)
    return runner.reserve(
        std::min<int64_t>(kvReserve, runner.config().maxSeqLen));
  llvm::Error err =
      runner.reserve(std::min<int64_t>(positions, runner.config().maxSeqLen));
  if (!err || positions <= needed)
    return err;
  llvm::consumeError(std::move(err));
  return runner.reserve(needed);
}
