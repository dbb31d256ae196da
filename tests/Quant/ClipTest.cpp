//===- ClipTest.cpp - H-weighted clipping search tests ----------*- C++ -*-===//
//
// clipQuantize: never worse than RTN under its own measure (both measures,
// group by group), strictly better in total at low bits, RTN exactly when
// the search has no points, and the clipped parameters are QuantMath's
// min-max parameters of a shrunk range.
//
//===----------------------------------------------------------------------===//

#include "QuantTestUtils.h"

#include "qopt/Quant/GPTQ.h"
#include "qopt/Runtime/QuantMath.h"

#include "gtest/gtest.h"

#include <vector>

using namespace qopt::quant;
using namespace qopt::quant::testing;
namespace rt = ::qopt::runtime;

namespace {

/// The clipping measure of group g of row `row`, computed directly.
double measure(const std::vector<float> &w, int64_t cols,
               const std::vector<double> &h, const QuantizedWeight &q,
               int64_t groupSize, int64_t row, int64_t g, ClipMeasure kind) {
  int64_t c0 = g * groupSize, n = std::min(groupSize, cols - c0);
  float scale = q.scales[row * q.groupsPerRow + g];
  float zero = q.zeros[row * q.groupsPerRow + g];
  std::vector<double> e(n);
  for (int64_t c = 0; c < n; ++c)
    e[c] = w[row * cols + c0 + c] -
           rt::dequantizeValue(q.codes[row * cols + c0 + c], scale, zero);
  double total = 0.0;
  for (int64_t a = 0; a < n; ++a)
    for (int64_t b = 0; b < n; ++b)
      if (kind == ClipMeasure::GroupBlock || a == b)
        total += e[a] * h[(c0 + a) * cols + c0 + b] * e[b];
  return total;
}

TEST(Clip, NeverWorseThanRTNUnderItsMeasure) {
  const int64_t rows = 40, cols = 60, group = 16;
  std::vector<float> w = randomWeight(rows, cols, 71);
  std::vector<double> h = correlatedHessian(cols, 3 * cols, 0.8, 72);
  for (ClipMeasure kind : {ClipMeasure::Diagonal, ClipMeasure::GroupBlock}) {
    for (unsigned bits : {2u, 3u, 4u}) {
      SCOPED_TRACE(::testing::Message() << "bits " << bits << " block "
                                        << (kind == ClipMeasure::GroupBlock));
      QuantConfig config;
      config.bits = bits;
      config.groupSize = group;
      ClipOptions options;
      options.measure = kind;
      QuantizedWeight rtn = valueOf(rtnQuantize(w, rows, cols, config));
      QuantizedWeight clipped =
          valueOf(clipQuantize(w, rows, cols, h, config, options));
      double rtnTotal = 0.0, clipTotal = 0.0;
      int64_t changed = 0;
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t g = 0; g < rtn.groupsPerRow; ++g) {
          double a = measure(w, cols, h, rtn, group, r, g, kind);
          double b = measure(w, cols, h, clipped, group, r, g, kind);
          EXPECT_LE(b, a) << "row " << r << " group " << g;
          rtnTotal += a;
          clipTotal += b;
          changed += clipped.scales[r * rtn.groupsPerRow + g] !=
                     rtn.scales[r * rtn.groupsPerRow + g];
        }
      }
      EXPECT_LT(clipTotal, 0.97 * rtnTotal);
      EXPECT_GT(changed, 0);
    }
  }
}

TEST(Clip, WithoutPointsIsRTN) {
  const int64_t rows = 10, cols = 50;
  std::vector<float> w = randomWeight(rows, cols, 81);
  std::vector<double> h = correlatedHessian(cols, 2 * cols, 0.5, 82);
  QuantConfig config;
  config.bits = 3;
  config.groupSize = 16;
  config.scaleType = ScaleType::F16;
  ClipOptions options;
  options.rangeSearch.points = 0;
  QuantizedWeight rtn = valueOf(rtnQuantize(w, rows, cols, config));
  QuantizedWeight clipped =
      valueOf(clipQuantize(w, rows, cols, h, config, options));
  EXPECT_EQ(clipped.codes, rtn.codes);
  EXPECT_EQ(clipped.scales, rtn.scales);
  EXPECT_EQ(clipped.zeros, rtn.zeros);
}

/// Symmetric, per channel: a clipped scale is absmax * m / (2^(c-1) - 1)
/// for an m of the grid, never above RTN's.
TEST(Clip, ScalesComeFromTheGrid) {
  const int64_t rows = 16, cols = 32;
  std::vector<float> w = randomWeight(rows, cols, 91);
  std::vector<double> h = correlatedHessian(cols, 2 * cols, 0.6, 92);
  QuantConfig config;
  config.bits = 4;
  config.groupSize = 0;
  config.scheme = rt::Scheme::Symmetric;
  ClipOptions options;
  options.rangeSearch = {5, 0.6, 1.0};
  QuantizedWeight rtn = valueOf(rtnQuantize(w, rows, cols, config));
  QuantizedWeight clipped =
      valueOf(clipQuantize(w, rows, cols, h, config, options));
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_EQ(clipped.zeros[r], 8.0f);
    bool onGrid = false;
    for (float m : {1.0f, 0.6f, 0.7f, 0.8f, 0.9f}) {
      std::vector<float> scaled(w.begin() + r * cols,
                                w.begin() + (r + 1) * cols);
      for (float &x : scaled)
        x *= m;
      rt::GroupParams p = rt::computeGroupParams(scaled.data(), cols, 1, 4,
                                                 rt::Scheme::Symmetric);
      onGrid |= p.scale == clipped.scales[r];
    }
    EXPECT_TRUE(onGrid) << "row " << r;
    EXPECT_LE(clipped.scales[r], rtn.scales[r]);
  }
}

} // namespace
