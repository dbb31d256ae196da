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
  let summary = "Quantize constant linear weights (RTN, GPTQ, Matryoshka)";
  let description = [{
    Quantizes the float constant weights of the selected `qopt.linear` (and,
    on request, `qopt.embedding`) ops with `method`:
    - `rtn` (default): round-to-nearest min-max quantization (QuantMath's
      `computeGroupParams` / `quantizeValue`, the formulas of
      docs/quantization.md); with `clip=true`, each group's range is the
      factor of an H-weighted search (needs `calibration`);
    - `gptq`: GPTQ (arXiv 2210.17323) against the H = X^T X of the weight's
      input recorded in `calibration` (`qopt-run calibrate`), dampened by
      `damp` * mean(diag H), optionally in act-order;
    - `matryoshka`: the int`bits` parent codes, scales and zeros that
      minimise sum_r lambda_r ||(W - deq(S(q, r))) X||^2 over the served
      `widths` (lambda_r from `weights`), docs/gptq.md.
    A calibration file must have been recorded on a model of the same shape;
    a weight without an H (the embedding table) falls back to RTN with a
    warning. Groups run along the input dimension
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
           "embedding, classifier) or all">,
    Option<"method", "method", "std::string", /*default=*/"\"rtn\"",
           "rtn, gptq or matryoshka (the last two need calibration=)">,
    Option<"calibration", "calibration", "std::string", /*default=*/"\"\"",
           "calibration file written by `qopt-run calibrate` (H = X^T X of "
           "every linear input)">,
    Option<"widths", "widths", "std::string", /*default=*/"\"\"",
           "matryoshka: the served widths, comma list (default 8,4,2 for "
           "bits=8)">,
    Option<"weights", "weights", "std::string", /*default=*/"\"\"",
           "matryoshka: lambda_r per width, comma list (default: 2^(r - "
           "bits), docs/matryoshka.md)">,
    Option<"feedback", "feedback", "std::string",
           /*default=*/"\"per-width\"",
           "matryoshka error feedback: per-width (qopt) or mean (MatGPTQ)">,
    Option<"sweeps", "sweeps", "unsigned", /*default=*/"2",
           "matryoshka: coordinate-descent sweeps after the GPTQ pass">,
    Option<"clip", "clip", "bool", /*default=*/"false",
           "rtn: H-weighted clipping search of each group's range (needs "
           "calibration=)">,
    Option<"damp", "damp", "double", /*default=*/"0.01",
           "gptq/matryoshka: relative dampening of H's diagonal">,
    Option<"actOrder", "act-order", "bool", /*default=*/"false",
           "gptq/matryoshka: process columns by decreasing H diagonal">,
    Option<"scaleType", "scale-type", "std::string", /*default=*/"\"auto\"",
           "type of the scales and zero points: auto (the weight's type) "
           "or f16 (f32 and f16 weights; `scale = f16` in the quantized "
           "type, half the scale bytes of an f32 weight)">
  ];
  let dependentDialects = [
    "::mlir::qopt::QOptDialect",
    "::mlir::arith::ArithDialect"
  ];
}

