//===- QOptOps.td - qopt operations ------------------------*- tablegen -*-===//
//
// Operations on quantized tensors: pack/accessors, quantize, dequantize and
// the Matryoshka slice.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_QOPTOPS_TD
#define QOPT_DIALECT_QOPT_QOPTOPS_TD

include "qopt/Dialect/QOpt/QOptDialect.td"
include "qopt/Dialect/QOpt/QOptTypes.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/BuiltinAttributes.td"

// Every static dimension of a shaped operand or result of a qopt op is below
// 2^31 and the dimensions hold at most 2^48 elements (the bounds of
// !qopt.qtensor), checked before the op's own verifier multiplies them.
def QOpt_BoundedShapes : NativeOpTrait<"BoundedShapes"> {
  let cppNamespace = "::mlir::qopt";
}

class QOpt_Op<string mnemonic, list<Trait> traits = []>
    : Op<QOpt_Dialect, mnemonic, !listconcat([QOpt_BoundedShapes], traits)>;

def QOpt_FloatTensor : RankedTensorOf<[AnyFloat]>;
def QOpt_IntTensor : RankedTensorOf<[AnyInteger]>;
// Group scales or zero points: floats, or the i8 records of two-level
// scales (`super = S`, !qopt.qtensor).
def QOpt_ScalesTensor : RankedTensorOf<[AnyFloat, I8]>;

//===----------------------------------------------------------------------===//
// Packing and accessors
//===----------------------------------------------------------------------===//

