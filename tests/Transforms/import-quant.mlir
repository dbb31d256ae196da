// RUN: qopt-opt %s -qopt-import-quant -split-input-file | FileCheck %s

// Upstream quant dialect IR (as TOSA / StableHLO / TFLite importers write it)
// rewritten into qopt ops.

// Per-tensor, signed i8 with zero point 3: qopt codes are s + 128, so the
// zero point becomes 131 and the scheme is asymmetric.
// CHECK-LABEL: func.func @per_tensor
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK-DAG: %[[S:.*]] = arith.constant dense<5.000000e-01> : tensor<f32>
// CHECK-DAG: %[[Z:.*]] = arith.constant dense<1.310000e+02> : tensor<f32>
// CHECK: %[[Q:.*]] = qopt.quantize %[[X]] scales(%[[S]] : tensor<f32>) zeros(%[[Z]] : tensor<f32>) : tensor<4x8xf32> -> !qopt.qtensor<4x8xf32, bits = 8, per_tensor, asym>
// CHECK: %[[D:.*]] = qopt.dequantize %[[Q]] : !qopt.qtensor<4x8xf32, bits = 8, per_tensor, asym> -> tensor<4x8xf32>
// CHECK-NOT: quant.
// CHECK: return %[[D]]
func.func @per_tensor(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %q = quant.qcast %x : tensor<4x8xf32> to tensor<4x8x!quant.uniform<i8:f32, 0.5:3>>
  %y = quant.dcast %q : tensor<4x8x!quant.uniform<i8:f32, 0.5:3>> to tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Signed storage with zero point 0 is qopt's symmetric scheme (z = 2^(b-1)).
// Dynamic shapes are fine per tensor.
// CHECK-LABEL: func.func @per_tensor_symmetric
// CHECK: qopt.quantize %{{.*}} scales(%{{.*}} : tensor<f16>) : tensor<?x8xf16> -> !qopt.qtensor<?x8xf16, bits = 8, per_tensor, sym>
func.func @per_tensor_symmetric(%x: tensor<?x8xf16>) -> tensor<?x8xf16> {
  %q = quant.qcast %x : tensor<?x8xf16> to tensor<?x8x!quant.uniform<i8:f16, 0.125>>
  %y = quant.dcast %q : tensor<?x8x!quant.uniform<i8:f16, 0.125>> to tensor<?x8xf16>
  return %y : tensor<?x8xf16>
}

// -----

// Per-axis on dim 0 of a [N, K] weight: one scale per output channel, i.e.
// qopt per_channel with groups along K. Unsigned 4-bit storage, zero 8 = 2^3
// is symmetric.
// CHECK-LABEL: func.func @per_axis_rows
// CHECK: %[[S:.*]] = arith.constant dense<{{\[}}[1.000000e+00], [2.000000e+00]]> : tensor<2x1xf32>
// CHECK: qopt.quantize %{{.*}} scales(%[[S]] : tensor<2x1xf32>) : tensor<2x16xf32> -> !qopt.qtensor<2x16xf32, bits = 4, per_channel, sym>
func.func @per_axis_rows(%w: tensor<2x16xf32>) -> tensor<2x16xf32> {
  %q = quant.qcast %w : tensor<2x16xf32> to tensor<2x16x!quant.uniform<u4:f32:0, {1.0:8, 2.0:8}>>
  %y = quant.dcast %q : tensor<2x16x!quant.uniform<u4:f32:0, {1.0:8, 2.0:8}>> to tensor<2x16xf32>
  return %y : tensor<2x16xf32>
}

// -----

// Per-axis on dim 1: one scale per column, groups run along dim 0.
// CHECK-LABEL: func.func @per_axis_columns
// CHECK-DAG: %[[S:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00, 4.000000e+00]]> : tensor<1x3xf32>
// CHECK-DAG: %[[Z:.*]] = arith.constant dense<{{\[}}[1.280000e+02, 1.290000e+02, 1.270000e+02]]> : tensor<1x3xf32>
// CHECK: qopt.quantize %{{.*}} scales(%[[S]] : tensor<1x3xf32>) zeros(%[[Z]] : tensor<1x3xf32>) : tensor<5x3xf32> -> !qopt.qtensor<5x3xf32, bits = 8, per_channel, axis = 0, asym>
func.func @per_axis_columns(%w: tensor<5x3xf32>) -> tensor<5x3xf32> {
  %q = quant.qcast %w : tensor<5x3xf32> to tensor<5x3x!quant.uniform<i8:f32:1, {1.0, 2.0:1, 4.0:-1}>>
  %y = quant.dcast %q : tensor<5x3x!quant.uniform<i8:f32:1, {1.0, 2.0:1, 4.0:-1}>> to tensor<5x3xf32>
  return %y : tensor<5x3xf32>
}

// -----

// Sub-channel blocks {0:1, 1:4}: groups of 4 along K, as qopt's group = 4.
// CHECK-LABEL: func.func @sub_channel
// CHECK: %[[S:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK: qopt.quantize %{{.*}} scales(%[[S]] : tensor<2x2xf32>) : tensor<2x8xf32> -> !qopt.qtensor<2x8xf32, bits = 8, group = 4, sym>
func.func @sub_channel(%w: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %q = quant.qcast %w : tensor<2x8xf32> to tensor<2x8x!quant.uniform<i8:f32:{0:1, 1:4}, {{1.0, 2.0}, {3.0, 4.0}}>>
  %y = quant.dcast %q : tensor<2x8x!quant.uniform<i8:f32:{0:1, 1:4}, {{1.0, 2.0}, {3.0, 4.0}}>> to tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// Storage casts: stored signed integers become unsigned codes (+128) in a
// qopt.pack, and back (-128 == +128 modulo 2^8) through qopt.get_codes.
// Function signatures carrying quantized tensors are converted too.
// CHECK-LABEL: func.func @storage_casts
// CHECK-SAME: (%[[I:.*]]: tensor<4xi8>) -> (!qopt.qtensor<4xf32, bits = 8, per_tensor, sym>, tensor<4xi8>)
// CHECK: %[[OFF:.*]] = arith.constant dense<-128> : tensor<4xi8>
// CHECK: %[[CODES:.*]] = arith.addi %[[I]], %[[OFF]] : tensor<4xi8>
// CHECK: %[[S:.*]] = arith.constant dense<2.500000e-01> : tensor<f32>
// CHECK: %[[Q:.*]] = qopt.pack %[[CODES]], %[[S]] : tensor<4xi8>, tensor<f32> -> !qopt.qtensor<4xf32, bits = 8, per_tensor, sym>
// CHECK: %[[C:.*]] = qopt.get_codes %[[Q]]
// CHECK: %[[BACK:.*]] = arith.addi %[[C]], %{{.*}} : tensor<4xi8>
// CHECK: return %[[Q]], %[[BACK]]
func.func @storage_casts(%i: tensor<4xi8>) -> (tensor<4x!quant.uniform<i8:f32, 0.25>>, tensor<4xi8>) {
  %q = quant.scast %i : tensor<4xi8> to tensor<4x!quant.uniform<i8:f32, 0.25>>
  %back = quant.scast %q : tensor<4x!quant.uniform<i8:f32, 0.25>> to tensor<4xi8>
  return %q, %back : tensor<4x!quant.uniform<i8:f32, 0.25>>, tensor<4xi8>
}

// -----

// Quantized values passed across calls.
// CHECK-LABEL: func.func private @consume(!qopt.qtensor<8xf32, bits = 8, per_tensor, asym>) -> tensor<8xf32>
// CHECK-LABEL: func.func @caller
// CHECK: %[[Q:.*]] = qopt.quantize
// CHECK: call @consume(%[[Q]]) : (!qopt.qtensor<8xf32, bits = 8, per_tensor, asym>) -> tensor<8xf32>
func.func private @consume(tensor<8x!quant.uniform<u8:f32, 0.1:10>>) -> tensor<8xf32>
func.func @caller(%x: tensor<8xf32>) -> tensor<8xf32> {
  %q = quant.qcast %x : tensor<8xf32> to tensor<8x!quant.uniform<u8:f32, 0.1:10>>
  %y = func.call @consume(%q) : (tensor<8x!quant.uniform<u8:f32, 0.1:10>>) -> tensor<8xf32>
  return %y : tensor<8xf32>
}
