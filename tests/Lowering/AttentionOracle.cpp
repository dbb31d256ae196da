//===- AttentionOracle.cpp - qopt.kernel_attention vs a reference -*- C++
//-*-===//
//
// qopt.kernel_attention, compiled and called on random data, against causal
// grouped-query attention in double precision computed from the cache the
// kernel leaves (so a 16-bit cache's rounding is the reference's too; the
// appended rows are checked against the new keys and values separately).
// The cases cover both emitters of Attention.cpp (one token at a time, and
// tiles of 4 tokens with a last tile padded by its last token), one and
// several key blocks of the online softmax, vector and scalar head
// dimensions, grouped queries, a cache that already holds positions,
// sliding windows longer and shorter than a tile and than a key block, and
// f16 caches.
//
//===----------------------------------------------------------------------===//

#include "KernelOracle.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace qopt::oracle {

namespace {

struct AttentionCase {
  int64_t tokens, pos, heads, kvHeads, headDim;
  int64_t window; // 0: none
  bool halfCache;
};

/// Cache rows per layer (the capacity) and layers: the op works on layer 1.
constexpr int64_t kCapacity = 600, kLayers = 2, kLayer = 1;

std::string caseName(const AttentionCase &c) {
  return llvm::formatv("attn_t{0}_p{1}_h{2}_{3}_d{4}_w{5}_{6}", c.tokens, c.pos,
                       c.heads, c.kvHeads, c.headDim, c.window,
                       c.halfCache ? "f16" : "f32");
}

std::string caseSource(const AttentionCase &c) {
  int64_t qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim;
  std::string cache =
      llvm::formatv("memref<{0}x{1}x{2}x{3}>", kLayers, kCapacity, kvDim,
                    c.halfCache ? "f16" : "f32");
  std::string window =
      c.window ? llvm::formatv(", sliding_window = {0} : i64", c.window).str()
               : "";
  return llvm::formatv(
      "func.func @{0}(%q: memref<?x{1}xf32>, %k: memref<?x{2}xf32>, "
      "%v: memref<?x{2}xf32>, %kc: {3}, %vc: {3}, %p: memref<1xi64>, "
      "%o: memref<?x{1}xf32>) {{\n"
      "  %c0 = arith.constant 0 : index\n"
      "  %p64 = memref.load %p[%c0] : memref<1xi64>\n"
      "  %pos = arith.index_cast %p64 : i64 to index\n"
      "  qopt.kernel_attention ins(%q, %k, %v : memref<?x{1}xf32>, "
      "memref<?x{2}xf32>, memref<?x{2}xf32>) cache(%kc, %vc : {3}, {3}) at "
      "%pos outs(%o : memref<?x{1}xf32>) {{layer = {4} : i64, num_heads = {5} "
      ": i64, num_kv_heads = {6} : i64, head_dim = {7} : i64{8}}\n"
      "  return\n}\n",
      caseName(c), qDim, kvDim, cache, kLayer, c.heads, c.kvHeads, c.headDim,
      window);
}

/// A cache of f32 or f16 elements, read and written as float.
struct Cache {
  bool half;
  std::vector<float> f32;
  std::vector<_Float16> f16;
  Cache(bool half, size_t n) : half(half) {
    if (half)
      f16.assign(n, static_cast<_Float16>(NAN));
    else
      f32.assign(n, NAN);
  }
  void set(size_t i, float v) {
    if (half)
      f16[i] = static_cast<_Float16>(v);
    else
      f32[i] = v;
  }
  float get(size_t i) const {
    return half ? static_cast<float>(f16[i]) : f32[i];
  }
  float rounded(float v) const {
    return half ? static_cast<float>(static_cast<_Float16>(v)) : v;
  }
  const void *data() const {
    return half ? static_cast<const void *>(f16.data()) : f32.data();
  }
};

void runCase(Compiled &compiled, const AttentionCase &c, std::mt19937 &rng) {
  std::string name = caseName(c);
  int64_t qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim;
  std::uniform_real_distribution<float> dist(-1.5f, 1.5f);
  std::vector<float> q(c.tokens * qDim), key(c.tokens * kvDim),
      value(c.tokens * kvDim), out(c.tokens * qDim, NAN);
  for (std::vector<float> *v : {&q, &key, &value})
    for (float &x : *v)
      x = dist(rng);
  size_t cacheSize = kLayers * kCapacity * kvDim;
  Cache kc(c.halfCache, cacheSize), vc(c.halfCache, cacheSize);
  auto at = [&](int64_t s, int64_t i) {
    return static_cast<size_t>((kLayer * kCapacity + s) * kvDim + i);
  };
  // Positions before `pos` hold earlier tokens; later ones stay NaN (the
  // kernel must neither read them nor leave them unwritten where it appends).
  for (int64_t s = 0; s < c.pos; ++s)
    for (int64_t i = 0; i < kvDim; ++i) {
      kc.set(at(s, i), dist(rng));
      vc.set(at(s, i), dist(rng));
    }
  std::vector<int64_t> pos{c.pos};
  std::vector<Descriptor> descs;
  descs.emplace_back(q.data(), llvm::ArrayRef<int64_t>{c.tokens, qDim});
  descs.emplace_back(key.data(), llvm::ArrayRef<int64_t>{c.tokens, kvDim});
  descs.emplace_back(value.data(), llvm::ArrayRef<int64_t>{c.tokens, kvDim});
  descs.emplace_back(kc.data(),
                     llvm::ArrayRef<int64_t>{kLayers, kCapacity, kvDim});
  descs.emplace_back(vc.data(),
                     llvm::ArrayRef<int64_t>{kLayers, kCapacity, kvDim});
  descs.emplace_back(pos.data(), llvm::ArrayRef<int64_t>{1});
  descs.emplace_back(out.data(), llvm::ArrayRef<int64_t>{c.tokens, qDim});
  // The entry point's weight table and served widths (none used here).
  std::vector<int64_t> table{0};
  std::vector<int32_t> widths{8};
  descs.emplace_back(table.data(), llvm::ArrayRef<int64_t>{1});
  descs.emplace_back(widths.data(), llvm::ArrayRef<int64_t>{1});
  ASSERT_FALSE(static_cast<bool>(call(*compiled.engine, name, descs))) << name;

  int reported = 0;
  for (int64_t t = 0; t < c.tokens; ++t)
    for (int64_t i = 0; i < kvDim; ++i) {
      float wantK = kc.rounded(key[t * kvDim + i]);
      float wantV = vc.rounded(value[t * kvDim + i]);
      if ((kc.get(at(c.pos + t, i)) != wantK ||
           vc.get(at(c.pos + t, i)) != wantV) &&
          reported++ < 4)
        ADD_FAILURE() << name << ": cache row " << c.pos + t << "[" << i
                      << "] was not appended";
    }
  int64_t group = c.heads / c.kvHeads;
  double scale = 1.0 / std::sqrt(static_cast<double>(c.headDim));
  for (int64_t t = 0; t < c.tokens; ++t)
    for (int64_t h = 0; h < c.heads; ++h) {
      int64_t p = c.pos + t, kvOff = h / group * c.headDim;
      int64_t start = c.window ? std::max<int64_t>(0, p + 1 - c.window) : 0;
      std::vector<double> scores;
      double maxScore = -INFINITY, sum = 0, maxValue = 0;
      for (int64_t s = start; s <= p; ++s) {
        double dot = 0;
        for (int64_t e = 0; e < c.headDim; ++e)
          dot += double(q[t * qDim + h * c.headDim + e]) *
                 kc.get(at(s, kvOff + e));
        scores.push_back(dot * scale);
        maxScore = std::max(maxScore, scores.back());
      }
      for (double &sc : scores)
        sum += sc = std::exp(sc - maxScore);
      for (int64_t e = 0; e < c.headDim; ++e) {
        double ref = 0;
        for (int64_t s = start; s <= p; ++s) {
          double v = vc.get(at(s, kvOff + e));
          ref += scores[s - start] * v;
          maxValue = std::max(maxValue, std::fabs(v));
        }
        ref /= sum;
        double got = out[t * qDim + h * c.headDim + e];
        // A convex combination of values in f32, with f32 scores whose
        // error grows with |q . k|: a few ulps of the largest value.
        double bound = 1e-5 * std::max(1.0, maxValue);
        if (!(std::fabs(got - ref) <= bound) && reported++ < 4)
          ADD_FAILURE() << name << " out[" << t << ", head " << h << ", " << e
                        << "]: got " << got << ", expected " << ref;
      }
    }
}

} // namespace

