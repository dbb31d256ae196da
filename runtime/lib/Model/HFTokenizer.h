//===- HFTokenizer.h - Hugging Face tokenizer.json BPE ----------*- C++ -*-===//
//
// The tokenizer of a tokenizer.json with a BPE model, in the two forms that
// Llama-family checkpoints ship: SentencePiece-style (Metaspace "▁" spaces,
// byte_fallback <0xXX> tokens; Llama 1/2, Mistral) and ByteLevel (GPT-2's
// byte-to-unicode alphabet after a Split regex; GPT-2, Llama-3, Qwen2,
// SmolLM). Loaded by HFTokenizerLoad.cpp; private to runtime/lib/Model.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_MODEL_HFTOKENIZER_H
#define QOPT_LIB_MODEL_HFTOKENIZER_H

#include "PreTokenizer.h"

#include "qopt/Model/Tokenizer.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

#include <array>
#include <bitset>
#include <string>
#include <vector>

namespace qopt {
namespace model {
namespace detail {

/// One normalizer step.
struct NormalizeStep {
  enum Kind { Prepend, Replace, NFC } kind;
  std::string a, b; ///< Prepend: a; Replace: a -> b
};

/// One pre-tokenizer step other than Metaspace; each splits every piece that
/// the steps before it produced.
struct PreTokenizeStep {
  enum Kind { Split, Digits, ByteLevel } kind;
  /// Split: the regex; ByteLevel with `useRegex`: GPT2.
  SplitPattern pattern = SplitPattern::GPT2;
  /// Digits: individual_digits. ByteLevel: add_prefix_space (a piece that
  /// does not start with ' ' gets one).
  bool option = false;
  /// ByteLevel: use_regex.
  bool useRegex = false;
};

/// A token of tokenizer.json's added_tokens, matched in the text before
/// normalization and pre-tokenization.
struct AddedToken {
  std::string content;
  int32_t id;
  /// Whitespace before (lstrip) or after (rstrip) a match is part of it.
  bool lstrip = false, rstrip = false;
  /// Matches only where no letter, digit or '_' is next to it.
  bool singleWord = false;
};

/// A BPE tokenizer.json.
class HFBPETokenizer : public Tokenizer {
public:
  std::vector<std::string> idToToken;
  llvm::StringMap<int32_t> tokenToId;
  /// (left id << 32 | right id) -> (rank, merged id).
  llvm::DenseMap<uint64_t, std::pair<int32_t, int32_t>> merges;
  /// The bytes of merge results past their first (see mergePairs).
  std::bitset<256> inner;
  std::vector<AddedToken> addedTokens; ///< longest first
  /// Indices into addedTokens by first byte (longest first).
  std::array<std::vector<uint32_t>, 256> addedByFirstByte;
  /// The <0xXX> token of each byte (byte_fallback), or -1.
  std::array<int32_t, 256> byteTokens;
  std::vector<NormalizeStep> normalizer;
  std::vector<PreTokenizeStep> preTokenizer;
  /// Whether the pre-tokenizer ends with ByteLevel: pieces are spelled in
  /// its alphabet before the model sees them.
  bool byteLevel = false;
  /// With a ByteLevel decoder, the bytes of each token (a token with a
  /// character outside the alphabet decodes to its own UTF-8, as
  /// tokenizers' decoder does); empty otherwise.
  std::vector<std::string> byteLevelText;
  bool metaspace = false;
  std::string metaspaceReplacement = "\xE2\x96\x81"; // ▁
  /// When Metaspace prepends its replacement to a segment.
  enum class Prepend { Always, First, Never };
  Prepend metaspacePrepend = Prepend::Always;
  bool metaspaceSplit = false;
  bool byteFallback = false;
  bool ignoreMerges = false;
  bool fuseUnk = false;
  int32_t unkId = -1, bos = -1, eos = -1;

  std::vector<int32_t> encode(llvm::StringRef text, bool addBos,
                              bool addEos) const override;
  std::string decode(int32_t prev, int32_t token) const override;
  int32_t bosId() const override { return bos; }
  int32_t eosId() const override { return eos; }
  int64_t vocabSize() const override { return idToToken.size(); }

  int32_t find(llvm::StringRef s) const {
    auto it = tokenToId.find(s);
    return it == tokenToId.end() ? -1 : it->second;
  }

private:
  /// The added token that matches at `pos` of `text` (after `segStart`, the
  /// end of the last match), with its extent [begin, end), or null.
  const AddedToken *matchAdded(llvm::StringRef text, size_t segStart,
                               size_t pos, size_t &begin, size_t &end) const;
  void encodeSegment(llvm::StringRef text, bool first,
                     std::vector<int32_t> &out) const;
  void encodeMetaspace(std::string s, bool first,
                       std::vector<int32_t> &out) const;
  void encodeWord(llvm::StringRef word, std::vector<int32_t> &out) const;
};

} // namespace detail
} // namespace model
} // namespace qopt

#endif // QOPT_LIB_MODEL_HFTOKENIZER_H
