//===- GPTQTest.cpp - GPTQ against a direct implementation ------*- C++ -*-===//
//
// gptqQuantize against a direct double-precision GPTQ written here (explicit
// inverse Hessian, every column's update applied at once, no Cholesky, no
// blocks): identical codes, scales and zeros over groupings, schemes,
// act-order, dead columns and f16 scales. Also: a diagonal H gives RTN
// exactly, GPTQ lowers the output error of RTN on a correlated H, the block
// size and thread count do not change the result, and the factor is the
// Cholesky factor of the dampened inverse.
//
//===----------------------------------------------------------------------===//

#include "QuantTestUtils.h"

#include "qopt/Quant/GPTQ.h"
#include "qopt/Runtime/QuantMath.h"

#include "llvm/ADT/APFloat.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

using namespace qopt::quant;
using namespace qopt::quant::testing;
namespace rt = ::qopt::runtime;

namespace {

/// `scale` rounded to `type`, with APFloat (as qopt-quantize-weights does).
float roundTo(float scale, ScaleType type) {
  if (type == ScaleType::F32)
    return scale;
  llvm::APFloat v(scale);
  bool losesInfo;
  v.convert(type == ScaleType::F16 ? llvm::APFloat::IEEEhalf()
                                   : llvm::APFloat::BFloat(),
            llvm::APFloat::rmNearestTiesToEven, &losesInfo);
  v.convert(llvm::APFloat::IEEEsingle(), llvm::APFloat::rmNearestTiesToEven,
            &losesInfo);
  return v.convertToFloat();
}

/// The inverse of the n x n matrix `a` (Gauss-Jordan, partial pivoting).
std::vector<double> inverse(std::vector<double> a, int64_t n) {
  std::vector<double> inv(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    inv[i * n + i] = 1.0;
  for (int64_t col = 0; col < n; ++col) {
    int64_t pivot = col;
    for (int64_t r = col + 1; r < n; ++r)
      if (std::fabs(a[r * n + col]) > std::fabs(a[pivot * n + col]))
        pivot = r;
    for (int64_t k = 0; k < n; ++k) {
      std::swap(a[col * n + k], a[pivot * n + k]);
      std::swap(inv[col * n + k], inv[pivot * n + k]);
    }
    double d = a[col * n + col];
    for (int64_t k = 0; k < n; ++k) {
      a[col * n + k] /= d;
      inv[col * n + k] /= d;
    }
    for (int64_t r = 0; r < n; ++r) {
      if (r == col)
        continue;
      double f = a[r * n + col];
      for (int64_t k = 0; k < n; ++k) {
        a[r * n + k] -= f * a[col * n + k];
        inv[r * n + k] -= f * inv[col * n + k];
      }
    }
  }
  return inv;
}

/// GPTQ written directly from the paper (arXiv 2210.17323, eq. 2-3), in
/// double: Hinv = (H + damp I)^-1; for each column j in processing order
/// (descending diag with act-order), its group's parameters from the current
/// values of the whole group when the group's first column comes up, then
///   q = quant(w_j), e = (w_j - q) / Hinv_jj,
///   w_k -= e Hinv_jk for every column k not yet quantized,
///   Hinv -= Hinv[:, j] Hinv[j, :] / Hinv_jj  (column j eliminated).
QuantizedWeight directGPTQ(const std::vector<float> &weight, int64_t rows,
                           int64_t cols, std::vector<double> h,
                           const QuantConfig &config, double percDamp,
                           bool actOrder) {
  std::vector<double> w(weight.begin(), weight.end());
  for (int64_t j = 0; j < cols; ++j) {
    if (h[j * cols + j] != 0.0)
      continue;
    h[j * cols + j] = 1.0;
    for (int64_t r = 0; r < rows; ++r)
      w[r * cols + j] = 0.0;
  }
  std::vector<int64_t> order(cols);
  std::iota(order.begin(), order.end(), int64_t(0));
  if (actOrder)
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return h[a * cols + a] > h[b * cols + b];
    });
  double mean = 0.0;
  for (int64_t j = 0; j < cols; ++j)
    mean += h[j * cols + j] / cols;
  for (int64_t j = 0; j < cols; ++j)
    h[j * cols + j] += percDamp * mean;
  std::vector<double> hinv = inverse(h, cols);

