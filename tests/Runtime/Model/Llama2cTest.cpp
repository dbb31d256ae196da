//===- Llama2cTest.cpp - Tests of the llama2.c reader -----------*- C++ -*-===//
//
// Synthetic llama2.c .bin files (shared and unshared classifier) are written
// to a temporary directory and loaded; truncated, padded and inconsistent
// headers must give an llvm::Error naming the file, never a crash.
//
//===----------------------------------------------------------------------===//

#include "CheckpointTestModels.h"
#include "TestUtils.h"

#include "qopt/Model/Checkpoint.h"

#include <cstring>

#include "gmock/gmock.h"

using namespace qopt::model;
using namespace qopt::model::test;
using ::testing::HasSubstr;

namespace {

/// First float of a tensor.
static float firstValue(const TensorRef &t) {
  float v;
  std::memcpy(&v, t.data, sizeof(v));
  return v;
}

TEST(Llama2cTest, LoadsSharedClassifier) {
  TempDir dir;
  Llama2cHeader h;
  std::string path = dir.file("tiny.bin");
  writeFile(path, llama2cFile(h));
  auto ckpt = unwrap(loadCheckpoint(path));
  ASSERT_TRUE(ckpt);
  EXPECT_EQ(ckpt->format, "llama2c");
  const ModelConfig &c = ckpt->config;
  EXPECT_EQ(c.dim, 8);
  EXPECT_EQ(c.hiddenDim, 12);
  EXPECT_EQ(c.numLayers, 2);
  EXPECT_EQ(c.numHeads, 2);
  EXPECT_EQ(c.numKVHeads, 1);
  EXPECT_EQ(c.vocabSize, 10);
  EXPECT_EQ(c.maxSeqLen, 4);
  EXPECT_EQ(c.kvDim(), 4);
  EXPECT_TRUE(c.tiedEmbeddings);
  EXPECT_EQ(c.ropeStyle, RopeStyle::Interleaved);
  EXPECT_FLOAT_EQ(c.normEps, 1e-5f);
  EXPECT_FLOAT_EQ(c.ropeTheta, 10000.0f);
  EXPECT_EQ(ckpt->tensors.size(), 1u + 9u * 2u + 1u);
  EXPECT_EQ(ckpt->find("output"), nullptr);
  EXPECT_EQ(ckpt->find("freq_cis_real"), nullptr);

  // Offsets (in floats) of each array, as the file lays them out.
  int64_t emb = 0, rmsAtt = emb + 80, wq = rmsAtt + 2 * 8, wk = wq + 2 * 64,
          wv = wk + 2 * 32, wo = wv + 2 * 32, rmsFfn = wo + 2 * 64,
          w1 = rmsFfn + 2 * 8, w2 = w1 + 2 * 96, w3 = w2 + 2 * 96,
          norm = w3 + 2 * 96;
  struct {
    const char *name;
    std::vector<int64_t> shape;
    int64_t first;
  } expected[] = {
      {"tok_embeddings", {10, 8}, emb},
      {"layers.0.attention_norm", {8}, rmsAtt},
      {"layers.1.attention_norm", {8}, rmsAtt + 8},
      {"layers.0.wq", {8, 8}, wq},
      {"layers.1.wq", {8, 8}, wq + 64},
      {"layers.1.wk", {4, 8}, wk + 32},
      {"layers.1.wv", {4, 8}, wv + 32},
      {"layers.1.wo", {8, 8}, wo + 64},
      {"layers.1.ffn_norm", {8}, rmsFfn + 8},
      {"layers.1.w1", {12, 8}, w1 + 96},
      {"layers.1.w2", {8, 12}, w2 + 96},
      {"layers.1.w3", {12, 8}, w3 + 96},
      {"norm", {8}, norm},
  };
  for (const auto &e : expected) {
    const TensorRef *t = ckpt->find(e.name);
    ASSERT_NE(t, nullptr) << e.name;
    EXPECT_EQ(t->shape, e.shape) << e.name;
    EXPECT_EQ(t->dtype, DType::F32);
    EXPECT_EQ(t->file, path);
    EXPECT_EQ(t->numBytes, size_t(t->numElements() * 4)) << e.name;
    EXPECT_EQ(firstValue(*t), float(e.first)) << e.name;
  }
  // Data is mapped, not copied: layer 1 follows layer 0 in the file.
  EXPECT_EQ(ckpt->find("layers.1.wq")->data,
            ckpt->find("layers.0.wq")->data + 64 * 4);
  auto wv1 = unwrap(toF32(*ckpt->find("layers.1.wv")));
  ASSERT_EQ(wv1.size(), 32u);
  EXPECT_EQ(wv1[31], float(wv + 63));
}

TEST(Llama2cTest, LoadsUnsharedClassifier) {
  TempDir dir;
  Llama2cHeader h;
  h.vocab = -10;
  std::string path = dir.file("unshared.bin");
  writeFile(path, llama2cFile(h));
  auto ckpt = unwrap(loadLlama2c(path));
  ASSERT_TRUE(ckpt);
  EXPECT_EQ(ckpt->config.vocabSize, 10);
  EXPECT_FALSE(ckpt->config.tiedEmbeddings);
  auto out = unwrap(ckpt->get("output"));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->shape, (std::vector<int64_t>{10, 8}));
  EXPECT_EQ(firstValue(*out), float(llama2cFloats(h) - 80));
}

