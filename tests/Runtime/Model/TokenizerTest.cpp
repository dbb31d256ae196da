//===- TokenizerTest.cpp - Tests of the tokenizers --------------*- C++ -*-===//
//
// Synthetic llama2.c tokenizer.bin and Hugging Face tokenizer.json files
// exercise encode/decode (dummy prefix, byte fallback, merge order, both
// merge spellings, Metaspace, added tokens); broken and unsupported files
// must give errors. TokenizerReferenceTest.cpp has the comparisons with
// reference encoders and ../shared's tok512.bin.
//
//===----------------------------------------------------------------------===//

#include "TokenizerTestFiles.h"

#include "qopt/Model/Tokenizer.h"

#include "llvm/Support/MemoryBuffer.h"

#include "gmock/gmock.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <random>

using namespace qopt::model;
using namespace qopt::model::test;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace {

//===----------------------------------------------------------------------===//
// llama2.c tokenizer.bin
//===----------------------------------------------------------------------===//

/// A tiny llama2.c vocabulary: specials, 256 bytes, then pieces 259...
static std::vector<std::pair<std::string, float>> tinyVocab() {
  std::vector<std::pair<std::string, float>> v = {
      {"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}};
  for (int b = 0; b < 256; ++b)
    v.push_back({bytePiece(b), 0});
  v.insert(v.end(), {{" ", -1},        // 259
                     {"a", -2},        // 260
                     {"b", -3},        // 261
                     {"c", -4},        // 262
                     {"\xC3\xA9", -5}, // 263 é
                     {"ab", 5},        // 264
                     {" a", 3},        // 265
                     {" ab", 4},       // 266
                     {"bc", 6},        // 267
                     {"abc", 1}});     // 268
  return v;
}

TEST(Llama2cTokenizerTest, EncodeMatchesRunC) {
  TempDir dir;
  auto vocab = tinyVocab();
  writeFile(dir.file("tok.bin"), tokenizerBin(vocab));
  auto tok = unwrap(loadLlama2cTokenizer(dir.file("tok.bin"), vocab.size()));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->vocabSize(), int64_t(vocab.size()));
  EXPECT_EQ(tok->bosId(), 1);
  EXPECT_EQ(tok->eosId(), 2);
  // "abc": [" ", a, b, c] -> "bc" (6) -> " a" (3) -> " abc" is not a piece.
  EXPECT_EQ(tok->encode("abc", true, true), (Ids{1, 265, 267, 2}));
  // "ab": "ab" (5) then " ab" (4).
  EXPECT_EQ(tok->encode("ab", false, false), (Ids{266}));
  EXPECT_EQ(tok->encode("", true, false), (Ids{1}));
  EXPECT_EQ(tok->encode("", false, false), (Ids{}));
  // Known multi-byte codepoint vs byte fallback (ü = C3 BC).
  EXPECT_EQ(tok->encode("\xC3\xA9", false, false), (Ids{259, 263}));
  EXPECT_EQ(tok->encode("\xC3\xBC", false, false),
            (Ids{259, 0xC3 + 3, 0xBC + 3}));
  // Decoding: leading space stripped only after BOS; bytes raw.
  EXPECT_EQ(tok->decode(1, 266), "ab");
  EXPECT_EQ(tok->decode(264, 266), " ab");
  EXPECT_EQ(tok->decode(1, 'A' + 3), "A");
  EXPECT_EQ(tok->decode(5, 0xC3 + 3), "\xC3");
  EXPECT_EQ(tok->decode(5, 100000), "");
  EXPECT_EQ(tok->decode(5, -1), "");
}

TEST(Llama2cTokenizerTest, BrokenFiles) {
  TempDir dir;
  auto vocab = tinyVocab();
  std::string bytes = tokenizerBin(vocab);
  writeFile(dir.file("tok.bin"), bytes.substr(0, bytes.size() - 2));
  std::string msg =
      errorOf(loadLlama2cTokenizer(dir.file("tok.bin"), vocab.size()));
  EXPECT_THAT(msg, HasSubstr(dir.file("tok.bin")));
  EXPECT_THAT(msg, HasSubstr("truncated"));
  EXPECT_THAT(msg, HasSubstr("token 268"));
  // More tokens asked for than the file holds.
  writeFile(dir.file("tok.bin"), bytes);
  EXPECT_THAT(errorOf(loadLlama2cTokenizer(dir.file("tok.bin"), 300)),
              HasSubstr("truncated"));
  std::string neg;
  appendRaw(neg, int32_t(4));
  appendRaw(neg, 0.0f);
  appendRaw(neg, int32_t(-7));
  writeFile(dir.file("neg.bin"), neg);
  EXPECT_THAT(errorOf(loadLlama2cTokenizer(dir.file("neg.bin"), 1)),
              HasSubstr("negative length"));
  EXPECT_THAT(errorOf(loadLlama2cTokenizer(dir.file("absent.bin"), 10)),
              HasSubstr("absent.bin"));
  // Pieces are bounded: the merge table looks up every split of each.
  auto longVocab = tinyVocab();
  longVocab.push_back({std::string(1024, 'a'), 0});
  longVocab.push_back({std::string(1025, 'a'), 0});
  writeFile(dir.file("long.bin"), tokenizerBin(longVocab));
  EXPECT_TRUE(bool(unwrap(loadLlama2cTokenizer(dir.file("long.bin"), 270))));
  EXPECT_EQ(errorOf(loadLlama2cTokenizer(dir.file("long.bin"), 271)),
            "llama2.c tokenizer '" + dir.file("long.bin") +
                "': token 270 is 1025 bytes long, more than the 1024 a piece "
                "may have");
}

//===----------------------------------------------------------------------===//
// Hugging Face tokenizer.json
//===----------------------------------------------------------------------===//

class HFTokenizerTest : public ::testing::TestWithParam<std::pair<bool, bool>> {
};

TEST_P(HFTokenizerTest, EncodeDecode) {
  TempDir dir;
  writeJson(dir.file("tokenizer.json"),
            tinyTokenizerJson(GetParam().first, GetParam().second));
  auto tok = unwrap(loadHuggingFaceTokenizer(dir.file("tokenizer.json")));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->bosId(), 1);
  EXPECT_EQ(tok->eosId(), 2);
  EXPECT_EQ(tok->vocabSize(), 267);
  // ▁ a b c: "b c" (rank 0), then "▁ a" (2); "▁a bc" is no merge.
  EXPECT_EQ(tok->encode("abc", true, true), (Ids{1, 263, 266, 2}));
  // ▁ a b: "a b" (1) first, so "▁a b" never applies: [▁, ab].
  EXPECT_EQ(tok->encode("ab", false, false), (Ids{259, 264}));
  // Leftmost first on equal ranks; spaces become ▁.
  EXPECT_EQ(tok->encode("ab ab", false, false), (Ids{259, 264, 259, 264}));
  EXPECT_EQ(tok->encode("", true, false), (Ids{1}));
  // Byte fallback for é (C3 A9).
  EXPECT_EQ(tok->encode("\xC3\xA9", false, false),
            (Ids{259, 0xC3 + 3, 0xA9 + 3}));
  // Decoding.
  EXPECT_EQ(tok->decode(1, 263), "a");
  EXPECT_EQ(tok->decode(5, 263), " a");
  EXPECT_EQ(tok->decode(5, 264), "ab");
  EXPECT_EQ(tok->decode(5, 0xA9 + 3), "\xA9");
  EXPECT_EQ(tok->decode(5, 2), "</s>");
  EXPECT_EQ(tok->decode(5, 4000), "");
}

INSTANTIATE_TEST_SUITE_P(Forms, HFTokenizerTest,
                         ::testing::Values(std::make_pair(false, false),
                                           std::make_pair(true, false),
                                           std::make_pair(false, true),
                                           std::make_pair(true, true)));

TEST(HFTokenizerSplitTest, AddedTokensSplitText) {
  TempDir dir;
  writeJson(dir.file("tokenizer.json"), tinyTokenizerJson(false, false));
  auto tok = unwrap(loadHuggingFaceTokenizer(dir.file("tokenizer.json")));
  ASSERT_TRUE(tok);
  // Each piece between added tokens is normalized on its own.
  EXPECT_EQ(tok->encode("a</s>b", false, false), (Ids{263, 2, 259, 261}));
}

TEST(HFTokenizerSplitTest, UnsupportedAndBrokenFiles) {
  TempDir dir;
  std::string path = dir.file("tokenizer.json");
  auto expectError = [&](llvm::json::Object root, const char *what) {
    writeJson(path, std::move(root));
    std::string msg = errorOf(loadHuggingFaceTokenizer(path));
    EXPECT_THAT(msg, HasSubstr(path)) << what;
    EXPECT_THAT(msg, HasSubstr(what));
  };
  llvm::json::Object root = tinyTokenizerJson(false, false);
  root["pre_tokenizer"] =
      llvm::json::Object{{"type", "ByteLevel"}, {"add_prefix_space", false}};
  expectError(std::move(root),
              "a ByteLevel pre_tokenizer without a ByteLevel decoder");
  root = tinyTokenizerJson(false, false);
  (*root.getObject("model"))["type"] = "WordPiece";
  expectError(std::move(root), "WordPiece");
  root = tinyTokenizerJson(false, false);
  (*root.getObject("model"))["type"] = "Unigram";
  expectError(std::move(root), "Unigram");
  root = tinyTokenizerJson(false, false);
  root["normalizer"] = llvm::json::Object{{"type", "NFKC"}};
  expectError(std::move(root), "NFKC");
  root = tinyTokenizerJson(false, false);
  (*root.getObject("model"))["merges"] = llvm::json::Array{"a x"};
  expectError(std::move(root), "missing from the vocab");
  root = tinyTokenizerJson(false, false);
  (*root.getObject("model"))["merges"] = llvm::json::Array{"ab"};
  expectError(std::move(root), "not \"left right\"");
  root = tinyTokenizerJson(false, false);
  root.erase("model");
  expectError(std::move(root), "no \"model\"");
  writeFile(path, "{\"model\": {");
  EXPECT_THAT(errorOf(loadHuggingFaceTokenizer(path)),
              HasSubstr("not valid JSON"));
}

TEST(HFTokenizerSplitTest, HostileFiles) {
  TempDir dir;
  std::string path = dir.file("tokenizer.json");
  // An id far past the entries (it sized a table of 16M strings).
  llvm::json::Object root = tinyTokenizerJson(false, false);
  (*root.getObject("model")->getObject("vocab"))["a"] = 16777215;
  writeJson(path, std::move(root));
  EXPECT_EQ(errorOf(loadHuggingFaceTokenizer(path)),
            "tokenizer '" + path +
                "': token 'a' has id 16777215; ids must be in [0, 270), the "
                "number of vocab and added_tokens entries");
  // A vocab key twice (JSON keeps the last silently).
  writeFile(path, R"({"model": {"type": "BPE", "vocab": {"a": 0, "a": 1},
                      "merges": []}})");
  EXPECT_THAT(errorOf(loadHuggingFaceTokenizer(path)),
              HasSubstr("has the key \"a\" twice in one object"));
  // 100000 nested arrays.
  writeFile(path, "{\"model\": " + std::string(100000, '[') +
                      std::string(100000, ']') + "}");
  EXPECT_EQ(errorOf(loadHuggingFaceTokenizer(path)),
            "tokenizer '" + path +
                "' nests JSON arrays and objects deeper than 256 levels (at "
                "byte 265)");
  // Devices are not read, as tokenizer.json or as tokenizer_config.json.
  EXPECT_EQ(errorOf(loadHuggingFaceTokenizer("/dev/zero")),
            "tokenizer '/dev/zero' is not a regular file (it is a character "
            "device)");
  writeJson(path, tinyTokenizerJson(false, false));
  ASSERT_EQ(llvm::sys::fs::create_link("/dev/zero",
                                       dir.file("tokenizer_config.json")),
            std::error_code());
  EXPECT_EQ(errorOf(loadHuggingFaceTokenizer(path)),
            "'" + dir.file("tokenizer_config.json") +
                "' is not a regular file (it is a character device)");
}

