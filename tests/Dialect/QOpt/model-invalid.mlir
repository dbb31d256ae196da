// RUN: qopt-opt %s -split-input-file -verify-diagnostics

// Every diagnostic of the model-op verifiers (QOptModelOps.cpp), plus the
// ODS constraints worth pinning.

//===----------------------------------------------------------------------===//
// qopt.embedding
//===----------------------------------------------------------------------===//

func.func @embedding_dynamic_table(%t: tensor<?x64xf32>, %tok: tensor<?xi32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.embedding' op embedding table must have a static shape}}
  %x = qopt.embedding %t, %tok : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  return %x : tensor<?x64xf32>
}

// -----

func.func @embedding_dynamic_width(%t: tensor<512x64xf32>, %tok: tensor<?xi32>) -> tensor<?x?xf32> {
  // expected-error@+1 {{'qopt.embedding' op result must have a static feature dimension}}
  %x = qopt.embedding %t, %tok : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x?xf32>
  return %x : tensor<?x?xf32>
}

// -----

func.func @embedding_width(%t: tensor<512x64xf32>, %tok: tensor<?xi32>) -> tensor<?x32xf32> {
  // expected-error@+1 {{'qopt.embedding' op result has 32 features but the embedding width is 64}}
  %x = qopt.embedding %t, %tok : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x32xf32>
  return %x : tensor<?x32xf32>
}

// -----

func.func @embedding_tokens(%t: tensor<512x64xf32>, %tok: tensor<3xi32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'qopt.embedding' op token dimension of result (2) does not match that of tokens (3)}}
  %x = qopt.embedding %t, %tok : tensor<512x64xf32>, tensor<3xi32> -> tensor<2x64xf32>
  return %x : tensor<2x64xf32>
}

// -----

func.func @embedding_i64_tokens(%t: tensor<512x64xf32>, %tok: tensor<?xi64>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.embedding' op operand #1 must be 1D tensor of 32-bit signless integer values, but got 'tensor<?xi64>'}}
  %x = qopt.embedding %t, %tok : tensor<512x64xf32>, tensor<?xi64> -> tensor<?x64xf32>
  return %x : tensor<?x64xf32>
}

// -----

// Tables may be f32, f16 or bf16, but not f64.
func.func @embedding_f64_table(%t: tensor<512x64xf64>, %tok: tensor<?xi32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.embedding' op operand #0 must be 2D tensor of 32-bit float or 16-bit float or bfloat16 type values or a quantized tensor: codes, group scales and zero points, but got 'tensor<512x64xf64>'}}
  %x = qopt.embedding %t, %tok : tensor<512x64xf64>, tensor<?xi32> -> tensor<?x64xf32>
  return %x : tensor<?x64xf32>
}

// -----

// Quantized tables: rank 2, grouped along the rows, static, f32/f16/bf16.
func.func @embedding_quantized_rank(%t: !qopt.qtensor<512xf32, bits = 4, group = 32, asym>, %tok: tensor<?xi32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.embedding' op quantized embedding table must be a rank-2 quantized tensor, got rank 1}}
  %x = qopt.embedding %t, %tok : !qopt.qtensor<512xf32, bits = 4, group = 32, asym>, tensor<?xi32> -> tensor<?x64xf32>
  return %x : tensor<?x64xf32>
}

// -----

func.func @embedding_quantized_axis(%t: !qopt.qtensor<512x64xf32, bits = 4, group = 32, axis = 0, asym>, %tok: tensor<?xi32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.embedding' op quantized embedding table must be grouped along its second dimension (axis = 1), got axis = 0}}
  %x = qopt.embedding %t, %tok : !qopt.qtensor<512x64xf32, bits = 4, group = 32, axis = 0, asym>, tensor<?xi32> -> tensor<?x64xf32>
  return %x : tensor<?x64xf32>
}

// -----

