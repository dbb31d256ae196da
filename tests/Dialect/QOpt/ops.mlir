// RUN: qopt-opt %s | qopt-opt | FileCheck %s
// RUN: qopt-opt %s --mlir-print-op-generic | qopt-opt | FileCheck %s
// RUN: qopt-opt %s -emit-bytecode | qopt-opt | FileCheck %s

// Round trip of every qopt type form and op.

// CHECK-LABEL: func.func private @types
// CHECK-SAME: !qopt.qtensor<11008x4096xf32, bits = 8, group = 32, asym, layout = nested>
// CHECK-SAME: !qopt.qtensor<11008x4096xf32, bits = 4, parent = 8, group = 32, asym, layout = nested>
// CHECK-SAME: !qopt.qtensor<4096x4096xf16, bits = 4, per_channel, sym>
// CHECK-SAME: !qopt.qtensor<?x128xf32, bits = 2, group = 64, axis = 0, asym>
// CHECK-SAME: !qopt.qtensor<16xbf16, bits = 3, per_tensor, sym>
// CHECK-SAME: !qopt.qtensor<8x16xf32, bits = 1, per_channel, axis = 0, asym>
func.func private @types(
  !qopt.qtensor<11008x4096xf32, bits = 8, group = 32, asym, layout = nested>,
  !qopt.qtensor<11008x4096xf32, bits = 4, parent = 8, group = 32, asym, layout = nested>,
  !qopt.qtensor<4096x4096xf16, bits = 4, per_channel, sym>,
  !qopt.qtensor<?x128xf32, bits = 2, group = 64, axis = 0, asym>,
  !qopt.qtensor<16xbf16, bits = 3, per_tensor, sym>,
  !qopt.qtensor<8x16xf32, bits = 1, per_channel, axis = 0, asym>)

// Entries may come in any order; defaults (dense layout, last axis) are
// elided when printed.
// CHECK-LABEL: func.func private @entry_order
// CHECK-SAME: !qopt.qtensor<4x64xf32, bits = 6, group = 16, sym>
func.func private @entry_order(
  !qopt.qtensor<4x64xf32, sym, layout = dense, group = 16, axis = 1, bits = 6>)

// CHECK-LABEL: func.func @pack_and_accessors
// CHECK-SAME: (%[[C:.*]]: tensor<4x64xi8>, %[[S:.*]]: tensor<4x2xf32>, %[[Z:.*]]: tensor<4x2xf32>)
func.func @pack_and_accessors(%codes: tensor<4x64xi8>, %scales: tensor<4x2xf32>,
                              %zeros: tensor<4x2xf32>)
    -> (tensor<4x64xi8>, tensor<4x2xf32>, tensor<4x2xf32>) {
  // CHECK: %[[Q:.*]] = qopt.pack %[[C]], %[[S]], %[[Z]] : tensor<4x64xi8>, tensor<4x2xf32>, tensor<4x2xf32> -> !qopt.qtensor<4x64xf32, bits = 8, group = 32, asym>
  %q = qopt.pack %codes, %scales, %zeros : tensor<4x64xi8>, tensor<4x2xf32>, tensor<4x2xf32>
      -> !qopt.qtensor<4x64xf32, bits = 8, group = 32, asym>
  // CHECK: qopt.get_codes %[[Q]] : !qopt.qtensor<4x64xf32, bits = 8, group = 32, asym> -> tensor<4x64xi8>
  %c = qopt.get_codes %q : !qopt.qtensor<4x64xf32, bits = 8, group = 32, asym> -> tensor<4x64xi8>
  // CHECK: qopt.get_scales %[[Q]] : !qopt.qtensor<4x64xf32, bits = 8, group = 32, asym> -> tensor<4x2xf32>
  %s = qopt.get_scales %q : !qopt.qtensor<4x64xf32, bits = 8, group = 32, asym> -> tensor<4x2xf32>
  // CHECK: qopt.get_zeros %[[Q]] : !qopt.qtensor<4x64xf32, bits = 8, group = 32, asym> -> tensor<4x2xf32>
  %z = qopt.get_zeros %q : !qopt.qtensor<4x64xf32, bits = 8, group = 32, asym> -> tensor<4x2xf32>
  return %c, %s, %z : tensor<4x64xi8>, tensor<4x2xf32>, tensor<4x2xf32>
}