TEST(LoadTokenizerForTest, FindsTokenizers) {
  TempDir dir;
  auto vocab = tinyVocab();
  std::string bin = dir.file("model.bin");
  writeFile(bin, "not read");
  // Nothing beside the .bin yet.
  std::string msg = errorOf(loadTokenizerFor(bin, "", vocab.size()));
  EXPECT_THAT(msg, HasSubstr("tokenizer.bin"));
  EXPECT_THAT(msg, HasSubstr("tok269.bin"));
  writeFile(dir.file("tok269.bin"), tokenizerBin(vocab));
  auto tok = unwrap(loadTokenizerFor(bin, "", vocab.size()));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->vocabSize(), 269);
  // A llama2.c tokenizer reads exactly the model's vocabulary size.
  tok = unwrap(loadTokenizerFor(bin, dir.file("tok269.bin"), 100));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->vocabSize(), 100);
  // Hugging Face directory: tokenizer.json inside.
  EXPECT_THAT(errorOf(loadTokenizerFor(dir.path, "", 300)),
              HasSubstr("no tokenizer.json"));
  writeJson(dir.file("tokenizer.json"), tinyTokenizerJson(false, true));
  tok = unwrap(loadTokenizerFor(dir.path, "", 300));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->vocabSize(), 267);
  EXPECT_THAT(errorOf(loadTokenizerFor(dir.path, "", 200)),
              HasSubstr("more than the model's vocabulary"));
  // Explicit paths win.
  tok = unwrap(loadTokenizerFor(bin, dir.file("tokenizer.json"), 300));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->vocabSize(), 267);
  EXPECT_THAT(errorOf(loadTokenizerFor(bin, dir.file("nope.json"), 300)),
              HasSubstr("does not exist"));
}

} // namespace
