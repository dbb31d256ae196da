//===- CheckpointTest.cpp - Tests of the checkpoint readers -----*- C++ -*-===//
//
// Checkpoint-level behaviour of the readers (errors naming the checkpoint
// and tensor, non-regular files, truncated and corrupted files that must
// fail cleanly) and the dtype conversions (toF32, toBlockQuantized). The
// llama2.c and Hugging Face readers have their own files (Llama2cTest.cpp,
// HuggingFaceTest.cpp, HuggingFaceErrorTest.cpp).
//
//===----------------------------------------------------------------------===//

#include "CheckpointTestModels.h"
#include "TestUtils.h"

#include "qopt/Model/Checkpoint.h"

#include "gmock/gmock.h"

#include <cmath>

using namespace qopt::model;
using namespace qopt::model::test;
using ::testing::HasSubstr;

namespace {

TEST(CheckpointTest, GetNamesCheckpointAndTensor) {
  TempDir dir;
  std::string path = dir.file("tiny.bin");
  writeFile(path, llama2cFile(Llama2cHeader()));
  auto ckpt = unwrap(loadCheckpoint(path));
  ASSERT_TRUE(ckpt);
  std::string msg = errorOf(ckpt->get("layers.7.wq"));
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("layers.7.wq"));
}

TEST(CheckpointTest, NonRegularFilesAreNeverRead) {
  EXPECT_EQ(errorOf(loadCheckpoint("/dev/zero")),
            "checkpoint '/dev/zero' is neither a regular file nor a "
            "directory");
  EXPECT_EQ(errorOf(loadLlama2c("/dev/zero")),
            "llama2.c checkpoint '/dev/zero' is not a regular file (it is a "
            "character device)");
  EXPECT_EQ(errorOf(loadGGUF("/dev/zero")),
            "'/dev/zero' is not a regular file (it is a character device)");
}

TEST(CorruptionTest, NeverCrashes) {
  // Truncations and byte flips of valid files must load or fail cleanly.
  TempDir dir;
  HFModel m;
  writeJson(dir.file("config.json"), m.config4x(/*tied=*/false));
  SafetensorsWriter w;
  m.write(w);
  std::string good = w.str();
  std::string bin = llama2cFile(Llama2cHeader());
  uint64_t headerEnd = 8 + *reinterpret_cast<const uint64_t *>(good.data());
  uint32_t rng = 12345;
  auto next = [&]() {
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
  };
  for (int i = 0; i < 200; ++i) {
    std::string st = good, b = bin;
    if (i % 2) {
      st.resize(next() % good.size());
      b.resize(next() % bin.size());
    } else {
      for (int k = 0; k < 4; ++k) {
        st[next() % headerEnd] = static_cast<char>(next());
        b[next() % 28] = static_cast<char>(next());
      }
    }
    writeFile(dir.file("model.safetensors"), st);
    writeFile(dir.file("x.bin"), b);
    for (const std::string &p : {dir.path, dir.file("x.bin")}) {
      auto ckpt = loadCheckpoint(p);
      if (!ckpt) {
        EXPECT_FALSE(llvm::toString(ckpt.takeError()).empty());
        continue;
      }
      for (const TensorRef &t : (*ckpt)->tensors) {
        auto v = toF32(t);
        EXPECT_TRUE(bool(v)) << t.name;
        if (!v)
          llvm::consumeError(v.takeError());
      }
    }
  }
}

//===----------------------------------------------------------------------===//
// Conversions
//===----------------------------------------------------------------------===//

/// A tensor over `bytes` (kept alive by the caller).
static TensorRef makeTensor(DType dtype, std::vector<int64_t> shape,
                            const std::string &bytes) {
  TensorRef t;
  t.name = "t";
  t.file = "mem";
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data = reinterpret_cast<const uint8_t *>(bytes.data());
  t.numBytes = bytes.size();
  return t;
}

TEST(ConvertTest, HalfAndBFloat16) {
  std::string f16;
  for (uint16_t h : {0x3C00, 0xC000, 0x3800, 0x0001, 0x7C00, 0x0000, 0x7BFF})
    appendRaw(f16, h);
  auto v = unwrap(toF32(makeTensor(DType::F16, {7}, f16)));
  ASSERT_EQ(v.size(), 7u);
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.0f);
  EXPECT_EQ(v[2], 0.5f);
  EXPECT_EQ(v[3], std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(v[4]));
  EXPECT_EQ(v[5], 0.0f);
  EXPECT_EQ(v[6], 65504.0f);
  std::string bf;
  for (uint16_t h : {0x3F80, 0xC0A0})
    appendRaw(bf, h);
  v = unwrap(toF32(makeTensor(DType::BF16, {2}, bf)));
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -5.0f);
  EXPECT_EQ(dtypeName(DType::BF16), "bf16");
  EXPECT_EQ(dtypeName(DType::Q4_0), "q4_0");
}

