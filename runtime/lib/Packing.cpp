//===- Packing.cpp - Dense and nested bit packing of codes ------*- C++ -*-===//
//
// The packing half of the qopt runtime C ABI: the dense little-endian bit
// stream layout, the nested (Matryoshka bit-plane) layout, Matryoshka slicing
// of packed and unpacked codes, and qopt_status_string.
//
// Both layouts are processed in blocks of eight codes: eight b-bit codes are
// exactly b bytes of the dense stream and exactly one byte of each bit plane,
// so the kernels work on 64-bit words with no per-bit bookkeeping (SWAR field
// spreading for the dense layout, 8x8 bit and byte transposes for the planes,
// 64 codes at a time). The final partial block goes through the same code
// with a zero-padded word, reading and writing only the bytes that belong to
// the `n` codes. Slicing uses sliceCode from QuantMath.h, instantiated per
// (c, r) so that the loop vectorizes.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/QOptRuntime.h"
#include "qopt/Runtime/QuantMath.h"

#include <cstring>
#include <limits>

using namespace qopt::runtime;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Elements per block: one byte of a bit plane, `bits` bytes of a dense
/// stream.
static constexpr size_t kBlock = 8;

/// Reads `nbytes` (<= 8) bytes at `p` as a little-endian integer.
static inline uint64_t loadLE(const uint8_t *p, size_t nbytes) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint64_t v = 0;
  std::memcpy(&v, p, nbytes);
  return v;
#else
  uint64_t v = 0;
  for (size_t i = 0; i < nbytes; ++i)
    v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
#endif
}

/// Writes the low `nbytes` (<= 8) bytes of `v` at `p`, little-endian.
static inline void storeLE(uint8_t *p, uint64_t v, size_t nbytes) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  std::memcpy(p, &v, nbytes);
#else
  for (size_t i = 0; i < nbytes; ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * i));
#endif
}

/// A `width`-bit mask (width < 64) repeated every `period` bits.
static constexpr uint64_t repeatMask(unsigned width, unsigned period) {
  uint64_t m = 0;
  for (unsigned pos = 0; pos < 64; pos += period)
    m |= ((uint64_t(1) << width) - 1) << pos;
  return m;
}

/// Moves the eight `Bits`-bit fields in the low 8 * Bits bits of `v` (field i
/// at bit i * Bits) to the eight bytes of the result (field i in byte i).
/// Bits above 8 * Bits are ignored. Three halving steps: 4 + 4 fields into the
/// two 32-bit halves, 2 + 2 into 16-bit lanes, 1 + 1 into bytes.
template <unsigned Bits> static inline uint64_t spreadFields(uint64_t v) {
  constexpr uint64_t m4 = repeatMask(4 * Bits, 64);
  constexpr uint64_t m2 = repeatMask(2 * Bits, 32);
  constexpr uint64_t m1 = repeatMask(Bits, 16);
  v = (v & m4) | (((v >> (4 * Bits)) & m4) << 32);
  v = (v & m2) | (((v >> (2 * Bits)) & m2) << 16);
  v = (v & m1) | (((v >> Bits) & m1) << 8);
  return v;
}

/// Inverse of spreadFields: byte i of `v` (which must be < 2^Bits) becomes
/// the field at bit i * Bits; the bits above 8 * Bits are zero.
template <unsigned Bits> static inline uint64_t packFields(uint64_t v) {
  constexpr uint64_t m4 = repeatMask(4 * Bits, 64);
  constexpr uint64_t m2 = repeatMask(2 * Bits, 32);
  constexpr uint64_t m1 = repeatMask(Bits, 16);
  v = (v & m1) | (((v >> 8) & m1) << Bits);
  v = (v & m2) | (((v >> 16) & m2) << (2 * Bits));
  v = (v & m4) | (((v >> 32) & m4) << (4 * Bits));
  return v;
}

/// Transposes the 8x8 bit matrix whose row i is byte i and column j is bit j
/// of the row: bit j of byte i of the result is bit i of byte j of `x`
/// (Hacker's Delight, transpose8). Turns eight codes into one byte per bit
/// position (a byte of each bit plane) and back.
static inline uint64_t transposeBits8x8(uint64_t x) {
  uint64_t t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAULL;
  x ^= t ^ (t << 7);
  t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCULL;
  x ^= t ^ (t << 14);
  t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ULL;
  x ^= t ^ (t << 28);
  return x;
}

