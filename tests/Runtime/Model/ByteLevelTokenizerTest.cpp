//===- ByteLevelTokenizerTest.cpp - ByteLevel BPE ---------------*- C++ -*-===//
//
// ByteLevel BPE tokenizer.json files built here (GPT-2's byte alphabet as
// the base vocabulary, a few merges, added tokens): merges by rank, every
// byte through the alphabet, added tokens and their flags, the
// pre-tokenizer forms (Llama-3 Split, GPT-2 ByteLevel regex, Digits), NFC,
// decode(encode(s)) == s on UTF-8 and broken text, and the files that must
// be refused.
//
//===----------------------------------------------------------------------===//

#include "TestUtils.h"

#include "qopt/Model/Tokenizer.h"

#include "llvm/ADT/StringExtras.h"

#include "gmock/gmock.h"

#include <chrono>
#include <random>

using namespace qopt::model;
using namespace qopt::model::test;
using ::testing::HasSubstr;

namespace {

using Ids = std::vector<int32_t>;

/// GPT-2's character for `byte` (bytes_to_unicode), as UTF-8.
static std::string byteChar(int byte) {
  bool printable = (byte >= '!' && byte <= '~') ||
                   (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
  unsigned cp = byte;
  if (!printable) {
    cp = 0x100;
    for (int b = 0; b < byte; ++b)
      if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE))
        ++cp;
  }
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else {
    s.push_back(static_cast<char>(0xC0 | cp >> 6));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

/// The Llama-3 Split regex, as tokenizer.json spells it.
constexpr const char *kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

/// A ByteLevel tokenizer.json: ids 0-255 are the bytes' characters, then
/// the merges Ġ+t, h+e, Ġt+he, Ġ+Ġ, 1+2, i+n, Ġ+in (ids 256-262, ranks
/// 0-6), then the added tokens <|eot|> (263), <sw> (264, single_word) and
/// <ls> (265, lstrip and rstrip). The pre-tokenizer is Llama-3's.
static llvm::json::Object byteLevelJson() {
  llvm::json::Object vocab;
  for (int b = 0; b < 256; ++b)
    vocab[byteChar(b)] = b;
  std::string sp = byteChar(' ');
  std::vector<std::pair<std::string, std::string>> merges = {
      {sp, "t"},  {"h", "e"}, {sp + "t", "he"}, {sp, sp},
      {"1", "2"}, {"i", "n"}, {sp, "in"}};
  llvm::json::Array mergeJson;
  int id = 256;
  for (const auto &[l, r] : merges) {
    vocab[l + r] = id++;
    mergeJson.push_back(l + " " + r);
  }
  auto added = [](int id, const char *content, bool singleWord, bool strip) {
    return llvm::json::Object{
        {"id", id},        {"content", content}, {"single_word", singleWord},
        {"lstrip", strip}, {"rstrip", strip},    {"normalized", false},
        {"special", true}};
  };
  return llvm::json::Object{
      {"version", "1.0"},
      {"added_tokens", llvm::json::Array{added(263, "<|eot|>", false, false),
                                         added(264, "<sw>", true, false),
                                         added(265, "<ls>", false, true)}},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       llvm::json::Object{
           {"type", "Sequence"},
           {"pretokenizers",
            llvm::json::Array{
                llvm::json::Object{
                    {"type", "Split"},
                    {"pattern", llvm::json::Object{{"Regex", kLlama3Regex}}},
                    {"behavior", "Isolated"},
                    {"invert", false}},
                llvm::json::Object{{"type", "ByteLevel"},
                                   {"add_prefix_space", false},
                                   {"trim_offsets", true},
                                   {"use_regex", false}}}}}},
      {"post_processor", llvm::json::Object{{"type", "ByteLevel"}}},
      {"decoder", llvm::json::Object{{"type", "ByteLevel"}}},
      {"model", llvm::json::Object{{"type", "BPE"},
                                   {"ignore_merges", true},
                                   {"vocab", std::move(vocab)},
                                   {"merges", std::move(mergeJson)}}}};
}

/// Writes `root` as DIR/tokenizer.json and loads it.
static std::unique_ptr<Tokenizer> load(const TempDir &dir,
                                       llvm::json::Object root) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::json::Value(std::move(root));
  writeFile(dir.file("tokenizer.json"), text);
  return unwrap(loadHuggingFaceTokenizer(dir.file("tokenizer.json")));
}

/// The concatenated decoding of `ids`.
static std::string decodeAll(const Tokenizer &tok, const Ids &ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i)
    s += tok.decode(i ? ids[i - 1] : -1, ids[i]);
  return s;
}

