//===- KQuantTest.cpp - GGUF K-quants against ggml --------------*- C++ -*-===//
//
// The K-quant types (Q2_K..Q6_K) against llama.cpp's own ggml:
// data/kquant-reference.gguf holds, for each type, 4 rows of 512 values
// quantized by ggml and ggml's dequantization of those bytes (README.md
// there). toF32 must reproduce ggml's values bit for bit; toBlockQuantized
// (qopt's codes, scales and zero points, what the importer feeds to the
// kernels) must give the same values through w = a * (q - z), exactly for
// the symmetric types and within a few ulp for those with minimums. Then
// qopt's own encoder (quantizeKQuant) round-trips through the decoder, the
// two-level form packs back into the file's bytes (packTwoLevelKQuant, the
// GGUF export of imported K-quants), and malformed K-quant tensors are
// refused.
//
//===----------------------------------------------------------------------===//

#include "GGUFFile.h"
#include "GGUFTestUtil.h"

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/GGUFWriter.h"

#include "gtest/gtest.h"

#include <cmath>
#include <random>

using namespace qopt::model;
using namespace qopt::model::testing;

namespace {

/// The value of `value`, or a test failure and a default value.
template <typename T> T unwrap(llvm::Expected<T> value) {
  if (!value) {
    ADD_FAILURE() << errorText(value.takeError());
    return T();
  }
  return std::move(*value);
}

/// Expects `value` to be an error whose message contains `part`.
template <typename T>
void expectError(llvm::Expected<T> value, llvm::StringRef part) {
  if (value) {
    ADD_FAILURE() << "expected an error containing '" << part.str() << "'";
    return;
  }
  std::string text = errorText(value.takeError());
  EXPECT_NE(text.find(part.str()), std::string::npos) << text;
}

struct KType {
  const char *name;
  DType dtype;
  GGMLType ggml;
  unsigned bits;
  int64_t group;
  bool asymmetric;
};

const KType kTypes[] = {
    {"q2_K", DType::Q2_K, GGMLType::Q2_K, 2, 16, true},
    {"q3_K", DType::Q3_K, GGMLType::Q3_K, 3, 16, false},
    {"q4_K", DType::Q4_K, GGMLType::Q4_K, 4, 32, true},
    {"q5_K", DType::Q5_K, GGMLType::Q5_K, 5, 32, true},
    {"q6_K", DType::Q6_K, GGMLType::Q6_K, 6, 16, false},
};

std::string referencePath() {
  return std::string(QOPT_TEST_DATA_DIR) + "/kquant-reference.gguf";
}

/// A TensorRef of `dtype` and `shape` over `bytes`.
TensorRef tensorOver(DType dtype, std::vector<int64_t> shape,
                     const std::vector<uint8_t> &bytes) {
  TensorRef ref;
  ref.name = ref.sourceName = "t";
  ref.dtype = dtype;
  ref.shape = std::move(shape);
  ref.data = bytes.data();
  ref.numBytes = bytes.size();
  return ref;
}

/// A TensorRef over tensor `name` of the parsed reference file.
TensorRef tensorOf(const gguf::GGUFFile &file, llvm::StringRef name) {
  TensorRef ref;
  auto it = file.tensorIndex.find(name);
  if (it == file.tensorIndex.end()) {
    ADD_FAILURE() << "reference file has no tensor " << name.str();
    return ref;
  }
  const gguf::TensorInfo &info = file.tensors[it->second];
  ref.name = ref.sourceName = info.name.str();
  ref.file = file.path;
  ref.dtype = info.dtype;
  ref.shape = info.shape;
  ref.data = info.data;
  ref.numBytes = info.numBytes;
  return ref;
}

class KQuantReferenceTest : public ::testing::TestWithParam<KType> {
protected:
  void SetUp() override {
    auto parsed = gguf::parseGGUF(referencePath(), /*withTensors=*/true);
    ASSERT_TRUE(bool(parsed)) << llvm::toString(parsed.takeError());
    file = std::move(*parsed);
  }
  std::unique_ptr<gguf::GGUFFile> file;
};

TEST_P(KQuantReferenceTest, ToF32IsBitExact) {
  const KType &type = GetParam();
  TensorRef quantized = tensorOf(*file, type.name);
  TensorRef reference = tensorOf(*file, std::string(type.name) + ".ref");
  ASSERT_EQ(quantized.dtype, type.dtype);
  ASSERT_EQ(quantized.shape, (std::vector<int64_t>{4, 512}));
  std::vector<float> got = unwrap(toF32(quantized));
  std::vector<float> want = unwrap(toF32(reference));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], want[i]) << type.name << " element " << i;
}

