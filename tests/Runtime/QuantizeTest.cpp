//===- QuantizeTest.cpp - Grouped quantization tests ------------*- C++ -*-===//
//
// Hand-worked quantize / dequantize examples, the round-trip error bound on
// random matrices for every grouping, consistency between the RTN and
// given-parameter paths, and dequantization of Matryoshka slices.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/QOptRuntime.h"
#include "qopt/Runtime/QuantMath.h"
#include "qopt/Runtime/Runtime.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

using qopt::runtime::makeQuantParams;

namespace {

TEST(Quantize, AsymmetricTwoBitWorkedExample) {
  // lo = -1, hi = 2, scale = 3 / 3 = 1, zero = round(1 / 1) = 1.
  // 0.5 / 1 = 0.5 rounds half-even to 0, so its code is 0 + 1 = 1.
  const float x[] = {-1.0f, 0.0f, 0.5f, 2.0f};
  qopt_quant_params p = makeQuantParams(2, QOPT_ASYMMETRIC, 4);
  ASSERT_EQ(qopt_num_groups(1, 4, &p), 1u);
  uint8_t codes[4];
  float scale = 0, zero = 0;
  ASSERT_EQ(qopt_quantize_rtn(x, 1, 4, &p, codes, &scale, &zero), QOPT_OK);
  EXPECT_EQ(scale, 1.0f);
  EXPECT_EQ(zero, 1.0f);
  EXPECT_EQ(codes[0], 0);
  EXPECT_EQ(codes[1], 1);
  EXPECT_EQ(codes[2], 1);
  EXPECT_EQ(codes[3], 3);

  float w[4];
  ASSERT_EQ(qopt_dequantize(codes, 1, 4, &p, &scale, &zero, w), QOPT_OK);
  EXPECT_EQ(w[0], -1.0f);
  EXPECT_EQ(w[1], 0.0f);
  EXPECT_EQ(w[2], 0.0f);
  EXPECT_EQ(w[3], 2.0f);
}

TEST(Quantize, AsymmetricTiesRoundToEven) {
  // lo = 0, hi = 3: scale 1, zero 0. 0.5 -> 0, 1.5 -> 2, 2.5 -> 2.
  const float x[] = {0.5f, 1.5f, 2.5f, 3.0f};
  qopt_quant_params p = makeQuantParams(2, QOPT_ASYMMETRIC, 0);
  uint8_t codes[4];
  float scale = 0, zero = -1;
  ASSERT_EQ(qopt_quantize_rtn(x, 2, 2, &p, codes, &scale, &zero), QOPT_OK);
  EXPECT_EQ(scale, 1.0f);
  EXPECT_EQ(zero, 0.0f);
  EXPECT_EQ(codes[0], 0);
  EXPECT_EQ(codes[1], 2);
  EXPECT_EQ(codes[2], 2);
  EXPECT_EQ(codes[3], 3);
}

TEST(Quantize, SymmetricEightBitWorkedExample) {
  // absmax = 127, scale = 127 / 127 = 1, zero = 128.
  const float x[] = {-127.0f, 0.0f, 63.5f, 127.0f, 1.5f, -2.5f};
  const uint8_t expected[] = {1, 128, 192, 255, 130, 126};
  const float back[] = {-127.0f, 0.0f, 64.0f, 127.0f, 2.0f, -2.0f};
  qopt_quant_params p = makeQuantParams(8, QOPT_SYMMETRIC, 6);
  uint8_t codes[6];
  float scale = 0, zero = 0;
  ASSERT_EQ(qopt_quantize_rtn(x, 1, 6, &p, codes, &scale, &zero), QOPT_OK);
  EXPECT_EQ(scale, 1.0f);
  EXPECT_EQ(zero, 128.0f);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(codes[i], expected[i]) << i;

  // Symmetric zeros may be omitted.
  float w[6];
  ASSERT_EQ(qopt_dequantize(codes, 1, 6, &p, &scale, nullptr, w), QOPT_OK);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(w[i], back[i]) << i;
  uint8_t again[6];
  ASSERT_EQ(qopt_quantize_with_params(x, 1, 6, &p, &scale, nullptr, again),
            QOPT_OK);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(again[i], expected[i]) << i;
}

TEST(Quantize, GroupLayoutIsRowMajor) {
  // 2 x 4, group 2: four groups, each {0, g+1}; asym 1-bit makes scale g+1.
  const float x[] = {0, 1, 0, 2, 0, 3, 0, 4};
  qopt_quant_params p = makeQuantParams(1, QOPT_ASYMMETRIC, 2);
  ASSERT_EQ(qopt_num_groups(2, 4, &p), 4u);
  uint8_t codes[8];
  float scales[4], zeros[4];
  ASSERT_EQ(qopt_quantize_rtn(x, 2, 4, &p, codes, scales, zeros), QOPT_OK);
  for (int g = 0; g < 4; ++g) {
    EXPECT_EQ(scales[g], static_cast<float>(g + 1));
    EXPECT_EQ(zeros[g], 0.0f);
    EXPECT_EQ(codes[2 * g], 0);
    EXPECT_EQ(codes[2 * g + 1], 1);
  }
}

TEST(Quantize, NaNMapsToZeroPoint) {
  const float x[] = {-1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f};
  qopt_quant_params p = makeQuantParams(2, QOPT_ASYMMETRIC, 3);
  uint8_t codes[3];
  float scale, zero;
  ASSERT_EQ(qopt_quantize_rtn(x, 1, 3, &p, codes, &scale, &zero), QOPT_OK);
  EXPECT_EQ(scale, 1.0f);
  EXPECT_EQ(codes[1], static_cast<uint8_t>(zero));
}

TEST(Quantize, EmptyMatrixIsANoOp) {
  qopt_quant_params p = makeQuantParams(4, QOPT_ASYMMETRIC, 0);
  EXPECT_EQ(qopt_num_groups(0, 5, &p), 0u);
  EXPECT_EQ(qopt_num_groups(5, 0, &p), 0u);
  EXPECT_EQ(qopt_quantize_rtn(nullptr, 0, 5, &p, nullptr, nullptr, nullptr),
            QOPT_OK);
  EXPECT_EQ(
      qopt_quantize_with_params(nullptr, 5, 0, &p, nullptr, nullptr, nullptr),
      QOPT_OK);
  EXPECT_EQ(qopt_dequantize(nullptr, 0, 0, &p, nullptr, nullptr, nullptr),
            QOPT_OK);
}

/// Round-trip bound on random matrices for one configuration.
void checkRoundTrip(std::mt19937 &rng, size_t rows, size_t cols, unsigned bits,
                    qopt_scheme scheme, size_t group) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(rows * cols);
  for (auto &v : x)
    v = dist(rng) * 0.1f + (scheme == QOPT_ASYMMETRIC ? 0.05f : 0.0f);
  qopt_quant_params p = makeQuantParams(bits, scheme, group);
  qopt::runtime::QuantizedMatrix q;
  ASSERT_EQ(qopt::runtime::quantizeRTN(x, rows, cols, p, q), QOPT_OK);
  size_t groups = qopt_num_groups(rows, cols, &p);
  ASSERT_EQ(q.scales.size(), groups);
  size_t groupSize = group == 0 ? rows * cols : group;
  ASSERT_EQ(groups * groupSize, rows * cols);

