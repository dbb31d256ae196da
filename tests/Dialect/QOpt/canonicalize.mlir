// RUN: qopt-opt %s -canonicalize -split-input-file | FileCheck %s

// Folding of quantize, slice and dequantize on constants. Every expected
// value is worked out by hand from docs/quantization.md.

// asym, 2 bits, one group of 4: lo = -1, hi = 2, scale = 3 / 3 = 1,
// zero = round(1 / 1) = 1. Codes: -1 -> 0, 0 -> 1, 0.5 -> round_half_even(0.5)
// = 0 -> 1, 2 -> 3.
// CHECK-LABEL: func.func @quantize_asym
// CHECK-DAG: %[[C:.*]] = arith.constant dense<{{\[}}[0, 1, 1, 3]]> : tensor<1x4xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense<1.000000e+00> : tensor<1x1xf32>
// CHECK: %[[Q:.*]] = qopt.pack %[[C]], %[[S]], %[[S]] : tensor<1x4xi8>, tensor<1x1xf32>, tensor<1x1xf32> -> !qopt.qtensor<1x4xf32, bits = 2, group = 4, asym>
// CHECK-NOT: qopt.quantize
// CHECK: return %[[Q]]
func.func @quantize_asym() -> !qopt.qtensor<1x4xf32, bits = 2, group = 4, asym> {
  %w = arith.constant dense<[[-1.0, 0.0, 0.5, 2.0]]> : tensor<1x4xf32>
  %q = qopt.quantize %w : tensor<1x4xf32> -> !qopt.qtensor<1x4xf32, bits = 2, group = 4, asym>
  return %q : !qopt.qtensor<1x4xf32, bits = 2, group = 4, asym>
}

// -----

// sym, 4 bits, per tensor: absmax = 7, scale = 7 / (2^3 - 1) = 1, zero = 8.
// Codes: -7 -> 1, 3.5 -> 4 + 8 = 12, 0.5 -> 0 + 8 = 8, 2.5 -> 2 + 8 = 10.
// CHECK-LABEL: func.func @quantize_sym
// CHECK-DAG: %[[C:.*]] = arith.constant dense<[1, 12, 8, 10]> : tensor<4xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense<1.000000e+00> : tensor<f32>
// CHECK: qopt.pack %[[C]], %[[S]] : tensor<4xi8>, tensor<f32> -> !qopt.qtensor<4xf32, bits = 4, per_tensor, sym>
func.func @quantize_sym() -> !qopt.qtensor<4xf32, bits = 4, per_tensor, sym> {
  %w = arith.constant dense<[-7.0, 3.5, 0.5, 2.5]> : tensor<4xf32>
  %q = qopt.quantize %w : tensor<4xf32> -> !qopt.qtensor<4xf32, bits = 4, per_tensor, sym>
  return %q : !qopt.qtensor<4xf32, bits = 4, per_tensor, sym>
}

// -----

// Groups of 2 along axis 0 (per column), asym 2 bits:
//   col 0 rows 0-1 {0, 3}:     scale 1, zero 0 -> codes 0, 3
//   col 1 rows 0-1 {-3, 0}:    scale 1, zero 3 -> codes 0, 3
//   col 0 rows 2-3 {6, 0}:     scale 2, zero 0 -> codes 3, 0
//   col 1 rows 2-3 {1.5,-1.5}: scale 1, zero round_half_even(1.5) = 2 ->
//                              1.5 -> 2 + 2 = 4 clamps to 3; -1.5 -> -2 + 2 = 0
// CHECK-LABEL: func.func @quantize_axis0
// CHECK-DAG: arith.constant dense<{{\[}}[0, 0], [3, 3], [3, 3], [0, 0]]> : tensor<4x2xi8>
// CHECK-DAG: arith.constant dense<{{\[}}[1.000000e+00, 1.000000e+00], [2.000000e+00, 1.000000e+00]]> : tensor<2x2xf32>
// CHECK-DAG: arith.constant dense<{{\[}}[0.000000e+00, 3.000000e+00], [0.000000e+00, 2.000000e+00]]> : tensor<2x2xf32>
func.func @quantize_axis0() -> !qopt.qtensor<4x2xf32, bits = 2, group = 2, axis = 0, asym> {
  %w = arith.constant dense<[[0.0, -3.0], [3.0, 0.0], [6.0, 1.5], [0.0, -1.5]]> : tensor<4x2xf32>
  %q = qopt.quantize %w : tensor<4x2xf32> -> !qopt.qtensor<4x2xf32, bits = 2, group = 2, axis = 0, asym>
  return %q : !qopt.qtensor<4x2xf32, bits = 2, group = 2, axis = 0, asym>
}

