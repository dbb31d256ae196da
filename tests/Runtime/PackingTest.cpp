//===- PackingTest.cpp - Dense and nested layout tests ----------*- C++ -*-===//
//
// Round trips of the dense and nested layouts for every width and many
// lengths, byte-exact comparisons with naive bit-by-bit reference packers
// written here, and hand-worked byte images of small examples.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/QOptRuntime.h"
#include "qopt/Runtime/Runtime.h"

#include "gtest/gtest.h"

#include <random>
#include <vector>

namespace {

/// Naive dense packer: bit j of code i goes to stream bit i*bits + j.
std::vector<uint8_t> referenceDense(const std::vector<uint8_t> &codes,
                                    unsigned bits) {
  std::vector<uint8_t> out((codes.size() * bits + 7) / 8, 0);
  for (size_t i = 0; i < codes.size(); ++i)
    for (unsigned j = 0; j < bits; ++j)
      if (codes[i] >> j & 1) {
        size_t bit = i * bits + j;
        out[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
      }
  return out;
}

/// Naive nested packer: plane k holds bit bits-1-k of each code.
std::vector<uint8_t> referenceNested(const std::vector<uint8_t> &codes,
                                     unsigned bits) {
  size_t plane = (codes.size() + 7) / 8;
  std::vector<uint8_t> out(plane * bits, 0);
  for (unsigned k = 0; k < bits; ++k)
    for (size_t i = 0; i < codes.size(); ++i)
      if (codes[i] >> (bits - 1 - k) & 1)
        out[k * plane + i / 8] |= static_cast<uint8_t>(1u << (i % 8));
  return out;
}

std::vector<uint8_t> randomCodes(std::mt19937 &rng, size_t n, unsigned bits) {
  std::vector<uint8_t> codes(n);
  for (auto &q : codes)
    q = static_cast<uint8_t>(rng() & ((1u << bits) - 1u));
  return codes;
}

TEST(Packing, Sizes) {
  EXPECT_EQ(qopt_dense_size(0, 3), 0u);
  EXPECT_EQ(qopt_dense_size(3, 3), 2u);
  EXPECT_EQ(qopt_dense_size(8, 3), 3u);
  EXPECT_EQ(qopt_dense_size(9, 3), 4u);
  EXPECT_EQ(qopt_dense_size(5, 8), 5u);
  EXPECT_EQ(qopt_dense_size(5, 1), 1u);
  EXPECT_EQ(qopt_dense_size(SIZE_MAX, 8), SIZE_MAX);
  EXPECT_EQ(qopt_nested_plane_size(0), 0u);
  EXPECT_EQ(qopt_nested_plane_size(1), 1u);
  EXPECT_EQ(qopt_nested_plane_size(8), 1u);
  EXPECT_EQ(qopt_nested_plane_size(9), 2u);
  EXPECT_EQ(qopt_nested_size(9, 2), 4u);
  EXPECT_EQ(qopt_nested_size(17, 8), 24u);
  EXPECT_EQ(qopt_nested_slice_bytes(17, 8, 2), 9u);
  EXPECT_EQ(qopt_nested_slice_bytes(17, 8, 7), 24u);
  EXPECT_EQ(qopt_nested_slice_bytes(17, 8, 8), 24u);
  EXPECT_EQ(qopt_nested_slice_bytes(17, 8, 0), 0u);
}

TEST(Packing, DenseRoundTripAllWidthsAndLengths) {
  std::mt19937 rng(7);
  for (unsigned bits = 1; bits <= 8; ++bits)
    for (size_t n = 0; n <= 70; ++n) {
      std::vector<uint8_t> codes = randomCodes(rng, n, bits);
      // Exact-size buffers: ASan catches any byte read or written past them.
      std::vector<uint8_t> packed(qopt_dense_size(n, bits));
      ASSERT_EQ(qopt_pack_dense(codes.data(), n, bits, packed.data()), QOPT_OK);
      ASSERT_EQ(packed, referenceDense(codes, bits))
          << "bits=" << bits << " n=" << n;
      std::vector<uint8_t> back(n);
      ASSERT_EQ(qopt_unpack_dense(packed.data(), n, bits, back.data()),
                QOPT_OK);
      ASSERT_EQ(back, codes) << "bits=" << bits << " n=" << n;
    }
}

TEST(Packing, NestedRoundTripAllWidthsAndLengths) {
  std::mt19937 rng(8);
  for (unsigned bits = 1; bits <= 8; ++bits)
    for (size_t n = 0; n <= 70; ++n) {
      std::vector<uint8_t> codes = randomCodes(rng, n, bits);
      std::vector<uint8_t> nested(qopt_nested_size(n, bits));
      ASSERT_EQ(qopt_pack_nested(codes.data(), n, bits, nested.data()),
                QOPT_OK);
      ASSERT_EQ(nested, referenceNested(codes, bits))
          << "bits=" << bits << " n=" << n;
      std::vector<uint8_t> back(n);
      ASSERT_EQ(qopt_unpack_nested(nested.data(), n, bits, bits, back.data()),
                QOPT_OK);
      ASSERT_EQ(back, codes) << "bits=" << bits << " n=" << n;

      // Fewer planes: the low bits read as zero.
      for (unsigned planes = 1; planes <= bits; ++planes) {
        std::vector<uint8_t> partial(n, 0xEE);
        ASSERT_EQ(
            qopt_unpack_nested(nested.data(), n, bits, planes, partial.data()),
            QOPT_OK);
        uint8_t keep = static_cast<uint8_t>(0xFFu << (bits - planes));
        for (size_t i = 0; i < n; ++i)
          ASSERT_EQ(partial[i], codes[i] & keep)
              << "bits=" << bits << " planes=" << planes;
      }
    }
}

TEST(Packing, LargeRoundTrip) {
  std::mt19937 rng(9);
  size_t n = 100003;
  for (unsigned bits : {1u, 2u, 3u, 4u, 5u, 8u}) {
    std::vector<uint8_t> codes = randomCodes(rng, n, bits);
    std::vector<uint8_t> packed, back;
    ASSERT_EQ(qopt::runtime::packDense(codes, bits, packed), QOPT_OK);
    ASSERT_EQ(qopt::runtime::unpackDense(packed, n, bits, back), QOPT_OK);
    ASSERT_EQ(back, codes);
    ASSERT_EQ(qopt::runtime::packNested(codes, bits, packed), QOPT_OK);
    ASSERT_EQ(qopt::runtime::unpackNested(packed, n, bits, bits, back),
              QOPT_OK);
    ASSERT_EQ(back, codes);
  }
}

TEST(Packing, DenseThreeBitWorkedExample) {
  // 5 | 3 << 3 | 7 << 6 = 0b1'1101'1101 = 0x1DD.
  const uint8_t codes[] = {5, 3, 7};
  uint8_t packed[2] = {0xAA, 0xAA};
  ASSERT_EQ(qopt_pack_dense(codes, 3, 3, packed), QOPT_OK);
  EXPECT_EQ(packed[0], 0xDD);
  EXPECT_EQ(packed[1], 0x01); // Unused high bits are zero.

  // Eight 3-bit codes fill exactly three bytes:
  // 0b000'111'110'101'100'011'010'001 = 0x1F58D1, stored little-endian.
  const uint8_t eight[] = {1, 2, 3, 4, 5, 6, 7, 0};
  uint8_t packed8[3];
  ASSERT_EQ(qopt_pack_dense(eight, 8, 3, packed8), QOPT_OK);
  EXPECT_EQ(packed8[0], 0xD1); // 0b11'010'001
  EXPECT_EQ(packed8[1], 0x58); // 0b0'101'100'0
  EXPECT_EQ(packed8[2], 0x1F); // 0b000'111'11

  uint8_t back[8];
  ASSERT_EQ(qopt_unpack_dense(packed8, 8, 3, back), QOPT_OK);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(back[i], eight[i]);
  // Garbage in the unused high bits of the last byte is ignored.
  uint8_t dirty[2] = {0xDD, 0xFF};
  ASSERT_EQ(qopt_unpack_dense(dirty, 3, 3, back), QOPT_OK);
  EXPECT_EQ(back[0], 5);
  EXPECT_EQ(back[1], 3);
  EXPECT_EQ(back[2], 7);
}

TEST(Packing, NestedTwoBitWorkedExample) {
  // Plane 0 (MSB): 0 0 1 1 1 1 0 0 | 1 -> 0x3C, 0x01.
  // Plane 1 (LSB): 0 1 0 1 1 0 1 0 | 0 -> 0x5A, 0x00.
  const uint8_t codes[] = {0, 1, 2, 3, 3, 2, 1, 0, 2};
  uint8_t nested[4] = {0xAA, 0xAA, 0xAA, 0xAA};
  ASSERT_EQ(qopt_nested_size(9, 2), 4u);
  ASSERT_EQ(qopt_pack_nested(codes, 9, 2, nested), QOPT_OK);
  EXPECT_EQ(nested[0], 0x3C);
  EXPECT_EQ(nested[1], 0x01);
  EXPECT_EQ(nested[2], 0x5A);
  EXPECT_EQ(nested[3], 0x00);

  uint8_t back[9];
  ASSERT_EQ(qopt_unpack_nested(nested, 9, 2, 1, back), QOPT_OK);
  const uint8_t msbOnly[] = {0, 0, 2, 2, 2, 2, 0, 0, 2};
  for (int i = 0; i < 9; ++i)
    EXPECT_EQ(back[i], msbOnly[i]) << i;
  ASSERT_EQ(qopt_unpack_nested(nested, 9, 2, 2, back), QOPT_OK);
  for (int i = 0; i < 9; ++i)
    EXPECT_EQ(back[i], codes[i]) << i;
}

TEST(Packing, EightBitIsIdentity) {
  std::vector<uint8_t> codes = {0, 1, 127, 128, 255};
  std::vector<uint8_t> packed;
  ASSERT_EQ(qopt::runtime::packDense(codes, 8, packed), QOPT_OK);
  EXPECT_EQ(packed, codes);
}

} // namespace
