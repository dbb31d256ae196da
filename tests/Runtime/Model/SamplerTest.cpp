//===- SamplerTest.cpp - Tests of the sampler -------------------*- C++ -*-===//
//
// Greedy argmax, multinomial sampling with the exact xorshift sequence of
// llama2.c for a given seed, and llama.cpp's repetition penalty, top-k,
// top-p and min-p on fixed logits, in llama.cpp's order.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Sampler.h"

#include "gtest/gtest.h"

#include <cmath>
#include <vector>

using namespace qopt::model;

namespace {

/// A sampler with temperature `temperature` and top-p `topp` (0 or 1: off),
/// every other sampler off.
static Sampler makeSampler(int64_t vocab, float temperature, float topp,
                           uint64_t seed) {
  SamplingParams p;
  p.temperature = temperature;
  p.topP = topp <= 0.0f ? 1.0f : topp;
  return Sampler(vocab, p, seed);
}

TEST(SamplerTest, GreedyTakesFirstMaximum) {
  Sampler s = makeSampler(5, 0.0f, 0.9f, 1);
  std::vector<float> logits = {0.5f, 3.0f, -1.0f, 3.0f, 2.0f};
  EXPECT_EQ(s.sample(logits.data()), 1);
  std::vector<float> neg = {-5.0f, -4.0f, -4.0f};
  Sampler s3 = makeSampler(3, 0.0f, 0.0f, 0);
  EXPECT_EQ(s3.sample(neg.data()), 1);
}

TEST(SamplerTest, TinyTemperatureTakesTheMaximum) {
  // Logits / 1e-40 overflow to inf (the softmax would be NaN): sampling at
  // such a temperature is its limit, the greedy choice, for every seed.
  for (uint64_t seed : {1, 2, 3, 42}) {
    for (float topp : {0.5f, 1.0f}) {
      Sampler s = makeSampler(4, 1e-40f, topp, seed);
      std::vector<float> logits = {10.0f, 20.0f, -5.0f, 20.0f};
      EXPECT_EQ(s.sample(logits.data()), 1) << seed << " " << topp;
    }
  }
}

TEST(SamplerTest, MultinomialMatchesLlama2cRng) {
  // Uniform over 4 tokens: the pick is floor(random_f32 * 4) with
  // llama2.c's xorshift seeded by 42 (values computed independently).
  Sampler s = makeSampler(4, 1.0f, 0.0f, 42);
  std::vector<int32_t> expected = {1, 3, 3, 3, 3, 3, 0, 1, 1, 2, 1, 1};
  for (int32_t e : expected) {
    std::vector<float> logits(4, 0.25f);
    EXPECT_EQ(s.sample(logits.data()), e);
  }
}

TEST(SamplerTest, DeterministicPerSeed) {
  auto run = [](uint64_t seed, float topp) {
    Sampler s = makeSampler(8, 0.8f, topp, seed);
    std::vector<int32_t> out;
    for (int i = 0; i < 50; ++i) {
      std::vector<float> logits = {1, 2, 0.5f, 3, 2.5f, -1, 0, 1.5f};
      out.push_back(s.sample(logits.data()));
    }
    return out;
  };
  EXPECT_EQ(run(7, 0.9f), run(7, 0.9f));
  EXPECT_EQ(run(7, 0.0f), run(7, 0.0f));
  EXPECT_NE(run(7, 0.0f), run(8, 0.0f));
  EXPECT_EQ(run(0, 0.5f), run(0, 0.5f));
}

TEST(SamplerTest, TopPRestrictsToNucleus) {
  // Probabilities ~ {0.64, 0.24, 0.09, 0.03}: top-p 0.5 keeps only token 0,
  // top-p 0.8 keeps tokens 0 and 1.
  std::vector<float> base = {std::log(0.64f), std::log(0.24f), std::log(0.09f),
                             std::log(0.03f)};
  Sampler narrow = makeSampler(4, 1.0f, 0.5f, 3);
  Sampler wide = makeSampler(4, 1.0f, 0.8f, 3);
  int counts[4] = {0, 0, 0, 0};
  for (int i = 0; i < 2000; ++i) {
    std::vector<float> l = base;
    EXPECT_EQ(narrow.sample(l.data()), 0);
    l = base;
    ++counts[wide.sample(l.data())];
  }
  EXPECT_EQ(counts[2] + counts[3], 0);
  // Within the nucleus: 0.64 / 0.88 vs 0.24 / 0.88.
  EXPECT_NEAR(counts[0] / 2000.0, 0.64 / 0.88, 0.05);

  // Plain temperature sampling follows the softmax.
  Sampler all = makeSampler(4, 1.0f, 1.0f, 11);
  int hist[4] = {0, 0, 0, 0};
  for (int i = 0; i < 20000; ++i) {
    std::vector<float> l = base;
    ++hist[all.sample(l.data())];
  }
  EXPECT_NEAR(hist[0] / 20000.0, 0.64, 0.02);
  EXPECT_NEAR(hist[3] / 20000.0, 0.03, 0.01);
}

/// How often each token is drawn from `logits` in `draws` samples.
static std::vector<int> histogram(Sampler &s, const std::vector<float> &logits,
                                  int draws,
                                  const std::vector<int32_t> &history = {}) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    std::vector<float> l = logits;
    ++counts[s.sample(l.data(), history)];
  }
  return counts;
}