// -----

// Given scales and zeros: scale 0.5, zero 4 (3 bits). 1.25 / 0.5 = 2.5 ->
// round_half_even 2 -> 6; -3 / 0.5 = -6 -> -2 clamps to 0; 10 -> 24 clamps
// to 7.
// CHECK-LABEL: func.func @quantize_given_params
// CHECK-DAG: %[[C:.*]] = arith.constant dense<[6, 0, 7]> : tensor<3xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense<5.000000e-01> : tensor<f32>
// CHECK-DAG: %[[Z:.*]] = arith.constant dense<4.000000e+00> : tensor<f32>
// CHECK: qopt.pack %[[C]], %[[S]], %[[Z]]
func.func @quantize_given_params() -> !qopt.qtensor<3xf32, bits = 3, per_tensor, asym> {
  %w = arith.constant dense<[1.25, -3.0, 10.0]> : tensor<3xf32>
  %s = arith.constant dense<0.5> : tensor<f32>
  %z = arith.constant dense<4.0> : tensor<f32>
  %q = qopt.quantize %w scales(%s : tensor<f32>) zeros(%z : tensor<f32>) : tensor<3xf32>
      -> !qopt.qtensor<3xf32, bits = 3, per_tensor, asym>
  return %q : !qopt.qtensor<3xf32, bits = 3, per_tensor, asym>
}

// -----

// Matryoshka slice of constant 8-bit codes to 4 bits:
// S(q, 4) = clamp(round_half_up(q / 16), 0, 15):
//   24 -> 1.5 -> 2;  255 -> 15.9 -> 16 -> 15;  8 -> 0.5 -> 1;  7 -> 0.44 -> 0
// (8-bit codes print as signed i8: 255 is -1.)
// CHECK-LABEL: func.func @slice_constant
// CHECK-DAG: %[[C:.*]] = arith.constant dense<[2, 15, 1, 0]> : tensor<4xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense<2.500000e-01> : tensor<f32>
// CHECK: %[[Q:.*]] = qopt.pack %[[C]], %[[S]] : tensor<4xi8>, tensor<f32> -> !qopt.qtensor<4xf32, bits = 4, parent = 8, per_tensor, sym>
// CHECK-NOT: qopt.slice
func.func @slice_constant() -> !qopt.qtensor<4xf32, bits = 4, parent = 8, per_tensor, sym> {
  %c = arith.constant dense<[24, -1, 8, 7]> : tensor<4xi8>
  %s = arith.constant dense<0.25> : tensor<f32>
  %q = qopt.pack %c, %s : tensor<4xi8>, tensor<f32> -> !qopt.qtensor<4xf32, bits = 8, per_tensor, sym>
  %q4 = qopt.slice %q to 4 : !qopt.qtensor<4xf32, bits = 8, per_tensor, sym>
  return %q4 : !qopt.qtensor<4xf32, bits = 4, parent = 8, per_tensor, sym>
}

// -----

