//===- HuggingFace.cpp - Hugging Face checkpoint reader ---------*- C++ -*-===//
//
// Reads a Hugging Face transformers Llama, Qwen2 or Mistral directory:
// config.json (4.x and 5.x key spellings, RoPE scaling types, Qwen2's q/k/v
// biases, Mistral's sliding window) plus model.safetensors, or
// model.safetensors.index.json and the shards its weight_map names. Safetensors
// headers are validated in full (offsets inside the file, byte sizes matching
// shape and dtype) and the HF tensor names are mapped to qopt's canonical ones.
// Q/K rows keep HF's rotate-half order (config.ropeStyle = RotateHalf).
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

#include <cmath>
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
    if (*d >= 0 && *d < 9.0e18 &&
        *d == static_cast<double>(static_cast<int64_t>(*d)))
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

/// Parses a "rope_scaling" / "rope_parameters" object `rp` (config key
/// `key`) into `out`. Every key is either honoured or refused: an unknown
/// rope_type, a missing or out-of-range parameter, or a key the type does
/// not take is an error naming the file and key.
static llvm::Error parseRopeScaling(llvm::StringRef path, llvm::StringRef key,
                                    const llvm::json::Object &rp,
                                    int64_t maxPositions, RopeScaling &out) {
  auto fail = [&](const llvm::Twine &what) {
    return makeError("'" + path + "': \"" + key + "\": " + what);
  };
  std::optional<llvm::StringRef> type = rp.getString("rope_type");
  if (!type)
    type = rp.getString("type"); // the older spelling
  if (!type) {
    if (rp.get("rope_type") || rp.get("type"))
      return fail("\"rope_type\" must be a string");
    if (key == "rope_scaling")
      return fail("missing required key \"rope_type\"");
    type = "default";
  }
  static const struct {
    llvm::StringRef name;
    RopeScalingType type;
    std::vector<llvm::StringRef> keys; // besides rope_type, type, rope_theta
  } kTypes[] = {
      {"default", RopeScalingType::None, {}},
      {"linear", RopeScalingType::Linear, {"factor"}},
      {"dynamic", RopeScalingType::Dynamic, {"factor"}},
      {"llama3",
       RopeScalingType::Llama3,
       {"factor", "low_freq_factor", "high_freq_factor",
        "original_max_position_embeddings"}},
      {"yarn",
       RopeScalingType::Yarn,
       {"factor", "original_max_position_embeddings", "attention_factor",
        "beta_fast", "beta_slow", "mscale", "mscale_all_dim", "truncate"}},
  };
  const auto *known =
      llvm::find_if(kTypes, [&](const auto &t) { return t.name == *type; });
  if (known == std::end(kTypes))
    return fail("unsupported RoPE type '" + *type +
                "' (supported: default, linear, dynamic, llama3, yarn)");
  out = RopeScaling();
  out.type = known->type;
  for (const auto &kv : rp) {
    llvm::StringRef k = kv.first;
    if (k == "rope_type" || k == "type" || k == "rope_theta" ||
        llvm::is_contained(known->keys, k) ||
        kv.second.kind() == llvm::json::Value::Null)
      continue;
    if (k == "partial_rotary_factor") {
      if (std::optional<double> d = kv.second.getAsNumber(); d && *d == 1.0)
        continue;
      return fail("\"partial_rotary_factor\" other than 1 is not supported");
    }
    return fail("key \"" + k + "\" is not supported for rope_type '" + *type +
                "'");
  }
  // A positive finite number; `required` makes its absence an error.
  auto number = [&](llvm::StringRef name, double &dst,
                    bool required) -> llvm::Error {
    const llvm::json::Value *v = rp.get(name);
    if (!v || v->kind() == llvm::json::Value::Null)
      return required ? fail("missing required key \"" + name + "\"")
                      : llvm::Error::success();
    std::optional<double> d = v->getAsNumber();
    if (!d || !(*d > 0) || !std::isfinite(*d))
      return fail("\"" + name + "\" must be a positive number");
    dst = *d;
    return llvm::Error::success();
  };
  auto positions = [&](bool required) -> llvm::Error {
    const llvm::json::Value *v = rp.get("original_max_position_embeddings");
    if (!v || v->kind() == llvm::json::Value::Null) {
      if (required)
        return fail(
            "missing required key \"original_max_position_embeddings\"");
      out.originalMaxPositions = maxPositions;
      return llvm::Error::success();
    }
    std::optional<int64_t> i = getNonNegInt(*v);
    if (!i || *i == 0 || *i > kMaxContextLength)
      return fail("\"original_max_position_embeddings\" must be a positive "
                  "integer");
    out.originalMaxPositions = *i;
    return llvm::Error::success();
  };
  switch (out.type) {
  case RopeScalingType::None:
    return llvm::Error::success();
  case RopeScalingType::Linear:
    return number("factor", out.factor, true);
  case RopeScalingType::Dynamic:
    if (llvm::Error e = number("factor", out.factor, true))
      return e;
    if (out.factor < 1.0)
      return fail("\"factor\" of dynamic RoPE must be at least 1");
    return llvm::Error::success();
  case RopeScalingType::Llama3:
    if (llvm::Error e = number("factor", out.factor, true))
      return e;
    if (llvm::Error e = number("low_freq_factor", out.lowFreqFactor, true))
      return e;
    if (llvm::Error e = number("high_freq_factor", out.highFreqFactor, true))
      return e;
    if (!(out.highFreqFactor > out.lowFreqFactor))
      return fail("\"high_freq_factor\" must be larger than "
                  "\"low_freq_factor\"");
    return positions(true);
  case RopeScalingType::Yarn: {
    if (llvm::Error e = positions(false))
      return e;
    if (llvm::Error e = number("factor", out.factor, true))
      return e;
    for (auto [name, dst] : {std::pair<llvm::StringRef, double *>{
                                 "attention_factor", &out.attentionFactor},
                             {"beta_fast", &out.betaFast},
                             {"beta_slow", &out.betaSlow},
                             {"mscale", &out.mscale},
                             {"mscale_all_dim", &out.mscaleAllDim}})
      if (llvm::Error e = number(name, *dst, false))
        return e;
    if (const llvm::json::Value *v = rp.get("truncate");
        v && v->kind() != llvm::json::Value::Null) {
      std::optional<bool> b = v->getAsBoolean();
      if (!b)
        return fail("\"truncate\" must be a boolean");
      out.truncate = *b;
    }
    return llvm::Error::success();
  }
  }
  return llvm::Error::success();
}

