//===- Storage.h - Storage forms of quantized codes, per row ----*- C++ -*-===//
//
// The storage form of the codes of a !qopt.qtensor (QTensorType::
// getStorageType, docs/quantization.md) as small header-only functions: the
// folders read and write it, passes build constants in it and the unit tests
// check it against the runtime's qopt_pack_dense / qopt_pack_nested.
//
// A tensor of shape [dims..., last] is `rows = prod(dims)` rows of `cols =
// last` codes (a rank-0 tensor is one row of one code):
//  - dense: each row packed at exactly `bits` per code into
//    denseRowBytes(cols, bits) = ceil(cols * bits / 8) bytes; element i of a
//    row at bits [i*bits, (i+1)*bits) of the row's little-endian bit stream
//    (bit 0 = LSB of byte 0), codes straddle bytes at 3, 5, 6 and 7 bits; the
//    unused high bits of a row's last byte are zero.
//  - nested: `bits` planes of `rows` rows of nestedRowBytes(cols) =
//    ceil(cols / 8) bytes, laid out [plane][row][byte]; plane k holds bit
//    bits-1-k of every code (plane 0 = most significant bit), element i of a
//    row is bit i % 8 of byte i / 8.
//
// Nothing here depends on MLIR or LLVM. Codes are one per byte, unsigned.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_RUNTIME_STORAGE_H
#define QOPT_RUNTIME_STORAGE_H

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace qopt {
namespace runtime {

/// Bytes of one row of `cols` codes in the dense storage form at `bits`.
inline constexpr size_t denseRowBytes(size_t cols, unsigned bits) {
  return (cols / 8) * bits + ((cols % 8) * bits + 7) / 8;
}

/// Bytes of one row of one bit plane of `cols` codes: ceil(cols / 8).
inline constexpr size_t nestedRowBytes(size_t cols) {
  return cols / 8 + (cols % 8 != 0 ? 1 : 0);
}

/// Total bytes of the dense storage form of `rows` x `cols` codes.
inline constexpr size_t denseStorageBytes(size_t rows, size_t cols,
                                          unsigned bits) {
  return rows * denseRowBytes(cols, bits);
}

/// Total bytes of the nested storage form of `rows` x `cols` codes of `bits`.
inline constexpr size_t nestedStorageBytes(size_t rows, size_t cols,
                                           unsigned bits) {
  return static_cast<size_t>(bits) * rows * nestedRowBytes(cols);
}

/// Packs `rows` x `cols` codes (row-major, each < 2^bits; higher bits are
/// dropped) into denseStorageBytes(rows, cols, bits) bytes at `out`.
inline void packDenseRows(const uint8_t *codes, size_t rows, size_t cols,
                          unsigned bits, uint8_t *out) {
  size_t rowBytes = denseRowBytes(cols, bits);
  std::memset(out, 0, rows * rowBytes);
  uint32_t mask = (1u << bits) - 1u;
  for (size_t r = 0; r < rows; ++r) {
    const uint8_t *src = codes + r * cols;
    uint8_t *dst = out + r * rowBytes;
    for (size_t i = 0; i < cols; ++i) {
      size_t bit = i * bits;
      // A code spans at most two bytes (bits <= 8).
      uint32_t v = (src[i] & mask) << (bit % 8);
      dst[bit / 8] |= static_cast<uint8_t>(v);
      if ((bit % 8) + bits > 8)
        dst[bit / 8 + 1] |= static_cast<uint8_t>(v >> 8);
    }
  }
}

/// Inverse of packDenseRows: `rows` x `cols` codes, one per byte, at `codes`.
inline void unpackDenseRows(const uint8_t *packed, size_t rows, size_t cols,
                            unsigned bits, uint8_t *codes) {
  size_t rowBytes = denseRowBytes(cols, bits);
  uint32_t mask = (1u << bits) - 1u;
  for (size_t r = 0; r < rows; ++r) {
    const uint8_t *src = packed + r * rowBytes;
    uint8_t *dst = codes + r * cols;
    for (size_t i = 0; i < cols; ++i) {
      size_t bit = i * bits;
      uint32_t v = src[bit / 8];
      if ((bit % 8) + bits > 8)
        v |= static_cast<uint32_t>(src[bit / 8 + 1]) << 8;
      dst[i] = static_cast<uint8_t>((v >> (bit % 8)) & mask);
    }
  }
}

/// Packs `rows` x `cols` codes of `bits` bits into the nested planes,
/// nestedStorageBytes(rows, cols, bits) bytes at `out`.
inline void packNestedPlanes(const uint8_t *codes, size_t rows, size_t cols,
                             unsigned bits, uint8_t *out) {
  size_t rowBytes = nestedRowBytes(cols);
  size_t planeBytes = rows * rowBytes;
  std::memset(out, 0, bits * planeBytes);
  for (unsigned k = 0; k < bits; ++k) {
    unsigned bit = bits - 1 - k;
    for (size_t r = 0; r < rows; ++r) {
      const uint8_t *src = codes + r * cols;
      uint8_t *dst = out + k * planeBytes + r * rowBytes;
      for (size_t i = 0; i < cols; ++i)
        dst[i / 8] |= static_cast<uint8_t>(((src[i] >> bit) & 1u) << (i % 8));
    }
  }
}

/// Reads the codes of `rows` x `cols` elements from the nested planes of
/// `bits`-bit codes, using only the top `planesToRead` planes (1..bits): the
/// bits of the planes not read are 0, so the result is a `bits`-bit code
/// whose low bits - planesToRead bits are clear. A kernel serving an r-bit
/// slice reads min(r + 1, bits) planes (sliceCode needs one rounding bit).
inline void unpackNestedPlanes(const uint8_t *planes, size_t rows, size_t cols,
                               unsigned bits, unsigned planesToRead,
                               uint8_t *codes) {
  size_t rowBytes = nestedRowBytes(cols);
  size_t planeBytes = rows * rowBytes;
  if (planesToRead > bits)
    planesToRead = bits;
  std::memset(codes, 0, rows * cols);
  for (unsigned k = 0; k < planesToRead; ++k) {
    unsigned bit = bits - 1 - k;
    for (size_t r = 0; r < rows; ++r) {
      const uint8_t *src = planes + k * planeBytes + r * rowBytes;
      uint8_t *dst = codes + r * cols;
      for (size_t i = 0; i < cols; ++i)
        dst[i] |= static_cast<uint8_t>(((src[i / 8] >> (i % 8)) & 1u) << bit);
    }
  }
}

} // namespace runtime
} // namespace qopt

#endif // QOPT_RUNTIME_STORAGE_H