func.func @embedding_quantized_dynamic(%t: !qopt.qtensor<?x64xf32, bits = 4, group = 32, asym>, %tok: tensor<?xi32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.embedding' op quantized embedding table must have a static shape, got ?x64}}
  %x = qopt.embedding %t, %tok : !qopt.qtensor<?x64xf32, bits = 4, group = 32, asym>, tensor<?xi32> -> tensor<?x64xf32>
  return %x : tensor<?x64xf32>
}

// -----

func.func @embedding_quantized_f64(%t: !qopt.qtensor<512x64xf64, bits = 4, group = 32, asym>, %tok: tensor<?xi32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.embedding' op quantized embedding table expressed type must be f32, f16 or bf16, got 'f64'}}
  %x = qopt.embedding %t, %tok : !qopt.qtensor<512x64xf64, bits = 4, group = 32, asym>, tensor<?xi32> -> tensor<?x64xf32>
  return %x : tensor<?x64xf32>
}

// -----

func.func @embedding_quantized_width(%t: !qopt.qtensor<512x64xf32, bits = 4, group = 32, asym>, %tok: tensor<?xi32>) -> tensor<?x32xf32> {
  // expected-error@+1 {{'qopt.embedding' op result has 32 features but the embedding width is 64}}
  %x = qopt.embedding %t, %tok : !qopt.qtensor<512x64xf32, bits = 4, group = 32, asym>, tensor<?xi32> -> tensor<?x32xf32>
  return %x : tensor<?x32xf32>
}

//===----------------------------------------------------------------------===//
// qopt.rms_norm
//===----------------------------------------------------------------------===//

// -----