def QOpt_PackOp : QOpt_Op<"pack", [Pure]> {
  let summary = "bind codes, scales and zero points into a quantized tensor";
  let description = [{
    Builds a `!qopt.qtensor` from its numbers. `codes` has the qtensor's shape
    and an integer element type at least `bits` wide (one code per element,
    unsigned, `0 <= code < 2^bits`; the storage `layout` is applied by the
    lowering). For the `dense` layout at 1, 2 or 4 bits, `codes` may instead
    hold the packed bytes: `i8`, same shape except the last dimension, which
    is `dim * bits / 8` (element `i` of a row at bits `[i*c, (i+1)*c)` of
    the row's little-endian bit stream), so that 4-bit weights take half a
    byte per element in memory as well as on disk. `scales` has the shape given by the type's
    granularity (see `!qopt.qtensor`) and its scale element type, or, for
    two-level scales (`super = S`), the type's i8 records.
    `zeros` has the same type as `scales`; it is required for `asym` and
    absent for `sym`.

    ```mlir
    %q = qopt.pack %codes, %scales, %zeros
        : tensor<64x128xi8>, tensor<64x4xf32>, tensor<64x4xf32>
        -> !qopt.qtensor<64x128xf32, bits = 4, group = 32, asym>
    ```
  }];
  let arguments = (ins QOpt_IntTensor:$codes, QOpt_ScalesTensor:$scales,
                       Optional<QOpt_ScalesTensor>:$zeros);
  let results = (outs QOpt_QTensorType:$result);
  let assemblyFormat = [{
    $codes `,` $scales (`,` $zeros^)? attr-dict `:` type($codes) `,`
    type($scales) (`,` type($zeros)^)? `->` qualified(type($result))
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

class QOpt_AccessorOp<string mnemonic, string what>
    : QOpt_Op<mnemonic, [Pure]> {
  let summary = "the " # what # " of a quantized tensor";
  let arguments = (ins QOpt_QTensorType:$input);
  let assemblyFormat = [{
    $input attr-dict `:` qualified(type($input)) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def QOpt_GetCodesOp : QOpt_AccessorOp<"get_codes", "codes"> {
  let description = [{
    Returns the codes of a quantized tensor: one unsigned code per element
    (`0 <= code < 2^bits`) in an integer tensor of the qtensor's shape.
    Folds through `qopt.pack`.
  }];
  let results = (outs QOpt_IntTensor:$result);
}

def QOpt_GetScalesOp : QOpt_AccessorOp<"get_scales", "scales"> {
  let description = [{
    Returns the group scales of a quantized tensor (the i8 records of
    two-level scales). Folds through `qopt.pack`.
  }];
  let results = (outs QOpt_ScalesTensor:$result);
}

def QOpt_GetZerosOp : QOpt_AccessorOp<"get_zeros", "zero points"> {
  let description = [{
    Returns the group zero points of an `asym` quantized tensor, in units of
    the parent code. Not valid on `sym` tensors, whose zero point is the
    constant 2^(p-1). Two-level scales hold minimums here (i8 records).
    Folds through `qopt.pack`.
  }];
  let results = (outs QOpt_ScalesTensor:$result);
}

//===----------------------------------------------------------------------===//
// Quantize / dequantize
//===----------------------------------------------------------------------===//

def QOpt_QuantizeOp : QOpt_Op<"quantize", [Pure, AttrSizedOperandSegments]> {
  let summary = "round-to-nearest quantization of a float tensor";
  let description = [{
    Quantizes `input` into the scheme of the result type.

    Without `scales`, the scales and zero points are computed per group by
    round-to-nearest min-max (docs/quantization.md):
    - `asym`: `lo = min(0, min x)`, `hi = max(0, max x)`,
      `a = (hi - lo) / (2^c - 1)`, `z = round(-lo / a)`;
    - `sym`: `a = max|x| / (2^(c-1) - 1)`, `z = 2^(c-1)` (needs `c >= 2`);
    - a group whose range is zero gets `a = 1`.
    With `scales` (and `zeros` for `asym`), those are used as given: this is
    how GPTQ or an imported upstream `!quant.uniform` type supplies them.
    Each code is `clamp(round_half_even(x / a) + z, 0, 2^c - 1)`.

    The result must not be a Matryoshka slice: quantize to the parent width
    and `qopt.slice` it. Quantizing a constant folds (under
    `-canonicalize`) into a `qopt.pack` of constant codes, scales and zeros.

    ```mlir
    %q = qopt.quantize %w : tensor<64x128xf32>
        -> !qopt.qtensor<64x128xf32, bits = 8, group = 32, asym>
    %p = qopt.quantize %x scales(%s : tensor<f32>) : tensor<16xf32>
        -> !qopt.qtensor<16xf32, bits = 8, per_tensor, sym>
    ```
  }];
  let arguments = (ins QOpt_FloatTensor:$input,
                       Optional<QOpt_FloatTensor>:$scales,
                       Optional<QOpt_FloatTensor>:$zeros);
  let results = (outs QOpt_QTensorType:$result);
  let assemblyFormat = [{
    $input (`scales` `(` $scales^ `:` type($scales) `)`)?
    (`zeros` `(` $zeros^ `:` type($zeros) `)`)? attr-dict
    `:` type($input) `->` qualified(type($result))
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def QOpt_DequantizeOp : QOpt_Op<"dequantize", [Pure]> {
  let summary = "expand a quantized tensor to floats";
  let description = [{
    `w = scale * (code * 2^(p - c) - zero)` elementwise, with the group's
    scale and zero point, `p` the parent width (`p = c` when unsliced) and
    `zero = 2^(p-1)` for `sym`. The result has the qtensor's shape and
    expressed element type.

    Folds under `-canonicalize` into a float constant only when the codes,
    scales and zero points are all constants (codes one per element) and the
    tensor is tiny: at most `kMaxFoldedDequantizeElements` = 256 elements
    (QOptOps.h). A larger quantized weight stays quantized, so that it is
    never expanded to floats in the IR (4 to 32 times its bytes) and
    `qopt-fuse-dequant-matmul` can still turn its consumer into a
    `qopt.qmatmul`.

    ```mlir
    %w = qopt.dequantize %q : !qopt.qtensor<64x128xf32, bits = 4, group = 32, asym>
        -> tensor<64x128xf32>
    ```
  }];
  let arguments = (ins QOpt_QTensorType:$input);
  let results = (outs QOpt_FloatTensor:$result);
  let assemblyFormat = [{
    $input attr-dict `:` qualified(type($input)) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// Matryoshka slice
//===----------------------------------------------------------------------===//

def QOpt_SliceOp : QOpt_Op<"slice", [Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "Matryoshka slice of a quantized tensor to fewer bits";
  let description = [{
    Serves a `c`-bit quantized tensor at `r < c` bits (MatQuant,
    arXiv 2502.06786, section 3):

    `S(q, r) = clamp(round_half_up(q / 2^(c-r)), 0, 2^r - 1)`

    computed on the integer by adding bit `c-r-1` and shifting, so only the
    top `r+1` bits of `q` are read. The result's codes are the `r`-bit values
    `S(q, r)`; scales and zero points are unchanged and stay in units of the
    parent width `p`, which the result type records (`parent = p`, where `p`
    is the input's own parent if it is already a slice). Every `r` in
    `1 .. c-1` is valid. The layout is preserved: a `nested` tensor is sliced
    by reading fewer planes, a `dense` one is repacked at `r` bits when the
    slice is materialized.

    Slicing twice rounds twice: `slice(slice(q, 4), 2)` differs from
    `slice(q, 2)` (e.g. q = 24 at 8 bits: 24 -> 2 -> 1, but 24 -> 0 directly),
    so no pattern merges them. The slice of constant codes folds under
    `-canonicalize`.

    ```mlir
    %w4 = qopt.slice %w to 4
        : !qopt.qtensor<11008x4096xf32, bits = 8, group = 32, asym, layout = nested>
    // : !qopt.qtensor<11008x4096xf32, bits = 4, parent = 8, group = 32, asym, layout = nested>
    ```
  }];
  let arguments = (ins QOpt_QTensorType:$input,
                       ConfinedAttr<I32Attr, [IntPositive]>:$bits);
  let results = (outs QOpt_QTensorType:$result);
  let assemblyFormat = [{
    $input `to` $bits attr-dict `:` qualified(type($input))
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// Quantized matmul
//===----------------------------------------------------------------------===//

def QOpt_QMatmulOp : QOpt_Op<"qmatmul", [Pure]> {
  let summary = "x times the transpose of a quantized weight";
  let description = [{
    `result[t, n] = sum_k x[t, k] * dequantize(weight)[n, k]`: `qopt.linear`
    with a quantized weight `[N, K]` (`nn.Linear` convention), computed
    without materializing the dequantized weight. The weight may be any
    `!qopt.qtensor` at any width and in either layout, sliced or not, as
    long as the verifier's rules hold:

    - the weight has rank 2 and a static shape `[N, K]`;
    - it is grouped along its input dimension K: `axis = 1` for `group = G`
      (a shorter last group when G does not divide K) and `per_channel`
      (one scale per output row), or `per_tensor`. A weight grouped along
      the output dimension (`axis = 0`) is rejected: its scales would
      change along a row of the dot product;
    - its expressed type (that of the scales and zero points) is f32, f16
      or bf16. Activations and results are f32; `dequantize(weight)[n, k]`
      is the value `qopt.dequantize` defines, in the expressed type, widened
      to f32 for the product, so that
      `qopt.linear(x, qopt.dequantize(w))` and `qopt.qmatmul(x, w)` compute
      the same numbers;
    - `x` is `[T, K]` and the result `[T, N]` (T may be dynamic).

    `qopt-fuse-dequant-matmul` forms it from `qopt.linear(qopt.dequantize(w))`
    and the upstream linalg forms of the same product; the lowering turns
    it into a kernel that reads the codes in their storage form
    (docs/lowering.md).

    ```mlir
    %y = qopt.qmatmul %x, %w
        : tensor<?x64xf32>, !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>
        -> tensor<?x32xf32>
    ```
  }];
  let arguments = (ins 2DTensorOf<[F32]>:$input, QOpt_QTensorType:$weight);
  let results = (outs 2DTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` qualified(type($weight))
    `->` type($result)
  }];
  let hasVerifier = 1;
}

include "qopt/Dialect/QOpt/QOptModelOps.td"
include "qopt/Dialect/QOpt/QOptKernelOps.td"

#endif // QOPT_DIALECT_QOPT_QOPTOPS_TD
