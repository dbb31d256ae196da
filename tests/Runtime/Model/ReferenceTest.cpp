//===- ReferenceTest.cpp - Reference oracle on stories260K ------*- C++ -*-===//
//
// Loads ../shared/models/stories260K both as the llama2.c .bin and as the
// Hugging Face directory, runs the fp32 reference decoder and checks the
// published numbers: 4769 predicted tokens and mean NLL 1.675133 over
// tinystories-dev.txt (BOS + each line, truncated at the 512-token context),
// and the greedy story from BOS. Agreement of both checkpoints proves the
// readers (including the rotate-half convention) and the tokenizer.
//
//===----------------------------------------------------------------------===//

#include "ReferenceForward.h"
#include "TestUtils.h"

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/Sampler.h"
#include "qopt/Model/Tokenizer.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>

using namespace qopt::model;
using namespace qopt::model::test;

namespace {

/// Fixture: the stories260K files, or a skip when ../shared lacks them.
class Stories260KTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = joinPath(joinPath(sharedDir(), "models"), "stories260K");
    for (const char *f :
         {"stories260K.bin", "tok512.bin", "tinystories-dev.txt",
          "hf/config.json", "hf/model.safetensors"})
      if (!llvm::sys::fs::exists(joinPath(dir, f)))
        FAIL() << "stories260K not found: " << joinPath(dir, f)
               << " is missing";
  }

  /// The non-empty lines of tinystories-dev.txt, split at '\n' only. The
  /// file has CRLF line ends and the published reference (4769 tokens)
  /// keeps each line's trailing '\r' (one byte-fallback token).
  std::vector<std::string> devLines() const {
    std::vector<std::string> lines;
    auto buf =
        llvm::MemoryBuffer::getFile(joinPath(dir, "tinystories-dev.txt"));
    EXPECT_TRUE(bool(buf));
    if (!buf)
      return lines;
    llvm::SmallVector<llvm::StringRef> parts;
    (*buf)->getBuffer().split(parts, '\n');
    for (llvm::StringRef line : parts) {
      if (!line.empty())
        lines.push_back(line.str());
    }
    return lines;
  }

  /// Perplexity protocol of shared/README.md; returns the mean NLL.
  double meanNLL(const Checkpoint &ckpt, const Tokenizer &tok, int64_t &count) {
    auto model = unwrap(ReferenceModel::create(ckpt));
    double total = 0.0;
    count = 0;
    for (const std::string &line : devLines()) {
      std::vector<int32_t> tokens = tok.encode(line, /*bos=*/true, false);
      if (int64_t(tokens.size()) > ckpt.config.maxSeqLen)
        tokens.resize(ckpt.config.maxSeqLen);
      total += sequenceNLL(model, tokens, count);
    }
    return count ? total / count : 0.0;
  }

  /// Greedy generation from BOS alone, decoded.
  std::string greedy(const Checkpoint &ckpt, const Tokenizer &tok, int steps) {
    auto model = unwrap(ReferenceModel::create(ckpt));
    Sampler sampler(ckpt.config.vocabSize, SamplingParams{}, 42); // greedy
    std::string text;
    int32_t token = tok.bosId();
    for (int pos = 0; pos < steps; ++pos) {
      std::vector<float> logits = model.forward(token, pos);
      int32_t next = sampler.sample(logits.data());
      if (next == tok.bosId())
        break;
      text += tok.decode(token, next);
      token = next;
    }
    return text;
  }

  std::string dir;
};

/// shared/README.md's greedy story from BOS.
constexpr const char *kGreedyPrefix =
    "Once upon a time, there was a little girl named Lily. She loved to play "
    "outside in the park. One day, she saw a big, red ball. She wanted to "
    "play with it, but it was too high.";

TEST_F(Stories260KTest, Llama2cPerplexityAndGreedy) {
  std::string bin = joinPath(dir, "stories260K.bin");
  auto ckpt = unwrap(loadCheckpoint(bin));
  ASSERT_TRUE(ckpt);
  EXPECT_EQ(ckpt->config.dim, 64);
  EXPECT_EQ(ckpt->config.numKVHeads, 4);
  auto tok = unwrap(loadTokenizerFor(bin, "", ckpt->config.vocabSize));
  ASSERT_TRUE(tok);
  int64_t count = 0;
  double nll = meanNLL(*ckpt, *tok, count);
  std::printf("[ llama2c ] tokens %lld, mean NLL %.6f, perplexity %.6f\n",
              (long long)count, nll, std::exp(nll));
  EXPECT_EQ(count, 4769);
  EXPECT_NEAR(nll, 1.675133, 1e-3);
  std::string text = greedy(*ckpt, *tok, 64);
  std::printf("[ llama2c ] greedy: %s\n", text.c_str());
  EXPECT_TRUE(llvm::StringRef(text).starts_with(kGreedyPrefix)) << text;
}

TEST_F(Stories260KTest, HuggingFacePerplexityAndGreedy) {
  std::string hf = joinPath(dir, "hf");
  auto ckpt = unwrap(loadCheckpoint(hf));
  ASSERT_TRUE(ckpt);
  EXPECT_EQ(ckpt->config.ropeStyle, RopeStyle::RotateHalf);
  EXPECT_TRUE(ckpt->config.tiedEmbeddings);
  auto tok = unwrap(loadTokenizerFor(hf, joinPath(dir, "tok512.bin"),
                                     ckpt->config.vocabSize));
  ASSERT_TRUE(tok);
  int64_t count = 0;
  double nll = meanNLL(*ckpt, *tok, count);
  std::printf("[ hf      ] tokens %lld, mean NLL %.6f, perplexity %.6f\n",
              (long long)count, nll, std::exp(nll));
  EXPECT_EQ(count, 4769);
  EXPECT_NEAR(nll, 1.675133, 1e-3);
  std::string text = greedy(*ckpt, *tok, 64);
  std::printf("[ hf      ] greedy: %s\n", text.c_str());
  EXPECT_TRUE(llvm::StringRef(text).starts_with(kGreedyPrefix)) << text;
}

TEST_F(Stories260KTest, CheckpointsGiveSameLogits) {
  auto bin = unwrap(loadCheckpoint(joinPath(dir, "stories260K.bin")));
  auto hf = unwrap(loadCheckpoint(joinPath(dir, "hf")));
  ASSERT_TRUE(bin && hf);
  auto tok = unwrap(loadLlama2cTokenizer(joinPath(dir, "tok512.bin"), 512));
  ASSERT_TRUE(tok);
  auto a = unwrap(ReferenceModel::create(*bin));
  auto b = unwrap(ReferenceModel::create(*hf));
  std::vector<int32_t> tokens = tok->encode(devLines().at(0), true, false);
  tokens.resize(std::min<size_t>(tokens.size(), 64));
  for (size_t pos = 0; pos < tokens.size(); ++pos) {
    const std::vector<float> &la = a.forward(tokens[pos], pos);
    const std::vector<float> &lb = b.forward(tokens[pos], pos);
    float maxDiff = 0.0f;
    for (size_t i = 0; i < la.size(); ++i)
      maxDiff = std::max(maxDiff, std::fabs(la[i] - lb[i]));
    ASSERT_LT(maxDiff, 1e-3f) << "position " << pos;
  }
}

} // namespace
