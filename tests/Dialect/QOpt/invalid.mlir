// RUN: qopt-opt %s -split-input-file -verify-diagnostics

// Every diagnostic of the !qopt.qtensor type and the qopt op verifiers.

//===----------------------------------------------------------------------===//
// !qopt.qtensor
//===----------------------------------------------------------------------===//

// expected-error@+1 {{code width must be in 1..8, got 9}}
func.func private @bits_too_wide(!qopt.qtensor<4x8xf32, bits = 9, group = 4, asym>)

// -----

// expected-error@+1 {{code width must be in 1..8, got 0}}
func.func private @bits_zero(!qopt.qtensor<4x8xf32, bits = 0, group = 4, asym>)

// -----

// Element counts past 2^48 (an overflow of int64 here) are refused.
// expected-error@+1 {{the static dimensions hold more than 2^48 elements}}
func.func private @too_many_elements(!qopt.qtensor<4294967296x4294967296xf32, bits = 8, per_tensor, asym>)

// -----

// expected-error@+1 {{the static dimensions hold more than 2^48 elements}}
func.func private @too_many_elements_dynamic(!qopt.qtensor<?x16777216x16777217xf32, bits = 4, per_tensor, asym>)

// -----

// expected-error@+1 {{expected a width in 0..64, got 100}}
func.func private @bits_huge(!qopt.qtensor<4x8xf32, bits = 100, group = 4, asym>)

// -----

// expected-error@+1 {{Matryoshka parent width must be in 5..8 for a 4-bit slice, got 4}}
func.func private @parent_not_wider(!qopt.qtensor<4x8xf32, bits = 4, parent = 4, group = 4, asym>)

// -----

// expected-error@+1 {{Matryoshka parent width must be in 5..8 for a 4-bit slice, got 16}}
func.func private @parent_too_wide(!qopt.qtensor<4x8xf32, bits = 4, parent = 16, group = 4, asym>)

// -----

// expected-error@+1 {{'parent' must be positive}}
func.func private @parent_zero(!qopt.qtensor<4x8xf32, bits = 4, parent = 0, group = 4, asym>)

// -----

// expected-error@+1 {{expressed type must be a float type, got 'i32'}}
func.func private @int_expressed(!qopt.qtensor<4x8xi32, bits = 4, group = 4, asym>)

// -----

// expected-error@+1 {{group size must be positive, got 0}}
func.func private @group_zero(!qopt.qtensor<4x8xf32, bits = 4, group = 0, asym>)

// -----

// expected-error@+1 {{group size must be positive, got -4}}
func.func private @group_negative(!qopt.qtensor<4x8xf32, bits = 4, group = -4, asym>)

// -----

// A group size that does not divide the dimension leaves a shorter last group:
// 8 = 3 + 3 + 2, so the scales have ceil(8 / 3) = 3 columns.
func.func @group_not_dividing(%c: tensor<4x8xi8>, %s: tensor<4x2xf32>) {
  // expected-error@+1 {{scales shape 4x2 does not match 4x3}}
  %q = qopt.pack %c, %s, %s : tensor<4x8xi8>, tensor<4x2xf32>, tensor<4x2xf32> -> !qopt.qtensor<4x8xf32, bits = 4, group = 3, asym>
  return
}

// -----

// expected-error@+1 {{group axis 2 is out of range for rank 2}}
func.func private @axis_out_of_range(!qopt.qtensor<4x8xf32, bits = 4, group = 4, axis = 2, asym>)

// -----

// expected-error@+1 {{group axis -1 is out of range for rank 2}}
func.func private @axis_negative(!qopt.qtensor<4x8xf32, bits = 4, per_channel, axis = -1, asym>)

// -----

// expected-error@+1 {{grouped or per-channel quantization needs a tensor of rank >= 1}}
func.func private @group_rank0(!qopt.qtensor<f32, bits = 4, per_channel, asym>)

// -----

