//===- QOptKernelOps.td - qopt kernel operations -----------*- tablegen -*-===//
//
// The kernel level of the lowering. `qopt-lower-quantized-types` decomposes
// every `!qopt.qtensor` into its parts (codes in their storage form, scales,
// zero points) and turns the ops that compute on quantized data, and the
// model ops that upstream dialects cannot express (matmul with a row-major
// weight, gathers, attention over the KV cache), into these ops. They are in
// destination-passing style on tensors or buffers: one-shot bufferization
// turns the tensor form into the buffer form (BufferizableOpInterface models
// in lowering/lib/Bufferization), and `convert-qopt-kernels-to-loops` emits
// their vector code. The scheme of a quantized operand is carried as a type
// attribute (the `!qopt.qtensor` it came from), so one op serves every width,
// layout and granularity.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_QOPTKERNELOPS_TD
#define QOPT_DIALECT_QOPT_QOPTKERNELOPS_TD

include "qopt/Dialect/QOpt/QOptDialect.td"
include "mlir/Interfaces/DestinationStyleOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class QOpt_KernelOp<string mnemonic, list<Trait> traits = []>
    : QOpt_Op<mnemonic, !listconcat(traits, [
          DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
          DestinationStyleOpInterface])> {
  let hasVerifier = 1;
}

def QOpt_KernelMatmulOp : QOpt_KernelOp<"kernel_matmul", [AttrSizedOperandSegments]> {
  let summary = "matmul with a row-major [N, K] weight, plain or quantized";
  let description = [{
    `init[t, n] = sum_k input[t, k] * W[n, k]`, where `W` is described by
    `weight_type`: a float tensor type (one `weight` operand of that type,
    f32/f16/bf16, widened in registers) or a `!qopt.qtensor` (operands: codes
    in the type's storage form, scales, and zero points for `asym`), read
    without materializing W. `width`, when present, is the width served
    from a `nested` weight at run time (the planes read are the top
    `min(width + 1, P)`; a width >= P serves the parent).

    ```mlir
    %y = qopt.kernel_matmul ins(%x : tensor<?x64xf32>)
        weight(%codes, %s, %z : tensor<8x32x8xi8>, tensor<32x2xf32>, tensor<32x2xf32>)
        width(%r) outs(%init : tensor<?x32xf32>)
        {weight_type = !qopt.qtensor<32x64xf32, bits = 8, group = 32, asym, layout = nested>}
        -> tensor<?x32xf32>
    ```
  }];
  let arguments = (ins AnyShaped:$input, Variadic<AnyShaped>:$weight,
                       Optional<Index>:$width, AnyShaped:$init,
                       TypeAttr:$weight_type);
  let results = (outs Variadic<AnyRankedTensor>:$result);
  let assemblyFormat = [{
    `ins` `(` $input `:` type($input) `)`
    `weight` `(` $weight `:` type($weight) `)`
    (`width` `(` $width^ `)`)?
    `outs` `(` $init `:` type($init) `)` attr-dict (`->` type($result)^)?
  }];
  let extraClassDeclaration = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      return getInitMutable();
    }
  }];
}

def QOpt_KernelGatherOp : QOpt_KernelOp<"kernel_gather", [AttrSizedOperandSegments]> {
  let summary = "rows of a plain or quantized table, by token id";
  let description = [{
    `init[t, :] = T[clamp(tokens[t], 0, rows - 1), :]` in f32, where the
    table `T` is described by `table_type` as for `qopt.kernel_matmul`'s
    weight (a quantized table is dequantized one row at a time).
  }];
  let arguments = (ins AnyShaped:$tokens, Variadic<AnyShaped>:$table,
                       Optional<Index>:$width, AnyShaped:$init,
                       TypeAttr:$table_type);
  let results = (outs Variadic<AnyRankedTensor>:$result);
  let assemblyFormat = [{
    `ins` `(` $tokens `:` type($tokens) `)`
    `table` `(` $table `:` type($table) `)`
    (`width` `(` $width^ `)`)?
    `outs` `(` $init `:` type($init) `)` attr-dict (`->` type($result)^)?
  }];
  let extraClassDeclaration = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      return getInitMutable();
    }
  }];
}

def QOpt_KernelDequantizeOp : QOpt_KernelOp<"kernel_dequantize", [AttrSizedOperandSegments]> {
  let summary = "expand the parts of a quantized tensor to floats";
  let description = [{
    `init = dequantize(parts)` elementwise, with the semantics of
    `qopt.dequantize` for the `!qopt.qtensor` `qtype` whose parts (codes in
    storage form, scales, zero points) are the `parts` operands.
  }];
  let arguments = (ins Variadic<AnyShaped>:$parts, Optional<Index>:$width,
                       AnyShaped:$init, TypeAttr:$qtype);
  let results = (outs Variadic<AnyRankedTensor>:$result);
  let assemblyFormat = [{
    `ins` `(` $parts `:` type($parts) `)` (`width` `(` $width^ `)`)?
    `outs` `(` $init `:` type($init) `)` attr-dict (`->` type($result)^)?
  }];
  let extraClassDeclaration = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      return getInitMutable();
    }
  }];
}

