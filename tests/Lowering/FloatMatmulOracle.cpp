//===- FloatMatmulOracle.cpp - float-weight kernel_matmul vs double ------===//
//
// qopt.kernel_matmul with a plain float weight (f32, f16, bf16; Matmul.cpp's
// lowerFloat), compiled and called on random data at 1 and 3 threads,
// against y[t, n] = sum_k x[t, k] * w[n, k] in double with the weights'
// stored values. The cases cover both emitters: the row-wise dot (decode,
// calls under a tile's tokens, rows < 4, a row length that is not a
// multiple of the vector width) and the rows x tokens tiles of prefill
// with the tokens and rows after the last whole tile. Tolerance as the
// kernel oracle's: |got - ref| <= 1e-5 * max(1, sum_k |x_k * w_k|).
//
// With `f16-activations`, f16-weight matmuls read each token's activations
// rounded to f16 after a power-of-two scale (Matmul.cpp). The reference
// rounds them the same way (x_k -> round16(x_k * 2^s) * 2^-s, s = 15 -
// frexp exponent of max |x|) and is held to the same 1e-5; the distance
// to the exact sums is checked against the documented bound
// 2^-11 * sum_k |x_k * w_k| (plus the 1e-5). Tokens of activations far
// outside f16's range (1e6, 1e-6) and an all-zero token check the scale.
//
//===----------------------------------------------------------------------===//

#include "KernelOracle.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" void omp_set_num_threads(int);

namespace qopt::oracle {

namespace {

enum class Element { F32, F16, BF16 };

struct FloatCase {
  int64_t tokens, rows, cols;
  Element element;
};

llvm::StringRef elementName(Element e) {
  return e == Element::F32 ? "f32" : e == Element::F16 ? "f16" : "bf16";
}

std::string caseName(const FloatCase &c) {
  return llvm::formatv("fmm_t{0}_n{1}_k{2}_{3}", c.tokens, c.rows, c.cols,
                       elementName(c.element));
}

std::string caseSource(const FloatCase &c) {
  std::string w =
      llvm::formatv("{0}x{1}x{2}", c.rows, c.cols, elementName(c.element));
  return llvm::formatv(
      "func.func @{0}(%x: memref<?x{1}xf32>, %w: memref<{2}>, "
      "%y: memref<?x{3}xf32>) {{\n"
      "  qopt.kernel_matmul ins(%x : memref<?x{1}xf32>) weight(%w : "
      "memref<{2}>) outs(%y : memref<?x{3}xf32>) {{weight_type = "
      "tensor<{2}>}\n"
      "  return\n}\n",
      caseName(c), c.cols, w, c.rows);
}

/// `v` rounded to a 16-bit float type: its bits and its value.
std::pair<uint16_t, double> round16(float v, Element e) {
  llvm::APFloat f(v);
  bool loses = false;
  f.convert(e == Element::F16 ? llvm::APFloat::IEEEhalf()
                              : llvm::APFloat::BFloat(),
            llvm::APFloat::rmNearestTiesToEven, &loses);
  uint16_t bits = static_cast<uint16_t>(f.bitcastToAPInt().getZExtValue());
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
            &loses);
  return {bits, f.convertToDouble()};
}

/// The activations as the f16-activation kernel reads them: each token's
/// values times 2^s (s = 15 - the frexp exponent of its max |x|), rounded to
/// f16, times 2^-s.
std::vector<double> halfActivations(const std::vector<float> &x, int64_t tokens,
                                    int64_t cols) {
  std::vector<double> out(x.size());
  for (int64_t t = 0; t < tokens; ++t) {
    float amax = 0;
    for (int64_t k = 0; k < cols; ++k)
      amax = std::max(amax, std::fabs(x[t * cols + k]));
    int exponent = 0;
    std::frexp(amax, &exponent);
    int shift = amax == 0 ? 126 : 15 - exponent;
    for (int64_t k = 0; k < cols; ++k) {
      float scaled = std::ldexp(x[t * cols + k], shift);
      out[t * cols + k] =
          std::ldexp(round16(scaled, Element::F16).second, -shift);
    }
  }
  return out;
}

void runCase(Compiled &compiled, const FloatCase &c, std::mt19937 &rng,
             int threads, bool f16Activations) {
  std::string name = caseName(c);
  std::uniform_real_distribution<float> dist(-1.5f, 1.5f);
  std::vector<float> x(c.tokens * c.cols), y(c.tokens * c.rows, NAN);
  for (float &v : x)
    v = dist(rng);
  // Tokens 1, 2 and 3 (where there are that many): activations that would
  // overflow f16 unscaled, ones in its subnormal range, and zeros.
  const float tokenScale[] = {1.0f, 1e6f, 1e-6f, 0.0f};
  for (int64_t t = 1; t < std::min<int64_t>(c.tokens, 4); ++t)
    for (int64_t k = 0; k < c.cols; ++k)
      x[t * c.cols + k] *= tokenScale[t];
  bool half = f16Activations && c.element == Element::F16;
  std::vector<double> xs(x.begin(), x.end());
  if (half)
    xs = halfActivations(x, c.tokens, c.cols);
  // The weights as stored, and their values.
  std::vector<double> w(c.rows * c.cols);
  std::vector<float> w32;
  std::vector<uint16_t> w16;
  for (double &v : w) {
    float f = dist(rng);
    if (c.element == Element::F32) {
      w32.push_back(f);
      v = f;
    } else {
      auto [bits, value] = round16(f, c.element);
      w16.push_back(bits);
      v = value;
    }
  }
  const void *wData = c.element == Element::F32
                          ? static_cast<const void *>(w32.data())
                          : static_cast<const void *>(w16.data());
  std::vector<Descriptor> descs;
  descs.emplace_back(x.data(), llvm::ArrayRef<int64_t>{c.tokens, c.cols});
  descs.emplace_back(wData, llvm::ArrayRef<int64_t>{c.rows, c.cols});
  descs.emplace_back(y.data(), llvm::ArrayRef<int64_t>{c.tokens, c.rows});
  // The entry point's weight table and served widths (none used here).
  std::vector<int64_t> table{0};
  std::vector<int32_t> widths{8};
  descs.emplace_back(table.data(), llvm::ArrayRef<int64_t>{1});
  descs.emplace_back(widths.data(), llvm::ArrayRef<int64_t>{1});
  omp_set_num_threads(threads);
  ASSERT_FALSE(static_cast<bool>(call(*compiled.engine, name, descs))) << name;
  omp_set_num_threads(1);
  int reported = 0;
  for (int64_t t = 0; t < c.tokens; ++t)
    for (int64_t n = 0; n < c.rows; ++n) {
      double ref = 0, exact = 0, magnitude = 0;
      for (int64_t k = 0; k < c.cols; ++k) {
        double term = double(x[t * c.cols + k]) * w[n * c.cols + k];
        ref += xs[t * c.cols + k] * w[n * c.cols + k];
        exact += term;
        magnitude += std::fabs(term);
      }
      double got = y[t * c.rows + n];
      // Relative to the sums' scale (magnitude is 0 for the zero token).
      double tolerance = 1e-5 * std::max(1.0, magnitude);
      if (tokenScale[std::min<int64_t>(t, 3)] != 1.0f)
        tolerance = 1e-5 * magnitude;
      if (!(std::fabs(got - ref) <= tolerance) && reported++ < 4)
        ADD_FAILURE() << name << (half ? " (f16 activations)" : "") << " at "
                      << threads << " threads, y[" << t << ", " << n
                      << "]: got " << got << ", expected " << ref;
      if (half &&
          !(std::fabs(got - exact) <= std::ldexp(magnitude, -11) + tolerance) &&
          reported++ < 4)
        ADD_FAILURE() << name << " (f16 activations) at " << threads
                      << " threads, y[" << t << ", " << n << "]: got " << got
                      << ", more than 2^-11 * sum |x w| from the exact "
                      << exact;
    }
}

} // namespace