/// Fills `c` from the parsed config.json at `path`.
static llvm::Error parseConfig(llvm::StringRef path,
                               const llvm::json::Value &json, ModelConfig &c,
                               Checkpoint &ckpt) {
  const llvm::json::Object *obj = json.getAsObject();
  if (!obj)
    return makeError("'" + path + "' is not a JSON object");

  // Architecture: Llama, Qwen2 or Mistral (the *ForCausalLM classes).
  static const struct {
    llvm::StringRef modelType, causalLM;
  } kArchitectures[] = {{"llama", "LlamaForCausalLM"},
                        {"qwen2", "Qwen2ForCausalLM"},
                        {"mistral", "MistralForCausalLM"}};
  std::optional<llvm::StringRef> modelType = obj->getString("model_type");
  std::string archs;
  llvm::StringRef fromArchs;
  if (const llvm::json::Array *a = obj->getArray("architectures")) {
    for (const llvm::json::Value &v : *a)
      if (std::optional<llvm::StringRef> s = v.getAsString()) {
        archs += (archs.empty() ? "" : ", ") + s->str();
        for (const auto &arch : kArchitectures)
          if (*s == arch.causalLM && fromArchs.empty())
            fromArchs = arch.modelType;
      }
  }
  llvm::StringRef arch;
  for (const auto &known : kArchitectures)
    if (modelType && *modelType == known.modelType)
      arch = known.modelType;
  if (!modelType)
    arch = fromArchs;
  if (arch.empty() || (!archs.empty() && fromArchs != arch))
    return makeError(
        "'" + path + "': unsupported architecture (model_type '" +
        (modelType ? *modelType : llvm::StringRef("<none>")) +
        "', architectures [" + archs +
        "]); supported: Llama (LlamaForCausalLM, model_type \"llama\"), "
        "Qwen2 (Qwen2ForCausalLM, \"qwen2\"), Mistral (MistralForCausalLM, "
        "\"mistral\")");
  c.architecture = arch.str();
  ckpt.metadata.push_back({"hf.model_type", arch.str()});

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
  // The config classes' defaults: LlamaConfig 2048, Qwen2Config 32768,
  // MistralConfig 4096 * 32.
  int64_t defaultPositions = arch == "qwen2"     ? 32768
                             : arch == "mistral" ? 4096 * 32
                                                 : 2048;
  if (llvm::Error e =
          intKey("max_position_embeddings", c.maxSeqLen, defaultPositions))
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
      return makeError("'" + path +
                       "': head_dim differs from hidden_size / "
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
  c.ropeTheta = 10000.0f; // the default of all three configs
  if (llvm::Error e = numberKey(*obj, "rope_theta", c.ropeTheta)) // 4.x
    return e;
  // RoPE scaling: 4.x "rope_scaling" (with a top-level rope_theta), 5.x
  // "rope_parameters" (which also carries rope_theta).
  for (llvm::StringRef key : {"rope_scaling", "rope_parameters"}) {
    const llvm::json::Value *v = obj->get(key);
    if (!v || v->kind() == llvm::json::Value::Null)
      continue;
    const llvm::json::Object *rp = v->getAsObject();
    if (!rp)
      return makeError("'" + path + "': \"" + key + "\" must be an object");
    if (llvm::Error e = numberKey(*rp, "rope_theta", c.ropeTheta))
      return e;
    RopeScaling scaling;
    if (llvm::Error e = parseRopeScaling(path, key, *rp, c.maxSeqLen, scaling))
      return e;
    if (scaling.type == RopeScalingType::None)
      continue;
    if (c.ropeScaling.type != RopeScalingType::None &&
        c.ropeScaling.type != scaling.type)
      return makeError("'" + path +
                       "': \"rope_scaling\" and "
                       "\"rope_parameters\" name different RoPE types ('" +
                       ropeScalingName(c.ropeScaling.type) + "' and '" +
                       ropeScalingName(scaling.type) + "')");
    c.ropeScaling = scaling;
  }
  if (c.ropeScaling.type == RopeScalingType::Dynamic) {
    // Dynamic NTK rescales the base beyond max_position_embeddings, which
    // is where scaling starts, not a limit: transformers runs any length,
    // and so does qopt, up to its longest context.
    c.ropeScaling.originalMaxPositions = c.maxSeqLen;
    c.maxSeqLen = kMaxContextLength;
  }
  c.ropeStyle = RopeStyle::RotateHalf;

  c.tiedEmbeddings = false; // the default of all three configs
  if (const llvm::json::Value *v = obj->get("tie_word_embeddings");
      v && v->kind() != llvm::json::Value::Null) {
    std::optional<bool> b = v->getAsBoolean();
    if (!b)
      return makeError("'" + path +
                       "': \"tie_word_embeddings\" must be a boolean");
    c.tiedEmbeddings = *b;
  }

  // Biases: Qwen2 always has q/k/v biases (and none on o_proj); Llama's
  // attention_bias would add an o_proj bias, which qopt has no op for.
  c.attentionBias = arch == "qwen2";
  if (arch != "qwen2")
    for (llvm::StringRef key : {"attention_bias", "mlp_bias"})
      if (std::optional<bool> b = obj->getBoolean(key); b && *b)
        return makeError("'" + path + "': \"" + key +
                         "\": true is not supported (only Qwen2's q/k/v "
                         "biases are)");
  if (std::optional<llvm::StringRef> act = obj->getString("hidden_act");
      act && *act != "silu")
    return makeError("'" + path + "': hidden_act '" + *act +
                     "' is not supported (only silu)");

  // Sliding-window attention: Mistral's window applies to every layer.
  // Qwen2 applies one only to some layers (use_sliding_window,
  // max_window_layers), which qopt does not implement.
  if (arch == "mistral") {
    const llvm::json::Value *v = obj->get("sliding_window");
    if (v && v->kind() != llvm::json::Value::Null) {
      std::optional<int64_t> w = getNonNegInt(*v);
      if (!w || *w == 0)
        return makeError("'" + path +
                         "': \"sliding_window\" must be a positive integer "
                         "or null");
      // A window covering the whole context changes nothing.
      if (*w < c.maxSeqLen)
        c.slidingWindow = *w;
    }
  } else {
    if (std::optional<bool> b = obj->getBoolean("use_sliding_window"); b && *b)
      return makeError("'" + path +
                       "': \"use_sliding_window\": true is not "
                       "supported for " +
                       arch +
                       " (per-layer sliding windows); only Mistral's "
                       "all-layer sliding_window is");
    if (const llvm::json::Array *types = obj->getArray("layer_types"))
      for (const llvm::json::Value &t : *types)
        if (std::optional<llvm::StringRef> s = t.getAsString();
            !s || *s != "full_attention")
          return makeError("'" + path +
                           "': \"layer_types\" may only list "
                           "\"full_attention\" (sliding-window layers of " +
                           arch + " are not supported)");
  }

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
    if (!c.attentionBias)
      continue;
    for (auto [proj, name, size] :
         {std::tuple<const char *, const char *, int64_t>{"q", "bq", qDim},
          {"k", "bk", c.kvDim()},
          {"v", "bv", c.kvDim()}})
      if (llvm::Error e =
              take(hf + "self_attn." + proj + "_proj.bias", qo + name, {size}))
        return std::move(e);
  }
  if (llvm::Error e = take("model.norm.weight", "norm", {c.dim}))
    return std::move(e);
  if (!c.tiedEmbeddings)
    if (llvm::Error e = take("lm_head.weight", "output", {c.vocabSize, c.dim}))
      return std::move(e);

  // A bias the architecture does not use would silently be dropped.
  llvm::StringSet<> taken;
  for (const TensorRef &t : ckpt->tensors)
    taken.insert(t.sourceName);
  for (const auto &kv : where)
    if (llvm::StringRef(kv.first).ends_with(".bias") &&
        !taken.contains(kv.first))
      return makeError("Hugging Face checkpoint '" + weightsDesc +
                       "' has tensor '" + kv.first + "', a bias that " +
                       c.architecture + " models do not have");

  for (SafetensorsFile &f : files)
    ckpt->buffers.push_back(std::move(f.buffer));
  return ckpt;
}
