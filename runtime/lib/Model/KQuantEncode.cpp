//===- KQuantEncode.cpp - Writing GGUF K-quant super-blocks -----*- C++ -*-===//
//
// The other direction of KQuants.cpp: a block's parts (KBlockParts: codes,
// f16 super-scales, integer sub-scales and minimums) written in ggml's bit
// layout (packKBlock, the inverse of decodeKBlock), and the two sources of
// parts: qopt's round-to-nearest encoder of 256 floats (quantizeKBlock,
// for GGUFWriter's K-quant tensors) and qopt's two-level records
// (partsFromTwoLevel in KQuants.cpp, for exporting imported K-quants
// unchanged). Layouts as in KQuants.cpp's header and docs/model-io.md.
//
//===----------------------------------------------------------------------===//

#include "KQuants.h"

#include "ModelUtils.h"

#include "qopt/Model/GGUFWriter.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

using namespace qopt::model;
using namespace qopt::model::detail;

//===----------------------------------------------------------------------===//
// Block layouts
//===----------------------------------------------------------------------===//

namespace {

void storeU16(uint8_t *p, uint16_t v) {
  p[0] = uint8_t(v & 0xFF);
  p[1] = uint8_t(v >> 8);
}

/// Inverse of KQuants.cpp's low2Bits: puts the low two bits of every code
/// into `qs`.
void packLow2Bits(const uint8_t *codes, uint8_t *qs) {
  for (int e = 0; e < kKQuantBlock; ++e) {
    int half = e / 128, r = e % 128;
    qs[32 * half + (r % 32)] |= uint8_t((codes[e] & 3) << (2 * (r / 32)));
  }
}

void packQ2K(const KBlockParts &p, uint8_t *block) {
  for (int s = 0; s < 16; ++s)
    block[s] = uint8_t(p.subScale[s] | (p.subMin[s] << 4));
  packLow2Bits(p.codes, block + 16);
  storeU16(block + 80, p.dBits);
  storeU16(block + 82, p.dminBits);
}

void packQ3K(const KBlockParts &p, uint8_t *block) {
  uint8_t *hmask = block, *packed = block + 96;
  for (int s = 0; s < 16; ++s) {
    unsigned v = unsigned(p.subScale[s] + 32);
    if (s < 8)
      packed[s] |= uint8_t(v & 0xF);
    else
      packed[s - 8] |= uint8_t((v & 0xF) << 4);
    packed[8 + s % 4] |= uint8_t((v >> 4) << (2 * (s / 4)));
  }
  packLow2Bits(p.codes, block + 32);
  for (int e = 0; e < kKQuantBlock; ++e)
    hmask[e % 32] |=
        uint8_t(((p.codes[e] >> 2) & 1) << (4 * (e / 128) + (e % 128) / 32));
  storeU16(block + 108, p.dBits);
}

void packQ45K(const KBlockParts &p, bool fiveBits, uint8_t *block) {
  storeU16(block, p.dBits);
  storeU16(block + 2, p.dminBits);
  // Inverse of KQuants.cpp's scaleMinK4.
  uint8_t *packed = block + 4;
  for (int j = 0; j < 8; ++j) {
    auto scale = uint8_t(p.subScale[j]), min = uint8_t(p.subMin[j]);
    if (j < 4) {
      packed[j] |= scale;
      packed[j + 4] |= min;
    } else {
      packed[j + 4] = uint8_t((scale & 0xF) | ((min & 0xF) << 4));
      packed[j - 4] |= uint8_t((scale >> 4) << 6);
      packed[j] |= uint8_t((min >> 4) << 6);
    }
  }
  uint8_t *qh = block + 16, *qs = block + (fiveBits ? 48 : 16);
  for (int e = 0; e < kKQuantBlock; ++e) {
    int c = e / 64, h = (e % 64) / 32, l = e % 32;
    qs[32 * c + l] |= uint8_t((p.codes[e] & 0xF) << (4 * h));
    if (fiveBits)
      qh[l] |= uint8_t(((p.codes[e] >> 4) & 1) << (2 * c + h));
  }
}

void packQ6K(const KBlockParts &p, uint8_t *block) {
  uint8_t *ql = block, *qh = block + 128;
  for (int e = 0; e < kKQuantBlock; ++e) {
    int half = e / 128, k = (e % 128) / 32, l = e % 32;
    ql[64 * half + l + 32 * (k % 2)] |=
        uint8_t((p.codes[e] & 0xF) << (4 * (k / 2)));
    qh[32 * half + l] |= uint8_t((p.codes[e] >> 4) << (2 * k));
  }
  for (int s = 0; s < 16; ++s)
    block[192 + s] = uint8_t(int8_t(p.subScale[s]));
  storeU16(block + 208, p.dBits);
}

} // namespace

