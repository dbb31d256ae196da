//===- KQuants.cpp - GGUF K-quant super-blocks ------------------*- C++ -*-===//
//
// Decoding of ggml's Q2_K..Q6_K blocks. Every block is first decoded into
// one code per value and, per sub-block, the float scale `a` and the float
// minimum `m` exactly as ggml computes them (a = d * scale, m = dmin * min,
// both single products of f16 and small integers); the value is then
// a * q - m for the formats with minimums and a * (q - z) for the others,
// ggml's own expressions. Layouts (ggml-common.h, docs/model-io.md):
//
//   Q2_K  scales[16] (low nibble scale, high nibble min) qs[64] d dmin
//   Q3_K  hmask[32] qs[64] scales[12] (16 x 6 bits) d
//   Q4_K  d dmin scales[12] (8 scales + 8 mins, 6 bits) qs[128]
//   Q5_K  d dmin scales[12] qh[32] qs[128]
//   Q6_K  ql[128] qh[64] scales[16] (int8) d
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

namespace {

/// One decoded super-block: codes, and per sub-block ggml's float scale and
/// minimum (0 for the symmetric formats).
struct DecodedBlock {
  uint8_t codes[kKQuantBlock];
  float scale[16];
  float min[16];
  /// The same in two levels, as the file holds them: the f16 bits of the
  /// super-scale d (and dmin) and the integer sub-scales (and minimums),
  /// scale[g] = d * subScale[g], min[g] = dmin * subMin[g].
  uint16_t dBits = 0, dminBits = 0;
  int subScale[16];
  int subMin[16];
};

/// The 6-bit scale and min of sub-block `j` (0..7) of a Q4_K/Q5_K block:
/// the first four in the low 6 bits of bytes j and j + 4, the last four
/// split between a nibble of byte j + 4 and the top 2 bits of bytes j - 4
/// and j (ggml's get_scale_min_k4).
void scaleMinK4(int j, const uint8_t *q, uint8_t &scale, uint8_t &min) {
  if (j < 4) {
    scale = q[j] & 63;
    min = q[j + 4] & 63;
  } else {
    scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

/// The low two bits of value `e` in the qs array shared by Q2_K and Q3_K:
/// each half of the block (128 values) uses 32 bytes, four 2-bit fields per
/// byte; field `j` of byte `l` (and `l + 16`) holds values 32 j + l (and
/// 32 j + 16 + l).
unsigned low2Bits(const uint8_t *qs, int e, unsigned &field) {
  int half = e / 128, r = e % 128;
  field = unsigned(r / 32);
  return (qs[32 * half + (r % 32)] >> (2 * field)) & 3;
}

void decodeQ2K(const uint8_t *block, DecodedBlock &out) {
  const uint8_t *scales = block, *qs = block + 16;
  out.dBits = loadU16(block + 80);
  out.dminBits = loadU16(block + 82);
  float d = detail::halfToFloat(out.dBits);
  float dmin = detail::halfToFloat(out.dminBits);
  for (int s = 0; s < 16; ++s) {
    out.subScale[s] = scales[s] & 0xF;
    out.subMin[s] = scales[s] >> 4;
    out.scale[s] = d * float(out.subScale[s]);
    out.min[s] = dmin * float(out.subMin[s]);
  }
  unsigned field;
  for (int e = 0; e < kKQuantBlock; ++e)
    out.codes[e] = uint8_t(low2Bits(qs, e, field));
}

void decodeQ3K(const uint8_t *block, DecodedBlock &out) {
  const uint8_t *hmask = block, *qs = block + 32, *packed = block + 96;
  out.dBits = loadU16(block + 108);
  float d = detail::halfToFloat(out.dBits);
  // 16 6-bit scales: the low nibbles of bytes 0..7 (scales 0..7) and their
  // high nibbles (8..15), the top two bits from bytes 8..11, two bits per
  // scale, bytes 8 + s % 4, bit pair s / 4.
  for (int s = 0; s < 16; ++s) {
    unsigned low = s < 8 ? packed[s] & 0xF : packed[s - 8] >> 4;
    unsigned high = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
    out.subScale[s] = int(low | (high << 4)) - 32;
    out.subMin[s] = 0;
    out.scale[s] = d * float(out.subScale[s]);
    out.min[s] = 0.0f;
  }
  // Code = low two bits + 4 * high bit; the high bit of value e sits in
  // hmask[e % 32], bit 4 * (e / 128) + field. ggml's value is code - 4.
  unsigned field;
  for (int e = 0; e < kKQuantBlock; ++e) {
    unsigned low = low2Bits(qs, e, field);
    unsigned bit = 4 * unsigned(e / 128) + field;
    unsigned high = (hmask[e % 32] >> bit) & 1;
    out.codes[e] = uint8_t(low | (high << 2));
  }
}

/// Q4_K and Q5_K: d dmin scales[12], then (Q5_K) qh[32], then qs[128].
/// Values 64 c .. 64 c + 63 use qs[32 c .. 32 c + 31]: the low nibbles
/// for the first 32, the high ones for the next; Q5_K's fifth bit of value
/// 64 c + 32 h + l is bit 2 c + h of qh[l].
void decodeQ45K(const uint8_t *block, bool fiveBits, DecodedBlock &out) {
  out.dBits = loadU16(block);
  out.dminBits = loadU16(block + 2);
  float d = detail::halfToFloat(out.dBits);
  float dmin = detail::halfToFloat(out.dminBits);
  const uint8_t *packed = block + 4;
  const uint8_t *qh = block + 16;
  const uint8_t *qs = block + (fiveBits ? 48 : 16);
  for (int s = 0; s < 8; ++s) {
    uint8_t scale, min;
    scaleMinK4(s, packed, scale, min);
    out.subScale[s] = scale;
    out.subMin[s] = min;
    out.scale[s] = d * float(scale);
    out.min[s] = dmin * float(min);
  }
  for (int e = 0; e < kKQuantBlock; ++e) {
    int c = e / 64, h = (e % 64) / 32, l = e % 32;
    unsigned code = (qs[32 * c + l] >> (4 * h)) & 0xF;
    if (fiveBits)
      code |= ((qh[l] >> (2 * c + h)) & 1) << 4;
    out.codes[e] = uint8_t(code);
  }
}

/// Q6_K: each half (128 values) uses 64 bytes of ql and 32 of qh. Quarter
/// k of the half takes the low (k < 2) or high nibble of ql[l + 32 (k % 2)]
/// and bits 2k, 2k + 1 of qh[l]; ggml's value is code - 32.
void decodeQ6K(const uint8_t *block, DecodedBlock &out) {
  const uint8_t *ql = block, *qh = block + 128;
  const int8_t *scales = reinterpret_cast<const int8_t *>(block + 192);
  out.dBits = loadU16(block + 208);
  float d = detail::halfToFloat(out.dBits);
  for (int s = 0; s < 16; ++s) {
    out.subScale[s] = scales[s];
    out.subMin[s] = 0;
    out.scale[s] = d * float(scales[s]);
    out.min[s] = 0.0f;
  }
  for (int e = 0; e < kKQuantBlock; ++e) {
    int half = e / 128, k = (e % 128) / 32, l = e % 32;
    unsigned low = (ql[64 * half + l + 32 * (k % 2)] >> (4 * (k / 2))) & 0xF;
    unsigned high = (qh[32 * half + l] >> (2 * k)) & 3;
    out.codes[e] = uint8_t(low | (high << 4));
  }
}

void decode(DType dtype, const uint8_t *block, DecodedBlock &out) {
  switch (dtype) {
  case DType::Q2_K:
    return decodeQ2K(block, out);
  case DType::Q3_K:
    return decodeQ3K(block, out);
  case DType::Q4_K:
    return decodeQ45K(block, /*fiveBits=*/false, out);
  case DType::Q5_K:
    return decodeQ45K(block, /*fiveBits=*/true, out);
  case DType::Q6_K:
    return decodeQ6K(block, out);
  default:
    assert(false && "not a K-quant dtype");
  }
}

} // namespace

bool qopt::model::isKQuant(DType dtype) {
  switch (dtype) {
  case DType::Q2_K:
  case DType::Q3_K:
  case DType::Q4_K:
  case DType::Q5_K:
  case DType::Q6_K:
    return true;
  default:
    return false;
  }
}

KQuantFormat detail::kquantFormat(DType dtype) {
  switch (dtype) {
  case DType::Q2_K:
    return {2, 16, true, 84};
  case DType::Q3_K:
    return {3, 16, false, 110};
  case DType::Q4_K:
    return {4, 32, true, 144};
  case DType::Q5_K:
    return {5, 32, true, 176};
  case DType::Q6_K:
    return {6, 16, false, 210};
  default:
    assert(false && "not a K-quant dtype");
    return {0, 0, false, 0};
  }
}

void detail::dequantizeKBlock(DType dtype, const uint8_t *block, float *out) {
  DecodedBlock decoded;
  decode(dtype, block, decoded);
  KQuantFormat format = kquantFormat(dtype);
  int zero = format.asymmetric ? 0 : 1 << (format.bits - 1);
  for (int e = 0; e < kKQuantBlock; ++e) {
    int g = int(e / format.groupSize);
    int q = int(decoded.codes[e]) - zero;
    // ggml: a * q - m with the minimums, a * (q - 2^(bits-1)) without.
    out[e] = format.asymmetric ? decoded.scale[g] * float(q) - decoded.min[g]
                               : decoded.scale[g] * float(q);
  }
}

void detail::unpackKBlock(DType dtype, const uint8_t *block, uint8_t *codes,
                          float *scales, float *zeros) {
  DecodedBlock decoded;
  decode(dtype, block, decoded);
  KQuantFormat format = kquantFormat(dtype);
  int64_t groups = kKQuantBlock / format.groupSize;
  for (int e = 0; e < kKQuantBlock; ++e)
    codes[e] = decoded.codes[e];
  for (int64_t g = 0; g < groups; ++g) {
    float a = decoded.scale[g], m = decoded.min[g];
    scales[g] = a;
    if (!format.asymmetric)
      continue;
    // a * q - m = a * (q - m / a). A group whose scale is 0 holds the one
    // value -m: codes 0, scale m and zero point 1 give it exactly.
    if (a != 0.0f || m == 0.0f) {
      zeros[g] = a != 0.0f ? m / a : 0.0f;
      continue;
    }
    for (int64_t i = 0; i < format.groupSize; ++i)
      codes[g * format.groupSize + i] = 0;
    scales[g] = m;
    zeros[g] = 1.0f;
  }
}

unsigned detail::kquantSubBits(DType dtype) {
  return dtype == DType::Q2_K ? 4 : 8;
}

int64_t detail::kquantRecordBytes(DType dtype) {
  KQuantFormat format = kquantFormat(dtype);
  int64_t groups = kKQuantBlock / format.groupSize;
  return 2 + (groups * kquantSubBits(dtype) + 7) / 8;
}

/// One two-level record: the f16 bits of `super`, then the sub-codes
/// (nibbles, or one byte each as two's complement).
static void writeRecord(uint16_t super, const int *sub, int64_t groups,
                        unsigned subBits, uint8_t *record) {
  record[0] = uint8_t(super & 0xFF);
  record[1] = uint8_t(super >> 8);
  uint8_t *codes = record + 2;
  if (subBits == 4) {
    for (int64_t g = 0; g < groups; g += 2)
      codes[g / 2] = uint8_t((sub[g] & 0xF) | ((sub[g + 1] & 0xF) << 4));
    return;
  }
  for (int64_t g = 0; g < groups; ++g)
    codes[g] = uint8_t(int8_t(sub[g]));
}

void detail::unpackKBlockTwoLevel(DType dtype, const uint8_t *block,
                                  uint8_t *codes, uint8_t *scaleRecord,
                                  uint8_t *minRecord) {
  DecodedBlock decoded;
  decode(dtype, block, decoded);
  KQuantFormat format = kquantFormat(dtype);
  int64_t groups = kKQuantBlock / format.groupSize;
  unsigned subBits = kquantSubBits(dtype);
  std::copy(decoded.codes, decoded.codes + kKQuantBlock, codes);
  writeRecord(decoded.dBits, decoded.subScale, groups, subBits, scaleRecord);
  if (format.asymmetric)
    writeRecord(decoded.dminBits, decoded.subMin, groups, subBits, minRecord);
}

//===----------------------------------------------------------------------===//
// Encoding
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

/// Codes of a format with minimums: per group, the range [min(0, lo), hi]
/// over 2^bits - 1 steps; scales and minimums on grids of `scaleSteps` /
/// `minSteps` under f16 super-block scales `d` / `dmin`. Fills the codes,
/// the integer scales and minimums, and the two f16 scales.
void encodeWithMins(const float *x, const KQuantFormat &format, int scaleSteps,
                    int minSteps, uint8_t *codes, uint8_t *scales,
                    uint8_t *mins, uint16_t &d, uint16_t &dmin) {
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
  float df = superScale(maxRange, scaleSteps, d);
  float dminf = superScale(maxOffset, minSteps, dmin);
  for (int64_t g = 0; g < groups; ++g) {
    // The minimum is rounded up, then the scale up to cover what remains,
    // so that (but for the clamps at the grids' ends) no value is clipped.
    mins[g] =
        uint8_t(dminf > 0.0f ? ceilClamp(offset[g] / dminf, minSteps) : 0);
    float m = dminf * float(mins[g]);
    float hi = range[g] * float(nmax) - offset[g];
    scales[g] = uint8_t(
        df > 0.0f ? ceilClamp((hi + m) / float(nmax) / df, scaleSteps) : 0);
    float a = df * float(scales[g]);
    for (int64_t i = 0; i < format.groupSize; ++i) {
      int64_t e = g * format.groupSize + i;
      codes[e] = uint8_t(a > 0.0f ? roundClamp((x[e] + m) / a, 0, nmax) : 0);
    }
  }
}

/// Codes of a symmetric format: per group, the value of largest magnitude
/// maps to -2^(bits-1); signed integer scales in [-scaleLimit - 1,
/// scaleLimit] under one f16 super-block scale `d`.
void encodeSymmetric(const float *x, const KQuantFormat &format, int scaleLimit,
                     uint8_t *codes, int *scales, uint16_t &d) {
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
  float df = superScale(largest, scaleLimit, d);
  for (int64_t g = 0; g < groups; ++g) {
    // Rounded away from zero, so the extreme value is not clipped.
    int magnitude =
        df > 0.0f ? ceilClamp(std::fabs(scale[g]) / df, scaleLimit) : 0;
    scales[g] = scale[g] < 0.0f ? -magnitude : magnitude;
    float a = df * float(scales[g]);
    for (int64_t i = 0; i < format.groupSize; ++i) {
      int64_t e = g * format.groupSize + i;
      int q = a != 0.0f ? roundClamp(x[e] / a, qmin, qmax) : 0;
      codes[e] = uint8_t(q - qmin);
    }
  }
}

void storeU16(uint8_t *p, uint16_t v) {
  p[0] = uint8_t(v & 0xFF);
  p[1] = uint8_t(v >> 8);
}

/// Inverse of low2Bits: puts the low two bits of every code into `qs`.
void packLow2Bits(const uint8_t *codes, uint8_t *qs) {
  for (int e = 0; e < kKQuantBlock; ++e) {
    int half = e / 128, r = e % 128;
    qs[32 * half + (r % 32)] |= uint8_t((codes[e] & 3) << (2 * (r / 32)));
  }
}

void encodeQ2K(const float *x, uint8_t *block) {
  uint8_t codes[kKQuantBlock], scales[16], mins[16];
  uint16_t d, dmin;
  encodeWithMins(x, kquantFormat(DType::Q2_K), 15, 15, codes, scales, mins, d,
                 dmin);
  for (int s = 0; s < 16; ++s)
    block[s] = uint8_t(scales[s] | (mins[s] << 4));
  packLow2Bits(codes, block + 16);
  storeU16(block + 80, d);
  storeU16(block + 82, dmin);
}

void encodeQ3K(const float *x, uint8_t *block) {
  uint8_t codes[kKQuantBlock];
  int scales[16];
  uint16_t d;
  encodeSymmetric(x, kquantFormat(DType::Q3_K), 31, codes, scales, d);
  uint8_t *hmask = block, *packed = block + 96;
  for (int s = 0; s < 16; ++s) {
    unsigned v = unsigned(scales[s] + 32);
    if (s < 8)
      packed[s] |= uint8_t(v & 0xF);
    else
      packed[s - 8] |= uint8_t((v & 0xF) << 4);
    packed[8 + s % 4] |= uint8_t((v >> 4) << (2 * (s / 4)));
  }
  packLow2Bits(codes, block + 32);
  for (int e = 0; e < kKQuantBlock; ++e)
    hmask[e % 32] |=
        uint8_t(((codes[e] >> 2) & 1) << (4 * (e / 128) + (e % 128) / 32));
  storeU16(block + 108, d);
}

void encodeQ45K(const float *x, bool fiveBits, uint8_t *block) {
  uint8_t codes[kKQuantBlock], scales[8], mins[8];
  uint16_t d, dmin;
  encodeWithMins(x, kquantFormat(fiveBits ? DType::Q5_K : DType::Q4_K), 63, 63,
                 codes, scales, mins, d, dmin);
  storeU16(block, d);
  storeU16(block + 2, dmin);
  // Inverse of scaleMinK4.
  uint8_t *packed = block + 4;
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      packed[j] |= scales[j];
      packed[j + 4] |= mins[j];
    } else {
      packed[j + 4] = uint8_t((scales[j] & 0xF) | ((mins[j] & 0xF) << 4));
      packed[j - 4] |= uint8_t((scales[j] >> 4) << 6);
      packed[j] |= uint8_t((mins[j] >> 4) << 6);
    }
  }
  uint8_t *qh = block + 16, *qs = block + (fiveBits ? 48 : 16);
  for (int e = 0; e < kKQuantBlock; ++e) {
    int c = e / 64, h = (e % 64) / 32, l = e % 32;
    qs[32 * c + l] |= uint8_t((codes[e] & 0xF) << (4 * h));
    if (fiveBits)
      qh[l] |= uint8_t(((codes[e] >> 4) & 1) << (2 * c + h));
  }
}

