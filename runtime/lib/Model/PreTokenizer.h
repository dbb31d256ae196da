//===- PreTokenizer.h - tokenizer.json pre-tokenizers -----------*- C++ -*-===//
//
// The pre-tokenizers of ByteLevel BPE tokenizers (GPT-2, Llama-3, Qwen2,
// SmolLM): the Split regexes they use, implemented by hand (no regex engine
// has the \p{L}/\p{N} classes and the leftmost-first semantics of the
// Oniguruma engine that Hugging Face tokenizers runs them with), the Digits
// splitter, and the byte-to-unicode alphabet of the ByteLevel step.
// Private to runtime/lib/Model.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_MODEL_PRETOKENIZER_H
#define QOPT_LIB_MODEL_PRETOKENIZER_H

#include "llvm/ADT/StringRef.h"

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace qopt {
namespace model {
namespace detail {

/// The Split regexes implemented, by the tokenizer that introduced them:
///  - GPT2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|
///    \s+(?!\S)|\s+ (also what ByteLevel with use_regex splits with);
///  - Llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|
///    \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+;
///  - Qwen2: Llama3 with \p{N} (one digit) for \p{N}{1,3}.
enum class SplitPattern { GPT2, Llama3, Qwen2 };

/// The pattern whose regex source (as tokenizer.json spells it) is `regex`.
std::optional<SplitPattern> recognizeSplitPattern(llvm::StringRef regex);

/// Appends to `pieces` the pieces of `text` split by `pattern` with the
/// "Isolated" behaviour: every match is a piece, and so is every non-empty
/// stretch between matches (these patterns match every character, so there
/// is none). Matches are found as Oniguruma finds them: leftmost, the first
/// alternative that matches, greedy quantifiers with backtracking.
void splitByPattern(SplitPattern pattern, llvm::StringRef text,
                    std::vector<std::string> &pieces);

/// Appends to `pieces` the pieces of `text` split by the Digits
/// pre-tokenizer: each digit (general category N) alone if
/// `individualDigits`, else each run of digits, and the stretches between.
void splitDigits(llvm::StringRef text, bool individualDigits,
                 std::vector<std::string> &pieces);

/// GPT-2's bytes_to_unicode(): the character (UTF-8) that stands for each
/// byte in a ByteLevel vocabulary. The printable bytes '!'..'~', 0xA1..0xAC
/// and 0xAE..0xFF stand for themselves (as Latin-1); the others, in order,
/// for U+0100, U+0101, ...
const std::array<std::string, 256> &byteLevelAlphabet();

/// The byte that the UTF-8 character at the start of `text` stands for in
/// the ByteLevel alphabet, and its length; -1 if it stands for none.
int byteLevelByte(llvm::StringRef text, size_t &length);

} // namespace detail
} // namespace model
} // namespace qopt

#endif // QOPT_LIB_MODEL_PRETOKENIZER_H
