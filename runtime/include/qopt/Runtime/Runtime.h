//===- Runtime.h - C++ convenience wrappers over the C ABI ------*- C++ -*-===//
//
// Thin, header-only std::vector wrappers over QOptRuntime.h for C++ callers
// (tests, benchmarks, tools). They size the outputs, check that the inputs
// have the sizes the C functions will read, and return the C status; they
// never throw.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_RUNTIME_RUNTIME_H
#define QOPT_RUNTIME_RUNTIME_H

#include "qopt/Runtime/QOptRuntime.h"

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace qopt {
namespace runtime {

/// A quantized row-major matrix: one code per byte plus its group parameters.
struct QuantizedMatrix {
  /// rows * cols codes.
  std::vector<uint8_t> codes;
  /// qopt_num_groups(rows, cols, &params) scales.
  std::vector<float> scales;
  /// As many zero points as scales.
  std::vector<float> zeros;
};

/// Makes a qopt_quant_params.
inline qopt_quant_params makeQuantParams(unsigned bits, qopt_scheme scheme,
                                         size_t group,
                                         unsigned parentBits = 0) {
  qopt_quant_params p;
  p.bits = bits;
  p.parent_bits = parentBits;
  p.scheme = scheme;
  p.group = group;
  return p;
}

/// Packs `codes` into the dense layout at `bits` bits, resizing `out`.
inline qopt_status packDense(const std::vector<uint8_t> &codes, unsigned bits,
                             std::vector<uint8_t> &out) {
  if (qopt_dense_size(1, bits) == 0)
    return QOPT_ERR_BITS;
  std::vector<uint8_t> result(qopt_dense_size(codes.size(), bits));
  qopt_status s =
      qopt_pack_dense(codes.data(), codes.size(), bits, result.data());
  if (s == QOPT_OK)
    out.swap(result);
  return s;
}

/// Unpacks `n` dense `bits`-bit codes from `packed`, resizing `codes`.
inline qopt_status unpackDense(const std::vector<uint8_t> &packed, size_t n,
                               unsigned bits, std::vector<uint8_t> &codes) {
  if (qopt_dense_size(1, bits) == 0)
    return QOPT_ERR_BITS;
  if (packed.size() < qopt_dense_size(n, bits))
    return QOPT_ERR_INVALID_ARGUMENT;
  std::vector<uint8_t> result(n);
  qopt_status s = qopt_unpack_dense(packed.data(), n, bits, result.data());
  if (s == QOPT_OK)
    codes.swap(result);
  return s;
}

/// Packs `codes` into the nested bit-plane layout at `bits` bits.
inline qopt_status packNested(const std::vector<uint8_t> &codes, unsigned bits,
                              std::vector<uint8_t> &out) {
  if (qopt_nested_size(1, bits) == 0)
    return QOPT_ERR_BITS;
  std::vector<uint8_t> result(qopt_nested_size(codes.size(), bits));
  qopt_status s =
      qopt_pack_nested(codes.data(), codes.size(), bits, result.data());
  if (s == QOPT_OK)
    out.swap(result);
  return s;
}

/// Unpacks `n` codes of a nested layout, reading the top `planes` planes.
inline qopt_status unpackNested(const std::vector<uint8_t> &nested, size_t n,
                                unsigned bits, unsigned planes,
                                std::vector<uint8_t> &codes) {
  if (qopt_nested_size(1, bits) == 0)
    return QOPT_ERR_BITS;
  if (nested.size() < qopt_nested_size(n, bits))
    return QOPT_ERR_INVALID_ARGUMENT;
  std::vector<uint8_t> result(n);
  qopt_status s =
      qopt_unpack_nested(nested.data(), n, bits, planes, result.data());
  if (s == QOPT_OK)
    codes.swap(result);
  return s;
}

/// The r-bit slice codes of the `n` codes of a nested layout.
inline qopt_status sliceNested(const std::vector<uint8_t> &nested, size_t n,
                               unsigned bits, unsigned r,
                               std::vector<uint8_t> &codes) {
  if (qopt_nested_size(1, bits) == 0)
    return QOPT_ERR_BITS;
  if (nested.size() < qopt_nested_size(n, bits))
    return QOPT_ERR_INVALID_ARGUMENT;
  std::vector<uint8_t> result(n);
  qopt_status s = qopt_slice_nested(nested.data(), n, bits, r, result.data());
  if (s == QOPT_OK)
    codes.swap(result);
  return s;
}

/// Round-to-nearest quantization of a row-major rows x cols matrix.
inline qopt_status quantizeRTN(const std::vector<float> &x, size_t rows,
                               size_t cols, const qopt_quant_params &params,
                               QuantizedMatrix &out) {
  if (cols != 0 && rows > SIZE_MAX / cols)
    return QOPT_ERR_INVALID_ARGUMENT;
  if (x.size() != rows * cols)
    return QOPT_ERR_INVALID_ARGUMENT;
  QuantizedMatrix result;
  size_t groups = qopt_num_groups(rows, cols, &params);
  result.codes.resize(x.size());
  result.scales.resize(groups);
  result.zeros.resize(groups);
  qopt_status s =
      qopt_quantize_rtn(x.data(), rows, cols, &params, result.codes.data(),
                        result.scales.data(), result.zeros.data());
  if (s == QOPT_OK)
    out = std::move(result);
  return s;
}

/// Dequantizes `q` (a rows x cols matrix) into `out`.
inline qopt_status dequantize(const QuantizedMatrix &q, size_t rows,
                              size_t cols, const qopt_quant_params &params,
                              std::vector<float> &out) {
  if (cols != 0 && rows > SIZE_MAX / cols)
    return QOPT_ERR_INVALID_ARGUMENT;
  size_t groups = qopt_num_groups(rows, cols, &params);
  if (q.codes.size() != rows * cols || q.scales.size() < groups ||
      (!q.zeros.empty() && q.zeros.size() < groups))
    return QOPT_ERR_INVALID_ARGUMENT;
  std::vector<float> result(rows * cols);
  qopt_status s = qopt_dequantize(
      q.codes.data(), rows, cols, &params, q.scales.data(),
      q.zeros.empty() ? nullptr : q.zeros.data(), result.data());
  if (s == QOPT_OK)
    out.swap(result);
  return s;
}

} // namespace runtime
} // namespace qopt

#endif // QOPT_RUNTIME_RUNTIME_H
