//===- UnicodeTest.cpp - Tokenizer Unicode tables ---------------*- C++ -*-===//
//
// The character classes of the pre-tokenizer regexes, UTF-8 decoding of
// broken input, NFC (composition, exclusions, Hangul, canonical ordering)
// and the ByteLevel pre-tokenizer's pieces, on hand-checked examples.
//
//===----------------------------------------------------------------------===//

#include "Unicode.h"
#include "PreTokenizer.h"

#include "gmock/gmock.h"

using namespace qopt::model::detail;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

namespace {

TEST(UnicodeTest, CharClasses) {
  EXPECT_EQ(charClass('A'), CharClass::Letter);
  EXPECT_EQ(charClass('7'), CharClass::Number);
  EXPECT_EQ(charClass('_'), CharClass::Other);
  for (uint32_t space : {0x09u, 0x0Au, 0x0Du, 0x20u, 0x85u, 0xA0u, 0x1680u,
                         0x2003u, 0x2028u, 0x202Fu, 0x3000u})
    EXPECT_EQ(charClass(space), CharClass::Space) << std::hex << space;
  // Not White_Space: the information separators (Python's isspace() says
  // otherwise), ZERO WIDTH SPACE (Cf).
  for (uint32_t other : {0x1Cu, 0x1Fu, 0x200Bu, 0xADu, 0x0301u, 0x1F917u})
    EXPECT_EQ(charClass(other), CharClass::Other) << std::hex << other;
  // L: Ll, Lu, Lo (CJK, Hangul), Lm; N: Nd (Arabic-Indic), Nl, No.
  for (uint32_t letter : {0xE9u, 0x17Fu, 0x4E2Du, 0xAC00u, 0x02B0u, 0x20000u})
    EXPECT_EQ(charClass(letter), CharClass::Letter) << std::hex << letter;
  for (uint32_t number : {0x0661u, 0x216Bu, 0xBDu, 0xB2u, 0xFF11u})
    EXPECT_EQ(charClass(number), CharClass::Number) << std::hex << number;
  EXPECT_EQ(charClass(kInvalidByte + 0xFF), CharClass::Other);
  EXPECT_FALSE(unicodeVersion().empty());
}

TEST(UnicodeTest, DecodesBrokenUTF8ByteByByte) {
  auto decodeAll = [](llvm::StringRef s) {
    std::vector<uint32_t> cps;
    for (size_t i = 0, n; i < s.size(); i += n)
      cps.push_back(decodeUTF8(s.substr(i), n));
    return cps;
  };
  EXPECT_THAT(decodeAll("a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\xA4\x97"),
              ElementsAre('a', 0xE9u, 0x4E2Du, 0x1F917u));
  // Overlong, surrogate, past U+10FFFF, truncated, stray continuation.
  EXPECT_THAT(decodeAll("\xC0\x80"),
              ElementsAre(kInvalidByte + 0xC0, kInvalidByte + 0x80));
  EXPECT_THAT(decodeAll("\xED\xA0\x80"),
              ElementsAre(kInvalidByte + 0xED, kInvalidByte + 0xA0,
                          kInvalidByte + 0x80));
  EXPECT_EQ(decodeAll("\xF4\x90\x80\x80")[0], kInvalidByte + 0xF4);
  EXPECT_THAT(decodeAll("\xE4\xB8"),
              ElementsAre(kInvalidByte + 0xE4, kInvalidByte + 0xB8));
  EXPECT_THAT(decodeAll("\xFFx"), ElementsAre(kInvalidByte + 0xFF, 'x'));
  std::string out;
  for (uint32_t cp : {0x61u, 0xE9u, 0x4E2Du, 0x1F917u, kInvalidByte + 0xFF})
    appendUTF8(out, cp);
  EXPECT_EQ(out, "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\xA4\x97\xFF");
}

TEST(UnicodeTest, NFC) {
  EXPECT_EQ(normalizeNFC("plain ASCII, caf\xC3\xA9"),
            "plain ASCII, caf\xC3\xA9");
  EXPECT_EQ(normalizeNFC("e\xCC\x81"), "\xC3\xA9");         // é
  EXPECT_EQ(normalizeNFC("A\xCC\x8A"), "\xC3\x85");         // Å
  EXPECT_EQ(normalizeNFC("\xE2\x84\xAB"), "\xC3\x85");      // Å sign
  EXPECT_EQ(normalizeNFC("o\xCC\x88\xCC\x84"), "\xC8\xAB"); // ȫ
  // Hangul: L V T composes to one syllable, LV + T too.
  EXPECT_EQ(normalizeNFC("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"),
            "\xEA\xB0\x81"); // 각
  EXPECT_EQ(normalizeNFC("\xEA\xB0\x80\xE1\x86\xA8"), "\xEA\xB0\x81");
  // U+0958 is excluded from composition: it stays decomposed.
  EXPECT_EQ(normalizeNFC("\xE0\xA5\x98"), "\xE0\xA4\x95\xE0\xA4\xBC");
  // Canonical ordering: dot below (220) before dot above (230), then the
  // composite ṩ; with q, which has no composite, only the reordering.
  EXPECT_EQ(normalizeNFC("s\xCC\x87\xCC\xA3"), "\xE1\xB9\xA9");
  EXPECT_EQ(normalizeNFC("q\xCC\x87\xCC\xA3"), "q\xCC\xA3\xCC\x87");
  // A mark blocked by another of the same class stays apart.
  EXPECT_EQ(normalizeNFC("a\xCC\x81\xCC\x81"), "\xC3\xA1\xCC\x81");
  // Broken UTF-8 is kept and does not compose with what follows.
  EXPECT_EQ(normalizeNFC("\xFF"
                         "e\xCC\x81\xC3"),
            "\xFF\xC3\xA9\xC3");
  EXPECT_EQ(normalizeNFC("\xCC\x81"), "\xCC\x81");
}

/// The pieces of `text` under `pattern`.
static std::vector<std::string> split(SplitPattern pattern,
                                      llvm::StringRef text) {
  std::vector<std::string> pieces;
  splitByPattern(pattern, text, pieces);
  return pieces;
}

TEST(PreTokenizerTest, SplitPatterns) {
  EXPECT_THAT(split(SplitPattern::GPT2, "Hello world's  end\n\n"),
              ElementsAre("Hello", " world", "'s", " ", " end", "\n\n"));
  // GPT-2's contractions are case-sensitive, Llama-3's are not.
  EXPECT_THAT(split(SplitPattern::GPT2, "I'M 2024"),
              ElementsAre("I", "'", "M", " 2024"));
  EXPECT_THAT(
      split(SplitPattern::Llama3, "I'M 12345 abc\r\n\n  x"),
      ElementsAre("I", "'M", " ", "123", "45", " abc", "\r\n\n", " ", " x"));
  EXPECT_THAT(split(SplitPattern::Qwen2, "I'M 12345 abc\r\n\n  x"),
              ElementsAre("I", "'M", " ", "1", "2", "3", "4", "5", " abc",
                          "\r\n\n", " ", " x"));
  // Punctuation takes the line breaks after it; any non-letter, non-digit
  // but a line break joins the letters after it.
  EXPECT_THAT(split(SplitPattern::Llama3, "...\n\nok \"quote\"\tx"),
              ElementsAre("...\n\n", "ok", " \"", "quote", "\"", "\tx"));
  EXPECT_THAT(
      split(SplitPattern::Llama3, "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C"
                                  "\xE4\xB8\x96"),
      ElementsAre("\xE4\xBD\xA0\xE5\xA5\xBD", "\xEF\xBC\x8C\xE4\xB8\x96"));
  EXPECT_THAT(split(SplitPattern::Llama3, "   "), ElementsAre("   "));
  EXPECT_THAT(split(SplitPattern::Llama3, ""), ElementsAre());
  // Broken UTF-8 is one piece per stray byte run, and nothing is lost.
  std::vector<std::string> broken = split(SplitPattern::Llama3, "a\xFF\xFEz ");
  std::string joined;
  for (const std::string &p : broken)
    joined += p;
  EXPECT_EQ(joined, "a\xFF\xFEz ");
  EXPECT_EQ(recognizeSplitPattern("\\s+"), std::nullopt);
  EXPECT_EQ(
      recognizeSplitPattern(
          R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"),
      SplitPattern::GPT2);
}

TEST(PreTokenizerTest, DigitsAndAlphabet) {
  std::vector<std::string> pieces;
  splitDigits("a12b3", /*individualDigits=*/true, pieces);
  EXPECT_THAT(pieces, ElementsAre("a", "1", "2", "b", "3"));
  pieces.clear();
  splitDigits("a12b3\xD9\xA1\xD9\xA2", /*individualDigits=*/false, pieces);
  EXPECT_THAT(pieces, ElementsAre("a", "12", "b", "3\xD9\xA1\xD9\xA2"));
  // GPT-2's bytes_to_unicode: printable bytes are themselves, the others
  // count up from U+0100 (space is the 33rd: U+0120 'Ġ', '\n' U+010A 'Ċ').
  const std::array<std::string, 256> &alphabet = byteLevelAlphabet();
  EXPECT_EQ(alphabet['a'], "a");
  EXPECT_EQ(alphabet[' '], "\xC4\xA0");
  EXPECT_EQ(alphabet['\n'], "\xC4\x8A");
  EXPECT_EQ(alphabet[0], "\xC4\x80");
  EXPECT_EQ(alphabet[0xAD], "\xC5\x83");
  EXPECT_EQ(alphabet[0xE9], "\xC3\xA9");
  for (int b = 0; b < 256; ++b) {
    size_t n;
    EXPECT_EQ(byteLevelByte(alphabet[b], n), b);
    EXPECT_EQ(n, alphabet[b].size());
  }
  size_t n;
  EXPECT_EQ(byteLevelByte(" ", n), -1);
  EXPECT_EQ(byteLevelByte("\xE4\xB8\xAD", n), -1);
}

} // namespace
