//===- QOptRuntime.h - C ABI of the qopt runtime library ----------*- C -*-===//
//
// The C interface of libqopt_runtime: bit packing of quantized codes (dense
// and nested Matryoshka bit-plane layouts), Matryoshka slicing, and the
// reference grouped quantize / dequantize kernels. It is usable from C (C99)
// and C++, and from code emitted by the qopt lowering (mlir-runner
// -shared-libs=). Every number is computed by qopt/Runtime/QuantMath.h, so the
// runtime and the dialect's folders agree bit for bit.
//
// docs/runtime.md describes the byte layouts and the error codes in full.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_RUNTIME_QOPTRUNTIME_H
#define QOPT_RUNTIME_QOPTRUNTIME_H

#include <stddef.h>
#include <stdint.h>

/// Marks a function as part of the exported C ABI of qopt_runtime. The
/// library is built with -fvisibility=hidden; only these symbols are visible.
#ifndef QOPT_RUNTIME_EXPORT
#ifdef _WIN32
#ifdef qopt_runtime_EXPORTS
#define QOPT_RUNTIME_EXPORT __declspec(dllexport)
#else
#define QOPT_RUNTIME_EXPORT __declspec(dllimport)
#endif
#else
#define QOPT_RUNTIME_EXPORT __attribute__((visibility("default")))
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/// Result of every fallible runtime function. On any status other than
/// QOPT_OK, no output buffer has been written.
typedef enum qopt_status {
  /// Success.
  QOPT_OK = 0,
  /// A required pointer is NULL, or a size computation overflows size_t, or
  /// a quantization scale is not finite and positive.
  QOPT_ERR_INVALID_ARGUMENT = 1,
  /// A bit width is not in 1..8, a slice width r is not in 1..c, a plane
  /// count is not in 1..c, or parent_bits is neither 0 nor in bits+1..8 (or
  /// is non-zero where the function requires 0).
  QOPT_ERR_BITS = 2,
  /// The group size does not divide cols.
  QOPT_ERR_GROUP = 3,
  /// An input code is >= 2^bits.
  QOPT_ERR_CODE_RANGE = 4,
  /// The scheme is not a qopt_scheme value, or the symmetric scheme is used
  /// with a (parent) width below 2.
  QOPT_ERR_SCHEME = 5,
} qopt_status;

/// A human-readable, static description of `s`; never NULL (unknown values
/// give "unknown qopt_status").
QOPT_RUNTIME_EXPORT const char *qopt_status_string(qopt_status s);

/// Zero-point scheme; the same values as qopt::runtime::Scheme.
typedef enum qopt_scheme {
  /// Fixed zero point 2^(p-1), scale = absmax / (2^(p-1) - 1).
  QOPT_SYMMETRIC = 0,
  /// Min-max range containing 0, per-group zero point.
  QOPT_ASYMMETRIC = 1,
} qopt_scheme;

//===----------------------------------------------------------------------===//
// Dense layout
//===----------------------------------------------------------------------===//

/// Bytes of the dense layout of `n` codes of `bits` bits: ceil(n * bits / 8).
/// Element i occupies bits [i*bits, (i+1)*bits) of a little-endian bit stream
/// (bit 0 is the LSB of byte 0); the unused high bits of the last byte are
/// zero. Returns 0 if `bits` is not in 1..8. Never overflows.
QOPT_RUNTIME_EXPORT size_t qopt_dense_size(size_t n, unsigned bits);

/// Packs `n` codes (one per byte, each < 2^bits) into qopt_dense_size(n, bits)
/// bytes at `out`. Every code is checked first (QOPT_ERR_CODE_RANGE).
QOPT_RUNTIME_EXPORT qopt_status qopt_pack_dense(const uint8_t *codes, size_t n,
                                                unsigned bits, uint8_t *out);

/// Unpacks `n` codes of the dense layout into one byte each. The unused high
/// bits of the last byte are ignored.
QOPT_RUNTIME_EXPORT qopt_status qopt_unpack_dense(const uint8_t *packed,
                                                  size_t n, unsigned bits,
                                                  uint8_t *codes);

//===----------------------------------------------------------------------===//
// Nested (Matryoshka bit-plane) layout
//===----------------------------------------------------------------------===//

/// Bytes of one bit plane of `n` elements: ceil(n / 8).
QOPT_RUNTIME_EXPORT size_t qopt_nested_plane_size(size_t n);

/// Bytes of the nested layout of `n` codes of `bits` bits: bits * ceil(n / 8).
/// Plane k (k = 0 is the most significant bit, bit bits-1-k of each code)
/// occupies bytes [k*P, (k+1)*P) with P = ceil(n / 8); within a plane element
/// i is bit (i % 8) of byte i / 8, and the unused high bits of the last byte
/// of each plane are zero. Returns 0 if `bits` is invalid or the size
/// overflows size_t.
QOPT_RUNTIME_EXPORT size_t qopt_nested_size(size_t n, unsigned bits);