TEST_P(KQuantReferenceTest, CodesScalesAndZerosGiveGgmlValues) {
  const KType &type = GetParam();
  TensorRef quantized = tensorOf(*file, type.name);
  std::vector<float> want =
      unwrap(toF32(tensorOf(*file, std::string(type.name) + ".ref")));
  BlockQuantized q = unwrap(toBlockQuantized(quantized));
  EXPECT_EQ(q.bits, type.bits);
  EXPECT_EQ(q.groupSize, type.group);
  EXPECT_EQ(q.asymmetric, type.asymmetric);
  ASSERT_EQ(q.codes.size(), want.size());
  ASSERT_EQ(q.scales.size(), want.size() / type.group);
  EXPECT_EQ(q.zeros.size(), type.asymmetric ? q.scales.size() : 0u);
  float symmetricZero = float(1 << (type.bits - 1));
  for (size_t i = 0; i < want.size(); ++i) {
    size_t g = i / type.group;
    ASSERT_LT(q.codes[i], 1u << type.bits) << i;
    if (!type.asymmetric) {
      // a * (q - 2^(bits-1)) is ggml's expression: equal.
      ASSERT_EQ(q.scales[g] * (float(q.codes[i]) - symmetricZero), want[i])
          << type.name << " element " << i;
      continue;
    }
    // a * (q - z) with z = m / a rounded to f32: a few ulp of the larger of
    // a * q and m.
    double a = q.scales[g], z = q.zeros[g];
    double value = a * (double(q.codes[i]) - z);
    double magnitude = std::fabs(a) * ((1 << type.bits) - 1) + std::fabs(a * z);
    ASSERT_NEAR(value, want[i], 4 * magnitude * 0x1p-24 + 1e-30)
        << type.name << " element " << i;
  }
}

/// A two-level record's super-scale (f16 bits at `record`) and sub-code
/// `g` (a nibble or a signed byte), as the lowering reads them.
static float recordSuper(const uint8_t *record) {
  return halfToFloat(uint16_t(record[0] | (record[1] << 8)));
}
static int recordSub(const uint8_t *record, unsigned subBits, int64_t g) {
  if (subBits == 4)
    return (record[2 + g / 2] >> (4 * (g % 2))) & 0xF;
  return int8_t(record[2 + g]);
}

/// The two-level form (qopt's `super = 256` records) gives ggml's values
/// bit for bit: d * s * (q - z), or d * s * q - dmin * m, in f32 in that
/// order, which is how the kernels evaluate it.
TEST_P(KQuantReferenceTest, TwoLevelRecordsGiveGgmlValuesExactly) {
  const KType &type = GetParam();
  TensorRef quantized = tensorOf(*file, type.name);
  std::vector<float> want =
      unwrap(toF32(tensorOf(*file, std::string(type.name) + ".ref")));
  TwoLevelQuantized q = unwrap(toTwoLevelQuantized(quantized));
  EXPECT_EQ(q.bits, type.bits);
  EXPECT_EQ(q.groupSize, type.group);
  EXPECT_EQ(q.asymmetric, type.asymmetric);
  EXPECT_EQ(q.superSize, 256);
  EXPECT_EQ(q.subBits, type.dtype == DType::Q2_K ? 4u : 8u);
  int64_t perSuper = 256 / type.group;
  EXPECT_EQ(q.recordBytes, 2 + (perSuper * q.subBits + 7) / 8);
  ASSERT_EQ(q.codes.size(), want.size());
  ASSERT_EQ(q.scaleRecords.size(), want.size() / 256 * q.recordBytes);
  EXPECT_EQ(q.minRecords.size(), type.asymmetric ? q.scaleRecords.size() : 0u);
  float symmetricZero = float(1 << (type.bits - 1));
  for (size_t i = 0; i < want.size(); ++i) {
    size_t block = i / 256;
    int64_t g = int64_t(i % 256) / type.group;
    const uint8_t *record = q.scaleRecords.data() + block * q.recordBytes;
    float a = recordSuper(record) * float(recordSub(record, q.subBits, g));
    float code = float(q.codes[i]);
    float got;
    if (type.asymmetric) {
      const uint8_t *mins = q.minRecords.data() + block * q.recordBytes;
      float m = recordSuper(mins) * float(recordSub(mins, q.subBits, g));
      got = a * code - m;
    } else {
      got = a * (code - symmetricZero);
    }
    ASSERT_EQ(got, want[i]) << type.name << " element " << i;
  }
}

