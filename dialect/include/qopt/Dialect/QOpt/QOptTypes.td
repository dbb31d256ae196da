//===- QOptTypes.td - qopt type definitions ----------------*- tablegen -*-===//
//
// !qopt.qtensor: the quantization scheme of a tensor, in its type.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_QOPTTYPES_TD
#define QOPT_DIALECT_QOPT_QOPTTYPES_TD

include "qopt/Dialect/QOpt/QOptDialect.td"
include "qopt/Dialect/QOpt/QOptAttrs.td"
include "mlir/IR/AttrTypeBase.td"

class QOpt_Type<string name, string typeMnemonic, list<Trait> traits = []>
    : TypeDef<QOpt_Dialect, name, traits> {
  let mnemonic = typeMnemonic;
}

def QOpt_QTensorType : QOpt_Type<"QTensor", "qtensor"> {
  let summary = "a quantized tensor: codes, group scales and zero points";
  let description = [{
    A ranked tensor whose elements are `c`-bit unsigned codes (1 <= c <= 8)
    with one scale (and, for `asym`, one zero point) per group of elements.
    The type carries only the *scheme*; the codes, scales and zero points are
    SSA tensors bound together by `qopt.pack`.

    Syntax:
    ```
    qtensor-type ::= `!qopt.qtensor<` shape `x` float-type (`,` entry)* `>`
    entry        ::= `bits` `=` c                 // code width, 1..8 (required)
                   | `parent` `=` p               // Matryoshka parent width
                   | `group` `=` G | `per_channel` | `per_tensor` (required)
                   | `axis` `=` d                 // grouped dim (default: last)
                   | `sym` | `asym`               // scheme (required)
                   | `layout` `=` (`dense` | `nested`)   // default: dense
                   | `scale` `=` float-type       // default: the expressed type
                   | `super` `=` S                // two-level scales (below)
                   | `sub` `=` (4 | 8)            // their sub-scale width
    ```

    Examples:
    ```mlir
    // int8 Matryoshka weights, groups of 32 along K, stored as bit planes.
    !qopt.qtensor<11008x4096xf32, bits = 8, group = 32, asym, layout = nested>
    // ... served at 4 bits: a slice records its parent width.
    !qopt.qtensor<11008x4096xf32, bits = 4, parent = 8, group = 32, asym, layout = nested>
    // Per-channel symmetric int4 with f16 scales.
    !qopt.qtensor<4096x4096xf16, bits = 4, per_channel, sym>
    // GGUF Q4_0: f32 values, the file's f16 block scales kept as they are.
    !qopt.qtensor<4096x4096xf32, bits = 4, group = 32, sym, scale = f16>
    // GGUF Q2_K, exactly: 4-bit sub-scales and minimums under f16 ones.
    !qopt.qtensor<4096x4096xf32, bits = 2, group = 16, asym, scale = f16, super = 256, sub = 4>
    // KIVI-style keys: groups of 64 tokens along dim 0 (per channel).
    !qopt.qtensor<?x128xf32, bits = 2, group = 64, axis = 0, asym>
    ```

    Semantics (docs/quantization.md): with parent width `p` (`p = c` when no
    `parent` is given) the element at index `i` dequantizes to
    `scale[g(i)] * (code[i] * 2^(p-c) - zero[g(i)])`, `zero = 2^(p-1)` for
    `sym`. Groups run along dimension `axis`: `group = G` means G consecutive
    elements along `axis` share a scale (when G does not divide that
    dimension the last group is shorter: there are `ceil(dim / G)` groups); `per_channel` means the whole extent of `axis` shares one
    (one scale per slice orthogonal to `axis`, i.e. per output channel of a
    `[N, K]` weight); `per_tensor` means one scale for everything.

    The scales (and zero points) are stored in the `scale` type, by default
    the expressed type. A narrower one is allowed where the expressed type
    holds all its values exactly (`f16` or `bf16` scales of `f32` values): it
    keeps a checkpoint's 16-bit block scales at their size, and every
    consumer widens them exactly before the formula above, which is then
    evaluated in the expressed type as without it.

    The scales tensor has the qtensor's shape with the `axis` extent replaced
    by the number of groups (`ceil(dim / G)`, or 1 for `per_channel`), and rank 0
    for `per_tensor`. The zero-point tensor, present only for `asym`, has the
    same shape and element type as the scales.

    *Two-level scales* (`super = S`, GGUF's K-quants): the group scales are
    integers under one `scale`-typed (f16) super-scale per S elements along
    the last dimension (grouped, dense, unsliced, `axis` last, the last
    dimension a multiple of S, S a multiple of G). The scales tensor holds
    one record of bytes per super-group: the super-scale `d` (2 bytes,
    little-endian), then the S / G sub-scale codes `s`, `sub` bits each
    (8: one signed byte per group; 4: unsigned nibbles, group 2i in the low
    nibble of byte i, 2i + 1 in the high one). Group g's scale is
    `a = d * s[g]`, an exact f32 product. Its shape is the qtensor's with
    the last extent replaced by `dim / S` and a trailing extent of
    `2 + ceil((S / G) * sub / 8)` record bytes, element `i8`. For `asym`
    the zero-point tensor has the same records, holding the *minimums*: a
    super-minimum `dmin` and sub-codes `m`, and an element is
    `a * code - dmin * m[g]` (ggml's K-quant form, each product and the
    difference rounded to f32 in that order), not `a * (code - zero)`.
    `sym` keeps `a * (code - 2^(c-1))`.

    `layout` is the storage the lowering gives the codes: `dense` packs them
    at `c` bits; `nested` stores the parent's codes as `p` bit planes, most
    significant first, of which an unsliced tensor reads all and a `c`-bit
    slice reads the top `c + 1`.
  }];

  let parameters = (ins
    ArrayRefParameter<"int64_t", "shape">:$shape,
    "::mlir::Type":$expressedType,
    "unsigned":$bits,
    "unsigned":$parentBits,
    EnumParameter<QOpt_Scheme>:$scheme,
    EnumParameter<QOpt_Granularity>:$granularity,
    "int64_t":$groupSize,
    "int64_t":$axis,
    EnumParameter<QOpt_Layout>:$layout,
    "::mlir::Type":$scaleType,
    DefaultValuedParameter<"int64_t", "0">:$superGroup,
    DefaultValuedParameter<"unsigned", "0">:$subBits
  );

  let builders = [
    // Scales in the expressed type.
    TypeBuilder<(ins "::llvm::ArrayRef<int64_t>":$shape,
                     "::mlir::Type":$expressedType, "unsigned":$bits,
                     "unsigned":$parentBits, "QuantScheme":$scheme,
                     "Granularity":$granularity, "int64_t":$groupSize,
                     "int64_t":$axis, "Layout":$layout), [{
      return $_get($_ctxt, shape, expressedType, bits, parentBits, scheme,
                   granularity, groupSize, axis, layout, expressedType,
                   int64_t(0), 0u);
    }]>
  ];

  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;

  let extraClassDeclaration = [{
    /// The rank of the quantized tensor.
    int64_t getRank() const { return getShape().size(); }
    /// True if this is a Matryoshka slice of a wider parent.
    bool isSliced() const { return getParentBits() != 0; }
    /// The width the scales and zero points are expressed in: the parent
    /// width for a slice, the code width otherwise.
    unsigned getEffectiveParentBits() const {
      return isSliced() ? getParentBits() : getBits();
    }
    /// True for the asymmetric scheme (zero points are operands).
    bool isAsymmetric() const {
      return getScheme() == ::mlir::qopt::QuantScheme::Asymmetric;
    }
    /// The tensor type of the dequantized values.
    ::mlir::RankedTensorType getExpressedTensorType() const;
    /// The shape of the scale and zero-point tensors.
    ::llvm::SmallVector<int64_t> getScalesShape() const;
    /// The tensor type of the scales (and of the zero points).
    ::mlir::RankedTensorType getScalesType() const;
    /// The shape of the codes as the lowering stores them (the *storage
    /// form*, docs/quantization.md), always bytes (`i8`):
    /// - `dense`: each row of the last dimension packed at `c` bits per code,
    ///   `ceil(last * c / 8)` bytes (little-endian bit stream, element i at
    ///   bits [i*c, (i+1)*c));
    /// - `nested`: `[P, dims..., ceil(last / 8)]`, P = the parent width
    ///   (`getEffectiveParentBits()`); plane 0 holds the most significant
    ///   bit of every parent code (element i of a row is bit i % 8 of byte
    ///   i / 8), plane P-1 the least significant. A slice to r bits reads
    ///   planes 0..min(r, P-1).
    /// A rank-0 tensor is stored as one row of one element.
    ::llvm::SmallVector<int64_t> getStorageShape() const;
    /// `tensor<getStorageShape() x i8>`.
    ::mlir::RankedTensorType getStorageType() const;
    /// The number of elements that share one scale along `axis`, or
    /// ShapedType::kDynamic when that is not static.
    int64_t getElementsPerGroup() const;
    /// True if the scales are stored narrower than the expressed type.
    bool hasNarrowScales() const { return getScaleType() != getExpressedType(); }
    /// True for two-level scales (`super = S`): byte records of integer
    /// sub-scales under one super-scale per S elements.
    bool isTwoLevel() const { return getSuperGroup() != 0; }
    /// Groups per super-group (two-level scales only).
    int64_t getGroupsPerSuper() const {
      return getSuperGroup() / getGroupSize();
    }
    /// Bytes of one two-level record: the 2-byte super-scale and the
    /// super-group's sub-scale codes.
    int64_t getRecordBytes() const {
      return 2 + (getGroupsPerSuper() * getSubBits() + 7) / 8;
    }
    /// This type with another code width and parent width.
    QTensorType cloneWithBits(unsigned bits, unsigned parentBits) const;
  }];
}

#endif // QOPT_DIALECT_QOPT_QOPTTYPES_TD
