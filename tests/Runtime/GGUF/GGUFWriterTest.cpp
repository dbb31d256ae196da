//===- GGUFWriterTest.cpp - GGUFWriter and quantizer tests ------*- C++ -*-===//
//
// f16/bf16 conversions against llvm::APFloat, hand-worked Q8_0 and Q4_0
// blocks (ggml's reference quantizers), and the byte layout of a written
// GGUF v3 file (header, KV encoding, alignment and padding).
//
//===----------------------------------------------------------------------===//

#include "GGUFTestUtil.h"

#include "llvm/ADT/APFloat.h"

#include <cmath>
#include <limits>

using namespace qopt::model;
using namespace qopt::model::testing;

namespace {

/// binary16 bits of `value` by APFloat (round to nearest even).
uint16_t apHalf(float value) {
  llvm::APFloat ap(value);
  bool losesInfo;
  ap.convert(llvm::APFloat::IEEEhalf(), llvm::APFloat::rmNearestTiesToEven,
             &losesInfo);
  return uint16_t(ap.bitcastToAPInt().getZExtValue());
}

TEST(GGUFWriterTest, HalfConversionMatchesAPFloat) {
  std::vector<float> values = {0.0f,
                               -0.0f,
                               1.0f,
                               -2.5f,
                               65504.0f,
                               65519.0f,
                               65520.0f,
                               1e6f,
                               -1e6f,
                               6.1e-5f,
                               5.96e-8f,
                               2.98e-8f,
                               2.99e-8f,
                               1e-9f,
                               0.1f,
                               1.0f / 3,
                               std::numeric_limits<float>::infinity()};
  std::vector<float> random = randomValues(20000, 7, 70000.0f);
  values.insert(values.end(), random.begin(), random.end());
  for (float v : randomValues(20000, 8, 1e-4f))
    values.push_back(v);
  for (float value : values)
    EXPECT_EQ(floatToHalf(value), apHalf(value)) << value;
  EXPECT_TRUE(std::isnan(halfToFloat(floatToHalf(std::nanf("")))));

  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    llvm::APFloat ap(llvm::APFloat::IEEEhalf(), llvm::APInt(16, bits));
    float expected = ap.convertToFloat();
    float actual = halfToFloat(uint16_t(bits));
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(actual)) << bits;
      continue;
    }
    uint32_t a, e;
    std::memcpy(&a, &actual, 4);
    std::memcpy(&e, &expected, 4);
    EXPECT_EQ(a, e) << bits;
    // Every finite half survives the round trip.
    EXPECT_EQ(floatToHalf(actual), bits);
  }
}

TEST(GGUFWriterTest, BF16ConversionMatchesAPFloat) {
  for (float value : randomValues(20000, 9, 1e5f)) {
    llvm::APFloat ap(value);
    bool losesInfo;
    ap.convert(llvm::APFloat::BFloat(), llvm::APFloat::rmNearestTiesToEven,
               &losesInfo);
    EXPECT_EQ(floatToBF16(value), ap.bitcastToAPInt().getZExtValue());
    EXPECT_EQ(floatToBF16(bf16ToFloat(floatToBF16(value))), floatToBF16(value));
  }
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBF16(std::nanf("")))));
}

/// x[j] = j - 16: -16 .. 15.
std::vector<float> ramp() {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j)
    x[j] = float(j - 16);
  return x;
}

