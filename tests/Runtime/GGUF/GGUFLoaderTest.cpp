//===- GGUFLoaderTest.cpp - Tests of loadGGUF -------------------*- C++ -*-===//
//
// Round trips of a tiny synthetic Llama through GGUFWriter and loadGGUF for
// every supported tensor type, tied embeddings and the vocabulary size, and
// RoPE scaling (linear, rope_freqs.weight, and what is refused). Malformed
// files are in GGUFMalformedTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "GGUFTestUtil.h"

#include <cmath>
#include <functional>

using namespace qopt::model;
using namespace qopt::model::testing;

namespace {

/// The canonical name of each GGUF tensor name of TinyLlama.
std::string canonical(const std::string &gguf) {
  static const std::map<std::string, std::string> names = {
      {"attn_norm.weight", "attention_norm"},
      {"attn_q.weight", "wq"},
      {"attn_k.weight", "wk"},
      {"attn_v.weight", "wv"},
      {"attn_output.weight", "wo"},
      {"ffn_norm.weight", "ffn_norm"},
      {"ffn_gate.weight", "w1"},
      {"ffn_down.weight", "w2"},
      {"ffn_up.weight", "w3"}};
  if (gguf == "token_embd.weight")
    return "tok_embeddings";
  if (gguf == "output_norm.weight")
    return "norm";
  if (gguf == "output.weight")
    return "output";
  llvm::StringRef rest(gguf);
  rest.consume_front("blk.");
  auto [layer, suffix] = rest.split('.');
  return "layers." + layer.str() + "." + names.at(suffix.str());
}

class GGUFRoundTripTest : public ::testing::TestWithParam<GGMLType> {};

TEST_P(GGUFRoundTripTest, ConfigTensorsAndValues) {
  TempDir dir;
  std::string path = dir.path("tiny.gguf");
  TinyLlama model;
  model.weightType = GetParam();
  std::vector<uint8_t> bytes = model.write(path);

  auto ckptOr = loadGGUF(path);
  ASSERT_TRUE(bool(ckptOr)) << errorText(ckptOr.takeError());
  const Checkpoint &ckpt = **ckptOr;
  EXPECT_EQ(ckpt.format, "gguf");
  EXPECT_EQ(ckpt.path, path);
  const ModelConfig &config = ckpt.config;
  EXPECT_EQ(config.architecture, "llama");
  EXPECT_EQ(config.dim, 64);
  EXPECT_EQ(config.hiddenDim, 96);
  EXPECT_EQ(config.numLayers, 2);
  EXPECT_EQ(config.numHeads, 4);
  EXPECT_EQ(config.numKVHeads, 2);
  EXPECT_EQ(config.vocabSize, 40); // no tokenizer: from token_embd
  EXPECT_EQ(config.maxSeqLen, 128);
  EXPECT_FLOAT_EQ(config.normEps, 1e-6f);
  EXPECT_FLOAT_EQ(config.ropeTheta, 500000.0f);
  EXPECT_EQ(config.ropeStyle, RopeStyle::Interleaved);
  EXPECT_FALSE(config.tiedEmbeddings);

  bool sawName = false;
  for (const auto &[key, value] : ckpt.metadata)
    if (key == "general.name")
      sawName = value == "tiny";
  EXPECT_TRUE(sawName);

  ASSERT_EQ(ckpt.tensors.size(), model.shapes.size());
  const uint8_t *fileBegin = nullptr;
  ASSERT_EQ(ckpt.buffers.size(), 1u);
  fileBegin =
      reinterpret_cast<const uint8_t *>(ckpt.buffers[0]->getBufferStart());
  size_t fileSize = ckpt.buffers[0]->getBufferSize();
  EXPECT_EQ(fileSize, bytes.size());

  for (size_t i = 0; i < model.shapes.size(); ++i) {
    const auto &[gguf, shape] = model.shapes[i];
    const TensorRef &ref = ckpt.tensors[i];
    SCOPED_TRACE(gguf);
    EXPECT_EQ(ref.sourceName, gguf);
    EXPECT_EQ(ref.name, canonical(gguf));
    EXPECT_EQ(ref.file, path);
    EXPECT_EQ(ref.shape, shape);
    bool isNorm = shape.size() == 1;
    GGMLType type = isNorm ? GGMLType::F32 : model.weightType;
    DType expected = DType::F32;
    switch (type) {
    case GGMLType::F32:
      expected = DType::F32;
      break;
    case GGMLType::F16:
      expected = DType::F16;
      break;
    case GGMLType::BF16:
      expected = DType::BF16;
      break;
    case GGMLType::Q8_0:
      expected = DType::Q8_0;
      break;
    case GGMLType::Q4_0:
      expected = DType::Q4_0;
      break;
    default:
      FAIL() << "the round trip covers f32, f16, bf16, q8_0 and q4_0";
    }
    EXPECT_EQ(ref.dtype, expected);
    int64_t count = 1;
    for (int64_t d : shape)
      count *= d;
    size_t expectedBytes = expected == DType::F32    ? count * 4
                           : expected == DType::Q8_0 ? count / 32 * 34
                           : expected == DType::Q4_0 ? count / 32 * 18
                                                     : count * 2;
    EXPECT_EQ(ref.numBytes, expectedBytes);
    ASSERT_GE(ref.data, fileBegin);
    ASSERT_LE(ref.data + ref.numBytes, fileBegin + fileSize);
    EXPECT_EQ(size_t(ref.data - fileBegin) % 32, 0u);

    const std::vector<float> &original = model.values.at(gguf);
    std::vector<float> got = dequantize(ref.dtype, ref.data, count);
    for (int64_t e = 0; e < count; ++e) {
      float x = original[e];
      switch (ref.dtype) {
      case DType::F32:
        ASSERT_EQ(got[e], x) << e;
        break;
      case DType::F16:
        ASSERT_EQ(got[e], halfToFloat(floatToHalf(x))) << e;
        ASSERT_NEAR(got[e], x, 1e-3) << e;
        break;
      case DType::BF16:
        ASSERT_EQ(got[e], bf16ToFloat(floatToBF16(x))) << e;
        ASSERT_NEAR(got[e], x, 1e-2) << e;
        break;
      case DType::Q8_0:
        ASSERT_NEAR(got[e], x, 0.6 / 127) << e;
        break;
      case DType::Q4_0:
        ASSERT_NEAR(got[e], x, 1.05 / 8) << e; // clamped at nibble 15
        break;
      default:
        FAIL() << "unexpected dtype " << dtypeName(ref.dtype).str();
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, GGUFRoundTripTest,
                         ::testing::Values(GGMLType::F32, GGMLType::F16,
                                           GGMLType::BF16, GGMLType::Q8_0,
                                           GGMLType::Q4_0));

TEST(GGUFLoaderTest, TiedEmbeddingsAndVocabFromTokenizer) {
  TempDir dir;
  std::string path = dir.path("tied.gguf");
  TinyLlama model;
  model.tied = true;
  GGUFWriter writer;
  writer.setAlignment(128);
  model.build(writer);
  std::vector<std::string> tokens;
  for (int i = 0; i < 40; ++i)
    tokens.push_back("t" + std::to_string(i));
  writer.addStringArray("tokenizer.ggml.tokens", tokens);
  writer.addUInt8("test.u8", 7);
  writer.addInt32("test.i32", -5);
  writer.addUInt64("test.u64", uint64_t(1) << 40);
  writer.addBool("test.bool", true);
  writer.addFloat32("test.f32", 0.5f);
  writer.addFloat32Array("test.floats", {1.0f, 2.0f});
  writer.addInt32Array("test.ints", {1, -2, 3});
  ASSERT_FALSE(bool(writer.write(path)));

  auto ckptOr = loadGGUF(path);
  ASSERT_TRUE(bool(ckptOr)) << errorText(ckptOr.takeError());
  const Checkpoint &ckpt = **ckptOr;
  EXPECT_TRUE(ckpt.config.tiedEmbeddings);
  EXPECT_EQ(ckpt.config.vocabSize, 40);
  for (const TensorRef &ref : ckpt.tensors) {
    EXPECT_NE(ref.name, "output");
    EXPECT_EQ(
        reinterpret_cast<uintptr_t>(ref.data) -
            reinterpret_cast<uintptr_t>(ckpt.buffers[0]->getBufferStart()),
        (reinterpret_cast<uintptr_t>(ref.data) -
         reinterpret_cast<uintptr_t>(ckpt.buffers[0]->getBufferStart())) /
            128 * 128);
  }
  std::map<std::string, std::string> metadata(ckpt.metadata.begin(),
                                              ckpt.metadata.end());
  EXPECT_EQ(metadata["test.u8"], "7");
  EXPECT_EQ(metadata["test.i32"], "-5");
  EXPECT_EQ(metadata["test.u64"], "1099511627776");
  EXPECT_EQ(metadata["test.bool"], "true");
  EXPECT_EQ(metadata["test.f32"], "0.50");
  EXPECT_EQ(metadata["general.alignment"], "128");
  EXPECT_EQ(metadata.count("test.floats"), 0u);
}

TEST(GGUFLoaderTest, VocabMismatchIsAnError) {
  TempDir dir;
  std::string path = dir.path("vocab.gguf");
  TinyLlama model;
  GGUFWriter writer;
  model.build(writer);
  writer.addStringArray("tokenizer.ggml.tokens", {"a", "b"});
  ASSERT_FALSE(bool(writer.write(path)));
  std::string error = loadError(path);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("token_embd.weight"), std::string::npos) << error;
}
/// Writes TinyLlama with extra RoPE metadata / a rope_freqs tensor.
std::string writeScaled(TempDir &dir, const std::string &name,
                        const std::function<void(GGUFWriter &)> &extra) {
  std::string path = dir.path(name);
  TinyLlama model;
  GGUFWriter writer;
  model.build(writer);
  extra(writer);
  writeBytes(path, writer.serialize());
  return path;
}

TEST(GGUFRopeScalingTest, LinearAndFreqFactors) {
  TempDir dir;
  // Linear scaling: the factor divides every frequency.
  auto ckpt = loadGGUF(writeScaled(dir, "linear.gguf", [](GGUFWriter &w) {
    w.addString("llama.rope.scaling.type", "linear");
    w.addFloat32("llama.rope.scaling.factor", 4.0f);
  }));
  ASSERT_TRUE(bool(ckpt)) << errorText(ckpt.takeError());
  EXPECT_EQ((*ckpt)->config.ropeScaling.type, RopeScalingType::Linear);
  EXPECT_DOUBLE_EQ((*ckpt)->config.ropeScaling.factor, 4.0);

  // rope_freqs.weight (Llama 3.1 as convert_hf_to_gguf writes it): the
  // table is the default frequencies divided entry by entry.
  std::vector<float> factors = {1, 1, 1, 2, 4, 8, 8, 8};
  ckpt = loadGGUF(writeScaled(dir, "freqs.gguf", [&](GGUFWriter &w) {
    w.addTensorF32("rope_freqs.weight", {8}, factors, GGMLType::F32);
  }));
  ASSERT_TRUE(bool(ckpt)) << errorText(ckpt.takeError());
  const ModelConfig &c = (*ckpt)->config;
  EXPECT_EQ(c.ropeScaling.freqFactors, factors);
  RopeFrequencies f =
      computeRopeFrequencies(c.headDim(), c.ropeTheta, c.ropeScaling);
  ASSERT_EQ(f.invFreq.size(), 8u);
  for (int j = 0; j < 8; ++j)
    EXPECT_FLOAT_EQ(f.invFreq[j],
                    float(std::pow(500000.0, -2.0 * j / 16) / factors[j]));
}

TEST(GGUFRopeScalingTest, RefusesWhatItCannotHonour) {
  TempDir dir;
  std::string msg = loadError(writeScaled(dir, "yarn.gguf", [](GGUFWriter &w) {
    w.addString("llama.rope.scaling.type", "yarn");
    w.addFloat32("llama.rope.scaling.factor", 4.0f);
  }));
  EXPECT_NE(msg.find("unsupported llama.rope.scaling.type 'yarn'"),
            std::string::npos)
      << msg;
  msg = loadError(writeScaled(dir, "zero.gguf", [](GGUFWriter &w) {
    w.addString("llama.rope.scaling.type", "linear");
    w.addFloat32("llama.rope.scaling.factor", 0.0f);
  }));
  EXPECT_NE(msg.find("needs a positive llama.rope.scaling.factor"),
            std::string::npos)
      << msg;
  msg = loadError(writeScaled(dir, "freqs.gguf", [](GGUFWriter &w) {
    w.addTensorF32("rope_freqs.weight", {7}, std::vector<float>(7, 1.0f),
                   GGMLType::F32);
  }));
  EXPECT_NE(msg.find("tensor 'rope_freqs.weight' has shape [7], expected [8]"),
            std::string::npos)
      << msg;
  msg = loadError(writeScaled(dir, "negative.gguf", [](GGUFWriter &w) {
    std::vector<float> f(8, 1.0f);
    f[3] = -1.0f;
    w.addTensorF32("rope_freqs.weight", {8}, f, GGMLType::F32);
  }));
  EXPECT_NE(msg.find("not positive and finite"), std::string::npos) << msg;
}

} // namespace
