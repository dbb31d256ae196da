//===- ModelUtils.h - Private helpers of qopt_model -------------*- C++ -*-===//
//
// Small helpers shared by the checkpoint readers: error construction,
// overflow-checked size arithmetic, half/bfloat16 conversion and unaligned
// little-endian loads. Private to runtime/lib/Model.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_MODEL_MODELUTILS_H
#define QOPT_LIB_MODEL_MODELUTILS_H

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <cstring>

namespace qopt {
namespace model {
namespace detail {

/// An llvm::Error carrying `msg` (inconvertibleErrorCode).
inline llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// `a * b` into `out`; false on unsigned 64-bit overflow.
inline bool checkedMul(uint64_t a, uint64_t b, uint64_t &out) {
  return !__builtin_mul_overflow(a, b, &out);
}

/// `a + b` into `out`; false on unsigned 64-bit overflow.
inline bool checkedAdd(uint64_t a, uint64_t b, uint64_t &out) {
  return !__builtin_add_overflow(a, b, &out);
}

/// IEEE-754 binary16 bits to float (subnormals, inf and NaN included).
inline float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      // Subnormal: renormalize.
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      mant &= 0x3ffu;
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | mant << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

/// bfloat16 bits to float.
inline float bf16ToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

/// Unaligned little-endian loads (qopt only targets little-endian hosts).
inline uint16_t loadU16(const uint8_t *p) {
  return static_cast<uint16_t>(p[0] | p[1] << 8);
}
inline int32_t loadI32(const uint8_t *p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline uint64_t loadU64(const uint8_t *p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline float loadF32(const uint8_t *p) {
  float v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

} // namespace detail
} // namespace model
} // namespace qopt

#endif // QOPT_LIB_MODEL_MODELUTILS_H
