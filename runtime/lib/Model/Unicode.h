//===- Unicode.h - Character data for the tokenizers ------------*- C++ -*-===//
//
// What the tokenizer.json pre-tokenizers and normalizers need of Unicode:
// UTF-8 decoding that never fails, the classes \p{L}, \p{N} and \s of the
// pre-tokenizer regexes, and NFC. The data is generated from the Unicode
// Character Database by scripts/gen_unicode_tables.py (UnicodeTables.inc).
// Private to runtime/lib/Model.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_MODEL_UNICODE_H
#define QOPT_LIB_MODEL_UNICODE_H

#include "llvm/ADT/StringRef.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace qopt {
namespace model {
namespace detail {

/// The Unicode version of the tables.
llvm::StringRef unicodeVersion();

/// The class of a code point in the pre-tokenizer regexes: general category
/// L (\p{L}), general category N (\p{N}), the White_Space property (\s), or
/// none of them.
enum class CharClass : uint8_t { Other, Letter, Number, Space };

/// A code point that stands for a byte that is not valid UTF-8.
constexpr uint32_t kInvalidByte = 0x110000;

/// Decodes the UTF-8 sequence at the start of `text` (not empty): returns its
/// code point and sets `length` to its bytes. A byte that does not start a
/// valid sequence (a stray continuation, an overlong form, a surrogate, a
/// value past U+10FFFF, a truncated sequence) decodes alone, as
/// kInvalidByte + the byte.
uint32_t decodeUTF8(llvm::StringRef text, size_t &length);

/// Appends `codePoint` in UTF-8 (kInvalidByte + b appends the byte b).
void appendUTF8(std::string &out, uint32_t codePoint);

/// The class of `codePoint` (kInvalidByte + b is Other).
CharClass charClass(uint32_t codePoint);

/// The canonical combining class of `codePoint` (0 for starters).
uint8_t combiningClass(uint32_t codePoint);

/// `text` in Normalization Form C (canonical decomposition, canonical
/// ordering, canonical composition: UAX #15). Bytes that are not valid UTF-8
/// are kept as they are and block composition across them.
std::string normalizeNFC(llvm::StringRef text);

} // namespace detail
} // namespace model
} // namespace qopt

#endif // QOPT_LIB_MODEL_UNICODE_H
