//===- Tokenizer.cpp - llama2.c and Hugging Face tokenizers -----*- C++ -*-===//
//
// Two BPE encoders plus the lookup that picks a tokenizer for a checkpoint:
//  - vocabularies of pieces with scores (llama2.c's tokenizer.bin here, the
//    GGUF "llama" vocabulary in GGUF.cpp), with encode()/decode() replicating
//    llama2.c's run.c exactly (dummy prefix, UTF-8 code points with byte
//    fallback, greedy merging of the best-scoring adjacent pair);
//  - Hugging Face tokenizer.json with a SentencePiece-style BPE model (Llama:
//    "▁" space marker, byte_fallback <0xXX> tokens, merges by rank).
// Both merge greedily through one priority queue of candidate pairs over a
// linked list of symbols, as SentencePiece does: O(n log n) in the length of
// the text, where rescanning for the best pair after every merge is O(n^2).
// Forms that would tokenize differently (ByteLevel, WordPiece, Unigram,
// unknown normalizers) are rejected with an error instead of guessed at.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Tokenizer.h"
#include "qopt/Model/Input.h"

#include "ModelUtils.h"
#include "ScoredBPE.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>

using namespace qopt::model;
using namespace qopt::model::detail;

Tokenizer::~Tokenizer() = default;

/// The byte of a byte-fallback piece "<0xXX>", or -1.
static int byteFallbackValue(llvm::StringRef piece) {
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece.back() != '>')
    return -1;
  unsigned v;
  if (piece.substr(3, 2).getAsInteger(16, v))
    return -1;
  return static_cast<int>(v);
}

//===----------------------------------------------------------------------===//
// Greedy pair merging
//===----------------------------------------------------------------------===//

namespace {
/// What two adjacent symbols merge into: the token, and the priority of the
/// merge (a higher priority merges first).
struct PairMerge {
  int32_t token;
  uint32_t priority;
};
/// The merge of the symbols `left` and `right`, if they merge.
using PairMergeFn =
    llvm::function_ref<std::optional<PairMerge>(int32_t left, int32_t right)>;

/// The candidate merges of one priority, by the position of their left
/// symbol: positions pushed in increasing order wait in a queue (most of
/// them: the initial pairs, and pairs that form to the right of the last
/// one), the others in a min-heap.
template <typename Index> struct MergeBucket {
  /// Positions in increasing order; those before `head` are taken.
  std::vector<Index> queue;
  size_t head = 0;
  /// The other positions, a min-heap.
  std::vector<Index> heap;
  /// Whether the bucket's priority is in the heap of priorities.
  bool active = false;

  bool empty() const { return head == queue.size() && heap.empty(); }
  void clear() {
    queue.clear();
    heap.clear();
    head = 0;
    active = false;
  }
  void push(Index position) {
    if (head == queue.size()) {
      queue.clear();
      head = 0;
    }
    if (queue.empty() || queue.back() < position) {
      queue.push_back(position);
      return;
    }
    heap.push_back(position);
    std::push_heap(heap.begin(), heap.end(), std::greater<Index>());
  }
  /// Removes and returns the leftmost position (the bucket is not empty).
  Index pop() {
    if (heap.empty() || (head < queue.size() && queue[head] < heap.front()))
      return queue[head++];
    std::pop_heap(heap.begin(), heap.end(), std::greater<Index>());
    Index position = heap.back();
    heap.pop_back();
    return position;
  }
};

/// Merges the adjacent pairs of a sequence of symbols, best first, with
/// positions of type `Index` (wide enough for the sequence). Its buffers are
/// reused from one sequence to the next.
template <typename Index> class PairMerger {
public:
  explicit PairMerger(PairMergeFn merge) : merge(merge) {}

  /// Merges the `n` symbols at `symbols`; the result is written over their
  /// beginning and its length returned.
  size_t run(int32_t *symbols, size_t n);

private:
  static constexpr Index none = std::numeric_limits<Index>::max();
  static constexpr int32_t removed = -1;
  /// A symbol of the doubly-linked list of those still in the sequence (one
  /// array, so that visiting a symbol reads one cache line).
  struct Symbol {
    int32_t token;
    Index prev, next;
  };

  /// Adds the candidate of the pair whose left symbol is at `left`.
  void push(Index left);

  PairMergeFn merge;
  std::vector<Symbol> list;
  std::vector<MergeBucket<Index>> buckets;
  size_t usedBuckets = 0;
  /// Bucket index by priority (widened: DenseMap reserves two keys of every
  /// type, and a priority may be any 32-bit value).
  llvm::DenseMap<uint64_t, unsigned> bucketOf;
  /// Max-heap of the priorities whose bucket is active.
  std::vector<uint32_t> priorities;
};
} // namespace

template <typename Index> void PairMerger<Index>::push(Index left) {
  std::optional<PairMerge> m =
      merge(list[left].token, list[list[left].next].token);
  if (!m)
    return;
  auto [it, inserted] = bucketOf.try_emplace(m->priority, usedBuckets);
  if (inserted && usedBuckets++ == buckets.size())
    buckets.emplace_back();
  MergeBucket<Index> &bucket = buckets[it->second];
  bucket.push(left);
  if (!bucket.active) {
    bucket.active = true;
    priorities.push_back(m->priority);
    std::push_heap(priorities.begin(), priorities.end());
  }
}