// slice(slice(q, 4), 2) rounds twice and is NOT slice(q, 2). For q = 24:
//   slice(24, 4) = 2, then S(2, 2) w.r.t. 4 bits = round_half_up(2 / 4) = 1;
//   slice(24, 2) directly = round_half_up(24 / 64 = 0.375) = 0.
// Folding evaluates each slice exactly as written.
// CHECK-LABEL: func.func @double_slice_constant
// CHECK-DAG: %[[TWICE:.*]] = arith.constant dense<1> : tensor<1xi8>
// CHECK-DAG: %[[ONCE:.*]] = arith.constant dense<0> : tensor<1xi8>
// CHECK-DAG: %[[A:.*]] = qopt.pack %[[TWICE]], %{{.*}} : tensor<1xi8>, tensor<f32> -> !qopt.qtensor<1xf32, bits = 2, parent = 8, per_tensor, sym>
// CHECK-DAG: %[[B:.*]] = qopt.pack %[[ONCE]], %{{.*}} : tensor<1xi8>, tensor<f32> -> !qopt.qtensor<1xf32, bits = 2, parent = 8, per_tensor, sym>
// CHECK: return %[[A]], %[[B]]
func.func @double_slice_constant()
    -> (!qopt.qtensor<1xf32, bits = 2, parent = 8, per_tensor, sym>,
        !qopt.qtensor<1xf32, bits = 2, parent = 8, per_tensor, sym>) {
  %c = arith.constant dense<[24]> : tensor<1xi8>
  %s = arith.constant dense<1.0> : tensor<f32>
  %q = qopt.pack %c, %s : tensor<1xi8>, tensor<f32> -> !qopt.qtensor<1xf32, bits = 8, per_tensor, sym>
  %q4 = qopt.slice %q to 4 : !qopt.qtensor<1xf32, bits = 8, per_tensor, sym>
  %twice = qopt.slice %q4 to 2 : !qopt.qtensor<1xf32, bits = 4, parent = 8, per_tensor, sym>
  %once = qopt.slice %q to 2 : !qopt.qtensor<1xf32, bits = 8, per_tensor, sym>
  return %twice, %once : !qopt.qtensor<1xf32, bits = 2, parent = 8, per_tensor, sym>,
                         !qopt.qtensor<1xf32, bits = 2, parent = 8, per_tensor, sym>
}

// -----

// On non-constant codes the two slices stay as written: no pattern merges
// them into one.
// CHECK-LABEL: func.func @double_slice_kept
// CHECK-SAME: (%[[Q:.*]]: !qopt.qtensor
// CHECK: %[[S4:.*]] = qopt.slice %[[Q]] to 4
// CHECK: %[[S2:.*]] = qopt.slice %[[S4]] to 2
// CHECK: return %[[S2]]
func.func @double_slice_kept(%q: !qopt.qtensor<64xf32, bits = 8, group = 32, asym>)
    -> !qopt.qtensor<64xf32, bits = 2, parent = 8, group = 32, asym> {
  %q4 = qopt.slice %q to 4 : !qopt.qtensor<64xf32, bits = 8, group = 32, asym>
  %q2 = qopt.slice %q4 to 2 : !qopt.qtensor<64xf32, bits = 4, parent = 8, group = 32, asym>
  return %q2 : !qopt.qtensor<64xf32, bits = 2, parent = 8, group = 32, asym>
}

// -----

// A nested slice keeps reading its parent's planes: it is not folded into
// repacked constants.
// CHECK-LABEL: func.func @nested_slice_not_folded
// CHECK: qopt.slice %{{.*}} to 4 : !qopt.qtensor<4xf32, bits = 8, per_tensor, sym, layout = nested>
func.func @nested_slice_not_folded() -> !qopt.qtensor<4xf32, bits = 4, parent = 8, per_tensor, sym, layout = nested> {
  %c = arith.constant dense<[24, -1, 8, 7]> : tensor<4xi8>
  %s = arith.constant dense<0.25> : tensor<f32>
  %q = qopt.pack %c, %s : tensor<4xi8>, tensor<f32> -> !qopt.qtensor<4xf32, bits = 8, per_tensor, sym, layout = nested>
  %q4 = qopt.slice %q to 4 : !qopt.qtensor<4xf32, bits = 8, per_tensor, sym, layout = nested>
  return %q4 : !qopt.qtensor<4xf32, bits = 4, parent = 8, per_tensor, sym, layout = nested>
}

