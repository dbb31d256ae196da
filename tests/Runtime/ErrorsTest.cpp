//===- ErrorsTest.cpp - Argument validation tests ---------------*- C++ -*-===//
//
// Every documented error status of the C ABI: bad widths, out-of-range codes,
// groups that do not divide cols, null pointers, bad slice widths, bad
// schemes, size overflow; and that a failing call writes nothing.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/QOptRuntime.h"
#include "qopt/Runtime/Runtime.h"

#include "gtest/gtest.h"

#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <type_traits>

using qopt::runtime::makeQuantParams;

/// Defined in CApiSmoke.c, compiled as C.
extern "C" int qopt_c_api_smoke(void);

namespace {

TEST(Errors, StatusStrings) {
  std::set<std::string> seen;
  for (qopt_status s : {QOPT_OK, QOPT_ERR_INVALID_ARGUMENT, QOPT_ERR_BITS,
                        QOPT_ERR_GROUP, QOPT_ERR_CODE_RANGE, QOPT_ERR_SCHEME}) {
    const char *str = qopt_status_string(s);
    ASSERT_NE(str, nullptr);
    EXPECT_GT(std::strlen(str), 0u);
    seen.insert(str);
  }
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_STREQ(qopt_status_string(QOPT_OK), "success");
  EXPECT_STREQ(qopt_status_string(static_cast<qopt_status>(6)),
               "unknown qopt_status");
}

TEST(Errors, BadBits) {
  uint8_t codes[4] = {0, 1, 0, 1}, out[8];
  for (unsigned bits : {0u, 9u}) {
    EXPECT_EQ(qopt_dense_size(4, bits), 0u);
    EXPECT_EQ(qopt_nested_size(4, bits), 0u);
    EXPECT_EQ(qopt_pack_dense(codes, 4, bits, out), QOPT_ERR_BITS);
    EXPECT_EQ(qopt_unpack_dense(codes, 4, bits, out), QOPT_ERR_BITS);
    EXPECT_EQ(qopt_pack_nested(codes, 4, bits, out), QOPT_ERR_BITS);
    EXPECT_EQ(qopt_unpack_nested(codes, 4, bits, 1, out), QOPT_ERR_BITS);
    EXPECT_EQ(qopt_slice_nested(codes, 4, bits, 1, out), QOPT_ERR_BITS);
    EXPECT_EQ(qopt_slice_codes(codes, 4, bits, 1, out), QOPT_ERR_BITS);
    // Bad widths are reported even for empty inputs.
    EXPECT_EQ(qopt_pack_dense(nullptr, 0, bits, nullptr), QOPT_ERR_BITS);

    float x[4] = {0, 1, 2, 3}, s[1] = {1}, z[1] = {0}, w[4];
    qopt_quant_params p = makeQuantParams(bits, QOPT_ASYMMETRIC, 4);
    EXPECT_EQ(qopt_num_groups(1, 4, &p), 0u);
    EXPECT_EQ(qopt_quantize_rtn(x, 1, 4, &p, out, s, z), QOPT_ERR_BITS);
    EXPECT_EQ(qopt_quantize_with_params(x, 1, 4, &p, s, z, out), QOPT_ERR_BITS);
    EXPECT_EQ(qopt_dequantize(codes, 1, 4, &p, s, z, w), QOPT_ERR_BITS);
  }
}

TEST(Errors, BadSliceWidthAndPlanes) {
  uint8_t codes[8] = {}, out[8];
  EXPECT_EQ(qopt_slice_nested(codes, 8, 4, 0, out), QOPT_ERR_BITS);
  EXPECT_EQ(qopt_slice_nested(codes, 8, 4, 5, out), QOPT_ERR_BITS);
  EXPECT_EQ(qopt_slice_codes(codes, 8, 4, 0, out), QOPT_ERR_BITS);
  EXPECT_EQ(qopt_slice_codes(codes, 8, 4, 5, out), QOPT_ERR_BITS);
  EXPECT_EQ(qopt_unpack_nested(codes, 8, 4, 0, out), QOPT_ERR_BITS);
  EXPECT_EQ(qopt_unpack_nested(codes, 8, 4, 5, out), QOPT_ERR_BITS);
  EXPECT_EQ(qopt_nested_slice_bytes(8, 4, 5), 0u);
}

TEST(Errors, CodeOutOfRangeWritesNothing) {
  const uint8_t codes[10] = {0, 1, 2, 3, 0, 1, 2, 3, 4, 0}; // 4 >= 2^2.
  uint8_t out[10];
  std::memset(out, 0x5A, sizeof(out));
  EXPECT_EQ(qopt_pack_dense(codes, 10, 2, out), QOPT_ERR_CODE_RANGE);
  EXPECT_EQ(qopt_pack_nested(codes, 10, 2, out), QOPT_ERR_CODE_RANGE);
  EXPECT_EQ(qopt_slice_codes(codes, 10, 2, 1, out), QOPT_ERR_CODE_RANGE);
  for (uint8_t b : out)
    EXPECT_EQ(b, 0x5A);
  // Fine at 3 bits.
  EXPECT_EQ(qopt_pack_dense(codes, 10, 3, out), QOPT_OK);

  qopt_quant_params p = makeQuantParams(2, QOPT_ASYMMETRIC, 0);
  float s = 1, z = 0, w[10];
  std::memset(w, 0, sizeof(w));
  EXPECT_EQ(qopt_dequantize(codes, 2, 5, &p, &s, &z, w), QOPT_ERR_CODE_RANGE);
  for (float v : w)
    EXPECT_EQ(v, 0.0f);
}

TEST(Errors, GroupMustDivideCols) {
  float x[10] = {}, s[5], z[5], w[10];
  uint8_t codes[10] = {};
  qopt_quant_params p = makeQuantParams(4, QOPT_ASYMMETRIC, 4);
  EXPECT_EQ(qopt_num_groups(1, 10, &p), 0u);
  EXPECT_EQ(qopt_quantize_rtn(x, 1, 10, &p, codes, s, z), QOPT_ERR_GROUP);
  EXPECT_EQ(qopt_quantize_with_params(x, 1, 10, &p, s, z, codes),
            QOPT_ERR_GROUP);
  EXPECT_EQ(qopt_dequantize(codes, 1, 10, &p, s, z, w), QOPT_ERR_GROUP);
  p.group = 20; // Larger than cols.
  EXPECT_EQ(qopt_quantize_rtn(x, 1, 10, &p, codes, s, z), QOPT_ERR_GROUP);
  p.group = 5;
  EXPECT_EQ(qopt_num_groups(1, 10, &p), 2u);
  p.group = 10;
  EXPECT_EQ(qopt_num_groups(3, 10, &p), 3u);
  p.group = 0;
  EXPECT_EQ(qopt_num_groups(3, 10, &p), 1u);
}

TEST(Errors, NullPointers) {
  uint8_t codes[8] = {}, out[8];
  float x[8] = {}, s[1] = {1}, z[1] = {0}, w[8];
  EXPECT_EQ(qopt_pack_dense(nullptr, 8, 2, out), QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_pack_dense(codes, 8, 2, nullptr), QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_unpack_dense(nullptr, 8, 2, out), QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_unpack_dense(codes, 8, 2, nullptr), QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_pack_nested(nullptr, 8, 2, out), QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_unpack_nested(codes, 8, 2, 2, nullptr),
            QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_slice_nested(nullptr, 8, 2, 1, out),
            QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_slice_codes(codes, 8, 2, 1, nullptr),
            QOPT_ERR_INVALID_ARGUMENT);
  // n == 0 accepts NULL.
  EXPECT_EQ(qopt_pack_dense(nullptr, 0, 2, nullptr), QOPT_OK);
  EXPECT_EQ(qopt_unpack_nested(nullptr, 0, 2, 1, nullptr), QOPT_OK);
  EXPECT_EQ(qopt_slice_nested(nullptr, 0, 2, 1, nullptr), QOPT_OK);

  qopt_quant_params p = makeQuantParams(2, QOPT_ASYMMETRIC, 0);
  EXPECT_EQ(qopt_num_groups(1, 8, nullptr), 0u);
  EXPECT_EQ(qopt_quantize_rtn(x, 1, 8, nullptr, codes, s, z),
            QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_quantize_rtn(nullptr, 1, 8, &p, codes, s, z),
            QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_quantize_rtn(x, 1, 8, &p, codes, nullptr, z),
            QOPT_ERR_INVALID_ARGUMENT);
  // Asymmetric needs zeros; symmetric does not.
  EXPECT_EQ(qopt_quantize_rtn(x, 1, 8, &p, codes, s, nullptr),
            QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_quantize_with_params(x, 1, 8, &p, s, nullptr, codes),
            QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_dequantize(codes, 1, 8, &p, s, nullptr, w),
            QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_dequantize(codes, 1, 8, &p, s, z, nullptr),
            QOPT_ERR_INVALID_ARGUMENT);
  p.scheme = QOPT_SYMMETRIC;
  EXPECT_EQ(qopt_quantize_rtn(x, 1, 8, &p, codes, s, nullptr), QOPT_OK);
  EXPECT_EQ(qopt_quantize_with_params(x, 1, 8, &p, s, nullptr, codes), QOPT_OK);
  EXPECT_EQ(qopt_dequantize(codes, 1, 8, &p, s, nullptr, w), QOPT_OK);
}

TEST(Errors, Schemes) {
  float x[4] = {-1, 0, 1, 2}, s[1], z[1], w[4];
  uint8_t codes[4] = {};
  // Symmetric 1-bit has no levels.
  qopt_quant_params p = makeQuantParams(1, QOPT_SYMMETRIC, 4);
  EXPECT_EQ(qopt_num_groups(1, 4, &p), 0u);
  EXPECT_EQ(qopt_quantize_rtn(x, 1, 4, &p, codes, s, z), QOPT_ERR_SCHEME);
  s[0] = 1;
  EXPECT_EQ(qopt_quantize_with_params(x, 1, 4, &p, s, nullptr, codes),
            QOPT_ERR_SCHEME);
  EXPECT_EQ(qopt_dequantize(codes, 1, 4, &p, s, nullptr, w), QOPT_ERR_SCHEME);
  // ... but a 1-bit slice of a symmetric 8-bit parent is fine.
  p.parent_bits = 8;
  EXPECT_EQ(qopt_dequantize(codes, 1, 4, &p, s, nullptr, w), QOPT_OK);
  EXPECT_EQ(w[0], -128.0f);

  // An integer that is not a qopt_scheme (as a C caller could store).
  p = makeQuantParams(4, QOPT_ASYMMETRIC, 4);
  std::underlying_type_t<qopt_scheme> bad = 7;
  std::memcpy(&p.scheme, &bad, sizeof(bad));
  EXPECT_EQ(qopt_quantize_rtn(x, 1, 4, &p, codes, s, z), QOPT_ERR_SCHEME);
  EXPECT_EQ(qopt_num_groups(1, 4, &p), 0u);
}

TEST(Errors, ParentBits) {
  float x[4] = {}, s[1] = {1}, z[1] = {0}, w[4];
  uint8_t codes[4] = {};
  qopt_quant_params p = makeQuantParams(4, QOPT_ASYMMETRIC, 4, 4);
  EXPECT_EQ(qopt_dequantize(codes, 1, 4, &p, s, z, w), QOPT_ERR_BITS);
  p.parent_bits = 3;
  EXPECT_EQ(qopt_dequantize(codes, 1, 4, &p, s, z, w), QOPT_ERR_BITS);
  p.parent_bits = 9;
  EXPECT_EQ(qopt_dequantize(codes, 1, 4, &p, s, z, w), QOPT_ERR_BITS);
  p.parent_bits = 8;
  EXPECT_EQ(qopt_dequantize(codes, 1, 4, &p, s, z, w), QOPT_OK);
  // Quantizers produce parent codes only.
  EXPECT_EQ(qopt_quantize_rtn(x, 1, 4, &p, codes, s, z), QOPT_ERR_BITS);
  EXPECT_EQ(qopt_quantize_with_params(x, 1, 4, &p, s, z, codes), QOPT_ERR_BITS);
}

TEST(Errors, BadScales) {
  float x[4] = {}, z[1] = {0};
  uint8_t codes[4];
  qopt_quant_params p = makeQuantParams(4, QOPT_ASYMMETRIC, 4);
  for (float bad : {0.0f, -1.0f, std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()}) {
    float s[1] = {bad};
    EXPECT_EQ(qopt_quantize_with_params(x, 1, 4, &p, s, z, codes),
              QOPT_ERR_INVALID_ARGUMENT);
  }
}

TEST(Errors, SizeOverflow) {
  uint8_t buf[8] = {};
  float f[8] = {}, s[1] = {1}, z[1] = {0};
  EXPECT_EQ(qopt_nested_size(SIZE_MAX, 8), 0u);
  EXPECT_EQ(qopt_pack_nested(buf, SIZE_MAX, 8, buf), QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_unpack_nested(buf, SIZE_MAX, 8, 8, buf),
            QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_slice_nested(buf, SIZE_MAX, 8, 2, buf),
            QOPT_ERR_INVALID_ARGUMENT);
  qopt_quant_params p = makeQuantParams(4, QOPT_ASYMMETRIC, 0);
  EXPECT_EQ(qopt_num_groups(SIZE_MAX, 2, &p), 0u);
  EXPECT_EQ(qopt_quantize_rtn(f, SIZE_MAX, 2, &p, buf, s, z),
            QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt_dequantize(buf, 2, SIZE_MAX, &p, s, z, f),
            QOPT_ERR_INVALID_ARGUMENT);
}

TEST(Errors, WrapperSizeChecks) {
  std::vector<uint8_t> tooShort(1), out;
  EXPECT_EQ(qopt::runtime::unpackDense(tooShort, 8, 3, out),
            QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt::runtime::unpackNested(tooShort, 9, 1, 1, out),
            QOPT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qopt::runtime::packDense(tooShort, 0, out), QOPT_ERR_BITS);
  qopt::runtime::QuantizedMatrix q;
  std::vector<float> x(3);
  EXPECT_EQ(qopt::runtime::quantizeRTN(
                x, 2, 2, makeQuantParams(4, QOPT_ASYMMETRIC, 0), q),
            QOPT_ERR_INVALID_ARGUMENT);
}

TEST(Errors, CApiSmoke) { EXPECT_EQ(qopt_c_api_smoke(), 0); }

} // namespace