template <typename Index>
size_t PairMerger<Index>::run(int32_t *symbols, size_t n) {
  // A candidate is (priority, position of its left symbol); the best is the
  // highest priority, then the leftmost. Candidates go to the bucket of
  // their priority, and a max-heap holds the priorities of the non-empty
  // buckets. A candidate whose pair has changed since it was pushed is
  // skipped when it comes up: it is current while the pair now at its
  // position has its priority. (If that pair formed later, it has its own
  // candidate with the same key, so merging it now changes nothing.) Every
  // merge pushes at most two candidates: O(n log n) in all.
  list.resize(n);
  for (size_t i = 0; i < n; ++i)
    list[i] = {symbols[i], i == 0 ? none : static_cast<Index>(i - 1),
               i + 1 == n ? none : static_cast<Index>(i + 1)};
  for (size_t i = 0; i < usedBuckets; ++i)
    buckets[i].clear();
  usedBuckets = 0;
  bucketOf.clear();
  priorities.clear();
  for (size_t i = 0; i + 1 < n; ++i)
    push(static_cast<Index>(i));

  while (!priorities.empty()) {
    uint32_t priority = priorities.front();
    MergeBucket<Index> &bucket = buckets[bucketOf.find(priority)->second];
    if (bucket.empty()) {
      bucket.active = false;
      std::pop_heap(priorities.begin(), priorities.end());
      priorities.pop_back();
      continue;
    }
    Index left = bucket.pop();
    Symbol &l = list[left];
    if (l.token == removed || l.next == none)
      continue;
    Symbol &r = list[l.next];
    std::optional<PairMerge> m = merge(l.token, r.token);
    if (!m || m->priority != priority)
      continue; // stale: a neighbour merged since
    l.token = m->token;
    r.token = removed;
    l.next = r.next;
    if (l.next != none)
      list[l.next].prev = left;
    if (l.prev != none)
      push(l.prev);
    if (l.next != none)
      push(left);
  }
  // Position 0 is never removed: only the right symbol of a pair is.
  size_t length = 0;
  for (Index i = 0; i != none; i = list[i].next)
    symbols[length++] = list[i].token;
  return length;
}

/// Merges adjacent pairs of `symbols` (token ids, all >= 0) as long as one
/// merges: each time the pair of the highest priority, the leftmost among
/// equals. This is the result of rescanning the whole sequence for the best
/// pair after every merge, in O(n log n).
///
/// `piece` is a token's text (a merge concatenates them) and `inner` the
/// bytes that some merge result holds past its first byte. A symbol whose
/// piece starts with any other byte, after a symbol with a non-empty piece,
/// is never merged with what precedes it (no merge result could hold its
/// first byte where it would be), so the sequence is cut there into parts
/// that merge independently, each small enough to stay in cache. For a
/// SentencePiece vocabulary, whose pieces hold the space only first, the
/// parts are words.
static void mergePairs(std::vector<int32_t> &symbols, PairMergeFn merge,
                       const std::bitset<256> &inner,
                       llvm::function_ref<llvm::StringRef(int32_t)> piece) {
  size_t n = symbols.size();
  auto startsPart = [&](size_t i) {
    llvm::StringRef text = piece(symbols[i]);
    return !text.empty() && !inner[static_cast<uint8_t>(text[0])] &&
           !piece(symbols[i - 1]).empty();
  };
  PairMerger<uint32_t> merger(merge);
  size_t length = 0;
  for (size_t begin = 0, end; begin < n; begin = end) {
    end = begin + 1;
    while (end < n && !startsPart(end))
      ++end;
    // Parts only shrink: each is written at or before where it was read.
    int32_t *part = symbols.data() + begin;
    size_t merged = end - begin < std::numeric_limits<uint32_t>::max()
                        ? merger.run(part, end - begin)
                        : PairMerger<uint64_t>(merge).run(part, end - begin);
    std::copy(part, part + merged, symbols.data() + length);
    length += merged;
  }
  symbols.resize(length);
}

/// Adds to `inner` (see mergePairs) the bytes of `piece`, the text of a
/// merge result, past its first byte.
static void addInnerBytes(std::bitset<256> &inner, llvm::StringRef piece) {
  for (char c : piece.drop_front())
    inner.set(static_cast<uint8_t>(c));
}

/// An unsigned key ordered as the float `score` (not NaN); -0 and +0 are
/// equal, as they compare.
static uint32_t scoreKey(float score) {
  if (score == 0.0f)
    score = 0.0f;
  uint32_t bits;
  std::memcpy(&bits, &score, sizeof(bits));
  return bits & 0x80000000u ? ~bits : bits | 0x80000000u;
}

//===----------------------------------------------------------------------===//
// Vocabularies with scores (llama2.c, GGUF)
//===----------------------------------------------------------------------===//

namespace {
/// See makeScoredBPETokenizer.
class ScoredBPETokenizer final : public Tokenizer {
public:
  explicit ScoredBPETokenizer(ScoredVocabulary vocabulary);

  std::vector<int32_t> encode(llvm::StringRef text, bool addBos,
                              bool addEos) const override;
  std::string decode(int32_t prev, int32_t token) const override;
  int32_t bosId() const override { return v.bos; }
  int32_t eosId() const override { return v.eos; }
  int64_t vocabSize() const override { return v.pieces.size(); }
  std::optional<GGUFVocabulary> ggufVocabulary() const override;

private:
  /// The token whose piece is `piece` (the first of equal pieces), or -1.
  int32_t find(llvm::StringRef piece) const {
    auto it = ids.find(piece);
    return it == ids.end() ? -1 : it->second;
  }
  /// The token standing for `byte` outside a known code point.
  int32_t byteToken(uint8_t byte) const {
    return v.byteTokens[byte] >= 0 ? v.byteTokens[byte] : v.unknown;
  }

