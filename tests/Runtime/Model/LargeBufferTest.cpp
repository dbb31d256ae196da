//===- LargeBufferTest.cpp - Resident buffers on huge pages ---------------===//
//
// mapLargeBuffer: zero-filled, writable, page-aligned memory of the size
// asked for, small or large (the huge-page advice is best effort and not
// observable here); zero bytes map nothing.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/LargeBuffer.h"

#include "gtest/gtest.h"

#include <cstdint>
#include <unistd.h>

using namespace qopt::model;

namespace {

void checkBuffer(size_t bytes) {
  auto *p = static_cast<uint8_t *>(mapLargeBuffer(bytes));
  ASSERT_NE(p, nullptr) << bytes << " bytes";
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % uintptr_t(sysconf(_SC_PAGESIZE)),
            0u);
  size_t nonzero = 0;
  for (size_t i = 0; i < bytes; i += 4093)
    nonzero += p[i] != 0;
  nonzero += p[bytes - 1] != 0;
  EXPECT_EQ(nonzero, 0u) << "a fresh buffer is zero-filled";
  for (size_t i = 0; i < bytes; i += 4093)
    p[i] = uint8_t(i * 7 + 1);
  for (size_t i = 0; i < bytes; i += 4093)
    ASSERT_EQ(p[i], uint8_t(i * 7 + 1)) << "at " << i;
  p[bytes - 1] = 0xA5;
  EXPECT_EQ(p[bytes - 1], 0xA5);
  unmapLargeBuffer(p, bytes);
}

TEST(LargeBuffer, SmallAndLarge) {
  checkBuffer(1);
  checkBuffer(kLargeBufferBytes - 1);
  checkBuffer(kLargeBufferBytes);
  checkBuffer(3 * kLargeBufferBytes + 12345);
}

TEST(LargeBuffer, ZeroBytesMapNothing) {
  EXPECT_EQ(mapLargeBuffer(0), nullptr);
  unmapLargeBuffer(nullptr, 0); // a no-op
}

} // namespace