  int64_t g = config.groupSize == 0 ? cols : std::min(config.groupSize, cols);
  int64_t groups = (cols + g - 1) / g;
  QuantizedWeight out;
  out.rows = rows;
  out.cols = cols;
  out.groupsPerRow = groups;
  out.codes.assign(rows * cols, 0);
  out.scales.assign(rows * groups, 0.0f);
  out.zeros.assign(rows * groups, 0.0f);
  std::vector<bool> started(groups, false), done(cols, false);
  for (int64_t j : order) {
    int64_t group = j / g;
    if (!started[group]) {
      started[group] = true;
      int64_t c0 = group * g, n = std::min(g, cols - c0);
      for (int64_t r = 0; r < rows; ++r) {
        std::vector<float> values(n);
        for (int64_t c = 0; c < n; ++c)
          values[c] = static_cast<float>(w[r * cols + c0 + c]);
        rt::GroupParams p = rt::computeGroupParams(values.data(), n, 1,
                                                   config.bits, config.scheme);
        out.scales[r * groups + group] = roundTo(p.scale, config.scaleType);
        out.zeros[r * groups + group] = p.zero;
      }
    }
    double d = hinv[j * cols + j];
    for (int64_t r = 0; r < rows; ++r) {
      float scale = out.scales[r * groups + group];
      float zero = out.zeros[r * groups + group];
      double x = w[r * cols + j];
      uint32_t q =
          rt::quantizeValue(static_cast<float>(x), scale, zero, config.bits);
      out.codes[r * cols + j] = static_cast<uint8_t>(q);
      double e = (x - rt::dequantizeValue(q, scale, zero)) / d;
      for (int64_t k = 0; k < cols; ++k)
        if (!done[k] && k != j)
          w[r * cols + k] -= e * hinv[j * cols + k];
    }
    done[j] = true;
    std::vector<double> column(cols), row(cols);
    for (int64_t k = 0; k < cols; ++k) {
      column[k] = hinv[k * cols + j];
      row[k] = hinv[j * cols + k];
    }
    for (int64_t a = 0; a < cols; ++a)
      for (int64_t b = 0; b < cols; ++b)
        hinv[a * cols + b] -= column[a] * row[b] / d;
  }
  return out;
}

/// Expects identical codes, scales and zeros.
void expectSame(const QuantizedWeight &a, const QuantizedWeight &b) {
  ASSERT_EQ(a.rows, b.rows);
  ASSERT_EQ(a.cols, b.cols);
  ASSERT_EQ(a.groupsPerRow, b.groupsPerRow);
  EXPECT_EQ(a.codes, b.codes);
  EXPECT_EQ(a.scales, b.scales);
  EXPECT_EQ(a.zeros, b.zeros);
}

/// One configuration of the direct comparison.
struct DirectCase {
  const char *name;
  QuantConfig config;
  GPTQOptions options;
  int64_t cols;
  /// Column whose H row and column are zeroed (a dead input), or -1.
  int64_t deadColumn;
};

/// Prints a case by its name in test failure messages.
void PrintTo(const DirectCase &tc, std::ostream *os) { *os << tc.name; }

class GPTQDirect : public ::testing::TestWithParam<DirectCase> {};

