//===- IntegerPlan.h - Weight codes of the integer matmul path --*- C++ -*-===//
//
// The static plan of the int8-activation matmul (IntegerMatmul.cpp) for one
// weight type, and the code that reads a superblock of weight codes in the
// plan's order: dense rows of any width 1..8 (in units of 8 / gcd(c, 8)
// codes) and nested bit planes. Private to lowering/lib/Kernels.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LOWERING_KERNELS_INTEGERPLAN_H
#define QOPT_LOWERING_KERNELS_INTEGERPLAN_H

#include "KernelBuilder.h"

#include <optional>

namespace mlir {
namespace qopt {
namespace integer {

/// The static shape of the integer path for one weight type.
struct IntegerPlan {
  /// Elements per superblock (S = 4 * L * parts), the i32 lanes of one
  /// vector (L) and the integer dots per superblock (`parts`, one per 4L
  /// code bytes). With several parts, lane l of every part holds codes of
  /// the same weight group and activation block, so the parts' products
  /// accumulate in i32 before one conversion (a dense 2-bit row: 256
  /// elements, its 64 storage bytes unpacked by four shift-and-masks, lane
  /// l of each part in group l of 16).
  int64_t superblock = 0, lanes = 0, parts = 1;
  /// Weight group size (columns for per-channel and per-tensor).
  int64_t group = 0;
  /// order[p]: the element of the superblock at byte p of the code vector.
  SmallVector<int64_t> order;
  /// The 32-block (within the superblock) of every i32 lane.
  SmallVector<int64_t> blockOfLane;
  /// p - r: served codes are in units of 2^shift of the parent's.
  unsigned shift = 0;
  /// Dense rows: a unit of `unitBytes` storage bytes holds `perUnit` codes
  /// (8 / gcd(c, 8) codes of c bits: 8 of 1, 3, 5 or 7 bits, 4 of 2 or 6, 2
  /// of 4, 1 of 8). The codes are extracted part by part, part i holding
  /// code i of every unit; when the part order would put two groups in one
  /// lane (odd widths with groups of 16), `reorder` shuffles them back into
  /// element order.
  int64_t perUnit = 1, unitBytes = 1;
  SmallVector<int64_t> reorder;
  /// Dense rows whose units do not split into group-aligned parts (3, 5 or
  /// 7 bits, 1 bit in groups of 16): each code is read from the 16-bit
  /// window of storage that holds it (a byte gather, a per-lane shift, a
  /// mask and a narrowing), straight into the plan's order, in which lane
  /// l of part p holds elements l * 4P + 4p .. + 3.
  bool gathered = false;
  /// Nested codes assembled with GFNI (gfniApplies, the `gfni` option): the
  /// planes' bytes transposed so that each 8-byte word holds one byte of
  /// every plane, then vgf2p8affineqb turns each word's 8 x 8 bit matrix
  /// into the 8 elements' codes.
  bool gfni = false;
  /// The prefill GEMM (lowerPanels) multiplies with AMX tiles: 16 tokens x
  /// L = 16 rows per tile, one tdpbsud per lane set (IntegerPanels.cpp).
  bool amx = false;
  /// The prefill GEMM multiplies bf16 weights and activations with AMX tiles
  /// instead of int8 codes (lowerBf16Panels, AmxBf16.cpp).
  bool amxBf16 = false;
};

/// True if nested codes of `type` can take the GFNI reader under `plan`:
/// 64-element superblocks (16 lanes, one part) of 4 or more planes.
bool gfniApplies(QTensorType type, const IntegerPlan &plan);

/// Elements per activation block (one int8 scale each).
constexpr int64_t kBlock = 32;
/// The smallest weight group the integer path takes (ggml's Q2_K, Q3_K and
/// Q6_K sub-blocks).
constexpr int64_t kMinGroup = 16;

/// The zero point of symmetric weights of `type` in the parent codes' units,
/// 2^(p-1) (an r-bit slice's is 2^(r-1): this shifted right by plan.shift).
inline int64_t symmetricZero(QTensorType type) {
  return int64_t(1) << (type.getEffectiveParentBits() - 1);
}

/// The plan for weights of `type` at `width` f32 lanes, or nothing when the
/// integer path does not apply (then the exact path is used).
std::optional<IntegerPlan> planFor(QTensorType type, int64_t width);

/// A vector of `n` elements of `element`.
VectorType vecOf(int64_t n, Type element);

/// The S served codes of superblock `sb` of row `n` as u8 in the plan's
/// order: `plan.parts` vectors of 4L bytes.
SmallVector<Value> loadSuperblockCodes(KernelBuilder &k, const QuantBuffers &q,
                                       const IntegerPlan &plan, Value n,
                                       Value sb);

/// Prefetches the codes (and once per cache line the scales and zero
/// points) of superblock `sb` of row `next`.
void prefetchSuperblock(KernelBuilder &k, const QuantBuffers &q,
                        const IntegerPlan &plan, Value next, Value sb);

/// Lane vector of the weight scales of superblock `sb` of row `n` (f32,
/// lane l holding the scale of its group), or with `offsets` of the
/// groups' scale * zero (asymmetric weights; the minimums of two-level
/// scales: groupOffset).
Value groupLanes(KernelBuilder &k, const QuantBuffers &q,
                 const IntegerPlan &plan, Value n, Value sb,
                 bool offsets = false);

/// Transposes n vectors of n elements (n a power of two): log2(n) stages
/// that swap the off-diagonal blocks of size n/2, n/4, ..., 1 with
/// two-source shuffles.
SmallVector<Value> transposeSquare(KernelBuilder &k, SmallVector<Value> rows);

/// The activation buffers of one matmul call: int8 codes in the plan's
/// order [tokens, cols]; per superblock the lane vector of the activation
/// scale times 2^shift [tokens, superblocks * L]; and per weight group the
/// correction -sum over its blocks of sx * sum(q) [tokens, groups] (times
/// the zero point for symmetric weights, which is a constant).
struct Activations {
  Value codes, scale, groupSums;
};

/// acc[i] + sum_{j < 4} u[4i + j] * s[4i + j] (u unsigned, s signed bytes),
/// emitted as `isa` says.
Value dotBytes(KernelBuilder &k, IntDot isa, Value acc, Value u, Value s);

/// The words (four codes: lane l of part p is word p * L + l) of a
/// superblock grouped by the weight group and activation block their codes
/// belong to (one weight scale and one activation scale per set), in
/// element order. Every set has min(group, 32) / 4 words.
SmallVector<SmallVector<int64_t>> panelLaneSets(const IntegerPlan &plan);

/// One panel's packed operands in lowerPanels: the codes [superblock *
/// words + packed row, 4L] i8 (packed row j holds four codes of each of the
/// L rows), and per group the weight scales and the zero-point factors [group,
/// L] f32 (`zeros` is `scales` for symmetric weights). With `signedCodes`
/// (AMX tiles and symmetric weights) the codes are stored less their zero
/// point, as signed bytes, so the products need no zero-point terms.
struct PanelPack {
  Value codes, scales, zeros;
  bool signedCodes = false;
};

/// The scales of lane set `set` (words `setWords`) of superblock `sb` in a
/// panel: the vector of the set's weight scales over the panel's rows, and
/// the column of act.scale that holds its activation scale (any lane of
/// the set holds it).
struct SetScales {
  Value weights, activationColumn;
};
SetScales panelSetScales(KernelBuilder &k, const IntegerPlan &plan,
                         const PanelPack &pack, Value sb,
                         ArrayRef<int64_t> setWords);

/// Adds the zero-point terms to `acc` (one vector of the panel's L rows per
/// token of `tokens`; none for signed codes) and stores y[tokens[i], rows].
/// With `numTokens`, only the tokens below it are stored (the others read the
/// last token's sums).
void finishPanelTile(KernelBuilder &k, const Activations &act,
                     const PanelPack &pack, Value out, ArrayRef<Value> tokens,
                     SmallVector<Value> acc, int64_t numGroups,
                     ArrayRef<Value> rows, Value numTokens = nullptr);

/// numTokens rounded up to a multiple of 16, the tokens of an AMX tile (the
/// int8 and the bf16 tiles; IntegerAmx.cpp).
Value amxPaddedTokens(KernelBuilder &k, Value numTokens);

/// AMX (IntegerAmx.cpp). Rows of amxPanel's `sums` buffer ([rows, 16] i32): two
/// slots of one 16 x 16 tile per lane set of a superblock.
int64_t amxSumsRows(const IntegerPlan &plan);

/// The packed row of each word of a superblock: the
/// lane sets one after the other, so that a set is rows [s * W, s * W + W)
/// (W = words per set) of the panel's codes.
SmallVector<int64_t> amxWordRows(const IntegerPlan &plan);

/// A copy of the activation codes for AMX tiles, [ceil(tokens / 16), cols
/// * 16] i8: the words of each superblock in amxWordRows' order, and each
/// lane set's bytes of 16 tokens side by side (set bytes at column c of
/// token t: block t / 16, from c * 16 + (t % 16) * span); the padding
/// tokens' codes are zero. A lane set of 16 tokens is one contiguous tile.
Value amxActivations(KernelBuilder &k, const IntegerPlan &plan, Value codes,
                     Value numTokens, int64_t cols);

/// y[t, rows] for the tokens [tBegin, tEnd) (tBegin a multiple of 16;
/// tokens past numTokens are padding, not stored) with AMX tiles: per 16
/// tokens and lane set,
/// one tdpbsud of the activations' tile (s8, 16 tokens x 4W bytes) and the
/// panel's codes (u8, W x 64 bytes) into 16 x 16 i32 sums, stored to
/// `sums` ([amxSumsRows, 16] i32) and scaled into f32 accumulators as the VNNI
/// micro-kernel does.
void amxPanel(KernelBuilder &k, const IntegerPlan &plan, const Activations &act,
              Value amxCodes, const PanelPack &pack, Value sums, Value out,
              Value numTokens, Value tBegin, Value tEnd, int64_t numGroups,
              ArrayRef<Value> rows);

/// The prefill GEMM (IntegerPanels.cpp): rows [0, panels * L) of y for
/// every token, L = plan.lanes rows at a time. Each panel's codes are
/// unpacked once per call into a row-interleaved buffer, then swept by a
/// micro-kernel that keeps a tile of tokens x L rows in registers, 128
/// tokens at a time over a thread's run of panels.
void lowerPanels(KernelBuilder &k, const QuantBuffers &q,
                 const IntegerPlan &plan, const Activations &act, Value out,
                 Value numTokens, IntDot isa, int64_t panels);

/// The prefill GEMM with bf16 AMX tiles (AmxBf16.cpp): rows [0, panels *
/// 16) of y = x w^T for every token of x (f32 [tokens, cols]). Each panel
/// of 16 weight rows is dequantized once per call to bf16 in the plan's
/// element order, the activations are copied to bf16 in the same order,
/// and `tdpbf16ps` accumulates 2 x 2 tiles (32 tokens x 32 rows) in f32
/// over the whole row.
void lowerBf16Panels(KernelBuilder &k, const QuantBuffers &q,
                     const IntegerPlan &plan, Value x, Value out,
                     Value numTokens, int64_t panels);

} // namespace integer
} // namespace qopt
} // namespace mlir

#endif // QOPT_LOWERING_KERNELS_INTEGERPLAN_H
