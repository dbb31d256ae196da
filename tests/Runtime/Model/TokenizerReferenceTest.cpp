//===- TokenizerReferenceTest.cpp - Tokenizers vs references ---*- C++ -*-===//
//
// The encoders against quadratic transcriptions of llama2.c's encode() and
// of BPE by merge rank on random texts and small vocabularies, tok512.bin
// read as a tokenizer.json against the llama2.c form on ../shared's dev
// stories, and the linear-time encoding of long inputs.
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
