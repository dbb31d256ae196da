//===- KQuants.h - GGUF K-quant super-blocks --------------------*- C++ -*-===//
//
// The five K-quant block types of ggml (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K):
// super-blocks of 256 values, each a run of sub-blocks (16 of 16 values, or
// 8 of 32 for Q4_K/Q5_K) with their own small scales under f16 super-block
// scales. Two views of one block:
//   - dequantizeKBlock: the 256 floats, computed with ggml's arithmetic in
//     ggml's order (dequantize_row_q*_K), so the values are ggml's;
//   - unpackKBlock: qopt's form w = a * (q - z) (DESIGN.md), one code per
//     byte and one scale (and zero point for Q2_K/Q4_K/Q5_K) per sub-block;
//   - unpackKBlockTwoLevel: one code per byte and the file's two-level
//     scales (and minimums) as qopt's `super = 256` records.
// Both views come from KBlockParts, the block's numbers as the file holds
// them; packKBlock writes those numbers back as a block (KQuantEncode.cpp,
// with qopt's encoder of floats and the writer of two-level records).
// Bit layouts are in docs/model-io.md.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODEL_KQUANTS_H
#define QOPT_MODEL_KQUANTS_H

#include "qopt/Model/Checkpoint.h"

#include <cstdint>

namespace qopt {
namespace model {
namespace detail {

/// Values per K-quant super-block (ggml's QK_K).
constexpr int64_t kKQuantBlock = 256;

/// The code width of a K-quant dtype (2..6), the sub-block (group) size
/// and whether it has per-group minimums (asymmetric in qopt's terms).
struct KQuantFormat {
  unsigned bits;
  int64_t groupSize;
  bool asymmetric;
  int64_t blockBytes;
};
KQuantFormat kquantFormat(DType dtype);

/// The numbers of one block as the file holds them: one code per value,
/// the f16 bits of the super-scale d (and dmin) and the integer sub-scales
/// (and sub-minimums) per group: Q3_K's 6-bit scales minus 32, Q6_K's
/// signed bytes, the others unsigned. ggml's group scale is d * subScale[g]
/// and its minimum dmin * subMin[g].
struct KBlockParts {
  uint8_t codes[kKQuantBlock];
  uint16_t dBits = 0, dminBits = 0;
  int subScale[16] = {};
  int subMin[16] = {};
};

/// The parts of the K-quant block at `block`.
KBlockParts decodeKBlock(DType dtype, const uint8_t *block);

/// Writes `parts` as one block of `dtype` at `block` (blockBytes bytes), the
/// inverse of decodeKBlock. The caller checks that every number fits its
/// field (kblockPartsFit).
void packKBlock(DType dtype, const KBlockParts &parts, uint8_t *block);

/// True if the codes and sub-codes of `parts` fit `dtype`'s fields: codes
/// below 2^bits, sub-scales and minimums in [0, 15] (Q2_K), [-32, 31]
/// (Q3_K), [0, 63] (Q4_K, Q5_K) or [-128, 127] (Q6_K).
bool kblockPartsFit(DType dtype, const KBlockParts &parts);

/// Writes the 256 values of the K-quant block at `block` to `out`.
void dequantizeKBlock(DType dtype, const uint8_t *block, float *out);

/// Writes the block's 256 codes to `codes`, its 256 / groupSize scales to
/// `scales` and, for asymmetric formats, its zero points to `zeros`.
void unpackKBlock(DType dtype, const uint8_t *block, uint8_t *codes,
                  float *scales, float *zeros);

/// The width of a K-quant's integer sub-scales in qopt's two-level form:
/// 4 (Q2_K's nibbles, unsigned), else 8 (signed bytes).
unsigned kquantSubBits(DType dtype);
/// Bytes of one two-level record of a super-block (2 + its sub-codes).
int64_t kquantRecordBytes(DType dtype);

/// Writes the block's 256 codes to `codes` and its scales in two levels
/// (qopt's `super = 256` records, QOptTypes.td) to `scaleRecord`: the f16
/// bits of d, then the sub-scales; for asymmetric formats the same form of
/// dmin and the sub-minimums to `minRecord`. Exactly the file's numbers.
void unpackKBlockTwoLevel(DType dtype, const uint8_t *block, uint8_t *codes,
                          uint8_t *scaleRecord, uint8_t *minRecord);

/// The parts of one block from its 256 codes and its two-level records
/// (the inverse of unpackKBlockTwoLevel; `minRecord` only for asymmetric
/// formats).
KBlockParts partsFromTwoLevel(DType dtype, const uint8_t *codes,
                              const uint8_t *scaleRecord,
                              const uint8_t *minRecord);

/// Encodes the 256 values at `x` as one K-quant block at `block`
/// (kquantFormat(dtype).blockBytes bytes) with qopt's round-to-nearest
/// encoder (GGUFWriter.h, quantizeKQuant).
void quantizeKBlock(DType dtype, const float *x, uint8_t *block);

} // namespace detail
} // namespace model
} // namespace qopt

#endif // QOPT_MODEL_KQUANTS_H
