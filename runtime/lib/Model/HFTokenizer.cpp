//===- HFTokenizer.cpp - Hugging Face tokenizer.json BPE ------------------===//
//
// Encoding follows tokenizers' pipeline: added tokens are split out of the
// text first; each stretch between them is normalized, pre-tokenized into
// pieces (Metaspace, or Split/Digits/ByteLevel steps) and each piece is
// tokenized by the BPE model (characters, else byte_fallback <0xXX>, else
// <unk>; then merges by rank through mergePairs).
//
//===----------------------------------------------------------------------===//

#include "HFTokenizer.h"
#include "PairMerge.h"
#include "Unicode.h"

#include "llvm/ADT/STLExtras.h"

#include <algorithm>
#include <limits>

using namespace qopt::model;
using namespace qopt::model::detail;

/// The byte of a byte-fallback piece "<0xXX>", or -1.
static int byteFallbackValue(llvm::StringRef piece) {
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece.back() != '>')
    return -1;
  unsigned v;
  if (piece.substr(3, 2).getAsInteger(16, v))
    return -1;
  return static_cast<int>(v);
}

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

void HFBPETokenizer::encodeMetaspace(std::string s, bool first,
                                     std::vector<int32_t> &out) const {
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

void HFBPETokenizer::encodeSegment(llvm::StringRef text, bool first,
                                   std::vector<int32_t> &out) const {
  std::string s = text.str();
  for (const NormalizeStep &step : normalizer) {
    if (step.kind == NormalizeStep::Prepend) {
      if (!s.empty())
        s = step.a + s;
    } else if (step.kind == NormalizeStep::Replace) {
      s = replaceAll(s, step.a, step.b);
    } else {
      s = normalizeNFC(s);
    }
  }
  if (metaspace)
    return encodeMetaspace(std::move(s), first, out);
  std::vector<std::string> pieces, next;
  if (!s.empty())
    pieces.push_back(std::move(s));
  for (const PreTokenizeStep &step : preTokenizer) {
    next.clear();
    for (std::string &piece : pieces) {
      switch (step.kind) {
      case PreTokenizeStep::Split:
        splitByPattern(step.pattern, piece, next);
        break;
      case PreTokenizeStep::Digits:
        splitDigits(piece, step.option, next);
        break;
      case PreTokenizeStep::ByteLevel:
        if (step.option && piece[0] != ' ')
          piece.insert(piece.begin(), ' ');
        if (step.useRegex)
          splitByPattern(SplitPattern::GPT2, piece, next);
        else
          next.push_back(std::move(piece));
        break;
      }
    }
    pieces.swap(next);
  }
  const std::array<std::string, 256> &alphabet = byteLevelAlphabet();
  std::string spelled;
  for (const std::string &piece : pieces) {
    if (!byteLevel) {
      encodeWord(piece, out);
      continue;
    }
    spelled.clear();
    for (char c : piece)
      spelled += alphabet[static_cast<uint8_t>(c)];
    encodeWord(spelled, out);
  }
}

/// Whether `cp` counts as part of a word next to a single_word added token.
static bool isWordChar(uint32_t cp) {
  CharClass c = charClass(cp);
  return cp == '_' || c == CharClass::Letter || c == CharClass::Number;
}

/// The code point of `text` that ends at `end` (> `lower`), and where it
/// starts (not before `lower`); a byte that ends no valid sequence stands
/// alone.
static uint32_t codePointBefore(llvm::StringRef text, size_t lower, size_t end,
                                size_t &start) {
  start = end - 1;
  while (start > lower && end - start < 4 &&
         (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80)
    --start;
  size_t n;
  uint32_t cp = decodeUTF8(text.slice(start, end), n);
  if (start + n == end)
    return cp;
  start = end - 1;
  return kInvalidByte + static_cast<uint8_t>(text[start]);
}

const AddedToken *HFBPETokenizer::matchAdded(llvm::StringRef text,
                                             size_t segStart, size_t pos,
                                             size_t &begin, size_t &end) const {
  for (uint32_t index : addedByFirstByte[static_cast<uint8_t>(text[pos])]) {
    const AddedToken &t = addedTokens[index];
    if (!text.substr(pos).starts_with(t.content))
      continue;
    begin = pos;
    end = pos + t.content.size();
    size_t n, start;
    if (t.singleWord &&
        ((begin > 0 && isWordChar(codePointBefore(text, 0, begin, start))) ||
         (end < text.size() && isWordChar(decodeUTF8(text.substr(end), n)))))
      continue;
    if (t.lstrip)
      while (begin > segStart &&
             charClass(codePointBefore(text, segStart, begin, start)) ==
                 CharClass::Space)
        begin = start;
    if (t.rstrip)
      while (end < text.size() &&
             charClass(decodeUTF8(text.substr(end), n)) == CharClass::Space)
        end += n;
    return &t;
  }
  return nullptr;
}

std::vector<int32_t> HFBPETokenizer::encode(llvm::StringRef text, bool addBos,
                                            bool addEos) const {
  std::vector<int32_t> out;
  if (addBos && bos >= 0)
    out.push_back(bos);
  // Added tokens are split out first (the longest at the leftmost place);
  // the rest is normalized piecewise.
  size_t segStart = 0;
  bool first = true;
  for (size_t i = 0; i < text.size();) {
    size_t begin, end;
    const AddedToken *hit = matchAdded(text, segStart, i, begin, end);
    if (!hit) {
      ++i;
      continue;
    }
    if (begin > segStart) {
      encodeSegment(text.slice(segStart, begin), first, out);
      first = false;
    }
    out.push_back(hit->id);
    first = false;
    i = segStart = end;
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
  if (!byteLevelText.empty())
    return byteLevelText[token];
  llvm::StringRef piece = idToToken[token];
  int byte = byteFallback ? byteFallbackValue(piece) : -1;
  if (byte >= 0)
    return std::string(1, static_cast<char>(byte));
  std::string s = replaceAll(piece, metaspaceReplacement, " ");
  if (prev == bos && !s.empty() && s[0] == ' ')
    s.erase(0, 1);
  return s;
}
