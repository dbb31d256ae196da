//===- Unicode.cpp - Character data for the tokenizers --------------------===//
//
// Lookups in the generated tables of UnicodeTables.inc (sorted ranges and
// mappings, searched by bisection) and NFC as UAX #15 specifies it, with the
// Hangul syllables handled arithmetically.
//
//===----------------------------------------------------------------------===//

#include "Unicode.h"

#include "llvm/ADT/STLExtras.h"

#include <algorithm>
#include <vector>

using namespace qopt::model::detail;

namespace {
struct ClassRange {
  uint32_t lo, hi;
  CharClass cls;
};
struct CombiningRange {
  uint32_t lo, hi;
  uint8_t ccc;
};
/// A canonical decomposition of `codePoint`: `first`, then `second` unless
/// it is 0 (a singleton).
struct Decomposition {
  uint32_t codePoint, first, second;
};
/// A primary composite: the pair (`first`, `second`) composes to it.
struct Composition {
  uint32_t first, second, composite;
};
} // namespace

#include "UnicodeTables.inc"

llvm::StringRef qopt::model::detail::unicodeVersion() {
  return kUnicodeVersion;
}

uint32_t qopt::model::detail::decodeUTF8(llvm::StringRef text, size_t &length) {
  auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  uint8_t lead = byte(0);
  length = 1;
  if (lead < 0x80)
    return lead;
  size_t n;
  uint32_t cp, min;
  if ((lead & 0xE0) == 0xC0) {
    n = 2, cp = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    n = 3, cp = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    n = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    return kInvalidByte + lead;
  }
  if (text.size() < n)
    return kInvalidByte + lead;
  for (size_t i = 1; i < n; ++i) {
    if ((byte(i) & 0xC0) != 0x80)
      return kInvalidByte + lead;
    cp = cp << 6 | (byte(i) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return kInvalidByte + lead;
  length = n;
  return cp;
}

void qopt::model::detail::appendUTF8(std::string &out, uint32_t cp) {
  if (cp >= kInvalidByte) {
    out.push_back(static_cast<char>(cp - kInvalidByte));
  } else if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | cp >> 6));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | cp >> 12));
    out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | cp >> 18));
    out.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

/// The range of `table` (sorted, disjoint) that holds `cp`, or null.
template <typename Range, size_t N>
static const Range *findRange(const Range (&table)[N], uint32_t cp) {
  const Range *it = std::upper_bound(
      table, table + N, cp,
      [](uint32_t value, const Range &r) { return value < r.lo; });
  if (it == table)
    return nullptr;
  --it;
  return cp <= it->hi ? it : nullptr;
}

CharClass qopt::model::detail::charClass(uint32_t cp) {
  if (cp < 0x80) {
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D))
      return CharClass::Space;
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
      return CharClass::Letter;
    if (cp >= '0' && cp <= '9')
      return CharClass::Number;
    return CharClass::Other;
  }
  const ClassRange *r = findRange(kCharClasses, cp);
  return r ? r->cls : CharClass::Other;
}

uint8_t qopt::model::detail::combiningClass(uint32_t cp) {
  if (cp < 0x300)
    return 0;
  const CombiningRange *r = findRange(kCombiningClasses, cp);
  return r ? r->ccc : 0;
}

//===----------------------------------------------------------------------===//
// NFC
//===----------------------------------------------------------------------===//

// Hangul syllables (Unicode chapter 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161,
                   kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28,
                   kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

/// Appends the full canonical decomposition of `cp` to `out`.
static void decompose(uint32_t cp, std::vector<uint32_t> &out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + s % kNCount / kTCount);
    if (s % kTCount)
      out.push_back(kTBase + s % kTCount);
    return;
  }
  const Decomposition *end = std::end(kDecompositions);
  const Decomposition *it =
      std::lower_bound(std::begin(kDecompositions), end, cp,
                       [](const Decomposition &d, uint32_t value) {
                         return d.codePoint < value;
                       });
  if (it == end || it->codePoint != cp) {
    out.push_back(cp);
    return;
  }
  decompose(it->first, out);
  if (it->second)
    decompose(it->second, out);
}

/// The primary composite of (`first`, `second`), or 0.
static uint32_t compose(uint32_t first, uint32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase &&
      second < kVBase + kVCount)
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  if (first >= kSBase && first < kSBase + kSCount &&
      (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount)
    return first + (second - kTBase);
  const Composition *end = std::end(kCompositions);
  const Composition *it = std::lower_bound(
      std::begin(kCompositions), end, std::make_pair(first, second),
      [](const Composition &c, std::pair<uint32_t, uint32_t> key) {
        return std::make_pair(c.first, c.second) < key;
      });
  if (it == end || it->first != first || it->second != second)
    return 0;
  return it->composite;
}

std::string qopt::model::detail::normalizeNFC(llvm::StringRef text) {
  // Below U+0300 (lead bytes below 0xCC) every code point is its own NFC.
  if (llvm::all_of(text, [](char c) { return static_cast<uint8_t>(c) < 0xCC; }))
    return text.str();
  std::vector<uint32_t> cps;
  cps.reserve(text.size());
  for (size_t i = 0, n; i < text.size(); i += n)
    decompose(decodeUTF8(text.substr(i), n), cps);
  // Canonical ordering: each run of non-starters, stably by class.
  for (size_t i = 0; i < cps.size();) {
    if (combiningClass(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && combiningClass(cps[j]) != 0)
      ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j,
                     [](uint32_t a, uint32_t b) {
                       return combiningClass(a) < combiningClass(b);
                     });
    i = j;
  }
  // Canonical composition: a character joins the last starter unless a
  // character between them has a class of 0 or at least its own.
  std::vector<uint32_t> out;
  out.reserve(cps.size());
  size_t starter = SIZE_MAX;
  uint8_t lastClass = 0;
  for (uint32_t cp : cps) {
    uint8_t cls = combiningClass(cp);
    if (starter != SIZE_MAX) {
      bool adjacent = starter + 1 == out.size();
      if (adjacent || (lastClass != 0 && lastClass < cls)) {
        if (uint32_t c = compose(out[starter], cp)) {
          out[starter] = c;
          continue;
        }
      }
    }
    if (cls == 0)
      starter = out.size();
    lastClass = cls;
    out.push_back(cp);
  }
  std::string result;
  result.reserve(text.size());
  for (uint32_t cp : out)
    appendUTF8(result, cp);
  return result;
}