// expected-error@+1 {{'axis' has no meaning for per_tensor}}
func.func private @axis_per_tensor(!qopt.qtensor<4x8xf32, bits = 4, per_tensor, axis = 0, asym>)

// -----

// expected-error@+1 {{'bits' given more than once}}
func.func private @duplicate_bits(!qopt.qtensor<4x8xf32, bits = 4, bits = 2, group = 4, asym>)

// -----

// expected-error@+1 {{'granularity' given more than once}}
func.func private @duplicate_granularity(!qopt.qtensor<4x8xf32, bits = 4, group = 4, per_channel, asym>)

// -----

// expected-error@+1 {{'scheme' given more than once}}
func.func private @duplicate_scheme(!qopt.qtensor<4x8xf32, bits = 4, group = 4, sym, asym>)

// -----

// expected-error@+1 {{unknown layout 'planar', expected 'dense' or 'nested'}}
func.func private @bad_layout(!qopt.qtensor<4x8xf32, bits = 4, group = 4, asym, layout = planar>)

// -----

// expected-error@+1 {{unknown qtensor parameter 'zero', expected one of bits, parent, group, per_channel, per_tensor, axis, sym, asym, layout, scale}}
func.func private @unknown_key(!qopt.qtensor<4x8xf32, bits = 4, group = 4, asym, zero = 2>)

// -----

// expected-error@+1 {{scale type 'bf16' must be the expressed type 'f16' (or f16/bf16 for f32 values)}}
func.func private @bf16_scales_of_f16(!qopt.qtensor<4x8xf16, bits = 4, group = 4, sym, scale = bf16>)

// -----

// expected-error@+1 {{scale type 'f32' must be the expressed type 'f16' (or f16/bf16 for f32 values)}}
func.func private @wider_scales(!qopt.qtensor<4x8xf16, bits = 4, group = 4, sym, scale = f32>)

// -----

// expected-error@+1 {{scale type 'i8' must be the expressed type 'f32'}}
func.func private @integer_scales(!qopt.qtensor<4x8xf32, bits = 4, group = 4, sym, scale = i8>)

// -----

// expected-error@+1 {{'scale' given more than once}}
func.func private @two_scales(!qopt.qtensor<4x8xf32, bits = 4, group = 4, sym, scale = f16, scale = f16>)

// -----

// expected-error@+1 {{super-group 100 must be a positive multiple of the group size 16}}
func.func private @super_not_multiple(!qopt.qtensor<4x256xf32, bits = 2, group = 16, asym, scale = f16, super = 100>)

// -----

// expected-error@+1 {{two-level sub-scales must be 4 or 8 bits, got 6}}
func.func private @sub_width(!qopt.qtensor<4x256xf32, bits = 2, group = 16, asym, scale = f16, super = 256, sub = 6>)

// -----

// expected-error@+1 {{'sub' needs two-level scales ('super = S')}}
func.func private @sub_alone(!qopt.qtensor<4x256xf32, bits = 2, group = 16, asym, sub = 4>)

// -----

// expected-error@+1 {{two-level scales need f32 values and f16 super-scales ('scale = f16')}}
func.func private @super_f32_scale(!qopt.qtensor<4x256xf32, bits = 2, group = 16, asym, super = 256>)

// -----

// expected-error@+1 {{two-level scales need dense, unsliced codes}}
func.func private @super_nested(!qopt.qtensor<4x256xf32, bits = 8, group = 16, asym, layout = nested, scale = f16, super = 256>)

// -----

// expected-error@+1 {{two-level scales group the last dimension}}
func.func private @super_axis(!qopt.qtensor<256x4xf32, bits = 4, group = 16, axis = 0, sym, scale = f16, super = 256>)

// -----

// expected-error@+1 {{the last dimension (384) must be a multiple of the super-group 256}}
func.func private @super_partial(!qopt.qtensor<4x384xf32, bits = 4, group = 32, sym, scale = f16, super = 256>)