TEST(GGUFWriterTest, Q8_0HandWorkedBlock) {
  // amax = 16, d = 16/127 = 0.1259843 -> f16 0x3008 (0.12597656);
  // q = round(x * 127/16).
  std::vector<uint8_t> block = quantizeQ8_0(ramp());
  ASSERT_EQ(block.size(), 34u);
  EXPECT_EQ(block[0], 0x08);
  EXPECT_EQ(block[1], 0x30);
  EXPECT_EQ(int8_t(block[2 + 0]), -127); // -16
  EXPECT_EQ(int8_t(block[2 + 15]), -8);  // -1 * 7.9375
  EXPECT_EQ(int8_t(block[2 + 16]), 0);   // 0
  EXPECT_EQ(int8_t(block[2 + 17]), 8);   // 7.9375
  EXPECT_EQ(int8_t(block[2 + 18]), 16);  // 15.875
  EXPECT_EQ(int8_t(block[2 + 31]), 119); // 119.0625
  EXPECT_EQ(int8_t(block[2 + 10]), -48); // -6 * 7.9375 = -47.625
  std::vector<float> back = dequantize(DType::Q8_0, block.data(), 32);
  EXPECT_FLOAT_EQ(back[0], -127 * 0.12597656f);

  // An all-zero block has d = 0 and zero codes.
  std::vector<uint8_t> zeros = quantizeQ8_0(std::vector<float>(32, 0.0f));
  EXPECT_EQ(zeros, std::vector<uint8_t>(34, 0));
}

TEST(GGUFWriterTest, Q4_0HandWorkedBlock) {
  // max = -16 (largest magnitude, sign kept), d = -16 / -8 = 2 -> 0x4000;
  // nibble = min(15, (int8)(x / 2 + 8.5)); element j is the low nibble of
  // byte j, element j + 16 the high nibble.
  std::vector<uint8_t> block = quantizeQ4_0(ramp());
  ASSERT_EQ(block.size(), 18u);
  EXPECT_EQ(block[0], 0x00);
  EXPECT_EQ(block[1], 0x40);
  EXPECT_EQ(block[2 + 0], 0x80);  // x=-16 -> 0, x=0 -> 8
  EXPECT_EQ(block[2 + 1], 0x91);  // x=-15 -> 1, x=1 -> 9
  EXPECT_EQ(block[2 + 15], 0xF8); // x=-1 -> 8, x=15 -> min(15, 16)
  std::vector<float> back = dequantize(DType::Q4_0, block.data(), 32);
  EXPECT_EQ(back[0], -16.0f);
  EXPECT_EQ(back[17], 2.0f);
  EXPECT_EQ(back[31], 14.0f);

  // A positive maximum gives a negative scale: x = 8 -> nibble 0.
  std::vector<float> x(32, 0.0f);
  x[3] = 8.0f;
  x[20] = -4.0f;
  block = quantizeQ4_0(x);
  EXPECT_EQ(halfToFloat(uint16_t(block[0] | block[1] << 8)), -1.0f);
  EXPECT_EQ(block[2 + 3] & 0xF, 0); // 8 * -1 + 8.5 = 0.5
  EXPECT_EQ(block[2 + 4] >> 4, 12); // -4 * -1 + 8.5 = 12.5
  EXPECT_EQ(block[2 + 0], 0x88);    // zeros -> 8
  back = dequantize(DType::Q4_0, block.data(), 32);
  EXPECT_EQ(back[3], 8.0f);
  EXPECT_EQ(back[20], -4.0f);
  EXPECT_EQ(back[0], 0.0f);
}

TEST(GGUFWriterTest, QuantizerErrorIsBounded) {
  std::vector<float> x = randomValues(32 * 64, 3, 2.0f);
  std::vector<float> q8 =
      dequantize(DType::Q8_0, quantizeQ8_0(x).data(), int64_t(x.size()));
  std::vector<float> q4 =
      dequantize(DType::Q4_0, quantizeQ4_0(x).data(), int64_t(x.size()));
  for (size_t b = 0; b < x.size() / 32; ++b) {
    float amax = 0;
    for (size_t j = 0; j < 32; ++j)
      amax = std::max(amax, std::fabs(x[b * 32 + j]));
    for (size_t j = 0; j < 32; ++j) {
      size_t i = b * 32 + j;
      EXPECT_LE(std::fabs(q8[i] - x[i]), 0.6f * amax / 127) << i;
      // Elements of the opposite sign to the extreme clamp at nibble 15.
      EXPECT_LE(std::fabs(q4[i] - x[i]), 1.05f * amax / 8) << i;
    }
  }
}

