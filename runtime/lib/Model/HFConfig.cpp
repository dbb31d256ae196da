//===- HFConfig.cpp - Hugging Face config.json to a ModelConfig -*- C++ -*-===//
//
// parseHFConfig: a transformers Llama, Qwen2 or Mistral config.json (4.x and
// 5.x key spellings) as a ModelConfig: the architecture, the sizes, the norm
// epsilon and RoPE base, RoPE scaling ("rope_scaling" / "rope_parameters":
// linear, dynamic, llama3, yarn), tied embeddings, Qwen2's q/k/v biases and
// Mistral's sliding window. Every key qopt cannot honour is refused with an
// error naming the file and key.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Checkpoint.h"

#include "HFCheckpoint.h"
#include "ModelUtils.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/JSON.h"

#include <cmath>
#include <iterator>

using namespace qopt::model;
using namespace qopt::model::detail;

//===----------------------------------------------------------------------===//
// RoPE scaling
//===----------------------------------------------------------------------===//

/// Sets `out` to the default RoPE scaling of the type that the
/// "rope_scaling" / "rope_parameters" object `rp` (config key `key`) names,
/// and checks that the type takes every key `rp` has.
static llvm::Error parseRopeType(llvm::StringRef path, llvm::StringRef key,
                                 const llvm::json::Object &rp,
                                 RopeScaling &out) {
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
  return llvm::Error::success();
}

/// Parses a "rope_scaling" / "rope_parameters" object `rp` (config key
/// `key`) into `out`. Every key is either honoured or refused: an unknown
/// rope_type, a missing or out-of-range parameter, or a key the type does
/// not take is an error naming the file and key.
static llvm::Error parseRopeScaling(llvm::StringRef path, llvm::StringRef key,
                                    const llvm::json::Object &rp,
                                    int64_t maxPositions, RopeScaling &out) {
  if (llvm::Error e = parseRopeType(path, key, rp, out))
    return e;
  auto fail = [&](const llvm::Twine &what) {
    return makeError("'" + path + "': \"" + key + "\": " + what);
  };
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

//===----------------------------------------------------------------------===//
// config.json
//===----------------------------------------------------------------------===//

/// Sets c.architecture from "model_type" and "architectures": Llama, Qwen2
/// or Mistral (the *ForCausalLM classes).
static llvm::Error parseArchitecture(llvm::StringRef path,
                                     const llvm::json::Object *obj,
                                     ModelConfig &c, Checkpoint &ckpt) {
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
  return llvm::Error::success();
}

/// Reads the sizes (hidden_size, ..., max_position_embeddings, head_dim)
/// into `c`, with the defaults of architecture `arch`.
static llvm::Error parseSizes(llvm::StringRef path,
                              const llvm::json::Object *obj,
                              llvm::StringRef arch, ModelConfig &c) {
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
  return llvm::Error::success();
}

/// Reads rms_norm_eps, rope_theta and the RoPE scaling into `c`.
static llvm::Error parseNormAndRope(llvm::StringRef path,
                                    const llvm::json::Object *obj,
                                    ModelConfig &c) {
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
  return llvm::Error::success();
}

/// Reads tie_word_embeddings, the biases, hidden_act and the sliding window
/// into `c`, refusing what architecture `arch` does not have.
static llvm::Error parseLayerVariants(llvm::StringRef path,
                                      const llvm::json::Object *obj,
                                      llvm::StringRef arch, ModelConfig &c) {
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
  return llvm::Error::success();
}

llvm::Error detail::parseHFConfig(llvm::StringRef path,
                                  const llvm::json::Value &json, ModelConfig &c,
                                  Checkpoint &ckpt) {
  const llvm::json::Object *obj = json.getAsObject();
  if (!obj)
    return makeError("'" + path + "' is not a JSON object");
  if (llvm::Error e = parseArchitecture(path, obj, c, ckpt))
    return e;
  llvm::StringRef arch = c.architecture;
  if (llvm::Error e = parseSizes(path, obj, arch, c))
    return e;
  if (llvm::Error e = parseNormAndRope(path, obj, c))
    return e;
  if (llvm::Error e = parseLayerVariants(path, obj, arch, c))
    return e;

  // Informational only: the safetensors dtypes are authoritative.
  for (llvm::StringRef key : {"torch_dtype", "dtype", "transformers_version"})
    if (std::optional<llvm::StringRef> s = obj->getString(key))
      ckpt.metadata.push_back({("hf." + key).str(), s->str()});
  for (llvm::StringRef key : {"bos_token_id", "eos_token_id"})
    if (std::optional<int64_t> i = obj->getInteger(key))
      ckpt.metadata.push_back({("hf." + key).str(), std::to_string(*i)});
  return llvm::Error::success();
}
