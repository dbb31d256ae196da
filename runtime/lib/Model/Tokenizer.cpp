//===- Tokenizer.cpp - llama2.c and Hugging Face tokenizers -----*- C++ -*-===//
//
// Two tokenizers plus the lookup that picks one for a checkpoint:
//  - llama2.c's tokenizer.bin, with encode()/decode() replicating run.c
//    exactly (dummy prefix, UTF-8 codepoints with byte fallback, greedy
//    merging of the best-scoring adjacent pair);
//  - Hugging Face tokenizer.json with a SentencePiece-style BPE model (Llama:
//    "▁" space marker, byte_fallback <0xXX> tokens, merges by rank).
// Forms that would tokenize differently (ByteLevel, WordPiece, Unigram,
// unknown normalizers) are rejected with an error instead of guessed at.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Tokenizer.h"

#include "ModelUtils.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <functional>

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
// llama2.c tokenizer.bin
//===----------------------------------------------------------------------===//

namespace {
/// llama2.c's tokenizer: pieces with scores, BOS 1, EOS 2, bytes at 3..258.
class Llama2cTokenizer : public Tokenizer {
public:
  std::vector<std::string> vocab;
  std::vector<float> scores;
  llvm::StringMap<int32_t> lookup;
  int32_t maxTokenLength = 0;

  std::vector<int32_t> encode(llvm::StringRef text, bool bos,
                              bool eos) const override;
  std::string decode(int32_t prev, int32_t token) const override;
  int32_t bosId() const override { return 1; }
  int32_t eosId() const override { return 2; }
  int64_t vocabSize() const override { return vocab.size(); }

private:
  int32_t find(llvm::StringRef s) const {
    auto it = lookup.find(s);
    return it == lookup.end() ? -1 : it->second;
  }
};
} // namespace

std::vector<int32_t> Llama2cTokenizer::encode(llvm::StringRef text, bool bos,
                                              bool eos) const {
  // run.c stops at the first NUL.
  text = text.take_until([](char c) { return c == '\0'; });
  std::vector<int32_t> tokens;
  if (bos)
    tokens.push_back(1);
  if (!text.empty()) {
    int32_t dummyPrefix = find(" ");
    // run.c would push -1 here; fall back to the byte token instead.
    tokens.push_back(dummyPrefix >= 0 ? dummyPrefix : ' ' + 3);
  }

  // UTF-8 codepoints (at most 4 bytes) looked up whole, else byte fallback.
  std::string buf;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = text[i];
    if ((c & 0xC0) != 0x80)
      buf.clear();
    buf.push_back(static_cast<char>(c));
    unsigned char next = i + 1 < text.size() ? text[i + 1] : 0;
    if ((next & 0xC0) == 0x80 && buf.size() < 4)
      continue;
    int32_t id = find(buf);
    if (id != -1) {
      tokens.push_back(id);
    } else {
      for (char b : buf)
        tokens.push_back(static_cast<unsigned char>(b) + 3);
    }
    buf.clear();
  }

  // Greedily merge the best-scoring adjacent pair until none merges.
  // run.c merges over the whole sequence, BOS included.
  std::string pair;
  while (true) {
    float bestScore = -1e10f;
    int32_t bestId = -1;
    size_t bestIdx = 0;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
      const std::string &a = vocab[tokens[i]], &b = vocab[tokens[i + 1]];
      // run.c concatenates C strings: a piece ends at its first NUL.
      pair.assign(a.c_str());
      pair.append(b.c_str());
      int32_t id = find(pair);
      if (id != -1 && scores[id] > bestScore) {
        bestScore = scores[id];
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestId == -1)
      break;
    tokens[bestIdx] = bestId;
    tokens.erase(tokens.begin() + bestIdx + 1);
  }
  if (eos)
    tokens.push_back(2);
  return tokens;
}

std::string Llama2cTokenizer::decode(int32_t prev, int32_t token) const {
  if (token < 0 || static_cast<size_t>(token) >= vocab.size())
    return std::string();
  llvm::StringRef piece(vocab[token].c_str());
  if (prev == 1 && piece.starts_with(" "))
    piece = piece.drop_front();
  // run.c: sscanf(piece, "<0x%02hhX>", &byte) — "<0x" and 1-2 hex digits.
  if (piece.starts_with("<0x")) {
    llvm::StringRef hex = piece.drop_front(3).take_while(llvm::isHexDigit);
    hex = hex.take_front(2);
    unsigned v;
    if (!hex.empty() && !hex.getAsInteger(16, v))
      return std::string(1, static_cast<char>(v));
  }
  return piece.str();
}

