//===- QOptAttrs.td - qopt enums and attributes ------------*- tablegen -*-===//
//
// Enumerations that parameterize !qopt.qtensor: the zero-point scheme, the
// granularity of scales, and the storage layout of the codes.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_QOPTATTRS_TD
#define QOPT_DIALECT_QOPT_QOPTATTRS_TD

include "qopt/Dialect/QOpt/QOptDialect.td"
include "mlir/IR/EnumAttr.td"

def QOpt_Scheme : I32EnumAttr<"QuantScheme",
    "zero-point scheme of a quantized tensor", [
      I32EnumAttrCase<"Symmetric", 0, "sym">,
      I32EnumAttrCase<"Asymmetric", 1, "asym">
    ]> {
  let cppNamespace = "::mlir::qopt";
  let genSpecializedAttr = 0;
  let description = [{
    `sym`: the zero point is fixed at 2^(p-1) (p = parent width) and is not an
    operand. `asym`: one zero point per group, carried as an SSA tensor.
  }];
}

def QOpt_Granularity : I32EnumAttr<"Granularity",
    "how many elements share one scale", [
      I32EnumAttrCase<"PerTensor", 0, "per_tensor">,
      I32EnumAttrCase<"PerChannel", 1, "per_channel">,
      I32EnumAttrCase<"Group", 2, "group">
    ]> {
  let cppNamespace = "::mlir::qopt";
  let genSpecializedAttr = 0;
}

def QOpt_Layout : I32EnumAttr<"Layout",
    "storage layout of quantized codes", [
      I32EnumAttrCase<"Dense", 0, "dense">,
      I32EnumAttrCase<"Nested", 1, "nested">
    ]> {
  let cppNamespace = "::mlir::qopt";
  let genSpecializedAttr = 0;
  let description = [{
    `dense`: codes packed back to back at their own width (r/8 bytes per
    element). `nested`: the parent's codes stored as bit planes, most
    significant plane first, so an r-bit slice reads only the top r+1 planes.
  }];
}

def QOpt_RopeStyle : I32EnumAttr<"RopeStyle",
    "how RoPE pairs the dimensions of a head", [
      I32EnumAttrCase<"Interleaved", 0, "interleaved">,
      I32EnumAttrCase<"RotateHalf", 1, "rotate_half">
    ]> {
  let cppNamespace = "::mlir::qopt";
  let genSpecializedAttr = 0;
}
def QOpt_RopeStyleAttr : EnumAttr<QOpt_Dialect, QOpt_RopeStyle, "rope_style">;

#endif // QOPT_DIALECT_QOPT_QOPTATTRS_TD