TEST_P(GPTQDirect, MatchesDirectImplementation) {
  const DirectCase &tc = GetParam();
  const int64_t rows = 24, cols = tc.cols;
  std::vector<float> w = randomWeight(rows, cols, 7);
  std::vector<double> h = correlatedHessian(cols, 3 * cols, 0.9, 11);
  if (tc.deadColumn >= 0)
    for (int64_t k = 0; k < cols; ++k)
      h[tc.deadColumn * cols + k] = h[k * cols + tc.deadColumn] = 0.0;

  QuantizedWeight direct = directGPTQ(w, rows, cols, h, tc.config,
                                      tc.options.percDamp, tc.options.actOrder);
  QuantizedWeight got =
      valueOf(gptqQuantize(w, rows, cols, h, tc.config, tc.options));
  expectSame(got, direct);

  // Error feedback happened: the result is not plain RTN.
  QuantizedWeight rtn = valueOf(rtnQuantize(w, rows, cols, tc.config));
  EXPECT_NE(got.codes, rtn.codes);
  if (tc.deadColumn >= 0)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t g =
          r * got.groupsPerRow +
          tc.deadColumn / (tc.config.groupSize ? tc.config.groupSize : cols);
      EXPECT_EQ(rt::dequantizeValue(got.codes[r * cols + tc.deadColumn],
                                    got.scales[g], got.zeros[g]),
                0.0f);
    }
}

QuantConfig makeConfig(unsigned bits, int64_t group, rt::Scheme scheme,
                       ScaleType scaleType = ScaleType::F32) {
  QuantConfig c;
  c.bits = bits;
  c.groupSize = group;
  c.scheme = scheme;
  c.scaleType = scaleType;
  return c;
}

GPTQOptions makeOptions(bool actOrder, int64_t blockSize,
                        double percDamp = 0.01) {
  GPTQOptions o;
  o.actOrder = actOrder;
  o.blockSize = blockSize;
  o.percDamp = percDamp;
  return o;
}

INSTANTIATE_TEST_SUITE_P(
    Configs, GPTQDirect,
    ::testing::Values(
        DirectCase{"asym4_g16", makeConfig(4, 16, rt::Scheme::Asymmetric),
                   makeOptions(false, 128), 48, -1},
        DirectCase{"sym3_per_channel", makeConfig(3, 0, rt::Scheme::Symmetric),
                   makeOptions(false, 16), 48, -1},
        DirectCase{"asym2_g16_act_order",
                   makeConfig(2, 16, rt::Scheme::Asymmetric),
                   makeOptions(true, 128), 48, -1},
        // 44 = 3 x 12 + 8: a shorter last group; blocks of 7 cut groups.
        DirectCase{"asym8_g12_block7",
                   makeConfig(8, 12, rt::Scheme::Asymmetric),
                   makeOptions(false, 7), 44, -1},
        DirectCase{"asym3_g8_act_order_block5_dead",
                   makeConfig(3, 8, rt::Scheme::Asymmetric),
                   makeOptions(true, 5), 40, 9},
        DirectCase{"sym4_g16_f16_scales_act_order",
                   makeConfig(4, 16, rt::Scheme::Symmetric, ScaleType::F16),
                   makeOptions(true, 16, 0.1), 48, 3},
        DirectCase{"asym1_g16_bf16_scales",
                   makeConfig(1, 16, rt::Scheme::Asymmetric, ScaleType::BF16),
                   makeOptions(false, 32), 48, -1},
        // Three Cholesky panels; groups of 32 end 24 columns into the last.
        DirectCase{"asym4_g32_600_act_order_dead",
                   makeConfig(4, 32, rt::Scheme::Asymmetric),
                   makeOptions(true, 128), 600, 300}),
    [](const ::testing::TestParamInfo<DirectCase> &info) {
      return std::string(info.param.name);
    });

