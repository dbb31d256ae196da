//===- ScoredBPE.h - SentencePiece vocabularies with scores -----*- C++ -*-===//
//
// The one encoder for vocabularies of pieces with scores (llama2.c's
// tokenizer.bin and GGUF's tokenizer.ggml.* "llama" model): llama2.c's
// algorithm, in O(n log n). Private to runtime/lib/Model.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_MODEL_SCOREDBPE_H
#define QOPT_LIB_MODEL_SCOREDBPE_H

#include "qopt/Model/Tokenizer.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qopt {
namespace model {
namespace detail {

/// The longest piece a vocabulary with scores may have, in bytes. Real ones
/// have pieces of a few dozen bytes (SentencePiece's default limit is 16
/// characters); the bound keeps building the merge table, which looks up
/// every split of every piece, in O(bytes * kMaxPieceBytes).
constexpr size_t kMaxPieceBytes = 1024;

/// A vocabulary of pieces with scores and how its format encodes.
struct ScoredVocabulary {
  /// The text of each token, spaces as ' ' (GGUF's U+2581 turned back).
  std::vector<std::string> pieces;
  /// One per piece; a higher score merges first.
  std::vector<float> scores;
  int32_t bos = 1, eos = 2;
  /// The token of each byte of a code point that is not a piece; -1 stands
  /// for `unknown`.
  std::array<int32_t, 256> byteTokens;
  int32_t unknown = 0;
  /// Without a " " piece the dummy prefix is the byte token of ' '
  /// (llama2.c), instead of nothing (GGUF).
  bool prefixByteFallback = false;
  /// The text ends at its first NUL byte (llama2.c reads C strings).
  bool stopAtNul = false;
};

/// A tokenizer for `vocabulary` (every id in it must be a valid token, and
/// no piece longer than kMaxPieceBytes).
/// encode() follows llama2.c's run.c: BOS, the dummy prefix " ", one token
/// per UTF-8 code point (or per byte when the code point is not a piece),
/// then the adjacent pair whose concatenation is the highest-scoring piece
/// (the leftmost on ties, none scoring <= -1e10) is merged until no pair
/// merges. decode() strips the leading space of the piece after BOS and
/// turns "<0xXX>" pieces into their byte.
std::unique_ptr<Tokenizer> makeScoredBPETokenizer(ScoredVocabulary vocabulary);

} // namespace detail
} // namespace model
} // namespace qopt

#endif // QOPT_LIB_MODEL_SCOREDBPE_H