func.func @rms_norm_dynamic_weight(%x: tensor<?x64xf32>, %w: tensor<?xf32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rms_norm' op weight must have a static size}}
  %y = qopt.rms_norm %x, %w {epsilon = 1.0e-05 : f32} : tensor<?x64xf32>, tensor<?xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @rms_norm_dynamic_input(%x: tensor<?x?xf32>, %w: tensor<64xf32>) -> tensor<?x?xf32> {
  // expected-error@+1 {{'qopt.rms_norm' op input must have a static feature dimension}}
  %y = qopt.rms_norm %x, %w {epsilon = 1.0e-05 : f32} : tensor<?x?xf32>, tensor<64xf32> -> tensor<?x?xf32>
  return %y : tensor<?x?xf32>
}

// -----

func.func @rms_norm_weight_size(%x: tensor<?x64xf32>, %w: tensor<32xf32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rms_norm' op input has 64 features but the weight size is 32}}
  %y = qopt.rms_norm %x, %w {epsilon = 1.0e-05 : f32} : tensor<?x64xf32>, tensor<32xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Even a compatible (more static) result type must equal the input type.
func.func @rms_norm_result(%x: tensor<?x64xf32>, %w: tensor<64xf32>) -> tensor<2x64xf32> {
  // expected-error@+1 {{'qopt.rms_norm' op result type 'tensor<2x64xf32>' must equal the input type 'tensor<?x64xf32>'}}
  %y = qopt.rms_norm %x, %w {epsilon = 1.0e-05 : f32} : tensor<?x64xf32>, tensor<64xf32> -> tensor<2x64xf32>
  return %y : tensor<2x64xf32>
}

// -----

func.func @rms_norm_negative_epsilon(%x: tensor<?x64xf32>, %w: tensor<64xf32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rms_norm' op epsilon must be non-negative}}
  %y = qopt.rms_norm %x, %w {epsilon = -1.0e-05 : f32} : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// NaN is rejected too (the check is written as !(epsilon >= 0)).
func.func @rms_norm_nan_epsilon(%x: tensor<?x64xf32>, %w: tensor<64xf32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rms_norm' op epsilon must be non-negative}}
  %y = qopt.rms_norm %x, %w {epsilon = 0x7FC00000 : f32} : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @rms_norm_f64_epsilon(%x: tensor<?x64xf32>, %w: tensor<64xf32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rms_norm' op attribute 'epsilon' failed to satisfy constraint: 32-bit float attribute}}
  %y = qopt.rms_norm %x, %w {epsilon = 1.0e-05 : f64} : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @rms_norm_missing_epsilon(%x: tensor<?x64xf32>, %w: tensor<64xf32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rms_norm' op requires attribute 'epsilon'}}
  %y = qopt.rms_norm %x, %w : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

//===----------------------------------------------------------------------===//
// qopt.linear
//===----------------------------------------------------------------------===//

// -----

func.func @linear_dynamic_weight(%x: tensor<?x64xf32>, %w: tensor<?x64xf32>) -> tensor<?x32xf32> {
  // expected-error@+1 {{'qopt.linear' op weight must have a static shape}}
  %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

func.func @linear_dynamic_input(%x: tensor<?x?xf32>, %w: tensor<32x64xf32>) -> tensor<?x32xf32> {
  // expected-error@+1 {{'qopt.linear' op input must have a static feature dimension}}
  %y = qopt.linear %x, %w : tensor<?x?xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// The weight is [out, in]: K is its second dimension.
func.func @linear_k(%x: tensor<?x32xf32>, %w: tensor<32x64xf32>) -> tensor<?x32xf32> {
  // expected-error@+1 {{'qopt.linear' op input has 32 features but the weight's input dimension is 64}}
  %y = qopt.linear %x, %w : tensor<?x32xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

func.func @linear_dynamic_result(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>) -> tensor<?x?xf32> {
  // expected-error@+1 {{'qopt.linear' op result must have a static feature dimension}}
  %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x?xf32>
  return %y : tensor<?x?xf32>
}

// -----

func.func @linear_n(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.linear' op result has 64 features but the weight's output dimension is 32}}
  %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @linear_tokens(%x: tensor<4x64xf32>, %w: tensor<32x64xf32>) -> tensor<1x32xf32> {
  // expected-error@+1 {{'qopt.linear' op token dimension of result (1) does not match that of input (4)}}
  %y = qopt.linear %x, %w : tensor<4x64xf32>, tensor<32x64xf32> -> tensor<1x32xf32>
  return %y : tensor<1x32xf32>
}

// -----

func.func @linear_rank3(%x: tensor<1x4x64xf32>, %w: tensor<32x64xf32>) -> tensor<4x32xf32> {
  // expected-error@+1 {{'qopt.linear' op operand #0 must be 2D tensor of 32-bit float values, but got 'tensor<1x4x64xf32>'}}
  %y = qopt.linear %x, %w : tensor<1x4x64xf32>, tensor<32x64xf32> -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

//===----------------------------------------------------------------------===//
// qopt.rope
//===----------------------------------------------------------------------===//

// -----

func.func @rope_odd_head_dim(%x: tensor<?x63xf32>, %p: index) -> tensor<?x63xf32> {
  // expected-error@+1 {{'qopt.rope' op head_dim must be even, got 7}}
  %y = qopt.rope %x, %p {head_dim = 7 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style interleaved>} : tensor<?x63xf32> -> tensor<?x63xf32>
  return %y : tensor<?x63xf32>
}

// -----

func.func @rope_dynamic_features(%x: tensor<?x?xf32>, %p: index) -> tensor<?x?xf32> {
  // expected-error@+1 {{'qopt.rope' op input must have a static feature dimension}}
  %y = qopt.rope %x, %p {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style interleaved>} : tensor<?x?xf32> -> tensor<?x?xf32>
  return %y : tensor<?x?xf32>
}

// -----

func.func @rope_not_dividing(%x: tensor<?x60xf32>, %p: index) -> tensor<?x60xf32> {
  // expected-error@+1 {{'qopt.rope' op feature dimension 60 is not a multiple of head_dim 8}}
  %y = qopt.rope %x, %p {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style rotate_half>} : tensor<?x60xf32> -> tensor<?x60xf32>
  return %y : tensor<?x60xf32>
}

// -----

func.func @rope_result(%x: tensor<?x64xf32>, %p: index) -> tensor<1x64xf32> {
  // expected-error@+1 {{'qopt.rope' op result type 'tensor<1x64xf32>' must equal the input type 'tensor<?x64xf32>'}}
  %y = qopt.rope %x, %p {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style interleaved>} : tensor<?x64xf32> -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}

// -----

func.func @rope_inv_freq_size(%x: tensor<?x64xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rope' op inv_freq has 3 entries, expected head_dim / 2 = 4}}
  %y = qopt.rope %x, %p {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style rotate_half>, inv_freq = array<f32: 1.0, 0.5, 0.25>} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @rope_inv_freq_negative(%x: tensor<?x64xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rope' op inv_freq[2] = -2.500000e-01 is not positive and finite}}
  %y = qopt.rope %x, %p {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style rotate_half>, inv_freq = array<f32: 1.0, 0.5, -0.25, 0.125>} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @rope_zero_scale(%x: tensor<?x64xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rope' op scale must be positive and finite}}
  %y = qopt.rope %x, %p {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style rotate_half>, scale = 0.0 : f32} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @rope_ntk_alone(%x: tensor<?x64xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rope' op ntk_factor and ntk_max_positions must be given together}}
  %y = qopt.rope %x, %p {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style rotate_half>, ntk_factor = 2.0 : f32} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @rope_ntk_small_factor(%x: tensor<?x64xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rope' op ntk_factor must be finite and at least 1}}
  %y = qopt.rope %x, %p {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style rotate_half>, ntk_factor = 0.5 : f32, ntk_max_positions = 16 : i64} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @rope_ntk_with_table(%x: tensor<?x64xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rope' op dynamic NTK scaling (ntk_factor) recomputes the frequencies; it excludes inv_freq}}
  %y = qopt.rope %x, %p {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style rotate_half>, inv_freq = array<f32: 1.0, 0.5, 0.25, 0.125>, ntk_factor = 2.0 : f32, ntk_max_positions = 16 : i64} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @rope_ntk_max_positions(%x: tensor<?x64xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rope' op attribute 'ntk_max_positions' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %y = qopt.rope %x, %p {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style rotate_half>, ntk_factor = 2.0 : f32, ntk_max_positions = 0 : i64} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

//===----------------------------------------------------------------------===//
// qopt.bias_add
//===----------------------------------------------------------------------===//

func.func @bias_add_size(%x: tensor<?x64xf32>, %b: tensor<32xf32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.bias_add' op bias of 32 elements does not match the feature dimension 64 of the input}}
  %y = qopt.bias_add %x, %b : tensor<?x64xf32>, tensor<32xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @rope_zero_theta(%x: tensor<?x64xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rope' op theta must be positive}}
  %y = qopt.rope %x, %p {head_dim = 8 : i64, theta = 0.0 : f32, style = #qopt<rope_style interleaved>} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @rope_negative_theta(%x: tensor<?x64xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rope' op theta must be positive}}
  %y = qopt.rope %x, %p {head_dim = 8 : i64, theta = -1.0e+04 : f32, style = #qopt<rope_style interleaved>} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @rope_zero_head_dim(%x: tensor<?x64xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rope' op attribute 'head_dim' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %y = qopt.rope %x, %p {head_dim = 0 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style interleaved>} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @rope_bad_style(%x: tensor<?x64xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+2 {{expected ::mlir::qopt::RopeStyle to be one of: interleaved, rotate_half}}
  // expected-error@+1 {{failed to parse QOpt_RopeStyleAttr parameter 'value'}}
  %y = qopt.rope %x, %p {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style neox>} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

func.func @rope_i64_position(%x: tensor<?x64xf32>, %p: i64) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.rope' op operand #1 must be index, but got 'i64'}}
  %y = "qopt.rope"(%x, %p) <{head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style interleaved>}> : (tensor<?x64xf32>, i64) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

//===----------------------------------------------------------------------===//
// qopt.attention
//===----------------------------------------------------------------------===//

// -----

func.func @attention_groups(%q: tensor<?x48xf32>, %k: tensor<?x32xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<?x48xf32> {
  // expected-error@+1 {{'qopt.attention' op num_heads (6) must be a multiple of num_kv_heads (4)}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 6 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x48xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x48xf32>
  return %o : tensor<?x48xf32>
}

// -----

// Without the check the products below overflow int64_t.
func.func @attention_overflow(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op num_heads * head_dim (4611686018427387904 * 4) overflows}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 4611686018427387904 : i64, num_kv_heads = 4611686018427387904 : i64, head_dim = 4 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_cache_types(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x512x32xf32>, %vc: memref<5x256x32xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op key and value caches must have the same type}}
  %o = qopt.attention %q, %k, %k, %kc, %vc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x256x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

// The sequence dimension may be dynamic (the runtime picks the capacity);
// the layer and row dimensions may not.
func.func @attention_dynamic_layers(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<?x?x32xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op KV caches must have static layer and row dimensions [layers, seq, kv_dim] (seq may be dynamic)}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<?x?x32xf32>, memref<?x?x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_dynamic_row(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x?x?xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op KV caches must have static layer and row dimensions [layers, seq, kv_dim] (seq may be dynamic)}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x?x?xf32>, memref<5x?x?xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_empty_cache(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x0x32xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op KV caches must hold at least one position}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x0x32xf32>, memref<5x0x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_layer(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op layer 5 is out of range for a cache of 5 layers}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 5 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_negative_layer(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op attribute 'layer' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = -1 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_zero_kv_heads(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op attribute 'num_kv_heads' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 0 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_cache_row(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x512x64xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op cache row has 64 elements but num_kv_heads * head_dim is 32}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x64xf32>, memref<5x512x64xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

// The cache element type is f32, f16 or bf16, and the same for keys and
// values.
func.func @attention_i8_cache(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x?x32xi8>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op operand #3 must be 3D memref of 32-bit float or 16-bit float or bfloat16 type values, but got 'memref<5x?x32xi8>'}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x?x32xi8>, memref<5x?x32xi8> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_f64_cache(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x512x32xf64>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op operand #3 must be 3D memref of 32-bit float or 16-bit float or bfloat16 type values, but got 'memref<5x512x32xf64>'}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x32xf64>, memref<5x512x32xf64> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_mixed_cache_types(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x?x32xf32>, %vc: memref<5x?x32xf16>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op key cache element type 'f32' differs from value cache element type 'f16'}}
  %o = qopt.attention %q, %k, %k, %kc, %vc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x?x32xf32>, memref<5x?x32xf16> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_mixed_cache_seq(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x?x32xf16>, %vc: memref<5x512x32xf16>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op key and value caches must have the same type}}
  %o = qopt.attention %q, %k, %k, %kc, %vc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x?x32xf16>, memref<5x512x32xf16> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_query_dynamic(%q: tensor<?x?xf32>, %k: tensor<?x32xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op query must have a static feature dimension}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x?xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_key_dynamic(%q: tensor<?x64xf32>, %k: tensor<?x?xf32>, %v: tensor<?x32xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op key must have a static feature dimension}}
  %o = qopt.attention %q, %k, %v, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x?xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_value_dynamic(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x?xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op value must have a static feature dimension}}
  %o = qopt.attention %q, %k, %v, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x?xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_result_dynamic(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<?x?xf32> {
  // expected-error@+1 {{'qopt.attention' op result must have a static feature dimension}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x?xf32>
  return %o : tensor<?x?xf32>
}

// -----

func.func @attention_query(%q: tensor<?x32xf32>, %k: tensor<?x32xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op query has 32 features but num_heads * head_dim is 64}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_key(%q: tensor<?x64xf32>, %k: tensor<?x64xf32>, %v: tensor<?x32xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op key has 64 features but num_kv_heads * head_dim is 32}}
  %o = qopt.attention %q, %k, %v, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_value(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x16xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op value has 16 features but num_kv_heads * head_dim is 32}}
  %o = qopt.attention %q, %k, %v, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x16xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @attention_result(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<?x32xf32> {
  // expected-error@+1 {{'qopt.attention' op result has 32 features but num_heads * head_dim is 64}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x32xf32>
  return %o : tensor<?x32xf32>
}

// -----

func.func @attention_key_tokens(%q: tensor<2x64xf32>, %k: tensor<3x32xf32>, %v: tensor<2x32xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<2x64xf32> {
  // expected-error@+1 {{'qopt.attention' op token dimension of key (3) does not match that of query (2)}}
  %o = qopt.attention %q, %k, %v, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<2x64xf32>, tensor<3x32xf32>, tensor<2x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<2x64xf32>
  return %o : tensor<2x64xf32>
}

// -----

// A dynamic dimension matches anything, but static ones are still compared
// with the query's.
func.func @attention_value_tokens(%q: tensor<2x64xf32>, %k: tensor<?x32xf32>, %v: tensor<1x32xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<2x64xf32> {
  // expected-error@+1 {{'qopt.attention' op token dimension of value (1) does not match that of query (2)}}
  %o = qopt.attention %q, %k, %v, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<2x64xf32>, tensor<?x32xf32>, tensor<1x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<2x64xf32>
  return %o : tensor<2x64xf32>
}

// -----

func.func @attention_result_tokens(%q: tensor<2x64xf32>, %k: tensor<2x32xf32>, %kc: memref<5x512x32xf32>, %p: index) -> tensor<4x64xf32> {
  // expected-error@+1 {{'qopt.attention' op token dimension of result (4) does not match that of query (2)}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<2x64xf32>, tensor<2x32xf32>, tensor<2x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<4x64xf32>
  return %o : tensor<4x64xf32>
}

//===----------------------------------------------------------------------===//
// qopt.swiglu
//===----------------------------------------------------------------------===//

// -----

// The trait alone accepts compatible shapes, which the custom form (one
// type) could not print back.
func.func @swiglu_types(%g: tensor<?x64xf32>, %u: tensor<4x64xf32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.swiglu' op gate, up and result must have the same type}}
  %h = "qopt.swiglu"(%g, %u) : (tensor<?x64xf32>, tensor<4x64xf32>) -> tensor<?x64xf32>
  return %h : tensor<?x64xf32>
}

// -----

func.func @swiglu_f16(%g: tensor<?x64xf16>) -> tensor<?x64xf16> {
  // expected-error@+1 {{'qopt.swiglu' op operand #0 must be 2D tensor of 32-bit float values, but got 'tensor<?x64xf16>'}}
  %h = qopt.swiglu %g, %g : tensor<?x64xf16>
  return %h : tensor<?x64xf16>
}

//===----------------------------------------------------------------------===//
// qopt.weight_ref
//===----------------------------------------------------------------------===//

// -----

func.func @weight_ref_negative(%t: memref<?xi64>) -> memref<64xf32> {
  // expected-error@+1 {{'qopt.weight_ref' op attribute 'index' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %w = qopt.weight_ref %t[-1] : memref<?xi64> -> memref<64xf32>
  return %w : memref<64xf32>
}

// -----

func.func @weight_ref_dynamic(%t: memref<?xi64>) -> memref<?xf32> {
  // expected-error@+1 {{'qopt.weight_ref' op result #0 must be statically shaped memref of any type values, but got 'memref<?xf32>'}}
  %w = qopt.weight_ref %t[0] : memref<?xi64> -> memref<?xf32>
  return %w : memref<?xf32>
}

// -----

func.func @weight_ref_table(%t: memref<?xi32>) -> memref<64xf32> {
  // expected-error@+1 {{'qopt.weight_ref' op operand #0 must be 1D memref of 64-bit signless integer values, but got 'memref<?xi32>'}}
  %w = qopt.weight_ref %t[0] : memref<?xi32> -> memref<64xf32>
  return %w : memref<64xf32>
}

// -----

func.func @weight_ref_strided(%t: memref<?xi64>) -> memref<4x4xf32, strided<[8, 1]>> {
  // expected-error@+1 {{'qopt.weight_ref' op result must have the identity layout}}
  %w = qopt.weight_ref %t[0] : memref<?xi64> -> memref<4x4xf32, strided<[8, 1]>>
  return %w : memref<4x4xf32, strided<[8, 1]>>
}

//===----------------------------------------------------------------------===//
// Degenerate shapes the lowering could not execute safely
//===----------------------------------------------------------------------===//

// -----

func.func @embedding_empty_table(%t: tensor<0x64xf32>, %tok: tensor<?xi32>) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.embedding' op embedding table must not be empty}}
  %x = qopt.embedding %t, %tok : tensor<0x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  return %x : tensor<?x64xf32>
}

// -----

func.func @rms_norm_empty(%x: tensor<?x0xf32>, %w: tensor<0xf32>) -> tensor<?x0xf32> {
  // expected-error@+1 {{'qopt.rms_norm' op cannot normalize an empty feature dimension}}
  %y = qopt.rms_norm %x, %w {epsilon = 1.0e-05 : f32} : tensor<?x0xf32>, tensor<0xf32> -> tensor<?x0xf32>
  return %y : tensor<?x0xf32>
}

// -----

func.func @attention_empty_cache(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %kc: memref<5x0x32xf32>, %p: index) -> tensor<?x64xf32> {
  // expected-error@+1 {{'qopt.attention' op KV caches must hold at least one position}}
  %o = qopt.attention %q, %k, %k, %kc, %kc, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x0x32xf32>, memref<5x0x32xf32> -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

func.func @hadamard_order(%x: tensor<?x12xf32>) -> tensor<?x12xf32> {
  // expected-error@+1 {{'qopt.hadamard' op qopt cannot construct a Hadamard matrix of order 6 (supported: K * 2^m for K = 1 or a Paley / Williamson order, see docs/hadamard.md)}}
  %0 = qopt.hadamard %x {size = 6 : i64} : tensor<?x12xf32>
  return %0 : tensor<?x12xf32>
}

// -----

func.func @hadamard_blocks(%x: tensor<?x12xf32>) -> tensor<?x12xf32> {
  // expected-error@+1 {{'qopt.hadamard' op row length 12 is not a multiple of the block size 8}}
  %0 = qopt.hadamard %x {size = 8 : i64} : tensor<?x12xf32>
  return %0 : tensor<?x12xf32>
}

// -----

func.func @hadamard_dynamic(%x: tensor<4x?xf32>) -> tensor<4x?xf32> {
  // expected-error@+1 {{'qopt.hadamard' op the transformed dimension must be static}}
  %0 = qopt.hadamard %x {size = 4 : i64} : tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// -----

func.func @hadamard_size(%x: tensor<4x4xf32>) -> tensor<4x4xf32> {
  // expected-error@+1 {{'qopt.hadamard' op attribute 'size' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %0 = qopt.hadamard %x {size = 0 : i64} : tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

//===----------------------------------------------------------------------===//
// Shapes of every qopt op (the BoundedShapes trait)
//===----------------------------------------------------------------------===//

// A builtin tensor type takes any static dimension; on a qopt op each must be
// below 2^31, checked before the op's verifier multiplies them.

// -----

func.func @dimension_too_large(%x: tensor<?x2147483648xf32>) -> tensor<?x2147483648xf32> {
  // expected-error@+1 {{'qopt.swiglu' op operand #0 has dimension 2147483648; static dimensions must be in [0, 2^31)}}
  %0 = qopt.swiglu %x, %x : tensor<?x2147483648xf32>
  return %0 : tensor<?x2147483648xf32>
}

// -----

func.func @too_many_elements(%x: tensor<2147483647x2147483647xf32>) -> tensor<2147483647x2147483647xf32> {
  // expected-error@+1 {{'qopt.swiglu' op operand #0 ('tensor<2147483647x2147483647xf32>') holds more than 2^48 elements}}
  %0 = qopt.swiglu %x, %x : tensor<2147483647x2147483647xf32>
  return %0 : tensor<2147483647x2147483647xf32>
}

// -----

// The largest dimension allowed.
func.func @dimension_at_the_limit(%x: tensor<1x2147483647xf32>) -> tensor<1x2147483647xf32> {
  %0 = qopt.swiglu %x, %x : tensor<1x2147483647xf32>
  return %0 : tensor<1x2147483647xf32>
}