void runFloatMatmulOracle(int64_t vectorWidth, bool f16Activations) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  // tokens, rows, cols, weight element.
  const FloatCase cases[] = {
      {1, 8, 64, Element::F32},     // decode: row-wise
      {1, 37, 172, Element::F16},   // decode, scalar tail of the row
      {3, 8, 64, Element::F32},     // under a tile's tokens (16 lanes)
      {4, 8, 64, Element::F32},     // one tile (8 lanes)
      {11, 37, 64, Element::F32},   // tiles, token and row remainders
      {9, 13, 172, Element::F32},   // row not a multiple of the width
      {5, 3, 64, Element::F32},     // fewer rows than a tile
      {6, 21, 128, Element::F16},   // f16 weights in tiles (one at 16 lanes)
      {7, 19, 96, Element::BF16},   // bf16 weights in tiles
      {130, 64, 256, Element::F32}, // many tiles
      {2, 12, 48, Element::BF16},   // a tile of 2 tokens (8 lanes) only
      {4, 9, 172, Element::F16},    // scaled tokens, row-wise tail (8 lanes)
      {13, 16, 64, Element::F16},   // scaled tokens in tiles, token remainder
  };
  std::string source;
  for (const FloatCase &c : cases)
    source += caseSource(c);
  mlir::qopt::QOptToLLVMPipelineOptions pipeline;
  pipeline.vectorWidth = vectorWidth;
  pipeline.f16Activations = f16Activations;
  llvm::Expected<Compiled> compiled = compile(source, vectorWidth, &pipeline);
  ASSERT_TRUE(static_cast<bool>(compiled))
      << llvm::toString(compiled.takeError());
  std::mt19937 rng(23 + vectorWidth);
  for (const FloatCase &c : cases)
    for (int threads : {1, 3})
      runCase(*compiled, c, rng, threads, f16Activations);
}

} // namespace qopt::oracle
