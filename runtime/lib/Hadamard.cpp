//===- Hadamard.cpp - Hadamard matrices and the fast transform --*- C++ -*-===//
//
// Construction of the base Hadamard matrices (Paley I and II over GF(p^e),
// GaloisField.h; the Williamson array), the K * 2^m decomposition and the
// reference fast transform declared in qopt/Runtime/Hadamard.h.
// docs/hadamard.md states the constructions, which order uses which, and the
// index conventions.
//
// The transform of a row of n = K * 2^m floats runs the unnormalized
// Walsh-Hadamard butterfly over each contiguous block of 2^m elements, then
// mixes the K blocks with H_K: y[a][b] = s * sum_a' H_K[a][a'] z[a'][b], with
// s = 1 / sqrt(n). The mix treats every (row, b) pair as one column and works
// on chunks of kMixWidth columns copied into a K x kMixWidth buffer, so its
// inner loop is a fixed-width multiply-add that vectorizes for any 2^m and
// any number of rows.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/Hadamard.h"

#include "GaloisField.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

using namespace qopt::runtime;
using namespace qopt::runtime::detail;

//===----------------------------------------------------------------------===//
// Williamson sequences
//===----------------------------------------------------------------------===//

namespace {

/// Williamson matrices of odd order t: the first rows of four symmetric
/// circulant +-1 matrices A, B, C, D with A^2 + B^2 + C^2 + D^2 = 4t I ('+'
/// = 1, '-' = -1; row i of a matrix is its first row rotated right by i).
struct WilliamsonRows {
  int64_t t;
  const char *rows[4];
};

/// The Williamson matrices qopt uses, for the orders 4t (92, 116, 156, 172)
/// that no Paley construction reaches. Found by the exhaustive
/// meet-in-the-middle search of runtime/tools/find-williamson.cpp (the
/// program's output for t, verbatim; its header gives the run times).
constexpr WilliamsonRows kWilliamson[] = {
    {23,
     {"+--+-+-++++++++++-+-+--", "-++-++---++++++---++-++",
      "+--++-+-+-++++-+-+-++--", "+++---++--++++--++---++"}},
    {29,
     {"+-+++-+++--+-++++-+--+++-+++-", "++--++-+-++++----++++-+-++--+",
      "-++-+++-+-++------++-+-+++-++", "+--++----+-++++++++-+----++--"}},
    {39,
     {"-+++-+++-+--+--++++--++++--+--+-+++-+++",
      "--++---+-++--+-++++++++++-+--++-+---++-",
      "-+++-++----++++-+-+--+-+-++++----++-+++",
      "-+--++++++--++-+-+----+-+-++--++++++--+"}},
    {43,
     {"+-+++----+-++-++--++++++++--++-++-+----+++-",
      "++++-++++---+++---+--++--+---+++---++++-+++",
      "+-+-++--+-+-++++++-+----+-++++++-+-+--++-+-",
      "-++---++-++++-+-++--+--+--++-+-++++-++---++"}},
};

/// The Williamson array [[A, B, C, D], [-B, A, -D, C], [-C, D, A, -B],
/// [-D, -C, B, A]]: entry (R, S) is the sign of block (R, S) of H_4t times
/// the number of its matrix (A = 1, ..., D = 4).
constexpr int kWilliamsonArray[4][4] = {
    {1, 2, 3, 4}, {-2, 1, -4, 3}, {-3, 4, 1, -2}, {-4, -3, 2, 1}};

} // namespace

//===----------------------------------------------------------------------===//
// Base constructions
//===----------------------------------------------------------------------===//

namespace {

/// How a base order is constructed.
enum class Construction { Trivial, PaleyI, PaleyII, Williamson };

} // namespace

/// The construction qopt uses for base order k, if any: 1 is trivial; a
/// non-power-of-two multiple of 4 up to kMaxHadamardBase uses Paley I if k-1
/// is a prime power = 3 mod 4, else Paley II if k/2 - 1 is a prime power
/// = 1 mod 4, else the Williamson array if kWilliamson has order k/4.
static std::optional<Construction> findConstruction(int64_t k) {
  if (k == 1)
    return Construction::Trivial;
  if (k < 1 || k > kMaxHadamardBase || k % 4 != 0 || (k & (k - 1)) == 0)
    return std::nullopt;
  if ((k - 1) % 4 == 3 && asPrimePower(k - 1))
    return Construction::PaleyI;
  if ((k / 2 - 1) % 4 == 1 && asPrimePower(k / 2 - 1))
    return Construction::PaleyII;
  for (const WilliamsonRows &w : kWilliamson)
    if (4 * w.t == k)
      return Construction::Williamson;
  return std::nullopt;
}

