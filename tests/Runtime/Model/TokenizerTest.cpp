//===- TokenizerTest.cpp - Tests of the tokenizers --------------*- C++ -*-===//
//
// Synthetic llama2.c tokenizer.bin and Hugging Face tokenizer.json files
// exercise encode/decode (dummy prefix, byte fallback, merge order, both
// merge spellings, Metaspace, added tokens); broken and unsupported files
// must give errors. On ../shared's tok512.bin, a tokenizer.json converted
// from it must tokenize the dev stories exactly as llama2.c does.
//
//===----------------------------------------------------------------------===//

#include "TestUtils.h"

#include "qopt/Model/Tokenizer.h"

#include "llvm/Support/MemoryBuffer.h"

#include "gmock/gmock.h"

#include <algorithm>
#include <map>

using namespace qopt::model;
using namespace qopt::model::test;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace {

using Ids = std::vector<int32_t>;

/// "<0xXX>".
static std::string bytePiece(int b) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
  return buf;
}

//===----------------------------------------------------------------------===//
// llama2.c tokenizer.bin
//===----------------------------------------------------------------------===//

/// Serializes (piece, score) pairs as a llama2.c tokenizer.bin.
static std::string tokenizerBin(
    const std::vector<std::pair<std::string, float>> &pieces) {
  std::string out;
  int32_t maxLen = 0;
  for (const auto &p : pieces)
    maxLen = std::max<int32_t>(maxLen, p.first.size());
  appendRaw(out, maxLen);
  for (const auto &p : pieces) {
    appendRaw(out, p.second);
    appendRaw(out, int32_t(p.first.size()));
    out += p.first;
  }
  return out;
}