llvm::Expected<std::unique_ptr<Tokenizer>>
qopt::model::loadLlama2cTokenizer(llvm::StringRef path, int64_t vocabSize) {
  if (vocabSize <= 0 || vocabSize > INT32_MAX)
    return makeError("llama2.c tokenizer '" + path + "': invalid vocab size " +
                     llvm::Twine(vocabSize));
  auto bufOrErr = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                              /*RequiresNullTerminator=*/false);
  if (!bufOrErr)
    return makeError("cannot open llama2.c tokenizer '" + path +
                     "': " + bufOrErr.getError().message());
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
  auto tok = std::make_unique<Llama2cTokenizer>();
  tok->maxTokenLength = loadI32(p);
  pos = 4;
  tok->vocab.reserve(vocabSize);
  tok->scores.reserve(vocabSize);
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
    tok->vocab.emplace_back(data.data() + pos, len);
    tok->scores.push_back(score);
    pos += len;
  }
  // bsearch over duplicate pieces is unspecified in run.c; keep the first.
  for (int64_t i = 0; i < vocabSize; ++i)
    tok->lookup.try_emplace(tok->vocab[i], static_cast<int32_t>(i));
  return std::unique_ptr<Tokenizer>(std::move(tok));
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
  std::vector<std::pair<std::string, int32_t>> addedTokens; ///< longest first
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
    if (byteFallback) {
      std::vector<int32_t> bytes;
      for (unsigned char b : ch) {
        char name[8];
        snprintf(name, sizeof(name), "<0x%02X>", b);
        int32_t bid = find(name);
        if (bid < 0)
          break;
        bytes.push_back(bid);
      }
      if (bytes.size() == ch.size()) {
        syms.insert(syms.end(), bytes.begin(), bytes.end());
        lastUnk = false;
        continue;
      }
    }
    if (unkId >= 0 && !(fuseUnk && lastUnk))
      syms.push_back(unkId);
    lastUnk = unkId >= 0;
  }
  // Merge the lowest-ranked adjacent pair (leftmost on ties) until none.
  while (syms.size() > 1) {
    int32_t bestRank = INT32_MAX, bestId = -1;
    size_t bestIdx = 0;
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      uint64_t key = static_cast<uint64_t>(static_cast<uint32_t>(syms[i]))
                         << 32 |
                     static_cast<uint32_t>(syms[i + 1]);
      auto it = merges.find(key);
      if (it != merges.end() && it->second.first < bestRank) {
        bestRank = it->second.first;
        bestId = it->second.second;
        bestIdx = i;
      }
    }
    if (bestId < 0)
      break;
    syms[bestIdx] = bestId;
    syms.erase(syms.begin() + bestIdx + 1);
  }
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
    for (const auto &at : addedTokens)
      if (text.substr(i).starts_with(at.first)) {
        hitId = at.second;
        hitLen = at.first.size();
        break;
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
  auto bufOrErr = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!bufOrErr)
    return makeError("cannot open tokenizer '" + path +
                     "': " + bufOrErr.getError().message());
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*bufOrErr)->getBuffer());
  if (!json)
    return makeError("tokenizer '" + path + "' is not valid JSON: " +
                     llvm::toString(json.takeError()));
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

  auto addToken = [&](llvm::StringRef s, int64_t id) -> llvm::Error {
    if (id < 0 || id >= (int64_t(1) << 24))
      return makeError("tokenizer '" + path + "': token '" + s +
                       "' has invalid id " + llvm::Twine(id));
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
  if (const llvm::json::Array *added = root->getArray("added_tokens")) {
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
    uint64_t key = static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32 |
                   static_cast<uint32_t>(r);
    tok->merges.try_emplace(key, rank, merged);
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
    if (auto cfgBuf = llvm::MemoryBuffer::getFile(cfgPath, /*IsText=*/true)) {
      llvm::Expected<llvm::json::Value> cfg =
          llvm::json::parse((*cfgBuf)->getBuffer());
      if (!cfg)
        return makeError("'" + cfgPath + "' is not valid JSON: " +
                         llvm::toString(cfg.takeError()));
      if (const llvm::json::Object *o = cfg->getAsObject()) {
        if (std::optional<std::string> s =
                specialTokenString(o->get("bos_token")))
          tok->bos = tok->find(*s);
        if (std::optional<std::string> s =
                specialTokenString(o->get("eos_token")))
          tok->eos = tok->find(*s);
      }
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

/// True if the file at `path` starts with the GGUF magic.
static bool isGGUF(llvm::StringRef path) {
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