void detail::packKBlock(DType dtype, const KBlockParts &parts, uint8_t *block) {
  assert(kblockPartsFit(dtype, parts) && "block parts out of range");
  std::memset(block, 0, size_t(kquantFormat(dtype).blockBytes));
  switch (dtype) {
  case DType::Q2_K:
    return packQ2K(parts, block);
  case DType::Q3_K:
    return packQ3K(parts, block);
  case DType::Q4_K:
    return packQ45K(parts, /*fiveBits=*/false, block);
  case DType::Q5_K:
    return packQ45K(parts, /*fiveBits=*/true, block);
  case DType::Q6_K:
    return packQ6K(parts, block);
  default:
    assert(false && "not a K-quant dtype");
  }
}

bool detail::kblockPartsFit(DType dtype, const KBlockParts &parts) {
  KQuantFormat format = kquantFormat(dtype);
  int lo = 0, hi = 63;
  if (dtype == DType::Q2_K)
    hi = 15;
  else if (dtype == DType::Q3_K)
    lo = -32, hi = 31;
  else if (dtype == DType::Q6_K)
    lo = -128, hi = 127;
  int64_t groups = kKQuantBlock / format.groupSize;
  auto inRange = [&](const int *values) {
    return std::all_of(values, values + groups,
                       [&](int v) { return v >= lo && v <= hi; });
  };
  unsigned limit = 1u << format.bits;
  return std::all_of(parts.codes, parts.codes + kKQuantBlock,
                     [&](uint8_t c) { return c < limit; }) &&
         inRange(parts.subScale) &&
         (format.asymmetric ? inRange(parts.subMin)
                            : std::all_of(parts.subMin, parts.subMin + groups,
                                          [](int v) { return v == 0; }));
}

//===----------------------------------------------------------------------===//
// Encoding floats
//===----------------------------------------------------------------------===//