  ScoredVocabulary v;
  llvm::StringMap<int32_t> ids;
  /// The first token of each token's piece (pieces may repeat).
  std::vector<int32_t> canonical;
  /// Every merge, by (canonical left << 32 | canonical right): the first
  /// token whose piece is the concatenation, when it scores above -1e10.
  llvm::DenseMap<uint64_t, PairMerge> merges;
  /// The bytes of merge results past their first (see mergePairs).
  std::bitset<256> inner;
};
} // namespace

std::optional<GGUFVocabulary> ScoredBPETokenizer::ggufVocabulary() const {
  GGUFVocabulary out;
  out.bos = v.bos;
  out.eos = v.eos;
  out.unknown = v.unknown;
  out.scores = v.scores;
  for (auto [i, pieceText] : llvm::enumerate(v.pieces)) {
    int32_t id = static_cast<int32_t>(i);
    llvm::StringRef piece = pieceText;
    if (id == v.unknown) {
      out.tokens.push_back("<unk>");
      out.types.push_back(2);
    } else if (id == v.bos || id == v.eos) {
      // llama2.c spells them "\n<s>\n" / "\n</s>\n"; GGUF's control names.
      out.tokens.push_back(id == v.bos ? "<s>" : "</s>");
      out.types.push_back(3);
    } else if (piece.size() == 6 && piece.starts_with("<0x") &&
               piece.ends_with(">")) {
      out.tokens.push_back(piece.str());
      out.types.push_back(6);
    } else {
      std::string text;
      for (char ch : piece)
        text += ch == ' ' ? std::string("\xE2\x96\x81") : std::string(1, ch);
      out.tokens.push_back(std::move(text));
      out.types.push_back(1);
    }
  }
  return out;
}

/// The key of the pair (`left`, `right`) in a merge table.
static uint64_t pairKey(int32_t left, int32_t right) {
  return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 |
         static_cast<uint32_t>(right);
}

ScoredBPETokenizer::ScoredBPETokenizer(ScoredVocabulary vocabulary)
    : v(std::move(vocabulary)) {
  canonical.resize(v.pieces.size());
  for (auto [i, piece] : llvm::enumerate(v.pieces))
    canonical[i] =
        ids.try_emplace(piece, static_cast<int32_t>(i)).first->second;
  // Two pieces merge when their concatenation is a piece: enumerate the
  // splits of every piece (its first token, which a lookup of the
  // concatenation finds), at most (length + 1) per piece.
  for (auto [i, piece] : llvm::enumerate(v.pieces)) {
    if (canonical[i] != static_cast<int32_t>(i) || !(v.scores[i] > -1e10f))
      continue;
    llvm::StringRef text = piece;
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      int32_t left = find(text.take_front(cut));
      int32_t right = left < 0 ? -1 : find(text.drop_front(cut));
      if (right < 0)
        continue;
      merges.try_emplace(
          pairKey(left, right),
          PairMerge{static_cast<int32_t>(i), scoreKey(v.scores[i])});
      addInnerBytes(inner, text);
    }
  }
}

std::vector<int32_t> ScoredBPETokenizer::encode(llvm::StringRef text,
                                                bool addBos,
                                                bool addEos) const {
  if (v.stopAtNul)
    text = text.take_until([](char c) { return c == '\0'; });
  std::vector<int32_t> tokens;
  tokens.reserve(text.size() + 3);
  if (addBos)
    tokens.push_back(v.bos);
  // SentencePiece's add_dummy_prefix: a leading space token.
  if (!text.empty()) {
    int32_t prefix = find(" ");
    if (prefix >= 0)
      tokens.push_back(prefix);
    else if (v.prefixByteFallback)
      tokens.push_back(byteToken(' '));
  }

  // UTF-8 code points (at most 4 bytes) looked up whole, else byte by byte.
  std::string codePoint;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = text[i];
    if ((c & 0xC0) != 0x80)
      codePoint.clear();
    codePoint.push_back(static_cast<char>(c));
    unsigned char next = i + 1 < text.size() ? text[i + 1] : 0;
    if ((next & 0xC0) == 0x80 && codePoint.size() < 4)
      continue;
    int32_t id = find(codePoint);
    if (id >= 0) {
      tokens.push_back(id);
    } else {
      for (char b : codePoint)
        tokens.push_back(byteToken(static_cast<uint8_t>(b)));
    }
    codePoint.clear();
  }

  // run.c merges over the whole sequence, BOS included.
  mergePairs(
      tokens,
      [&](int32_t left, int32_t right) -> std::optional<PairMerge> {
        auto it = merges.find(pairKey(canonical[left], canonical[right]));
        if (it == merges.end())
          return std::nullopt;
        return it->second;
      },
      inner, [&](int32_t token) -> llvm::StringRef { return v.pieces[token]; });
  if (addEos)
    tokens.push_back(v.eos);
  return tokens;
}

std::string ScoredBPETokenizer::decode(int32_t prev, int32_t token) const {
  if (token < 0 || static_cast<size_t>(token) >= v.pieces.size())
    return std::string();
  llvm::StringRef piece = v.pieces[token];
  if (prev == v.bos && piece.starts_with(" "))
    piece = piece.drop_front();
  // run.c: sscanf(piece, "<0x%02hhX>", &byte) — "<0x" and 1-2 hex digits.
  if (piece.starts_with("<0x")) {
    llvm::StringRef hex = piece.drop_front(3).take_while(llvm::isHexDigit);
    hex = hex.take_front(2);
    unsigned value;
    if (!hex.empty() && !hex.getAsInteger(16, value))
      return std::string(1, static_cast<char>(value));
  }
  return piece.str();
}

