//===- QOptModelOps.td - Llama-family model operations -----*- tablegen -*-===//
//
// The model-level operations of a Llama-family decoder: token embedding,
// RMSNorm, linear, RoPE, grouped-query attention over a KV cache, and the
// SiLU-gated MLP product. Activations are tensors `[T, features]` where T is
// the number of tokens processed in one call (1 for decode, the prompt length
// for prefill; it may be dynamic). Weights are operands, so passes can
// rewrite them. Residual adds are plain `arith.addf` on tensors.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_QOPTMODELOPS_TD
#define QOPT_DIALECT_QOPT_QOPTMODELOPS_TD

include "qopt/Dialect/QOpt/QOptDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "qopt/Dialect/QOpt/QOptAttrs.td"

def QOpt_F32Tensor2D : 2DTensorOf<[F32]>;
def QOpt_F32Tensor1D : 1DTensorOf<[F32]>;
// A KV cache buffer `[layers, seq, kv_heads * head_dim]`. Its element type
// is the cache's storage type (f32, or f16/bf16: the lowering widens on load
// and rounds on store); `seq` may be dynamic (the runtime picks the
// capacity).
def QOpt_KVCache : MemRefRankOf<[F32, F16, BF16], [3]>;
// Weights may stay in the checkpoint's 16-bit format; the lowering widens
// them to f32 as it loads them (half the memory traffic of f32).
def QOpt_WeightTensor2D : 2DTensorOf<[F32, F16, BF16]>;

