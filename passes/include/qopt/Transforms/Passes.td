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

def QuantizeWeightsPass : Pass<"qopt-quantize-weights", "ModuleOp"> {
  let summary = "RTN min-max quantization of constant linear weights";
  let description = [{
    Quantizes the float constant weights of the selected `qopt.linear` (and,
    on request, `qopt.embedding`) ops with round-to-nearest min-max
    quantization (QuantMath's `computeGroupParams` / `quantizeValue`, the
    formulas of docs/quantization.md), groups along the input dimension
    (`axis = 1` of an `[N, K]` weight; a shorter last group when `group`
    does not divide K). The codes are stored in the storage form of the
    result type (dense rows at `bits` per code, or the nested bit planes),
    the scales and zero points in the weight's float type, all as
    `dense_resource` blobs named after the weight's resource key
    (`layers.0.wq` -> `layers.0.wq.codes`, `.scales`, `.zeros`); a weight
    given as dense elements is named after its op's `qopt.layer` and
    `qopt.role` attributes.

    Ops are selected by their `qopt.role` attribute (set by qopt-import):
    `layers` is a comma list of `q k v o gate up down embedding classifier`
    (default: the seven linear roles of the transformer layers) or `all`
    (every linear and embedding, tagged or not). A weight shared by several
    ops (tied embedding and classifier) is quantized once; each selected use
    reads it through its own `qopt.dequantize` and unselected uses keep the
    float constant. Weights that are already quantized (a `qopt.dequantize`)
    or not constant are left alone.

    Before:
    ```mlir
    %w = arith.constant dense_resource<layers.0.wq> : tensor<64x64xf32>
    %y = qopt.linear %x, %w {qopt.layer = 0 : i64, qopt.role = "q"}
        : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
    ```
    After `qopt-quantize-weights{bits=8 group=32 layout=nested}`:
    ```mlir
    %c = arith.constant dense_resource<layers.0.wq.codes> : tensor<8x64x8xi8>
    %s = arith.constant dense_resource<layers.0.wq.scales> : tensor<64x2xf32>
    %z = arith.constant dense_resource<layers.0.wq.zeros> : tensor<64x2xf32>
    %q = qopt.pack %c, %s, %z : ...
        -> !qopt.qtensor<64x64xf32, bits = 8, group = 32, asym, layout = nested>
    %w = qopt.dequantize %q : ... -> tensor<64x64xf32>
    %y = qopt.linear %x, %w {qopt.layer = 0 : i64, qopt.role = "q"} : ...
    ```
  }];
  let options = [
    Option<"bits", "bits", "unsigned", /*default=*/"8",
           "code width, 1..8">,
    Option<"group", "group", "int64_t", /*default=*/"32",
           "elements per group along the input dimension; 0 = per channel">,
    Option<"scheme", "scheme", "std::string", /*default=*/"\"asym\"",
           "zero-point scheme: asym or sym (needs bits >= 2)">,
    Option<"layout", "layout", "std::string", /*default=*/"\"static\"",
           "storage layout: static (alias dense) or nested">,
    Option<"layers", "layers", "std::string",
           /*default=*/"\"q,k,v,o,gate,up,down\"",
           "comma list of roles to quantize (q, k, v, o, gate, up, down, "
           "embedding, classifier) or all">
  ];
  let dependentDialects = [
    "::mlir::qopt::QOptDialect",
    "::mlir::arith::ArithDialect"
  ];
}

def SliceWeightsPass : Pass<"qopt-slice-weights", "ModuleOp"> {
  let summary = "Serve quantized weights at fewer bits (Matryoshka slice)";
  let description = [{
    Inserts `qopt.slice %q to R` between a quantized weight (the
    `!qopt.qtensor` that a `qopt.dequantize` feeding a selected
    `qopt.linear` reads, or a quantized `qopt.embedding` table) and its
    user, so the op computes with the top R bits of the codes
    (docs/quantization.md, "Matryoshka slice"). Weights already at R bits
    or fewer are left alone. `layers` selects ops by `qopt.role` as in
    `qopt-quantize-weights`. A dequantize with other users is duplicated, so
    only the selected uses see the slice.

    ```mlir
    %w = qopt.dequantize %q : !qopt.qtensor<64x64xf32, bits = 8, group = 32, asym, layout = nested> -> tensor<64x64xf32>
    // qopt-slice-weights{bits=4}:
    %s = qopt.slice %q to 4 : !qopt.qtensor<64x64xf32, bits = 8, group = 32, asym, layout = nested>
    %w = qopt.dequantize %s : !qopt.qtensor<64x64xf32, bits = 4, parent = 8, group = 32, asym, layout = nested> -> tensor<64x64xf32>
    ```
  }];
  let options = [
    Option<"bits", "bits", "unsigned", /*default=*/"8",
           "width to serve, 1..8">,
    Option<"layers", "layers", "std::string",
           /*default=*/"\"q,k,v,o,gate,up,down\"",
           "comma list of roles to slice (q, k, v, o, gate, up, down, "
           "embedding, classifier) or all">
  ];
  let dependentDialects = ["::mlir::qopt::QOptDialect"];
}

