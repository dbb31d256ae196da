//===- PreTokenizer.cpp - tokenizer.json pre-tokenizers -------------------===//
//
// Each Split regex is a function that returns the length of the match at a
// position, trying the alternatives in order as a backtracking engine does;
// a quantified class is greedy, so backtracking into it only matters where
// what follows can match inside it (\s+(?!\S) and \s*[\r\n]+), which the
// functions resolve directly.
//
//===----------------------------------------------------------------------===//

#include "PreTokenizer.h"
#include "Unicode.h"

#include <algorithm>

using namespace qopt::model::detail;

std::optional<SplitPattern>
qopt::model::detail::recognizeSplitPattern(llvm::StringRef regex) {
  static const char *const gpt2 =
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  static const char *const llama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  static const char *const qwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  if (regex == gpt2)
    return SplitPattern::GPT2;
  if (regex == llama3)
    return SplitPattern::Llama3;
  if (regex == qwen2)
    return SplitPattern::Qwen2;
  return std::nullopt;
}

namespace {
/// A text decoded for matching: code points, their classes and byte
/// offsets (one past the last character: the text's size).
class Decoded {
public:
  explicit Decoded(llvm::StringRef text) {
    for (size_t i = 0, n; i < text.size(); i += n) {
      uint32_t cp = decodeUTF8(text.substr(i), n);
      chars.push_back({cp, charClass(cp), i});
    }
    end = text.size();
  }
  size_t size() const { return chars.size(); }
  size_t offset(size_t i) const { return i < size() ? chars[i].offset : end; }
  uint32_t cp(size_t i) const { return i < size() ? chars[i].cp : 0; }
  bool is(size_t i, CharClass c) const {
    return i < size() && chars[i].cls == c;
  }
  bool isLineBreak(size_t i) const { return cp(i) == '\r' || cp(i) == '\n'; }
  /// The number of characters from `i` on that are of class `c`.
  size_t run(size_t i, CharClass c) const {
    size_t j = i;
    while (is(j, c))
      ++j;
    return j - i;
  }

private:
  struct Char {
    uint32_t cp;
    CharClass cls;
    size_t offset;
  };
  std::vector<Char> chars;
  size_t end;
};
} // namespace

/// 's|'t|'re|'ve|'m|'ll|'d at `i` (ASCII case-insensitively if
/// `ignoreCase`): the length of the match, or 0.
static size_t matchContraction(const Decoded &d, size_t i, bool ignoreCase) {
  if (d.cp(i) != '\'')
    return 0;
  auto at = [&](size_t k) {
    uint32_t c = d.cp(k);
    return ignoreCase && c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
  };
  uint32_t a = at(i + 1), b = at(i + 2);
  if (a == 's' || a == 't' || a == 'm' || a == 'd')
    return 2;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') ||
      (a == 'l' && b == 'l'))
    return 3;
  return 0;
}

/// \s+(?!\S)|\s+ at `i`, which is whitespace: the whole run, but one
/// character less when a non-space follows it and it has more than one.
static size_t matchSpaces(const Decoded &d, size_t i) {
  size_t w = d.run(i, CharClass::Space);
  return i + w < d.size() && w >= 2 ? w - 1 : w;
}

/// The GPT-2 pattern at `i`.
static size_t matchGPT2(const Decoded &d, size_t i) {
  if (size_t k = matchContraction(d, i, /*ignoreCase=*/false))
    return k;
  bool space = d.cp(i) == ' ';
  // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'.
  for (CharClass c : {CharClass::Letter, CharClass::Number, CharClass::Other}) {
    if (space && d.is(i + 1, c))
      return 1 + d.run(i + 1, c);
    if (d.is(i, c))
      return d.run(i, c);
  }
  return matchSpaces(d, i);
}

