//===- WeightConstants.h - Reading and writing weight constants -*- C++ -*-===//
//
// Private helpers of the weight passes (qopt-quantize-weights,
// qopt-fuse-norms, qopt-fold-rotations): float weight constants read as f32
// values whatever their storage (dense elements or a dense_resource blob of
// f32, f16 or bf16), and new constants written as dense_resource blobs in a
// given float type, so bytecode stores them as resources and qopt-run binds
// them by address like the imported weights.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_PASSES_LIB_WEIGHTCONSTANTS_H
#define QOPT_PASSES_LIB_WEIGHTCONSTANTS_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir {
namespace qopt {

/// True for the float element types weights are stored in (f32, f16, bf16).
bool isWeightFloat(Type type);

/// Reads a float constant (dense elements or a dense_resource blob of f32,
/// f16 or bf16) as f32 values; fails for an elided or malformed blob.
FailureOr<SmallVector<float>> readWeight(ElementsAttr attr);

/// The f32 value of `value` rounded to `type` (f32, f16 or bf16).
float roundTo(double value, FloatType type);

/// A dense_resource blob of `type` named `name` (made unique by the resource
/// manager) holding `values` rounded to `type`'s element type.
DenseResourceElementsAttr makeFloatBlob(RankedTensorType type, StringRef name,
                                        ArrayRef<float> values);
DenseResourceElementsAttr makeFloatBlob(RankedTensorType type, StringRef name,
                                        ArrayRef<double> values);

/// A new weight constant of `type` holding `values` rounded to its element
/// type, in the storage form of `like`: dense elements if `like` is dense
/// elements (small hand-written weights stay readable), else a
/// dense_resource blob named `name`.
ElementsAttr makeFloatWeight(ElementsAttr like, RankedTensorType type,
                             StringRef name, ArrayRef<double> values);

/// The resource key new blobs derived from `weight` are named after: the
/// weight's own key, or for dense elements `layers.<layer>.<role>` /
/// `<role>` from `user`'s qopt.layer / qopt.role tags.
std::string blobBaseName(ElementsAttr weight, Operation *user);

/// True if `attr` is a float constant whose every element is exactly 1.0.
bool isAllOnes(ElementsAttr attr);

} // namespace qopt
} // namespace mlir

#endif // QOPT_PASSES_LIB_WEIGHTCONSTANTS_H