// -----

// expected-error@+1 {{two-level scales ('super') need 'group = G'}}
func.func private @super_per_channel(!qopt.qtensor<4x256xf32, bits = 4, per_channel, sym, scale = f16, super = 256>)

// -----

func.func @pack_two_level_float_scales(%c: tensor<4x128xi8>, %s: tensor<4x16xf32>) {
  // expected-error@+1 {{scales shape 4x16 does not match 4x1x18 required by the quantized type's granularity}}
  %q = qopt.pack %c, %s : tensor<4x128xi8>, tensor<4x16xf32> -> !qopt.qtensor<4x256xf32, bits = 4, group = 16, sym, scale = f16, super = 256>
  return
}

// -----

func.func @quantize_two_level(%x: tensor<4x256xf32>) {
  // expected-error@+1 {{cannot quantize to two-level scales (super = 256): they are imported from K-quant files}}
  %q = qopt.quantize %x : tensor<4x256xf32> -> !qopt.qtensor<4x256xf32, bits = 4, group = 32, sym, scale = f16, super = 256>
  return
}

// -----

func.func @slice_two_level(%q: !qopt.qtensor<4x256xf32, bits = 4, group = 32, sym, scale = f16, super = 256>) {
  // expected-error@+1 {{cannot slice a tensor with two-level scales (super = 256)}}
  %s = qopt.slice %q to 2 : !qopt.qtensor<4x256xf32, bits = 4, group = 32, sym, scale = f16, super = 256>
  return
}

// -----

// expected-error@+1 {{qtensor type needs 'bits = c'}}
func.func private @missing_bits(!qopt.qtensor<4x8xf32, group = 4, asym>)

// -----

// expected-error@+1 {{qtensor type needs a granularity}}
func.func private @missing_granularity(!qopt.qtensor<4x8xf32, bits = 4, asym>)

// -----

// expected-error@+1 {{qtensor type needs a scheme: 'sym' or 'asym'}}
func.func private @missing_scheme(!qopt.qtensor<4x8xf32, bits = 4, group = 4>)

// -----

//===----------------------------------------------------------------------===//
// qopt.pack and accessors
//===----------------------------------------------------------------------===//

func.func @pack_codes_shape(%c: tensor<4x6xi8>, %s: tensor<4x2xf32>, %z: tensor<4x2xf32>) {
  // expected-error@+1 {{codes shape 4x6 does not match the quantized shape 4x8}}
  %q = qopt.pack %c, %s, %z : tensor<4x6xi8>, tensor<4x2xf32>, tensor<4x2xf32> -> !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym>
  return
}

// -----

// Packed codes (two 4-bit codes per byte) exist only for the dense layout.
func.func @pack_packed_nested(%c: tensor<4x4xi8>, %s: tensor<4x2xf32>, %z: tensor<4x2xf32>) {
  // expected-error@+1 {{codes shape 4x4 does not match the quantized shape 4x8}}
  %q = qopt.pack %c, %s, %z : tensor<4x4xi8>, tensor<4x2xf32>, tensor<4x2xf32> -> !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym, layout = nested>
  return
}

// -----

// The storage form packs a row at exactly `bits` per code: 8 codes of 3 bits
// are 3 bytes, not 2.
func.func @pack_packed_three_bits(%c: tensor<4x2xi8>, %s: tensor<4x2xf32>, %z: tensor<4x2xf32>) {
  // expected-error@+1 {{codes shape 4x2 does not match the quantized shape 4x8}}
  %q = qopt.pack %c, %s, %z : tensor<4x2xi8>, tensor<4x2xf32>, tensor<4x2xf32> -> !qopt.qtensor<4x8xf32, bits = 3, group = 4, asym>
  return
}

// -----