void runAttentionOracle(int64_t vectorWidth) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  // tokens, pos, heads, kv heads, head dim, window, f16 cache.
  const AttentionCase cases[] = {
      {1, 0, 2, 2, 16, 0, false},     // decode, first position
      {1, 9, 4, 2, 16, 0, false},     // decode over a filled cache, GQA
      {3, 0, 2, 1, 16, 0, false},     // under a tile: one token at a time
      {4, 0, 2, 2, 16, 0, false},     // one full tile
      {5, 2, 4, 2, 16, 0, false},     // a padded last tile
      {9, 7, 8, 2, 32, 0, false},     // several tiles, two vector groups
      {17, 3, 2, 2, 128, 0, false},   // a 7B head (8 or 16 vectors)
      {6, 0, 2, 2, 20, 0, false},     // scalar head dimension
      {7, 5, 2, 1, 12, 0, true},      // scalar head, f16 cache
      {13, 4, 4, 4, 16, 0, true},     // f16 cache, vector head
      {11, 6, 2, 1, 16, 5, false},    // window longer than a tile
      {10, 2, 2, 2, 16, 2, false},    // window shorter than a tile
      {9, 0, 2, 2, 16, 1, false},     // window of one position
      {14, 20, 2, 1, 20, 3, true},    // window, scalar head, f16
      {2, 30, 2, 2, 16, 4, false},    // window, one token at a time
      {1, 530, 4, 2, 32, 0, false},   // decode over three key blocks
      {70, 230, 2, 1, 16, 0, false},  // tiles across key blocks
      {37, 240, 2, 2, 20, 0, true},   // scalar head across key blocks, f16
      {45, 240, 2, 1, 16, 70, false}, // window spanning key blocks
      {9, 300, 2, 2, 16, 2, false},   // short window, late positions
  };
  std::string source;
  for (const AttentionCase &c : cases)
    source += caseSource(c);
  llvm::Expected<Compiled> compiled = compile(source, vectorWidth);
  ASSERT_TRUE(static_cast<bool>(compiled))
      << llvm::toString(compiled.takeError());
  std::mt19937 rng(11 + vectorWidth);
  for (const AttentionCase &c : cases)
    runCase(*compiled, c, rng);
}

} // namespace qopt::oracle