TEST_P(KQuantReferenceTest, BitsMustMatchTheType) {
  const KType &type = GetParam();
  TensorRef quantized = tensorOf(*file, type.name);
  expectError(toBlockQuantized(quantized, type.bits == 8 ? 4 : 8),
              std::string("is ") + type.name);
}

TEST_P(KQuantReferenceTest, EncoderRoundTrips) {
  const KType &type = GetParam();
  // The reference file's source values, through qopt's encoder and back.
  std::vector<float> source = unwrap(toF32(tensorOf(*file, "source")));
  std::vector<uint8_t> bytes = quantizeKQuant(type.ggml, source);
  ASSERT_EQ(bytes.size(), tensorOf(*file, type.name).numBytes);
  TensorRef encoded = tensorOver(type.dtype, {4, 512}, bytes);
  std::vector<float> back = unwrap(toF32(encoded));
  BlockQuantized q = unwrap(toBlockQuantized(encoded));
  // Each value is within one step of its group: the encoder rounds the
  // minimums and scales outwards, so only rounding (half a step) and the
  // one-sided clamp of the symmetric formats (their top code is
  // 2^(bits-1) - 1) remain.
  for (size_t i = 0; i < source.size(); ++i) {
    float step = std::fabs(q.scales[i / type.group]);
    ASSERT_LE(std::fabs(back[i] - source[i]), step * 1.0001f + 1e-7f)
        << type.name << " element " << i;
  }
  // Row 0 is N(0, 0.02): the typical error shrinks with the width.
  double err = 0;
  for (size_t i = 0; i < 512; ++i)
    err += std::fabs(back[i] - source[i]);
  err /= 512;
  double limit[] = {0.0, 0.0, 0.012, 0.005, 0.0025, 0.0013, 0.0007};
  EXPECT_LT(err, limit[type.bits]) << type.name;
}

/// The two-level form packs back into the file's bytes: ggml's blocks,
/// and random ones (every bit of a K-quant block is a field, so any bytes
/// decode to numbers that pack back into them).
TEST_P(KQuantReferenceTest, TwoLevelPacksBackToTheFileBytes) {
  const KType &type = GetParam();
  TensorRef quantized = tensorOf(*file, type.name);
  EXPECT_EQ(kquantTypeOf(type.bits, type.group, type.asymmetric, 256,
                         type.dtype == DType::Q2_K ? 4 : 8),
            type.ggml);
  std::vector<uint8_t> original(quantized.data,
                                quantized.data + quantized.numBytes);
  TwoLevelQuantized q = unwrap(toTwoLevelQuantized(quantized));
  EXPECT_EQ(unwrap(packTwoLevelKQuant(q)), original) << type.name;

  std::mt19937 rng(7);
  std::vector<uint8_t> random(original.size());
  for (uint8_t &b : random)
    b = uint8_t(rng());
  TensorRef randomRef = tensorOver(type.dtype, quantized.shape, random);
  TwoLevelQuantized r = unwrap(toTwoLevelQuantized(randomRef));
  EXPECT_EQ(unwrap(packTwoLevelKQuant(r)), random) << type.name;
}

/// Numbers outside a K-quant's fields, sizes that do not match and forms no
/// K-quant has are errors, not wrapped bits.
TEST_P(KQuantReferenceTest, TwoLevelPackingRefusesWhatDoesNotFit) {
  const KType &type = GetParam();
  TwoLevelQuantized q = unwrap(toTwoLevelQuantized(tensorOf(*file, type.name)));
  // Block 1 with a number one past its field: a sub-scale (Q3_K 32, Q4_K
  // and Q5_K 64), or a code (Q2_K's nibbles and Q6_K's signed bytes fill
  // their fields, so code 4 / 64 instead).
  TwoLevelQuantized wide = q;
  if (type.dtype == DType::Q2_K || type.dtype == DType::Q6_K)
    wide.codes[256] = uint8_t(1u << type.bits);
  else
    wide.scaleRecords[q.recordBytes + 2] =
        uint8_t(type.dtype == DType::Q3_K ? 32 : 64);
  expectError(packTwoLevelKQuant(wide), "super-block 1 does not fit");
  // Q4_K and Q5_K minimums are unsigned.
  if (type.dtype == DType::Q4_K || type.dtype == DType::Q5_K) {
    TwoLevelQuantized negativeMin = q;
    negativeMin.minRecords[2] = 0xFF;
    expectError(packTwoLevelKQuant(negativeMin), "super-block 0 does not fit");
  }
  TwoLevelQuantized shortRecords = q;
  shortRecords.scaleRecords.pop_back();
  expectError(packTwoLevelKQuant(shortRecords), "records of the wrong size");
  TwoLevelQuantized otherForm = q;
  otherForm.groupSize *= 2;
  expectError(packTwoLevelKQuant(otherForm), "are no GGUF K-quant");
}