TEST(SamplerTest, TopKKeepsTheKLargest) {
  // Token 3 and 1 are the two largest; ties are broken by token order.
  std::vector<float> logits = {0.0f, 2.0f, 1.0f, 3.0f, 1.0f};
  SamplingParams p;
  p.temperature = 1.0f;
  p.topK = 2;
  Sampler s(5, p, 5);
  std::vector<int> counts = histogram(s, logits, 4000);
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);
  // Renormalized over the two: e^3 / (e^3 + e^2) = 0.731.
  EXPECT_NEAR(counts[3] / 4000.0, 0.731, 0.03);

  p.topK = 1;
  Sampler one(5, p, 9);
  EXPECT_EQ(histogram(one, logits, 200)[3], 200);
  // k = 3 with a tie at the boundary keeps the lower token (2, not 4).
  p.topK = 3;
  Sampler three(5, p, 9);
  std::vector<int> tie = histogram(three, logits, 2000);
  EXPECT_GT(tie[2], 0);
  EXPECT_EQ(tie[4], 0);
  // top-k 0 (llama.cpp: off) and k >= the vocabulary keep every token.
  p.topK = 0;
  Sampler off(5, p, 9);
  EXPECT_GT(histogram(off, logits, 4000)[0], 0);
}

TEST(SamplerTest, TopPCutsWhereTheSumReachesP) {
  // Probabilities 0.5, 0.3, 0.2: p = 0.8 is reached exactly at token 1
  // (llama.cpp keeps tokens until the sum is >= p; llama2.c until > p).
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  SamplingParams p;
  p.temperature = 1.0f;
  p.topP = 0.79f;
  Sampler s(3, p, 1);
  std::vector<int> counts = histogram(s, logits, 4000);
  EXPECT_EQ(counts[2], 0);
  EXPECT_NEAR(counts[0] / 4000.0, 0.5 / 0.8, 0.03);
  p.topP = 0.4f;
  Sampler first(3, p, 1);
  EXPECT_EQ(histogram(first, logits, 300)[0], 300);
}

TEST(SamplerTest, TopPRunsBeforeTemperature) {
  // llama.cpp's order: the nucleus is taken at temperature 1, so a high
  // temperature flattens the kept tokens but never brings token 2 back (it
  // would with llama2.c's order, softmax(logits / T) first).
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  SamplingParams p;
  p.temperature = 10.0f;
  p.topP = 0.6f;
  Sampler s(3, p, 2);
  std::vector<int> counts = histogram(s, logits, 4000);
  EXPECT_EQ(counts[2], 0);
  // At T = 10 the two are almost equally likely: 0.5^0.1 / (0.5^0.1 +
  // 0.3^0.1) = 0.513.
  EXPECT_NEAR(counts[0] / 4000.0, 0.513, 0.03);
}