TEST(Llama2cTest, TruncatedFile) {
  TempDir dir;
  Llama2cHeader h;
  std::string path = dir.file("trunc.bin");
  writeFile(path, llama2cFile(h, llama2cFloats(h) - 3));
  std::string msg = errorOf(loadCheckpoint(path));
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("truncated"));
  EXPECT_THAT(msg, HasSubstr(std::to_string(28 + 4 * llama2cFloats(h))));
}

TEST(Llama2cTest, HeaderClaimsMoreLayers) {
  TempDir dir;
  Llama2cHeader h;
  std::string bytes = llama2cFile(h);
  int32_t layers = 3;
  std::memcpy(&bytes[8], &layers, 4);
  std::string path = dir.file("lies.bin");
  writeFile(path, bytes);
  std::string msg = errorOf(loadLlama2c(path));
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("n_layers=3"));
  EXPECT_THAT(msg, HasSubstr("implies"));
}

TEST(Llama2cTest, TrailingData) {
  TempDir dir;
  Llama2cHeader h;
  std::string path = dir.file("pad.bin");
  writeFile(path, llama2cFile(h, llama2cFloats(h) + 1));
  EXPECT_THAT(errorOf(loadLlama2c(path)), HasSubstr("trailing"));
}

TEST(Llama2cTest, BadHeaders) {
  TempDir dir;
  std::string path = dir.file("bad.bin");
  auto check = [&](Llama2cHeader h, const char *what) {
    std::string bytes;
    for (int32_t v :
         {h.dim, h.hidden, h.layers, h.heads, h.kvHeads, h.vocab, h.seqLen})
      appendRaw(bytes, v);
    bytes += std::string(64, '\0');
    writeFile(path, bytes);
    std::string msg = errorOf(loadLlama2c(path));
    EXPECT_THAT(msg, HasSubstr(path)) << what;
    EXPECT_THAT(msg, HasSubstr(what));
  };
  Llama2cHeader h;
  h.dim = 0;
  check(h, "positive");
  h = Llama2cHeader();
  h.heads = 3;
  check(h, "dim is not a multiple of n_heads");
  h = Llama2cHeader();
  h.kvHeads = 3;
  h.heads = 4;
  check(h, "n_heads is not a multiple of n_kv_heads");
  h = Llama2cHeader();
  h.layers = -1;
  check(h, "positive");
  // Huge sizes must not overflow into a plausible total.
  h = Llama2cHeader();
  h.dim = h.hidden = h.vocab = 1 << 30;
  h.layers = INT32_MAX;
  h.heads = h.kvHeads = 1 << 29;
  check(h, "overflow");
  // A context beyond kMaxContextLength, however large the file.
  h = Llama2cHeader();
  h.seqLen = (1 << 24) + 1;
  check(h, "seq_len is more than the 16777216 positions qopt supports");

  writeFile(path, "abc");
  EXPECT_THAT(errorOf(loadLlama2c(path)), HasSubstr("smaller than"));
  writeFile(path, "");
  EXPECT_THAT(errorOf(loadCheckpoint(path)), HasSubstr(path));
  std::string v1;
  appendRaw(v1, uint32_t(0x616b3432)); // export.py's struct.pack('I', ...)
  appendRaw(v1, int32_t(1));
  v1 += std::string(300, '\0');
  writeFile(path, v1);
  EXPECT_THAT(errorOf(loadCheckpoint(path)), HasSubstr("version 1"));
  EXPECT_THAT(errorOf(loadCheckpoint(dir.file("absent.bin"))),
              HasSubstr("does not exist"));
}

} // namespace