/// Paley I, order q + 1 (q = 3 mod 4): H = I + S with the skew matrix
/// S = [[0, 1^T], [-1, Q]], Q[x][y] = chi(y - x); index 0 is the point at
/// infinity, index 1 + x the field element x.
static std::vector<int8_t> paleyI(int64_t q) {
  GaloisField field(*asPrimePower(q));
  std::vector<int8_t> chi = field.quadraticCharacter();
  int64_t k = q + 1;
  std::vector<int8_t> h(k * k);
  for (int64_t j = 0; j < k; ++j)
    h[j] = 1;
  for (int64_t x = 0; x < q; ++x) {
    int8_t *row = &h[(1 + x) * k];
    row[0] = -1;
    for (int64_t y = 0; y < q; ++y)
      row[1 + y] = x == y ? 1 : chi[field.sub(y, x)];
  }
  return h;
}

/// Paley II, order 2(q + 1) (q = 1 mod 4): the symmetric conference matrix
/// C = [[0, 1^T], [1, Q]] (indices as in paleyI) with every 0 replaced by
/// [[1, -1], [-1, -1]] and every +-1 by +-[[1, 1], [1, -1]]; index 2u + r
/// is row r of the block of C's index u.
static std::vector<int8_t> paleyII(int64_t q) {
  GaloisField field(*asPrimePower(q));
  std::vector<int8_t> chi = field.quadraticCharacter();
  int64_t c = q + 1, k = 2 * c;
  auto conference = [&](int64_t u, int64_t v) -> int {
    if (u == 0 || v == 0)
      return u == v ? 0 : 1;
    return chi[field.sub(v - 1, u - 1)];
  };
  static const int kZero[2][2] = {{1, -1}, {-1, -1}};
  static const int kOne[2][2] = {{1, 1}, {1, -1}};
  std::vector<int8_t> h(k * k);
  for (int64_t u = 0; u < c; ++u)
    for (int64_t v = 0; v < c; ++v) {
      int cuv = conference(u, v);
      for (int r = 0; r < 2; ++r)
        for (int s = 0; s < 2; ++s)
          h[(2 * u + r) * k + 2 * v + s] =
              static_cast<int8_t>(cuv == 0 ? kZero[r][s] : cuv * kOne[r][s]);
    }
  return h;
}

/// The Williamson array of order 4t filled with the circulant matrices of
/// kWilliamson's entry for t: index R * t + i is row i of block row R.
static std::vector<int8_t> williamson(int64_t t) {
  const WilliamsonRows *w = nullptr;
  for (const WilliamsonRows &candidate : kWilliamson)
    if (candidate.t == t)
      w = &candidate;
  int64_t k = 4 * t;
  std::vector<int8_t> h(k * k);
  for (int blockRow = 0; blockRow < 4; ++blockRow)
    for (int blockCol = 0; blockCol < 4; ++blockCol) {
      int code = kWilliamsonArray[blockRow][blockCol];
      int sign = code > 0 ? 1 : -1;
      const char *first = w->rows[std::abs(code) - 1];
      for (int64_t i = 0; i < t; ++i)
        for (int64_t j = 0; j < t; ++j) {
          int x = first[(j - i + t) % t] == '+' ? 1 : -1;
          h[(blockRow * t + i) * k + blockCol * t + j] =
              static_cast<int8_t>(sign * x);
        }
    }
  return h;
}

/// Builds H_k for a base order k (findConstruction(k) must succeed).
static std::vector<int8_t> buildBase(int64_t k) {
  switch (*findConstruction(k)) {
  case Construction::Trivial:
    return {1};
  case Construction::PaleyI:
    return paleyI(k - 1);
  case Construction::PaleyII:
    return paleyII(k / 2 - 1);
  case Construction::Williamson:
    break;
  }
  return williamson(k / 4);
}

/// H_k for a base order k, built once per process and cached.
static const std::vector<int8_t> &baseMatrix(int64_t k) {
  static std::mutex mutex;
  static std::map<int64_t, std::vector<int8_t>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(k);
  if (it == cache.end())
    it = cache.emplace(k, buildBase(k)).first;
  return it->second;
}

