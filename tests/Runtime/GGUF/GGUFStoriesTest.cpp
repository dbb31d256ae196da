//===- GGUFStoriesTest.cpp - stories260K as GGUF ----------------*- C++ -*-===//
//
// Converts llama2.c's stories260K.bin and tok512.bin (read directly here,
// from QOPT_SHARED_DIR/models/stories260K) into GGUF files, an f32 one and
// a Q8_0 one, loads them back with loadGGUF and loadGGUFTokenizer, and
// checks the configuration, every tensor (bit-exact for f32) and that the
// tokenizer encodes like llama2.c's encode on tok512.bin (re-implemented
// here). Then cross-checks with the rest of qopt_model: loadCheckpoint's
// dispatch, loadLlama2c's canonical names and data, toF32 and
// loadLlama2cTokenizer. Skipped when the model is not present.
//
//===----------------------------------------------------------------------===//

#include "GGUFTestUtil.h"

#include "qopt/Model/Tokenizer.h"

#include "llvm/ADT/StringMap.h"

#include <cmath>
#include <fstream>
#include <sstream>

using namespace qopt::model;
using namespace qopt::model::testing;

namespace {

std::string modelDir() {
  return std::string(QOPT_SHARED_DIR) + "/models/stories260K";
}

/// stories260K.bin: header and the f32 tensors, PyTorch shapes.
struct Llama2cModel {
  int32_t dim, hiddenDim, numLayers, numHeads, numKVHeads, vocabSize, seqLen;
  bool shared;
  std::vector<float> floats;
  /// name -> (offset in floats, shape)
  std::vector<std::tuple<std::string, size_t, std::vector<int64_t>>> tensors;

  bool load(const std::string &path) {
    std::vector<uint8_t> bytes = readBytes(path);
    if (bytes.size() < 28)
      return false;
    int32_t header[7];
    std::memcpy(header, bytes.data(), 28);
    dim = header[0];
    hiddenDim = header[1];
    numLayers = header[2];
    numHeads = header[3];
    numKVHeads = header[4];
    shared = header[5] > 0;
    vocabSize = std::abs(header[5]);
    seqLen = header[6];
    floats.resize((bytes.size() - 28) / 4);
    std::memcpy(floats.data(), bytes.data() + 28, floats.size() * 4);

    int64_t d = dim, h = hiddenDim, v = vocabSize,
            kvd = int64_t(dim) / numHeads * numKVHeads,
            hs = int64_t(dim) / numHeads;
    size_t at = 0;
    auto take = [&](const std::string &name, std::vector<int64_t> shape) {
      size_t count = 1;
      for (int64_t s : shape)
        count *= size_t(s);
      tensors.emplace_back(name, at, shape);
      at += count;
    };
    auto perLayer = [&](const std::string &gguf, std::vector<int64_t> shape) {
      size_t count = 1;
      for (int64_t s : shape)
        count *= size_t(s);
      for (int32_t l = 0; l < numLayers; ++l)
        take("blk." + std::to_string(l) + "." + gguf, shape);
    };
    take("token_embd.weight", {v, d});
    perLayer("attn_norm.weight", {d});
    perLayer("attn_q.weight", {d, d});
    perLayer("attn_k.weight", {kvd, d});
    perLayer("attn_v.weight", {kvd, d});
    perLayer("attn_output.weight", {d, d});
    perLayer("ffn_norm.weight", {d});
    perLayer("ffn_gate.weight", {h, d});
    perLayer("ffn_down.weight", {d, h});
    perLayer("ffn_up.weight", {h, d});
    take("output_norm.weight", {d});
    at += size_t(seqLen) * hs; // freq_cis_real, freq_cis_imag
    if (!shared)
      take("output.weight", {v, d});
    return at <= floats.size();
  }

  /// The values of tensor `i`.
  llvm::ArrayRef<float> values(size_t i) const {
    const auto &[name, offset, shape] = tensors[i];
    size_t count = 1;
    for (int64_t s : shape)
      count *= size_t(s);
    return llvm::ArrayRef<float>(floats).slice(offset, count);
  }
};

/// tok512.bin: pieces (spaces as ' ') and scores.
struct Llama2cVocab {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  llvm::StringMap<int32_t> ids;

  bool load(const std::string &path, int32_t vocabSize) {
    std::vector<uint8_t> bytes = readBytes(path);
    size_t at = 4; // max_token_length
    for (int32_t i = 0; i < vocabSize; ++i) {
      if (at + 8 > bytes.size())
        return false;
      float score = loadAt<float>(bytes, at);
      int32_t length = loadAt<int32_t>(bytes, at + 4);
      at += 8;
      if (length < 0 || at + size_t(length) > bytes.size())
        return false;
      pieces.emplace_back(bytes.begin() + at, bytes.begin() + at + length);
      scores.push_back(score);
      ids.try_emplace(pieces.back(), i);
      at += size_t(length);
    }
    return true;
  }