INSTANTIATE_TEST_SUITE_P(AllKQuants, KQuantReferenceTest,
                         ::testing::ValuesIn(kTypes),
                         [](const ::testing::TestParamInfo<KType> &info) {
                           return std::string(info.param.name);
                         });

TEST(KQuantTest, ReferenceRecordsItsLlamaCppVersion) {
  auto file = unwrap(gguf::parseGGUF(referencePath(), /*withTensors=*/false));
  auto version = unwrap(file->getOptionalString("qopt.reference.llama_cpp"));
  ASSERT_TRUE(version.has_value());
  EXPECT_FALSE(version->empty());
}

TEST(KQuantTest, GeometryAndNames) {
  for (const KType &type : kTypes) {
    EXPECT_EQ(dtypeName(type.dtype), type.name);
    EXPECT_TRUE(isBlockQuantized(type.dtype));
    EXPECT_EQ(blockGeometry(type.dtype).elements, 256);
  }
  EXPECT_EQ(blockGeometry(DType::Q2_K).bytes, 84);
  EXPECT_EQ(blockGeometry(DType::Q3_K).bytes, 110);
  EXPECT_EQ(blockGeometry(DType::Q4_K).bytes, 144);
  EXPECT_EQ(blockGeometry(DType::Q5_K).bytes, 176);
  EXPECT_EQ(blockGeometry(DType::Q6_K).bytes, 210);
  EXPECT_FALSE(isBlockQuantized(DType::F16));
}

/// A group whose scale is 0 but whose minimum is not holds one value,
/// -dmin * min: stored as codes 0, scale m, zero point 1.
TEST(KQuantTest, ZeroScaleWithMinimumIsExact) {
  std::vector<uint8_t> block(144, 0);
  // Q4_K: d = 1.0 (f16 0x3C00), dmin = 0.5 (0x3800); sub-block 0 scale 0,
  // min 3; sub-block 1 scale 2, min 0; codes 0x5 everywhere.
  block[0] = 0x00, block[1] = 0x3C, block[2] = 0x00, block[3] = 0x38;
  block[4 + 0] = 0; // scale 0
  block[4 + 4] = 3; // min 0
  block[4 + 1] = 2; // scale 1
  block[4 + 5] = 0; // min 1
  for (int i = 16; i < 144; ++i)
    block[i] = 0x55;
  TensorRef t = tensorOver(DType::Q4_K, {256}, block);
  std::vector<float> values = unwrap(toF32(t));
  BlockQuantized q = unwrap(toBlockQuantized(t));
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(values[i], -1.5f);
    EXPECT_EQ(q.codes[i], 0);
    EXPECT_EQ(q.scales[0] * (float(q.codes[i]) - q.zeros[0]), -1.5f);
  }
  for (int i = 32; i < 64; ++i) {
    EXPECT_EQ(values[i], 10.0f); // 1.0 * 2 * 5 - 0
    EXPECT_EQ(q.scales[1] * (float(q.codes[i]) - q.zeros[1]), 10.0f);
  }
}

TEST(KQuantTest, TwoLevelIsForKQuantsOnly) {
  std::vector<uint8_t> block(18, 0);
  TensorRef t = tensorOver(DType::Q4_0, {32}, block);
  expectError(toTwoLevelQuantized(t), "not a K-quant");
}

TEST(KQuantTest, RowsMustBeWholeSuperBlocks) {
  TempDir dir;
  std::string path = dir.path("bad.gguf");
  GGUFWriter writer;
  writer.addString("general.architecture", "llama");
  writer.addTensor("blk.0.attn_q.weight", GGMLType::Q4_K, {2, 128},
                   std::vector<uint8_t>(144, 0));
  ASSERT_FALSE(bool(writer.write(path)));
  expectError(gguf::parseGGUF(path, /*withTensors=*/true),
              "has a row length of 128, not a multiple of the block size 256");
}

TEST(KQuantTest, TruncatedDataIsRefused) {
  std::vector<uint8_t> block(100, 0);
  TensorRef t = tensorOver(DType::Q6_K, {256}, block);
  expectError(toF32(t), "expected 210");
  expectError(toBlockQuantized(t), "expected 210");
  expectError(toTwoLevelQuantized(t), "expected 210");
  t.shape = {2, 100};
  expectError(toF32(t), "last dimension must be a multiple of 256");
}

} // namespace
