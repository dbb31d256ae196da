//===- CheckpointTestModels.h - Tiny checkpoints for the tests --*- C++ -*-===//
//
// The synthetic llama2.c files and Hugging Face Llama directories that the
// checkpoint reader tests (Llama2cTest.cpp, HuggingFaceTest.cpp,
// HuggingFaceErrorTest.cpp, CheckpointTest.cpp) write and load.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TESTS_RUNTIME_MODEL_CHECKPOINTTESTMODELS_H
#define QOPT_TESTS_RUNTIME_MODEL_CHECKPOINTTESTMODELS_H

#include "TestUtils.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace qopt {
namespace model {
namespace test {

//===----------------------------------------------------------------------===//
// llama2.c
//===----------------------------------------------------------------------===//

/// Header of a tiny llama2.c model: dim 8, hidden 12, 2 layers, 2 heads,
/// 1 KV head, vocab 10, seq_len 4.
struct Llama2cHeader {
  int32_t dim = 8, hidden = 12, layers = 2, heads = 2, kvHeads = 1, vocab = 10,
          seqLen = 4;
};

/// Number of floats the weights of `h` take (wcls included if unshared).
inline int64_t llama2cFloats(const Llama2cHeader &h) {
  int64_t vocab = std::abs(h.vocab), kvDim = h.dim * h.kvHeads / h.heads;
  int64_t headSize = h.dim / h.heads;
  int64_t n = vocab * h.dim;
  n += h.layers * (h.dim + h.dim * h.dim + 2 * kvDim * h.dim + h.dim * h.dim +
                   h.dim + 3 * h.hidden * h.dim);
  n += h.dim + 2 * h.seqLen * headSize / 2;
  if (h.vocab < 0)
    n += vocab * h.dim;
  return n;
}

/// A llama2.c file whose i-th weight float is i; `weights` overrides the
/// count of floats written (to truncate or pad).
inline std::string llama2cFile(const Llama2cHeader &h, int64_t weights = -1) {
  std::string out;
  for (int32_t v :
       {h.dim, h.hidden, h.layers, h.heads, h.kvHeads, h.vocab, h.seqLen})
    appendRaw(out, v);
  if (weights < 0)
    weights = llama2cFloats(h);
  for (int64_t i = 0; i < weights; ++i)
    appendRaw(out, static_cast<float>(i));
  return out;
}

//===----------------------------------------------------------------------===//
// Hugging Face
//===----------------------------------------------------------------------===//

/// A tiny HF Llama: dim 8, hidden 12, 2 layers, 2 heads, `kvHeads` KV heads.
struct HFModel {
  int64_t dim = 8, hidden = 12, layers = 2, heads = 2, kvHeads = 1, vocab = 10;
  bool lmHead = true;

  /// (name, shape) of every tensor, HF names.
  std::vector<std::pair<std::string, std::vector<int64_t>>> tensors() const {
    int64_t kvDim = dim / heads * kvHeads;
    std::vector<std::pair<std::string, std::vector<int64_t>>> t;
    t.push_back({"model.embed_tokens.weight", {vocab, dim}});
    for (int64_t l = 0; l < layers; ++l) {
      std::string p = "model.layers." + std::to_string(l) + ".";
      t.push_back({p + "input_layernorm.weight", {dim}});
      t.push_back({p + "self_attn.q_proj.weight", {dim, dim}});
      t.push_back({p + "self_attn.k_proj.weight", {kvDim, dim}});
      t.push_back({p + "self_attn.v_proj.weight", {kvDim, dim}});
      t.push_back({p + "self_attn.o_proj.weight", {dim, dim}});
      t.push_back({p + "post_attention_layernorm.weight", {dim}});
      t.push_back({p + "mlp.gate_proj.weight", {hidden, dim}});
      t.push_back({p + "mlp.down_proj.weight", {dim, hidden}});
      t.push_back({p + "mlp.up_proj.weight", {hidden, dim}});
    }
    t.push_back({"model.norm.weight", {dim}});
    if (lmHead)
      t.push_back({"lm_head.weight", {vocab, dim}});
    return t;
  }

  /// The value of element `i` of tensor number `k`.
  static float value(size_t k, int64_t i) { return k * 1000.0f + i; }

  /// Writes tensors [begin, end) into `w` (f32, values from value()).
  void write(SafetensorsWriter &w, size_t begin = 0, size_t end = ~0ull) const {
    auto all = tensors();
    for (size_t k = begin; k < std::min(end, all.size()); ++k) {
      int64_t n = 1;
      for (int64_t d : all[k].second)
        n *= d;
      std::vector<float> v(n);
      for (int64_t i = 0; i < n; ++i)
        v[i] = value(k, i);
      w.addF32(all[k].first, all[k].second, v);
    }
  }

  /// config.json in transformers 4.x spelling.
  llvm::json::Object config4x(bool tied) const {
    return llvm::json::Object{
        {"architectures", llvm::json::Array{"LlamaForCausalLM"}},
        {"model_type", "llama"},
        {"hidden_size", dim},
        {"intermediate_size", hidden},
        {"num_hidden_layers", layers},
        {"num_attention_heads", heads},
        {"num_key_value_heads", kvHeads},
        {"vocab_size", vocab},
        {"max_position_embeddings", 32},
        {"rms_norm_eps", 1e-6},
        {"rope_theta", 500000.0},
        {"rope_scaling", nullptr},
        {"tie_word_embeddings", tied},
        {"hidden_act", "silu"},
        {"torch_dtype", "float32"},
        {"transformers_version", "4.46.0"}};
  }
};

} // namespace test
} // namespace model
} // namespace qopt

#endif // QOPT_TESTS_RUNTIME_MODEL_CHECKPOINTTESTMODELS_H