void encodeQ6K(const float *x, uint8_t *block) {
  uint8_t codes[kKQuantBlock];
  int scales[16];
  uint16_t d;
  encodeSymmetric(x, kquantFormat(DType::Q6_K), 127, codes, scales, d);
  uint8_t *ql = block, *qh = block + 128;
  for (int e = 0; e < kKQuantBlock; ++e) {
    int half = e / 128, k = (e % 128) / 32, l = e % 32;
    ql[64 * half + l + 32 * (k % 2)] |=
        uint8_t((codes[e] & 0xF) << (4 * (k / 2)));
    qh[32 * half + l] |= uint8_t((codes[e] >> 4) << (2 * k));
  }
  for (int s = 0; s < 16; ++s)
    block[192 + s] = uint8_t(int8_t(scales[s]));
  storeU16(block + 208, d);
}

} // namespace

void detail::quantizeKBlock(DType dtype, const float *x, uint8_t *block) {
  std::memset(block, 0, size_t(kquantFormat(dtype).blockBytes));
  switch (dtype) {
  case DType::Q2_K:
    return encodeQ2K(x, block);
  case DType::Q3_K:
    return encodeQ3K(x, block);
  case DType::Q4_K:
    return encodeQ45K(x, /*fiveBits=*/false, block);
  case DType::Q5_K:
    return encodeQ45K(x, /*fiveBits=*/true, block);
  case DType::Q6_K:
    return encodeQ6K(x, block);
  default:
    assert(false && "not a K-quant dtype");
  }
}