/// A tiny llama2.c vocabulary: specials, 256 bytes, then pieces 259...
static std::vector<std::pair<std::string, float>> tinyVocab() {
  std::vector<std::pair<std::string, float>> v = {
      {"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}};
  for (int b = 0; b < 256; ++b)
    v.push_back({bytePiece(b), 0});
  v.insert(v.end(), {{" ", -1},     // 259
                     {"a", -2},     // 260
                     {"b", -3},     // 261
                     {"c", -4},     // 262
                     {"\xC3\xA9", -5}, // 263 é
                     {"ab", 5},     // 264
                     {" a", 3},     // 265
                     {" ab", 4},    // 266
                     {"bc", 6},     // 267
                     {"abc", 1}});  // 268
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
}

//===----------------------------------------------------------------------===//
// Hugging Face tokenizer.json
//===----------------------------------------------------------------------===//

static const char *kSpace = "\xE2\x96\x81"; // ▁

/// A SentencePiece-style tokenizer.json. `pairMerges` writes merges as
/// [a, b] instead of "a b"; `metaspace` uses a Metaspace pre-tokenizer
/// instead of the Prepend/Replace normalizer.
static llvm::json::Object tinyTokenizerJson(bool pairMerges, bool metaspace) {
  std::string sp = kSpace;
  llvm::json::Object vocab{{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b)
    vocab[bytePiece(b)] = 3 + b;
  std::vector<std::string> pieces = {sp, "a", "b", "c", sp + "a", "ab",
                                     sp + "ab", "bc"};
  for (size_t i = 0; i < pieces.size(); ++i)
    vocab[pieces[i]] = int64_t(259 + i);
  std::vector<std::pair<std::string, std::string>> merges = {
      {"b", "c"}, {"a", "b"}, {sp, "a"}, {sp + "a", "b"}};
  llvm::json::Array mergeJson;
  for (const auto &m : merges) {
    if (pairMerges)
      mergeJson.push_back(llvm::json::Array{m.first, m.second});
    else
      mergeJson.push_back(m.first + " " + m.second);
  }
  auto added = [](int64_t id, const char *s) {
    return llvm::json::Object{{"id", id},        {"content", s},
                              {"single_word", false}, {"lstrip", false},
                              {"rstrip", false}, {"normalized", false},
                              {"special", true}};
  };
  llvm::json::Object root{
      {"version", "1.0"},
      {"added_tokens",
       llvm::json::Array{added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")}},
      {"model",
       llvm::json::Object{{"type", "BPE"},
                          {"unk_token", "<unk>"},
                          {"fuse_unk", true},
                          {"byte_fallback", true},
                          {"vocab", std::move(vocab)},
                          {"merges", std::move(mergeJson)}}},
      {"decoder",
       llvm::json::Object{
           {"type", "Sequence"},
           {"decoders",
            llvm::json::Array{
                llvm::json::Object{
                    {"type", "Replace"},
                    {"pattern", llvm::json::Object{{"String", sp}}},
                    {"content", " "}},
                llvm::json::Object{{"type", "ByteFallback"}},
                llvm::json::Object{{"type", "Fuse"}},
                llvm::json::Object{{"type", "Strip"},
                                   {"content", " "},
                                   {"start", 1},
                                   {"stop", 0}}}}}},
      {"post_processor",
       llvm::json::Object{
           {"type", "TemplateProcessing"},
           {"single",
            llvm::json::Array{
                llvm::json::Object{
                    {"SpecialToken",
                     llvm::json::Object{{"id", "<s>"}, {"type_id", 0}}}},
                llvm::json::Object{
                    {"Sequence",
                     llvm::json::Object{{"id", "A"}, {"type_id", 0}}}}}},
           {"special_tokens",
            llvm::json::Object{
                {"<s>", llvm::json::Object{{"id", "<s>"},
                                           {"ids", llvm::json::Array{1}},
                                           {"tokens",
                                            llvm::json::Array{"<s>"}}}}}}}}};
  if (metaspace) {
    root["normalizer"] = nullptr;
    root["pre_tokenizer"] = llvm::json::Object{{"type", "Metaspace"},
                                               {"replacement", sp},
                                               {"prepend_scheme", "first"},
                                               {"split", false}};
  } else {
    root["normalizer"] = llvm::json::Object{
        {"type", "Sequence"},
        {"normalizers",
         llvm::json::Array{
             llvm::json::Object{{"type", "Prepend"}, {"prepend", sp}},
             llvm::json::Object{
                 {"type", "Replace"},
                 {"pattern", llvm::json::Object{{"String", " "}}},
                 {"content", sp}}}}};
    root["pre_tokenizer"] = nullptr;
  }
  return root;
}

/// Writes `obj` to `path`.
static void writeJson(const std::string &path, llvm::json::Value obj) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << obj;
  os.flush();
  writeFile(path, text);
}

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
  root["pre_tokenizer"] = llvm::json::Object{{"type", "ByteLevel"},
                                             {"add_prefix_space", false}};
  expectError(std::move(root), "ByteLevel");
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

//===----------------------------------------------------------------------===//
// tok512.bin (../shared)
//===----------------------------------------------------------------------===//

/// Reads a llama2.c tokenizer.bin into (piece, score) pairs.
static std::vector<std::pair<std::string, float>>
readTokenizerBin(const std::string &path, int n) {
  std::vector<std::pair<std::string, float>> out;
  auto buf = llvm::MemoryBuffer::getFile(path);
  if (!buf)
    return out;
  const char *p = (*buf)->getBufferStart() + 4;
  for (int i = 0; i < n; ++i) {
    float score;
    int32_t len;
    std::memcpy(&score, p, 4);
    std::memcpy(&len, p + 4, 4);
    out.push_back({std::string(p + 8, len), score});
    p += 8 + len;
  }
  return out;
}

/// Converts llama2.c pieces to a Llama-style tokenizer.json, as transformers'
/// SentencePiece converter does: ' ' -> ▁, merges ordered by the score of
/// the merged piece.
static llvm::json::Object
convertToTokenizerJson(const std::vector<std::pair<std::string, float>> &v) {
  auto piece = [&](size_t i) {
    if (i == 0)
      return std::string("<unk>");
    if (i == 1)
      return std::string("<s>");
    if (i == 2)
      return std::string("</s>");
    std::string s;
    for (char c : v[i].first)
      s += c == ' ' ? std::string(kSpace) : std::string(1, c);
    return s;
  };
  llvm::json::Object vocab;
  std::map<std::string, size_t> ids;
  for (size_t i = 0; i < v.size(); ++i) {
    vocab[piece(i)] = int64_t(i);
    ids[piece(i)] = i;
  }
  struct Merge {
    float score;
    size_t merged, left;
    std::string a, b;
  };
  std::vector<Merge> merges;
  for (size_t k = 259; k < v.size(); ++k) {
    std::string s = piece(k);
    for (size_t cut = 1; cut < s.size(); ++cut) {
      auto l = ids.find(s.substr(0, cut)), r = ids.find(s.substr(cut));
      if (l != ids.end() && r != ids.end() && l->second >= 3 && r->second >= 3)
        merges.push_back({v[k].second, k, l->second, s.substr(0, cut),
                          s.substr(cut)});
    }
  }
  std::stable_sort(merges.begin(), merges.end(),
                   [](const Merge &x, const Merge &y) {
                     return x.score > y.score;
                   });
  llvm::json::Array mergeJson;
  for (const Merge &m : merges)
    mergeJson.push_back(llvm::json::Array{m.a, m.b});
  llvm::json::Object root = tinyTokenizerJson(true, false);
  llvm::json::Object &model = *root.getObject("model");
  model["vocab"] = std::move(vocab);
  model["merges"] = std::move(mergeJson);
  return root;
}

TEST(Tok512Test, HuggingFaceFormMatchesLlama2c) {
  std::string dir = joinPath(joinPath(sharedDir(), "models"), "stories260K");
  std::string bin = joinPath(dir, "tok512.bin");
  std::string dev = joinPath(dir, "tinystories-dev.txt");
  if (!llvm::sys::fs::exists(bin) || !llvm::sys::fs::exists(dev))
    FAIL() << "stories260K not found under " << dir
           << " (the tests need ../shared beside the checkout)";
  auto ref = unwrap(loadLlama2cTokenizer(bin, 512));
  ASSERT_TRUE(ref);
  TempDir tmp;
  writeJson(tmp.file("tokenizer.json"),
            convertToTokenizerJson(readTokenizerBin(bin, 512)));
  auto hf = unwrap(loadHuggingFaceTokenizer(tmp.file("tokenizer.json")));
  ASSERT_TRUE(hf);
  EXPECT_EQ(hf->vocabSize(), 512);

  auto text = llvm::MemoryBuffer::getFile(dev);
  ASSERT_TRUE(bool(text));
  llvm::SmallVector<llvm::StringRef> lines;
  (*text)->getBuffer().split(lines, '\n', -1, /*KeepEmpty=*/false);
  lines.push_back("Caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC, \"quoted\"\ttab!");
  lines.push_back("  two  spaces ");
  for (llvm::StringRef line : lines) {
    Ids a = ref->encode(line, true, false);
    Ids b = hf->encode(line, true, false);
    EXPECT_EQ(a, b) << line.str();
    // Decoding reproduces the text (byte fallback included).
    std::string da, db;
    for (size_t i = 1; i < a.size(); ++i)
      da += ref->decode(a[i - 1], a[i]);
    for (size_t i = 1; i < b.size(); ++i)
      db += hf->decode(b[i - 1], b[i]);
    EXPECT_EQ(da, line.str());
    EXPECT_EQ(db, line.str());
  }
  // A known encoding: BOS, then "Once upon a time" in few merged pieces.
  Ids once = ref->encode("Once upon a time", true, false);
  EXPECT_EQ(once.front(), 1);
  EXPECT_LE(once.size(), 8u);
}

} // namespace