def QOpt_EmbeddingOp : QOpt_Op<"embedding", [Pure]> {
  let summary = "token embedding lookup";
  let description = [{
    `result[t, :] = table[tokens[t], :]` (an f16/bf16 table is widened to
    f32; a quantized table, a rank-2 `!qopt.qtensor` grouped along its
    second dimension, is dequantized one row at a time). Token ids outside `[0, vocab)` are clamped by the lowering (the
    runtime rejects them before a call).

    ```mlir
    %x = qopt.embedding %table, %tokens
        : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins AnyTypeOf<[QOpt_WeightTensor2D, QOpt_QTensorType]>:$table,
                       1DTensorOf<[I32]>:$tokens);
  let results = (outs QOpt_F32Tensor2D:$result);
  let assemblyFormat = [{
    $table `,` $tokens attr-dict `:` qualified(type($table)) `,` type($tokens)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

def QOpt_RMSNormOp : QOpt_Op<"rms_norm", [Pure]> {
  let summary = "RMSNorm with a learned scale";
  let description = [{
    `result[t, i] = x[t, i] / sqrt(mean_j(x[t, j]^2) + epsilon) * weight[i]`.

    ```mlir
    %y = qopt.rms_norm %x, %w {epsilon = 1.0e-05 : f32}
        : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins QOpt_F32Tensor2D:$input, QOpt_F32Tensor1D:$weight,
                       F32Attr:$epsilon);
  let results = (outs QOpt_F32Tensor2D:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def QOpt_LinearOp : QOpt_Op<"linear", [Pure]> {
  let summary = "x times the transpose of a weight matrix";
  let description = [{
    `result[t, n] = sum_k x[t, k] * weight[n, k]`: the PyTorch `nn.Linear`
    convention (no bias), weight `[out, in]` row-major. The weight is an
    operand so that quantization passes can replace it. It may be f32, f16 or
    bf16 (widened to f32 as it is read; the arithmetic is f32).

    ```mlir
    %y = qopt.linear %x, %wq : tensor<?x64xf32>, tensor<64x64xf32>
        -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins QOpt_F32Tensor2D:$input, QOpt_WeightTensor2D:$weight);
  let results = (outs QOpt_F32Tensor2D:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def QOpt_BiasAddOp : QOpt_Op<"bias_add", [Pure,
    AllTypesMatch<["input", "result"]>]> {
  let summary = "adds a bias vector to every token";
  let description = [{
    `result[t, n] = input[t, n] + bias[n]`: the bias of a linear layer
    (Qwen2's q/k/v projections), kept apart from `qopt.linear` so that the
    weight passes see the same matmul with or without it.

    ```mlir
    %y = qopt.bias_add %x, %b : tensor<?x64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins QOpt_F32Tensor2D:$input, QOpt_F32Tensor1D:$bias);
  let results = (outs QOpt_F32Tensor2D:$result);
  let assemblyFormat = [{
    $input `,` $bias attr-dict `:` type($input) `,` type($bias)
  }];
  let hasVerifier = 1;
}

def QOpt_RopeOp : QOpt_Op<"rope", [Pure]> {
  let summary = "rotary position embedding";
  let description = [{
    Rotates each head of `input` (`[T, heads * head_dim]`) by the position of
    its token, `position + t`. With `j` in `[0, head_dim / 2)` the frequency
    is `theta^(-2j / head_dim)` and the rotated pair is
    - `interleaved` (llama2.c, Meta, GGUF): dimensions `(2j, 2j + 1)`;
    - `rotate_half` (Hugging Face): dimensions `(j, j + head_dim / 2)`.

    The two conventions are the same model up to a permutation of the q/k
    projection rows; an importer records which one its weights use.

    Scaled RoPE variants (Hugging Face `rope_type`s) are expressed by three
    optional attributes, so that kernels hold no variant's formula:
    - `inv_freq` (`head_dim / 2` positive finite values): the per-model
      inverse-frequency table, replacing `theta^(-2j / head_dim)`. The
      importer computes it for the static variants (`linear`, `llama3`,
      `yarn`).
    - `scale` (positive, default 1): multiplies cos and sin (YaRN's
      attention factor).
    - `ntk_factor` with `ntk_max_positions` (both or neither; not with
      `inv_freq`): dynamic NTK scaling as transformers applies it. With
      `L = position + T` (the length of this call's sequence) the base is
      `theta * (factor * max(L, M) / M - (factor - 1))^(d / (d - 2))`,
      `M = ntk_max_positions`, `d = head_dim`, so the frequencies depend on
      the call: a prefill and a token-by-token decode rotate the same
      position differently, as in transformers.

    ```mlir
    %q = qopt.rope %x, %pos {head_dim = 8 : i64, theta = 1.0e+04 : f32,
                             style = #qopt<rope_style interleaved>}
        : tensor<?x64xf32> -> tensor<?x64xf32>
    %k = qopt.rope %y, %pos {head_dim = 4 : i64, theta = 1.0e+04 : f32,
                             style = #qopt<rope_style rotate_half>,
                             inv_freq = array<f32: 1.0, 0.025>,
                             scale = 1.1386 : f32}
        : tensor<?x8xf32> -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins QOpt_F32Tensor2D:$input, Index:$position,
                       ConfinedAttr<I64Attr, [IntPositive]>:$head_dim,
                       F32Attr:$theta, QOpt_RopeStyleAttr:$style,
                       OptionalAttr<DenseF32ArrayAttr>:$inv_freq,
                       OptionalAttr<F32Attr>:$scale,
                       OptionalAttr<F32Attr>:$ntk_factor,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$ntk_max_positions);
  let results = (outs QOpt_F32Tensor2D:$result);
  let assemblyFormat = [{
    $input `,` $position attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def QOpt_AttentionOp : QOpt_Op<"attention"> {
  let summary = "causal grouped-query attention over a KV cache";
  let description = [{
    For each token `t` at position `p = position + t`: stores `key[t]` and
    `value[t]` into row `p` of layer `layer` of `key_cache` / `value_cache`
    (`[layers, seq, num_kv_heads * head_dim]`), then for each head `h`
    (sharing KV head `h / (num_heads / num_kv_heads)`) computes
    `softmax(q_h . K[0..p]^T / sqrt(head_dim)) . V[0..p]`.
    `T = 1` is single-token decode; larger `T` is prefill of a prompt chunk.
    The caller guarantees `position + T <= seq`.

    With `sliding_window = W` (Mistral), a token at position `p` attends only
    to the `W` most recent positions, `max(0, p - W + 1) .. p` (keys older
    than that are masked, as transformers' sliding-window mask does).

    The caches' element type is the KV cache's storage type: f32, f16 or
    bf16 (keys and values are rounded to it when stored and widened to f32
    when read; the arithmetic is f32). Both caches have the same type. The
    sequence dimension `seq` may be dynamic, so that the runtime allocates
    only the positions it uses.

    ```mlir
    %o = qopt.attention %q, %k, %v, %kc, %vc, %pos
        {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64,
         head_dim = 8 : i64}
        : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>,
          memref<5x?x32xf16>, memref<5x?x32xf16> -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins QOpt_F32Tensor2D:$query, QOpt_F32Tensor2D:$key,
                       QOpt_F32Tensor2D:$value,
                       Arg<QOpt_KVCache, "", [MemRead, MemWrite]>:$key_cache,
                       Arg<QOpt_KVCache, "", [MemRead, MemWrite]>:$value_cache,
                       Index:$position,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$layer,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_kv_heads,
                       ConfinedAttr<I64Attr, [IntPositive]>:$head_dim,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$sliding_window);
  let results = (outs QOpt_F32Tensor2D:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $key_cache `,` $value_cache `,` $position
    attr-dict `:` type($query) `,` type($key) `,` type($value) `,`
    type($key_cache) `,` type($value_cache) `->` type($result)
  }];
  let hasVerifier = 1;
}

def QOpt_SwiGLUOp : QOpt_Op<"swiglu", [Pure, SameOperandsAndResultType]> {
  let summary = "SiLU-gated product of the Llama MLP";
  let description = [{
    `result = silu(gate) * up` elementwise, `silu(x) = x / (1 + exp(-x))`.

    ```mlir
    %h = qopt.swiglu %gate, %up : tensor<?x172xf32>
    ```
  }];
  let arguments = (ins QOpt_F32Tensor2D:$gate, QOpt_F32Tensor2D:$up);
  let results = (outs QOpt_F32Tensor2D:$result);
  let assemblyFormat = "$gate `,` $up attr-dict `:` type($result)";
  // SameOperandsAndResultType accepts compatible shapes (`?x64` with `4x64`),
  // which the format above, printing one type, cannot round-trip.
  let hasVerifier = 1;
}

def QOpt_HadamardOp : QOpt_Op<"hadamard", [Pure, SameOperandsAndResultType]> {
  let summary = "normalized Hadamard transform of each block of a row";
  let description = [{
    Splits each row of `input` (`[T, D]`, D a multiple of `size` = n) into
    D / n blocks of n contiguous elements and transforms each block `x` to
    `y = H_n x / sqrt(n)`:
    `result[t, b*n + i] = 1/sqrt(n) * sum_j H_n[i, j] * input[t, b*n + j]`.
    `H_n` is qopt's Hadamard matrix of order n (runtime/Hadamard.h,
    docs/hadamard.md): `H_K (x) H_(2^m)` for `n = K * 2^m`, H_(2^m)
    Sylvester's and H_K built by a Paley or Williamson construction. The
    transform is orthogonal; the verifier rejects an order for which qopt
    cannot construct H_n. `qopt-fold-rotations` inserts it where a rotation
    cannot be folded into a weight (on queries and keys after RoPE, per
    head; on down_proj's input). It is lowered to an in-place fast
    Walsh-Hadamard transform, O(n log n) plus a K x K mix.

    ```mlir
    %y = qopt.hadamard %x {size = 8 : i64} : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins QOpt_F32Tensor2D:$input,
                       ConfinedAttr<I64Attr, [IntPositive]>:$size);
  let results = (outs QOpt_F32Tensor2D:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def QOpt_ObserveOp : QOpt_Op<"observe", [
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "hands an activation to the runtime's calibration observer";
  let description = [{
    Calibration instrumentation, inserted by `qopt-instrument-calibration`
    before the linear layers that read `input` (`[T, K]` f32): each call of
    the compiled model passes the T rows to the runtime function
    `qopt_observe(site, ...)` (docs/calibration.md), which accumulates the
    second moment H = X^T X of observation site `site`. The module
    attribute `qopt.observe_sites` says which layer and roles each site
    feeds. The op reads `input` and has an effect on the observer (it is
    never removed as dead). It is a tensor op before bufferization and a
    buffer op after; `convert-qopt-kernels-to-loops` turns it into the
    call.

    ```mlir
    qopt.observe %x {site = 0 : i64} : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins AnyTypeOf<[QOpt_F32Tensor2D, MemRefRankOf<[F32], [2]>]>:$input,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$site);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

//===----------------------------------------------------------------------===//
// Lowering-level operations
//===----------------------------------------------------------------------===//

def QOpt_WeightRefOp : QOpt_Op<"weight_ref"> {
  let summary = "a weight buffer supplied by the runtime through a table";
  let description = [{
    Produced by `qopt-prepare-abi` for weights that live in resources or
    an external weight file: the runtime passes a table of addresses (`i64`)
    and this op views entry `index` as a buffer of the result type. The
    module attribute `qopt.weight_table` names the entries in order. This is
    how one compiled artifact runs on weights it does not embed (zero copies:
    the addresses point into the mapped checkpoint).

    ```mlir
    %w = qopt.weight_ref %table[3] : memref<?xi64> -> memref<64x64xf32>
    ```
  }];
  let arguments = (ins Arg<MemRefRankOf<[I64], [1]>, "", [MemRead]>:$table,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$index);
  let results = (outs AnyStaticShapeMemRef:$result);
  let assemblyFormat = [{
    $table `[` $index `]` attr-dict `:` type($table) `->` type($result)
  }];
  let hasVerifier = 1;
}

#endif // QOPT_DIALECT_QOPT_QOPTMODELOPS_TD