/// Texts that every ByteLevel tokenizer must give back unchanged.
static std::vector<std::string> roundTripTexts() {
  std::vector<std::string> texts = {
      "",
      "the in the thin",
      "Hello, world! How's it going? I'M DONE; you'll see.",
      "1234567 3.14159 1,000,000 \xD9\xA1\xD9\xA2\xD9\xA3 \xC2\xBD",
      "  leading",
      "trailing   ",
      "a  b   c\t\td\n\ne\r\n f \n\n\n  g",
      "\xF0\x9F\xA4\x97 \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD family: "
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91"
      "\xA7",
      "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C\xEF\xBC"
      "\x81",
      "\xEC\x95\x88\xEB\x85\x95 "
      "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82",
      "na\xC3\xAFve r\xC3\xA9sum\xC3\xA9 \xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8",
      "def f(x):\n    return x**2  # square\n",
      std::string("nul \0 and del \x7F", 14),
      "broken \xFF\xFE \xC3 utf-8 \xED\xA0\x80",
  };
  std::mt19937 rng(11);
  for (int i = 0; i < 200; ++i) {
    std::string s(rng() % 40, '\0');
    for (char &c : s)
      c = static_cast<char>(rng() % 8 == 0 ? "  \n\t'1a"[rng() % 7]
                                           : rng() % 256);
    texts.push_back(s);
  }
  return texts;
}

TEST(ByteLevelTokenizerTest, MergesByRankOverTheByteAlphabet) {
  TempDir dir;
  auto tok = load(dir, byteLevelJson());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->vocabSize(), 266);
  // No tokenizer_config.json and no <s>: no BOS or EOS to add.
  EXPECT_EQ(tok->bosId(), -1);
  EXPECT_EQ(tok->eosId(), -1);
  EXPECT_EQ(tok->encode("the", true, true), (Ids{'t', 257}));
  // " the": Ġ+t (rank 0), h+e (1), then Ġt+he (2).
  EXPECT_EQ(tok->encode(" the", false, false), (Ids{258}));
  // Pieces merge apart: "the", " in" ("in" first, then Ġ+in).
  EXPECT_EQ(tok->encode("the in", false, false), (Ids{'t', 257, 262}));
  // Two spaces before a word: " " then " the" (\s+(?!\S)).
  EXPECT_EQ(tok->encode("a  the", false, false), (Ids{'a', ' ' + 0, 258}));
  // Digits in threes; 1+2 merges inside "123" only.
  EXPECT_EQ(tok->encode("1234", false, false), (Ids{260, '3', '4'}));
  // Every byte is its alphabet character: é is C3 A9, 0xFF stays a byte.
  EXPECT_EQ(tok->encode("\xC3\xA9\xFF", false, false), (Ids{0xC3, 0xA9, 0xFF}));
  EXPECT_EQ(tok->encode("\n", false, false), (Ids{'\n'}));
  EXPECT_EQ(tok->decode(-1, 258), " the");
  EXPECT_EQ(tok->decode(-1, 0xFF), "\xFF");
  EXPECT_EQ(tok->decode(-1, 263), "<|eot|>");
  EXPECT_EQ(tok->decode(-1, 266), "");
  for (const std::string &text : roundTripTexts())
    EXPECT_EQ(decodeAll(*tok, tok->encode(text, false, false)), text)
        << llvm::toHex(text);
}

TEST(ByteLevelTokenizerTest, AddedTokens) {
  TempDir dir;
  auto tok = load(dir, byteLevelJson());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("a<|eot|>b<|eot|>", false, false),
            (Ids{'a', 263, 'b', 263}));
  EXPECT_EQ(tok->encode("<|eot|> the", false, false), (Ids{263, 258}));
  // A prefix of an added token is text.
  EXPECT_EQ(tok->encode("<|eot", false, false).size(), 5u);
  // single_word: not after 'x', but after a space and before the end.
  EXPECT_EQ(tok->encode("x<sw> <sw>", false, false),
            (Ids{'x', '<', 's', 'w', '>', ' ', 264}));
  // lstrip and rstrip take the whitespace around the token.
  EXPECT_EQ(tok->encode("a \t<ls>\n b", false, false), (Ids{'a', 265, 'b'}));
  EXPECT_EQ(decodeAll(*tok, tok->encode("a<|eot|>b", false, false)),
            "a<|eot|>b");
}

