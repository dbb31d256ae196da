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
#include <chrono>
#include <cmath>
#include <map>
#include <random>

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
static std::string
tokenizerBin(const std::vector<std::pair<std::string, float>> &pieces) {
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

static const char *kSpace = "\xE2\x96\x81"; // ▁

/// A SentencePiece-style tokenizer.json. `pairMerges` writes merges as
/// [a, b] instead of "a b"; `metaspace` uses a Metaspace pre-tokenizer
/// instead of the Prepend/Replace normalizer.
static llvm::json::Object tinyTokenizerJson(bool pairMerges, bool metaspace) {
  std::string sp = kSpace;
  llvm::json::Object vocab{{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b)
    vocab[bytePiece(b)] = 3 + b;
  std::vector<std::string> pieces = {sp,       "a",  "b",       "c",
                                     sp + "a", "ab", sp + "ab", "bc"};
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
    return llvm::json::Object{
        {"id", id},        {"content", s},    {"single_word", false},
        {"lstrip", false}, {"rstrip", false}, {"normalized", false},
        {"special", true}};
  };
  llvm::json::Object root{
      {"version", "1.0"},
      {"added_tokens",
       llvm::json::Array{added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")}},
      {"model", llvm::json::Object{{"type", "BPE"},
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
                {"<s>",
                 llvm::json::Object{{"id", "<s>"},
                                    {"ids", llvm::json::Array{1}},
                                    {"tokens", llvm::json::Array{"<s>"}}}}}}}}};
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
        merges.push_back(
            {v[k].second, k, l->second, s.substr(0, cut), s.substr(cut)});
    }
  }
  std::stable_sort(
      merges.begin(), merges.end(),
      [](const Merge &x, const Merge &y) { return x.score > y.score; });
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

//===----------------------------------------------------------------------===//
// Equivalence with the quadratic reference encoders, and speed
//===----------------------------------------------------------------------===//

/// llama2.c's run.c encode() transcribed directly: after every merge the
/// whole sequence is scanned again for the best pair, O(n^2). The encoder
/// must give exactly its tokens. Pieces are C strings, and a lookup finds
/// the first of equal pieces; a byte whose token b + 3 is not in the
/// vocabulary becomes <unk> (0), where run.c would read past its table.
static Ids
referenceLlama2cEncode(const std::vector<std::pair<std::string, float>> &vocab,
                       llvm::StringRef text, bool bos) {
  std::vector<std::string> pieces;
  std::map<std::string, int32_t> lookup;
  for (size_t i = 0; i < vocab.size(); ++i) {
    pieces.push_back(vocab[i].first.c_str());
    lookup.emplace(pieces.back(), int32_t(i));
  }
  auto find = [&](const std::string &s) {
    auto it = lookup.find(s);
    return it == lookup.end() ? -1 : it->second;
  };
  auto byteToken = [&](unsigned char b) {
    return b + 3 < int(vocab.size()) ? int32_t(b + 3) : 0;
  };
  text = text.take_until([](char c) { return c == '\0'; });
  Ids tokens;
  if (bos)
    tokens.push_back(1);
  if (!text.empty()) {
    int32_t prefix = find(" ");
    tokens.push_back(prefix >= 0 ? prefix : byteToken(' '));
  }
  std::string buf;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = text[i];
    if ((c & 0xC0) != 0x80)
      buf.clear();
    buf.push_back(char(c));
    unsigned char next = i + 1 < text.size() ? text[i + 1] : 0;
    if ((next & 0xC0) == 0x80 && buf.size() < 4)
      continue;
    int32_t id = find(buf);
    if (id >= 0) {
      tokens.push_back(id);
    } else {
      for (char b : buf)
        tokens.push_back(byteToken(static_cast<unsigned char>(b)));
    }
    buf.clear();
  }
  while (true) {
    float bestScore = -1e10f;
    int32_t bestId = -1;
    size_t bestIndex = 0;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
      int32_t id = find(pieces[tokens[i]] + pieces[tokens[i + 1]]);
      if (id != -1 && vocab[id].second > bestScore) {
        bestScore = vocab[id].second;
        bestId = id;
        bestIndex = i;
      }
    }
    if (bestId == -1)
      break;
    tokens[bestIndex] = bestId;
    tokens.erase(tokens.begin() + bestIndex + 1);
  }
  return tokens;
}

