//===- GGUFTokenizerTest.cpp - Tests of loadGGUFTokenizer -------*- C++ -*-===//
//
// A tiny synthetic SentencePiece vocabulary written as GGUF: hand-worked
// merges (score order, leftmost tie), the dummy prefix, UTF-8 code points,
// byte fallback, decode (space stripped after BOS, <0xXX> to raw bytes),
// round trips, and the errors for other tokenizer models and bad arrays.
//
//===----------------------------------------------------------------------===//

#include "GGUFTestUtil.h"

#include "qopt/Model/Tokenizer.h"

#include "llvm/Support/Format.h"

using namespace qopt::model;
using namespace qopt::model::testing;

namespace {

constexpr int32_t kSpace = 259, kA = 260, kB = 261, kC = 262, kSpaceA = 263,
                  kAB = 264, kSpaceAB = 265, kABC = 266, kUUml = 267,
                  kSpaceUUml = 268, kHello = 276, kSpaceHello = 277;

/// Writes the synthetic vocabulary (with `model` as tokenizer.ggml.model)
/// plus `extra` KVs to `path`.
void writeVocab(const std::string &path, llvm::StringRef model = "llama",
                int numScores = -1, int32_t bos = 1) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    std::string piece;
    llvm::raw_string_ostream(piece) << llvm::format("<0x%02X>", b);
    tokens.push_back(piece);
    scores.push_back(0);
    types.push_back(6);
  }
  const std::pair<const char *, float> pieces[] = {
      {"\xE2\x96\x81", -100}, // 259 "▁"
      {"a", -10},             // 260
      {"b", -10},             // 261
      {"c", -10},             // 262
      {"\xE2\x96\x81"
       "a",
       -3},       // 263 "▁a"
      {"ab", -4}, // 264
      {"\xE2\x96\x81"
       "ab",
       -1},                         // 265 "▁ab"
      {"abc", -2},                  // 266
      {"\xC3\xBC", -10},            // 267 "ü"
      {"\xE2\x96\x81\xC3\xBC", -5}, // 268 "▁ü"
      {"h", -10},
      {"e", -10},
      {"l", -10},
      {"o", -10},                // 269..272
      {"he", -6},                // 273
      {"ll", -5},                // 274
      {"llo", -4},               // 275
      {"hello", -3},             // 276
      {"\xE2\x96\x81hello", -2}, // 277 "▁hello"
      {"lo", -7},                // 278
  };
  for (const auto &[piece, score] : pieces) {
    tokens.push_back(piece);
    scores.push_back(score);
    types.push_back(1);
  }
  if (numScores >= 0)
    scores.resize(numScores);
  GGUFWriter writer;
  writer.addString("general.architecture", "llama");
  writer.addString("tokenizer.ggml.model", model);
  writer.addStringArray("tokenizer.ggml.tokens", tokens);
  writer.addFloat32Array("tokenizer.ggml.scores", scores);
  writer.addInt32Array("tokenizer.ggml.token_type", types);
  writer.addUInt32("tokenizer.ggml.bos_token_id", uint32_t(bos));
  writer.addUInt32("tokenizer.ggml.eos_token_id", 2);
  writer.addUInt32("tokenizer.ggml.unknown_token_id", 0);
  ASSERT_FALSE(bool(writer.write(path)));
}

class GGUFTokenizerTest : public ::testing::Test {
protected:
  void SetUp() override {
    path = dir.path("vocab.gguf");
    writeVocab(path);
    auto tokenizerOr = loadGGUFTokenizer(path);
    ASSERT_TRUE(bool(tokenizerOr)) << errorText(tokenizerOr.takeError());
    tokenizer = std::move(*tokenizerOr);
  }
  /// Decodes `tokens` as llama2.c's generate loop prints them.
  std::string decodeAll(const std::vector<int32_t> &tokens) {
    std::string text;
    for (size_t i = 1; i < tokens.size(); ++i)
      text += tokenizer->decode(tokens[i - 1], tokens[i]);
    return text;
  }

  TempDir dir;
  std::string path;
  std::unique_ptr<Tokenizer> tokenizer;
};

using Ids = std::vector<int32_t>;

TEST_F(GGUFTokenizerTest, Properties) {
  EXPECT_EQ(tokenizer->vocabSize(), 279);
  EXPECT_EQ(tokenizer->bosId(), 1);
  EXPECT_EQ(tokenizer->eosId(), 2);
}

TEST_F(GGUFTokenizerTest, HandWorkedMerges) {
  // [▁ a b c] -> ▁a (-3) beats ab (-4) -> ▁ab (-1); abc never forms.
  EXPECT_EQ(tokenizer->encode("abc", true, false), (Ids{1, kSpaceAB, kC}));
  EXPECT_EQ(tokenizer->encode("abc", false, true), (Ids{kSpaceAB, kC, 2}));
  // ll (-5) and ▁ü (-5) tie: the leftmost pair merges first; the 2-byte
  // code point ü is one token; the inner space is ▁.
  EXPECT_EQ(tokenizer->encode("hello \xC3\xBC", true, true),
            (Ids{1, kSpaceHello, kSpaceUUml, 2}));
  EXPECT_EQ(tokenizer->encode("", true, false), (Ids{1}));
  EXPECT_EQ(tokenizer->encode("", false, false), Ids{});
  EXPECT_EQ(tokenizer->encode("b", false, false), (Ids{kSpace, kB}));
  (void)kA;
  (void)kAB;
  (void)kABC;
  (void)kUUml;
  (void)kHello;
}