def InstrumentCalibrationPass : Pass<"qopt-instrument-calibration", "ModuleOp"> {
  let summary = "Observe the inputs of linear layers for calibration";
  let description = [{
    Inserts a `qopt.observe` of the input of every `qopt.linear` tagged with
    a `qopt.role` (q k v o gate up down classifier), once per distinct input
    value: q, k and v read the same normed activation and share one site,
    as do gate and up. A site is identified by its layer (`qopt.layer`, -1
    for the classifier) and the sorted roles reading it; the same site in
    `@prefill` and `@decode` gets the same number. The module attribute
    `qopt.observe_sites` lists them:
    `[{site = 0, layer = 0, roles = ["k", "q", "v"], cols = 64}, ...]`.

    `qopt-run calibrate` runs this pass, compiles the model and accumulates
    H = X^T X per site through the runtime observer (docs/calibration.md).
    `layer` restricts the instrumentation to one decoder layer (-1: all
    layers and the classifier).
  }];
  let dependentDialects = ["::mlir::qopt::QOptDialect"];
  let options = [
    Option<"layer", "layer", "int64_t", /*default=*/"-2",
           "Instrument only this decoder layer (-1: the classifier; "
           "default: every layer)">,
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

def FuseNormsPass : Pass<"qopt-fuse-norms", "ModuleOp"> {
  let summary = "Fold each RMSNorm's scale into the linears that read it";
  let description = [{
    `linear(rms_norm(x, g), W) == linear(rms_norm(x, 1), W * diag(g))`: for
    every `qopt.rms_norm` whose scale `g` is a constant, each `qopt.linear`
    reading the norm's output gets the weight `W'[n, k] = W[n, k] * g[k]`
    (computed in double precision, rounded once to the weight's own storage
    type: f32, f16 or bf16), and the norm's scale becomes a splat of 1.0.
    This is the first step of rotation folding (`qopt-fold-rotations`): an
    orthogonal rotation of the residual stream commutes with a weightless
    RMSNorm only.

    In a Llama decoder that is q/k/v after the attention norm, gate/up after
    the MLP norm and the classifier after the final norm. A weight shared by
    several ops (tied embedding and classifier) is not changed in place: the
    linear gets its own scaled copy, so the embedding keeps the original
    table and the module's `qopt.model` attribute records
    `tied_embeddings = false`.

    A weight quantized from constants (`qopt.dequantize` of a `qopt.pack` of
    constants, e.g. a GGUF Q8_0 matrix) is dequantized, scaled and stored as
    a float constant of its expressed type (quantize it again afterwards).
    A norm is left as it is, with a warning that says why, when its output
    has a user that is not the input of a `qopt.linear`, or a linear's
    weight is not known at compile time. Norms whose scale is already all
    ones are skipped silently.

    Before:
    ```mlir
    %g = arith.constant dense<[2.0, 0.5]> : tensor<2xf32>
    %n = qopt.rms_norm %x, %g {epsilon = 1.0e-05 : f32}
        : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
    %w = arith.constant dense<[[1.0, 1.0], [3.0, 4.0]]> : tensor<2x2xf32>
    %y = qopt.linear %n, %w : tensor<?x2xf32>, tensor<2x2xf32> -> tensor<?x2xf32>
    ```
    After (`W' = W diag(g)`; a weight stored as a dense_resource blob gets
    a new blob named `<key>.normed`, dense elements stay dense elements):
    ```mlir
    %one = arith.constant dense<1.0> : tensor<2xf32>
    %n = qopt.rms_norm %x, %one {epsilon = 1.0e-05 : f32} : ...
    %w = arith.constant dense<[[2.0, 0.5], [6.0, 2.0]]> : tensor<2x2xf32>
    %y = qopt.linear %n, %w : ...
    ```
  }];
  let dependentDialects = [
    "::mlir::qopt::QOptDialect",
    "::mlir::arith::ArithDialect"
  ];
}

def FoldRotationsPass : Pass<"qopt-fold-rotations", "ModuleOp"> {
  let summary = "Fold QuaRot/SpinQuant rotations into the weights; online "
                "Hadamards where they cannot be folded";
  let description = [{
    Rotates a Llama decoder by orthogonal matrices that cancel in exact
    arithmetic (QuaRot, arXiv 2404.00456; SpinQuant, arXiv 2405.16406), so
    that outlier channels are spread over all channels before the weights
    (and activations, and the KV cache) are quantized. With `Q` the
    orthogonal matrix that multiplies a row vector (`x' = x Q`):

    - `r1` (hidden size D, whole model): the residual stream becomes `x Q1`.
      The embedding table's rows and the weight rows of every linear that
      reads the residual stream (through a weightless RMSNorm: q, k, v,
      gate, up, classifier) become `Q1^T w`; the columns of every linear
      that writes it (o, down, the two operands of the residual adds)
      become `Q1^T c`. Needs weightless norms: run `qopt-fuse-norms` first.
    - `r2` (head_dim, per layer): each head of v_proj's output is rotated
      (`W_v` rows of each KV head: `Q2^T` applied to every column) and each
      head segment of o_proj's input undoes it (`Q2^T w` on every row's
      segment), the same `Q2` for all heads of a layer, so grouped-query
      attention is respected.
    - `r3` (head_dim): an online `qopt.hadamard {size = head_dim}` on the
      queries and keys after RoPE; it cancels in `Q K^T` and makes the keys
      in the KV cache easier to quantize.
    - `r4` (MLP width F): an online `qopt.hadamard {size = F}` on
      down_proj's input, its inverse folded into down_proj's weight rows.

    `kind=hadamard` uses the normalized Hadamard matrix `H_n / sqrt(n)`
    (runtime/Hadamard.h, n = K * 2^m) for r1 and r2, applied with a fast
    transform; `kind=random` uses a seeded random orthogonal matrix (QR of
    a Gaussian matrix, signs fixed so it is Haar-distributed): r1 from
    `seed`, r2 of layer l from `seed + l + 1`. r3 and r4 are online ops and
    always Hadamard. Folding is exact math: products in double precision,
    each weight rounded once to its own storage type (f32, f16, bf16).

    The structure is checked before anything changes: the residual stream
    must be the embedding's output and sums of it with linear outputs; its
    only other readers weightless RMSNorms feeding linears; v_proj a linear
    feeding only the attention's value; the attention's output read only by
    o_proj; down_proj's input a `qopt.swiglu`; every weight touched known at
    compile time: a static 2-D f32/f16/bf16 constant, or a weight quantized
    from constants (a GGUF Q8_0/Q4_0 matrix), which is dequantized, rotated
    and stored as a float constant of its expressed type (quantize it again
    afterwards); the Hadamard sizes constructible. A rotation whose structure check fails is
    an error naming the op and the rule, and the pass changes nothing; with
    `allow-partial=true` it is a warning instead and that rotation alone is
    skipped (every rotation is exact on its own).

    ```mlir
    // qopt-fold-rotations{rotations=r4}:
    %h = qopt.swiglu %g, %u : tensor<?x8xf32>
    %hh = qopt.hadamard %h {size = 8 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>
    %y = qopt.linear %hh, %wd_rotated : ...
    ```
  }];
  let options = [
    Option<"kind", "kind", "std::string", /*default=*/"\"hadamard\"",
           "rotation matrices for r1 and r2: hadamard or random">,
    Option<"seed", "seed", "uint64_t", /*default=*/"0",
           "seed of the random rotations (kind=random)">,
    Option<"rotations", "rotations", "std::string",
           /*default=*/"\"r1,r2,r3,r4\"",
           "comma list of the rotations to apply: r1, r2, r3, r4">,
    Option<"allowPartial", "allow-partial", "bool", /*default=*/"false",
           "skip, with a warning, a rotation the model's structure does not "
           "allow instead of failing">
  ];
  let dependentDialects = [
    "::mlir::qopt::QOptDialect",
    "::mlir::arith::ArithDialect"
  ];
}

#endif // QOPT_TRANSFORMS_PASSES_TD
