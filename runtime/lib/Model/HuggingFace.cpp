//===- HuggingFace.cpp - Hugging Face checkpoint reader ---------*- C++ -*-===//
//
// Reads a Hugging Face transformers Llama, Qwen2 or Mistral directory:
// config.json (HFConfig.cpp) plus model.safetensors, or
// model.safetensors.index.json and the shards its weight_map names
// (Safetensors.cpp). The HF tensor names are mapped to qopt's canonical ones
// and their shapes checked against the config. Q/K rows keep HF's
// rotate-half order (config.ropeStyle = RotateHalf).
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/Input.h"

#include "HFCheckpoint.h"
#include "ModelUtils.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"

#include <tuple>

using namespace qopt::model;
using namespace qopt::model::detail;

/// Adds the tensors that a model of ckpt.config has to ckpt.tensors, under
/// their canonical names, checking their shapes.
static llvm::Error takeTensors(const SafetensorsWeights &weights,
                               Checkpoint &ckpt) {
  const ModelConfig &c = ckpt.config;
  const std::map<std::string, const TensorRef *> &where = weights.where;
  const std::string &weightsDesc = weights.weightsDesc;
  // Map the expected tensors to canonical names, checking shapes.
  auto take = [&](const std::string &hfName, const std::string &canonical,
                  std::vector<int64_t> shape) -> llvm::Error {
    auto it = where.find(hfName);
    if (it == where.end())
      return makeError("Hugging Face checkpoint '" + weightsDesc +
                       "' is missing tensor '" + hfName + "' (" + canonical +
                       ", expected shape " + shapeString(shape) + ")");
    const TensorRef &src = *it->second;
    if (src.shape != shape)
      return makeError("tensor '" + hfName + "' in '" + src.file +
                       "' has shape " + shapeString(src.shape) + ", expected " +
                       shapeString(shape));
    TensorRef t = src;
    t.name = canonical;
    ckpt.tensors.push_back(std::move(t));
    return llvm::Error::success();
  };
  int64_t qDim = c.numHeads * c.headDim();
  if (llvm::Error e = take("model.embed_tokens.weight", "tok_embeddings",
                           {c.vocabSize, c.dim}))
    return e;
  for (int64_t l = 0; l < c.numLayers; ++l) {
    std::string hf = "model.layers." + std::to_string(l) + ".";
    std::string qo = "layers." + std::to_string(l) + ".";
    struct {
      const char *hfName, *name;
      std::vector<int64_t> shape;
    } layerTensors[] = {
        {"input_layernorm.weight", "attention_norm", {c.dim}},
        {"self_attn.q_proj.weight", "wq", {qDim, c.dim}},
        {"self_attn.k_proj.weight", "wk", {c.kvDim(), c.dim}},
        {"self_attn.v_proj.weight", "wv", {c.kvDim(), c.dim}},
        {"self_attn.o_proj.weight", "wo", {c.dim, qDim}},
        {"post_attention_layernorm.weight", "ffn_norm", {c.dim}},
        {"mlp.gate_proj.weight", "w1", {c.hiddenDim, c.dim}},
        {"mlp.down_proj.weight", "w2", {c.dim, c.hiddenDim}},
        {"mlp.up_proj.weight", "w3", {c.hiddenDim, c.dim}},
    };
    for (auto &lt : layerTensors)
      if (llvm::Error e = take(hf + lt.hfName, qo + lt.name, lt.shape))
        return e;
    if (!c.attentionBias)
      continue;
    for (auto [proj, name, size] :
         {std::tuple<const char *, const char *, int64_t>{"q", "bq", qDim},
          {"k", "bk", c.kvDim()},
          {"v", "bv", c.kvDim()}})
      if (llvm::Error e =
              take(hf + "self_attn." + proj + "_proj.bias", qo + name, {size}))
        return e;
  }
  if (llvm::Error e = take("model.norm.weight", "norm", {c.dim}))
    return e;
  if (!c.tiedEmbeddings)
    if (llvm::Error e = take("lm_head.weight", "output", {c.vocabSize, c.dim}))
      return e;
  return llvm::Error::success();
}

/// Refuses a bias tensor that no canonical tensor was taken from: a bias the
/// architecture does not use would silently be dropped.
static llvm::Error checkUnusedBiases(const SafetensorsWeights &weights,
                                     const Checkpoint &ckpt) {
  const ModelConfig &c = ckpt.config;
  llvm::StringSet<> taken;
  for (const TensorRef &t : ckpt.tensors)
    taken.insert(t.sourceName);
  for (const auto &kv : weights.where)
    if (llvm::StringRef(kv.first).ends_with(".bias") &&
        !taken.contains(kv.first))
      return makeError("Hugging Face checkpoint '" + weights.weightsDesc +
                       "' has tensor '" + kv.first + "', a bias that " +
                       c.architecture + " models do not have");
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// loadHuggingFace
//===----------------------------------------------------------------------===//

llvm::Expected<std::unique_ptr<Checkpoint>>
qopt::model::loadHuggingFace(llvm::StringRef directory) {
  if (!llvm::sys::fs::is_directory(directory))
    return makeError("Hugging Face checkpoint '" + directory +
                     "' is not a directory");
  auto join = [&](llvm::StringRef name) {
    llvm::SmallString<256> p(directory);
    llvm::sys::path::append(p, name);
    return std::string(p);
  };

  auto ckpt = std::make_unique<Checkpoint>();
  ckpt->path = directory.str();
  ckpt->format = "safetensors";
  std::string configPath = join("config.json");
  if (!llvm::sys::fs::exists(configPath))
    return makeError("Hugging Face checkpoint '" + directory +
                     "' has no config.json");
  llvm::Expected<llvm::json::Value> config = readJSONFile(configPath);
  if (!config)
    return config.takeError();
  if (llvm::Error e = parseHFConfig(configPath, *config, ckpt->config, *ckpt))
    return std::move(e);

  SafetensorsWeights weights;
  if (llvm::Error e = readSafetensorsWeights(directory, weights))
    return std::move(e);
  for (SafetensorsFile &f : weights.files)
    for (auto &m : f.metadata)
      ckpt->metadata.push_back({"safetensors." + m.first, m.second});
  if (llvm::Error e = takeTensors(weights, *ckpt))
    return std::move(e);
  if (llvm::Error e = checkUnusedBiases(weights, *ckpt))
    return std::move(e);

  for (SafetensorsFile &f : weights.files)
    ckpt->buffers.push_back(std::move(f.buffer));
  return ckpt;
}