// Symmetric tensors take no zero points; per-channel scales keep the rank
// with a unit extent on the grouped axis; per-tensor scales are rank 0.
// CHECK-LABEL: func.func @pack_symmetric
func.func @pack_symmetric(%codes: tensor<8x16xi8>, %row: tensor<8x1xf16>,
                          %one: tensor<f16>) {
  // CHECK: qopt.pack %{{.*}}, %{{.*}} : tensor<8x16xi8>, tensor<8x1xf16> -> !qopt.qtensor<8x16xf16, bits = 4, per_channel, sym>
  %a = qopt.pack %codes, %row : tensor<8x16xi8>, tensor<8x1xf16>
      -> !qopt.qtensor<8x16xf16, bits = 4, per_channel, sym>
  // CHECK: qopt.pack %{{.*}}, %{{.*}} : tensor<8x16xi8>, tensor<f16> -> !qopt.qtensor<8x16xf16, bits = 8, per_tensor, sym>
  %b = qopt.pack %codes, %one : tensor<8x16xi8>, tensor<f16>
      -> !qopt.qtensor<8x16xf16, bits = 8, per_tensor, sym>
  return
}

// Scales narrower than the f32 values (a GGUF Q4_0 block's f16 scale); a
// scale type equal to the expressed type is the default and is elided.
// Two-level scales (GGUF K-quants): i8 records of an f16 super-scale and
// the sub-scales, one per 256 elements; the zero points hold minimums.
// CHECK-LABEL: func.func @pack_two_level
func.func @pack_two_level(%codes: tensor<4x128xi8>, %r: tensor<4x2x10xi8>,
                          %c6: tensor<4x384xi8>, %r6: tensor<4x2x18xi8>) {
  // CHECK: qopt.pack %{{.*}}, %{{.*}}, %{{.*}} : tensor<4x128xi8>, tensor<4x2x10xi8>, tensor<4x2x10xi8> -> !qopt.qtensor<4x512xf32, bits = 2, group = 16, asym, scale = f16, super = 256, sub = 4>
  %a = qopt.pack %codes, %r, %r : tensor<4x128xi8>, tensor<4x2x10xi8>, tensor<4x2x10xi8>
      -> !qopt.qtensor<4x512xf32, bits = 2, group = 16, asym, scale = f16, super = 256, sub = 4>
  // CHECK: qopt.get_scales %{{.*}} -> tensor<4x2x10xi8>
  %s = qopt.get_scales %a : !qopt.qtensor<4x512xf32, bits = 2, group = 16, asym, scale = f16, super = 256, sub = 4> -> tensor<4x2x10xi8>
  // `sub` defaults to 8 (signed bytes).
  // CHECK: -> !qopt.qtensor<4x512xf32, bits = 6, group = 16, sym, scale = f16, super = 256, sub = 8>
  %b = qopt.pack %c6, %r6 : tensor<4x384xi8>, tensor<4x2x18xi8>
      -> !qopt.qtensor<4x512xf32, bits = 6, group = 16, sym, scale = f16, super = 256>
  return
}

// CHECK-LABEL: func.func @pack_narrow_scales
// CHECK-SAME: !qopt.qtensor<4x64xf32, bits = 4, group = 32, sym>
func.func @pack_narrow_scales(%codes: tensor<4x32xi8>, %h: tensor<4x2xf16>,
                              %b: tensor<4x2xbf16>,
                              %f: !qopt.qtensor<4x64xf32, bits = 4, group = 32, sym, scale = f32>) {
  // CHECK: qopt.pack %{{.*}}, %{{.*}} : tensor<4x32xi8>, tensor<4x2xf16> -> !qopt.qtensor<4x64xf32, bits = 4, group = 32, sym, scale = f16>
  %a = qopt.pack %codes, %h : tensor<4x32xi8>, tensor<4x2xf16>
      -> !qopt.qtensor<4x64xf32, bits = 4, group = 32, sym, scale = f16>
  // CHECK: qopt.get_scales %{{.*}} : !qopt.qtensor<4x64xf32, bits = 4, group = 32, sym, scale = f16> -> tensor<4x2xf16>
  %s = qopt.get_scales %a : !qopt.qtensor<4x64xf32, bits = 4, group = 32, sym, scale = f16> -> tensor<4x2xf16>
  // CHECK: qopt.pack %{{.*}}, %{{.*}}, %{{.*}} : tensor<4x32xi8>, tensor<4x2xbf16>, tensor<4x2xbf16> -> !qopt.qtensor<4x64xf32, bits = 4, group = 32, asym, scale = bf16>
  %c = qopt.pack %codes, %b, %b : tensor<4x32xi8>, tensor<4x2xbf16>, tensor<4x2xbf16>
      -> !qopt.qtensor<4x64xf32, bits = 4, group = 32, asym, scale = bf16>
  return
}

