//===- LargeBuffer.cpp - Resident buffers on huge pages -------------------===//
//
// See LargeBuffer.h.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/LargeBuffer.h"

#include <sys/mman.h>

void *qopt::model::mapLargeBuffer(size_t bytes) {
  if (bytes == 0)
    return nullptr;
  void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return nullptr;
#if defined(MADV_HUGEPAGE)
  // Advice only: a kernel without THP (or with THP off) refuses it and the
  // buffer keeps 4 KiB pages. Before the first touch, so that the faults
  // that fill the buffer allocate huge pages.
  if (bytes >= kLargeBufferBytes)
    (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return p;
}

void qopt::model::unmapLargeBuffer(void *data, size_t bytes) {
  if (data)
    munmap(data, bytes);
}