  int32_t lookup(const std::string &piece) const {
    auto it = ids.find(piece);
    return it == ids.end() ? -1 : it->second;
  }

  /// llama2.c run.c encode(), verbatim in C++.
  std::vector<int32_t> encode(const std::string &text, bool bos,
                              bool eos) const {
    std::vector<int32_t> tokens;
    if (bos)
      tokens.push_back(1);
    if (!text.empty()) {
      int32_t prefix = lookup(" ");
      if (prefix != -1)
        tokens.push_back(prefix);
    }
    std::string buffer;
    for (size_t i = 0; i < text.size(); ++i) {
      if ((text[i] & 0xC0) != 0x80)
        buffer.clear();
      buffer += text[i];
      if (i + 1 < text.size() && (text[i + 1] & 0xC0) == 0x80 &&
          buffer.size() < 4)
        continue;
      int32_t id = lookup(buffer);
      if (id != -1)
        tokens.push_back(id);
      else
        for (unsigned char c : buffer)
          tokens.push_back(int32_t(c) + 3);
      buffer.clear();
    }
    while (true) {
      float bestScore = -1e10f;
      int32_t bestId = -1;
      size_t bestIndex = 0;
      for (size_t i = 0; i + 1 < tokens.size(); ++i) {
        int32_t id = lookup(pieces[tokens[i]] + pieces[tokens[i + 1]]);
        if (id != -1 && scores[id] > bestScore) {
          bestScore = scores[id];
          bestId = id;
          bestIndex = i;
        }
      }
      if (bestId == -1)
        break;
      tokens[bestIndex] = bestId;
      tokens.erase(tokens.begin() + bestIndex + 1);
    }
    if (eos)
      tokens.push_back(2);
    return tokens;
  }
};

/// Replaces every ' ' of `piece` with U+2581.
std::string toGGUFPiece(llvm::StringRef piece) {
  std::string out;
  for (char c : piece)
    out += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
  return out;
}

class GGUFStoriesTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string bin = modelDir() + "/stories260K.bin";
    std::string tok = modelDir() + "/tok512.bin";
    if (!llvm::sys::fs::exists(bin) || !llvm::sys::fs::exists(tok))
      FAIL() << "stories260K not found under " << modelDir()
             << " (the tests need ../shared beside the checkout)";
    ASSERT_TRUE(model.load(bin));
    ASSERT_TRUE(vocab.load(tok, model.vocabSize));
  }

  /// Writes the model as GGUF, 2-D weights with rows that are a multiple of
  /// 32 stored as `weightType` (others f32, as llama.cpp falls back).
  std::string writeGGUF(GGMLType weightType, const std::string &name) {
    GGUFWriter writer;
    writer.addString("general.architecture", "llama");
    writer.addString("general.name", "stories260K");
    writer.addUInt32("llama.context_length", uint32_t(model.seqLen));
    writer.addUInt32("llama.embedding_length", uint32_t(model.dim));
    writer.addUInt32("llama.feed_forward_length", uint32_t(model.hiddenDim));
    writer.addUInt32("llama.block_count", uint32_t(model.numLayers));
    writer.addUInt32("llama.attention.head_count", uint32_t(model.numHeads));
    writer.addUInt32("llama.attention.head_count_kv",
                     uint32_t(model.numKVHeads));
    writer.addFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    writer.addFloat32("llama.rope.freq_base", 10000.0f);
    writer.addUInt32("llama.rope.dimension_count",
                     uint32_t(model.dim / model.numHeads));

    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    for (size_t i = 0; i < vocab.pieces.size(); ++i) {
      llvm::StringRef piece = vocab.pieces[i];
      if (i == 0) {
        tokens.push_back("<unk>");
        types.push_back(2);
      } else if (i == 1 || i == 2) {
        tokens.push_back(i == 1 ? "<s>" : "</s>");
        types.push_back(3);
      } else if (piece.size() == 6 && piece.starts_with("<0x")) {
        tokens.push_back(piece.str());
        types.push_back(6);
      } else {
        tokens.push_back(toGGUFPiece(piece));
        types.push_back(1);
      }
    }
    writer.addString("tokenizer.ggml.model", "llama");
    writer.addStringArray("tokenizer.ggml.tokens", tokens);
    writer.addFloat32Array("tokenizer.ggml.scores", vocab.scores);
    writer.addInt32Array("tokenizer.ggml.token_type", types);
    writer.addUInt32("tokenizer.ggml.bos_token_id", 1);
    writer.addUInt32("tokenizer.ggml.eos_token_id", 2);

    for (size_t i = 0; i < model.tensors.size(); ++i) {
      const auto &[gguf, offset, shape] = model.tensors[i];
      GGMLType type =
          shape.size() == 2 && shape[1] % 32 == 0 ? weightType : GGMLType::F32;
      writer.addTensorF32(gguf, shape, model.values(i), type);
    }
    std::string path = dir.path(name);
    EXPECT_FALSE(bool(writer.write(path)));
    return path;
  }

  TempDir dir;
  Llama2cModel model;
  Llama2cVocab vocab;
};