func.func @pack_codes_narrow(%c: tensor<4x8xi4>, %s: tensor<4x2xf32>, %z: tensor<4x2xf32>) {
  // expected-error@+1 {{codes element type 'i4' is narrower than the code width 8}}
  %q = qopt.pack %c, %s, %z : tensor<4x8xi4>, tensor<4x2xf32>, tensor<4x2xf32> -> !qopt.qtensor<4x8xf32, bits = 8, group = 4, asym>
  return
}

// -----

func.func @pack_scales_shape(%c: tensor<4x8xi8>, %s: tensor<4x4xf32>, %z: tensor<4x4xf32>) {
  // expected-error@+1 {{scales shape 4x4 does not match 4x2 required by the quantized type's granularity}}
  %q = qopt.pack %c, %s, %z : tensor<4x8xi8>, tensor<4x4xf32>, tensor<4x4xf32> -> !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym>
  return
}

// -----

func.func @pack_per_tensor_scales(%c: tensor<4x8xi8>, %s: tensor<1xf32>) {
  // expected-error@+1 {{scales shape 1 does not match scalar required by the quantized type's granularity}}
  %q = qopt.pack %c, %s : tensor<4x8xi8>, tensor<1xf32> -> !qopt.qtensor<4x8xf32, bits = 4, per_tensor, sym>
  return
}

// -----

func.func @pack_scales_type(%c: tensor<4x8xi8>, %s: tensor<4x2xf16>, %z: tensor<4x2xf16>) {
  // expected-error@+1 {{scales element type 'f16' does not match the quantized type's scale type 'f32'}}
  %q = qopt.pack %c, %s, %z : tensor<4x8xi8>, tensor<4x2xf16>, tensor<4x2xf16> -> !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym>
  return
}

// -----

func.func @pack_narrow_scales_type(%c: tensor<4x4xi8>, %s: tensor<4x2xf32>) {
  // expected-error@+1 {{scales element type 'f32' does not match the quantized type's scale type 'f16'}}
  %q = qopt.pack %c, %s : tensor<4x4xi8>, tensor<4x2xf32> -> !qopt.qtensor<4x8xf32, bits = 4, group = 4, sym, scale = f16>
  return
}

// -----

func.func @pack_missing_zeros(%c: tensor<4x8xi8>, %s: tensor<4x2xf32>) {
  // expected-error@+1 {{asymmetric quantization needs zero points}}
  %q = qopt.pack %c, %s : tensor<4x8xi8>, tensor<4x2xf32> -> !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym>
  return
}

// -----

func.func @pack_sym_zeros(%c: tensor<4x8xi8>, %s: tensor<4x2xf32>, %z: tensor<4x2xf32>) {
  // expected-error@+1 {{symmetric quantization takes no zero points}}
  %q = qopt.pack %c, %s, %z : tensor<4x8xi8>, tensor<4x2xf32>, tensor<4x2xf32> -> !qopt.qtensor<4x8xf32, bits = 4, group = 4, sym>
  return
}

// -----

func.func @pack_zeros_type(%c: tensor<4x8xi8>, %s: tensor<4x2xf32>, %z: tensor<4x1xf32>) {
  // expected-error@+1 {{zero points type 'tensor<4x1xf32>' must equal the scales type 'tensor<4x2xf32>'}}
  %q = qopt.pack %c, %s, %z : tensor<4x8xi8>, tensor<4x2xf32>, tensor<4x1xf32> -> !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym>
  return
}

// -----

func.func @pack_nested_slice(%c: tensor<4x8xi8>, %s: tensor<4x2xf32>, %z: tensor<4x2xf32>) {
  // expected-error@+1 {{cannot pack a nested-layout slice from its 4-bit codes}}
  %q = qopt.pack %c, %s, %z : tensor<4x8xi8>, tensor<4x2xf32>, tensor<4x2xf32> -> !qopt.qtensor<4x8xf32, bits = 4, parent = 8, group = 4, asym, layout = nested>
  return
}

// -----

