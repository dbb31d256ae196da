//===- GGUF.cpp - GGUF checkpoints to a Checkpoint --------------*- C++ -*-===//
//
// loadGGUF: a parsed GGUF file (GGUFFile.h) as a Checkpoint. Only
// architecture "llama" is accepted. Its llama.* metadata becomes the
// ModelConfig (sizes, norm epsilon, RoPE base and linear scaling), its
// tensors are renamed to qopt's canonical names (Checkpoint.h) with their
// shapes reversed to PyTorch order and checked against the config, and
// rope_freqs.weight becomes the RoPE frequency factors. llama.cpp's convert
// script has already permuted q/k into the interleaved RoPE order, so the
// checkpoint's ropeStyle is Interleaved.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/GGUFWriter.h"

#include "GGUFFile.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <optional>
#include <string>
#include <vector>

using namespace qopt::model;
using namespace qopt::model::gguf;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;
using llvm::Twine;

namespace {

/// Prints a shape as "[a, b]".
std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string result = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    result += (i ? ", " : "") + std::to_string(shape[i]);
  return result + "]";
}

/// The canonical name of GGUF llama tensor `name`, or "" if it is not one of
/// the known names. Sets `layer` for blk.N tensors (-1 otherwise).
std::string canonicalName(StringRef name, int64_t &layer) {
  layer = -1;
  if (name == "token_embd.weight")
    return "tok_embeddings";
  if (name == "output_norm.weight")
    return "norm";
  if (name == "output.weight")
    return "output";
  if (!name.consume_front("blk."))
    return "";
  auto [index, suffix] = name.split('.');
  unsigned long long n;
  if (index.empty() || index.getAsInteger(10, n) || n > (1u << 30))
    return "";
  static const std::pair<const char *, const char *> suffixes[] = {
      {"attn_norm.weight", "attention_norm"},
      {"attn_q.weight", "wq"},
      {"attn_k.weight", "wk"},
      {"attn_v.weight", "wv"},
      {"attn_output.weight", "wo"},
      {"ffn_norm.weight", "ffn_norm"},
      {"ffn_gate.weight", "w1"},
      {"ffn_down.weight", "w2"},
      {"ffn_up.weight", "w3"},
  };
  for (const auto &[gguf, canonical] : suffixes) {
    if (suffix == gguf) {
      layer = int64_t(n);
      return "layers." + std::to_string(n) + "." + canonical;
    }
  }
  return "";
}

/// Stringified scalar metadata value, or nullopt for arrays.
std::optional<std::string> stringify(const Value &value) {
  if (value.type == uint32_t(GGUFValueType::String))
    return value.str.str();
  if (value.type == uint32_t(GGUFValueType::Bool))
    return std::string(value.u ? "true" : "false");
  if (value.isUnsigned())
    return std::to_string(value.u);
  if (value.isSigned())
    return std::to_string(value.i);
  if (value.isFloat())
    return llvm::formatv("{0}", value.f).str();
  return std::nullopt;
}

} // namespace

//===----------------------------------------------------------------------===//
// Config
//===----------------------------------------------------------------------===//

/// Checks general.architecture: qopt reads GGUF "llama" models only.
static Error checkArchitecture(const GGUFFile &file) {
  auto arch = file.getOptionalString("general.architecture");
  if (!arch)
    return arch.takeError();
  if (!*arch)
    return file.error("missing metadata 'general.architecture'");
  if (**arch != "llama")
    return file.error("unsupported GGUF architecture '" + **arch +
                      "' (qopt reads 'llama')");
  return Error::success();
}