TEST_F(GGUFStoriesTest, F32WeightsAreBitExact) {
  std::string path = writeGGUF(GGMLType::F32, "stories260K.gguf");
  auto ckptOr = loadGGUF(path);
  ASSERT_TRUE(bool(ckptOr)) << errorText(ckptOr.takeError());
  const Checkpoint &ckpt = **ckptOr;
  const ModelConfig &config = ckpt.config;
  EXPECT_EQ(config.dim, model.dim);
  EXPECT_EQ(config.hiddenDim, model.hiddenDim);
  EXPECT_EQ(config.numLayers, model.numLayers);
  EXPECT_EQ(config.numHeads, model.numHeads);
  EXPECT_EQ(config.numKVHeads, model.numKVHeads);
  EXPECT_EQ(config.vocabSize, model.vocabSize);
  EXPECT_EQ(config.maxSeqLen, model.seqLen);
  EXPECT_EQ(config.tiedEmbeddings, model.shared);
  EXPECT_EQ(config.ropeStyle, RopeStyle::Interleaved);
  EXPECT_EQ(config.headDim(), 8);
  EXPECT_EQ(config.kvDim(), 32);

  ASSERT_EQ(ckpt.tensors.size(), model.tensors.size());
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const auto &[gguf, offset, shape] = model.tensors[i];
    const TensorRef &ref = ckpt.tensors[i];
    SCOPED_TRACE(gguf);
    EXPECT_EQ(ref.sourceName, gguf);
    EXPECT_EQ(ref.shape, shape);
    ASSERT_EQ(ref.dtype, DType::F32);
    llvm::ArrayRef<float> expected = model.values(i);
    ASSERT_EQ(ref.numBytes, expected.size() * 4);
    EXPECT_EQ(std::memcmp(ref.data, expected.data(), ref.numBytes), 0);
  }
  // Spot-check the canonical names.
  EXPECT_EQ(ckpt.tensors[0].name, "tok_embeddings");
  EXPECT_EQ(ckpt.tensors[1].name, "layers.0.attention_norm");
  EXPECT_EQ(ckpt.tensors.back().name, "norm");
}

TEST_F(GGUFStoriesTest, Q8_0Weights) {
  std::string path = writeGGUF(GGMLType::Q8_0, "stories260K-q8_0.gguf");
  auto ckptOr = loadGGUF(path);
  ASSERT_TRUE(bool(ckptOr)) << errorText(ckptOr.takeError());
  const Checkpoint &ckpt = **ckptOr;
  ASSERT_EQ(ckpt.tensors.size(), model.tensors.size());
  size_t numQuantized = 0;
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const auto &[gguf, offset, shape] = model.tensors[i];
    const TensorRef &ref = ckpt.tensors[i];
    SCOPED_TRACE(gguf);
    EXPECT_EQ(ref.shape, shape);
    llvm::ArrayRef<float> expected = model.values(i);
    bool quantized = shape.size() == 2 && shape[1] % 32 == 0;
    ASSERT_EQ(ref.dtype, quantized ? DType::Q8_0 : DType::F32);
    std::vector<float> got =
        dequantize(ref.dtype, ref.data, int64_t(expected.size()));
    if (!quantized) {
      EXPECT_EQ(std::memcmp(got.data(), expected.data(), ref.numBytes), 0);
      continue;
    }
    ++numQuantized;
    EXPECT_EQ(ref.numBytes, expected.size() / 32 * 34);
    for (size_t b = 0; b < expected.size() / 32; ++b) {
      float amax = 0;
      for (size_t j = 0; j < 32; ++j)
        amax = std::max(amax, std::fabs(expected[b * 32 + j]));
      for (size_t j = 0; j < 32; ++j)
        ASSERT_NEAR(got[b * 32 + j], expected[b * 32 + j],
                    0.6f * amax / 127 + 1e-7f);
    }
  }
  // token_embd plus wq/wk/wv/wo/w1/w3 per layer; w2 (rows of 172) stays f32.
  EXPECT_EQ(numQuantized, 1u + 6u * size_t(model.numLayers));
}