TEST(GGUFWriterTest, FileLayout) {
  GGUFWriter writer;
  writer.setAlignment(64);
  writer.addString("general.architecture", "llama");
  writer.addBool("b", true);
  writer.addStringArray("s", {"x", "yz"});
  std::vector<float> values = {1, 2, 3};
  writer.addTensorF32("t0", {3}, values);
  writer.addTensorF32("t1", {2, 32}, randomValues(64, 1), GGMLType::Q8_0);
  std::vector<uint8_t> bytes = writer.serialize();

  size_t at = 0;
  EXPECT_EQ(loadAt<uint32_t>(bytes, 0), 0x46554747u);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 4), "GGUF");
  EXPECT_EQ(loadAt<uint32_t>(bytes, 4), 3u);
  EXPECT_EQ(loadAt<uint64_t>(bytes, 8), 2u);  // tensors
  EXPECT_EQ(loadAt<uint64_t>(bytes, 16), 4u); // KVs, general.alignment first
  at = 24;
  auto expectString = [&](llvm::StringRef s) {
    EXPECT_EQ(loadAt<uint64_t>(bytes, at), s.size());
    EXPECT_EQ(
        std::string(bytes.begin() + at + 8, bytes.begin() + at + 8 + s.size()),
        s.str());
    at += 8 + s.size();
  };
  expectString("general.alignment");
  EXPECT_EQ(loadAt<uint32_t>(bytes, at), 4u);
  EXPECT_EQ(loadAt<uint32_t>(bytes, at + 4), 64u);
  at += 8;
  expectString("general.architecture");
  EXPECT_EQ(loadAt<uint32_t>(bytes, at), 8u);
  at += 4;
  expectString("llama");
  expectString("b");
  EXPECT_EQ(loadAt<uint32_t>(bytes, at), 7u);
  EXPECT_EQ(bytes[at + 4], 1);
  at += 5;
  expectString("s");
  EXPECT_EQ(loadAt<uint32_t>(bytes, at), 9u);
  EXPECT_EQ(loadAt<uint32_t>(bytes, at + 4), 8u);
  EXPECT_EQ(loadAt<uint64_t>(bytes, at + 8), 2u);
  at += 16;
  expectString("x");
  expectString("yz");
  // Tensor infos: ggml dims are reversed.
  expectString("t0");
  EXPECT_EQ(loadAt<uint32_t>(bytes, at), 1u);
  EXPECT_EQ(loadAt<uint64_t>(bytes, at + 4), 3u);
  EXPECT_EQ(loadAt<uint32_t>(bytes, at + 12), 0u);
  EXPECT_EQ(loadAt<uint64_t>(bytes, at + 16), 0u);
  at += 24;
  expectString("t1");
  EXPECT_EQ(loadAt<uint32_t>(bytes, at), 2u);
  EXPECT_EQ(loadAt<uint64_t>(bytes, at + 4), 32u);
  EXPECT_EQ(loadAt<uint64_t>(bytes, at + 12), 2u);
  EXPECT_EQ(loadAt<uint32_t>(bytes, at + 20), 8u);
  EXPECT_EQ(loadAt<uint64_t>(bytes, at + 24), 64u); // 12 bytes padded to 64
  at += 32;
  size_t dataStart = (at + 63) / 64 * 64;
  for (size_t i = at; i < dataStart; ++i)
    EXPECT_EQ(bytes[i], 0) << i;
  EXPECT_EQ(loadAt<float>(bytes, dataStart + 8), 3.0f);
  EXPECT_EQ(bytes.size(), dataStart + 64 + 128); // 68 bytes padded to 128
  EXPECT_EQ(bytes.size() % 64, 0u);
}

} // namespace
