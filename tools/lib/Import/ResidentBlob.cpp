//===- ResidentBlob.cpp - Weight blobs on huge pages ----------------------===//
//
// See ResidentBlob.h.
//
//===----------------------------------------------------------------------===//

#include "ResidentBlob.h"

#include "qopt/Model/LargeBuffer.h"

#include <cstring>

namespace model = ::qopt::model;

mlir::AsmResourceBlob mlir::qopt::residentBlob(ArrayRef<char> bytes,
                                               size_t align) {
  if (bytes.size() >= model::kLargeBufferBytes)
    if (void *p = model::mapLargeBuffer(bytes.size())) {
      std::memcpy(p, bytes.data(), bytes.size());
      return AsmResourceBlob(
          ArrayRef<char>(static_cast<const char *>(p), bytes.size()), align,
          [](void *data, size_t size, size_t) {
            model::unmapLargeBuffer(data, size);
          },
          /*dataIsMutable=*/true);
    }
  return HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, align);
}
