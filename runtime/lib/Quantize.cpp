//===- Quantize.cpp - Grouped reference quantization kernels ----*- C++ -*-===//
//
// The quantization half of the qopt runtime C ABI: round-to-nearest min-max
// quantization, quantization with given parameters and dequantization of a
// row-major matrix, in groups along the columns (the reduction dimension).
//
// Every number comes from qopt/Runtime/QuantMath.h (computeGroupParams,
// quantizeValue, dequantizeValue, symmetricZero); this file only validates
// arguments and walks the groups. Because cols is a multiple of the group
// size, group g of the flattened matrix is exactly elements
// [g * group, (g + 1) * group), in the same order as the scale entries.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/QOptRuntime.h"
#include "qopt/Runtime/QuantMath.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

using namespace qopt::runtime;

static_assert(static_cast<int>(Scheme::Symmetric) == QOPT_SYMMETRIC &&
                  static_cast<int>(Scheme::Asymmetric) == QOPT_ASYMMETRIC,
              "qopt_scheme and qopt::runtime::Scheme must agree");

namespace {
/// A validated quantization problem: how the flattened matrix splits into
/// groups, and the widths involved.
struct GroupLayout {
  /// rows * cols.
  size_t numElements = 0;
  /// Number of scale / zero entries.
  size_t numGroups = 0;
  /// Elements per group (numElements for per-tensor).
  size_t groupSize = 0;
  /// Width of the stored codes.
  unsigned bits = 0;
  /// Width the scale and zero refer to: parent_bits, or bits if that is 0.
  unsigned unitBits = 0;
  /// The scheme.
  Scheme scheme = Scheme::Asymmetric;
};
} // namespace

/// Reads `p->scheme` without loading an out-of-range enumerator (a C caller
/// may store any integer there).
static unsigned rawScheme(const qopt_quant_params *p) {
  std::underlying_type_t<qopt_scheme> raw;
  std::memcpy(&raw, &p->scheme, sizeof(raw));
  return static_cast<unsigned>(raw);
}

/// Validates `p` against a rows x cols matrix and fills `layout`. Checks, in
/// order: p non-null, bits, parent_bits, scheme, group divides cols,
/// rows * cols overflow.
static qopt_status validateParams(size_t rows, size_t cols,
                                  const qopt_quant_params *p,
                                  GroupLayout &layout) {
  if (!p)
    return QOPT_ERR_INVALID_ARGUMENT;
  if (!isValidBits(p->bits))
    return QOPT_ERR_BITS;
  if (p->parent_bits != 0 &&
      (p->parent_bits <= p->bits || !isValidBits(p->parent_bits)))
    return QOPT_ERR_BITS;
  unsigned scheme = rawScheme(p);
  if (scheme != QOPT_SYMMETRIC && scheme != QOPT_ASYMMETRIC)
    return QOPT_ERR_SCHEME;
  unsigned unitBits = p->parent_bits != 0 ? p->parent_bits : p->bits;
  if (scheme == QOPT_SYMMETRIC && unitBits < 2)
    return QOPT_ERR_SCHEME;
  if (p->group != 0 && cols % p->group != 0)
    return QOPT_ERR_GROUP;
  if (cols != 0 && rows > std::numeric_limits<size_t>::max() / cols)
    return QOPT_ERR_INVALID_ARGUMENT;

  layout.numElements = rows * cols;
  layout.bits = p->bits;
  layout.unitBits = unitBits;
  layout.scheme = static_cast<Scheme>(scheme);
  if (layout.numElements == 0) {
    layout.numGroups = 0;
    layout.groupSize = 0;
  } else if (p->group == 0) {
    layout.numGroups = 1;
    layout.groupSize = layout.numElements;
  } else {
    layout.numGroups = layout.numElements / p->group;
    layout.groupSize = p->group;
  }
  return QOPT_OK;
}

/// True if every one of the `n` scales is finite and > 0.
static bool scalesValid(const float *scales, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!(std::isfinite(scales[i]) && scales[i] > 0.0f))
      return false;
  return true;
}

