//===- LargeBuffer.h - Resident buffers on huge pages -----------*- C++ -*-===//
//
// Memory for the buffers that stay resident for a whole run and are
// streamed by every forward pass: weights copied out of a checkpoint and
// the KV cache.
//
// Each is an anonymous mapping advised to use transparent huge pages
// (Linux `MADV_HUGEPAGE`, honoured when the system's THP mode is `always`
// or `madvise`). With 4 KiB pages, a 7B-shaped model's weights take
// hundreds of thousands of page-table entries. Where the hypervisor keeps
// shadow page tables (PVM guests, for example), a long prefill evicts the
// weights' entries, and the next decode steps spend 5-20x their time
// refilling them. 2 MiB pages take 512 times fewer entries.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODEL_LARGEBUFFER_H
#define QOPT_MODEL_LARGEBUFFER_H

#include <cstddef>
#include <utility>

namespace qopt::model {

/// Buffers of at least this many bytes are mapped and advised; smaller ones
/// would not fill one huge page.
constexpr size_t kLargeBufferBytes = size_t(2) << 20;

/// Maps `bytes` (> 0) of zero-filled anonymous memory, page-aligned, asking
/// for transparent huge pages when `bytes >= kLargeBufferBytes`. Returns
/// nullptr when the mapping fails (errno says why). Free with
/// unmapLargeBuffer.
void *mapLargeBuffer(size_t bytes);

/// Unmaps a buffer of mapLargeBuffer (nullptr is a no-op).
void unmapLargeBuffer(void *data, size_t bytes);

/// Owns a buffer of mapLargeBuffer; move-only.
class LargeBuffer {
public:
  LargeBuffer() = default;
  /// Maps `bytes`; data() is nullptr when that fails (errno says why).
  explicit LargeBuffer(size_t bytes)
      : ptr(static_cast<char *>(mapLargeBuffer(bytes))), size(bytes) {}
  LargeBuffer(LargeBuffer &&other) noexcept
      : ptr(std::exchange(other.ptr, nullptr)),
        size(std::exchange(other.size, 0)) {}
  LargeBuffer &operator=(LargeBuffer &&other) noexcept {
    std::swap(ptr, other.ptr);
    std::swap(size, other.size);
    return *this;
  }
  LargeBuffer(const LargeBuffer &) = delete;
  LargeBuffer &operator=(const LargeBuffer &) = delete;
  ~LargeBuffer() { unmapLargeBuffer(ptr, size); }

  char *data() const { return ptr; }
  size_t bytes() const { return size; }

private:
  char *ptr = nullptr;
  size_t size = 0;
};

} // namespace qopt::model

#endif // QOPT_MODEL_LARGEBUFFER_H
