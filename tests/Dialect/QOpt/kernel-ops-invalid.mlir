// RUN: qopt-opt %s -split-input-file -verify-diagnostics

func.func @parts_count(%x: tensor<?x64xf32>, %c: tensor<32x32xi8>, %s: tensor<32x2xf32>, %init: tensor<?x32xf32>) {
  // expected-error@+1 {{expects 3 weight operands for '!qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>', got 2}}
  %y = qopt.kernel_matmul ins(%x : tensor<?x64xf32>) weight(%c, %s : tensor<32x32xi8>, tensor<32x2xf32>) outs(%init : tensor<?x32xf32>) {weight_type = !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>} -> tensor<?x32xf32>
  return
}

// -----

func.func @storage_form(%x: tensor<?x64xf32>, %c: tensor<32x64xi8>, %s: tensor<32x2xf32>, %init: tensor<?x32xf32>) {
  // expected-error@+1 {{weight operand of type 'tensor<32x64xi8>' does not match 'tensor<32x32xi8>'}}
  %y = qopt.kernel_matmul ins(%x : tensor<?x64xf32>) weight(%c, %s : tensor<32x64xi8>, tensor<32x2xf32>) outs(%init : tensor<?x32xf32>) {weight_type = !qopt.qtensor<32x64xf32, bits = 4, group = 32, sym>} -> tensor<?x32xf32>
  return
}

// -----

func.func @width_needs_nested(%x: tensor<?x64xf32>, %c: tensor<32x32xi8>, %s: tensor<32x2xf32>, %init: tensor<?x32xf32>, %r: index) {
  // expected-error@+1 {{a run-time width needs an unsliced nested weight}}
  %y = qopt.kernel_matmul ins(%x : tensor<?x64xf32>) weight(%c, %s : tensor<32x32xi8>, tensor<32x2xf32>) width(%r) outs(%init : tensor<?x32xf32>) {weight_type = !qopt.qtensor<32x64xf32, bits = 4, group = 32, sym>} -> tensor<?x32xf32>
  return
}

// -----

func.func @width_needs_quantized(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>, %init: tensor<?x32xf32>, %r: index) {
  // expected-error@+1 {{a run-time width needs a quantized weight}}
  %y = qopt.kernel_matmul ins(%x : tensor<?x64xf32>) weight(%w : tensor<32x64xf32>) width(%r) outs(%init : tensor<?x32xf32>) {weight_type = tensor<32x64xf32>} -> tensor<?x32xf32>
  return
}

// -----

func.func @weight_type_kind(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>, %init: tensor<?x32xf32>) {
  // expected-error@+1 {{weight type must be a ranked tensor or a !qopt.qtensor type, got 'f32'}}
  %y = qopt.kernel_matmul ins(%x : tensor<?x64xf32>) weight(%w : tensor<32x64xf32>) outs(%init : tensor<?x32xf32>) {weight_type = f32} -> tensor<?x32xf32>
  return
}

// -----

func.func @matmul_shapes(%x: tensor<?x48xf32>, %w: tensor<32x64xf32>, %init: tensor<?x32xf32>) {
  // expected-error@+1 {{shapes do not match the weight}}
  %y = qopt.kernel_matmul ins(%x : tensor<?x48xf32>) weight(%w : tensor<32x64xf32>) outs(%init : tensor<?x32xf32>) {weight_type = tensor<32x64xf32>} -> tensor<?x32xf32>
  return
}

// -----

func.func @matmul_rank(%x: tensor<?x64xf32>, %w: tensor<64xf32>, %init: tensor<?x32xf32>) {
  // expected-error@+1 {{weight must be a static [N, K] matrix}}
  %y = qopt.kernel_matmul ins(%x : tensor<?x64xf32>) weight(%w : tensor<64xf32>) outs(%init : tensor<?x32xf32>) {weight_type = tensor<64xf32>} -> tensor<?x32xf32>
  return
}

// -----

func.func @matmul_matrices(%x: tensor<64xf32>, %w: tensor<32x64xf32>, %init: tensor<32xf32>) {
  // expected-error@+1 {{input and init must be matrices}}
  %y = qopt.kernel_matmul ins(%x : tensor<64xf32>) weight(%w : tensor<32x64xf32>) outs(%init : tensor<32xf32>) {weight_type = tensor<32x64xf32>} -> tensor<32xf32>
  return
}

// -----

func.func @dequantize_qtype(%c: tensor<4x8xi8>, %init: tensor<4x8xf32>) {
  // expected-error@+1 {{qtype must be a !qopt.qtensor type}}
  %y = qopt.kernel_dequantize ins(%c : tensor<4x8xi8>) outs(%init : tensor<4x8xf32>) {qtype = tensor<4x8xf32>} -> tensor<4x8xf32>
  return
}

// -----

func.func @quantize_split(%x: tensor<4x16xf32>, %c: tensor<4x8xi8>) {
  // expected-error@+1 {{expects the codes, scales and zero points of '!qopt.qtensor<4x16xf32, bits = 4, per_channel, asym>' split between params and inits}}
  %y = qopt.kernel_quantize ins(%x : tensor<4x16xf32>) outs(%c : tensor<4x8xi8>) {qtype = !qopt.qtensor<4x16xf32, bits = 4, per_channel, asym>} -> tensor<4x8xi8>
  return
}