std::unique_ptr<Tokenizer>
qopt::model::detail::makeScoredBPETokenizer(ScoredVocabulary vocabulary) {
  return std::make_unique<ScoredBPETokenizer>(std::move(vocabulary));
}

llvm::Expected<std::unique_ptr<Tokenizer>>
qopt::model::loadLlama2cTokenizer(llvm::StringRef path, int64_t vocabSize) {
  if (vocabSize <= 0 || vocabSize > INT32_MAX)
    return makeError("llama2.c tokenizer '" + path + "': invalid vocab size " +
                     llvm::Twine(vocabSize));
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> bufOrErr =
      openRegularFile(path, "llama2.c tokenizer");
  if (!bufOrErr)
    return bufOrErr.takeError();
  llvm::StringRef data = (*bufOrErr)->getBuffer();
  const uint8_t *p = reinterpret_cast<const uint8_t *>(data.data());
  size_t size = data.size(), pos = 0;
  auto truncated = [&](int64_t i, const llvm::Twine &what) {
    return makeError(
        "llama2.c tokenizer '" + path + "' is truncated: " + llvm::Twine(size) +
        " bytes end inside " + what + " of token " + llvm::Twine(i) +
        " (expected " + llvm::Twine(vocabSize) + " tokens)");
  };
  if (size < 4)
    return makeError("llama2.c tokenizer '" + path +
                     "' is too small for its header (" + llvm::Twine(size) +
                     " bytes)");
  // The header's max_token_length is not needed. Each token takes at least
  // 8 bytes: reserve no more than the file can hold.
  pos = 4;
  ScoredVocabulary vocab;
  size_t capacity = std::min<uint64_t>(vocabSize, (size - pos) / 8);
  vocab.pieces.reserve(capacity);
  vocab.scores.reserve(capacity);
  for (int64_t i = 0; i < vocabSize; ++i) {
    if (size - pos < 8)
      return truncated(i, "the score/length");
    float score = loadF32(p + pos);
    int32_t len = loadI32(p + pos + 4);
    pos += 8;
    if (len < 0)
      return makeError("llama2.c tokenizer '" + path + "': token " +
                       llvm::Twine(i) + " has negative length " +
                       llvm::Twine(len));
    if (size - pos < static_cast<size_t>(len))
      return truncated(i, "the text");
    if (static_cast<size_t>(len) > kMaxPieceBytes)
      return makeError("llama2.c tokenizer '" + path + "': token " +
                       llvm::Twine(i) + " is " + llvm::Twine(len) +
                       " bytes long, more than the " +
                       llvm::Twine(kMaxPieceBytes) + " a piece may have");
    // run.c keeps pieces as C strings: a piece ends at its first NUL.
    llvm::StringRef piece(data.data() + pos, len);
    vocab.pieces.push_back(
        piece.take_until([](char c) { return c == '\0'; }).str());
    vocab.scores.push_back(score);
    pos += len;
  }
  if (vocabSize < 3)
    return makeError("llama2.c tokenizer '" + path + "' has " +
                     llvm::Twine(vocabSize) +
                     " tokens; it needs at least 3 (<unk>, BOS, EOS)");
  // BOS 1, EOS 2, <unk> 0 and byte b at b + 3 (run.c's fallback; a byte
  // whose token would be past the vocabulary becomes <unk>).
  vocab.bos = 1;
  vocab.eos = 2;
  for (int b = 0; b < 256; ++b)
    vocab.byteTokens[b] = b + 3 < vocabSize ? b + 3 : -1;
  vocab.unknown = 0;
  vocab.prefixByteFallback = true;
  vocab.stopAtNul = true;
  return makeScoredBPETokenizer(std::move(vocab));
}

//===----------------------------------------------------------------------===//
// Hugging Face tokenizer.json (SentencePiece-style BPE)
//===----------------------------------------------------------------------===//

namespace {
/// One normalizer step the Llama tokenizers use.
struct NormalizeStep {
  enum Kind { Prepend, Replace } kind;
  std::string a, b; ///< Prepend: a; Replace: a -> b
};

/// A BPE tokenizer.json as Llama/SentencePiece conversions write it.
class HFBPETokenizer : public Tokenizer {
public:
  std::vector<std::string> idToToken;
  llvm::StringMap<int32_t> tokenToId;
  /// (left id << 32 | right id) -> (rank, merged id).
  llvm::DenseMap<uint64_t, std::pair<int32_t, int32_t>> merges;
  /// The bytes of merge results past their first (see mergePairs).
  std::bitset<256> inner;
  std::vector<std::pair<std::string, int32_t>> addedTokens; ///< longest first
  /// Indices into addedTokens by first byte (longest first).
  std::array<std::vector<uint32_t>, 256> addedByFirstByte;
  /// The <0xXX> token of each byte (byte_fallback), or -1.
  std::array<int32_t, 256> byteTokens;
  std::vector<NormalizeStep> normalizer;
  bool metaspace = false;
  std::string metaspaceReplacement = "\xE2\x96\x81"; // ▁
  /// When Metaspace prepends its replacement to a segment.
  enum class Prepend { Always, First, Never };
  Prepend metaspacePrepend = Prepend::Always;
  bool metaspaceSplit = false;
  bool byteFallback = false;
  bool ignoreMerges = false;
  bool fuseUnk = false;
  int32_t unkId = -1, bos = -1, eos = -1;

  std::vector<int32_t> encode(llvm::StringRef text, bool addBos,
                              bool addEos) const override;
  std::string decode(int32_t prev, int32_t token) const override;
  int32_t bosId() const override { return bos; }
  int32_t eosId() const override { return eos; }
  int64_t vocabSize() const override { return idToToken.size(); }

