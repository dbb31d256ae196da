//===- ResidentBlob.h - Weight blobs on huge pages --------------*- C++ -*-===//
//
// The resource blobs the importer copies weights into: the compiled model
// streams them every forward pass, so large ones live in a mapping advised
// to use huge pages (qopt/Model/LargeBuffer.h), smaller ones on the heap.
// makeWeightsResident (qopt/Tools/ModelImporter.h) moves a parsed module's
// weights there too.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_LIB_IMPORT_RESIDENTBLOB_H
#define QOPT_TOOLS_LIB_IMPORT_RESIDENTBLOB_H

#include "mlir/IR/AsmState.h"

namespace mlir::qopt {

/// A copy of `bytes`, aligned to `align`, that the blob owns.
AsmResourceBlob residentBlob(ArrayRef<char> bytes, size_t align);

/// A copy of `values`.
template <typename T> AsmResourceBlob residentBlob(ArrayRef<T> values) {
  return residentBlob(
      ArrayRef<char>(reinterpret_cast<const char *>(values.data()),
                     values.size() * sizeof(T)),
      alignof(T));
}

} // namespace mlir::qopt

#endif // QOPT_TOOLS_LIB_IMPORT_RESIDENTBLOB_H