// Groups along a non-last axis (KIVI keys: per channel, groups of tokens).
// CHECK-LABEL: func.func @pack_axis0
func.func @pack_axis0(%codes: tensor<?x128xi8>, %s: tensor<?x128xf32>,
                      %z: tensor<?x128xf32>) {
  // CHECK: -> !qopt.qtensor<?x128xf32, bits = 2, group = 64, axis = 0, asym>
  %q = qopt.pack %codes, %s, %z : tensor<?x128xi8>, tensor<?x128xf32>, tensor<?x128xf32>
      -> !qopt.qtensor<?x128xf32, bits = 2, group = 64, axis = 0, asym>
  return
}

// CHECK-LABEL: func.func @quantize_slice_dequantize
// CHECK-SAME: (%[[W:.*]]: tensor<64x128xf32>)
func.func @quantize_slice_dequantize(%w: tensor<64x128xf32>) -> tensor<64x128xf32> {
  // CHECK: %[[Q:.*]] = qopt.quantize %[[W]] : tensor<64x128xf32> -> !qopt.qtensor<64x128xf32, bits = 8, group = 32, asym, layout = nested>
  %q = qopt.quantize %w : tensor<64x128xf32>
      -> !qopt.qtensor<64x128xf32, bits = 8, group = 32, asym, layout = nested>
  // CHECK: %[[S4:.*]] = qopt.slice %[[Q]] to 4 : !qopt.qtensor<64x128xf32, bits = 8, group = 32, asym, layout = nested>
  %q4 = qopt.slice %q to 4 : !qopt.qtensor<64x128xf32, bits = 8, group = 32, asym, layout = nested>
  // CHECK: %[[S2:.*]] = qopt.slice %[[S4]] to 2 : !qopt.qtensor<64x128xf32, bits = 4, parent = 8, group = 32, asym, layout = nested>
  %q2 = qopt.slice %q4 to 2 : !qopt.qtensor<64x128xf32, bits = 4, parent = 8, group = 32, asym, layout = nested>
  // CHECK: qopt.dequantize %[[S2]] : !qopt.qtensor<64x128xf32, bits = 2, parent = 8, group = 32, asym, layout = nested> -> tensor<64x128xf32>
  %d = qopt.dequantize %q2 : !qopt.qtensor<64x128xf32, bits = 2, parent = 8, group = 32, asym, layout = nested>
      -> tensor<64x128xf32>
  return %d : tensor<64x128xf32>
}

// Quantization with given parameters (GPTQ, imported upstream types).
// CHECK-LABEL: func.func @quantize_with_params
func.func @quantize_with_params(%x: tensor<16xf32>, %s: tensor<f32>, %z: tensor<f32>) {
  // CHECK: qopt.quantize %{{.*}} scales(%{{.*}} : tensor<f32>) : tensor<16xf32> -> !qopt.qtensor<16xf32, bits = 8, per_tensor, sym>
  %a = qopt.quantize %x scales(%s : tensor<f32>) : tensor<16xf32>
      -> !qopt.qtensor<16xf32, bits = 8, per_tensor, sym>
  // CHECK: qopt.quantize %{{.*}} scales(%{{.*}} : tensor<f32>) zeros(%{{.*}} : tensor<f32>) : tensor<16xf32> -> !qopt.qtensor<16xf32, bits = 4, per_tensor, asym>
  %b = qopt.quantize %x scales(%s : tensor<f32>) zeros(%z : tensor<f32>) : tensor<16xf32>
      -> !qopt.qtensor<16xf32, bits = 4, per_tensor, asym>
  return
}