func.func @get_zeros_sym(%q: !qopt.qtensor<4x8xf32, bits = 4, group = 4, sym>) {
  // expected-error@+1 {{symmetric quantized tensors have no zero-point operand}}
  %z = qopt.get_zeros %q : !qopt.qtensor<4x8xf32, bits = 4, group = 4, sym> -> tensor<4x2xf32>
  return
}

// -----

func.func @get_codes_shape(%q: !qopt.qtensor<4x8xf32, bits = 4, group = 4, sym>) {
  // expected-error@+1 {{codes shape 8x4 does not match the quantized shape 4x8}}
  %c = qopt.get_codes %q : !qopt.qtensor<4x8xf32, bits = 4, group = 4, sym> -> tensor<8x4xi8>
  return
}

// -----

func.func @get_scales_shape(%q: !qopt.qtensor<4x8xf32, bits = 4, per_channel, sym>) {
  // expected-error@+1 {{scales shape 4 does not match 4x1 required by the quantized type's granularity}}
  %s = qopt.get_scales %q : !qopt.qtensor<4x8xf32, bits = 4, per_channel, sym> -> tensor<4xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// qopt.quantize / qopt.dequantize
//===----------------------------------------------------------------------===//

func.func @quantize_shape(%x: tensor<4x4xf32>) {
  // expected-error@+1 {{input shape 4x4 does not match the quantized shape 4x8}}
  %q = qopt.quantize %x : tensor<4x4xf32> -> !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym>
  return
}

// -----

func.func @quantize_type(%x: tensor<4x8xf16>) {
  // expected-error@+1 {{input element type 'f16' does not match the expressed type 'f32'}}
  %q = qopt.quantize %x : tensor<4x8xf16> -> !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym>
  return
}

// -----

func.func @quantize_to_slice(%x: tensor<4x8xf32>) {
  // expected-error@+1 {{cannot quantize directly to a Matryoshka slice (parent = 8)}}
  %q = qopt.quantize %x : tensor<4x8xf32> -> !qopt.qtensor<4x8xf32, bits = 4, parent = 8, group = 4, asym>
  return
}

// -----

func.func @quantize_zeros_without_scales(%x: tensor<4x8xf32>, %z: tensor<4x2xf32>) {
  // expected-error@+1 {{zero points given without scales}}
  %q = qopt.quantize %x zeros(%z : tensor<4x2xf32>) : tensor<4x8xf32> -> !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym>
  return
}

// -----

func.func @quantize_sym_one_bit(%x: tensor<4x8xf32>) {
  // expected-error@+1 {{symmetric quantization with computed scales needs at least 2 bits}}
  %q = qopt.quantize %x : tensor<4x8xf32> -> !qopt.qtensor<4x8xf32, bits = 1, group = 4, sym>
  return
}

// -----

func.func @quantize_scales_shape(%x: tensor<4x8xf32>, %s: tensor<4xf32>) {
  // expected-error@+1 {{scales shape 4 does not match 4x2 required by the quantized type's granularity}}
  %q = qopt.quantize %x scales(%s : tensor<4xf32>) : tensor<4x8xf32> -> !qopt.qtensor<4x8xf32, bits = 4, group = 4, sym>
  return
}

// -----

func.func @quantize_missing_zeros(%x: tensor<4x8xf32>, %s: tensor<4x2xf32>) {
  // expected-error@+1 {{asymmetric quantization needs zero points}}
  %q = qopt.quantize %x scales(%s : tensor<4x2xf32>) : tensor<4x8xf32> -> !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym>
  return
}

// -----

func.func @dequantize_shape(%q: !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym>) {
  // expected-error@+1 {{result shape 8x4 does not match the quantized shape 4x8}}
  %d = qopt.dequantize %q : !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym> -> tensor<8x4xf32>
  return
}

// -----

func.func @dequantize_type(%q: !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym>) {
  // expected-error@+1 {{result element type 'bf16' does not match the expressed type 'f32'}}
  %d = qopt.dequantize %q : !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym> -> tensor<4x8xbf16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// qopt.slice
//===----------------------------------------------------------------------===//

func.func @slice_not_narrower(%q: !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym>) {
  // expected-error@+1 {{slice width 4 must be in 1..3 for a 4-bit input}}
  %s = qopt.slice %q to 4 : !qopt.qtensor<4x8xf32, bits = 4, group = 4, asym>
  return
}

// -----

func.func @slice_wider(%q: !qopt.qtensor<4x8xf32, bits = 8, group = 4, asym>) {
  // expected-error@+1 {{slice width 9 must be in 1..7 for a 8-bit input}}
  %s = qopt.slice %q to 9 : !qopt.qtensor<4x8xf32, bits = 8, group = 4, asym>
  return
}

// -----

func.func @slice_zero(%q: !qopt.qtensor<4x8xf32, bits = 8, group = 4, asym>) {
  // expected-error@+1 {{slice width 0 must be in 1..7 for a 8-bit input}}
  %s = qopt.slice %q to 0 : !qopt.qtensor<4x8xf32, bits = 8, group = 4, asym>
  return
}

// -----

func.func @slice_one_bit(%q: !qopt.qtensor<4x8xf32, bits = 1, group = 4, asym>) {
  // expected-error@+1 {{slice width 1 must be in 1..0 for a 1-bit input}}
  %s = qopt.slice %q to 1 : !qopt.qtensor<4x8xf32, bits = 1, group = 4, asym>
  return
}

// -----

// A slice keeps its input's layout and records the parent width: a result
// type that says otherwise is rejected.
func.func @slice_changes_layout(%q: !qopt.qtensor<4x8xf32, bits = 8, group = 4, asym, layout = nested>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{'qopt.slice' op inferred type(s) '!qopt.qtensor<4x8xf32, bits = 4, parent = 8, group = 4, asym, layout = nested>' are incompatible with return type(s) of operation '!qopt.qtensor<4x8xf32, bits = 4, parent = 8, group = 4, asym>'}}
  %s = "qopt.slice"(%q) <{bits = 4 : i32}> : (!qopt.qtensor<4x8xf32, bits = 8, group = 4, asym, layout = nested>) -> !qopt.qtensor<4x8xf32, bits = 4, parent = 8, group = 4, asym>
  return
}

// -----

func.func @slice_wrong_parent(%q: !qopt.qtensor<4x8xf32, bits = 4, parent = 8, group = 4, asym>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{'qopt.slice' op inferred type(s) '!qopt.qtensor<4x8xf32, bits = 2, parent = 8, group = 4, asym>' are incompatible with return type(s) of operation '!qopt.qtensor<4x8xf32, bits = 2, parent = 4, group = 4, asym>'}}
  %s = "qopt.slice"(%q) <{bits = 2 : i32}> : (!qopt.qtensor<4x8xf32, bits = 4, parent = 8, group = 4, asym>) -> !qopt.qtensor<4x8xf32, bits = 2, parent = 4, group = 4, asym>
  return
}

