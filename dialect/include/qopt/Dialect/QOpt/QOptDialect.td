//===- QOptDialect.td - qopt dialect definition ------------*- tablegen -*-===//
//
// The qopt dialect: quantized tensors with group scales and zero points,
// 1-8 bit codes, dense and nested (bit-plane) storage layouts, and the
// Matryoshka slice that serves an int8 artifact at fewer bits.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_QOPTDIALECT_TD
#define QOPT_DIALECT_QOPT_QOPTDIALECT_TD

include "mlir/IR/OpBase.td"

def QOpt_Dialect : Dialect {
  let name = "qopt";
  let cppNamespace = "::mlir::qopt";
  let summary = "Quantized tensors and Matryoshka slicing for LLM inference";
  let description = [{
    The `qopt` dialect models weight and activation quantization for
    transformer inference. A quantized value has type `!qopt.qtensor`, whose
    parameters describe the *scheme* (code width, symmetric or asymmetric zero
    point, grouping, Matryoshka parent width, storage layout) while the
    *numbers* (codes, scales, zero points) are SSA tensor values tied together
    by `qopt.pack`. A 7B model's scales therefore live in tensors (and later
    in resources), never inside types or attributes.

    Dequantized value of code `q` with group scale `a` and zero point `z`:
    `w = a * (q * 2^(p - c) - z)` where `c` is the code width and `p` the
    Matryoshka parent width (`p = c` for an unsliced tensor). The Matryoshka
    slice to `r` bits is
    `S(q, r) = clamp(round_half_up(q / 2^(c-r)), 0, 2^r - 1)`.
    See docs/quantization.md for the full contract.
  }];
  let useDefaultTypePrinterParser = 1;
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 0;
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // QOPT_DIALECT_QOPT_QOPTDIALECT_TD