def QOpt_KernelQuantizeOp : QOpt_KernelOp<"kernel_quantize", [AttrSizedOperandSegments]> {
  let summary = "round-to-nearest quantization into the storage form";
  let description = [{
    Quantizes `input` into the `!qopt.qtensor` `qtype`: writes the codes in
    their storage form to the first init, and (when `params` is empty) the
    RTN min-max scales and zero points to the next inits; with `params`
    (scales, and zero points for `asym`) those are used as given and the
    only init is the codes. The numbers are those of QuantMath's
    `computeGroupParams` / `quantizeValue` (docs/quantization.md).
  }];
  let arguments = (ins AnyShaped:$input, Variadic<AnyShaped>:$params,
                       Variadic<AnyShaped>:$inits, TypeAttr:$qtype);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let assemblyFormat = [{
    `ins` `(` $input `:` type($input) (`,` $params^ `:` type($params))? `)`
    `outs` `(` $inits `:` type($inits) `)` attr-dict (`->` type($results)^)?
  }];
  let extraClassDeclaration = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      return getInitsMutable();
    }
  }];
}

def QOpt_KernelRepackOp : QOpt_KernelOp<"kernel_repack"> {
  let summary = "convert codes between storage forms, slicing on the way";
  let description = [{
    Reads the codes of `source_type` from `source` (its storage form, or one
    code per element when `source_unpacked` is set) and writes the codes of
    `result_type` (same shape) to `init`, in its storage form or one per
    element (`result_unpacked`). When the result is narrower than the
    source it is the Matryoshka slice `S(q, r)` (DESIGN.md). This is how
    unpacked codes given to `qopt.pack` reach the storage form, how a dense
    tensor is sliced at run time, and how `qopt.get_codes` reads codes back.
  }];
  let arguments = (ins AnyShaped:$source, Optional<Index>:$width,
                       AnyShaped:$init, TypeAttr:$source_type,
                       UnitAttr:$source_unpacked, TypeAttr:$result_type,
                       UnitAttr:$result_unpacked);
  let results = (outs Variadic<AnyRankedTensor>:$result);
  let assemblyFormat = [{
    `ins` `(` $source `:` type($source) `)` (`width` `(` $width^ `)`)?
    `outs` `(` $init `:` type($init) `)` attr-dict (`->` type($result)^)?
  }];
  let extraClassDeclaration = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      return getInitMutable();
    }
  }];
}

def QOpt_KernelAttentionOp : QOpt_KernelOp<"kernel_attention"> {
  let summary = "causal grouped-query attention over a KV cache buffer";
  let description = [{
    The computation of `qopt.attention`, in destination-passing style: the
    keys and values of the new tokens are stored into the caches (buffers,
    `[layers, seq, kv_heads * head_dim]` of f32, f16 or bf16, both of one
    type; `seq` may be dynamic), and the attention output is written to
    `init`. 16-bit caches are widened to f32 on load and rounded on store.
    With `sliding_window = W`, position `p` attends to positions
    `max(0, p - W + 1) .. p` only.
  }];
  let arguments = (ins AnyShaped:$query, AnyShaped:$key, AnyShaped:$value,
                       QOpt_KVCache:$key_cache, QOpt_KVCache:$value_cache,
                       Index:$position, AnyShaped:$init,
                       I64Attr:$layer, I64Attr:$num_heads,
                       I64Attr:$num_kv_heads, I64Attr:$head_dim,
                       OptionalAttr<I64Attr>:$sliding_window);
  let results = (outs Variadic<AnyRankedTensor>:$result);
  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,`
    type($value) `)` `cache` `(` $key_cache `,` $value_cache `:`
    type($key_cache) `,` type($value_cache) `)` `at` $position
    `outs` `(` $init `:` type($init) `)` attr-dict (`->` type($result)^)?
  }];
  let extraClassDeclaration = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      return getInitMutable();
    }
  }];
}

def QOpt_KernelHadamardOp : QOpt_KernelOp<"kernel_hadamard"> {
  let summary = "in-place normalized Hadamard transform of row blocks";
  let description = [{
    The computation of `qopt.hadamard` on its own operand, in place: each
    block of `size` contiguous elements of each row of `init` (`[T, D]`
    f32, D a multiple of `size`) is replaced by its normalized Hadamard
    transform. `init` is read and written; one-shot bufferization copies it
    first only when the transformed value is still needed elsewhere.

    ```mlir
    %y = qopt.kernel_hadamard outs(%x : tensor<?x64xf32>) {size = 8 : i64}
        -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins AnyShaped:$init,
                       ConfinedAttr<I64Attr, [IntPositive]>:$size);
  let results = (outs Variadic<AnyRankedTensor>:$result);
  let assemblyFormat = [{
    `outs` `(` $init `:` type($init) `)` attr-dict (`->` type($result)^)?
  }];
  let extraClassDeclaration = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      return getInitMutable();
    }
  }];
}

def QOpt_ServedWidthOp : QOpt_Op<"served_width", [Pure]> {
  let summary = "the width a nested weight is served at, set at run time";
  let description = [{
    A run-time parameter: entry `slot` of the width table that the runtime
    passes to the model (module attribute `qopt.width_table` names the
    slots). `qopt-prepare-abi` turns it into a load from the function's
    width-table argument. The value is constant during one call, so the op
    is pure.

    ```mlir
    %r = qopt.served_width 3
    ```
  }];
  let arguments = (ins ConfinedAttr<I64Attr, [IntNonNegative]>:$slot);
  let results = (outs Index:$result);
  let assemblyFormat = "$slot attr-dict";
}

#endif // QOPT_DIALECT_QOPT_QOPTKERNELOPS_TD