/// A diagonal H gives no error feedback: GPTQ is RTN exactly, with and
/// without act-order (which then reorders the columns).
TEST(GPTQ, DiagonalHessianIsRTN) {
  const int64_t rows = 20, cols = 52;
  std::vector<float> w = randomWeight(rows, cols, 3);
  std::vector<double> diagonal = identity(cols);
  for (int64_t k = 0; k < cols; ++k)
    diagonal[k * cols + k] = 0.5 + 0.1 * ((k * 7) % 13);
  for (const std::vector<double> &h : {identity(cols), diagonal}) {
    for (QuantConfig config :
         {makeConfig(4, 16, rt::Scheme::Asymmetric),
          makeConfig(3, 0, rt::Scheme::Symmetric),
          makeConfig(8, 32, rt::Scheme::Asymmetric, ScaleType::F16),
          makeConfig(2, 16, rt::Scheme::Symmetric, ScaleType::BF16)}) {
      for (bool actOrder : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "bits " << config.bits << " group " << config.groupSize
                     << " act-order " << actOrder);
        QuantizedWeight rtn = valueOf(rtnQuantize(w, rows, cols, config));
        QuantizedWeight got = valueOf(
            gptqQuantize(w, rows, cols, h, config, makeOptions(actOrder, 8)));
        expectSame(got, rtn);
      }
    }
  }
}

/// rtnQuantize follows QuantMath on a hand-checked group: asym 2 bits,
/// x = [-1, 0, 0.5, 2]: scale 1, zero 1, codes [0, 1, 1, 3].
TEST(GPTQ, RTNWorkedExample) {
  std::vector<float> w = {-1.0f, 0.0f, 0.5f, 2.0f};
  QuantizedWeight q =
      valueOf(rtnQuantize(w, 1, 4, makeConfig(2, 0, rt::Scheme::Asymmetric)));
  EXPECT_EQ(q.groupsPerRow, 1);
  EXPECT_EQ(q.scales, std::vector<float>({1.0f}));
  EXPECT_EQ(q.zeros, std::vector<float>({1.0f}));
  EXPECT_EQ(q.codes, std::vector<uint8_t>({0, 1, 1, 3}));
}

/// On correlated inputs GPTQ's output error is well below RTN's, at every
/// width of the comparison.
TEST(GPTQ, LowersOutputErrorOnCorrelatedHessian) {
  const int64_t rows = 32, cols = 64;
  std::vector<float> w = randomWeight(rows, cols, 5);
  std::vector<double> h = correlatedHessian(cols, 4 * cols, 0.8, 6);
  for (unsigned bits : {2u, 3u, 4u, 8u}) {
    SCOPED_TRACE(bits);
    QuantConfig config = makeConfig(bits, 16, rt::Scheme::Asymmetric);
    QuantizedWeight rtn = valueOf(rtnQuantize(w, rows, cols, config));
    QuantizedWeight gptq =
        valueOf(gptqQuantize(w, rows, cols, h, config, GPTQOptions()));
    double rtnError = valueOf(outputError(w, rows, cols, h, rtn, config, bits));
    double gptqError =
        valueOf(outputError(w, rows, cols, h, gptq, config, bits));
    EXPECT_GT(rtnError, 0.0);
    EXPECT_LT(gptqError, 0.8 * rtnError);
  }
}

/// The lazy-update block size, the number of threads and the number of row
/// tiles (rows > 64) do not change a single number.
TEST(GPTQ, BlockSizeAndThreadsDoNotChangeTheResult) {
  const int64_t rows = 150, cols = 72;
  std::vector<float> w = randomWeight(rows, cols, 8);
  std::vector<double> h = correlatedHessian(cols, 3 * cols, 0.9, 9);
  QuantConfig config = makeConfig(4, 16, rt::Scheme::Asymmetric);
  for (bool actOrder : {false, true}) {
    GPTQOptions base = makeOptions(actOrder, 128);
    base.numThreads = 1;
    QuantizedWeight reference =
        valueOf(gptqQuantize(w, rows, cols, h, config, base));
    for (int64_t block : {1, 5, 16, 1000}) {
      for (unsigned threads : {1u, 2u, 3u}) {
        SCOPED_TRACE(::testing::Message()
                     << "act-order " << actOrder << " block " << block
                     << " threads " << threads);
        GPTQOptions o = makeOptions(actOrder, block);
        o.numThreads = threads;
        expectSame(valueOf(gptqQuantize(w, rows, cols, h, config, o)),
                   reference);
      }
    }
  }
}