// -----

// Dequantizing a 4-bit slice of an 8-bit parent: w = a * (code * 2^4 - z)
// with a = 0.5, z = 128 (sym at parent width 8):
//   2 -> 0.5 * (32 - 128) = -48;  15 -> 0.5 * (240 - 128) = 56;
//   8 -> 0.5 * (128 - 128) = 0.
// CHECK-LABEL: func.func @dequantize_slice
// CHECK: %[[R:.*]] = arith.constant dense<[-4.800000e+01, 5.600000e+01, 0.000000e+00]> : tensor<3xf32>
// CHECK-NOT: qopt.
// CHECK: return %[[R]]
func.func @dequantize_slice() -> tensor<3xf32> {
  %c = arith.constant dense<[2, 15, 8]> : tensor<3xi8>
  %s = arith.constant dense<0.5> : tensor<f32>
  %q = qopt.pack %c, %s : tensor<3xi8>, tensor<f32> -> !qopt.qtensor<3xf32, bits = 4, parent = 8, per_tensor, sym>
  %d = qopt.dequantize %q : !qopt.qtensor<3xf32, bits = 4, parent = 8, per_tensor, sym> -> tensor<3xf32>
  return %d : tensor<3xf32>
}

// -----

// quantize -> slice -> dequantize of a constant folds all the way.
// asym 8 bits per channel, row {0, 1, 2, 3}... uses lo = 0, hi = 3.
// Row 0 = {0, 1, 2, 3}: scale = 3/255, zero 0; codes round(x * 85) =
// {0, 85, 170, 255}. Sliced to 2 bits: round_half_up(q / 64) =
// {0, 1.33 -> 1, 2.66 -> 3, 3.98 -> 4 -> clamp 3}; values a * (s * 64):
// {0, 64, 192, 192} * 3/255.
// CHECK-LABEL: func.func @fold_chain
// CHECK: %[[R:.*]] = arith.constant dense<{{\[}}[0.000000e+00, 0.752941191, 2.25882363, 2.25882363]]> : tensor<1x4xf32>
// CHECK-NEXT: return %[[R]]
func.func @fold_chain() -> tensor<1x4xf32> {
  %w = arith.constant dense<[[0.0, 1.0, 2.0, 3.0]]> : tensor<1x4xf32>
  %q = qopt.quantize %w : tensor<1x4xf32> -> !qopt.qtensor<1x4xf32, bits = 8, per_channel, asym>
  %q2 = qopt.slice %q to 2 : !qopt.qtensor<1x4xf32, bits = 8, per_channel, asym>
  %d = qopt.dequantize %q2 : !qopt.qtensor<1x4xf32, bits = 2, parent = 8, per_channel, asym> -> tensor<1x4xf32>
  return %d : tensor<1x4xf32>
}

// -----

