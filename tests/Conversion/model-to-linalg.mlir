// RUN: qopt-opt %s --pass-pipeline="builtin.module(func.func(convert-qopt-model-to-linalg))" | FileCheck %s

// The RoPE tests' indexing maps (printed first): the identity, and the
// frequency index of element i for head_dim 8, interleaved and rotate-half.
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[PAIR:.*]] = affine_map<(d0, d1) -> (d0, (d1 mod 8) floordiv 2)>
// CHECK-DAG: #[[HALF:.*]] = affine_map<(d0, d1) -> (d0, d1 mod 4)>

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

// RoPE, interleaved pairs (2j, 2j + 1): cos and sin of (pos + t) * freq[j]
// once per token and frequency ([T, head_dim / 2], here [?, 4]), then the
// rotation reads them at j = (i mod 8) / 2; the partner of an even element
// is the next one.
// CHECK-LABEL: func.func @rope_interleaved
// CHECK-SAME: %[[X:.*]]: tensor<?x64xf32>, %[[POS:.*]]: index
// CHECK: %[[TAB:.*]]:2 = linalg.generic {indexing_maps = [#[[ID]], #[[ID]]]{{.*}} outs(%{{.*}}, %{{.*}} : tensor<?x4xf32>, tensor<?x4xf32>)
// CHECK: %[[T:.*]] = linalg.index 0 : index
// CHECK: math.powf
// CHECK: arith.addi %[[POS]], %[[T]] : index
// CHECK: %[[COS:.*]] = math.cos
// CHECK: %[[SIN:.*]] = math.sin
// CHECK: linalg.yield %[[COS]], %[[SIN]]
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[PAIR]], #[[PAIR]], #[[ID]]]{{.*}} ins(%[[X]], %[[TAB]]#0, %[[TAB]]#1 : tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4xf32>)
// CHECK: %[[T2:.*]] = linalg.index 0 : index
// CHECK: %[[I:.*]] = linalg.index 1 : index
// CHECK: %[[R:.*]] = arith.remui %[[I]], %c8
// CHECK: arith.remui %[[R]], %c2
// CHECK-NOT: math.
// CHECK: tensor.extract %[[X]][%[[T2]], %{{.*}}] : tensor<?x64xf32>
// CHECK: arith.select
func.func @rope_interleaved(%x: tensor<?x64xf32>, %pos: index) -> tensor<?x64xf32> {
  %y = qopt.rope %x, %pos {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style interleaved>} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// RoPE, rotate-half pairs (j, j + head_dim / 2): frequency j = i mod 4.
// CHECK-LABEL: func.func @rope_rotate_half
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[HALF]], #[[HALF]], #[[ID]]]
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

// Scaled RoPE with a frequency table: the table is a constant read by
// frequency index, no power is computed, and cos and sin are scaled.
// CHECK-LABEL: func.func @rope_table
// CHECK: %[[TABLE:.*]] = arith.constant dense<[1.000000e+00, 2.500000e-02]> : tensor<2xf32>
// CHECK: linalg.generic
// CHECK-NOT: math.powf
// CHECK: tensor.extract %[[TABLE]][%{{.*}}] : tensor<2xf32>
// CHECK: %[[COS:.*]] = math.cos
// CHECK: %[[SIN:.*]] = math.sin
// CHECK: arith.mulf %[[COS]], %[[SCALE:.*]] : f32
// CHECK: arith.mulf %[[SIN]], %[[SCALE]] : f32
// CHECK: linalg.yield
func.func @rope_table(%x: tensor<?x8xf32>, %pos: index) -> tensor<?x8xf32> {
  %y = qopt.rope %x, %pos {head_dim = 4 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style rotate_half>, inv_freq = array<f32: 1.0, 0.025>, scale = 1.25 : f32} : tensor<?x8xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// Dynamic NTK: the base is computed once per call from its length
// pos + T (at least ntk_max_positions), before the generic.
// CHECK-LABEL: func.func @rope_dynamic_ntk
// CHECK-SAME: %[[X:.*]]: tensor<?x8xf32>, %[[POS:.*]]: index
// CHECK: %[[T:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x8xf32>
// CHECK: arith.addi %[[POS]], %[[T]] : index
// CHECK: arith.maximumf %{{.*}}, %{{.*}} : f32
// CHECK: %[[POW:.*]] = math.powf
// CHECK: %[[BASE:.*]] = arith.mulf %{{.*}}, %[[POW]] : f32
// CHECK: linalg.generic
// CHECK: math.powf %[[BASE]], %{{.*}} : f32
func.func @rope_dynamic_ntk(%x: tensor<?x8xf32>, %pos: index) -> tensor<?x8xf32> {
  %y = qopt.rope %x, %pos {head_dim = 4 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style rotate_half>, ntk_factor = 2.0 : f32, ntk_max_positions = 16 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// A bias: one broadcasting generic.
// CHECK-LABEL: func.func @bias_add
// CHECK-SAME: %[[X:.*]]: tensor<?x64xf32>, %[[B:.*]]: tensor<64xf32>
// CHECK: linalg.generic {{.*}} ins(%[[X]], %[[B]] : tensor<?x64xf32>, tensor<64xf32>)
// CHECK: arith.addf
// CHECK-NOT: qopt.bias_add
func.func @bias_add(%x: tensor<?x64xf32>, %b: tensor<64xf32>) -> tensor<?x64xf32> {
  %y = qopt.bias_add %x, %b : tensor<?x64xf32>, tensor<64xf32>
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