/// The Llama-3 (`maxDigits` 3) or Qwen2 (`maxDigits` 1) pattern at `i`.
static size_t matchLlama3(const Decoded &d, size_t i, size_t maxDigits) {
  if (size_t k = matchContraction(d, i, /*ignoreCase=*/true))
    return k;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (!d.is(i, CharClass::Letter) && !d.is(i, CharClass::Number) &&
      !d.isLineBreak(i) && d.is(i + 1, CharClass::Letter))
    return 1 + d.run(i + 1, CharClass::Letter);
  if (d.is(i, CharClass::Letter))
    return d.run(i, CharClass::Letter);
  // \p{N}{1,maxDigits}
  if (d.is(i, CharClass::Number))
    return std::min(d.run(i, CharClass::Number), maxDigits);
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  size_t start = d.cp(i) == ' ' && d.is(i + 1, CharClass::Other) ? i + 1 : i;
  if (d.is(start, CharClass::Other)) {
    size_t j = start + d.run(start, CharClass::Other);
    while (d.isLineBreak(j))
      ++j;
    return j - i;
  }
  // \s*[\r\n]+: through the last line break of the whitespace run.
  size_t w = d.run(i, CharClass::Space);
  for (size_t k = i + w; k > i; --k)
    if (d.isLineBreak(k - 1))
      return k - i;
  return matchSpaces(d, i);
}

void qopt::model::detail::splitByPattern(SplitPattern pattern,
                                         llvm::StringRef text,
                                         std::vector<std::string> &pieces) {
  Decoded d(text);
  for (size_t i = 0; i < d.size();) {
    size_t length =
        pattern == SplitPattern::GPT2
            ? matchGPT2(d, i)
            : matchLlama3(d, i, pattern == SplitPattern::Llama3 ? 3 : 1);
    // Every character matches some alternative; never loop on none.
    length = std::max<size_t>(length, 1);
    pieces.push_back(text.slice(d.offset(i), d.offset(i + length)).str());
    i += length;
  }
}

void qopt::model::detail::splitDigits(llvm::StringRef text,
                                      bool individualDigits,
                                      std::vector<std::string> &pieces) {
  Decoded d(text);
  for (size_t i = 0; i < d.size();) {
    size_t length = d.run(i, CharClass::Number);
    if (length == 0) {
      while (i + length < d.size() && !d.is(i + length, CharClass::Number))
        ++length;
    } else if (individualDigits) {
      length = 1;
    }
    pieces.push_back(text.slice(d.offset(i), d.offset(i + length)).str());
    i += length;
  }
}

/// Whether GPT-2's alphabet keeps `byte` as its own (Latin-1) character.
static bool isPrintableByte(int byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) ||
         (byte >= 0xAE && byte <= 0xFF);
}

/// The code point that stands for each byte.
static std::array<uint32_t, 256> byteCodePoints() {
  std::array<uint32_t, 256> cps;
  uint32_t next = 0x100;
  for (int b = 0; b < 256; ++b)
    cps[b] = isPrintableByte(b) ? b : next++;
  return cps;
}

const std::array<std::string, 256> &qopt::model::detail::byteLevelAlphabet() {
  static const std::array<std::string, 256> alphabet = [] {
    std::array<std::string, 256> a;
    std::array<uint32_t, 256> cps = byteCodePoints();
    for (int b = 0; b < 256; ++b)
      appendUTF8(a[b], cps[b]);
    return a;
  }();
  return alphabet;
}

int qopt::model::detail::byteLevelByte(llvm::StringRef text, size_t &length) {
  // The alphabet's code points are below U+0144 (256 + 68 others).
  static const std::array<int16_t, 0x144> byteOf = [] {
    std::array<int16_t, 0x144> m;
    m.fill(-1);
    std::array<uint32_t, 256> cps = byteCodePoints();
    for (int b = 0; b < 256; ++b)
      m[cps[b]] = static_cast<int16_t>(b);
    return m;
  }();
  uint32_t cp = decodeUTF8(text, length);
  return cp < byteOf.size() ? byteOf[cp] : -1;
}