// Accessors fold through qopt.pack, and re-packing a tensor's own parts
// folds to the tensor.
// CHECK-LABEL: func.func @accessors
// CHECK-SAME: (%[[C:.*]]: tensor<8xi8>, %[[S:.*]]: tensor<f32>, %[[Z:.*]]: tensor<f32>, %[[Q:.*]]: !qopt.qtensor
// CHECK-NOT: qopt.get_
// CHECK: return %[[C]], %[[S]], %[[Z]], %[[Q]]
func.func @accessors(%c: tensor<8xi8>, %s: tensor<f32>, %z: tensor<f32>,
                     %q: !qopt.qtensor<8xf32, bits = 4, per_tensor, asym>)
    -> (tensor<8xi8>, tensor<f32>, tensor<f32>, !qopt.qtensor<8xf32, bits = 4, per_tensor, asym>) {
  %p = qopt.pack %c, %s, %z : tensor<8xi8>, tensor<f32>, tensor<f32> -> !qopt.qtensor<8xf32, bits = 4, per_tensor, asym>
  %c2 = qopt.get_codes %p : !qopt.qtensor<8xf32, bits = 4, per_tensor, asym> -> tensor<8xi8>
  %s2 = qopt.get_scales %p : !qopt.qtensor<8xf32, bits = 4, per_tensor, asym> -> tensor<f32>
  %z2 = qopt.get_zeros %p : !qopt.qtensor<8xf32, bits = 4, per_tensor, asym> -> tensor<f32>
  %qc = qopt.get_codes %q : !qopt.qtensor<8xf32, bits = 4, per_tensor, asym> -> tensor<8xi8>
  %qs = qopt.get_scales %q : !qopt.qtensor<8xf32, bits = 4, per_tensor, asym> -> tensor<f32>
  %qz = qopt.get_zeros %q : !qopt.qtensor<8xf32, bits = 4, per_tensor, asym> -> tensor<f32>
  %q2 = qopt.pack %qc, %qs, %qz : tensor<8xi8>, tensor<f32>, tensor<f32> -> !qopt.qtensor<8xf32, bits = 4, per_tensor, asym>
  return %c2, %s2, %z2, %q2 : tensor<8xi8>, tensor<f32>, tensor<f32>, !qopt.qtensor<8xf32, bits = 4, per_tensor, asym>
}

// -----

// f16 scales: the folder quantizes with the scale as stored. hi = 1,
// scale = 1/255 = 0.0039215... rounds to f16 0.0039215088; codes:
// 1 / 0.0039215088 = 255.0009 -> 255 (printed as -1), 0.5 -> 127.5 -> 128
// (printed as -128).
// CHECK-LABEL: func.func @f16_scales
// CHECK-DAG: arith.constant dense<{{\[}}[0, -1, -128]]> : tensor<1x3xi8>
// CHECK-DAG: arith.constant dense<3.921510e-03> : tensor<1x1xf16>
func.func @f16_scales() -> !qopt.qtensor<1x3xf16, bits = 8, per_channel, asym> {
  %w = arith.constant dense<[[0.0, 1.0, 0.5]]> : tensor<1x3xf16>
  %q = qopt.quantize %w : tensor<1x3xf16> -> !qopt.qtensor<1x3xf16, bits = 8, per_channel, asym>
  return %q : !qopt.qtensor<1x3xf16, bits = 8, per_channel, asym>
}

// -----

// Codes in their storage form (two 4-bit codes per byte, low nibble first)
// fold too: bytes 0x21, 0x12 are codes [1, 2, 2, 1], sym z = 8.
// CHECK-LABEL: func.func @packed_folded
// CHECK: arith.constant dense<{{\[}}[-7.000000e+00, -6.000000e+00, -6.000000e+00, -7.000000e+00]]> : tensor<1x4xf32>
// CHECK-NOT: qopt.dequantize
func.func @packed_folded() -> tensor<1x4xf32> {
  %c = arith.constant dense<[[33, 18]]> : tensor<1x2xi8>
  %s = arith.constant dense<1.0> : tensor<f32>
  %q = qopt.pack %c, %s : tensor<1x2xi8>, tensor<f32> -> !qopt.qtensor<1x4xf32, bits = 4, per_tensor, sym>
  %d = qopt.dequantize %q : !qopt.qtensor<1x4xf32, bits = 4, per_tensor, sym> -> tensor<1x4xf32>
  return %d : tensor<1x4xf32>
}

// -----