// -----

func.func @quantize_qtype(%x: tensor<4x16xf32>, %c: tensor<4x8xi8>) {
  // expected-error@+1 {{qtype must be a !qopt.qtensor type}}
  %y = qopt.kernel_quantize ins(%x : tensor<4x16xf32>) outs(%c : tensor<4x8xi8>) {qtype = i8} -> tensor<4x8xi8>
  return
}

// -----

func.func @repack_types(%c: tensor<4x8xi8>, %u: tensor<4x16xi8>) {
  // expected-error@+1 {{source_type and result_type must be !qopt.qtensor types}}
  %y = qopt.kernel_repack ins(%c : tensor<4x8xi8>) outs(%u : tensor<4x16xi8>) {source_type = i8, result_type = i8} -> tensor<4x16xi8>
  return
}

// -----

func.func @repack_shape(%c: tensor<4x8xi8>, %u: tensor<4x8xi8>) {
  // expected-error@+1 {{source and result must have one shape}}
  %y = qopt.kernel_repack ins(%c : tensor<4x8xi8>) outs(%u : tensor<4x8xi8>) {source_type = !qopt.qtensor<4x16xf32, bits = 4, per_tensor, sym>, result_type = !qopt.qtensor<4x8xf32, bits = 4, per_tensor, sym>} -> tensor<4x8xi8>
  return
}

// -----

func.func @repack_widen(%c: tensor<4x4xi8>, %u: tensor<4x8xi8>) {
  // expected-error@+1 {{cannot widen 2-bit codes to 4}}
  %y = qopt.kernel_repack ins(%c : tensor<4x4xi8>) outs(%u : tensor<4x8xi8>) {source_type = !qopt.qtensor<4x16xf32, bits = 2, per_tensor, sym>, result_type = !qopt.qtensor<4x16xf32, bits = 4, per_tensor, sym>} -> tensor<4x8xi8>
  return
}

// -----

func.func @repack_width(%c: tensor<4x8xi8>, %u: tensor<4x16xi8>, %r: index) {
  // expected-error@+1 {{a run-time width needs an unsliced nested source}}
  %y = qopt.kernel_repack ins(%c : tensor<4x8xi8>) width(%r) outs(%u : tensor<4x16xi8>) {source_type = !qopt.qtensor<4x16xf32, bits = 4, per_tensor, sym>, result_type = !qopt.qtensor<4x16xf32, bits = 4, per_tensor, sym>, result_unpacked} -> tensor<4x16xi8>
  return
}

// -----

func.func @attention_heads(%q: memref<?x32xf32>, %k: memref<?x16xf32>, %kc: memref<2x8x16xf32>, %pos: index, %o: memref<?x32xf32>) {
  // expected-error@+1 {{head counts must be positive, kv heads dividing heads}}
  qopt.kernel_attention ins(%q, %k, %k : memref<?x32xf32>, memref<?x16xf32>, memref<?x16xf32>) cache(%kc, %kc : memref<2x8x16xf32>, memref<2x8x16xf32>) at %pos outs(%o : memref<?x32xf32>) {layer = 1 : i64, num_heads = 4 : i64, num_kv_heads = 3 : i64, head_dim = 8 : i64}
  return
}

// -----

func.func @attention_window(%q: memref<?x32xf32>, %k: memref<?x16xf32>, %kc: memref<2x8x16xf32>, %pos: index, %o: memref<?x32xf32>) {
  // expected-error@+1 {{sliding_window must be positive}}
  qopt.kernel_attention ins(%q, %k, %k : memref<?x32xf32>, memref<?x16xf32>, memref<?x16xf32>) cache(%kc, %kc : memref<2x8x16xf32>, memref<2x8x16xf32>) at %pos outs(%o : memref<?x32xf32>) {layer = 1 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 8 : i64, sliding_window = 0 : i64}
  return
}

// -----

func.func @gather_table(%t: tensor<?xi32>, %w: tensor<32x64xf32>, %e: tensor<?x64xf32>) {
  // expected-error@+1 {{expects 1 table operands for 'tensor<32x64xf32>', got 2}}
  %g = qopt.kernel_gather ins(%t : tensor<?xi32>) table(%w, %w : tensor<32x64xf32>, tensor<32x64xf32>) outs(%e : tensor<?x64xf32>) {table_type = tensor<32x64xf32>} -> tensor<?x64xf32>
  return
}

// -----

func.func @hadamard_order(%m: memref<2x12xf32>) {
  // expected-error@+1 {{qopt cannot construct a Hadamard matrix of order 3}}
  qopt.kernel_hadamard outs(%m : memref<2x12xf32>) {size = 3 : i64}
  return
}

// -----

func.func @hadamard_type(%m: memref<2x8xf16>) {
  // expected-error@+1 {{init must be a rank-2 f32 tensor or buffer}}
  qopt.kernel_hadamard outs(%m : memref<2x8xf16>) {size = 8 : i64}
  return
}

// -----

func.func @hadamard_rows(%m: memref<2x12xf32>) {
  // expected-error@+1 {{the row length must be a static multiple of 8}}
  qopt.kernel_hadamard outs(%m : memref<2x12xf32>) {size = 8 : i64}
  return
}
