//===- GGUFLoaderTest.cpp - Tests of loadGGUF -------------------*- C++ -*-===//
//
// Round trips of a tiny synthetic Llama through GGUFWriter and loadGGUF for
// every supported tensor type, and the malformed inputs loadGGUF must turn
// into errors naming the file (and the tensor): bad magic and version,
// truncation anywhere, lengths, counts and offsets past the end, unknown
// value and tensor types, wrong architecture, missing tensors, wrong shapes.
// A sweep over every truncation length and random byte corruption checks
// that nothing reads out of bounds (run under ASan to make that strict).
//
//===----------------------------------------------------------------------===//

#include "GGUFTestUtil.h"

#include <cmath>
#include <functional>

using namespace qopt::model;
using namespace qopt::model::testing;

namespace {

/// loadGGUF's error for `path`, or "" if it loads.
std::string loadError(const std::string &path) {
  auto ckpt = loadGGUF(path);
  if (ckpt)
    return "";
  return errorText(ckpt.takeError());
}

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

//===----------------------------------------------------------------------===//
// Malformed files
//===----------------------------------------------------------------------===//

/// Fixture: a valid tiny model on disk whose bytes a test can corrupt.
class GGUFMalformedTest : public ::testing::Test {
protected:
  void SetUp() override {
    path = dir.path("bad.gguf");
    bytes = model.write(path);
    ASSERT_EQ(loadError(path), "");
  }
  /// Writes `newBytes` and returns loadGGUF's error.
  std::string errorFor(const std::vector<uint8_t> &newBytes) {
    writeBytes(path, newBytes);
    return loadError(path);
  }
  /// Rewrites the file from `model` and returns loadGGUF's error.
  std::string errorForModel() {
    model.values.clear();
    model.shapes.clear();
    model.write(path);
    return loadError(path);
  }
  bool mentions(const std::string &error, llvm::StringRef what) {
    return error.find(what.str()) != std::string::npos;
  }

  TempDir dir;
  std::string path;
  TinyLlama model;
  std::vector<uint8_t> bytes;
};

TEST_F(GGUFMalformedTest, MissingFile) {
  std::string error = loadError(dir.path("nope.gguf"));
  EXPECT_TRUE(mentions(error, dir.path("nope.gguf"))) << error;
}

TEST_F(GGUFMalformedTest, BadMagic) {
  bytes[0] = 'X';
  std::string error = errorFor(bytes);
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "magic")) << error;
}

TEST_F(GGUFMalformedTest, BadVersion) {
  storeAt<uint32_t>(bytes, 4, 1);
  std::string error = errorFor(bytes);
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "version 1")) << error;
  storeAt<uint32_t>(bytes, 4, 2); // v2 has the same layout and is accepted
  EXPECT_EQ(errorFor(bytes), "");
}

TEST_F(GGUFMalformedTest, TruncatedHeader) {
  for (size_t size : {0, 3, 7, 20, 30, 100}) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + size);
    std::string error = errorFor(prefix);
    EXPECT_TRUE(mentions(error, path)) << size << ": " << error;
    EXPECT_TRUE(mentions(error, "truncated")) << size << ": " << error;
  }
}

TEST_F(GGUFMalformedTest, TruncatedTensorData) {
  std::vector<uint8_t> prefix(bytes.begin(), bytes.end() - 40);
  std::string error = errorFor(prefix);
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "output.weight")) << error;
  EXPECT_TRUE(mentions(error, "truncated")) << error;
}

TEST_F(GGUFMalformedTest, EveryTruncationIsAnError) {
  // Cutting the file anywhere before the last tensor's end must fail
  // cleanly (the last 32-byte padding may be missing: that is still valid
  // only if it is padding, and TinyLlama's last tensor ends aligned).
  for (size_t size = 0; size < bytes.size(); size += 1 + size / 64) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + size);
    std::string error = errorFor(prefix);
    ASSERT_TRUE(mentions(error, path)) << size << ": " << error;
  }
}

TEST_F(GGUFMalformedTest, RandomCorruptionNeverCrashes) {
  std::mt19937 rng(42);
  size_t headerEnd = tensorOffsetField(bytes, "output.weight") + 8;
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<uint8_t> corrupt = bytes;
    int flips = 1 + trial % 4;
    for (int f = 0; f < flips; ++f)
      corrupt[rng() % headerEnd] = uint8_t(rng());
    // Either loads or fails with the path in the message; never crashes.
    std::string error = errorFor(corrupt);
    if (!error.empty()) {
      EXPECT_TRUE(mentions(error, path)) << error;
    }
  }
}

TEST_F(GGUFMalformedTest, StringLengthPastEnd) {
  size_t key = findBytes(bytes, "general.architecture");
  ASSERT_NE(key, std::string::npos);
  // key, u32 type (string), u64 length.
  storeAt<uint64_t>(bytes, key + 20 + 4, uint64_t(1) << 40);
  std::string error = errorFor(bytes);
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "general.architecture")) << error;
  EXPECT_TRUE(mentions(error, "past the end")) << error;
}