/// U^T U is the inverse of the dampened H in processing order, U is upper
/// triangular with a positive diagonal, act-order sorts diag(H), and the
/// thread count does not change U. 600 columns: three panels of the blocked
/// Cholesky factorisation, several row blocks each.
TEST(GPTQ, FactorIsCholeskyOfTheDampenedInverse) {
  const int64_t cols = 600;
  std::vector<double> h = correlatedHessian(cols, 2 * cols, 0.7, 4);
  for (bool actOrder : {false, true}) {
    SCOPED_TRACE(actOrder);
    GPTQOptions options = makeOptions(actOrder, 128, 0.05);
    options.numThreads = 1;
    HessianFactor f = valueOf(HessianFactor::compute(h, cols, options));
    options.numThreads = 2;
    HessianFactor f2 = valueOf(HessianFactor::compute(h, cols, options));
    EXPECT_EQ(f.upper(), f2.upper());
    llvm::ArrayRef<int64_t> order = f.order();
    llvm::ArrayRef<double> u = f.upper();
    double mean = 0.0;
    for (int64_t j = 0; j < cols; ++j)
      mean += h[j * cols + j] / cols;
    for (int64_t j = 1; j < cols; ++j) {
      if (actOrder)
        EXPECT_GE(h[order[j - 1] * cols + order[j - 1]],
                  h[order[j] * cols + order[j]]);
      else
        EXPECT_EQ(order[j], j);
    }
    for (int64_t i = 0; i < cols; ++i) {
      EXPECT_GT(u[i * cols + i], 0.0);
      for (int64_t k = 0; k < i; ++k)
        ASSERT_EQ(u[i * cols + k], 0.0);
    }
    // inv = U^T U, then inv * P (H + damp I) P^T = I.
    std::vector<double> inv(cols * cols, 0.0);
    for (int64_t k = 0; k < cols; ++k)
      for (int64_t a = k; a < cols; ++a)
        for (int64_t b = k; b < cols; ++b)
          inv[a * cols + b] += u[k * cols + a] * u[k * cols + b];
    double worst = 0.0;
    for (int64_t a = 0; a < cols; ++a) {
      for (int64_t b = 0; b < cols; ++b) {
        double sum = 0.0;
        for (int64_t m = 0; m < cols; ++m)
          sum += inv[a * cols + m] * (h[order[m] * cols + order[b]] +
                                      (m == b ? options.percDamp * mean : 0.0));
        worst = std::max(worst, std::fabs(sum - (a == b ? 1.0 : 0.0)));
      }
    }
    EXPECT_LT(worst, 1e-9);
  }
}

/// A prepared factor gives the same result as the Hessian it came from.
TEST(GPTQ, PreparedFactorMatches) {
  const int64_t rows = 16, cols = 40;
  std::vector<float> w = randomWeight(rows, cols, 12);
  std::vector<double> h = correlatedHessian(cols, 3 * cols, 0.9, 13);
  QuantConfig config = makeConfig(3, 8, rt::Scheme::Asymmetric);
  GPTQOptions options = makeOptions(true, 16);
  HessianFactor f = valueOf(HessianFactor::compute(h, cols, options));
  EXPECT_EQ(f.cols(), cols);
  EXPECT_TRUE(f.actOrder());
  EXPECT_EQ(f.percDamp(), 0.01);
  expectSame(valueOf(gptqQuantize(w, rows, cols, f, config, options)),
             valueOf(gptqQuantize(w, rows, cols, h, config, options)));
}

} // namespace