TEST_F(GGUFStoriesTest, TokenizerMatchesLlama2c) {
  std::string path = writeGGUF(GGMLType::F32, "stories260K.gguf");
  auto tokenizerOr = loadGGUFTokenizer(path);
  ASSERT_TRUE(bool(tokenizerOr)) << errorText(tokenizerOr.takeError());
  const Tokenizer &tokenizer = **tokenizerOr;
  EXPECT_EQ(tokenizer.vocabSize(), model.vocabSize);
  EXPECT_EQ(tokenizer.bosId(), 1);
  EXPECT_EQ(tokenizer.eosId(), 2);

  std::vector<std::string> texts = {
      "Once upon a time", "", "Hello, world!\n\tCaf\xC3\xA9 \xF0\x9F\x98\x80",
      "  two  spaces "};
  std::ifstream stories(modelDir() + "/tinystories-dev.txt");
  for (std::string line; std::getline(stories, line);)
    texts.push_back(line);
  ASSERT_GT(texts.size(), 5u);

  for (const std::string &text : texts) {
    SCOPED_TRACE(text.substr(0, 40));
    std::vector<int32_t> ids = tokenizer.encode(text, true, false);
    EXPECT_EQ(ids, vocab.encode(text, true, false));
    EXPECT_EQ(tokenizer.encode(text, false, true),
              vocab.encode(text, false, true));
    std::string decoded;
    for (size_t i = 1; i < ids.size(); ++i)
      decoded += tokenizer.decode(ids[i - 1], ids[i]);
    EXPECT_EQ(decoded, text);
  }
  std::vector<int32_t> once = tokenizer.encode("Once upon a time", true, false);
  EXPECT_EQ(once.front(), 1);
  EXPECT_GT(once.size(), 2u);
}

TEST_F(GGUFStoriesTest, AgreesWithTheOtherLoaders) {
  std::string gguf = writeGGUF(GGMLType::Q8_0, "stories260K-q8_0.gguf");
  auto fromGGUF = loadCheckpoint(gguf);
  ASSERT_TRUE(bool(fromGGUF)) << errorText(fromGGUF.takeError());
  EXPECT_EQ((*fromGGUF)->format, "gguf");
  auto fromBin = loadLlama2c(modelDir() + "/stories260K.bin");
  ASSERT_TRUE(bool(fromBin)) << errorText(fromBin.takeError());

  // Same canonical tensors with the same shapes; f32 data identical, Q8_0
  // data within the quantization error. toF32 dequantizes exactly as the
  // GGUF block layout says.
  const Checkpoint &q8 = **fromGGUF, &bin = **fromBin;
  EXPECT_EQ(q8.config.tiedEmbeddings, bin.config.tiedEmbeddings);
  EXPECT_EQ(q8.config.ropeStyle, bin.config.ropeStyle);
  for (const TensorRef &ref : bin.tensors) {
    SCOPED_TRACE(ref.name);
    const TensorRef *other = q8.find(ref.name);
    ASSERT_NE(other, nullptr);
    EXPECT_EQ(other->shape, ref.shape);
    auto expected = toF32(ref);
    auto got = toF32(*other);
    ASSERT_TRUE(bool(expected)) << errorText(expected.takeError());
    ASSERT_TRUE(bool(got)) << errorText(got.takeError());
    EXPECT_EQ(*got,
              dequantize(other->dtype, other->data, other->numElements()));
    ASSERT_EQ(got->size(), expected->size());
    for (size_t i = 0; i < got->size(); ++i)
      ASSERT_NEAR((*got)[i], (*expected)[i], 0.02f) << i;
  }

  auto llama2c =
      loadLlama2cTokenizer(modelDir() + "/tok512.bin", model.vocabSize);
  ASSERT_TRUE(bool(llama2c)) << errorText(llama2c.takeError());
  auto fromFile = loadGGUFTokenizer(gguf);
  ASSERT_TRUE(bool(fromFile)) << errorText(fromFile.takeError());
  for (const char *text :
       {"Once upon a time", "Hello, world! \xC3\xA9", "  two  spaces "})
    EXPECT_EQ((*fromFile)->encode(text, true, false),
              (*llama2c)->encode(text, true, false))
        << text;
}

} // namespace