/// One step of transposeBytes8x8: exchanges the `Width`-bit units selected by
/// `Mask` between words `a` and `b`.
template <unsigned Width, uint64_t Mask>
static inline void exchangeUnits(uint64_t &a, uint64_t &b) {
  uint64_t na = (a & Mask) | ((b << Width) & ~Mask);
  uint64_t nb = ((a >> Width) & Mask) | (b & ~Mask);
  a = na;
  b = nb;
}

/// Transposes the 8x8 byte matrix whose row i is w[i] and column j is byte j:
/// byte j of the resulting w[i] is byte i of the original w[j].
static inline void transposeBytes8x8(uint64_t w[8]) {
  constexpr uint64_t m8 = 0x00FF00FF00FF00FFULL;
  constexpr uint64_t m16 = 0x0000FFFF0000FFFFULL;
  constexpr uint64_t m32 = 0x00000000FFFFFFFFULL;
  for (unsigned i = 0; i < 8; i += 2)
    exchangeUnits<8, m8>(w[i], w[i + 1]);
  for (unsigned i = 0; i < 8; i += (i % 2 == 0 ? 1 : 3))
    exchangeUnits<16, m16>(w[i], w[i + 2]);
  for (unsigned i = 0; i < 4; ++i)
    exchangeUnits<32, m32>(w[i], w[i + 4]);
}

/// True if every one of the `n` codes is < 2^bits.
static bool codesInRange(const uint8_t *codes, size_t n, unsigned bits) {
  if (bits >= 8)
    return true;
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i)
    acc |= codes[i];
  return (acc >> bits) == 0;
}

/// ceil(n / 8), without overflow.
static inline size_t planeSize(size_t n) {
  return n / kBlock + (n % kBlock != 0 ? 1 : 0);
}

/// ceil(n * bits / 8) for bits in 1..8; never overflows since it is <= n.
static inline size_t denseSize(size_t n, unsigned bits) {
  return (n / kBlock) * bits + ((n % kBlock) * bits + 7) / 8;
}

/// bits * ceil(n / 8) into `size`; false on size_t overflow.
static bool nestedSize(size_t n, unsigned bits, size_t &size) {
  size_t plane = planeSize(n);
  if (plane > std::numeric_limits<size_t>::max() / bits)
    return false;
  size = plane * bits;
  return true;
}

//===----------------------------------------------------------------------===//
// Dense kernels
//===----------------------------------------------------------------------===//

/// Packs `n` codes of `Bits` bits (already range-checked) into
/// denseSize(n, Bits) bytes at `out`.
template <unsigned Bits>
static void packDenseImpl(const uint8_t *codes, size_t n, uint8_t *out) {
  size_t blocks = n / kBlock;
  size_t size = denseSize(n, Bits);
  size_t b = 0;
  // Whole-word stores while they stay inside `out`: the bytes past the
  // block's `Bits` are zero and rewritten by the next block.
  for (; b < blocks && b * Bits + 8 <= size; ++b)
    storeLE(out + b * Bits, packFields<Bits>(loadLE(codes + b * kBlock, 8)), 8);
  for (; b < blocks; ++b)
    storeLE(out + b * Bits, packFields<Bits>(loadLE(codes + b * kBlock, 8)),
            Bits);
  size_t rem = n % kBlock;
  if (rem == 0)
    return;
  // Zero padding keeps the unused high bits of the last byte zero.
  uint64_t v = packFields<Bits>(loadLE(codes + blocks * kBlock, rem));
  storeLE(out + blocks * Bits, v, (rem * Bits + 7) / 8);
}

/// Unpacks `n` codes of `Bits` bits from denseSize(n, Bits) bytes at `in`.
template <unsigned Bits>
static void unpackDenseImpl(const uint8_t *in, size_t n, uint8_t *codes) {
  size_t blocks = n / kBlock;
  size_t size = denseSize(n, Bits);
  size_t b = 0;
  // Whole-word loads while they stay inside `in`; spreadFields ignores the
  // bytes past the block's `Bits`.
  for (; b < blocks && b * Bits + 8 <= size; ++b)
    storeLE(codes + b * kBlock, spreadFields<Bits>(loadLE(in + b * Bits, 8)),
            8);
  for (; b < blocks; ++b)
    storeLE(codes + b * kBlock, spreadFields<Bits>(loadLE(in + b * Bits, Bits)),
            8);
  size_t rem = n % kBlock;
  if (rem == 0)
    return;
  uint64_t v = loadLE(in + blocks * Bits, (rem * Bits + 7) / 8);
  storeLE(codes + blocks * kBlock, spreadFields<Bits>(v), rem);
}

