//===- PairMerge.h - Greedy merging of adjacent symbol pairs ----*- C++ -*-===//
//
// The one BPE engine of the tokenizers: merges adjacent pairs of token ids,
// the best first, through one priority queue of candidate pairs over a
// linked list of symbols, as SentencePiece does: O(n log n) in the length of
// the text, where rescanning for the best pair after every merge is O(n^2).
// Private to runtime/lib/Model.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_MODEL_PAIRMERGE_H
#define QOPT_LIB_MODEL_PAIRMERGE_H

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"

#include <bitset>
#include <cstdint>
#include <optional>
#include <vector>

namespace qopt {
namespace model {
namespace detail {

/// What two adjacent symbols merge into: the token, and the priority of the
/// merge (a higher priority merges first).
struct PairMerge {
  int32_t token;
  uint32_t priority;
};

/// The merge of the symbols `left` and `right`, if they merge.
using PairMergeFn =
    llvm::function_ref<std::optional<PairMerge>(int32_t left, int32_t right)>;

/// The key of the pair (`left`, `right`) in a merge table.
inline uint64_t pairKey(int32_t left, int32_t right) {
  return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 |
         static_cast<uint32_t>(right);
}

/// Merges adjacent pairs of `symbols` (token ids, all >= 0) as long as one
/// merges: each time the pair of the highest priority, the leftmost among
/// equals. This is the result of rescanning the whole sequence for the best
/// pair after every merge, in O(n log n).
///
/// `piece` is a token's text (a merge concatenates them) and `inner` the
/// bytes that some merge result holds past its first byte. A symbol whose
/// piece starts with any other byte, after a symbol with a non-empty piece,
/// is never merged with what precedes it (no merge result could hold its
/// first byte where it would be), so the sequence is cut there into parts
/// that merge independently, each small enough to stay in cache. For a
/// SentencePiece vocabulary, whose pieces hold the space only first, the
/// parts are words.
void mergePairs(std::vector<int32_t> &symbols, PairMergeFn merge,
                const std::bitset<256> &inner,
                llvm::function_ref<llvm::StringRef(int32_t)> piece);

/// Adds to `inner` (see mergePairs) the bytes of `piece`, the text of a
/// merge result, past its first byte.
void addInnerBytes(std::bitset<256> &inner, llvm::StringRef piece);

} // namespace detail
} // namespace model
} // namespace qopt

#endif // QOPT_LIB_MODEL_PAIRMERGE_H