// -----

//===----------------------------------------------------------------------===//
// qopt.qmatmul
//===----------------------------------------------------------------------===//

func.func @qmatmul_rank(%x: tensor<4x64xf32>, %w: !qopt.qtensor<2x32x64xf32, bits = 4, group = 32, asym>) {
  // expected-error@+1 {{'qopt.qmatmul' op weight must be a rank-2 quantized tensor, got rank 3}}
  %y = qopt.qmatmul %x, %w : tensor<4x64xf32>, !qopt.qtensor<2x32x64xf32, bits = 4, group = 32, asym> -> tensor<4x32xf32>
  return
}

// -----

// Grouped along the output dimension: the scale would change along a row of
// the dot product.
func.func @qmatmul_axis(%x: tensor<4x64xf32>, %w: !qopt.qtensor<32x64xf32, bits = 4, group = 16, axis = 0, asym>) {
  // expected-error@+1 {{'qopt.qmatmul' op weight must be grouped along its second dimension (axis = 1), got axis = 0}}
  %y = qopt.qmatmul %x, %w : tensor<4x64xf32>, !qopt.qtensor<32x64xf32, bits = 4, group = 16, axis = 0, asym> -> tensor<4x32xf32>
  return
}

// -----

func.func @qmatmul_per_channel_axis(%x: tensor<4x64xf32>, %w: !qopt.qtensor<32x64xf32, bits = 8, per_channel, axis = 0, sym>) {
  // expected-error@+1 {{'qopt.qmatmul' op weight must be grouped along its second dimension (axis = 1), got axis = 0}}
  %y = qopt.qmatmul %x, %w : tensor<4x64xf32>, !qopt.qtensor<32x64xf32, bits = 8, per_channel, axis = 0, sym> -> tensor<4x32xf32>
  return
}

