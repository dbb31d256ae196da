//===- Tokenizer.cpp - llama2.c tokenizers and the tokenizer lookup -------===//
//
// The encoder of vocabularies of pieces with scores (llama2.c's
// tokenizer.bin here, the GGUF "llama" vocabulary in GGUF.cpp), with
// encode()/decode() replicating llama2.c's run.c exactly (dummy prefix,
// UTF-8 code points with byte fallback, greedy merging of the best-scoring
// adjacent pair through mergePairs), plus the lookup that picks a tokenizer
// for a checkpoint. Hugging Face tokenizer.json is in HFTokenizer*.cpp.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Tokenizer.h"
#include "qopt/Model/Input.h"

#include "ModelUtils.h"
#include "PairMerge.h"
#include "ScoredBPE.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <cstring>
#include <optional>

using namespace qopt::model;
using namespace qopt::model::detail;

Tokenizer::~Tokenizer() = default;

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

/// The tokenizer file of a Hugging Face directory: tokenizer.json, else
/// SentencePiece's tokenizer.model; `missing` is the error without either.
static llvm::Expected<std::string> tokenizerFileIn(llvm::StringRef dir,
                                                   const std::string &missing) {
  for (const char *name : {"tokenizer.json", "tokenizer.model"}) {
    llvm::SmallString<256> file(dir);
    llvm::sys::path::append(file, name);
    if (llvm::sys::fs::exists(file))
      return std::string(file);
  }
  return makeError(missing);
}

/// The tokenizer file at `path`: the file itself, or the tokenizer of a
/// directory.
static llvm::Expected<std::string> tokenizerFileAt(llvm::StringRef path) {
  if (!llvm::sys::fs::exists(path))
    return makeError("tokenizer '" + path + "' does not exist");
  if (!llvm::sys::fs::is_directory(path))
    return path.str();
  return tokenizerFileIn(path, "directory '" + path.str() +
                                   "' has no tokenizer.json or "
                                   "tokenizer.model");
}

/// Finds the tokenizer file that belongs to the checkpoint at
/// `checkpointPath`.
static llvm::Expected<std::string>
findTokenizerFile(llvm::StringRef checkpointPath, int64_t vocabSize) {
  if (llvm::sys::fs::is_directory(checkpointPath))
    return tokenizerFileIn(checkpointPath,
                           "Hugging Face checkpoint '" + checkpointPath.str() +
                               "' has no tokenizer.json or tokenizer.model; "
                               "pass a tokenizer explicitly");
  if (isGGUF(checkpointPath))
    return checkpointPath.str();
  llvm::StringRef dir = llvm::sys::path::parent_path(checkpointPath);
  std::vector<std::string> tried;
  for (const std::string &name : {std::string("tokenizer.bin"),
                                  "tok" + std::to_string(vocabSize) + ".bin"}) {
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, name);
    tried.push_back(std::string(p));
    if (llvm::sys::fs::exists(p))
      return std::string(p);
  }
  return makeError("no tokenizer beside '" + checkpointPath + "' (tried " +
                   llvm::join(tried, ", ") + "); pass a tokenizer explicitly");
}

llvm::Expected<std::string>
qopt::model::findTokenizerFor(llvm::StringRef checkpointPath,
                              llvm::StringRef tokenizerPath,
                              int64_t vocabSize) {
  return tokenizerPath.empty() ? findTokenizerFile(checkpointPath, vocabSize)
                               : tokenizerFileAt(tokenizerPath);
}

llvm::Expected<std::unique_ptr<Tokenizer>>
qopt::model::loadTokenizerFile(llvm::StringRef path, int64_t vocabSize) {
  if (path.ends_with(".json"))
    return loadHuggingFaceTokenizer(path);
  if (path.ends_with(".model"))
    return loadSentencePieceTokenizer(path);
  if (isGGUF(path))
    return loadGGUFTokenizer(path);
  return loadLlama2cTokenizer(path, vocabSize);
}

llvm::Expected<std::unique_ptr<Tokenizer>>
qopt::model::loadTokenizerFor(llvm::StringRef checkpointPath,
                              llvm::StringRef tokenizerPath,
                              int64_t vocabSize) {
  llvm::Expected<std::string> file =
      findTokenizerFor(checkpointPath, tokenizerPath, vocabSize);
  if (!file)
    return file.takeError();
  llvm::Expected<std::unique_ptr<Tokenizer>> tok =
      loadTokenizerFile(*file, vocabSize);
  if (!tok)
    return tok.takeError();
  if (vocabSize > 0 && (*tok)->vocabSize() > vocabSize)
    return makeError("tokenizer for '" + checkpointPath + "' has " +
                     llvm::Twine((*tok)->vocabSize()) +
                     " tokens, more than the model's vocabulary of " +
                     llvm::Twine(vocabSize));
  return tok;
}
