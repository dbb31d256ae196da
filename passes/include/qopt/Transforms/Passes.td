//===- Passes.td - qopt transformation passes --------------*- tablegen -*-===//
//
// Declarations of the qopt passes; `-gen-pass-decls -name QOpt` generates
// their constructors, option structs and registerQOptPasses().
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TRANSFORMS_PASSES_TD
#define QOPT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def ImportQuantPass : Pass<"qopt-import-quant", "ModuleOp"> {
  let summary = "Rewrite upstream quant dialect casts into qopt ops";
  let description = [{
    Converts IR written against MLIR's upstream `quant` dialect into the qopt
    dialect, so that models quantized by other frontends (TOSA, StableHLO,
    TFLite importers) enter the qopt pipeline:

    - `quant.qcast %x : tensor<..xf32> to tensor<..x!quant.uniform<...>>`
      becomes `qopt.quantize %x scales(%s) [zeros(%z)]` with the type's
      scales and zero points materialized as `arith.constant` tensors;
    - `quant.dcast` becomes `qopt.dequantize`;
    - `quant.scast` between an integer tensor and a quantized tensor becomes
      `qopt.pack` / `qopt.get_codes` plus the integer offset between the
      upstream storage range and qopt's unsigned codes;
    - function arguments and results of quantized tensor type are converted.

    Supported upstream types: `!quant.uniform` per-tensor, per-axis on a
    rank-1 or rank-2 tensor, and sub-channel with one blocked dimension,
    with storage of 1..8 bits covering its full signed or unsigned range.
    qopt codes are unsigned: an upstream stored value `s` with storage
    minimum `m` and zero point `zp` becomes code `s - m` with zero point
    `zp - m`; a signed type with `zp = 0` maps to `sym`.

    Before:
    ```mlir
    %q = quant.qcast %x : tensor<4x8xf32> to tensor<4x8x!quant.uniform<i8:f32, 0.5:3>>
    %y = quant.dcast %q : tensor<4x8x!quant.uniform<i8:f32, 0.5:3>> to tensor<4x8xf32>
    ```
    After:
    ```mlir
    %s = arith.constant dense<5.000000e-01> : tensor<f32>
    %z = arith.constant dense<1.310000e+02> : tensor<f32>
    %q = qopt.quantize %x scales(%s : tensor<f32>) zeros(%z : tensor<f32>)
        : tensor<4x8xf32> -> !qopt.qtensor<4x8xf32, bits = 8, per_tensor, asym>
    %y = qopt.dequantize %q : !qopt.qtensor<4x8xf32, bits = 8, per_tensor, asym>
        -> tensor<4x8xf32>
    ```

    Anything outside that (unranked or scalar quantized values, narrow
    storage ranges, per-axis on rank > 2, calibrated or other quantized
    types, quantized values flowing into ops other than these casts) is
    reported as an error naming the op, and the pass fails.
  }];
  let dependentDialects = [
    "::mlir::qopt::QOptDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // QOPT_TRANSFORMS_PASSES_TD