TEST(SamplerTest, MinPKeepsTokensNearTheMaximum) {
  // Probabilities 0.6, 0.25, 0.1, 0.05: min-p 0.2 keeps p >= 0.12, i.e.
  // tokens 0 and 1.
  std::vector<float> logits = {std::log(0.6f), std::log(0.25f), std::log(0.1f),
                               std::log(0.05f)};
  SamplingParams p;
  p.temperature = 1.0f;
  p.minP = 0.2f;
  Sampler s(4, p, 4);
  std::vector<int> counts = histogram(s, logits, 4000);
  EXPECT_EQ(counts[2] + counts[3], 0);
  EXPECT_NEAR(counts[0] / 4000.0, 0.6 / 0.85, 0.03);
  // Min-p 0.1 keeps p >= 0.06: token 2 too.
  p.minP = 0.1f;
  Sampler wider(4, p, 4);
  std::vector<int> wide = histogram(wider, logits, 4000);
  EXPECT_GT(wide[2], 0);
  EXPECT_EQ(wide[3], 0);
}

TEST(SamplerTest, RepeatPenaltyDividesOrMultiplies) {
  SamplingParams p;
  p.repeatPenalty = 1.1f;
  p.repeatLastN = 64;
  // Positive logit divided: 3.0 / 1.1 = 2.73 < 2.9, so greedy moves on.
  Sampler s(2, p, 1);
  std::vector<float> pos = {3.0f, 2.9f};
  EXPECT_EQ(s.sample(pos.data(), {0}), 1);
  EXPECT_FLOAT_EQ(pos[0], 3.0f / 1.1f);
  EXPECT_FLOAT_EQ(pos[1], 2.9f);
  // Negative logit multiplied: -1.0 * 1.1 = -1.1 < -1.05.
  std::vector<float> neg = {-1.0f, -1.05f};
  EXPECT_EQ(s.sample(neg.data(), {0}), 1);
  EXPECT_FLOAT_EQ(neg[0], -1.1f);
  // A token counts once however often it repeats (no frequency penalty).
  std::vector<float> many = {3.0f, 2.9f};
  s.sample(many.data(), {0, 0, 0, 0});
  EXPECT_FLOAT_EQ(many[0], 3.0f / 1.1f);
  // Without history, or with penalty 1, nothing changes.
  std::vector<float> none = {3.0f, 2.9f};
  EXPECT_EQ(s.sample(none.data(), {}), 0);
  SamplingParams off;
  off.repeatPenalty = 1.0f;
  Sampler o(2, off, 1);
  std::vector<float> same = {3.0f, 2.9f};
  EXPECT_EQ(o.sample(same.data(), {0}), 0);
}

TEST(SamplerTest, RepeatLastNIsTheWindow) {
  SamplingParams p;
  p.repeatPenalty = 2.0f;
  std::vector<int32_t> history = {0, 1, 2, 2};
  auto penalized = [&](int32_t lastN) {
    p.repeatLastN = lastN;
    Sampler s(3, p, 1);
    std::vector<float> l = {4.0f, 4.0f, 4.0f};
    s.sample(l.data(), history);
    std::vector<bool> out;
    for (float v : l)
      out.push_back(v != 4.0f);
    return out;
  };
  EXPECT_EQ(penalized(2), (std::vector<bool>{false, false, true}));
  EXPECT_EQ(penalized(3), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(penalized(-1), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(penalized(0), (std::vector<bool>{false, false, false}));
  // Out-of-range ids in the history are ignored.
  p.repeatLastN = 64;
  Sampler s(3, p, 1);
  std::vector<float> l = {4.0f, 4.0f, 4.0f};
  EXPECT_EQ(s.sample(l.data(), {-1, 7}), 0);
}

TEST(SamplerTest, FiltersCombineInLlamaCppOrder) {
  // Penalty, then top-k 3, then top-p, then min-p: token 0 is penalized
  // below token 1, top-k drops token 4, top-p 0.9 and min-p 0.5 leave tokens
  // 1 and 0. Then T = 1 draws between them only.
  std::vector<float> logits = {2.2f, 2.0f, 1.0f, -1.0f, -3.0f};
  SamplingParams p;
  p.temperature = 1.0f;
  p.repeatPenalty = 1.25f; // 2.2 / 1.25 = 1.76
  p.topK = 3;
  p.topP = 0.9f;
  p.minP = 0.5f;
  Sampler s(5, p, 12);
  std::vector<int> counts = histogram(s, logits, 4000, {0});
  EXPECT_EQ(counts[2] + counts[3] + counts[4], 0);
  EXPECT_GT(counts[1], counts[0]);
  EXPECT_NEAR(counts[1] / 4000.0, 1.0 / (1.0 + std::exp(1.76 - 2.0)), 0.03);
}

} // namespace