/// Reads the llama.* sizes, context length, norm epsilon and RoPE base and
/// dimensions into `config`.
static Error readHyperparameters(const GGUFFile &file, ModelConfig &config) {
  auto getPositive = [&](StringRef key, int64_t &out) -> Error {
    auto value = file.getInt(key, 1);
    if (!value)
      return value.takeError();
    out = *value;
    return Error::success();
  };
  if (Error err = getPositive("llama.embedding_length", config.dim))
    return err;
  if (Error err = getPositive("llama.feed_forward_length", config.hiddenDim))
    return err;
  if (Error err = getPositive("llama.block_count", config.numLayers))
    return err;
  if (Error err = getPositive("llama.attention.head_count", config.numHeads))
    return err;
  auto context = file.getInt("llama.context_length", 1, kMaxContextLength);
  if (!context)
    return context.takeError();
  config.maxSeqLen = *context;
  auto kvHeads = file.getOptionalInt("llama.attention.head_count_kv", 1);
  if (!kvHeads)
    return kvHeads.takeError();
  config.numKVHeads = kvHeads->value_or(config.numHeads);
  if (config.dim % config.numHeads != 0)
    return file.error(llvm::formatv("embedding_length {0} is not a multiple "
                                    "of head_count {1}",
                                    config.dim, config.numHeads)
                          .str());
  if (config.numHeads % config.numKVHeads != 0)
    return file.error(llvm::formatv("head_count {0} is not a multiple of "
                                    "head_count_kv {1}",
                                    config.numHeads, config.numKVHeads)
                          .str());
  auto eps = file.getOptionalFloat("llama.attention.layer_norm_rms_epsilon");
  if (!eps)
    return eps.takeError();
  config.normEps = float(eps->value_or(1e-5));
  auto theta = file.getOptionalFloat("llama.rope.freq_base");
  if (!theta)
    return theta.takeError();
  config.ropeTheta = float(theta->value_or(10000.0));
  if (!(config.normEps > 0) || !(config.ropeTheta > 0))
    return file.error("layer_norm_rms_epsilon and rope.freq_base must be "
                      "positive");
  auto ropeDims = file.getOptionalInt("llama.rope.dimension_count");
  if (!ropeDims)
    return ropeDims.takeError();
  if (*ropeDims && **ropeDims != config.headDim())
    return file.error(llvm::formatv("rope.dimension_count {0} differs from "
                                    "the head size {1}; partial RoPE is not "
                                    "supported",
                                    **ropeDims, config.headDim())
                          .str());
  return Error::success();
}

/// Reads RoPE scaling as llama.cpp writes it: llama.rope.scaling.type "none"
/// or "linear" (llama.rope.scaling.factor, or the older
/// llama.rope.scale_linear, divides the frequencies); other types (yarn,
/// longrope) are refused. rope_freqs.weight is read with the tensors.
static Error readRopeScaling(const GGUFFile &file, ModelConfig &config) {
  auto scalingType = file.getOptionalString("llama.rope.scaling.type");
  if (!scalingType)
    return scalingType.takeError();
  auto scalingFactor = file.getOptionalFloat("llama.rope.scaling.factor");
  if (!scalingFactor)
    return scalingFactor.takeError();
  auto scaleLinear = file.getOptionalFloat("llama.rope.scale_linear");
  if (!scaleLinear)
    return scaleLinear.takeError();
  llvm::StringRef ropeType = scalingType->value_or("");
  if (ropeType.empty() && *scaleLinear)
    ropeType = "linear";
  if (ropeType == "linear") {
    std::optional<double> factor =
        *scalingFactor ? *scalingFactor : *scaleLinear;
    if (!factor || !(*factor > 0) || !std::isfinite(*factor))
      return file.error("llama.rope.scaling.type 'linear' needs a positive "
                        "llama.rope.scaling.factor");
    config.ropeScaling.type = RopeScalingType::Linear;
    config.ropeScaling.factor = *factor;
  } else if (!ropeType.empty() && ropeType != "none") {
    return file.error("unsupported llama.rope.scaling.type '" + ropeType +
                      "' (supported: none, linear, and rope_freqs.weight)");
  }
  return Error::success();
}

