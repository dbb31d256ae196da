//===- HuggingFace.cpp - Hugging Face Llama checkpoint reader ---*- C++ -*-===//
//
// Reads a Hugging Face transformers Llama directory: config.json (4.x and 5.x
// key spellings) plus model.safetensors, or model.safetensors.index.json and
// the shards its weight_map names. Safetensors headers are validated in
// full (offsets inside the file, byte sizes matching shape and dtype) and the
// HF tensor names are mapped to qopt's canonical ones. Q/K rows keep HF's
// rotate-half order (config.ropeStyle = RotateHalf).
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/Input.h"

#include "ModelUtils.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"

#include <map>
#include <tuple>

using namespace qopt::model;
using namespace qopt::model::detail;

namespace {
/// The tensors of one safetensors file, by their name in the file.
struct SafetensorsFile {
  std::string path;
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  std::map<std::string, TensorRef> tensors;
  std::vector<std::pair<std::string, std::string>> metadata;
};
} // namespace

/// Prints a shape as "[a, b]".
static std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// A JSON number that must be a non-negative integer (64.0 is accepted).
static std::optional<int64_t> getNonNegInt(const llvm::json::Value &v) {
  if (std::optional<int64_t> i = v.getAsInteger())
    return *i >= 0 ? i : std::nullopt;
  if (std::optional<double> d = v.getAsNumber())
    if (*d >= 0 && *d < 9.0e18 && *d == static_cast<double>(
                                           static_cast<int64_t>(*d)))
      return static_cast<int64_t>(*d);
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// safetensors
//===----------------------------------------------------------------------===//

/// Checks that no two tensors of `file` share a byte of its data section
/// (which starts at `data`): each tensor must own its bytes.
static llvm::Error checkDisjoint(const SafetensorsFile &file,
                                 const uint8_t *data) {
  std::vector<const TensorRef *> byOffset;
  for (const auto &kv : file.tensors)
    if (kv.second.numBytes > 0)
      byOffset.push_back(&kv.second);
  // By offset, then name: the error names the same pair every time.
  llvm::sort(byOffset, [](const TensorRef *a, const TensorRef *b) {
    return std::tie(a->data, a->name) < std::tie(b->data, b->name);
  });
  for (size_t i = 1; i < byOffset.size(); ++i) {
    const TensorRef &prev = *byOffset[i - 1], &next = *byOffset[i];
    if (next.data >= prev.data + prev.numBytes)
      continue;
    auto range = [&](const TensorRef &t) {
      return ("[" + llvm::Twine(t.data - data) + ", " +
              llvm::Twine(t.data - data + t.numBytes) + "]")
          .str();
    };
    return makeError("safetensors file '" + file.path + "': tensors '" +
                     prev.name + "' (data_offsets " + range(prev) + ") and '" +
                     next.name + "' (data_offsets " + range(next) +
                     ") overlap; every tensor must have bytes of its own");
  }
  return llvm::Error::success();
}

/// Maps and validates the safetensors file at `path`.
static llvm::Error readSafetensors(llvm::StringRef path, SafetensorsFile &out) {
  out.path = path.str();
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> bufOrErr =
      openRegularFile(path, "safetensors file");
  if (!bufOrErr)
    return bufOrErr.takeError();
  out.buffer = std::move(*bufOrErr);
  const uint8_t *base =
      reinterpret_cast<const uint8_t *>(out.buffer->getBufferStart());
  uint64_t fileSize = out.buffer->getBufferSize();
  if (fileSize < 8)
    return makeError("safetensors file '" + path + "' is " +
                     llvm::Twine(fileSize) +
                     " bytes, too small for the 8-byte header length");
  uint64_t headerLen = loadU64(base);
  if (headerLen > fileSize - 8)
    return makeError("safetensors file '" + path + "': header length " +
                     llvm::Twine(headerLen) + " exceeds the " +
                     llvm::Twine(fileSize - 8) +
                     " bytes that follow it (truncated file?)");
  if (headerLen > kMaxJSONBytes)
    return makeError("safetensors file '" + path + "': header length " +
                     llvm::Twine(headerLen) +
                     " exceeds the format's limit of " +
                     llvm::Twine(kMaxJSONBytes) + " bytes");
  llvm::StringRef headerText(reinterpret_cast<const char *>(base + 8),
                             headerLen);
  // Duplicate keys are refused here: a tensor named twice would otherwise
  // silently be the last entry.
  llvm::Expected<llvm::json::Value> header =
      parseJSON(headerText, "safetensors file '" + path + "': header");
  if (!header)
    return header.takeError();
  const llvm::json::Object *obj = header->getAsObject();
  if (!obj)
    return makeError("safetensors file '" + path +
                     "': header is not a JSON object");

  const uint8_t *data = base + 8 + headerLen;
  uint64_t dataSize = fileSize - 8 - headerLen;
  for (const auto &kv : *obj) {
    std::string name = kv.first.str();
    if (name == "__metadata__") {
      if (const llvm::json::Object *meta = kv.second.getAsObject())
        for (const auto &m : *meta)
          if (std::optional<llvm::StringRef> s = m.second.getAsString())
            out.metadata.push_back({m.first.str(), s->str()});
      continue;
    }
    auto bad = [&](const llvm::Twine &what) {
      return makeError("safetensors file '" + path + "', tensor '" + name +
                       "': " + what);
    };
    const llvm::json::Object *info = kv.second.getAsObject();
    if (!info)
      return bad("entry is not a JSON object");
    std::optional<llvm::StringRef> dtype = info->getString("dtype");
    const llvm::json::Array *shape = info->getArray("shape");
    const llvm::json::Array *offsets = info->getArray("data_offsets");
    if (!dtype || !shape || !offsets)
      return bad("entry needs \"dtype\", \"shape\" and \"data_offsets\"");

    TensorRef t;
    uint64_t eltSize;
    if (*dtype == "F32") {
      t.dtype = DType::F32;
      eltSize = 4;
    } else if (*dtype == "F16") {
      t.dtype = DType::F16;
      eltSize = 2;
    } else if (*dtype == "BF16") {
      t.dtype = DType::BF16;
      eltSize = 2;
    } else {
      return bad("unsupported dtype '" + *dtype +
                 "' (supported: F32, F16, BF16)");
    }
    uint64_t numBytes = eltSize;
    for (const llvm::json::Value &d : *shape) {
      std::optional<int64_t> dim = getNonNegInt(d);
      if (!dim)
        return bad("shape must be a list of non-negative integers");
      t.shape.push_back(*dim);
      if (!checkedMul(numBytes, static_cast<uint64_t>(*dim), numBytes))
        return bad("shape " + shapeString(t.shape) + " overflows");
    }
    if (offsets->size() != 2)
      return bad("data_offsets must be [begin, end]");
    std::optional<int64_t> begin = getNonNegInt((*offsets)[0]);
    std::optional<int64_t> end = getNonNegInt((*offsets)[1]);
    if (!begin || !end || *begin > *end)
      return bad("data_offsets must be integers with begin <= end");
    if (static_cast<uint64_t>(*end) > dataSize)
      return bad("data_offsets [" + llvm::Twine(*begin) + ", " +
                 llvm::Twine(*end) + "] exceed the " + llvm::Twine(dataSize) +
                 "-byte data section (truncated file?)");
    if (static_cast<uint64_t>(*end - *begin) != numBytes)
      return bad("data_offsets span " + llvm::Twine(*end - *begin) +
                 " bytes but " + *dtype + " shape " + shapeString(t.shape) +
                 " needs " + llvm::Twine(numBytes));
    t.name = name;
    t.sourceName = name;
    t.file = path.str();
    t.data = data + *begin;
    t.numBytes = numBytes;
    out.tensors[name] = std::move(t);
  }
  return checkDisjoint(out, data);
}

//===----------------------------------------------------------------------===//
// config.json
//===----------------------------------------------------------------------===//

/// Fills `c` from the parsed config.json at `path`.
static llvm::Error parseConfig(llvm::StringRef path,
                               const llvm::json::Value &json, ModelConfig &c,
                               Checkpoint &ckpt) {
  const llvm::json::Object *obj = json.getAsObject();
  if (!obj)
    return makeError("'" + path + "' is not a JSON object");

  // Architecture: LlamaForCausalLM / model_type "llama" only.
  std::optional<llvm::StringRef> modelType = obj->getString("model_type");
  std::string archs;
  bool llamaArch = false;
  if (const llvm::json::Array *a = obj->getArray("architectures")) {
    for (const llvm::json::Value &v : *a)
      if (std::optional<llvm::StringRef> s = v.getAsString()) {
        archs += (archs.empty() ? "" : ", ") + s->str();
        llamaArch |= *s == "LlamaForCausalLM";
      }
  }
  if ((modelType && *modelType != "llama") || (!archs.empty() && !llamaArch) ||
      (!modelType && archs.empty()))
    return makeError(
        "'" + path + "': unsupported architecture (model_type '" +
        (modelType ? *modelType : llvm::StringRef("<none>")) +
        "', architectures [" + archs +
        "]); only Llama (LlamaForCausalLM, model_type \"llama\") is supported");
  c.architecture = "llama";
  ckpt.metadata.push_back({"hf.model_type", "llama"});

  auto intKey = [&](llvm::StringRef key, int64_t &dst,
                    std::optional<int64_t> dflt) -> llvm::Error {
    const llvm::json::Value *v = obj->get(key);
    if (!v || v->kind() == llvm::json::Value::Null) {
      if (dflt) {
        dst = *dflt;
        return llvm::Error::success();
      }
      return makeError("'" + path + "': missing required key \"" + key + "\"");
    }
    std::optional<int64_t> i = getNonNegInt(*v);
    if (!i || *i == 0)
      return makeError("'" + path + "': \"" + key +
                       "\" must be a positive integer");
    dst = *i;
    return llvm::Error::success();
  };
  if (llvm::Error e = intKey("hidden_size", c.dim, std::nullopt))
    return e;
  if (llvm::Error e = intKey("intermediate_size", c.hiddenDim, std::nullopt))
    return e;
  if (llvm::Error e = intKey("num_hidden_layers", c.numLayers, std::nullopt))
    return e;
  if (llvm::Error e = intKey("num_attention_heads", c.numHeads, std::nullopt))
    return e;
  if (llvm::Error e = intKey("num_key_value_heads", c.numKVHeads, c.numHeads))
    return e;
  if (llvm::Error e = intKey("vocab_size", c.vocabSize, std::nullopt))
    return e;
  if (llvm::Error e = intKey("max_position_embeddings", c.maxSeqLen, 2048))
    return e;
  if (c.maxSeqLen > kMaxContextLength)
    return makeError("'" + path + "': \"max_position_embeddings\" is " +
                     llvm::Twine(c.maxSeqLen) + ", more than the " +
                     llvm::Twine(kMaxContextLength) +
                     " positions qopt supports");
  if (c.dim % c.numHeads != 0)
    return makeError("'" + path + "': hidden_size " + llvm::Twine(c.dim) +
                     " is not a multiple of num_attention_heads " +
                     llvm::Twine(c.numHeads));
  if (c.numHeads % c.numKVHeads != 0)
    return makeError("'" + path + "': num_attention_heads " +
                     llvm::Twine(c.numHeads) +
                     " is not a multiple of num_key_value_heads " +
                     llvm::Twine(c.numKVHeads));
  if (c.headDim() % 2 != 0)
    return makeError("'" + path + "': head dimension must be even for RoPE");
  if (const llvm::json::Value *hd = obj->get("head_dim");
      hd && hd->kind() != llvm::json::Value::Null) {
    std::optional<int64_t> v = getNonNegInt(*hd);
    if (!v || *v != c.headDim())
      return makeError("'" + path + "': head_dim differs from hidden_size / "
                                    "num_attention_heads (" +
                       llvm::Twine(c.headDim()) + "); not supported");
  }

  auto numberKey = [&](const llvm::json::Object &o, llvm::StringRef key,
                       float &dst) -> llvm::Error {
    const llvm::json::Value *v = o.get(key);
    if (!v || v->kind() == llvm::json::Value::Null)
      return llvm::Error::success();
    std::optional<double> d = v->getAsNumber();
    if (!d || !(*d > 0))
      return makeError("'" + path + "': \"" + key +
                       "\" must be a positive number");
    dst = static_cast<float>(*d);
    return llvm::Error::success();
  };
  c.normEps = 1e-6f; // LlamaConfig's default
  if (llvm::Error e = numberKey(*obj, "rms_norm_eps", c.normEps))
    return e;
  c.ropeTheta = 10000.0f;
  if (llvm::Error e = numberKey(*obj, "rope_theta", c.ropeTheta)) // 4.x
    return e;
  // RoPE scaling: 4.x "rope_scaling", 5.x "rope_parameters" (which also
  // carries rope_theta). Only the default (unscaled) RoPE is supported.
  for (llvm::StringRef key : {"rope_scaling", "rope_parameters"}) {
    const llvm::json::Value *v = obj->get(key);
    if (!v || v->kind() == llvm::json::Value::Null)
      continue;
    const llvm::json::Object *rp = v->getAsObject();
    if (!rp)
      return makeError("'" + path + "': \"" + key + "\" must be an object");
    std::optional<llvm::StringRef> type = rp->getString("rope_type");
    if (!type)
      type = rp->getString("type");
    if (type && *type != "default")
      return makeError("'" + path + "': unsupported RoPE type '" + *type +
                       "' in \"" + key +
                       "\" (only the default, unscaled RoPE is supported)");
    if (!type && key == "rope_scaling")
      return makeError("'" + path +
                       "': \"rope_scaling\" without a rope_type is not "
                       "supported");
    if (llvm::Error e = numberKey(*rp, "rope_theta", c.ropeTheta))
      return e;
  }
  c.ropeStyle = RopeStyle::RotateHalf;

  c.tiedEmbeddings = false; // LlamaConfig's default
  if (const llvm::json::Value *v = obj->get("tie_word_embeddings");
      v && v->kind() != llvm::json::Value::Null) {
    std::optional<bool> b = v->getAsBoolean();
    if (!b)
      return makeError("'" + path +
                       "': \"tie_word_embeddings\" must be a boolean");
    c.tiedEmbeddings = *b;
  }

  // Features the canonical tensor set cannot express.
  for (llvm::StringRef key : {"attention_bias", "mlp_bias"})
    if (std::optional<bool> b = obj->getBoolean(key); b && *b)
      return makeError("'" + path + "': \"" + key +
                       "\": true is not supported (no bias tensors)");
  if (std::optional<llvm::StringRef> act = obj->getString("hidden_act");
      act && *act != "silu")
    return makeError("'" + path + "': hidden_act '" + *act +
                     "' is not supported (only silu)");

  // Informational only: the safetensors dtypes are authoritative.
  for (llvm::StringRef key : {"torch_dtype", "dtype", "transformers_version"})
    if (std::optional<llvm::StringRef> s = obj->getString(key))
      ckpt.metadata.push_back({("hf." + key).str(), s->str()});
  for (llvm::StringRef key : {"bos_token_id", "eos_token_id"})
    if (std::optional<int64_t> i = obj->getInteger(key))
      ckpt.metadata.push_back({("hf." + key).str(), std::to_string(*i)});
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
  if (llvm::Error e = parseConfig(configPath, *config, ckpt->config, *ckpt))
    return std::move(e);
  const ModelConfig &c = ckpt->config;

  // Locate every tensor: one file, or an index and its shards.
  std::vector<SafetensorsFile> files;
  std::map<std::string, const TensorRef *> where;
  std::string weightsDesc; // names the file(s) in errors
  std::string single = join("model.safetensors");
  std::string indexPath = join("model.safetensors.index.json");
  if (llvm::sys::fs::exists(single)) {
    weightsDesc = single;
    files.resize(1);
    if (llvm::Error e = readSafetensors(single, files[0]))
      return std::move(e);
    for (auto &kv : files[0].tensors)
      where[kv.first] = &kv.second;
  } else if (llvm::sys::fs::exists(indexPath)) {
    weightsDesc = indexPath;
    llvm::Expected<llvm::json::Value> index = readJSONFile(indexPath);
    if (!index)
      return index.takeError();
    const llvm::json::Object *obj = index->getAsObject();
    const llvm::json::Object *map =
        obj ? obj->getObject("weight_map") : nullptr;
    if (!map)
      return makeError("'" + indexPath +
                       "' has no \"weight_map\" object (tensor -> shard)");
    std::map<std::string, std::string> tensorToShard;
    std::map<std::string, size_t> shardIndex;
    for (const auto &kv : *map) {
      std::optional<llvm::StringRef> shard = kv.second.getAsString();
      if (!shard || shard->empty() || llvm::sys::path::is_absolute(*shard) ||
          shard->contains(".."))
        return makeError("'" + indexPath + "': weight_map entry for '" +
                         kv.first.str() + "' is not a shard file name");
      tensorToShard[kv.first.str()] = shard->str();
      shardIndex.emplace(shard->str(), 0);
    }
    files.resize(shardIndex.size());
    size_t i = 0;
    for (auto &kv : shardIndex) {
      kv.second = i;
      std::string shardPath = join(kv.first);
      if (!llvm::sys::fs::exists(shardPath))
        return makeError("'" + indexPath + "' names shard '" + kv.first +
                         "', which does not exist in '" + directory + "'");
      if (llvm::Error e = readSafetensors(shardPath, files[i]))
        return std::move(e);
      ++i;
    }
    for (const auto &kv : tensorToShard) {
      SafetensorsFile &f = files[shardIndex[kv.second]];
      auto it = f.tensors.find(kv.first);
      if (it == f.tensors.end())
        return makeError("'" + indexPath + "' places tensor '" + kv.first +
                         "' in '" + f.path + "', which does not contain it");
      where[kv.first] = &it->second;
    }
  } else {
    return makeError("Hugging Face checkpoint '" + directory +
                     "' has neither model.safetensors nor "
                     "model.safetensors.index.json");
  }
  for (SafetensorsFile &f : files)
    for (auto &m : f.metadata)
      ckpt->metadata.push_back({"safetensors." + m.first, m.second});

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
    ckpt->tensors.push_back(std::move(t));
    return llvm::Error::success();
  };
  int64_t qDim = c.numHeads * c.headDim();
  if (llvm::Error e = take("model.embed_tokens.weight", "tok_embeddings",
                           {c.vocabSize, c.dim}))
    return std::move(e);
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
        return std::move(e);
  }
  if (llvm::Error e = take("model.norm.weight", "norm", {c.dim}))
    return std::move(e);
  if (!c.tiedEmbeddings)
    if (llvm::Error e = take("lm_head.weight", "output", {c.vocabSize, c.dim}))
      return std::move(e);

  for (SafetensorsFile &f : files)
    ckpt->buffers.push_back(std::move(f.buffer));
  return ckpt;
}