  std::vector<float> w;
  ASSERT_EQ(qopt::runtime::dequantize(q, rows, cols, p, w), QOPT_OK);
  for (size_t i = 0; i < x.size(); ++i) {
    float scale = q.scales[i / groupSize];
    float tol = 0.5f * scale + 1e-5f * std::max(1.0f, std::fabs(x[i]));
    ASSERT_LE(std::fabs(x[i] - w[i]), tol)
        << "bits=" << bits << " scheme=" << scheme << " group=" << group
        << " i=" << i;
  }

  // The given-parameter path reproduces the RTN codes.
  std::vector<uint8_t> codes(x.size());
  ASSERT_EQ(qopt_quantize_with_params(x.data(), rows, cols, &p, q.scales.data(),
                                      q.zeros.data(), codes.data()),
            QOPT_OK);
  ASSERT_EQ(codes, q.codes);
}

TEST(Quantize, RoundTripErrorBound) {
  std::mt19937 rng(2024);
  const size_t rows = 8, cols = 256;
  for (unsigned bits = 2; bits <= 8; ++bits)
    for (qopt_scheme scheme : {QOPT_SYMMETRIC, QOPT_ASYMMETRIC})
      for (size_t group : {size_t(32), size_t(64), cols, size_t(0)})
        checkRoundTrip(rng, rows, cols, bits, scheme, group);
  checkRoundTrip(rng, rows, cols, 1, QOPT_ASYMMETRIC, 32);
}

TEST(Quantize, DequantizeSlicesInParentUnits) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const size_t rows = 4, cols = 128, group = 32;
  std::vector<float> x(rows * cols);
  for (auto &v : x)
    v = dist(rng);
  for (qopt_scheme scheme : {QOPT_SYMMETRIC, QOPT_ASYMMETRIC}) {
    qopt_quant_params p8 = makeQuantParams(8, scheme, group);
    qopt::runtime::QuantizedMatrix q;
    ASSERT_EQ(qopt::runtime::quantizeRTN(x, rows, cols, p8, q), QOPT_OK);
    std::vector<uint8_t> nested;
    ASSERT_EQ(qopt::runtime::packNested(q.codes, 8, nested), QOPT_OK);

    for (unsigned r = 1; r <= 8; ++r) {
      std::vector<uint8_t> sliced(x.size()), fromNested;
      ASSERT_EQ(qopt_slice_codes(q.codes.data(), x.size(), 8, r, sliced.data()),
                QOPT_OK);
      ASSERT_EQ(qopt::runtime::sliceNested(nested, x.size(), 8, r, fromNested),
                QOPT_OK);
      ASSERT_EQ(sliced, fromNested);

      qopt_quant_params pr = makeQuantParams(r, scheme, group, r == 8 ? 0 : 8);
      std::vector<float> w(x.size());
      const float *zeros = scheme == QOPT_SYMMETRIC ? nullptr : q.zeros.data();
      ASSERT_EQ(qopt_dequantize(sliced.data(), rows, cols, &pr, q.scales.data(),
                                zeros, w.data()),
                QOPT_OK);
      for (size_t i = 0; i < x.size(); ++i) {
        float scale = q.scales[i / group];
        float zero = q.zeros[i / group];
        float expected =
            scale * (static_cast<float>(sliced[i] << (8 - r)) - zero);
        ASSERT_EQ(w[i], expected) << "r=" << r << " i=" << i;
        ASSERT_EQ(sliced[i] << (8 - r),
                  qopt::runtime::sliceValue(q.codes[i], 8, r));
      }
    }
  }
}

} // namespace
