//===- TensorUtils.h - Small tensor helpers of the lowering -----*- C++ -*-===//
//
// Private helpers shared by the tensor-level conversions (ModelToLinalg,
// QuantizedTypes).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LOWERING_COMMON_TENSORUTILS_H
#define QOPT_LOWERING_COMMON_TENSORUTILS_H

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

namespace mlir::qopt {

/// A `tensor.empty` of `type`; each dynamic dimension d is read from `like`
/// at dimension d + `likeOffset`.
inline Value emptyTensor(OpBuilder &b, Location loc, RankedTensorType type,
                         Value like, int64_t likeOffset = 0) {
  SmallVector<Value> dynamic;
  for (int64_t d = 0, r = type.getRank(); d < r; ++d)
    if (type.isDynamicDim(d))
      dynamic.push_back(tensor::DimOp::create(b, loc, like, d + likeOffset));
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(),
                                 dynamic);
}

} // namespace mlir::qopt

#endif // QOPT_LOWERING_COMMON_TENSORUTILS_H