TEST_F(GGUFMalformedTest, KeyLengthPastEnd) {
  storeAt<uint64_t>(bytes, 24, ~uint64_t(0));
  std::string error = errorFor(bytes);
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "past the end")) << error;
}

TEST_F(GGUFMalformedTest, CountsLargerThanFile) {
  std::vector<uint8_t> copy = bytes;
  storeAt<uint64_t>(copy, 8, uint64_t(1) << 60);
  std::string error = errorFor(copy);
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "tensors")) << error;
  copy = bytes;
  storeAt<uint64_t>(copy, 16, ~uint64_t(0));
  error = errorFor(copy);
  EXPECT_TRUE(mentions(error, "metadata entries")) << error;
}

TEST_F(GGUFMalformedTest, ArrayCountLargerThanFile) {
  GGUFWriter writer;
  model.build(writer);
  writer.addInt32Array("test.ints", {1, 2, 3});
  bytes = writer.serialize();
  size_t key = findBytes(bytes, "test.ints");
  // key, u32 type (array), u32 element type, u64 count.
  storeAt<uint64_t>(bytes, key + 9 + 8, uint64_t(1) << 61);
  std::string error = errorFor(bytes);
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "test.ints")) << error;
}

TEST_F(GGUFMalformedTest, UnknownValueType) {
  GGUFWriter writer;
  writer.addRaw("test.weird", 99, {1, 2, 3, 4});
  model.build(writer);
  std::string error = errorFor(writer.serialize());
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "test.weird")) << error;
  EXPECT_TRUE(mentions(error, "unknown value type 99")) << error;
}

TEST_F(GGUFMalformedTest, BadAlignment) {
  GGUFWriter writer;
  writer.addUInt32("general.alignment", 24);
  model.build(writer);
  std::string error = errorFor(writer.serialize());
  EXPECT_TRUE(mentions(error, "general.alignment")) << error;
}

TEST_F(GGUFMalformedTest, TensorOffsetOutOfRange) {
  size_t field = tensorOffsetField(bytes, "output_norm.weight");
  storeAt<uint64_t>(bytes, field, uint64_t(1) << 40);
  std::string error = errorFor(bytes);
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "output_norm.weight")) << error;
  EXPECT_TRUE(mentions(error, "past the end")) << error;
  // Near-UINT64_MAX offsets must not wrap around.
  storeAt<uint64_t>(bytes, field, ~uint64_t(31));
  error = errorFor(bytes);
  EXPECT_TRUE(mentions(error, "output_norm.weight")) << error;
}

TEST_F(GGUFMalformedTest, MisalignedTensorOffset) {
  size_t field = tensorOffsetField(bytes, "blk.0.attn_q.weight");
  storeAt<uint64_t>(bytes, field, loadAt<uint64_t>(bytes, field) + 4);
  std::string error = errorFor(bytes);
  EXPECT_TRUE(mentions(error, "blk.0.attn_q.weight")) << error;
  EXPECT_TRUE(mentions(error, "alignment")) << error;
}

TEST_F(GGUFMalformedTest, BadDimensions) {
  size_t at = findBytes(bytes, "blk.0.attn_k.weight") + 19;
  storeAt<uint32_t>(bytes, at, 7);
  std::string error = errorFor(bytes);
  EXPECT_TRUE(mentions(error, "blk.0.attn_k.weight")) << error;
  EXPECT_TRUE(mentions(error, "dimensions")) << error;
  storeAt<uint32_t>(bytes, at, 2);
  storeAt<uint64_t>(bytes, at + 4, 0);
  error = errorFor(bytes);
  EXPECT_TRUE(mentions(error, "blk.0.attn_k.weight")) << error;
  storeAt<uint64_t>(bytes, at + 4, uint64_t(1) << 40);
  storeAt<uint64_t>(bytes, at + 12, uint64_t(1) << 40);
  error = errorFor(bytes);
  EXPECT_TRUE(mentions(error, "blk.0.attn_k.weight")) << error;
}

TEST_F(GGUFMalformedTest, UnsupportedTensorType) {
  model.typeOverride["blk.1.attn_v.weight"] = 12; // Q4_K
  std::string error = errorForModel();
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "blk.1.attn_v.weight")) << error;
  EXPECT_TRUE(mentions(error, "q4_K")) << error;
  model.typeOverride["blk.1.attn_v.weight"] = 1000;
  error = errorForModel();
  EXPECT_TRUE(mentions(error, "1000")) << error;
}

TEST_F(GGUFMalformedTest, QuantizedRowNotMultipleOf32) {
  model.typeOverride["blk.0.attn_q.weight"] = uint32_t(GGMLType::Q8_0);
  model.shapeOverride["blk.0.attn_q.weight"] = {64, 48};
  std::string error = errorForModel();
  EXPECT_TRUE(mentions(error, "blk.0.attn_q.weight")) << error;
  EXPECT_TRUE(mentions(error, "block size")) << error;
}