// 4-bit codes in packed form: two codes per byte along the last dimension.
// CHECK-LABEL: func.func @pack_packed
// CHECK: qopt.pack %{{.*}}, %{{.*}} : tensor<4x32xi8>, tensor<4x2xf32> -> !qopt.qtensor<4x64xf32, bits = 4, group = 32, sym>
func.func @pack_packed(%codes: tensor<4x32xi8>, %scales: tensor<4x2xf32>) {
  %q = qopt.pack %codes, %scales : tensor<4x32xi8>, tensor<4x2xf32>
      -> !qopt.qtensor<4x64xf32, bits = 4, group = 32, sym>
  return
}

// qopt.qmatmul: any width, layout and granularity grouped along K, sliced or
// not, f32/f16/bf16 scales, static or dynamic token dimension.
// CHECK-LABEL: func.func @qmatmul
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[X1:.*]]: tensor<1x172xf32>, %[[A:.*]]: !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>, %[[B:.*]]: !qopt.qtensor<16x172xf16, bits = 8, group = 32, asym, layout = nested>, %[[C:.*]]: !qopt.qtensor<32x64xbf16, bits = 3, per_channel, sym>, %[[D:.*]]: !qopt.qtensor<32x64xf32, bits = 2, per_tensor, sym>)
// CHECK: %[[YA:.*]] = qopt.qmatmul %[[X]], %[[A]] : tensor<?x64xf32>, !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<?x32xf32>
// CHECK: %[[S:.*]] = qopt.slice %[[B]] to 4
// CHECK: %[[YB:.*]] = qopt.qmatmul %[[X1]], %[[S]] : tensor<1x172xf32>, !qopt.qtensor<16x172xf16, bits = 4, parent = 8, group = 32, asym, layout = nested> -> tensor<1x16xf32>
// CHECK: %[[YC:.*]] = qopt.qmatmul %[[X]], %[[C]] : tensor<?x64xf32>, !qopt.qtensor<32x64xbf16, bits = 3, per_channel, sym> -> tensor<?x32xf32>
// CHECK: %[[YD:.*]] = qopt.qmatmul %[[X]], %[[D]] : tensor<?x64xf32>, !qopt.qtensor<32x64xf32, bits = 2, per_tensor, sym> -> tensor<?x32xf32>
// CHECK: return %[[YA]], %[[YB]], %[[YC]], %[[YD]]
func.func @qmatmul(%x: tensor<?x64xf32>, %x1: tensor<1x172xf32>,
                   %a: !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>,
                   %b: !qopt.qtensor<16x172xf16, bits = 8, group = 32, asym, layout = nested>,
                   %c: !qopt.qtensor<32x64xbf16, bits = 3, per_channel, sym>,
                   %d: !qopt.qtensor<32x64xf32, bits = 2, per_tensor, sym>)
    -> (tensor<?x32xf32>, tensor<1x16xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  %ya = qopt.qmatmul %x, %a : tensor<?x64xf32>, !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>
      -> tensor<?x32xf32>
  %s = qopt.slice %b to 4 : !qopt.qtensor<16x172xf16, bits = 8, group = 32, asym, layout = nested>
  %yb = qopt.qmatmul %x1, %s : tensor<1x172xf32>, !qopt.qtensor<16x172xf16, bits = 4, parent = 8, group = 32, asym, layout = nested>
      -> tensor<1x16xf32>
  %yc = qopt.qmatmul %x, %c : tensor<?x64xf32>, !qopt.qtensor<32x64xbf16, bits = 3, per_channel, sym>
      -> tensor<?x32xf32>
  %yd = qopt.qmatmul %x, %d : tensor<?x64xf32>, !qopt.qtensor<32x64xf32, bits = 2, per_tensor, sym>
      -> tensor<?x32xf32>
  return %ya, %yb, %yc, %yd : tensor<?x32xf32>, tensor<1x16xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}