namespace {

/// Round to nearest, then clamp to [lo, hi].
int roundClamp(float x, int lo, int hi) {
  return std::min(hi, std::max(lo, int(std::lround(x))));
}

/// Rounded up, then clamped to [0, hi] (x >= 0).
int ceilClamp(float x, int hi) {
  return std::min(hi, std::max(0, int(std::ceil(x))));
}

/// f16 super-block scale that maps `largest` to `steps`: rounded to f16
/// first, so the sub-block scales are quantized against the stored value.
float superScale(float largest, int steps, uint16_t &bits) {
  bits = floatToHalf(largest / float(steps));
  return detail::halfToFloat(bits);
}

/// Parts of a format with minimums: per group, the range [min(0, lo), hi]
/// over 2^bits - 1 steps; scales and minimums on grids of `steps` under
/// the f16 super-block scales d and dmin.
KBlockParts encodeWithMins(const float *x, DType dtype, int steps) {
  KQuantFormat format = kquantFormat(dtype);
  KBlockParts p;
  int64_t groups = kKQuantBlock / format.groupSize;
  int nmax = (1 << format.bits) - 1;
  float range[16], offset[16], maxRange = 0.0f, maxOffset = 0.0f;
  for (int64_t g = 0; g < groups; ++g) {
    const float *v = x + g * format.groupSize;
    float lo = 0.0f, hi = v[0];
    for (int64_t i = 0; i < format.groupSize; ++i) {
      lo = std::min(lo, v[i]);
      hi = std::max(hi, v[i]);
    }
    range[g] = (hi - lo) / float(nmax);
    offset[g] = -lo;
    maxRange = std::max(maxRange, range[g]);
    maxOffset = std::max(maxOffset, offset[g]);
  }
  float df = superScale(maxRange, steps, p.dBits);
  float dminf = superScale(maxOffset, steps, p.dminBits);
  for (int64_t g = 0; g < groups; ++g) {
    // The minimum is rounded up, then the scale up to cover what remains,
    // so that (but for the clamps at the grids' ends) no value is clipped.
    p.subMin[g] = dminf > 0.0f ? ceilClamp(offset[g] / dminf, steps) : 0;
    float m = dminf * float(p.subMin[g]);
    float hi = range[g] * float(nmax) - offset[g];
    p.subScale[g] =
        df > 0.0f ? ceilClamp((hi + m) / float(nmax) / df, steps) : 0;
    float a = df * float(p.subScale[g]);
    for (int64_t i = 0; i < format.groupSize; ++i) {
      int64_t e = g * format.groupSize + i;
      p.codes[e] = uint8_t(a > 0.0f ? roundClamp((x[e] + m) / a, 0, nmax) : 0);
    }
  }
  return p;
}

/// Parts of a symmetric format: per group, the value of largest magnitude
/// maps to -2^(bits-1); signed integer scales in [-scaleLimit - 1,
/// scaleLimit] under one f16 super-block scale d.
KBlockParts encodeSymmetric(const float *x, DType dtype, int scaleLimit) {
  KQuantFormat format = kquantFormat(dtype);
  KBlockParts p;
  int64_t groups = kKQuantBlock / format.groupSize;
  int qmin = -(1 << (format.bits - 1)), qmax = -qmin - 1;
  float scale[16], largest = 0.0f;
  for (int64_t g = 0; g < groups; ++g) {
    const float *v = x + g * format.groupSize;
    float extreme = 0.0f;
    for (int64_t i = 0; i < format.groupSize; ++i)
      if (std::fabs(v[i]) > std::fabs(extreme))
        extreme = v[i];
    scale[g] = extreme / float(qmin);
    largest = std::max(largest, std::fabs(scale[g]));
  }
  float df = superScale(largest, scaleLimit, p.dBits);
  for (int64_t g = 0; g < groups; ++g) {
    // Rounded away from zero, so the extreme value is not clipped.
    int magnitude =
        df > 0.0f ? ceilClamp(std::fabs(scale[g]) / df, scaleLimit) : 0;
    p.subScale[g] = scale[g] < 0.0f ? -magnitude : magnitude;
    float a = df * float(p.subScale[g]);
    for (int64_t i = 0; i < format.groupSize; ++i) {
      int64_t e = g * format.groupSize + i;
      int q = a != 0.0f ? roundClamp(x[e] / a, qmin, qmax) : 0;
      p.codes[e] = uint8_t(q - qmin);
    }
  }
  return p;
}

} // namespace

void detail::quantizeKBlock(DType dtype, const float *x, uint8_t *block) {
  switch (dtype) {
  case DType::Q2_K:
    return packKBlock(dtype, encodeWithMins(x, dtype, 15), block);
  case DType::Q3_K:
    return packKBlock(dtype, encodeSymmetric(x, dtype, 31), block);
  case DType::Q4_K:
  case DType::Q5_K:
    return packKBlock(dtype, encodeWithMins(x, dtype, 63), block);
  case DType::Q6_K:
    return packKBlock(dtype, encodeSymmetric(x, dtype, 127), block);
  default:
    assert(false && "not a K-quant dtype");
  }
}
