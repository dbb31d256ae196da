//===- ResidentBlob.cpp - Weight blobs on huge pages ----------------------===//
//
// See ResidentBlob.h.
//
//===----------------------------------------------------------------------===//

#include "ResidentBlob.h"

#include "qopt/Tools/ModelImporter.h"

#include "qopt/Model/LargeBuffer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/DenseSet.h"

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

uint64_t mlir::qopt::makeWeightsResident(ModuleOp module) {
  uint64_t moved = 0;
  llvm::DenseSet<AsmResourceBlob *> done;
  module.walk([&](arith::ConstantOp op) {
    auto attr = dyn_cast<DenseResourceElementsAttr>(op.getValue());
    if (!attr)
      return;
    DenseResourceElementsHandle handle = attr.getRawHandle();
    AsmResourceBlob *blob = handle.getBlob();
    if (!blob || !done.insert(blob).second)
      return;
    ArrayRef<char> data = blob->getData();
    AsmResourceBlob copy = residentBlob(data, blob->getDataAlignment());
    moved += data.size();
    handle.getResource()->setBlob(std::move(copy));
  });
  return moved;
}