/// Dispatches a `Kernel<Bits>` on a runtime bit width in 1..8.
#define QOPT_DISPATCH_BITS(bits, kernel, ...)                                  \
  switch (bits) {                                                              \
  case 1:                                                                      \
    kernel<1>(__VA_ARGS__);                                                    \
    break;                                                                     \
  case 2:                                                                      \
    kernel<2>(__VA_ARGS__);                                                    \
    break;                                                                     \
  case 3:                                                                      \
    kernel<3>(__VA_ARGS__);                                                    \
    break;                                                                     \
  case 4:                                                                      \
    kernel<4>(__VA_ARGS__);                                                    \
    break;                                                                     \
  case 5:                                                                      \
    kernel<5>(__VA_ARGS__);                                                    \
    break;                                                                     \
  case 6:                                                                      \
    kernel<6>(__VA_ARGS__);                                                    \
    break;                                                                     \
  case 7:                                                                      \
    kernel<7>(__VA_ARGS__);                                                    \
    break;                                                                     \
  default:                                                                     \
    kernel<8>(__VA_ARGS__);                                                    \
    break;                                                                     \
  }

//===----------------------------------------------------------------------===//
// Nested kernels
//===----------------------------------------------------------------------===//

/// Packs `n` range-checked codes of `bits` bits into `bits` planes of
/// `plane` bytes each.
static void packNestedImpl(const uint8_t *codes, size_t n, unsigned bits,
                           size_t plane, uint8_t *out) {
  size_t blocks = n / kBlock;
  size_t b = 0;
  // Eight blocks at a time: after the bit transposes, w[i] byte j is the byte
  // of plane bits-1-j for block b+i; the byte transpose turns that into eight
  // consecutive bytes of each plane.
  for (; b + kBlock <= blocks; b += kBlock) {
    uint64_t w[8];
    for (unsigned i = 0; i < 8; ++i)
      w[i] = transposeBits8x8(loadLE(codes + (b + i) * kBlock, kBlock));
    transposeBytes8x8(w);
    for (unsigned k = 0; k < bits; ++k)
      storeLE(out + k * plane + b, w[bits - 1 - k], 8);
  }
  for (; b < blocks; ++b) {
    // Byte j of t holds bit j of the eight codes: a byte of plane bits-1-j.
    uint64_t t = transposeBits8x8(loadLE(codes + b * kBlock, kBlock));
    for (unsigned k = 0; k < bits; ++k)
      out[k * plane + b] = static_cast<uint8_t>(t >> (8 * (bits - 1 - k)));
  }
  size_t rem = n % kBlock;
  if (rem == 0)
    return;
  // Zero padding keeps the unused high bits of each plane's last byte zero.
  uint64_t t = transposeBits8x8(loadLE(codes + blocks * kBlock, rem));
  for (unsigned k = 0; k < bits; ++k)
    out[k * plane + blocks] = static_cast<uint8_t>(t >> (8 * (bits - 1 - k)));
}

/// The eight codes of block `b` of a nested layout of `bits`-bit codes with
/// `plane`-byte planes, from the top `planes` planes only (byte i = code i).
static inline uint64_t unpackNestedBlock(const uint8_t *in, size_t plane,
                                         unsigned bits, unsigned planes,
                                         size_t b) {
  uint64_t w = 0;
  for (unsigned k = 0; k < planes; ++k)
    w |= static_cast<uint64_t>(in[k * plane + b]) << (8 * (bits - 1 - k));
  return transposeBits8x8(w);
}