  int32_t find(llvm::StringRef s) const {
    auto it = tokenToId.find(s);
    return it == tokenToId.end() ? -1 : it->second;
  }

private:
  void encodeSegment(llvm::StringRef text, bool first,
                     std::vector<int32_t> &out) const;
  void encodeWord(llvm::StringRef word, std::vector<int32_t> &out) const;
};
} // namespace

/// Replaces every occurrence of `from` in `s` by `to`.
static std::string replaceAll(llvm::StringRef s, llvm::StringRef from,
                              llvm::StringRef to) {
  if (from.empty())
    return s.str();
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t hit = s.find(from, pos);
    if (hit == llvm::StringRef::npos)
      break;
    out += s.slice(pos, hit);
    out += to;
    pos = hit + from.size();
  }
  out += s.substr(pos);
  return out;
}

/// Length of the UTF-8 sequence starting with `lead` (1 for invalid bytes).
static size_t utf8Length(unsigned char lead) {
  if (lead < 0x80)
    return 1;
  if ((lead & 0xE0) == 0xC0)
    return 2;
  if ((lead & 0xF0) == 0xE0)
    return 3;
  if ((lead & 0xF8) == 0xF0)
    return 4;
  return 1;
}

void HFBPETokenizer::encodeWord(llvm::StringRef word,
                                std::vector<int32_t> &out) const {
  if (word.empty())
    return;
  if (ignoreMerges) {
    int32_t id = find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  // Characters to ids: vocab, else <0xXX> bytes, else <unk>.
  std::vector<int32_t> syms;
  bool lastUnk = false;
  for (size_t i = 0; i < word.size();) {
    size_t len = std::min(utf8Length(word[i]), word.size() - i);
    llvm::StringRef ch = word.substr(i, len);
    i += len;
    int32_t id = find(ch);
    if (id >= 0) {
      syms.push_back(id);
      lastUnk = false;
      continue;
    }
    if (byteFallback && llvm::all_of(ch, [&](char b) {
          return byteTokens[static_cast<uint8_t>(b)] >= 0;
        })) {
      for (char b : ch)
        syms.push_back(byteTokens[static_cast<uint8_t>(b)]);
      lastUnk = false;
      continue;
    }
    if (unkId >= 0 && !(fuseUnk && lastUnk))
      syms.push_back(unkId);
    lastUnk = unkId >= 0;
  }
  // Merge the lowest-ranked adjacent pair (leftmost on ties) until none.
  mergePairs(
      syms,
      [&](int32_t left, int32_t right) -> std::optional<PairMerge> {
        auto it = merges.find(pairKey(left, right));
        if (it == merges.end())
          return std::nullopt;
        return PairMerge{it->second.second,
                         std::numeric_limits<uint32_t>::max() -
                             static_cast<uint32_t>(it->second.first)};
      },
      inner,
      [&](int32_t token) -> llvm::StringRef { return idToToken[token]; });
  out.insert(out.end(), syms.begin(), syms.end());
}

void HFBPETokenizer::encodeSegment(llvm::StringRef text, bool first,
                                   std::vector<int32_t> &out) const {
  std::string s = text.str();
  for (const NormalizeStep &step : normalizer) {
    if (step.kind == NormalizeStep::Prepend) {
      if (!s.empty())
        s = step.a + s;
    } else {
      s = replaceAll(s, step.a, step.b);
    }
  }
  if (!metaspace) {
    encodeWord(s, out);
    return;
  }
  s = replaceAll(s, " ", metaspaceReplacement);
  bool prepend = metaspacePrepend == Prepend::Always ||
                 (metaspacePrepend == Prepend::First && first);
  if (prepend && !s.empty() &&
      !llvm::StringRef(s).starts_with(metaspaceReplacement))
    s = metaspaceReplacement + s;
  if (!metaspaceSplit) {
    encodeWord(s, out);
    return;
  }
  // Split before each replacement character (it begins the next word).
  llvm::StringRef rest(s);
  while (!rest.empty()) {
    size_t next = rest.find(metaspaceReplacement, 1);
    encodeWord(rest.take_front(next), out);
    rest = next == llvm::StringRef::npos ? llvm::StringRef()
                                         : rest.drop_front(next);
  }
}

std::vector<int32_t> HFBPETokenizer::encode(llvm::StringRef text, bool addBos,
                                            bool addEos) const {
  std::vector<int32_t> out;
  if (addBos && bos >= 0)
    out.push_back(bos);
  // Added tokens are split out first; the rest is normalized piecewise.
  size_t segStart = 0;
  bool first = true;
  for (size_t i = 0; i < text.size();) {
    int32_t hitId = -1;
    size_t hitLen = 0;
    for (uint32_t index : addedByFirstByte[static_cast<uint8_t>(text[i])]) {
      const auto &[content, id] = addedTokens[index];
      if (text.substr(i).starts_with(content)) {
        hitId = id;
        hitLen = content.size();
        break;
      }
    }
    if (hitId < 0) {
      ++i;
      continue;
    }
    if (i > segStart) {
      encodeSegment(text.slice(segStart, i), first, out);
      first = false;
    }
    out.push_back(hitId);
    first = false;
    i += hitLen;
    segStart = i;
  }
  if (segStart < text.size())
    encodeSegment(text.substr(segStart), first, out);
  if (addEos && eos >= 0)
    out.push_back(eos);
  return out;
}

std::string HFBPETokenizer::decode(int32_t prev, int32_t token) const {
  if (token < 0 || static_cast<size_t>(token) >= idToToken.size())
    return std::string();
  llvm::StringRef piece = idToToken[token];
  int byte = byteFallback ? byteFallbackValue(piece) : -1;
  if (byte >= 0)
    return std::string(1, static_cast<char>(byte));
  std::string s = replaceAll(piece, metaspaceReplacement, " ");
  if (prev == bos && !s.empty() && s[0] == ' ')
    s.erase(0, 1);
  return s;
}

/// The string of a tokenizer_config.json special token: "x" or
/// {"content": "x", ...}.
static std::optional<std::string>
specialTokenString(const llvm::json::Value *v) {
  if (!v)
    return std::nullopt;
  if (std::optional<llvm::StringRef> s = v->getAsString())
    return s->str();
  if (const llvm::json::Object *o = v->getAsObject())
    if (std::optional<llvm::StringRef> s = o->getString("content"))
      return s->str();
  return std::nullopt;
}

/// Walks one pipeline step of a tokenizer.json section (`normalizer`,
/// `pre_tokenizer`, `decoder`): null is an empty step, `Sequence` recurses
/// into its `listKey` array, and every other step is passed to `step` with
/// its type. `what` names the section in the malformed-input error.
static llvm::Error walkTokenizerSteps(
    const llvm::json::Value *v, llvm::StringRef path, llvm::StringRef what,
    llvm::StringRef listKey,
    llvm::function_ref<llvm::Error(const llvm::json::Object &, llvm::StringRef)>
        step) {
  if (!v || v->kind() == llvm::json::Value::Null)
    return llvm::Error::success();
  const llvm::json::Object *o = v->getAsObject();
  std::optional<llvm::StringRef> t = o ? o->getString("type") : std::nullopt;
  if (!t)
    return makeError("tokenizer '" + path + "': malformed " + what);
  if (*t == "Sequence") {
    if (const llvm::json::Array *a = o->getArray(listKey))
      for (const llvm::json::Value &n : *a)
        if (llvm::Error e = walkTokenizerSteps(&n, path, what, listKey, step))
          return e;
    return llvm::Error::success();
  }
  return step(*o, *t);
}

llvm::Expected<std::unique_ptr<Tokenizer>>
qopt::model::loadHuggingFaceTokenizer(llvm::StringRef path) {
  llvm::Expected<llvm::json::Value> json = readJSONFile(path, "tokenizer");
  if (!json)
    return json.takeError();
  auto unsupported = [&](const llvm::Twine &what) {
    return makeError("tokenizer '" + path + "': " + what +
                     " is not supported (only SentencePiece-style BPE as "
                     "used by Llama: Metaspace/▁, byte_fallback)");
  };
  const llvm::json::Object *root = json->getAsObject();
  const llvm::json::Object *model = root ? root->getObject("model") : nullptr;
  if (!model)
    return makeError("tokenizer '" + path + "' has no \"model\" object");
  std::optional<llvm::StringRef> type = model->getString("type");
  if (type && *type != "BPE")
    return unsupported("model type '" + *type + "'");
  const llvm::json::Object *vocab = model->getObject("vocab");
  const llvm::json::Array *mergeList = model->getArray("merges");
  if (!vocab || !mergeList)
    return makeError("tokenizer '" + path +
                     "': BPE model needs \"vocab\" (object) and \"merges\"");
  for (llvm::StringRef key :
       {"continuing_subword_prefix", "end_of_word_suffix"})
    if (std::optional<llvm::StringRef> s = model->getString(key);
        s && !s->empty())
      return unsupported(("BPE option \"" + key + "\"").str());

  auto tok = std::make_unique<HFBPETokenizer>();
  tok->byteFallback = model->getBoolean("byte_fallback").value_or(false);
  tok->ignoreMerges = model->getBoolean("ignore_merges").value_or(false);
  tok->fuseUnk = model->getBoolean("fuse_unk").value_or(false);

  // Ids are dense: each is below the number of entries, which bounds the
  // id table by the file's size.
  const llvm::json::Array *added = root->getArray("added_tokens");
  int64_t numEntries = vocab->size() + (added ? added->size() : 0);
  auto addToken = [&](llvm::StringRef s, int64_t id) -> llvm::Error {
    if (id < 0 || id >= numEntries)
      return makeError("tokenizer '" + path + "': token '" + s + "' has id " +
                       llvm::Twine(id) + "; ids must be in [0, " +
                       llvm::Twine(numEntries) +
                       "), the number of vocab and added_tokens entries");
    if (static_cast<size_t>(id) >= tok->idToToken.size())
      tok->idToToken.resize(id + 1);
    tok->idToToken[id] = s.str();
    tok->tokenToId[s] = static_cast<int32_t>(id);
    return llvm::Error::success();
  };
  for (const auto &kv : *vocab) {
    std::optional<int64_t> id = kv.second.getAsInteger();
    if (!id)
      return makeError("tokenizer '" + path + "': vocab entry '" +
                       kv.first.str() + "' has no integer id");
    if (llvm::Error e = addToken(kv.first, *id))
      return std::move(e);
  }
  if (added) {
    for (const llvm::json::Value &v : *added) {
      const llvm::json::Object *o = v.getAsObject();
      std::optional<llvm::StringRef> content =
          o ? o->getString("content") : std::nullopt;
      std::optional<int64_t> id = o ? o->getInteger("id") : std::nullopt;
      if (!content || !id)
        return makeError("tokenizer '" + path +
                         "': added_tokens entries need \"id\" and \"content\"");
      if (llvm::Error e = addToken(*content, *id))
        return std::move(e);
      if (!content->empty())
        tok->addedTokens.push_back({content->str(), static_cast<int32_t>(*id)});
    }
  }
  std::stable_sort(tok->addedTokens.begin(), tok->addedTokens.end(),
                   [](const auto &a, const auto &b) {
                     return a.first.size() > b.first.size();
                   });
  for (auto [i, entry] : llvm::enumerate(tok->addedTokens))
    tok->addedByFirstByte[static_cast<uint8_t>(entry.first[0])].push_back(i);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    snprintf(name, sizeof(name), "<0x%02X>", b);
    tok->byteTokens[b] = tok->find(name);
  }

  int32_t rank = 0;
  for (const llvm::json::Value &m : *mergeList) {
    llvm::StringRef left, right;
    if (std::optional<llvm::StringRef> s = m.getAsString()) {
      // "a b": split at the first space (pieces use ▁, never ' ').
      size_t sp = s->find(' ');
      if (sp == llvm::StringRef::npos)
        return makeError("tokenizer '" + path + "': merge " +
                         llvm::Twine(rank) + " ('" + *s +
                         "') is not \"left right\"");
      left = s->take_front(sp);
      right = s->drop_front(sp + 1);
    } else if (const llvm::json::Array *a = m.getAsArray();
               a && a->size() == 2 && (*a)[0].getAsString() &&
               (*a)[1].getAsString()) {
      left = *(*a)[0].getAsString();
      right = *(*a)[1].getAsString();
    } else {
      return makeError("tokenizer '" + path + "': merge " + llvm::Twine(rank) +
                       " is neither \"a b\" nor [a, b]");
    }
    int32_t l = tok->find(left), r = tok->find(right);
    int32_t merged = tok->find((left + right).str());
    if (l < 0 || r < 0 || merged < 0)
      return makeError("tokenizer '" + path + "': merge " + llvm::Twine(rank) +
                       " ('" + left + "' + '" + right +
                       "') uses a piece missing from the vocab");
    tok->merges.try_emplace(pairKey(l, r), rank, merged);
    addInnerBytes(tok->inner, tok->idToToken[merged]);
    ++rank;
  }
  if (std::optional<llvm::StringRef> unk = model->getString("unk_token"))
    tok->unkId = tok->find(*unk);

  // Normalizer: null, Prepend, Replace (string pattern), or a Sequence.
  auto addNormalizer = [&](const llvm::json::Object &o,
                           llvm::StringRef type) -> llvm::Error {
    if (type == "Prepend") {
      std::optional<llvm::StringRef> p = o.getString("prepend");
      if (!p)
        return makeError("tokenizer '" + path + "': Prepend needs \"prepend\"");
      tok->normalizer.push_back({NormalizeStep::Prepend, p->str(), ""});
      return llvm::Error::success();
    }
    if (type == "Replace") {
      const llvm::json::Object *pat = o.getObject("pattern");
      std::optional<llvm::StringRef> from =
          pat ? pat->getString("String") : std::nullopt;
      std::optional<llvm::StringRef> to = o.getString("content");
      if (!from || !to)
        return unsupported("a Replace normalizer without a String pattern");
      tok->normalizer.push_back(
          {NormalizeStep::Replace, from->str(), to->str()});
      return llvm::Error::success();
    }
    return unsupported("normalizer '" + type + "'");
  };
  if (llvm::Error e =
          walkTokenizerSteps(root->get("normalizer"), path, "normalizer",
                             "normalizers", addNormalizer))
    return std::move(e);

  // Pre-tokenizer: null, Metaspace, or a Sequence holding one Metaspace.
  auto addPreTokenizer = [&](const llvm::json::Object &o,
                             llvm::StringRef type) -> llvm::Error {
    if (type == "Metaspace") {
      if (tok->metaspace)
        return unsupported("more than one Metaspace pre-tokenizer");
      tok->metaspace = true;
      if (std::optional<llvm::StringRef> r = o.getString("replacement"))
        tok->metaspaceReplacement = r->str();
      if (std::optional<llvm::StringRef> s = o.getString("prepend_scheme")) {
        if (*s == "always")
          tok->metaspacePrepend = HFBPETokenizer::Prepend::Always;
        else if (*s == "first")
          tok->metaspacePrepend = HFBPETokenizer::Prepend::First;
        else if (*s == "never")
          tok->metaspacePrepend = HFBPETokenizer::Prepend::Never;
        else
          return unsupported("Metaspace prepend_scheme '" + *s + "'");
      } else if (std::optional<bool> b = o.getBoolean("add_prefix_space")) {
        tok->metaspacePrepend = *b ? HFBPETokenizer::Prepend::Always
                                   : HFBPETokenizer::Prepend::Never;
      }
      tok->metaspaceSplit = o.getBoolean("split").value_or(true);
      return llvm::Error::success();
    }
    if (type == "ByteLevel")
      return unsupported("ByteLevel (GPT-2 style byte-level BPE)");
    return unsupported("pre_tokenizer '" + type + "'");
  };
  if (llvm::Error e =
          walkTokenizerSteps(root->get("pre_tokenizer"), path, "pre_tokenizer",
                             "pretokenizers", addPreTokenizer))
    return std::move(e);

  // Decoder: only the steps that Llama's decoding consists of.
  auto checkDecoder = [&](const llvm::json::Object &o,
                          llvm::StringRef type) -> llvm::Error {
    if (type == "Replace" || type == "ByteFallback" || type == "Fuse" ||
        type == "Strip" || type == "Metaspace")
      return llvm::Error::success();
    return unsupported("decoder '" + type + "'");
  };
  if (llvm::Error e = walkTokenizerSteps(root->get("decoder"), path, "decoder",
                                         "decoders", checkDecoder))
    return std::move(e);

  // BOS/EOS: tokenizer_config.json beside the file, else the
  // post-processor's leading special token, else "<s>" / "</s>".
  llvm::SmallString<256> cfgPath(llvm::sys::path::parent_path(path));
  llvm::sys::path::append(cfgPath, "tokenizer_config.json");
  if (llvm::sys::fs::exists(cfgPath)) {
    llvm::Expected<llvm::json::Value> cfg = readJSONFile(cfgPath);
    if (!cfg)
      return cfg.takeError();
    if (const llvm::json::Object *o = cfg->getAsObject()) {
      if (std::optional<std::string> s =
              specialTokenString(o->get("bos_token")))
        tok->bos = tok->find(*s);
      if (std::optional<std::string> s =
              specialTokenString(o->get("eos_token")))
        tok->eos = tok->find(*s);
    }
  }
  if (tok->bos < 0)
    if (const llvm::json::Object *pp = root->getObject("post_processor"))
      if (pp->getString("type") ==
          std::optional<llvm::StringRef>("TemplateProcessing"))
        if (const llvm::json::Array *single = pp->getArray("single"))
          if (!single->empty())
            if (const llvm::json::Object *first = (*single)[0].getAsObject())
              if (const llvm::json::Object *st =
                      first->getObject("SpecialToken"))
                if (std::optional<llvm::StringRef> name = st->getString("id")) {
                  tok->bos = tok->find(*name);
                  if (const llvm::json::Object *map =
                          pp->getObject("special_tokens"))
                    if (const llvm::json::Object *e = map->getObject(*name))
                      if (const llvm::json::Array *ids = e->getArray("ids"))
                        if (!ids->empty() && (*ids)[0].getAsInteger())
                          tok->bos =
                              static_cast<int32_t>(*(*ids)[0].getAsInteger());
                }
  if (tok->bos < 0)
    tok->bos = tok->find("<s>");
  if (tok->eos < 0)
    tok->eos = tok->find("</s>");
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

//===----------------------------------------------------------------------===//
// loadTokenizerFor
//===----------------------------------------------------------------------===//

/// True if `path` is a regular file that starts with the GGUF magic (never
/// opens anything else: a FIFO would block).
static bool isGGUF(llvm::StringRef path) {
  if (!llvm::sys::fs::is_regular_file(path))
    return false;
  auto buf = llvm::MemoryBuffer::getFileSlice(path, 4, 0, /*IsVolatile=*/false);
  return buf && (*buf)->getBuffer() == "GGUF";
}

/// Loads the tokenizer at `path`, choosing the reader by its form.
static llvm::Expected<std::unique_ptr<Tokenizer>>
loadTokenizerAt(llvm::StringRef path, int64_t vocabSize) {
  if (!llvm::sys::fs::exists(path))
    return makeError("tokenizer '" + path + "' does not exist");
  if (llvm::sys::fs::is_directory(path)) {
    llvm::SmallString<256> json(path);
    llvm::sys::path::append(json, "tokenizer.json");
    if (!llvm::sys::fs::exists(json))
      return makeError("directory '" + path + "' has no tokenizer.json");
    return loadHuggingFaceTokenizer(json);
  }
  if (path.ends_with(".json"))
    return loadHuggingFaceTokenizer(path);
  if (isGGUF(path))
    return loadGGUFTokenizer(path);
  return loadLlama2cTokenizer(path, vocabSize);
}

/// Finds the tokenizer that belongs to the checkpoint at `checkpointPath`.
static llvm::Expected<std::unique_ptr<Tokenizer>>
findTokenizer(llvm::StringRef checkpointPath, int64_t vocabSize) {
  if (llvm::sys::fs::is_directory(checkpointPath)) {
    llvm::SmallString<256> json(checkpointPath);
    llvm::sys::path::append(json, "tokenizer.json");
    if (!llvm::sys::fs::exists(json))
      return makeError("Hugging Face checkpoint '" + checkpointPath +
                       "' has no tokenizer.json; pass a tokenizer explicitly");
    return loadHuggingFaceTokenizer(json);
  }
  if (isGGUF(checkpointPath))
    return loadGGUFTokenizer(checkpointPath);
  llvm::StringRef dir = llvm::sys::path::parent_path(checkpointPath);
  std::vector<std::string> tried;
  for (const std::string &name : {std::string("tokenizer.bin"),
                                  "tok" + std::to_string(vocabSize) + ".bin"}) {
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, name);
    tried.push_back(std::string(p));
    if (llvm::sys::fs::exists(p))
      return loadLlama2cTokenizer(p, vocabSize);
  }
  return makeError("no tokenizer beside '" + checkpointPath + "' (tried " +
                   llvm::join(tried, ", ") + "); pass a tokenizer explicitly");
}

llvm::Expected<std::unique_ptr<Tokenizer>>
qopt::model::loadTokenizerFor(llvm::StringRef checkpointPath,
                              llvm::StringRef tokenizerPath,
                              int64_t vocabSize) {
  llvm::Expected<std::unique_ptr<Tokenizer>> tok =
      tokenizerPath.empty() ? findTokenizer(checkpointPath, vocabSize)
                            : loadTokenizerAt(tokenizerPath, vocabSize);
  if (!tok)
    return tok.takeError();
  if (vocabSize > 0 && (*tok)->vocabSize() > vocabSize)
    return makeError("tokenizer for '" + checkpointPath + "' has " +
                     llvm::Twine((*tok)->vocabSize()) +
                     " tokens, more than the model's vocabulary of " +
                     llvm::Twine(vocabSize));
  return tok;
}
