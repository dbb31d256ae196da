//===- Sampler.h - Next-token sampling with llama.cpp's chain ---*- C++ -*-===//
//
// The sampler of qopt-run generate. Its samplers and their order are
// llama.cpp's default chain (common/sampling.cpp): repetition penalty, top-k,
// top-p, min-p, temperature, then a draw from the softmax of what is left.
// Each has llama.cpp's semantics and its "off" value. The random numbers are
// llama2.c's xorshift64*, so that with every filter off a seed reproduces
// llama2.c's choices. Depends on LLVM Support only.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODEL_SAMPLER_H
#define QOPT_MODEL_SAMPLER_H

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <vector>

namespace qopt {
namespace model {

/// The sampling parameters, with llama.cpp's meanings. Each default turns
/// its sampler off; only the temperature differs from llama.cpp's defaults
/// (0, greedy, where llama.cpp uses 0.8).
struct SamplingParams {
  /// Logits are divided by it after the filters; <= 0 is greedy (the first
  /// largest logit after the repetition penalty), as llama.cpp's temp <= 0.
  float temperature = 0.0f;
  /// Keep the k largest logits; <= 0 keeps all (llama.cpp's --top-k 0).
  int32_t topK = 0;
  /// Keep the most probable tokens until their probability, renormalized
  /// over the candidates left, reaches p (at least one); >= 1 is off.
  float topP = 1.0f;
  /// Keep tokens whose probability is at least p times the largest one's;
  /// <= 0 is off.
  float minP = 0.0f;
  /// Divide a positive logit, or multiply a negative one, by this for every
  /// distinct token among the last repeatLastN of the history; 1 is off.
  float repeatPenalty = 1.0f;
  /// How many of the last tokens (prompt included) the penalty looks at:
  /// 0 is off, -1 is the whole history.
  int32_t repeatLastN = 64;
};

/// Samples next tokens. Deterministic for a given seed and history.
class Sampler {
public:
  Sampler(int64_t vocabSize, const SamplingParams &params, uint64_t seed);

  /// The next token for `logits` (vocabSize entries, overwritten), after
  /// the tokens of `history` (the prompt and what was generated, in order).
  int32_t sample(float *logits, llvm::ArrayRef<int32_t> history = {});

  const SamplingParams &params() const { return config; }

private:
  /// A token still in the running and its (penalized, scaled) logit.
  struct Candidate {
    float logit;
    int32_t token;
  };
  void applyPenalty(float *logits, llvm::ArrayRef<int32_t> history);
  /// Sorts the candidates by descending logit, ties by ascending token.
  void sortCandidates();
  void applyTopK();
  void applyTopP();
  void applyMinP();
  /// Divides the candidates' logits by the temperature and draws from their
  /// softmax, in their order.
  int32_t draw();

  int64_t vocabSize;
  SamplingParams config;
  uint64_t state;
  std::vector<Candidate> candidates;
  bool sorted = false;
  std::vector<int32_t> window;
  std::vector<double> probs;
};

} // namespace model
} // namespace qopt

#endif // QOPT_MODEL_SAMPLER_H