/// Bytes that qopt_slice_nested(..., bits, r, ...) reads: the top
/// min(r + 1, bits) planes, min(r + 1, bits) * ceil(n / 8). Returns 0 if
/// `bits` or `r` is invalid.
QOPT_RUNTIME_EXPORT size_t qopt_nested_slice_bytes(size_t n, unsigned bits,
                                                   unsigned r);

/// Packs `n` codes (each < 2^bits) into qopt_nested_size(n, bits) bytes.
QOPT_RUNTIME_EXPORT qopt_status qopt_pack_nested(const uint8_t *codes, size_t n,
                                                 unsigned bits, uint8_t *out);

/// Unpacks `n` codes from the nested layout, reading only the top `planes`
/// planes (1..bits); the low bits-planes bits of each code read as 0.
QOPT_RUNTIME_EXPORT qopt_status qopt_unpack_nested(const uint8_t *nested,
                                                   size_t n, unsigned bits,
                                                   unsigned planes,
                                                   uint8_t *codes);

/// The r-bit Matryoshka slice codes (qopt::runtime::sliceCode(q, bits, r)) of
/// the `n` codes of the nested layout, reading only the top min(r + 1, bits)
/// planes. r in 1..bits.
QOPT_RUNTIME_EXPORT qopt_status qopt_slice_nested(const uint8_t *nested,
                                                  size_t n, unsigned bits,
                                                  unsigned r,
                                                  uint8_t *out_codes);

/// Elementwise qopt::runtime::sliceCode(codes[i], c, r) on unpacked codes;
/// checks every code < 2^c. `out_codes` may equal `codes`.
QOPT_RUNTIME_EXPORT qopt_status qopt_slice_codes(const uint8_t *codes, size_t n,
                                                 unsigned c, unsigned r,
                                                 uint8_t *out_codes);

//===----------------------------------------------------------------------===//
// Grouped quantization
//===----------------------------------------------------------------------===//

/// How a row-major rows x cols float matrix is quantized. Groups are `group`
/// consecutive elements along cols (the reduction dimension): group == cols
/// is per-channel, group == 0 is per-tensor (one scale and zero for the whole
/// matrix). Scales and zeros have rows * (cols / group) entries (1 for
/// per-tensor, 0 for an empty matrix), row-major: group g of row i is entry
/// i * (cols / group) + g.
typedef struct qopt_quant_params {
  /// Code width c of the codes as stored, 1..8.
  unsigned bits;
  /// 0, or the Matryoshka parent width p in bits+1..8: the codes are r-bit
  /// slices (r = bits) whose value in parent units is code << (p - bits), and
  /// scale / zero are in parent units.
  unsigned parent_bits;
  /// Zero-point scheme.
  qopt_scheme scheme;
  /// Group size along cols; 0 means per-tensor.
  size_t group;
} qopt_quant_params;

/// Number of scale / zero entries for a rows x cols matrix under `p`:
/// rows * (cols / group), or 1 for per-tensor (group == 0) when
/// rows * cols > 0. Returns 0 if `p` is invalid (NULL, bad bits / parent_bits,
/// bad scheme, group not dividing cols, rows * cols overflowing) or the
/// matrix is empty.
QOPT_RUNTIME_EXPORT size_t qopt_num_groups(size_t rows, size_t cols,
                                           const qopt_quant_params *p);

/// Round-to-nearest min-max quantization (computeGroupParams +
/// quantizeValue). Writes rows * cols codes, and num_groups scales and zeros
/// (for the symmetric scheme every zero is 2^(c-1); `zeros` may then be NULL
/// and is not written). Requires p->parent_bits == 0 (QOPT_ERR_BITS) and,
/// for the symmetric scheme, p->bits >= 2 (QOPT_ERR_SCHEME).
QOPT_RUNTIME_EXPORT qopt_status qopt_quantize_rtn(const float *x, size_t rows,
                                                  size_t cols,
                                                  const qopt_quant_params *p,
                                                  uint8_t *codes, float *scales,
                                                  float *zeros);

/// Quantizes with the given scales and zeros (quantizeValue). `zeros` may be
/// NULL for the symmetric scheme (2^(c-1) is used). Every scale must be finite
/// and > 0 (QOPT_ERR_INVALID_ARGUMENT). Requires p->parent_bits == 0 and, for
/// the symmetric scheme, p->bits >= 2.
QOPT_RUNTIME_EXPORT qopt_status qopt_quantize_with_params(
    const float *x, size_t rows, size_t cols, const qopt_quant_params *p,
    const float *scales, const float *zeros, uint8_t *codes);

/// Dequantizes: out = scale * (value - zero) (dequantizeValue), where value
/// = code << (parent_bits - bits) if parent_bits != 0, else code. Every code
/// must be < 2^bits. `zeros` may be NULL for the symmetric scheme (2^(w-1)
/// with w = parent_bits ? parent_bits : bits, which must be >= 2).
QOPT_RUNTIME_EXPORT qopt_status qopt_dequantize(const uint8_t *codes,
                                                size_t rows, size_t cols,
                                                const qopt_quant_params *p,
                                                const float *scales,
                                                const float *zeros, float *out);

#ifdef __cplusplus
} // extern "C"
#endif

#endif // QOPT_RUNTIME_QOPTRUNTIME_H
