//===- GGUFMalformedTest.cpp - Malformed GGUF files -------------*- C++ -*-===//
//
// The malformed inputs loadGGUF must turn into errors naming the file (and
// the tensor): bad magic and version, truncation anywhere, lengths, counts
// and offsets past the end, unknown value and tensor types, wrong
// architecture, missing tensors, wrong shapes. A sweep over every
// truncation length and random byte corruption checks that nothing reads
// out of bounds (run under ASan to make that strict).
//
//===----------------------------------------------------------------------===//

#include "GGUFTestUtil.h"

using namespace qopt::model;
using namespace qopt::model::testing;

namespace {

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
  model.typeOverride["blk.1.attn_v.weight"] = 3; // Q4_1
  std::string error = errorForModel();
  EXPECT_TRUE(mentions(error, path)) << error;
  EXPECT_TRUE(mentions(error, "blk.1.attn_v.weight")) << error;
  EXPECT_TRUE(mentions(error, "q4_1")) << error;
  // A K-quant is read, but the tiny model's rows are not whole super-blocks.
  model.typeOverride["blk.1.attn_v.weight"] = 12; // Q4_K
  error = errorForModel();
  EXPECT_TRUE(mentions(error, "blk.1.attn_v.weight")) << error;
  EXPECT_TRUE(mentions(error, "not a multiple of the block size 256")) << error;
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
