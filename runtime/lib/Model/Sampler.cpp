//===- Sampler.cpp - Next-token sampling (llama2.c semantics) ---*- C++ -*-===//
//
// Greedy argmax, temperature sampling and nucleus (top-p) sampling, with
// llama2.c's xorshift generator so a seed reproduces llama2.c's choices.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Tokenizer.h"

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

Sampler::Sampler(int64_t vocabSize, float temperature, float topp,
                 uint64_t seed)
    : vocabSize(vocabSize), temperature(temperature), topp(topp),
      // xorshift never leaves 0: substitute a fixed non-zero state.
      state(seed ? seed : 0x9E3779B97F4A7C15ull) {}

int32_t Sampler::sample(float *logits) {
  int64_t n = vocabSize;
  if (n <= 0 || !logits)
    return 0;
  // Greedy: the first maximum, which is also the limit of sampling as the
  // temperature goes to 0.
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best])
      best = i;
  if (temperature == 0.0f)
    return static_cast<int32_t>(best);
  for (int64_t i = 0; i < n; ++i)
    logits[i] /= temperature;
  float maxVal = logits[0];
  for (int64_t i = 1; i < n; ++i)
    maxVal = std::max(maxVal, logits[i]);
  // A temperature so small that the scaled logits overflow: the softmax
  // would be inf / inf; its limit is the maximum.
  if (maxVal == std::numeric_limits<float>::infinity())
    return static_cast<int32_t>(best);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    logits[i] = std::exp(logits[i] - maxVal);
    sum += logits[i];
  }
  for (int64_t i = 0; i < n; ++i)
    logits[i] /= sum;
  float coin = randomF32(state);

  if (topp <= 0.0f || topp >= 1.0f) {
    // sample_mult.
    float cdf = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      cdf += logits[i];
      if (coin < cdf)
        return static_cast<int32_t>(i);
    }
    return static_cast<int32_t>(n - 1);
  }

  // sample_topp: drop tokens that cannot be in the nucleus, sort the rest by
  // descending probability (stable, so ties keep index order), truncate
  // where the cumulative probability exceeds topp, and sample from that.
  scratch.clear();
  float cutoff = n > 1 ? (1.0f - topp) / (n - 1) : 0.0f;
  for (int64_t i = 0; i < n; ++i)
    if (logits[i] >= cutoff)
      scratch.push_back({logits[i], static_cast<int32_t>(i)});
  if (scratch.empty())
    return static_cast<int32_t>(n - 1);
  std::stable_sort(
      scratch.begin(), scratch.end(),
      [](const auto &a, const auto &b) { return a.first > b.first; });
  float cumulative = 0.0f;
  size_t last = scratch.size() - 1;
  for (size_t i = 0; i < scratch.size(); ++i) {
    cumulative += scratch[i].first;
    if (cumulative > topp) {
      last = i;
      break;
    }
  }
  float r = coin * cumulative;
  float cdf = 0.0f;
  for (size_t i = 0; i <= last; ++i) {
    cdf += scratch[i].first;
    if (r < cdf)
      return scratch[i].second;
  }
  return scratch[last].second;
}
