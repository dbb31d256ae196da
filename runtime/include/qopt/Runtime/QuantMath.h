//===- QuantMath.h - Reference quantization arithmetic ----------*- C++ -*-===//
//
// The quantization contract of qopt (see docs/quantization.md), as small
// header-only functions. This is the single source of truth for the numbers:
// the runtime's reference kernels, the dialect's folders and every test
// oracle call these, so a folded constant and a kernel agree bit for bit.
//
// Nothing here depends on MLIR or LLVM.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_RUNTIME_QUANTMATH_H
#define QOPT_RUNTIME_QUANTMATH_H

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace qopt {
namespace runtime {

/// Zero-point scheme of a quantized tensor.
enum class Scheme : uint8_t {
  /// z = 2^(c-1), fixed; scale = absmax / (2^(c-1) - 1).
  Symmetric = 0,
  /// z per group, min-max range that always contains 0.
  Asymmetric = 1,
};

/// Smallest and largest supported code widths.
inline constexpr unsigned kMinBits = 1;
inline constexpr unsigned kMaxBits = 8;

/// True if `bits` is a valid code width (1..8).
inline constexpr bool isValidBits(unsigned bits) {
  return bits >= kMinBits && bits <= kMaxBits;
}

/// Largest code of a `bits`-wide unsigned code: 2^bits - 1.
inline constexpr uint32_t maxCode(unsigned bits) { return (1u << bits) - 1u; }

/// The fixed zero point of the symmetric scheme at parent width `bits`.
inline constexpr uint32_t symmetricZero(unsigned bits) {
  return 1u << (bits - 1);
}

/// Matryoshka slice of code `q` (a `c`-bit code) to `r` bits, r in 1..c:
///   S(q, r) = clamp(round(q / 2^(c-r)), 0, 2^r - 1)
/// with round half-up on the integer (add bit c-r-1, then shift). Returns the
/// r-bit code; its value in parent units is `sliceCode(...) << (c - r)`.
/// Only the top r+1 bits of `q` are read.
inline constexpr uint32_t sliceCode(uint32_t q, unsigned c, unsigned r) {
  if (r >= c)
    return q;
  uint32_t top = q >> (c - r - 1); // r+1 bits: the slice plus the round bit.
  uint32_t rounded = (top + 1u) >> 1;
  return rounded > maxCode(r) ? maxCode(r) : rounded;
}

/// The value of the r-bit slice of `q` expressed in units of the c-bit parent
/// code, i.e. the integer the parent's scale and zero point apply to.
inline constexpr uint32_t sliceValue(uint32_t q, unsigned c, unsigned r) {
  return sliceCode(q, c, r) << (c - r);
}

/// Scale and zero point of one quantization group.
struct GroupParams {
  float scale;
  float zero;
};

/// Round to nearest, ties to even (the behaviour of torch.round and of
/// nearbyint in the default floating-point environment).
inline float roundHalfEven(float x) {
  float r = std::round(x); // ties away from zero
  if (std::fabs(x - std::trunc(x)) == 0.5f)
    r = 2.0f * std::round(x * 0.5f);
  return r;
}

/// Round-to-nearest min-max parameters of one group of `n` values read at
/// `x[i * stride]`, for a `bits`-wide code. NaNs are ignored; a group whose
/// range is empty (all zero) gets scale 1 so that every code is exact.
///  - asymmetric: lo = min(0, min x), hi = max(0, max x),
///                scale = (hi - lo) / (2^c - 1), zero = clamp(round(-lo/scale))
///  - symmetric:  scale = absmax / (2^(c-1) - 1), zero = 2^(c-1); needs c >= 2.
inline GroupParams computeGroupParams(const float *x, size_t n, size_t stride,
                                      unsigned bits, Scheme scheme) {
  float lo = 0.0f, hi = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    float v = x[i * stride];
    if (std::isnan(v))
      continue;
    if (v < lo)
      lo = v;
    if (v > hi)
      hi = v;
  }
  GroupParams p;
  if (scheme == Scheme::Symmetric) {
    float absmax = std::fmax(-lo, hi);
    float levels = static_cast<float>(symmetricZero(bits) - 1u);
    p.zero = static_cast<float>(symmetricZero(bits));
    p.scale = (absmax > 0.0f && levels > 0.0f) ? absmax / levels : 1.0f;
    if (!std::isfinite(p.scale) || p.scale == 0.0f)
      p.scale = 1.0f;
    return p;
  }
  float range = hi - lo;
  p.scale = range > 0.0f ? range / static_cast<float>(maxCode(bits)) : 1.0f;
  if (!std::isfinite(p.scale) || p.scale == 0.0f)
    p.scale = 1.0f;
  float z = roundHalfEven(-lo / p.scale);
  if (!(z > 0.0f))
    z = 0.0f; // also turns -0 (from lo = 0) into +0
  if (z > static_cast<float>(maxCode(bits)))
    z = static_cast<float>(maxCode(bits));
  p.zero = z;
  return p;
}

/// Code of `x` under (scale, zero) at `bits`:
///   q = clamp(round_half_even(x / scale) + zero, 0, 2^c - 1).
/// NaN maps to the zero point (rounded and clamped).
inline uint32_t quantizeValue(float x, float scale, float zero, unsigned bits) {
  float v = std::isnan(x) ? zero : roundHalfEven(x / scale) + zero;
  if (std::isnan(v) || v < 0.0f)
    return 0;
  float top = static_cast<float>(maxCode(bits));
  if (v > top)
    return maxCode(bits);
  return static_cast<uint32_t>(roundHalfEven(v));
}

/// Maps the elements of a row-major tensor to its quantization groups, for
/// groups of `groupSize` consecutive elements along dimension `axis`. When
/// `groupSize` does not divide the extent of `axis` there are
/// ceil(dim / groupSize) groups along it and the last one is shorter (172
/// with groups of 32: five of 32 and one of 12). Per-channel quantization is
/// groupSize = the extent of `axis`; per-tensor is one group of everything.
/// Groups are numbered like the scales tensor (the tensor's shape with the
/// `axis` extent replaced by the number of groups along it), row-major.
class GroupIndexer {
public:
  /// One group covering all `numElements` elements (per-tensor).
  static GroupIndexer perTensor(int64_t numElements) {
    GroupIndexer g;
    g.axisDim = g.groupSize = numElements > 0 ? numElements : 1;
    g.groupsAlong = 1;
    return g;
  }

  /// Groups of `groupSize` (> 0) along dimension `axis` of `shape`.
  GroupIndexer(const int64_t *shape, size_t rank, size_t axis,
               int64_t groupSize) {
    axisDim = shape[axis];
    this->groupSize = groupSize;
    groupsAlong = axisDim == 0 ? 0 : (axisDim + groupSize - 1) / groupSize;
    inner = 1;
    for (size_t d = axis + 1; d < rank; ++d)
      inner *= shape[d];
    outerCount = 1;
    for (size_t d = 0; d < axis; ++d)
      outerCount *= shape[d];
  }

  /// Number of groups (= number of scales).
  int64_t numGroups() const { return outerCount * groupsAlong * inner; }

  /// Linear index of the group (scale) of element `i`.
  int64_t scaleIndex(int64_t i) const {
    int64_t outer = i / (axisDim * inner);
    int64_t along = (i / inner) % axisDim;
    int64_t in = i % inner;
    return (outer * groupsAlong + along / groupSize) * inner + in;
  }

  /// Elements of group `g` are `first(g) + k * stride()` for k < count(g).
  int64_t first(int64_t g) const {
    int64_t in = g % inner;
    int64_t rest = g / inner;
    int64_t along = rest % groupsAlong;
    int64_t outer = rest / groupsAlong;
    return (outer * axisDim + along * groupSize) * inner + in;
  }
  /// Number of elements of group `g`: groupSize, less for the last group
  /// along the axis when groupSize does not divide it.
  int64_t count(int64_t g) const {
    int64_t along = (g / inner) % groupsAlong;
    int64_t left = axisDim - along * groupSize;
    return left < groupSize ? left : groupSize;
  }
  int64_t stride() const { return inner; }

private:
  GroupIndexer() = default;
  int64_t axisDim = 1, groupSize = 1, groupsAlong = 1, inner = 1,
          outerCount = 1;
};

/// Dequantized value of a code already expressed in parent units
/// (see sliceValue): w = scale * (q - zero).
inline float dequantizeValue(uint32_t q, float scale, float zero) {
  return scale * (static_cast<float>(q) - zero);
}

} // namespace runtime
} // namespace qopt

#endif // QOPT_RUNTIME_QUANTMATH_H
