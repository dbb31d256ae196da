// RUN: qopt-opt %s | qopt-opt | FileCheck %s
// RUN: qopt-opt %s --mlir-print-op-generic | qopt-opt | FileCheck %s
// RUN: qopt-opt %s -emit-bytecode | qopt-opt | FileCheck %s

// Round trip of every model-level op (QOptModelOps.td), with static and
// dynamic token dimensions, and of qopt.weight_ref.

// CHECK-LABEL: func.func @embedding
// CHECK-SAME: (%[[TAB:.*]]: tensor<512x64xf32>, %[[TOK:.*]]: tensor<?xi32>, %[[TOK1:.*]]: tensor<1xi32>)
// CHECK: %[[D:.*]] = qopt.embedding %[[TAB]], %[[TOK]] : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
// CHECK: %[[S:.*]] = qopt.embedding %[[TAB]], %[[TOK1]] : tensor<512x64xf32>, tensor<1xi32> -> tensor<1x64xf32>
// CHECK: return %[[D]], %[[S]]
func.func @embedding(%table: tensor<512x64xf32>, %tokens: tensor<?xi32>,
                     %one: tensor<1xi32>) -> (tensor<?x64xf32>, tensor<1x64xf32>) {
  %x = qopt.embedding %table, %tokens : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %y = qopt.embedding %table, %one : tensor<512x64xf32>, tensor<1xi32> -> tensor<1x64xf32>
  return %x, %y : tensor<?x64xf32>, tensor<1x64xf32>
}

// A quantized table (rank 2, grouped along its rows), e.g. a sliced nested
// int8 table with f16 scales, or per-channel.
// CHECK-LABEL: func.func @embedding_quantized
// CHECK-SAME: (%[[Q:.*]]: !qopt.qtensor<512x64xf16, bits = 8, group = 32, asym, layout = nested>, %[[P:.*]]: !qopt.qtensor<512x64xf32, bits = 4, per_channel, sym>, %[[TOK:.*]]: tensor<?xi32>)
// CHECK: %[[S:.*]] = qopt.slice %[[Q]] to 4
// CHECK: %[[A:.*]] = qopt.embedding %[[S]], %[[TOK]] : !qopt.qtensor<512x64xf16, bits = 4, parent = 8, group = 32, asym, layout = nested>, tensor<?xi32> -> tensor<?x64xf32>
// CHECK: %[[B:.*]] = qopt.embedding %[[P]], %[[TOK]] : !qopt.qtensor<512x64xf32, bits = 4, per_channel, sym>, tensor<?xi32> -> tensor<?x64xf32>
// CHECK: return %[[A]], %[[B]]
func.func @embedding_quantized(%q: !qopt.qtensor<512x64xf16, bits = 8, group = 32, asym, layout = nested>,
                               %p: !qopt.qtensor<512x64xf32, bits = 4, per_channel, sym>,
                               %tokens: tensor<?xi32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %s = qopt.slice %q to 4 : !qopt.qtensor<512x64xf16, bits = 8, group = 32, asym, layout = nested>
  %a = qopt.embedding %s, %tokens : !qopt.qtensor<512x64xf16, bits = 4, parent = 8, group = 32, asym, layout = nested>, tensor<?xi32> -> tensor<?x64xf32>
  %b = qopt.embedding %p, %tokens : !qopt.qtensor<512x64xf32, bits = 4, per_channel, sym>, tensor<?xi32> -> tensor<?x64xf32>
  return %a, %b : tensor<?x64xf32>, tensor<?x64xf32>
}

// The epsilon prints in its shortest exact f32 form.
// CHECK-LABEL: func.func @rms_norm
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[X1:.*]]: tensor<3x64xf32>, %[[W:.*]]: tensor<64xf32>)
// CHECK: %[[D:.*]] = qopt.rms_norm %[[X]], %[[W]] {epsilon = 9.99999974E-6 : f32} : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
// CHECK: %[[S:.*]] = qopt.rms_norm %[[X1]], %[[W]] {epsilon = 0.000000e+00 : f32} : tensor<3x64xf32>, tensor<64xf32> -> tensor<3x64xf32>
// CHECK: return %[[D]], %[[S]]
func.func @rms_norm(%x: tensor<?x64xf32>, %x1: tensor<3x64xf32>, %w: tensor<64xf32>)
    -> (tensor<?x64xf32>, tensor<3x64xf32>) {
  %y = qopt.rms_norm %x, %w {epsilon = 1.0e-05 : f32} : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  %z = qopt.rms_norm %x1, %w {epsilon = 0.0 : f32} : tensor<3x64xf32>, tensor<64xf32> -> tensor<3x64xf32>
  return %y, %z : tensor<?x64xf32>, tensor<3x64xf32>
}

// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[X1:.*]]: tensor<1x64xf32>, %[[W:.*]]: tensor<32x64xf32>)
// CHECK: %[[D:.*]] = qopt.linear %[[X]], %[[W]] : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
// CHECK: %[[S:.*]] = qopt.linear %[[X1]], %[[W]] : tensor<1x64xf32>, tensor<32x64xf32> -> tensor<1x32xf32>
// CHECK: return %[[D]], %[[S]]
func.func @linear(%x: tensor<?x64xf32>, %x1: tensor<1x64xf32>, %w: tensor<32x64xf32>)
    -> (tensor<?x32xf32>, tensor<1x32xf32>) {
  %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  %z = qopt.linear %x1, %w : tensor<1x64xf32>, tensor<32x64xf32> -> tensor<1x32xf32>
  return %y, %z : tensor<?x32xf32>, tensor<1x32xf32>
}

// Attributes print sorted by name.
// CHECK-LABEL: func.func @rope
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[X1:.*]]: tensor<2x32xf32>, %[[P:.*]]: index)
// CHECK: %[[I:.*]] = qopt.rope %[[X]], %[[P]] {head_dim = 8 : i64, style = #qopt<rope_style interleaved>, theta = 1.000000e+04 : f32} : tensor<?x64xf32> -> tensor<?x64xf32>
// CHECK: %[[H:.*]] = qopt.rope %[[X1]], %[[P]] {head_dim = 32 : i64, style = #qopt<rope_style rotate_half>, theta = 5.000000e+05 : f32} : tensor<2x32xf32> -> tensor<2x32xf32>
// CHECK: return %[[I]], %[[H]]
func.func @rope(%x: tensor<?x64xf32>, %x1: tensor<2x32xf32>, %pos: index)
    -> (tensor<?x64xf32>, tensor<2x32xf32>) {
  %a = qopt.rope %x, %pos {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style interleaved>} : tensor<?x64xf32> -> tensor<?x64xf32>
  %b = qopt.rope %x1, %pos {style = #qopt<rope_style rotate_half>, theta = 5.0e+05 : f32, head_dim = 32 : i64} : tensor<2x32xf32> -> tensor<2x32xf32>
  return %a, %b : tensor<?x64xf32>, tensor<2x32xf32>
}

// Scaled RoPE: a per-model inverse-frequency table with a cos/sin scale
// (YaRN), and dynamic NTK scaling.
// CHECK-LABEL: func.func @rope_scaled
// CHECK: qopt.rope %{{.*}}, %{{.*}} {head_dim = 4 : i64, inv_freq = array<f32: 1.000000e+00, 2.500000e-02>, scale = 1.138600e+00 : f32, style = #qopt<rope_style rotate_half>, theta = 1.000000e+04 : f32} : tensor<?x8xf32> -> tensor<?x8xf32>
// CHECK: qopt.rope %{{.*}}, %{{.*}} {head_dim = 4 : i64, ntk_factor = 2.000000e+00 : f32, ntk_max_positions = 16 : i64, style = #qopt<rope_style rotate_half>, theta = 1.000000e+04 : f32} : tensor<?x8xf32> -> tensor<?x8xf32>
func.func @rope_scaled(%x: tensor<?x8xf32>, %pos: index) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %a = qopt.rope %x, %pos {head_dim = 4 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style rotate_half>, inv_freq = array<f32: 1.0, 0.025>, scale = 1.1386 : f32} : tensor<?x8xf32> -> tensor<?x8xf32>
  %b = qopt.rope %x, %pos {head_dim = 4 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style rotate_half>, ntk_factor = 2.0 : f32, ntk_max_positions = 16 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>
  return %a, %b : tensor<?x8xf32>, tensor<?x8xf32>
}

// A bias added to every token (Qwen2's q/k/v projections).
// CHECK-LABEL: func.func @bias_add
// CHECK: qopt.bias_add %{{.*}}, %{{.*}} : tensor<?x64xf32>, tensor<64xf32>
func.func @bias_add(%x: tensor<?x64xf32>, %b: tensor<64xf32>) -> tensor<?x64xf32> {
  %y = qopt.bias_add %x, %b : tensor<?x64xf32>, tensor<64xf32>
  return %y : tensor<?x64xf32>
}

// Mistral's sliding window.
// CHECK-LABEL: func.func @attention_sliding_window
// CHECK: qopt.attention {{.*}} {head_dim = 8 : i64, layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, sliding_window = 24 : i64}
func.func @attention_sliding_window(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                     %kc: memref<5x?x32xf32>, %vc: memref<5x?x32xf32>, %pos: index) -> tensor<?x64xf32> {
  %o = qopt.attention %q, %k, %v, %kc, %vc, %pos
      {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64, sliding_window = 24 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>,
        memref<5x?x32xf32>, memref<5x?x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// Grouped-query (8 heads over 4 KV heads) with dynamic tokens, and
// multi-head (equal head counts) decode of one static token in the last
// layer.
// CHECK-LABEL: func.func @attention
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<?x64xf32>, %[[K:[^:]*]]: tensor<?x32xf32>, %[[V:[^:]*]]: tensor<?x32xf32>, %[[KC:[^:]*]]: memref<5x512x32xf32>, %[[VC:[^:]*]]: memref<5x512x32xf32>, %[[P:[^:]*]]: index, %[[Q1:[^:]*]]: tensor<1x32xf32>)
// CHECK: %[[G:.*]] = qopt.attention %[[Q]], %[[K]], %[[V]], %[[KC]], %[[VC]], %[[P]] {head_dim = 8 : i64, layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x64xf32>
// CHECK: %[[M:.*]] = qopt.attention %[[Q1]], %[[Q1]], %[[Q1]], %[[KC]], %[[VC]], %[[P]] {head_dim = 8 : i64, layer = 4 : i64, num_heads = 4 : i64, num_kv_heads = 4 : i64} : tensor<1x32xf32>, tensor<1x32xf32>, tensor<1x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<1x32xf32>
// CHECK: return %[[G]], %[[M]]
func.func @attention(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                     %kc: memref<5x512x32xf32>, %vc: memref<5x512x32xf32>, %pos: index,
                     %q1: tensor<1x32xf32>) -> (tensor<?x64xf32>, tensor<1x32xf32>) {
  %o = qopt.attention %q, %k, %v, %kc, %vc, %pos
      {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>,
        memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x64xf32>
  %m = qopt.attention %q1, %q1, %q1, %kc, %vc, %pos
      {layer = 4 : i64, num_heads = 4 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<1x32xf32>, tensor<1x32xf32>, tensor<1x32xf32>,
        memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<1x32xf32>
  return %o, %m : tensor<?x64xf32>, tensor<1x32xf32>
}

// The cache element type is a type parameter (f32, f16, bf16), and the
// sequence dimension may be dynamic.
// CHECK-LABEL: func.func @attention_cache_types
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<?x64xf32>, %[[K:[^:]*]]: tensor<?x32xf32>, %[[H:[^:]*]]: memref<5x?x32xf16>, %[[B:[^:]*]]: memref<5x?x32xbf16>, %[[S:[^:]*]]: memref<5x?x32xf32>, %[[P:[^:]*]]: index)
// CHECK: %[[A:.*]] = qopt.attention %[[Q]], %[[K]], %[[K]], %[[H]], %[[H]], %[[P]] {{.*}} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x?x32xf16>, memref<5x?x32xf16> -> tensor<?x64xf32>
// CHECK: %[[C:.*]] = qopt.attention %[[Q]], %[[K]], %[[K]], %[[B]], %[[B]], %[[P]] {{.*}} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x?x32xbf16>, memref<5x?x32xbf16> -> tensor<?x64xf32>
// CHECK: %[[D:.*]] = qopt.attention %[[Q]], %[[K]], %[[K]], %[[S]], %[[S]], %[[P]] {{.*}} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x?x32xf32>, memref<5x?x32xf32> -> tensor<?x64xf32>
func.func @attention_cache_types(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>,
                                 %h: memref<5x?x32xf16>, %b: memref<5x?x32xbf16>,
                                 %s: memref<5x?x32xf32>, %pos: index)
    -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>) {
  %a = qopt.attention %q, %k, %k, %h, %h, %pos
      {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>,
        memref<5x?x32xf16>, memref<5x?x32xf16> -> tensor<?x64xf32>
  %c = qopt.attention %q, %k, %k, %b, %b, %pos
      {layer = 1 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>,
        memref<5x?x32xbf16>, memref<5x?x32xbf16> -> tensor<?x64xf32>
  %d = qopt.attention %q, %k, %k, %s, %s, %pos
      {layer = 4 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>,
        memref<5x?x32xf32>, memref<5x?x32xf32> -> tensor<?x64xf32>
  return %a, %c, %d : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>
}

// The type of swiglu's operands is elided: it is the result type.
// CHECK-LABEL: func.func @swiglu
// CHECK-SAME: (%[[G:.*]]: tensor<?x172xf32>, %[[U:.*]]: tensor<?x172xf32>, %[[G1:.*]]: tensor<4x8xf32>)
// CHECK: %[[D:.*]] = qopt.swiglu %[[G]], %[[U]] : tensor<?x172xf32>
// CHECK: %[[S:.*]] = qopt.swiglu %[[G1]], %[[G1]] : tensor<4x8xf32>
// CHECK: return %[[D]], %[[S]]
func.func @swiglu(%g: tensor<?x172xf32>, %u: tensor<?x172xf32>, %g1: tensor<4x8xf32>)
    -> (tensor<?x172xf32>, tensor<4x8xf32>) {
  %h = qopt.swiglu %g, %u : tensor<?x172xf32>
  %s = qopt.swiglu %g1, %g1 : tensor<4x8xf32>
  return %h, %s : tensor<?x172xf32>, tensor<4x8xf32>
}

// CHECK-LABEL: func.func @weight_ref
// CHECK-SAME: (%[[T:.*]]: memref<?xi64>)
// CHECK: %[[A:.*]] = qopt.weight_ref %[[T]][0] : memref<?xi64> -> memref<64x64xf32>
// CHECK: %[[B:.*]] = qopt.weight_ref %[[T]][3] : memref<?xi64> -> memref<64xi8>
// CHECK: %[[C:.*]] = qopt.weight_ref %[[T]][7] : memref<?xi64> -> memref<f32>
// CHECK: return %[[A]], %[[B]], %[[C]]
func.func @weight_ref(%table: memref<?xi64>) -> (memref<64x64xf32>, memref<64xi8>, memref<f32>) {
  %a = qopt.weight_ref %table[0] : memref<?xi64> -> memref<64x64xf32>
  %b = qopt.weight_ref %table[3] : memref<?xi64> -> memref<64xi8>
  %c = qopt.weight_ref %table[7] : memref<?xi64> -> memref<f32>
  return %a, %b, %c : memref<64x64xf32>, memref<64xi8>, memref<f32>
}

// A whole decoder layer, as an importer writes it.
// CHECK-LABEL: func.func @layer
// CHECK: %[[X:.*]] = qopt.embedding
// CHECK: %[[H:.*]] = qopt.rms_norm %[[X]]
// CHECK: %[[Q:.*]] = qopt.linear %[[H]]
// CHECK: %[[K:.*]] = qopt.linear %[[H]]
// CHECK: %[[QR:.*]] = qopt.rope %[[Q]]
// CHECK: %[[KR:.*]] = qopt.rope %[[K]]
// CHECK: %[[O:.*]] = qopt.attention %[[QR]], %[[KR]], %[[K]]
// CHECK: %[[S:.*]] = qopt.swiglu %[[O]], %[[QR]]
// CHECK: %[[R:.*]] = arith.addf %[[S]], %[[X]]
// CHECK: return %[[R]]
func.func @layer(%tokens: tensor<?xi32>, %pos: index, %kc: memref<5x512x32xf32>, %vc: memref<5x512x32xf32>,
                 %emb: tensor<512x64xf32>, %nw: tensor<64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<32x64xf32>) -> tensor<?x64xf32> {
  %x = qopt.embedding %emb, %tokens : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %h = qopt.rms_norm %x, %nw {epsilon = 1.0e-05 : f32} : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  %q = qopt.linear %h, %wq : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  %k = qopt.linear %h, %wk : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  %qr = qopt.rope %q, %pos {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style interleaved>} : tensor<?x64xf32> -> tensor<?x64xf32>
  %kr = qopt.rope %k, %pos {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style interleaved>} : tensor<?x32xf32> -> tensor<?x32xf32>
  %o = qopt.attention %qr, %kr, %k, %kc, %vc, %pos {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x64xf32>
  %s = qopt.swiglu %o, %qr : tensor<?x64xf32>
  %r = arith.addf %s, %x : tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @hadamard
// CHECK:         qopt.hadamard %{{.*}} {size = 8 : i64} : tensor<?x64xf32>
// CHECK:         qopt.hadamard %{{.*}} {size = 172 : i64} : tensor<3x172xf32>
func.func @hadamard(%x: tensor<?x64xf32>, %y: tensor<3x172xf32>) -> (tensor<?x64xf32>, tensor<3x172xf32>) {
  %0 = qopt.hadamard %x {size = 8 : i64} : tensor<?x64xf32>
  %1 = qopt.hadamard %y {size = 172 : i64} : tensor<3x172xf32>
  return %0, %1 : tensor<?x64xf32>, tensor<3x172xf32>
}
