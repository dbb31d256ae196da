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

/// Encodes the 256 values at `x` as one K-quant block at `block`
/// (kquantFormat(dtype).blockBytes bytes) with qopt's round-to-nearest
/// encoder (GGUFWriter.h, quantizeKQuant).
void quantizeKBlock(DType dtype, const float *x, uint8_t *block);

} // namespace detail
} // namespace model
} // namespace qopt

#endif // QOPT_MODEL_KQUANTS_H