//===----------------------------------------------------------------------===//
// Transform kernels
//===----------------------------------------------------------------------===//

/// Columns (pairs of a row and an offset b) mixed together by mixBlocks.
static constexpr int64_t kMixWidth = 32;

/// Output blocks mixBlocks computes together; divides every base but 1.
static constexpr int64_t kMixOutputs = 2;

/// x := scale * H_len x for `len` contiguous floats, len a power of two: the
/// first three butterfly stages as one scaled 8-point kernel, then two
/// stages per pass (radix 4), then a last radix-2 pass if one is left. The
/// stages of a Sylvester matrix commute, so their order is free.
static void fwht(float *x, int64_t len, float scale) {
  if (len < 8) {
    for (int64_t h = 1; h < len; h *= 2)
      for (int64_t i = 0; i < len; i += 2 * h)
        for (int64_t j = i; j < i + h; ++j) {
          float u = x[j], v = x[j + h];
          x[j] = u + v;
          x[j + h] = u - v;
        }
    for (int64_t i = 0; i < len; ++i)
      x[i] *= scale;
    return;
  }
  for (int64_t i = 0; i < len; i += 8) {
    float *v = x + i;
    float a0 = v[0] + v[1], a1 = v[0] - v[1], a2 = v[2] + v[3],
          a3 = v[2] - v[3], a4 = v[4] + v[5], a5 = v[4] - v[5],
          a6 = v[6] + v[7], a7 = v[6] - v[7];
    float b0 = a0 + a2, b1 = a1 + a3, b2 = a0 - a2, b3 = a1 - a3, b4 = a4 + a6,
          b5 = a5 + a7, b6 = a4 - a6, b7 = a5 - a7;
    v[0] = scale * (b0 + b4);
    v[1] = scale * (b1 + b5);
    v[2] = scale * (b2 + b6);
    v[3] = scale * (b3 + b7);
    v[4] = scale * (b0 - b4);
    v[5] = scale * (b1 - b5);
    v[6] = scale * (b2 - b6);
    v[7] = scale * (b3 - b7);
  }
  int64_t h = 8;
  for (; 4 * h <= len; h *= 4)
    for (int64_t i = 0; i < len; i += 4 * h) {
      float *p0 = x + i, *p1 = p0 + h, *p2 = p1 + h, *p3 = p2 + h;
      for (int64_t j = 0; j < h; ++j) {
        float a = p0[j] + p1[j], b = p0[j] - p1[j];
        float c = p2[j] + p3[j], d = p2[j] - p3[j];
        p0[j] = a + c;
        p1[j] = b + d;
        p2[j] = a - c;
        p3[j] = b - d;
      }
    }
  if (h < len) {
    float *lo = x, *hi = x + h;
    for (int64_t j = 0; j < h; ++j) {
      float u = lo[j], v = hi[j];
      lo[j] = u + v;
      hi[j] = u - v;
    }
  }
}

/// y[a][b] = scale * sum_a' h[a][a'] z[a'][b] for every row, in place, with
/// z[a'][b] = data[row * base * blockLen + a' * blockLen + b]. Each chunk of
/// kMixWidth columns is copied out first, then kMixOutputs output blocks at
/// a time accumulate over a' in registers and are written back.
static void mixBlocks(float *data, int64_t rows, int64_t base, int64_t blockLen,
                      const int8_t *h, float scale) {
  int64_t n = base * blockLen, columns = rows * blockLen;
  std::vector<float> chunk(base * kMixWidth, 0.0f);
  int64_t offsets[kMixWidth];
  for (int64_t c0 = 0; c0 < columns; c0 += kMixWidth) {
    int64_t width = std::min(kMixWidth, columns - c0);
    for (int64_t j = 0; j < width; ++j)
      offsets[j] = (c0 + j) / blockLen * n + (c0 + j) % blockLen;
    for (int64_t a = 0; a < base; ++a)
      for (int64_t j = 0; j < width; ++j)
        chunk[a * kMixWidth + j] = data[offsets[j] + a * blockLen];
    for (int64_t a = 0; a < base; a += kMixOutputs) {
      float acc[kMixOutputs][kMixWidth] = {};
      for (int64_t k = 0; k < base; ++k) {
        const float *src = &chunk[k * kMixWidth];
        for (int64_t g = 0; g < kMixOutputs; ++g) {
          float s = h[(a + g) * base + k];
          for (int64_t j = 0; j < kMixWidth; ++j)
            acc[g][j] += s * src[j];
        }
      }
      for (int64_t g = 0; g < kMixOutputs; ++g)
        for (int64_t j = 0; j < width; ++j)
          data[offsets[j] + (a + g) * blockLen] = acc[g][j] * scale;
    }
  }
}

