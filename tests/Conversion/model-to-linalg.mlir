// RUN: qopt-opt %s --pass-pipeline="builtin.module(func.func(convert-qopt-model-to-linalg))" | FileCheck %s

// RMSNorm: a sum-of-squares reduction per token, the inverse RMS, then the
// scaled product w[d] * (inv[t] * x[t, d]).
// CHECK-LABEL: func.func @rms_norm
// CHECK-SAME: %[[X:.*]]: tensor<?x64xf32>, %[[W:.*]]: tensor<64xf32>
// CHECK: %[[FILL:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<?xf32>)
// CHECK: %[[SS:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}} ins(%[[X]] : tensor<?x64xf32>) outs(%[[FILL]] : tensor<?xf32>)
// CHECK:   arith.mulf
// CHECK:   arith.addf
// CHECK: %[[INV:.*]] = linalg.generic {{.*}} ins(%[[SS]] : tensor<?xf32>)
// CHECK:   arith.constant 1.562500e-02 : f32
// CHECK:   math.sqrt
// CHECK:   arith.divf
// CHECK: linalg.generic {{.*}} ins(%[[X]], %[[INV]], %[[W]] : tensor<?x64xf32>, tensor<?xf32>, tensor<64xf32>)
// CHECK-NOT: qopt.rms_norm
func.func @rms_norm(%x: tensor<?x64xf32>, %w: tensor<64xf32>) -> tensor<?x64xf32> {
  %y = qopt.rms_norm %x, %w {epsilon = 1.0e-05 : f32} : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// RoPE, interleaved pairs (2j, 2j + 1): the partner of an even element is
// the next one; the position is `pos + t`.
// CHECK-LABEL: func.func @rope_interleaved
// CHECK-SAME: %[[X:.*]]: tensor<?x64xf32>, %[[POS:.*]]: index
// CHECK: linalg.generic {{.*}} ins(%[[X]] : tensor<?x64xf32>)
// CHECK: %[[T:.*]] = linalg.index 0 : index
// CHECK: %[[I:.*]] = linalg.index 1 : index
// CHECK: %[[R:.*]] = arith.remui %[[I]], %c8
// CHECK: arith.divui %[[R]], %c2
// CHECK: math.powf
// CHECK: arith.addi %[[POS]], %[[T]] : index
// CHECK: math.cos
// CHECK: math.sin
// CHECK: tensor.extract %[[X]][%[[T]], %{{.*}}] : tensor<?x64xf32>
// CHECK: arith.select
func.func @rope_interleaved(%x: tensor<?x64xf32>, %pos: index) -> tensor<?x64xf32> {
  %y = qopt.rope %x, %pos {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style interleaved>} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// RoPE, rotate-half pairs (j, j + head_dim / 2).
// CHECK-LABEL: func.func @rope_rotate_half
// CHECK: %[[I:.*]] = linalg.index 1 : index
// CHECK: %[[R:.*]] = arith.remui %[[I]], %c8
// CHECK: %[[FIRST:.*]] = arith.cmpi ult, %[[R]], %c4
// CHECK-DAG: %[[LO:.*]] = arith.subi %[[I]], %c4
// CHECK-DAG: %[[HI:.*]] = arith.addi %[[I]], %c4
// CHECK: arith.select %[[FIRST]], %[[HI]], %[[LO]] : index
func.func @rope_rotate_half(%x: tensor<?x64xf32>, %pos: index) -> tensor<?x64xf32> {
  %y = qopt.rope %x, %pos {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style rotate_half>} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// SwiGLU: one elementwise generic, g / (1 + exp(-g)) * u.
// CHECK-LABEL: func.func @swiglu
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x172xf32>, tensor<?x172xf32>)
// CHECK: arith.negf
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: arith.mulf
func.func @swiglu(%g: tensor<?x172xf32>, %u: tensor<?x172xf32>) -> tensor<?x172xf32> {
  %y = qopt.swiglu %g, %u : tensor<?x172xf32>
  return %y : tensor<?x172xf32>
}

// Matmuls, gathers and attention are not linalg's: they stay for
// qopt-lower-quantized-types.
// CHECK-LABEL: func.func @linear_stays
// CHECK: qopt.linear
func.func @linear_stays(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>) -> tensor<?x32xf32> {
  %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// A float embedding table is a gather generic: the token id, clamped to the
// table, picks the row; a 16-bit table is widened.
// CHECK-LABEL: func.func @embedding
// CHECK-SAME: %[[TABLE:[^:]*]]: tensor<512x64xf16>, %[[TOK:[^:]*]]: tensor<?xi32>
// CHECK: linalg.generic {{.*}} ins(%[[TOK]] : tensor<?xi32>)
// CHECK: arith.maxsi
// CHECK: arith.minsi %{{.*}}, %c511
// CHECK: %[[V:.*]] = tensor.extract %[[TABLE]]
// CHECK: arith.extf %[[V]] : f16 to f32
func.func @embedding(%table: tensor<512x64xf16>, %t: tensor<?xi32>) -> tensor<?x64xf32> {
  %e = qopt.embedding %table, %t : tensor<512x64xf16>, tensor<?xi32> -> tensor<?x64xf32>
  return %e : tensor<?x64xf32>
}

// A quantized table stays for qopt-lower-quantized-types.
// CHECK-LABEL: func.func @quantized_embedding
// CHECK: qopt.embedding
func.func @quantized_embedding(%q: !qopt.qtensor<512x64xf32, bits = 8, per_channel, sym>, %t: tensor<?xi32>) -> tensor<?x64xf32> {
  %e = qopt.embedding %q, %t : !qopt.qtensor<512x64xf32, bits = 8, per_channel, sym>, tensor<?xi32> -> tensor<?x64xf32>
  return %e : tensor<?x64xf32>
}