/// A random text of `length` units: a few code points (é is a piece, ü only
/// bytes), a stray continuation byte, and rarely a NUL (llama2.c stops
/// there).
static std::string randomText(std::mt19937 &rng, size_t length) {
  static const char *const units[] = {"a",        "b",        "c",    " ",
                                      "\xC3\xA9", "\xC3\xBC", "\x80", "d"};
  std::string text;
  for (size_t i = 0; i < length; ++i) {
    if (rng() % 500 == 0)
      text.push_back('\0');
    text += units[rng() % std::size(units)];
  }
  return text;
}

/// A random llama2.c vocabulary: <unk>, BOS, EOS, the 256 bytes, then
/// `count` pieces of 1-4 units from {a, b, c, ' ', é} with scores in a small
/// range (many ties), some that never merge (-1e10, NaN), and a few pieces
/// repeated with another score.
static std::vector<std::pair<std::string, float>>
randomLlama2cVocab(std::mt19937 &rng, int count) {
  static const char *const units[] = {"a", "b", "c", " ", "\xC3\xA9"};
  std::vector<std::pair<std::string, float>> vocab = {
      {"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}};
  for (int b = 0; b < 256; ++b)
    vocab.push_back({bytePiece(b), 0});
  for (int i = 0; i < count; ++i) {
    std::string piece;
    for (int n = 1 + rng() % 4; n > 0; --n)
      piece += units[rng() % std::size(units)];
    float score = float(int(rng() % 7) - 3);
    if (rng() % 20 == 0)
      score = -1e10f;
    else if (rng() % 20 == 0)
      score = NAN;
    vocab.push_back({piece, score});
  }
  for (int i = 0; i < 3; ++i)
    vocab.push_back({vocab[259 + rng() % count].first, float(rng() % 5)});
  return vocab;
}

TEST(Llama2cTokenizerTest, MatchesQuadraticReferenceOnRandomTexts) {
  TempDir dir;
  std::mt19937 rng(20240601);
  for (int v = 0; v < 40; ++v) {
    auto vocab = randomLlama2cVocab(rng, 10 + rng() % 60);
    writeFile(dir.file("tok.bin"), tokenizerBin(vocab));
    auto tok = unwrap(loadLlama2cTokenizer(dir.file("tok.bin"), vocab.size()));
    ASSERT_TRUE(tok);
    for (int t = 0; t < 50; ++t) {
      std::string text = randomText(rng, rng() % 120);
      bool bos = t % 2 == 0;
      ASSERT_EQ(tok->encode(text, bos, false),
                referenceLlama2cEncode(vocab, text, bos))
          << "vocabulary " << v << ", text '" << text << "'";
    }
  }
}

TEST(Llama2cTokenizerTest, SmallVocabulariesStayInRange) {
  // Byte tokens past a small vocabulary are <unk>; BOS and EOS need 3.
  TempDir dir;
  std::vector<std::pair<std::string, float>> vocab = {
      {"<unk>", 0}, {"<s>", 0}, {"</s>", 0}, {"a", 1}, {"aa", 2}};
  writeFile(dir.file("tok.bin"), tokenizerBin(vocab));
  auto tok = unwrap(loadLlama2cTokenizer(dir.file("tok.bin"), 5));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("aaa b", true, false), (Ids{1, 0, 4, 3, 0, 0}));
  EXPECT_EQ(tok->encode("aaa b", true, false),
            referenceLlama2cEncode(vocab, "aaa b", true));
  EXPECT_EQ(errorOf(loadLlama2cTokenizer(dir.file("tok.bin"), 2)),
            "llama2.c tokenizer '" + dir.file("tok.bin") +
                "' has 2 tokens; it needs at least 3 (<unk>, BOS, EOS)");
}

/// The Hugging Face BPE model encoded the quadratic way (no normalizer or
/// pre-tokenizer: the text is one word): characters to ids (the vocab, else
/// <0xXX> bytes), then the lowest-ranked adjacent pair, the leftmost on
/// ties, merged until none.
static Ids referenceHFEncode(const std::map<std::string, int32_t> &vocab,
                             const std::map<std::pair<int32_t, int32_t>,
                                            std::pair<int32_t, int32_t>> &ranks,
                             llvm::StringRef text) {
  Ids syms;
  for (size_t i = 0; i < text.size();) {
    size_t len = 1;
    unsigned char lead = text[i];
    if ((lead & 0xE0) == 0xC0)
      len = 2;
    len = std::min(len, text.size() - i);
    auto it = vocab.find(text.substr(i, len).str());
    if (it != vocab.end()) {
      syms.push_back(it->second);
    } else {
      for (char b : text.substr(i, len))
        syms.push_back(vocab.at(bytePiece(static_cast<unsigned char>(b))));
    }
    i += len;
  }
  while (syms.size() > 1) {
    int32_t bestRank = INT32_MAX, bestId = -1;
    size_t bestIndex = 0;
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      auto it = ranks.find({syms[i], syms[i + 1]});
      if (it != ranks.end() && it->second.first < bestRank) {
        bestRank = it->second.first;
        bestId = it->second.second;
        bestIndex = i;
      }
    }
    if (bestId < 0)
      break;
    syms[bestIndex] = bestId;
    syms.erase(syms.begin() + bestIndex + 1);
  }
  return syms;
}

