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
/// elements (small hand-written weights stay readable), else (a blob, or no
/// `like`) a dense_resource blob named `name`.
ElementsAttr makeFloatWeight(ElementsAttr like, RankedTensorType type,
                             StringRef name, ArrayRef<double> values);

/// The resource key new blobs derived from `weight` are named after: the
/// weight's own key (without the `.codes` suffix of quantized codes), or for
/// dense elements `layers.<layer>.<role>` /
/// `<role>` from `user`'s qopt.layer / qopt.role tags.
std::string blobBaseName(ElementsAttr weight, Operation *user);

/// The constant elements defining `value`, or null.
ElementsAttr constantElements(Value value);

/// A weight operand whose values a pass can compute at compile time: a float
/// constant, or a quantized weight built from constants (`qopt.dequantize`
/// of a `qopt.pack` of constants, as qopt-import emits for GGUF Q8_0/Q4_0
/// matrices, or such a `qopt.pack` itself as an embedding table).
struct WeightValue {
  /// The values' float type and shape (a quantized weight's expressed
  /// type), 2-D and static.
  RankedTensorType type;
  /// Identifies the values: the constant, or the pack's codes constant.
  Attribute key;
  /// The constant elements, or null for a quantized weight.
  ElementsAttr constant;
  /// The pack of a quantized weight, or null.
  Operation *pack = nullptr;

  /// The values as f32 (a quantized weight dequantized); fails for elided
  /// or malformed data.
  FailureOr<SmallVector<float>> read() const;
};

/// The WeightValue of `weight`, or std::nullopt if it is not a static 2-D
/// f32/f16/bf16 value computable at compile time.
std::optional<WeightValue> getWeightValue(Value weight);

/// Replaces `use`'s weight by a constant of `attr`, inserted before the
/// user, and erases the old weight's defining ops (a constant, or a
/// dequantize / pack and its constants) that are left without users.
void replaceWeight(OpOperand &use, ElementsAttr attr);

/// True if `attr` is a float constant whose every element is exactly 1.0.
bool isAllOnes(ElementsAttr attr);

} // namespace qopt
} // namespace mlir

#endif // QOPT_PASSES_LIB_WEIGHTCONSTANTS_H