extern "C" {

size_t qopt_num_groups(size_t rows, size_t cols, const qopt_quant_params *p) {
  GroupLayout layout;
  if (validateParams(rows, cols, p, layout) != QOPT_OK)
    return 0;
  return layout.numGroups;
}

qopt_status qopt_quantize_rtn(const float *x, size_t rows, size_t cols,
                              const qopt_quant_params *p, uint8_t *codes,
                              float *scales, float *zeros) {
  GroupLayout layout;
  if (qopt_status s = validateParams(rows, cols, p, layout))
    return s;
  if (p->parent_bits != 0)
    return QOPT_ERR_BITS;
  if (layout.numElements == 0)
    return QOPT_OK;
  if (!x || !codes || !scales || (!zeros && layout.scheme != Scheme::Symmetric))
    return QOPT_ERR_INVALID_ARGUMENT;

  for (size_t g = 0; g < layout.numGroups; ++g) {
    size_t begin = g * layout.groupSize;
    GroupParams gp = computeGroupParams(x + begin, layout.groupSize, 1,
                                        layout.bits, layout.scheme);
    scales[g] = gp.scale;
    if (zeros)
      zeros[g] = gp.zero;
    for (size_t i = begin, e = begin + layout.groupSize; i < e; ++i)
      codes[i] = static_cast<uint8_t>(
          quantizeValue(x[i], gp.scale, gp.zero, layout.bits));
  }
  return QOPT_OK;
}

qopt_status qopt_quantize_with_params(const float *x, size_t rows, size_t cols,
                                      const qopt_quant_params *p,
                                      const float *scales, const float *zeros,
                                      uint8_t *codes) {
  GroupLayout layout;
  if (qopt_status s = validateParams(rows, cols, p, layout))
    return s;
  if (p->parent_bits != 0)
    return QOPT_ERR_BITS;
  if (layout.numElements == 0)
    return QOPT_OK;
  if (!x || !codes || !scales || (!zeros && layout.scheme != Scheme::Symmetric))
    return QOPT_ERR_INVALID_ARGUMENT;
  if (!scalesValid(scales, layout.numGroups))
    return QOPT_ERR_INVALID_ARGUMENT;

  float defaultZero = static_cast<float>(symmetricZero(layout.bits));
  for (size_t g = 0; g < layout.numGroups; ++g) {
    float scale = scales[g];
    float zero = zeros ? zeros[g] : defaultZero;
    size_t begin = g * layout.groupSize;
    for (size_t i = begin, e = begin + layout.groupSize; i < e; ++i)
      codes[i] =
          static_cast<uint8_t>(quantizeValue(x[i], scale, zero, layout.bits));
  }
  return QOPT_OK;
}

qopt_status qopt_dequantize(const uint8_t *codes, size_t rows, size_t cols,
                            const qopt_quant_params *p, const float *scales,
                            const float *zeros, float *out) {
  GroupLayout layout;
  if (qopt_status s = validateParams(rows, cols, p, layout))
    return s;
  if (layout.numElements == 0)
    return QOPT_OK;
  if (!codes || !out || !scales ||
      (!zeros && layout.scheme != Scheme::Symmetric))
    return QOPT_ERR_INVALID_ARGUMENT;
  if (layout.bits < 8) {
    uint8_t acc = 0;
    for (size_t i = 0; i < layout.numElements; ++i)
      acc |= codes[i];
    if (acc >> layout.bits)
      return QOPT_ERR_CODE_RANGE;
  }

  // An r-bit slice code is worth code << (p - r) parent units (sliceValue).
  unsigned shift = layout.unitBits - layout.bits;
  float defaultZero = static_cast<float>(symmetricZero(layout.unitBits));
  for (size_t g = 0; g < layout.numGroups; ++g) {
    float scale = scales[g];
    float zero = zeros ? zeros[g] : defaultZero;
    size_t begin = g * layout.groupSize;
    for (size_t i = begin, e = begin + layout.groupSize; i < e; ++i)
      out[i] = dequantizeValue(static_cast<uint32_t>(codes[i]) << shift, scale,
                               zero);
  }
  return QOPT_OK;
}

} // extern "C"