TEST(HFTokenizerSplitTest, MatchesQuadraticReferenceOnRandomTexts) {
  TempDir dir;
  std::mt19937 rng(7);
  for (int v = 0; v < 30; ++v) {
    // <unk>, bytes, a b c d, then merges of random pieces in random order
    // (a pair listed twice keeps its first rank).
    std::map<std::string, int32_t> vocab = {{"<unk>", 0}};
    std::vector<std::string> pieces = {"<unk>"};
    for (int b = 0; b < 256; ++b) {
      vocab[bytePiece(b)] = int32_t(pieces.size());
      pieces.push_back(bytePiece(b));
    }
    size_t base = pieces.size();
    for (const char *c : {"a", "b", "c", "d"}) {
      vocab[c] = int32_t(pieces.size());
      pieces.push_back(c);
    }
    std::vector<std::pair<std::string, std::string>> mergeList;
    for (int m = 0, count = 5 + rng() % 60; m < count; ++m) {
      const std::string &l = pieces[base + rng() % (pieces.size() - base)];
      const std::string &r = pieces[base + rng() % (pieces.size() - base)];
      if (l.size() + r.size() > 8)
        continue;
      mergeList.push_back({l, r});
      if (!vocab.count(l + r)) {
        vocab[l + r] = int32_t(pieces.size());
        pieces.push_back(l + r);
      }
    }
    std::shuffle(mergeList.begin(), mergeList.end(), rng);
    std::map<std::pair<int32_t, int32_t>, std::pair<int32_t, int32_t>> ranks;
    llvm::json::Object vocabJson;
    llvm::json::Array mergeJson;
    for (const auto &[piece, id] : vocab)
      vocabJson[piece] = id;
    for (auto [rank, merge] : llvm::enumerate(mergeList)) {
      ranks.try_emplace({vocab[merge.first], vocab[merge.second]},
                        int32_t(rank), vocab[merge.first + merge.second]);
      mergeJson.push_back(llvm::json::Array{merge.first, merge.second});
    }
    writeJson(
        dir.file("tokenizer.json"),
        llvm::json::Object{
            {"model", llvm::json::Object{{"type", "BPE"},
                                         {"unk_token", "<unk>"},
                                         {"byte_fallback", true},
                                         {"vocab", std::move(vocabJson)},
                                         {"merges", std::move(mergeJson)}}}});
    auto tok = unwrap(loadHuggingFaceTokenizer(dir.file("tokenizer.json")));
    ASSERT_TRUE(tok);
    for (int t = 0; t < 50; ++t) {
      std::string text;
      for (size_t n = rng() % 150; n > 0; --n)
        text += rng() % 16 ? std::string(1, "abcd"[rng() % 4]) : "\xC3\xA9";
      ASSERT_EQ(tok->encode(text, false, false),
                referenceHFEncode(vocab, ranks, text))
          << "vocabulary " << v << ", text '" << text << "'";
    }
  }
}

/// The path of a file of ../shared's stories260K (a test failure if absent).
static std::string storiesFile(llvm::StringRef name) {
  std::string dir = joinPath(joinPath(sharedDir(), "models"), "stories260K");
  std::string path = joinPath(dir, name);
  EXPECT_TRUE(llvm::sys::fs::exists(path))
      << path << " not found (the tests need ../shared beside the checkout)";
  return path;
}