TEST(ConvertTest, Q8_0) {
  // Two blocks: scale 0.5 with q = j - 16; scale 2 with q = -j.
  std::string bytes;
  appendRaw(bytes, uint16_t(0x3800));
  for (int j = 0; j < 32; ++j)
    appendRaw(bytes, int8_t(j - 16));
  appendRaw(bytes, uint16_t(0x4000));
  for (int j = 0; j < 32; ++j)
    appendRaw(bytes, int8_t(-j));
  TensorRef t = makeTensor(DType::Q8_0, {1, 64}, bytes);
  auto v = unwrap(toF32(t));
  ASSERT_EQ(v.size(), 64u);
  EXPECT_EQ(v[0], -8.0f);
  EXPECT_EQ(v[31], 7.5f);
  EXPECT_EQ(v[33], -2.0f);
  auto q = unwrap(toBlockQuantized(t));
  EXPECT_EQ(q.bits, 8u);
  EXPECT_EQ(q.groupSize, 32);
  ASSERT_EQ(q.codes.size(), 64u);
  ASSERT_EQ(q.scales.size(), 2u);
  EXPECT_EQ(q.codes[0], 112);
  EXPECT_EQ(q.codes[33], 127);
  EXPECT_EQ(q.scales[1], 2.0f);
  for (int i = 0; i < 64; ++i)
    EXPECT_EQ(q.scales[i / 32] * (int(q.codes[i]) - 128), v[i]);
  EXPECT_THAT(errorOf(toBlockQuantized(t, 4)), HasSubstr("not 4-bit"));
  // Wrong byte count or a last dim that is not a multiple of 32.
  TensorRef bad = makeTensor(DType::Q8_0, {1, 64}, bytes.substr(0, 60));
  EXPECT_THAT(errorOf(toF32(bad)), HasSubstr("expected 68"));
  EXPECT_THAT(errorOf(toF32(makeTensor(DType::Q8_0, {2, 16}, bytes))),
              HasSubstr("multiple of 32"));
}

TEST(ConvertTest, Q4_0) {
  // ggml layout: byte j = element j (low nibble) | element j+16 (high).
  std::string bytes;
  appendRaw(bytes, uint16_t(0x4000)); // scale 2
  for (int j = 0; j < 16; ++j)
    appendRaw(bytes, uint8_t(j | (15 - j) << 4));
  TensorRef t = makeTensor(DType::Q4_0, {32}, bytes);
  auto v = unwrap(toF32(t));
  ASSERT_EQ(v.size(), 32u);
  EXPECT_EQ(v[0], -16.0f);
  EXPECT_EQ(v[15], 14.0f);
  EXPECT_EQ(v[16], 14.0f);
  EXPECT_EQ(v[31], -16.0f);
  auto q = unwrap(toBlockQuantized(t));
  EXPECT_EQ(q.bits, 4u);
  ASSERT_EQ(q.codes.size(), 32u);
  for (int i = 0; i < 32; ++i) {
    EXPECT_LT(q.codes[i], 16);
    EXPECT_EQ(q.scales[0] * (int(q.codes[i]) - 8), v[i]);
  }
}

TEST(ConvertTest, QuantizeFloatTensors) {
  std::vector<float> x(64);
  for (int i = 0; i < 64; ++i)
    x[i] = std::sin(0.37f * i) * (i < 32 ? 1.0f : 100.0f);
  std::string bytes(reinterpret_cast<const char *>(x.data()), 64 * 4);
  TensorRef t = makeTensor(DType::F32, {2, 32}, bytes);
  for (unsigned bits : {8u, 4u}) {
    auto q = unwrap(bits == 8 ? toBlockQuantized(t) : toBlockQuantized(t, 4));
    EXPECT_EQ(q.bits, bits);
    ASSERT_EQ(q.codes.size(), 64u);
    ASSERT_EQ(q.scales.size(), 2u);
    int zero = 1 << (bits - 1);
    for (int i = 0; i < 64; ++i) {
      float amax = i < 32 ? 1.0f : 100.0f;
      float tol = amax / (bits == 8 ? 127.0f : 7.0f);
      EXPECT_NEAR(q.scales[i / 32] * (int(q.codes[i]) - zero), x[i], tol)
          << bits << " " << i;
    }
  }
  std::string sixteen = bytes.substr(0, 64);
  EXPECT_THAT(errorOf(toBlockQuantized(makeTensor(DType::F32, {16}, sixteen))),
              HasSubstr("multiple of 32"));
  EXPECT_THAT(errorOf(toBlockQuantized(t, 3)), HasSubstr("3 bits"));
  EXPECT_THAT(errorOf(toF32(makeTensor(DType::F32, {3, 32}, bytes))),
              HasSubstr("expected 384"));
}

} // namespace
