//===- Sampler.cpp - Next-token sampling with llama.cpp's chain -*- C++ -*-===//
//
// llama.cpp's default sampler chain (penalties, top-k, top-p, min-p,
// temperature, dist) with llama2.c's xorshift generator. The comments name
// the llama.cpp sampler (src/llama-sampling.cpp) each step follows.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace qopt::model;

/// llama2.c's random_u32: xorshift64* (upper 32 bits).
static uint32_t randomU32(uint64_t &state) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return static_cast<uint32_t>((state * 0x2545F4914F6CDD1Dull) >> 32);
}

/// llama2.c's random_f32: uniform in [0, 1).
static float randomF32(uint64_t &state) {
  return (randomU32(state) >> 8) / 16777216.0f;
}

Sampler::Sampler(int64_t vocabSize, const SamplingParams &params, uint64_t seed)
    : vocabSize(vocabSize), config(params),
      // xorshift never leaves 0: substitute a fixed non-zero state.
      state(seed ? seed : 0x9E3779B97F4A7C15ull) {}

/// llama_sampler_penalties (repeat penalty only): each distinct token of the
/// window once, whatever its count.
void Sampler::applyPenalty(float *logits, llvm::ArrayRef<int32_t> history) {
  if (config.repeatPenalty == 1.0f || config.repeatLastN == 0)
    return;
  if (config.repeatLastN > 0 &&
      history.size() > static_cast<size_t>(config.repeatLastN))
    history = history.take_back(config.repeatLastN);
  window.assign(history.begin(), history.end());
  std::sort(window.begin(), window.end());
  window.erase(std::unique(window.begin(), window.end()), window.end());
  for (int32_t token : window) {
    if (token < 0 || token >= vocabSize)
      continue;
    float &l = logits[token];
    l = l <= 0.0f ? l * config.repeatPenalty : l / config.repeatPenalty;
  }
}

void Sampler::sortCandidates() {
  if (sorted)
    return;
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate &a, const Candidate &b) {
              return a.logit > b.logit ||
                     (a.logit == b.logit && a.token < b.token);
            });
  sorted = true;
}

/// llama_sampler_top_k: the k largest logits, sorted.
void Sampler::applyTopK() {
  int64_t k = config.topK;
  if (k <= 0 || k >= static_cast<int64_t>(candidates.size()))
    return;
  if (!sorted)
    std::partial_sort(
        candidates.begin(), candidates.begin() + k, candidates.end(),
        [](const Candidate &a, const Candidate &b) {
          return a.logit > b.logit || (a.logit == b.logit && a.token < b.token);
        });
  candidates.resize(k);
  sorted = true;
}

/// llama_sampler_top_p: sort, softmax over the candidates, keep the prefix
/// whose cumulative probability first reaches p (min_keep 1).
void Sampler::applyTopP() {
  if (config.topP >= 1.0f)
    return;
  sortCandidates();
  float maxLogit = candidates.front().logit;
  probs.resize(candidates.size());
  double sum = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    probs[i] = std::exp(static_cast<double>(candidates[i].logit - maxLogit));
    sum += probs[i];
  }
  double cumulative = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    cumulative += probs[i] / sum;
    if (cumulative >= config.topP) {
      candidates.resize(i + 1);
      return;
    }
  }
}

/// llama_sampler_min_p: keep logits >= max + log(p), i.e. probabilities at
/// least p times the largest; the order is kept.
void Sampler::applyMinP() {
  if (config.minP <= 0.0f)
    return;
  float maxLogit = -std::numeric_limits<float>::infinity();
  for (const Candidate &c : candidates)
    maxLogit = std::max(maxLogit, c.logit);
  float threshold = maxLogit + std::log(config.minP);
  llvm::erase_if(candidates,
                 [&](const Candidate &c) { return !(c.logit >= threshold); });
}

/// llama_sampler_dist: softmax over the candidates in their current order
/// and the inverse CDF of one uniform draw (llama2.c's sample_mult when no
/// filter reordered them).
int32_t Sampler::draw() {
  // The first largest logit, before the temperature scales it.
  size_t best = 0;
  for (size_t i = 1; i < candidates.size(); ++i)
    if (candidates[i].logit > candidates[best].logit)
      best = i;
  // llama_sampler_temp, after the filters as in llama.cpp's chain.
  for (Candidate &c : candidates)
    c.logit /= config.temperature;
  float maxLogit = candidates[best].logit;
  // Logits / a tiny temperature overflow: softmax would be inf / inf; its
  // limit is the largest logit. All -inf: nothing to weigh, take the first.
  if (std::isinf(maxLogit))
    return candidates[best].token;
  probs.resize(candidates.size());
  double sum = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    probs[i] = std::exp(static_cast<double>(candidates[i].logit - maxLogit));
    sum += probs[i];
  }
  double r = randomF32(state) * sum, cdf = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    cdf += probs[i];
    if (r < cdf)
      return candidates[i].token;
  }
  return candidates.back().token;
}

int32_t Sampler::sample(float *logits, llvm::ArrayRef<int32_t> history) {
  int64_t n = vocabSize;
  if (n <= 0 || !logits)
    return 0;
  applyPenalty(logits, history);
  // Greedy (llama.cpp's temp <= 0): the first maximum, which is also the
  // limit of sampling as the temperature goes to 0. The truncation samplers
  // always keep it, so they need not run.
  if (!(config.temperature > 0.0f)) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i)
      if (logits[i] > logits[best])
        best = i;
    return static_cast<int32_t>(best);
  }
  // NaN logits (a broken model) become -inf so that sorting stays a strict
  // weak order.
  candidates.resize(n);
  for (int64_t i = 0; i < n; ++i)
    candidates[i] = {std::isnan(logits[i])
                         ? -std::numeric_limits<float>::infinity()
                         : logits[i],
                     static_cast<int32_t>(i)};
  sorted = false;
  applyTopK();
  applyTopP();
  applyMinP();
  return draw();
}