TEST_F(GGUFMalformedTest, NonLlamaArchitecture) {
  model.architecture = "gpt2";
  std::string error = errorForModel();
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "'gpt2'")) << error;
}

TEST_F(GGUFMalformedTest, MissingArchitecture) {
  size_t key = findBytes(bytes, "general.architecture");
  bytes[key] = 'G';
  std::string error = errorFor(bytes);
  EXPECT_TRUE(mentions(error, "general.architecture")) << error;
}

TEST_F(GGUFMalformedTest, MissingMetadata) {
  size_t key = findBytes(bytes, "llama.block_count");
  bytes[key] = 'L';
  std::string error = errorFor(bytes);
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "llama.block_count")) << error;
}

TEST_F(GGUFMalformedTest, BadHeadCounts) {
  model.numKVHeads = 3;
  std::string error = errorForModel();
  EXPECT_TRUE(mentions(error, "head_count_kv")) << error;
}

TEST_F(GGUFMalformedTest, MissingTensor) {
  model.skip = {"blk.1.ffn_up.weight"};
  std::string error = errorForModel();
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "missing tensor 'blk.1.ffn_up.weight'")) << error;
}

TEST_F(GGUFMalformedTest, WrongShape) {
  model.shapeOverride["blk.0.attn_k.weight"] = {64, 64};
  std::string error = errorForModel();
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "blk.0.attn_k.weight")) << error;
  EXPECT_TRUE(mentions(error, "[64, 64], expected [32, 64]")) << error;
}

TEST_F(GGUFMalformedTest, DuplicateTensor) {
  GGUFWriter writer;
  model.build(writer);
  writer.addTensorF32("output_norm.weight", {64}, randomValues(64, 1));
  std::string error = errorFor(writer.serialize());
  EXPECT_TRUE(mentions(error, "duplicate tensor 'output_norm.weight'"))
      << error;
}

TEST_F(GGUFMalformedTest, OverlappingTensors) {
  // blk.0.attn_k.weight pointed at the bytes of blk.0.attn_q.weight (an
  // aligned offset inside the data section): both would read them.
  size_t q = tensorOffsetField(bytes, "blk.0.attn_q.weight");
  size_t k = tensorOffsetField(bytes, "blk.0.attn_k.weight");
  uint64_t offset = loadAt<uint64_t>(bytes, q);
  storeAt<uint64_t>(bytes, k, offset);
  std::string error = errorFor(bytes);
  EXPECT_EQ(error, path + ": tensors 'blk.0.attn_k.weight' (data offsets [" +
                       std::to_string(offset) + ", " +
                       std::to_string(offset + 32 * 64 * 4) +
                       ")) and 'blk.0.attn_q.weight' (data offsets [" +
                       std::to_string(offset) + ", " +
                       std::to_string(offset + 64 * 64 * 4) +
                       ")) overlap; every tensor must have bytes of its own");
}

TEST_F(GGUFMalformedTest, NamesMustBeUTF8) {
  std::vector<uint8_t> name = bytes;
  name[findBytes(name, "blk.1.ffn_up.weight") + 4] = 0xFF;
  std::string error = errorFor(name);
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "the name of tensor")) << error;
  EXPECT_TRUE(mentions(error, "is not valid UTF-8 (GGUF strings are UTF-8)"))
      << error;
  // Metadata keys too (general.name is key 1).
  bytes[findBytes(bytes, "general.name") + 3] = 0xC3;
  EXPECT_EQ(errorFor(bytes), path + ": metadata key 1 is not valid UTF-8 "
                                    "(GGUF strings are UTF-8)");
}

TEST_F(GGUFMalformedTest, DuplicateKey) {
  GGUFWriter writer;
  model.build(writer);
  writer.addUInt32("llama.block_count", 1);
  EXPECT_EQ(errorFor(writer.serialize()),
            path + ": duplicate metadata key 'llama.block_count'");
}

TEST_F(GGUFMalformedTest, ContextBeyondTheLimit) {
  // 2^24 + 1 positions are refused; 2^21 load (nothing is sized by them).
  model.contextLength = (int64_t(1) << 24) + 1;
  EXPECT_EQ(errorForModel(), path + ": metadata 'llama.context_length' = "
                                    "16777217 is out of range [1, 16777216]");
  model.contextLength = int64_t(1) << 21;
  EXPECT_EQ(errorForModel(), "");
}

TEST_F(GGUFMalformedTest, BlockBeyondBlockCount) {
  GGUFWriter writer;
  model.build(writer);
  writer.addTensorF32("blk.2.ffn_norm.weight", {64}, randomValues(64, 1));
  std::string error = errorFor(writer.serialize());
  EXPECT_TRUE(mentions(error, "blk.2.ffn_norm.weight")) << error;
}

} // namespace

namespace {

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