/// Unpacks elements [begin, end) (begin a multiple of 8, end <= n) of a nested
/// layout of `bits`-bit codes with `plane`-byte planes, reading the top
/// `planes` planes only. Writes codes[begin, end).
static void unpackNestedRange(const uint8_t *in, size_t plane, unsigned bits,
                              unsigned planes, size_t begin, size_t end,
                              uint8_t *codes) {
  size_t b = begin / kBlock;
  size_t fullEnd = end / kBlock;
  // Eight blocks at a time: one word from each plane read, then the inverse
  // of packNestedImpl's transposes.
  for (; b + kBlock <= fullEnd; b += kBlock) {
    uint64_t w[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (unsigned k = 0; k < planes; ++k)
      w[bits - 1 - k] = loadLE(in + k * plane + b, 8);
    transposeBytes8x8(w);
    for (unsigned i = 0; i < 8; ++i)
      storeLE(codes + (b + i) * kBlock, transposeBits8x8(w[i]), kBlock);
  }
  for (; b < fullEnd; ++b)
    storeLE(codes + b * kBlock, unpackNestedBlock(in, plane, bits, planes, b),
            kBlock);
  size_t rem = end % kBlock;
  if (rem != 0)
    storeLE(codes + b * kBlock, unpackNestedBlock(in, plane, bits, planes, b),
            rem);
}

/// Writes sliceCode(codes[i], C, R) to out[i] for the `n` codes; `out` may
/// equal `codes`. With C and R constants the loop vectorizes.
template <unsigned C, unsigned R>
static void sliceLoop(const uint8_t *codes, size_t n, uint8_t *out) {
  for (size_t i = 0; i < n; ++i)
    out[i] = static_cast<uint8_t>(sliceCode(codes[i], C, R));
}

namespace {
/// sliceLoop with C fixed, for dispatching on R.
template <unsigned C> struct SliceFrom {
  template <unsigned R>
  static void run(const uint8_t *codes, size_t n, uint8_t *out) {
    sliceLoop<C, R>(codes, n, out);
  }
};
} // namespace

/// sliceLoop<C, r> for a runtime r in 1..8 (r >= C copies).
template <unsigned C>
static void sliceFixedWidth(const uint8_t *codes, size_t n, unsigned r,
                            uint8_t *out) {
  QOPT_DISPATCH_BITS(r, SliceFrom<C>::template run, codes, n, out)
}

/// Writes sliceCode(codes[i], c, r) to out[i] for the `n` codes (c in 1..8,
/// r in 1..c); `out` may equal `codes`.
static void sliceCodes(const uint8_t *codes, size_t n, unsigned c, unsigned r,
                       uint8_t *out) {
  QOPT_DISPATCH_BITS(c, sliceFixedWidth, codes, n, r, out)
}

//===----------------------------------------------------------------------===//
// C ABI
//===----------------------------------------------------------------------===//

extern "C" {

const char *qopt_status_string(qopt_status s) {
  switch (s) {
  case QOPT_OK:
    return "success";
  case QOPT_ERR_INVALID_ARGUMENT:
    return "invalid argument (null pointer, size overflow or bad scale)";
  case QOPT_ERR_BITS:
    return "bit width out of range (bits not in 1..8, r or planes not in "
           "1..c, or bad parent_bits)";
  case QOPT_ERR_GROUP:
    return "group size does not divide cols";
  case QOPT_ERR_CODE_RANGE:
    return "code out of range (>= 2^bits)";
  case QOPT_ERR_SCHEME:
    return "invalid quantization scheme (unknown, or symmetric below 2 bits)";
  }
  return "unknown qopt_status";
}

size_t qopt_dense_size(size_t n, unsigned bits) {
  return isValidBits(bits) ? denseSize(n, bits) : 0;
}

qopt_status qopt_pack_dense(const uint8_t *codes, size_t n, unsigned bits,
                            uint8_t *out) {
  if (!isValidBits(bits))
    return QOPT_ERR_BITS;
  if (n == 0)
    return QOPT_OK;
  if (!codes || !out)
    return QOPT_ERR_INVALID_ARGUMENT;
  if (!codesInRange(codes, n, bits))
    return QOPT_ERR_CODE_RANGE;
  if (bits == 8) {
    std::memmove(out, codes, n);
    return QOPT_OK;
  }
  QOPT_DISPATCH_BITS(bits, packDenseImpl, codes, n, out)
  return QOPT_OK;
}

qopt_status qopt_unpack_dense(const uint8_t *packed, size_t n, unsigned bits,
                              uint8_t *codes) {
  if (!isValidBits(bits))
    return QOPT_ERR_BITS;
  if (n == 0)
    return QOPT_OK;
  if (!packed || !codes)
    return QOPT_ERR_INVALID_ARGUMENT;
  if (bits == 8) {
    std::memmove(codes, packed, n);
    return QOPT_OK;
  }
  QOPT_DISPATCH_BITS(bits, unpackDenseImpl, packed, n, codes)
  return QOPT_OK;
}

size_t qopt_nested_plane_size(size_t n) { return planeSize(n); }

size_t qopt_nested_size(size_t n, unsigned bits) {
  size_t size = 0;
  if (!isValidBits(bits) || !nestedSize(n, bits, size))
    return 0;
  return size;
}

size_t qopt_nested_slice_bytes(size_t n, unsigned bits, unsigned r) {
  if (!isValidBits(bits) || r < 1 || r > bits)
    return 0;
  unsigned planes = r + 1 < bits ? r + 1 : bits;
  return qopt_nested_size(n, planes);
}

qopt_status qopt_pack_nested(const uint8_t *codes, size_t n, unsigned bits,
                             uint8_t *out) {
  if (!isValidBits(bits))
    return QOPT_ERR_BITS;
  if (n == 0)
    return QOPT_OK;
  if (!codes || !out)
    return QOPT_ERR_INVALID_ARGUMENT;
  size_t size = 0;
  if (!nestedSize(n, bits, size))
    return QOPT_ERR_INVALID_ARGUMENT;
  if (!codesInRange(codes, n, bits))
    return QOPT_ERR_CODE_RANGE;
  packNestedImpl(codes, n, bits, planeSize(n), out);
  return QOPT_OK;
}

qopt_status qopt_unpack_nested(const uint8_t *nested, size_t n, unsigned bits,
                               unsigned planes, uint8_t *codes) {
  if (!isValidBits(bits) || planes < 1 || planes > bits)
    return QOPT_ERR_BITS;
  if (n == 0)
    return QOPT_OK;
  if (!nested || !codes)
    return QOPT_ERR_INVALID_ARGUMENT;
  size_t size = 0;
  if (!nestedSize(n, bits, size))
    return QOPT_ERR_INVALID_ARGUMENT;
  unpackNestedRange(nested, planeSize(n), bits, planes, 0, n, codes);
  return QOPT_OK;
}

qopt_status qopt_slice_nested(const uint8_t *nested, size_t n, unsigned bits,
                              unsigned r, uint8_t *out_codes) {
  if (!isValidBits(bits) || r < 1 || r > bits)
    return QOPT_ERR_BITS;
  if (n == 0)
    return QOPT_OK;
  if (!nested || !out_codes)
    return QOPT_ERR_INVALID_ARGUMENT;
  size_t size = 0;
  if (!nestedSize(n, bits, size))
    return QOPT_ERR_INVALID_ARGUMENT;
  // sliceCode reads only the top r+1 bits of a code, so the codes rebuilt from
  // the top r+1 planes (low bits zero) slice exactly like the full codes.
  unsigned planes = r + 1 < bits ? r + 1 : bits;
  size_t plane = planeSize(n);
  // Chunks keep the rebuilt codes in L1 between the two passes.
  constexpr size_t kChunk = 4096;
  for (size_t begin = 0; begin < n; begin += kChunk) {
    size_t end = n - begin > kChunk ? begin + kChunk : n;
    unpackNestedRange(nested, plane, bits, planes, begin, end, out_codes);
    sliceCodes(out_codes + begin, end - begin, bits, r, out_codes + begin);
  }
  return QOPT_OK;
}

qopt_status qopt_slice_codes(const uint8_t *codes, size_t n, unsigned c,
                             unsigned r, uint8_t *out_codes) {
  if (!isValidBits(c) || r < 1 || r > c)
    return QOPT_ERR_BITS;
  if (n == 0)
    return QOPT_OK;
  if (!codes || !out_codes)
    return QOPT_ERR_INVALID_ARGUMENT;
  if (!codesInRange(codes, n, c))
    return QOPT_ERR_CODE_RANGE;
  sliceCodes(codes, n, c, r, out_codes);
  return QOPT_OK;
}

} // extern "C"