/// Refuses mixture-of-experts llama models (llama.expert_count > 0).
static Error checkNoExperts(const GGUFFile &file) {
  auto experts = file.getOptionalInt("llama.expert_count");
  if (!experts)
    return experts.takeError();
  if (experts->value_or(0) > 0)
    return file.error(llvm::formatv("mixture-of-experts llama (expert_count "
                                    "{0}) is not supported",
                                    **experts)
                          .str());
  return Error::success();
}

//===----------------------------------------------------------------------===//
// Tensors
//===----------------------------------------------------------------------===//

/// Adds the tensors of `file` to `ckpt`, renamed; `byCanonical` maps each
/// name to its index in ckpt.tensors.
static Error collectTensors(const GGUFFile &file, Checkpoint &ckpt,
                            llvm::StringMap<size_t> &byCanonical) {
  const ModelConfig &config = ckpt.config;
  for (const TensorInfo &info : file.tensors) {
    int64_t layer;
    std::string name = canonicalName(info.name, layer);
    if (layer >= config.numLayers)
      return file.error(llvm::formatv("tensor '{0}' belongs to block {1}, but "
                                      "block_count is {2}",
                                      info.name, layer, config.numLayers)
                            .str());
    TensorRef ref;
    // Tensors qopt does not know (rope_freqs.weight, ...) keep their name.
    ref.name = name.empty() ? info.name.str() : name;
    ref.sourceName = info.name.str();
    ref.file = file.path;
    ref.dtype = info.dtype;
    ref.shape = info.shape;
    ref.data = info.data;
    ref.numBytes = info.numBytes;
    byCanonical[ref.name] = ckpt.tensors.size();
    ckpt.tensors.push_back(std::move(ref));
  }
  return Error::success();
}

/// Sets the vocabulary size, checks the shape of every tensor llama needs
/// and whether the classifier is tied to the embedding table.
static Error checkTensors(const GGUFFile &file, Checkpoint &ckpt,
                          const llvm::StringMap<size_t> &byCanonical) {
  ModelConfig &config = ckpt.config;
  // Vocabulary size: the tokenizer's token list, else the embedding rows.
  const Value *tokens = file.lookup("tokenizer.ggml.tokens");
  auto embedding = byCanonical.find("tok_embeddings");
  if (tokens) {
    if (tokens->type != uint32_t(GGUFValueType::Array))
      return file.error("metadata 'tokenizer.ggml.tokens' is not an array");
    config.vocabSize = int64_t(tokens->count);
  } else if (embedding != byCanonical.end() &&
             ckpt.tensors[embedding->second].shape.size() == 2) {
    config.vocabSize = ckpt.tensors[embedding->second].shape[0];
  }

  auto expect = [&](StringRef canonical, StringRef gguf,
                    std::vector<int64_t> shape, bool optional) -> Error {
    auto it = byCanonical.find(canonical);
    if (it == byCanonical.end()) {
      if (optional)
        return Error::success();
      return file.error("missing tensor '" + gguf + "' (" + canonical + ")");
    }
    const TensorRef &ref = ckpt.tensors[it->second];
    if (ref.shape != shape)
      return file.error("tensor '" + gguf + "' has shape " +
                        formatShape(ref.shape) + ", expected " +
                        formatShape(shape));
    return Error::success();
  };

  int64_t dim = config.dim, kvDim = config.kvDim(), hidden = config.hiddenDim,
          vocab = config.vocabSize;
  if (Error err =
          expect("tok_embeddings", "token_embd.weight", {vocab, dim}, false))
    return err;
  for (int64_t l = 0; l < config.numLayers; ++l) {
    std::string c = "layers." + std::to_string(l) + ".";
    std::string g = "blk." + std::to_string(l) + ".";
    const struct {
      const char *canonical, *gguf;
      std::vector<int64_t> shape;
    } layerTensors[] = {
        {"attention_norm", "attn_norm.weight", {dim}},
        {"wq", "attn_q.weight", {dim, dim}},
        {"wk", "attn_k.weight", {kvDim, dim}},
        {"wv", "attn_v.weight", {kvDim, dim}},
        {"wo", "attn_output.weight", {dim, dim}},
        {"ffn_norm", "ffn_norm.weight", {dim}},
        {"w1", "ffn_gate.weight", {hidden, dim}},
        {"w2", "ffn_down.weight", {dim, hidden}},
        {"w3", "ffn_up.weight", {hidden, dim}},
    };
    for (const auto &t : layerTensors)
      if (Error err = expect(c + t.canonical, g + t.gguf, t.shape, false))
        return err;
  }
  if (Error err = expect("norm", "output_norm.weight", {dim}, false))
    return err;
  if (Error err = expect("output", "output.weight", {vocab, dim}, true))
    return err;
  config.tiedEmbeddings = !byCanonical.count("output");
  return Error::success();
}