TEST_F(GGUFTokenizerTest, ByteFallback) {
  // '\n' and the 3 bytes of U+20AC are not in the vocabulary: <0xXX> tokens
  // (id = 3 + byte here).
  EXPECT_EQ(tokenizer->encode("a\n\xE2\x82\xAC", false, false),
            (Ids{kSpaceA, 3 + 0x0A, 3 + 0xE2, 3 + 0x82, 3 + 0xAC}));
}

TEST_F(GGUFTokenizerTest, Decode) {
  EXPECT_EQ(tokenizer->decode(1, kSpaceAB), "ab");    // after BOS
  EXPECT_EQ(tokenizer->decode(kC, kSpaceAB), " ab");  // elsewhere
  EXPECT_EQ(tokenizer->decode(kC, 3 + 0x0A), "\n");   // <0x0A>
  EXPECT_EQ(tokenizer->decode(kC, 3 + 0xE2), "\xE2"); // raw byte
  EXPECT_EQ(tokenizer->decode(kC, kUUml), "\xC3\xBC");
  EXPECT_EQ(tokenizer->decode(kC, 100000), ""); // out of range
  EXPECT_EQ(tokenizer->decode(kC, -1), "");
}

TEST_F(GGUFTokenizerTest, RoundTrip) {
  for (const char *text : {"abc", "hello \xC3\xBC", "a\n\xE2\x82\xAC",
                           "cab  ba\tq!", "\xF0\x9F\x98\x80 hello", "hello"}) {
    Ids ids = tokenizer->encode(text, true, false);
    EXPECT_EQ(decodeAll(ids), text) << text;
  }
}

TEST(GGUFTokenizerErrorTest, OtherModels) {
  TempDir dir;
  std::string path = dir.path("gpt2.gguf");
  writeVocab(path, "gpt2");
  auto tokenizer = loadGGUFTokenizer(path);
  ASSERT_FALSE(bool(tokenizer));
  std::string error = errorText(tokenizer.takeError());
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("'gpt2'"), std::string::npos) << error;
}

TEST(GGUFTokenizerErrorTest, BadArrays) {
  TempDir dir;
  std::string path = dir.path("bad.gguf");
  writeVocab(path, "llama", /*numScores=*/10);
  auto tokenizer = loadGGUFTokenizer(path);
  ASSERT_FALSE(bool(tokenizer));
  std::string error = errorText(tokenizer.takeError());
  EXPECT_NE(error.find("tokenizer.ggml.scores"), std::string::npos) << error;

  writeVocab(path, "llama", -1, /*bos=*/5000);
  tokenizer = loadGGUFTokenizer(path);
  ASSERT_FALSE(bool(tokenizer));
  error = errorText(tokenizer.takeError());
  EXPECT_NE(error.find("tokenizer.ggml.bos_token_id"), std::string::npos)
      << error;

  // No tokenizer at all (a model-only file).
  TinyLlama model;
  model.write(path);
  tokenizer = loadGGUFTokenizer(path);
  ASSERT_FALSE(bool(tokenizer));
  error = errorText(tokenizer.takeError());
  EXPECT_NE(error.find("tokenizer.ggml.model"), std::string::npos) << error;
}

TEST(GGUFTokenizerErrorTest, LongPiece) {
  // Pieces are bounded (1024 bytes): the merge table looks up every split of
  // every piece.
  TempDir dir;
  std::string path = dir.path("long.gguf");
  GGUFWriter writer;
  writer.addString("tokenizer.ggml.model", "llama");
  writer.addStringArray(
      "tokenizer.ggml.tokens",
      {"<unk>", "<s>", "</s>", std::string(1024, 'a'), std::string(1025, 'b')});
  ASSERT_FALSE(bool(writer.write(path)));
  auto tokenizer = loadGGUFTokenizer(path);
  ASSERT_FALSE(bool(tokenizer));
  EXPECT_EQ(errorText(tokenizer.takeError()),
            path + ": metadata 'tokenizer.ggml.tokens' element 4 is 1025 "
                   "bytes long, more than the 1024 a piece may have");
}

TEST(GGUFTokenizerErrorTest, Truncated) {
  TempDir dir;
  std::string path = dir.path("trunc.gguf");
  writeVocab(path);
  std::vector<uint8_t> bytes = readBytes(path);
  // The last KV (a uint32) ends the header; zero padding follows.
  size_t end = findBytes(bytes, "tokenizer.ggml.unknown_token_id") + 31 + 8;
  for (size_t size = 0; size < end; size += 1 + size / 16) {
    writeBytes(path, std::vector<uint8_t>(bytes.begin(), bytes.begin() + size));
    auto tokenizer = loadGGUFTokenizer(path);
    ASSERT_FALSE(bool(tokenizer)) << size;
    std::string error = errorText(tokenizer.takeError());
    EXPECT_NE(error.find(path), std::string::npos) << error;
  }
}

} // namespace