// 3-bit storage form, codes straddling bytes: codes 0..7 are the bit stream
// 0xFAC688 = bytes 0x88, 0xC6, 0xFA (-120, -58, -6); sym z = 4.
// CHECK-LABEL: func.func @packed_3bit_folded
// CHECK: arith.constant dense<{{\[}}[-4.000000e+00, -3.000000e+00, -2.000000e+00, -1.000000e+00, 0.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00]]> : tensor<1x8xf32>
func.func @packed_3bit_folded() -> tensor<1x8xf32> {
  %c = arith.constant dense<[[-120, -58, -6]]> : tensor<1x3xi8>
  %s = arith.constant dense<1.0> : tensor<f32>
  %q = qopt.pack %c, %s : tensor<1x3xi8>, tensor<f32> -> !qopt.qtensor<1x8xf32, bits = 3, per_tensor, sym>
  %d = qopt.dequantize %q : !qopt.qtensor<1x8xf32, bits = 3, per_tensor, sym> -> tensor<1x8xf32>
  return %d : tensor<1x8xf32>
}

// -----

// Canonicalization keeps weights quantized: a 64x64 weight (4096 elements,
// more than kMaxFoldedDequantizeElements = 256) built from constants is not
// expanded into an f32 constant; the linear still reads the dequantized
// qtensor, ready for qopt-fuse-dequant-matmul.
// CHECK-LABEL: func.func @weight_stays_quantized
// CHECK-DAG: %[[C:.*]] = arith.constant dense<3> : tensor<64x64xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense<5.000000e-01> : tensor<64x2xf32>
// CHECK-DAG: %[[Z:.*]] = arith.constant dense<8.000000e+00> : tensor<64x2xf32>
// CHECK: %[[Q:.*]] = qopt.pack %[[C]], %[[S]], %[[Z]]
// CHECK: %[[W:.*]] = qopt.dequantize %[[Q]]
// CHECK: qopt.linear %{{.*}}, %[[W]]
// CHECK-NOT: arith.constant {{.*}} : tensor<64x64xf32>
func.func @weight_stays_quantized(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %c = arith.constant dense<3> : tensor<64x64xi8>
  %s = arith.constant dense<0.5> : tensor<64x2xf32>
  %z = arith.constant dense<8.0> : tensor<64x2xf32>
  %q = qopt.pack %c, %s, %z : tensor<64x64xi8>, tensor<64x2xf32>, tensor<64x2xf32>
      -> !qopt.qtensor<64x64xf32, bits = 4, group = 32, asym>
  %w = qopt.dequantize %q : !qopt.qtensor<64x64xf32, bits = 4, group = 32, asym> -> tensor<64x64xf32>
  %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Nested bit planes: codes [2, 1, 3] at 2 bits are plane 0 (high bits)
// 0b101 and plane 1 (low bits) 0b110; sym z = 2.
// CHECK-LABEL: func.func @nested_folded
// CHECK: arith.constant dense<{{\[}}[0.000000e+00, -1.000000e+00, 1.000000e+00]]> : tensor<1x3xf32>
func.func @nested_folded() -> tensor<1x3xf32> {
  %c = arith.constant dense<[[[5]], [[6]]]> : tensor<2x1x1xi8>
  %s = arith.constant dense<1.0> : tensor<f32>
  %q = qopt.pack %c, %s : tensor<2x1x1xi8>, tensor<f32> -> !qopt.qtensor<1x3xf32, bits = 2, per_tensor, sym, layout = nested>
  %d = qopt.dequantize %q : !qopt.qtensor<1x3xf32, bits = 2, per_tensor, sym, layout = nested> -> tensor<1x3xf32>
  return %d : tensor<1x3xf32>
}

// -----

// A dense slice of codes in storage form stays in storage form, repacked at
// the slice's width: 4-bit [1, 2, 2, 1] slice to 2 bits = [0, 1, 1, 0]
// = 0b00010100 = 20.
// CHECK-LABEL: func.func @packed_slice_folded
// CHECK: %[[C:.*]] = arith.constant dense<20> : tensor<1x1xi8>
// CHECK: qopt.pack %[[C]], %{{.*}} : tensor<1x1xi8>, tensor<f32> -> !qopt.qtensor<1x4xf32, bits = 2, parent = 4, per_tensor, sym>
func.func @packed_slice_folded() -> !qopt.qtensor<1x4xf32, bits = 2, parent = 4, per_tensor, sym> {
  %c = arith.constant dense<[[33, 18]]> : tensor<1x2xi8>
  %s = arith.constant dense<1.0> : tensor<f32>
  %q = qopt.pack %c, %s : tensor<1x2xi8>, tensor<f32> -> !qopt.qtensor<1x4xf32, bits = 4, per_tensor, sym>
  %r = qopt.slice %q to 2 : !qopt.qtensor<1x4xf32, bits = 4, per_tensor, sym>
  return %r : !qopt.qtensor<1x4xf32, bits = 2, parent = 4, per_tensor, sym>
}

// -----

// A group size that does not divide the row: groups of 2 over 5 elements,
// the last group is [-6] alone: lo = -6, scale 2, zero 3, code 0. The
// others: [-1.5, 1.5] -> scale 1, zero 2, codes [0, 3]; [3, 0.75] -> scale
// 1, zero 0, codes [3, 1].
// CHECK-LABEL: func.func @shorter_last_group
// CHECK-DAG: arith.constant dense<{{\[}}[0, 3, 3, 1, 0]]> : tensor<1x5xi8>
// CHECK-DAG: arith.constant dense<{{\[}}[1.000000e+00, 1.000000e+00, 2.000000e+00]]> : tensor<1x3xf32>
// CHECK-DAG: arith.constant dense<{{\[}}[2.000000e+00, 0.000000e+00, 3.000000e+00]]> : tensor<1x3xf32>
func.func @shorter_last_group() -> !qopt.qtensor<1x5xf32, bits = 2, group = 2, asym> {
  %w = arith.constant dense<[[-1.5, 1.5, 3.0, 0.75, -6.0]]> : tensor<1x5xf32>
  %q = qopt.quantize %w : tensor<1x5xf32> -> !qopt.qtensor<1x5xf32, bits = 2, group = 2, asym>
  return %q : !qopt.qtensor<1x5xf32, bits = 2, group = 2, asym>
}

// -----

// Dequantizing with the shorter last group: [-2, 1, 3, 1, -6].
// CHECK-LABEL: func.func @shorter_last_group_dequantize
// CHECK: arith.constant dense<{{\[}}[-2.000000e+00, 1.000000e+00, 3.000000e+00, 1.000000e+00, -6.000000e+00]]> : tensor<1x5xf32>
func.func @shorter_last_group_dequantize() -> tensor<1x5xf32> {
  %c = arith.constant dense<[[0, 3, 3, 1, 0]]> : tensor<1x5xi8>
  %s = arith.constant dense<[[1.0, 1.0, 2.0]]> : tensor<1x3xf32>
  %z = arith.constant dense<[[2.0, 0.0, 3.0]]> : tensor<1x3xf32>
  %q = qopt.pack %c, %s, %z : tensor<1x5xi8>, tensor<1x3xf32>, tensor<1x3xf32> -> !qopt.qtensor<1x5xf32, bits = 2, group = 2, asym>
  %d = qopt.dequantize %q : !qopt.qtensor<1x5xf32, bits = 2, group = 2, asym> -> tensor<1x5xf32>
  return %d : tensor<1x5xf32>
}

// -----

// At the limit (16x16 = 256 elements) the tiny tensor still folds:
// 0.5 * (3 - 8) = -2.5. One element more (16x17 = 272) stays quantized.
// CHECK-LABEL: func.func @fold_size_limit
// CHECK-DAG: %[[F:.*]] = arith.constant dense<-2.500000e+00> : tensor<16x16xf32>
// CHECK-DAG: %[[Q:.*]] = qopt.pack {{.*}} -> !qopt.qtensor<16x17xf32, bits = 4, per_tensor, asym>
// CHECK: %[[D:.*]] = qopt.dequantize %[[Q]]
// CHECK: return %[[F]], %[[D]]
func.func @fold_size_limit() -> (tensor<16x16xf32>, tensor<16x17xf32>) {
  %c = arith.constant dense<3> : tensor<16x16xi8>
  %c2 = arith.constant dense<3> : tensor<16x17xi8>
  %s = arith.constant dense<0.5> : tensor<f32>
  %z = arith.constant dense<8.0> : tensor<f32>
  %q = qopt.pack %c, %s, %z : tensor<16x16xi8>, tensor<f32>, tensor<f32>
      -> !qopt.qtensor<16x16xf32, bits = 4, per_tensor, asym>
  %q2 = qopt.pack %c2, %s, %z : tensor<16x17xi8>, tensor<f32>, tensor<f32>
      -> !qopt.qtensor<16x17xf32, bits = 4, per_tensor, asym>
  %d = qopt.dequantize %q : !qopt.qtensor<16x16xf32, bits = 4, per_tensor, asym> -> tensor<16x16xf32>
  %d2 = qopt.dequantize %q2 : !qopt.qtensor<16x17xf32, bits = 4, per_tensor, asym> -> tensor<16x17xf32>
  return %d, %d2 : tensor<16x16xf32>, tensor<16x17xf32>
}

// -----

// Two-level scales fold with their own arithmetic: Q2_K-like records, d =
// 1.0 (f16 0x3C00) with sub-scales 2 (nibbles 0x22), dmin = 0.5 (0x3800)
// with sub-minimums 3 (0x33): every code 3 is 2 * 3 - 0.5 * 3 = 4.5.
// CHECK-LABEL: func.func @fold_dequantize_two_level_asym
// CHECK: %[[C:.*]] = arith.constant dense<4.500000e+00> : tensor<1x256xf32>
// CHECK-NOT: qopt.dequantize
// CHECK: return %[[C]]
func.func @fold_dequantize_two_level_asym() -> tensor<1x256xf32> {
  %c = arith.constant dense<3> : tensor<1x256xi8>
  %s = arith.constant dense<[[[0, 60, 34, 34, 34, 34, 34, 34, 34, 34]]]> : tensor<1x1x10xi8>
  %z = arith.constant dense<[[[0, 56, 51, 51, 51, 51, 51, 51, 51, 51]]]> : tensor<1x1x10xi8>
  %w = qopt.pack %c, %s, %z : tensor<1x256xi8>, tensor<1x1x10xi8>, tensor<1x1x10xi8>
      -> !qopt.qtensor<1x256xf32, bits = 2, group = 16, asym, scale = f16, super = 256, sub = 4>
  %d = qopt.dequantize %w : !qopt.qtensor<1x256xf32, bits = 2, group = 16, asym, scale = f16, super = 256, sub = 4> -> tensor<1x256xf32>
  return %d : tensor<1x256xf32>
}

// -----

// Signed 8-bit sub-scales, symmetric: d = 1.0, s = -2 (byte 0xFE), code 3
// of 4 bits: -2 * (3 - 8) = 10.
// CHECK-LABEL: func.func @fold_dequantize_two_level_sym
// CHECK: arith.constant dense<1.000000e+01> : tensor<1x256xf32>
// CHECK-NOT: qopt.dequantize
func.func @fold_dequantize_two_level_sym() -> tensor<1x256xf32> {
  %c = arith.constant dense<3> : tensor<1x256xi8>
  %s = arith.constant dense<[[[0, 60, -2, -2, -2, -2, -2, -2, -2, -2]]]> : tensor<1x1x10xi8>
  %w = qopt.pack %c, %s : tensor<1x256xi8>, tensor<1x1x10xi8>
      -> !qopt.qtensor<1x256xf32, bits = 4, group = 32, sym, scale = f16, super = 256>
  %d = qopt.dequantize %w : !qopt.qtensor<1x256xf32, bits = 4, group = 32, sym, scale = f16, super = 256> -> tensor<1x256xf32>
  return %d : tensor<1x256xf32>
}
