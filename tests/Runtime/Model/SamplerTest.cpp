//===- SamplerTest.cpp - Tests of the llama2.c-style sampler ----*- C++ -*-===//
//
// Greedy argmax, multinomial and nucleus sampling, and the exact xorshift
// sequence of llama2.c for a given seed.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Tokenizer.h"

#include "gtest/gtest.h"

#include <cmath>
#include <vector>

using namespace qopt::model;

namespace {

TEST(SamplerTest, GreedyTakesFirstMaximum) {
  Sampler s(5, 0.0f, 0.9f, 1);
  std::vector<float> logits = {0.5f, 3.0f, -1.0f, 3.0f, 2.0f};
  EXPECT_EQ(s.sample(logits.data()), 1);
  std::vector<float> neg = {-5.0f, -4.0f, -4.0f};
  Sampler s3(3, 0.0f, 0.0f, 0);
  EXPECT_EQ(s3.sample(neg.data()), 1);
}

TEST(SamplerTest, TinyTemperatureTakesTheMaximum) {
  // Logits / 1e-40 overflow to inf (the softmax would be NaN): sampling at
  // such a temperature is its limit, the greedy choice, for every seed.
  for (uint64_t seed : {1, 2, 3, 42}) {
    for (float topp : {0.5f, 1.0f}) {
      Sampler s(4, 1e-40f, topp, seed);
      std::vector<float> logits = {10.0f, 20.0f, -5.0f, 20.0f};
      EXPECT_EQ(s.sample(logits.data()), 1) << seed << " " << topp;
    }
  }
}

TEST(SamplerTest, MultinomialMatchesLlama2cRng) {
  // Uniform over 4 tokens: the pick is floor(random_f32 * 4) with
  // llama2.c's xorshift seeded by 42 (values computed independently).
  Sampler s(4, 1.0f, 0.0f, 42);
  std::vector<int32_t> expected = {1, 3, 3, 3, 3, 3, 0, 1, 1, 2, 1, 1};
  for (int32_t e : expected) {
    std::vector<float> logits(4, 0.25f);
    EXPECT_EQ(s.sample(logits.data()), e);
  }
}

TEST(SamplerTest, DeterministicPerSeed) {
  auto run = [](uint64_t seed, float topp) {
    Sampler s(8, 0.8f, topp, seed);
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
  std::vector<float> base = {std::log(0.64f), std::log(0.24f),
                             std::log(0.09f), std::log(0.03f)};
  Sampler narrow(4, 1.0f, 0.5f, 3);
  Sampler wide(4, 1.0f, 0.8f, 3);
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
  Sampler all(4, 1.0f, 1.0f, 11);
  int hist[4] = {0, 0, 0, 0};
  for (int i = 0; i < 20000; ++i) {
    std::vector<float> l = base;
    ++hist[all.sample(l.data())];
  }
  EXPECT_NEAR(hist[0] / 20000.0, 0.64, 0.02);
  EXPECT_NEAR(hist[3] / 20000.0, 0.03, 0.01);
}

} // namespace
