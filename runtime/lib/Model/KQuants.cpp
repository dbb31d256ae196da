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
// Writing blocks (qopt's encoder, two-level records back to blocks) is in
// KQuantEncode.cpp.
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

void decodeQ2K(const uint8_t *block, KBlockParts &out) {
  const uint8_t *scales = block, *qs = block + 16;
  out.dBits = loadU16(block + 80);
  out.dminBits = loadU16(block + 82);
  for (int s = 0; s < 16; ++s) {
    out.subScale[s] = scales[s] & 0xF;
    out.subMin[s] = scales[s] >> 4;
  }
  unsigned field;
  for (int e = 0; e < kKQuantBlock; ++e)
    out.codes[e] = uint8_t(low2Bits(qs, e, field));
}

void decodeQ3K(const uint8_t *block, KBlockParts &out) {
  const uint8_t *hmask = block, *qs = block + 32, *packed = block + 96;
  out.dBits = loadU16(block + 108);
  // 16 6-bit scales: the low nibbles of bytes 0..7 (scales 0..7) and their
  // high nibbles (8..15), the top two bits from bytes 8..11, two bits per
  // scale, bytes 8 + s % 4, bit pair s / 4.
  for (int s = 0; s < 16; ++s) {
    unsigned low = s < 8 ? packed[s] & 0xF : packed[s - 8] >> 4;
    unsigned high = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
    out.subScale[s] = int(low | (high << 4)) - 32;
    out.subMin[s] = 0;
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
void decodeQ45K(const uint8_t *block, bool fiveBits, KBlockParts &out) {
  out.dBits = loadU16(block);
  out.dminBits = loadU16(block + 2);
  const uint8_t *packed = block + 4;
  const uint8_t *qh = block + 16;
  const uint8_t *qs = block + (fiveBits ? 48 : 16);
  for (int s = 0; s < 8; ++s) {
    uint8_t scale, min;
    scaleMinK4(s, packed, scale, min);
    out.subScale[s] = scale;
    out.subMin[s] = min;
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
void decodeQ6K(const uint8_t *block, KBlockParts &out) {
  const uint8_t *ql = block, *qh = block + 128;
  const int8_t *scales = reinterpret_cast<const int8_t *>(block + 192);
  out.dBits = loadU16(block + 208);
  for (int s = 0; s < 16; ++s) {
    out.subScale[s] = scales[s];
    out.subMin[s] = 0;
  }
  for (int e = 0; e < kKQuantBlock; ++e) {
    int half = e / 128, k = (e % 128) / 32, l = e % 32;
    unsigned low = (ql[64 * half + l + 32 * (k % 2)] >> (4 * (k / 2))) & 0xF;
    unsigned high = (qh[32 * half + l] >> (2 * k)) & 3;
    out.codes[e] = uint8_t(low | (high << 4));
  }
}

} // namespace

KBlockParts detail::decodeKBlock(DType dtype, const uint8_t *block) {
  KBlockParts out;
  switch (dtype) {
  case DType::Q2_K:
    decodeQ2K(block, out);
    break;
  case DType::Q3_K:
    decodeQ3K(block, out);
    break;
  case DType::Q4_K:
    decodeQ45K(block, /*fiveBits=*/false, out);
    break;
  case DType::Q5_K:
    decodeQ45K(block, /*fiveBits=*/true, out);
    break;
  case DType::Q6_K:
    decodeQ6K(block, out);
    break;
  default:
    assert(false && "not a K-quant dtype");
  }
  return out;
}

/// ggml's float scale and minimum of each group of `parts`: d * s[g] and
/// dmin * m[g] (0 for the symmetric formats), single f32 products.
static void groupFloats(const KBlockParts &parts, int64_t groups, float *scale,
                        float *min) {
  float d = detail::halfToFloat(parts.dBits);
  float dmin = detail::halfToFloat(parts.dminBits);
  for (int64_t g = 0; g < groups; ++g) {
    scale[g] = d * float(parts.subScale[g]);
    min[g] = dmin * float(parts.subMin[g]);
  }
}

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
  KBlockParts decoded = decodeKBlock(dtype, block);
  KQuantFormat format = kquantFormat(dtype);
  float scale[16], min[16];
  groupFloats(decoded, kKQuantBlock / format.groupSize, scale, min);
  int zero = format.asymmetric ? 0 : 1 << (format.bits - 1);
  for (int e = 0; e < kKQuantBlock; ++e) {
    int g = int(e / format.groupSize);
    int q = int(decoded.codes[e]) - zero;
    // ggml: a * q - m with the minimums, a * (q - 2^(bits-1)) without.
    out[e] =
        format.asymmetric ? scale[g] * float(q) - min[g] : scale[g] * float(q);
  }
}

void detail::unpackKBlock(DType dtype, const uint8_t *block, uint8_t *codes,
                          float *scales, float *zeros) {
  KBlockParts decoded = decodeKBlock(dtype, block);
  KQuantFormat format = kquantFormat(dtype);
  int64_t groups = kKQuantBlock / format.groupSize;
  float scale[16], min[16];
  groupFloats(decoded, groups, scale, min);
  for (int e = 0; e < kKQuantBlock; ++e)
    codes[e] = decoded.codes[e];
  for (int64_t g = 0; g < groups; ++g) {
    float a = scale[g], m = min[g];
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
  KBlockParts decoded = decodeKBlock(dtype, block);
  KQuantFormat format = kquantFormat(dtype);
  int64_t groups = kKQuantBlock / format.groupSize;
  unsigned subBits = kquantSubBits(dtype);
  std::copy(decoded.codes, decoded.codes + kKQuantBlock, codes);
  writeRecord(decoded.dBits, decoded.subScale, groups, subBits, scaleRecord);
  if (format.asymmetric)
    writeRecord(decoded.dminBits, decoded.subMin, groups, subBits, minRecord);
}

/// The sub-codes of one two-level record (the inverse of writeRecord);
/// returns the f16 bits of its super-scale.
static uint16_t readRecord(const uint8_t *record, int64_t groups,
                           unsigned subBits, int *sub) {
  const uint8_t *codes = record + 2;
  for (int64_t g = 0; g < groups; ++g)
    sub[g] = subBits == 4 ? (codes[g / 2] >> (4 * (g % 2))) & 0xF
                          : int(int8_t(codes[g]));
  return loadU16(record);
}

KBlockParts detail::partsFromTwoLevel(DType dtype, const uint8_t *codes,
                                      const uint8_t *scaleRecord,
                                      const uint8_t *minRecord) {
  KQuantFormat format = kquantFormat(dtype);
  int64_t groups = kKQuantBlock / format.groupSize;
  unsigned subBits = kquantSubBits(dtype);
  KBlockParts parts;
  std::copy(codes, codes + kKQuantBlock, parts.codes);
  parts.dBits = readRecord(scaleRecord, groups, subBits, parts.subScale);
  if (format.asymmetric)
    parts.dminBits = readRecord(minRecord, groups, subBits, parts.subMin);
  return parts;
}
