//===- StorageTest.cpp - Storage forms and groups ---------------*- C++ -*-===//
//
// Storage.h's per-row dense and nested storage forms: round trips for every
// width and for rows whose length is not a multiple of 8, byte-exact
// agreement with the runtime's qopt_pack_dense / qopt_pack_nested where the
// layouts coincide (one row; rows of a multiple of 8 codes), hand-worked
// bytes of straddling 3-bit codes, partial plane reads, and QuantMath's
// GroupIndexer with a shorter last group.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/Storage.h"
#include "qopt/Runtime/QOptRuntime.h"
#include "qopt/Runtime/QuantMath.h"

#include "gtest/gtest.h"

#include <random>
#include <vector>

using namespace qopt::runtime;

namespace {

std::vector<uint8_t> randomCodes(std::mt19937 &rng, size_t n, unsigned bits) {
  std::vector<uint8_t> codes(n);
  for (auto &q : codes)
    q = static_cast<uint8_t>(rng() & ((1u << bits) - 1u));
  return codes;
}

TEST(Storage, Sizes) {
  EXPECT_EQ(denseRowBytes(172, 3), 65u); // ceil(516 / 8)
  EXPECT_EQ(denseRowBytes(5, 8), 5u);
  EXPECT_EQ(denseRowBytes(3, 3), 2u);
  EXPECT_EQ(nestedRowBytes(172), 22u);
  EXPECT_EQ(nestedRowBytes(8), 1u);
  EXPECT_EQ(denseStorageBytes(4, 5, 3), 8u);
  EXPECT_EQ(nestedStorageBytes(4, 5, 8), 32u);
}

TEST(Storage, DenseRoundTripEveryWidth) {
  std::mt19937 rng(11);
  for (unsigned bits = 1; bits <= 8; ++bits)
    for (size_t rows : {1u, 3u})
      for (size_t cols = 1; cols <= 37; ++cols) {
        std::vector<uint8_t> codes = randomCodes(rng, rows * cols, bits);
        std::vector<uint8_t> packed(denseStorageBytes(rows, cols, bits));
        packDenseRows(codes.data(), rows, cols, bits, packed.data());
        std::vector<uint8_t> back(rows * cols);
        unpackDenseRows(packed.data(), rows, cols, bits, back.data());
        ASSERT_EQ(back, codes) << "bits=" << bits << " cols=" << cols;
      }
}

TEST(Storage, NestedRoundTripEveryWidth) {
  std::mt19937 rng(12);
  for (unsigned bits = 1; bits <= 8; ++bits)
    for (size_t rows : {1u, 3u})
      for (size_t cols = 1; cols <= 37; ++cols) {
        std::vector<uint8_t> codes = randomCodes(rng, rows * cols, bits);
        std::vector<uint8_t> planes(nestedStorageBytes(rows, cols, bits));
        packNestedPlanes(codes.data(), rows, cols, bits, planes.data());
        std::vector<uint8_t> back(rows * cols);
        unpackNestedPlanes(planes.data(), rows, cols, bits, bits, back.data());
        ASSERT_EQ(back, codes) << "bits=" << bits << " cols=" << cols;
      }
}

// Each row is packed on its own, so every row equals qopt_pack_dense of that
// row; when a row fills whole bytes the tensor is qopt_pack_dense of all.
TEST(Storage, DenseMatchesRuntime) {
  std::mt19937 rng(13);
  for (unsigned bits = 1; bits <= 8; ++bits)
    for (size_t cols : {1u, 5u, 8u, 13u, 16u, 172u}) {
      size_t rows = 3;
      std::vector<uint8_t> codes = randomCodes(rng, rows * cols, bits);
      std::vector<uint8_t> packed(denseStorageBytes(rows, cols, bits));
      packDenseRows(codes.data(), rows, cols, bits, packed.data());
      size_t rowBytes = denseRowBytes(cols, bits);
      ASSERT_EQ(rowBytes, qopt_dense_size(cols, bits));
      for (size_t r = 0; r < rows; ++r) {
        std::vector<uint8_t> row(rowBytes);
        ASSERT_EQ(
            qopt_pack_dense(codes.data() + r * cols, cols, bits, row.data()),
            QOPT_OK);
        EXPECT_EQ(std::vector<uint8_t>(packed.begin() + r * rowBytes,
                                       packed.begin() + (r + 1) * rowBytes),
                  row)
            << "bits=" << bits << " cols=" << cols << " row=" << r;
      }
      if (cols * bits % 8 == 0) {
        std::vector<uint8_t> whole(qopt_dense_size(rows * cols, bits));
        ASSERT_EQ(
            qopt_pack_dense(codes.data(), rows * cols, bits, whole.data()),
            QOPT_OK);
        EXPECT_EQ(packed, whole) << "bits=" << bits << " cols=" << cols;
      }
    }
}

// One row of planes is qopt_pack_nested's layout; with rows of a multiple of
// 8 codes, [plane][row][byte] is qopt_pack_nested of the whole tensor.
TEST(Storage, NestedMatchesRuntime) {
  std::mt19937 rng(14);
  for (unsigned bits = 1; bits <= 8; ++bits)
    for (size_t cols : {3u, 8u, 13u, 24u}) {
      for (size_t rows : {1u, 4u}) {
        if (rows > 1 && cols % 8 != 0)
          continue;
        std::vector<uint8_t> codes = randomCodes(rng, rows * cols, bits);
        std::vector<uint8_t> planes(nestedStorageBytes(rows, cols, bits));
        packNestedPlanes(codes.data(), rows, cols, bits, planes.data());
        std::vector<uint8_t> runtime(qopt_nested_size(rows * cols, bits));
        ASSERT_EQ(
            qopt_pack_nested(codes.data(), rows * cols, bits, runtime.data()),
            QOPT_OK);
        EXPECT_EQ(planes, runtime) << "bits=" << bits << " cols=" << cols;
        // Partial reads agree with the runtime's too.
        for (unsigned p = 1; p <= bits; ++p) {
          std::vector<uint8_t> mine(rows * cols), theirs(rows * cols);
          unpackNestedPlanes(planes.data(), rows, cols, bits, p, mine.data());
          ASSERT_EQ(qopt_unpack_nested(runtime.data(), rows * cols, bits, p,
                                       theirs.data()),
                    QOPT_OK);
          EXPECT_EQ(mine, theirs) << "bits=" << bits << " planes=" << p;
        }
      }
    }
}

// Rows of three 3-bit codes; each row starts a new bit stream. Row 0:
// 5 | 3 << 3 | 7 << 6 = 0x1DD -> bytes 0xDD, 0x01 (code 2 straddles).
TEST(Storage, DenseThreeBitBytes) {
  std::vector<uint8_t> codes = {5, 3, 7, 1, 2, 4};
  std::vector<uint8_t> packed(denseStorageBytes(2, 3, 3));
  packDenseRows(codes.data(), 2, 3, 3, packed.data());
  // Row 1: 1 | 2 << 3 | 4 << 6 = 0x111 -> 0x11, 0x01.
  EXPECT_EQ(packed, (std::vector<uint8_t>{0xDD, 0x01, 0x11, 0x01}));
}

// Two rows of 3 2-bit codes; plane 0 = high bits, plane 1 = low bits, each
// [row][byte].
TEST(Storage, NestedPlaneBytes) {
  std::vector<uint8_t> codes = {2, 1, 3, 0, 3, 1};
  std::vector<uint8_t> planes(nestedStorageBytes(2, 3, 2));
  packNestedPlanes(codes.data(), 2, 3, 2, planes.data());
  EXPECT_EQ(planes, (std::vector<uint8_t>{0b101, 0b010, 0b110, 0b110}));
  std::vector<uint8_t> top(6);
  unpackNestedPlanes(planes.data(), 2, 3, 2, 1, top.data());
  EXPECT_EQ(top, (std::vector<uint8_t>{2, 0, 2, 0, 2, 0}));
}

// stories260K's down projection: 172 inputs in groups of 32 -> 6 groups per
// row, the last of 12.
TEST(GroupIndexer, ShorterLastGroup) {
  int64_t shape[2] = {2, 172};
  GroupIndexer g(shape, 2, 1, 32);
  EXPECT_EQ(g.numGroups(), 12);
  EXPECT_EQ(g.scaleIndex(0), 0);
  EXPECT_EQ(g.scaleIndex(159), 4);
  EXPECT_EQ(g.scaleIndex(160), 5);
  EXPECT_EQ(g.scaleIndex(171), 5);
  EXPECT_EQ(g.scaleIndex(172), 6);
  EXPECT_EQ(g.scaleIndex(343), 11);
  EXPECT_EQ(g.first(5), 160);
  EXPECT_EQ(g.count(5), 12);
  EXPECT_EQ(g.count(4), 32);
  EXPECT_EQ(g.first(6), 172);
  EXPECT_EQ(g.first(11), 172 + 160);
  EXPECT_EQ(g.count(11), 12);
  EXPECT_EQ(g.stride(), 1);
  // Every element is in exactly the group scaleIndex names.
  for (int64_t grp = 0; grp < g.numGroups(); ++grp)
    for (int64_t k = 0; k < g.count(grp); ++k)
      EXPECT_EQ(g.scaleIndex(g.first(grp) + k * g.stride()), grp);
}

// Groups along axis 0 of [5, 3] with G = 2: 3 groups per column, last of 1.
TEST(GroupIndexer, LeadingAxis) {
  int64_t shape[2] = {5, 3};
  GroupIndexer g(shape, 2, 0, 2);
  EXPECT_EQ(g.numGroups(), 9);
  EXPECT_EQ(g.stride(), 3);
  int64_t total = 0;
  for (int64_t grp = 0; grp < g.numGroups(); ++grp) {
    total += g.count(grp);
    for (int64_t k = 0; k < g.count(grp); ++k)
      EXPECT_EQ(g.scaleIndex(g.first(grp) + k * g.stride()), grp);
  }
  EXPECT_EQ(total, 15);
  EXPECT_EQ(g.count(8), 1);
  GroupIndexer t = GroupIndexer::perTensor(15);
  EXPECT_EQ(t.numGroups(), 1);
  EXPECT_EQ(t.count(0), 15);
  EXPECT_EQ(t.scaleIndex(14), 0);
}

} // namespace