TEST(ByteLevelTokenizerTest, PreTokenizerForms) {
  TempDir dir;
  // GPT-2: ByteLevel with its own regex, with and without the prefix space.
  llvm::json::Object gpt2 = byteLevelJson();
  gpt2["pre_tokenizer"] = llvm::json::Object{
      {"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  auto tok = load(dir, std::move(gpt2));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("the", false, false), (Ids{258}));
  // Each stretch between added tokens gets its prefix space.
  EXPECT_EQ(tok->encode("the<|eot|>the", false, false), (Ids{258, 263, 258}));
  // GPT-2 keeps a run of digits whole and its contractions case-sensitive.
  EXPECT_EQ(tok->encode("1234", false, false), (Ids{' ', 260, '3', '4'}));
  // SmolLM: Digits first, then ByteLevel without the prefix space.
  llvm::json::Object smol = byteLevelJson();
  smol["pre_tokenizer"] = llvm::json::Object{
      {"type", "Sequence"},
      {"pretokenizers",
       llvm::json::Array{
           llvm::json::Object{{"type", "Digits"}, {"individual_digits", true}},
           llvm::json::Object{{"type", "ByteLevel"},
                              {"add_prefix_space", false},
                              {"use_regex", true}}}}};
  tok = load(dir, std::move(smol));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("1234", false, false), (Ids{'1', '2', '3', '4'}));
  for (const std::string &text : roundTripTexts())
    EXPECT_EQ(decodeAll(*tok, tok->encode(text, false, false)), text)
        << llvm::toHex(text);
}

TEST(ByteLevelTokenizerTest, NFCNormalizer) {
  TempDir dir;
  llvm::json::Object root = byteLevelJson();
  root["normalizer"] = llvm::json::Object{{"type", "NFC"}};
  auto tok = load(dir, std::move(root));
  ASSERT_TRUE(tok);
  // e + COMBINING ACUTE is é (C3 A9) after NFC.
  EXPECT_EQ(tok->encode("e\xCC\x81", false, false), (Ids{0xC3, 0xA9}));
  EXPECT_EQ(decodeAll(*tok, tok->encode("cafe\xCC\x81 ok", false, false)),
            "caf\xC3\xA9 ok");
}

TEST(ByteLevelTokenizerTest, LongTextsEncodeInLinearTime) {
  // One piece of a million letters (the merges run over a million symbols)
  // and a million spaces and digits.
  TempDir dir;
  auto tok = load(dir, byteLevelJson());
  ASSERT_TRUE(tok);
  for (const std::string &unit : {std::string("the"), std::string(" "),
                                  std::string("12 "), std::string("in ")}) {
    std::string text;
    while (text.size() < 1000000)
      text += unit;
    auto start = std::chrono::steady_clock::now();
    Ids ids = tok->encode(text, false, false);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    EXPECT_LT(seconds, 5.0) << unit;
    EXPECT_EQ(decodeAll(*tok, ids), text);
  }
}

TEST(ByteLevelTokenizerTest, FoundBesideACheckpoint) {
  // loadTokenizerFor picks tokenizer.json inside a Hugging Face directory
  // and checks its size against the model's vocabulary.
  TempDir dir;
  ASSERT_TRUE(load(dir, byteLevelJson()));
  auto tok = unwrap(loadTokenizerFor(dir.path, "", 300));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode(" the", false, false), (Ids{258}));
  EXPECT_EQ(errorOf(loadTokenizerFor(dir.path, "", 200)),
            "tokenizer for '" + dir.path +
                "' has 266 tokens, more than the model's vocabulary of 200");
}

TEST(ByteLevelTokenizerTest, RefusedFiles) {
  TempDir dir;
  std::string path = dir.file("tokenizer.json");
  auto expectError = [&](llvm::json::Object root, const char *what) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << llvm::json::Value(std::move(root));
    writeFile(path, text);
    std::string msg = errorOf(loadHuggingFaceTokenizer(path));
    EXPECT_THAT(msg, HasSubstr("tokenizer '" + path + "': ")) << what;
    EXPECT_THAT(msg, HasSubstr(what));
  };
  llvm::json::Object root = byteLevelJson();
  (*(*root.getObject("pre_tokenizer")->getArray("pretokenizers"))[0]
        .getAsObject()
        ->getObject("pattern"))["Regex"] = "\\s+";
  expectError(std::move(root), "Split pattern '\\s+' is not supported");
  root = byteLevelJson();
  (*(*root.getObject("pre_tokenizer")->getArray("pretokenizers"))[0]
        .getAsObject())["behavior"] = "Removed";
  expectError(std::move(root), "behavior Isolated");
  root = byteLevelJson();
  root["decoder"] = nullptr;
  expectError(std::move(root),
              "a ByteLevel pre_tokenizer without a ByteLevel decoder");
  root = byteLevelJson();
  root["normalizer"] = llvm::json::Object{{"type", "NFKC"}};
  expectError(std::move(root), "normalizer 'NFKC' is not supported");
  root = byteLevelJson();
  root["pre_tokenizer"] = llvm::json::Object{
      {"type", "Sequence"},
      {"pretokenizers",
       llvm::json::Array{llvm::json::Object{{"type", "ByteLevel"}},
                         llvm::json::Object{{"type", "Digits"}}}}};
  expectError(std::move(root), "a pre_tokenizer step after ByteLevel");
  root = byteLevelJson();
  root["pre_tokenizer"] = llvm::json::Object{{"type", "Whitespace"}};
  expectError(std::move(root), "pre_tokenizer 'Whitespace'");
}

} // namespace
