//===- SliceTest.cpp - Matryoshka slicing tests -----------------*- C++ -*-===//
//
// Checks sliceCode against the DESIGN.md formula evaluated independently in
// doubles, for every code width, code and slice width; checks that
// qopt_slice_nested and qopt_slice_codes agree with it, and that
// qopt_slice_nested reads only the top r+1 bit planes.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/QOptRuntime.h"
#include "qopt/Runtime/QuantMath.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

using namespace qopt::runtime;

namespace {

/// DESIGN.md: S(q, r) = clamp(round(q / 2^(c-r)), 0, 2^r - 1), round half-up,
/// evaluated in doubles (not with QuantMath's integer trick).
uint32_t referenceSlice(uint32_t q, unsigned c, unsigned r) {
  double v = std::floor(
      static_cast<double>(q) / std::ldexp(1.0, static_cast<int>(c - r)) + 0.5);
  double top = std::ldexp(1.0, static_cast<int>(r)) - 1.0;
  return static_cast<uint32_t>(std::clamp(v, 0.0, top));
}

/// All codes 0 .. 2^c-1, repeated and cut at a length that is not a multiple
/// of 8, so partial plane bytes are exercised.
std::vector<uint8_t> allCodes(unsigned c) {
  uint32_t count = 1u << c;
  std::vector<uint8_t> codes(count * 3 + 5);
  for (size_t i = 0; i < codes.size(); ++i)
    codes[i] = static_cast<uint8_t>(i % count);
  return codes;
}

TEST(Slice, ExhaustiveSliceCodeMatchesDesignFormula) {
  for (unsigned c = 1; c <= 8; ++c)
    for (uint32_t q = 0; q < (1u << c); ++q)
      for (unsigned r = 1; r <= c; ++r) {
        uint32_t expected = referenceSlice(q, c, r);
        ASSERT_EQ(sliceCode(q, c, r), expected)
            << "c=" << c << " q=" << q << " r=" << r;
        ASSERT_EQ(sliceValue(q, c, r), expected << (c - r));
      }
}

TEST(Slice, WorkedValues) {
  EXPECT_EQ(sliceCode(24, 8, 2), 0u);   // 24/64 = 0.375.
  EXPECT_EQ(sliceCode(24, 8, 4), 2u);   // 24/16 = 1.5 rounds up.
  EXPECT_EQ(sliceCode(2, 4, 2), 1u);    // Re-slicing that 4-bit 2: 2/4 = 0.5.
  EXPECT_EQ(sliceCode(255, 8, 4), 15u); // 15.9375 -> 16, clamped.
  EXPECT_EQ(sliceCode(248, 8, 4), 15u); // 15.5 -> 16, clamped.
  EXPECT_EQ(sliceCode(8, 8, 4), 1u);    // 0.5 rounds up.
  EXPECT_EQ(sliceCode(7, 8, 4), 0u);    // 0.4375.
  EXPECT_EQ(sliceCode(200, 8, 8), 200u);
  EXPECT_EQ(sliceValue(24, 8, 4), 32u);
  // Double rounding: 8 -> 4 -> 2 bits differs from 8 -> 2 bits.
  EXPECT_NE(sliceCode(sliceCode(24, 8, 4), 4, 2), sliceCode(24, 8, 2));

  uint8_t in[] = {24, 24, 255, 248, 8};
  uint8_t out[5];
  ASSERT_EQ(qopt_slice_codes(in, 5, 8, 4, out), QOPT_OK);
  EXPECT_EQ(out[0], 2);
  EXPECT_EQ(out[2], 15);
  EXPECT_EQ(out[3], 15);
  EXPECT_EQ(out[4], 1);
  ASSERT_EQ(qopt_slice_codes(in, 1, 8, 2, out), QOPT_OK);
  EXPECT_EQ(out[0], 0);
}

TEST(Slice, SliceCodesExhaustive) {
  for (unsigned c = 1; c <= 8; ++c) {
    std::vector<uint8_t> codes = allCodes(c);
    for (unsigned r = 1; r <= c; ++r) {
      std::vector<uint8_t> out(codes.size());
      ASSERT_EQ(qopt_slice_codes(codes.data(), codes.size(), c, r, out.data()),
                QOPT_OK);
      for (size_t i = 0; i < codes.size(); ++i)
        ASSERT_EQ(out[i], referenceSlice(codes[i], c, r));
      // In place.
      std::vector<uint8_t> inPlace = codes;
      ASSERT_EQ(qopt_slice_codes(inPlace.data(), inPlace.size(), c, r,
                                 inPlace.data()),
                QOPT_OK);
      EXPECT_EQ(inPlace, out);
    }
  }
}

TEST(Slice, SliceNestedExhaustiveAndReadsOnlyTopPlanes) {
  std::mt19937 rng(1234);
  for (unsigned c = 1; c <= 8; ++c) {
    std::vector<uint8_t> codes = allCodes(c);
    size_t n = codes.size();
    size_t plane = qopt_nested_plane_size(n);
    std::vector<uint8_t> nested(qopt_nested_size(n, c));
    ASSERT_EQ(qopt_pack_nested(codes.data(), n, c, nested.data()), QOPT_OK);

    for (unsigned r = 1; r <= c; ++r) {
      unsigned used = std::min(r + 1, c);
      ASSERT_EQ(qopt_nested_slice_bytes(n, c, r), used * plane);
      std::vector<uint8_t> out(n);
      ASSERT_EQ(qopt_slice_nested(nested.data(), n, c, r, out.data()), QOPT_OK);
      for (size_t i = 0; i < n; ++i)
        ASSERT_EQ(out[i], referenceSlice(codes[i], c, r))
            << "c=" << c << " r=" << r << " q=" << int(codes[i]);

      // Garbage in the planes below the top r+1 changes nothing.
      for (int variant = 0; variant < 3; ++variant) {
        std::vector<uint8_t> dirty = nested;
        for (size_t b = used * plane; b < dirty.size(); ++b)
          dirty[b] = variant == 0   ? 0xFF
                     : variant == 1 ? 0x00
                                    : static_cast<uint8_t>(rng());
        std::vector<uint8_t> dirtyOut(n, 0xAA);
        ASSERT_EQ(qopt_slice_nested(dirty.data(), n, c, r, dirtyOut.data()),
                  QOPT_OK);
        ASSERT_EQ(dirtyOut, out) << "c=" << c << " r=" << r;
      }

      // A buffer holding only the top planes is enough (under ASan any read
      // past it would be reported).
      std::unique_ptr<uint8_t[]> top(new uint8_t[used * plane]);
      std::memcpy(top.get(), nested.data(), used * plane);
      std::vector<uint8_t> topOut(n);
      ASSERT_EQ(qopt_slice_nested(top.get(), n, c, r, topOut.data()), QOPT_OK);
      ASSERT_EQ(topOut, out);
    }
  }
}

TEST(Slice, SliceNestedLargeMatchesSliceCodes) {
  // Longer than the runtime's internal chunk, with a partial last byte.
  std::mt19937 rng(99);
  size_t n = 3 * 4096 + 13;
  std::vector<uint8_t> codes(n);
  for (auto &q : codes)
    q = static_cast<uint8_t>(rng());
  std::vector<uint8_t> nested(qopt_nested_size(n, 8));
  ASSERT_EQ(qopt_pack_nested(codes.data(), n, 8, nested.data()), QOPT_OK);
  for (unsigned r : {1u, 2u, 3u, 4u, 6u, 7u, 8u}) {
    std::vector<uint8_t> a(n), b(n);
    ASSERT_EQ(qopt_slice_nested(nested.data(), n, 8, r, a.data()), QOPT_OK);
    ASSERT_EQ(qopt_slice_codes(codes.data(), n, 8, r, b.data()), QOPT_OK);
    ASSERT_EQ(a, b) << "r=" << r;
  }
}

} // namespace