//===----------------------------------------------------------------------===//
// API
//===----------------------------------------------------------------------===//

std::optional<HadamardSize> qopt::runtime::factorHadamardSize(int64_t n) {
  if (n <= 0 || n > kMaxHadamardOrder)
    return std::nullopt;
  int64_t maxLog2 = 0;
  while (((n >> maxLog2) & 1) == 0)
    ++maxLog2;
  for (int64_t log2Pow = maxLog2; log2Pow >= 0; --log2Pow) {
    int64_t base = n >> log2Pow;
    if (base > kMaxHadamardBase)
      break;
    if (findConstruction(base))
      return HadamardSize{base, log2Pow};
  }
  return std::nullopt;
}

std::vector<int8_t> qopt::runtime::hadamardMatrix(int64_t n) {
  std::optional<HadamardSize> size = factorHadamardSize(n);
  if (!size)
    return {};
  const std::vector<int8_t> &hb = baseMatrix(size->base);
  int64_t blockLen = int64_t(1) << size->log2Pow, base = size->base;
  std::vector<int8_t> h(static_cast<size_t>(n) * static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t a = i / blockLen, b = i % blockLen;
    int8_t *row = &h[static_cast<size_t>(i) * static_cast<size_t>(n)];
    for (int64_t a2 = 0; a2 < base; ++a2) {
      int8_t s = hb[a * base + a2];
      for (int64_t b2 = 0; b2 < blockLen; ++b2)
        row[a2 * blockLen + b2] =
            static_cast<int8_t>(__builtin_parityll(b & b2) ? -s : s);
    }
  }
  return h;
}

bool qopt::runtime::fastHadamardTransform(float *data, int64_t rows,
                                          int64_t n) {
  std::optional<HadamardSize> size = factorHadamardSize(n);
  if (!size || rows < 0 || (rows > 0 && !data))
    return false;
  int64_t blockLen = int64_t(1) << size->log2Pow, base = size->base;
  float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(n)));
  // With base > 1 the mix applies the normalization, else the butterfly.
  float butterflyScale = base > 1 ? 1.0f : scale;
  for (int64_t i = 0; i < rows * base; ++i)
    fwht(data + i * blockLen, blockLen, butterflyScale);
  if (base > 1)
    mixBlocks(data, rows, base, blockLen, baseMatrix(base).data(), scale);
  return true;
}

bool qopt::runtime::hadamardTransformDouble(double *data, int64_t rows,
                                            int64_t n) {
  std::optional<HadamardSize> size = factorHadamardSize(n);
  if (!size || rows < 0 || (rows > 0 && !data))
    return false;
  int64_t blocks = size->base, run = int64_t(1) << size->log2Pow;
  const std::vector<int8_t> &h = baseMatrix(blocks);
  double norm = 1.0 / std::sqrt(static_cast<double>(n));
  std::vector<double> mixed(n);
  for (int64_t r = 0; r < rows; ++r) {
    double *x = data + r * n;
    // H_(2^m) on each run of 2^m elements.
    for (int64_t stride = 1; stride < run; stride *= 2)
      for (int64_t s = 0; s < n; s += 2 * stride)
        for (int64_t j = s; j < s + stride; ++j) {
          double a = x[j], b = x[j + stride];
          x[j] = a + b;
          x[j + stride] = a - b;
        }
    // H_base across the runs: y[a * run + b] = sum_c H[a][c] x[c * run + b].
    for (int64_t a = 0; a < blocks; ++a)
      for (int64_t b = 0; b < run; ++b) {
        double sum = 0;
        for (int64_t c = 0; c < blocks; ++c)
          sum += h[a * blocks + c] * x[c * run + b];
        mixed[a * run + b] = sum * norm;
      }
    std::copy(mixed.begin(), mixed.end(), x);
  }
  return true;
}
