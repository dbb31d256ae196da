//===- ReferenceForward.h - fp32 Llama forward (test oracle) ----*- C++ -*-===//
//
// A deliberately plain fp32 Llama decoder, in the manner of llama2.c's
// run.c forward(): RMSNorm, grouped-query attention with a KV cache, RoPE in
// either pairing convention, SwiGLU FFN. Test-only: it proves the readers
// and tokenizers right and is never linked into a library.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TESTS_RUNTIME_MODEL_REFERENCEFORWARD_H
#define QOPT_TESTS_RUNTIME_MODEL_REFERENCEFORWARD_H

#include "qopt/Model/Checkpoint.h"

#include <vector>

namespace qopt {
namespace model {
namespace test {

/// fp32 weights of a checkpoint plus the KV cache of one sequence.
class ReferenceModel {
public:
  /// Converts every tensor of `ckpt` to f32.
  static llvm::Expected<ReferenceModel> create(const Checkpoint &ckpt);

  /// Runs `token` at position `pos` (0 <= pos < maxSeqLen; positions must be
  /// fed in order from 0) and returns the vocabSize logits.
  const std::vector<float> &forward(int32_t token, int64_t pos);

  const ModelConfig &config() const { return cfg; }

private:
  /// Weights of one decoder layer.
  struct Layer {
    std::vector<float> attentionNorm, wq, wk, wv, wo, ffnNorm, w1, w2, w3;
  };
  ModelConfig cfg;
  std::vector<float> embeddings, finalNorm, classifier;
  std::vector<Layer> layers;
  std::vector<float> keyCache, valueCache; ///< [layer][pos][kvDim]
  std::vector<float> x, xb, xb2, q, k, v, att, hb, hb2, logits;
};

/// Mean next-token negative log-likelihood of `tokens` under `model`
/// (positions 1..n-1 predicted from their prefixes); adds the number of
/// predicted positions to `count` and returns the summed NLL.
double sequenceNLL(ReferenceModel &model, const std::vector<int32_t> &tokens,
                   int64_t &count);

} // namespace test
} // namespace model
} // namespace qopt

#endif // QOPT_TESTS_RUNTIME_MODEL_REFERENCEFORWARD_H