def FuseDequantMatmulPass : Pass<"qopt-fuse-dequant-matmul"> {
  let summary = "Fuse qopt.dequantize into the matmuls and embeddings that "
                "read it";
  let description = [{
    Rewrites a product whose weight is a `qopt.dequantize` of a quantized
    tensor `q` (a `qopt.pack`, a `qopt.slice`, a function argument, any
    `!qopt.qtensor` value) into one `qopt.qmatmul` on `q`, so that no
    full-precision copy of the weight is ever materialized. Covered forms:

    - `qopt.linear(x, dequantize(q))` -> `qopt.qmatmul(x, q)`;
    - `qopt.embedding(dequantize(q), tokens)` -> `qopt.embedding(q, tokens)`;
    - `linalg.matmul ins(x, transpose(dequantize(q)) [permutation 1, 0])`
      with the default indexing maps, and `linalg.matmul ins(x,
      dequantize(q))` with the transposed-B indexing map `(m, n, k) -> (n,
      k)` -> `qopt.qmatmul(x, q)`;
    - `linalg.batch_matmul ins(X, W)` whose weight is one 2-D matrix shared
      by every batch: W a `linalg.broadcast` (dimensions = [0]) or a
      unit-batch `tensor.expand_shape` of one of the two matmul forms above,
      or a 2-D weight broadcast by the indexing map (`(b, m, n, k) -> (k,
      n)` or `(n, k)`) -> `tensor.expand_shape(qopt.qmatmul(
      tensor.collapse_shape(X), q))`, batches flattened into tokens. When X
      is itself a unit-batch `tensor.expand_shape` of a 2-D activation, the
      reshapes fold away.

    The activation may be any f32 value, e.g. a reshape that adds or removes
    unit dimensions. Not covered: `linalg.matvec`/`vecmat`, `linalg.generic`
    and `linalg.contract` contractions.

    The linalg forms are fused only on tensors, with f32 activations and
    results, the activation indexed `[M, K]` (`[B, M, K]`) and a zero init
    (a `linalg.fill` of 0.0 or a zero constant): a linalg contraction adds
    its init, `qopt.qmatmul` does not.

    The pass refuses, leaving the IR unchanged, when:
    - the dequantized weight (or its transpose / broadcast / reshape) has a
      user that is not fused, which would keep a second, full-precision
      dequantization alive;
    - the quantized weight does not fit `qopt.qmatmul`: grouped along the
      output dimension (`axis = 0`), a dynamic shape, an expressed type
      other than f32/f16/bf16;
    - the linalg form is not one of the above (a `[K, N]` weight that is not
      a transpose of the dequantized `[N, K]` one, per-batch weights, other
      indexing maps, a non-zero init, non-f32 activations).
    Each refusal is explained under `-debug-only=qopt-fuse-dequant-matmul`
    in an LLVM built with assertions, and, since Debian's LLVM is a release
    build without `-debug-only`, as a remark on the consumer with
    `remarks=true`. The `qopt.dequantize`, `qopt.pack`, transposes and
    broadcasts left without users are erased.

    Before:
    ```mlir
    %q = qopt.pack %codes, %scales, %zeros
        : tensor<64x64xi8>, tensor<64x2xf32>, tensor<64x2xf32>
        -> !qopt.qtensor<64x64xf32, bits = 4, group = 32, asym>
    %w = qopt.dequantize %q : !qopt.qtensor<64x64xf32, bits = 4, group = 32, asym>
        -> tensor<64x64xf32>
    %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<64x64xf32>
        -> tensor<?x64xf32>
    ```
    After:
    ```mlir
    %q = qopt.pack %codes, %scales, %zeros
        : tensor<64x64xi8>, tensor<64x2xf32>, tensor<64x2xf32>
        -> !qopt.qtensor<64x64xf32, bits = 4, group = 32, asym>
    %y = qopt.qmatmul %x, %q
        : tensor<?x64xf32>, !qopt.qtensor<64x64xf32, bits = 4, group = 32, asym>
        -> tensor<?x64xf32>
    ```
  }];
  let options = [
    Option<"remarks", "remarks", "bool", /*default=*/"false",
           "Emit a remark on every consumer of a dequantized weight that is "
           "not fused, saying why">
  ];
  let dependentDialects = [
    "::mlir::qopt::QOptDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // QOPT_TRANSFORMS_PASSES_TD