TEST(Tok512Test, MatchesQuadraticReferenceOnDevStories) {
  std::string bin = storiesFile("tok512.bin");
  auto tok = unwrap(loadLlama2cTokenizer(bin, 512));
  ASSERT_TRUE(tok);
  auto vocab = readTokenizerBin(bin, 512);
  auto text = llvm::MemoryBuffer::getFile(storiesFile("tinystories-dev.txt"));
  ASSERT_TRUE(bool(text));
  llvm::SmallVector<llvm::StringRef> lines;
  (*text)->getBuffer().split(lines, '\n', -1, /*KeepEmpty=*/false);
  ASSERT_GT(lines.size(), 5u);
  size_t tokens = 0;
  for (llvm::StringRef line : lines) {
    Ids ids = tok->encode(line, true, false);
    EXPECT_EQ(ids, referenceLlama2cEncode(vocab, line, true)) << line.str();
    tokens += std::min<size_t>(ids.size(), 512) - 1;
  }
  // The published perplexity's count: each line a sequence, BOS first, cut
  // at the 512-token context.
  EXPECT_EQ(tokens, 4769u);
}

TEST(Tok512Test, LongLinesEncodeInLinearTime) {
  // The dev stories joined into one line, repeated to 100 KB and 10 MB: the
  // quadratic encoder took minutes for 100 KB and never finished 10 MB.
  // Every token decodes back to the text.
  auto tok = unwrap(loadLlama2cTokenizer(storiesFile("tok512.bin"), 512));
  ASSERT_TRUE(tok);
  auto text = llvm::MemoryBuffer::getFile(storiesFile("tinystories-dev.txt"));
  ASSERT_TRUE(bool(text));
  std::string stories = (*text)->getBuffer().str();
  std::replace(stories.begin(), stories.end(), '\n', ' ');
  for (auto [bytes, seconds] : {std::pair<size_t, double>{100000, 1.0},
                                std::pair<size_t, double>{10000000, 10.0}}) {
    std::string line;
    while (line.size() < bytes)
      line += stories;
    line.resize(bytes);
    auto start = std::chrono::steady_clock::now();
    Ids ids = tok->encode(line, true, false);
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    EXPECT_LT(elapsed, seconds * test::kTimeScale) << bytes << " bytes";
    std::string decoded;
    for (size_t i = 1; i < ids.size(); ++i)
      decoded += tok->decode(ids[i - 1], ids[i]);
    EXPECT_EQ(decoded, line);
    EXPECT_LT(ids.size(), bytes * 3 / 4);
  }
}

TEST(Llama2cTokenizerTest, OneLongPartEncodesInLinearTime) {
  // Pieces over {a, b} hold both letters past their first byte, so no
  // symbol starts a part: 1 MB is one sequence of a million symbols.
  TempDir dir;
  std::mt19937 rng(11);
  std::vector<std::pair<std::string, float>> vocab = {
      {"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}};
  for (int b = 0; b < 256; ++b)
    vocab.push_back({bytePiece(b), 0});
  vocab.push_back({" ", -100}); // the dummy prefix
  for (int i = 0; i < 200; ++i) {
    std::string piece;
    for (int n = 1 + rng() % 8; n > 0; --n)
      piece.push_back("ab"[rng() % 2]);
    vocab.push_back({piece, float(int(rng() % 20) - 20)});
  }
  writeFile(dir.file("tok.bin"), tokenizerBin(vocab));
  auto tok = unwrap(loadLlama2cTokenizer(dir.file("tok.bin"), vocab.size()));
  ASSERT_TRUE(tok);
  std::string text;
  for (int i = 0; i < 1000000; ++i)
    text.push_back("ab"[rng() % 2]);
  // The reference on a prefix, then the whole text in time.
  EXPECT_EQ(tok->encode(llvm::StringRef(text).take_front(3000), true, false),
            referenceLlama2cEncode(
                vocab, llvm::StringRef(text).take_front(3000), true));
  auto start = std::chrono::steady_clock::now();
  Ids ids = tok->encode(text, true, false);
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_LT(elapsed, 5.0 * test::kTimeScale);
  std::string decoded;
  for (size_t i = 1; i < ids.size(); ++i)
    decoded += tok->decode(ids[i - 1], ids[i]);
  EXPECT_EQ(decoded, text);
}

} // namespace