// -----

func.func @qmatmul_dynamic_weight(%x: tensor<4x64xf32>, %w: !qopt.qtensor<?x64xf32, bits = 4, group = 32, asym>) {
  // expected-error@+1 {{'qopt.qmatmul' op weight must have a static shape, got ?x64}}
  %y = qopt.qmatmul %x, %w : tensor<4x64xf32>, !qopt.qtensor<?x64xf32, bits = 4, group = 32, asym> -> tensor<4x32xf32>
  return
}

// -----

// Scales may be f32, f16 or bf16.
func.func @qmatmul_f64_scales(%x: tensor<4x64xf32>, %w: !qopt.qtensor<32x64xf64, bits = 4, group = 32, asym>) {
  // expected-error@+1 {{'qopt.qmatmul' op weight expressed type must be f32, f16 or bf16, got 'f64'}}
  %y = qopt.qmatmul %x, %w : tensor<4x64xf32>, !qopt.qtensor<32x64xf64, bits = 4, group = 32, asym> -> tensor<4x32xf32>
  return
}

// -----

// Activations are f32 (the weight's expressed type only sets the scales').
func.func @qmatmul_f16_input(%x: tensor<4x64xf16>, %w: !qopt.qtensor<32x64xf16, bits = 4, group = 32, asym>) {
  // expected-error@+1 {{'qopt.qmatmul' op operand #0 must be 2D tensor of 32-bit float values, but got 'tensor<4x64xf16>'}}
  %y = qopt.qmatmul %x, %w : tensor<4x64xf16>, !qopt.qtensor<32x64xf16, bits = 4, group = 32, asym> -> tensor<4x32xf32>
  return
}

// -----

func.func @qmatmul_input_rank(%x: tensor<64xf32>, %w: !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>) {
  // expected-error@+1 {{'qopt.qmatmul' op operand #0 must be 2D tensor of 32-bit float values, but got 'tensor<64xf32>'}}
  %y = qopt.qmatmul %x, %w : tensor<64xf32>, !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<1x32xf32>
  return
}

// -----

func.func @qmatmul_reduction(%x: tensor<4x32xf32>, %w: !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>) {
  // expected-error@+1 {{'qopt.qmatmul' op input has 32 features but the weight expects 64}}
  %y = qopt.qmatmul %x, %w : tensor<4x32xf32>, !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<4x32xf32>
  return
}

// -----

func.func @qmatmul_output(%x: tensor<4x64xf32>, %w: !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>) {
  // expected-error@+1 {{'qopt.qmatmul' op result has 64 features but the weight produces 32}}
  %y = qopt.qmatmul %x, %w : tensor<4x64xf32>, !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<4x64xf32>
  return
}

// -----

func.func @qmatmul_rows(%x: tensor<4x64xf32>, %w: !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>) {
  // expected-error@+1 {{'qopt.qmatmul' op result has 3 rows but the input has 4}}
  %y = qopt.qmatmul %x, %w : tensor<4x64xf32>, !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<3x32xf32>
  return
}