/// Reads rope_freqs.weight, when present, into the RoPE frequency factors:
/// llama.cpp divides frequency j by its entry j (how convert_hf_to_gguf
/// stores Llama 3.1's llama3 scaling).
static Error readRopeFreqs(const GGUFFile &file, Checkpoint &ckpt,
                           const llvm::StringMap<size_t> &byCanonical) {
  ModelConfig &config = ckpt.config;
  if (auto it = byCanonical.find("rope_freqs.weight");
      it != byCanonical.end()) {
    const TensorRef &ref = ckpt.tensors[it->second];
    int64_t half = config.headDim() / 2;
    if (ref.shape != std::vector<int64_t>{half})
      return file.error("tensor 'rope_freqs.weight' has shape " +
                        formatShape(ref.shape) + ", expected " +
                        formatShape({half}));
    Expected<std::vector<float>> factors = toF32(ref);
    if (!factors)
      return factors.takeError();
    for (float f : *factors)
      if (!(f > 0) || !std::isfinite(f))
        return file.error("tensor 'rope_freqs.weight' has an entry that is "
                          "not positive and finite");
    config.ropeScaling.freqFactors = std::move(*factors);
  }
  return Error::success();
}

/// Copies the scalar metadata of `file`, except the tokenizer's, into
/// ckpt.metadata, and records the GGUF version.
static void copyMetadata(const GGUFFile &file, Checkpoint &ckpt) {
  for (const auto &[key, value] : file.kvs)
    if (!key.starts_with("tokenizer."))
      if (std::optional<std::string> text = stringify(value))
        ckpt.metadata.emplace_back(key.str(), std::move(*text));
  ckpt.metadata.emplace_back("gguf.version", std::to_string(file.version));
}

//===----------------------------------------------------------------------===//
// loadGGUF
//===----------------------------------------------------------------------===//

Expected<std::unique_ptr<Checkpoint>> qopt::model::loadGGUF(StringRef path) {
  auto fileOr = parseGGUF(path, /*withTensors=*/true);
  if (!fileOr)
    return fileOr.takeError();
  GGUFFile &file = **fileOr;
  if (Error err = checkArchitecture(file))
    return err;

  auto ckpt = std::make_unique<Checkpoint>();
  ckpt->path = path.str();
  ckpt->format = "gguf";
  ModelConfig &config = ckpt->config;
  config.architecture = "llama";
  config.ropeStyle = RopeStyle::Interleaved;
  if (Error err = readHyperparameters(file, config))
    return err;
  if (Error err = readRopeScaling(file, config))
    return err;
  if (Error err = checkNoExperts(file))
    return err;

  llvm::StringMap<size_t> byCanonical;
  if (Error err = collectTensors(file, *ckpt, byCanonical))
    return err;
  if (Error err = checkTensors(file, *ckpt, byCanonical))
    return err;
  if (Error err = readRopeFreqs(file, *ckpt, byCanonical))
    return err;
  copyMetadata(file, *ckpt);

  ckpt->buffers.push_back(std::move(file.buffer));
  return ckpt;
}
