// RUN: qopt-opt %s -split-input-file -verify-diagnostics

// Diagnostics of the kernel-op verifiers (QOptKernelOps.cpp) on the KV
// cache operands of qopt.kernel_attention, which share qopt.attention's
// rules (verifyKVCaches).

// f16 and dynamic-sequence caches are accepted.
func.func @kernel_attention_f16(%q: memref<?x32xf32>, %k: memref<?x16xf32>, %kc: memref<2x?x16xf16>, %p: index, %o: memref<?x32xf32>) {
  qopt.kernel_attention ins(%q, %k, %k : memref<?x32xf32>, memref<?x16xf32>, memref<?x16xf32>) cache(%kc, %kc : memref<2x?x16xf16>, memref<2x?x16xf16>) at %p outs(%o : memref<?x32xf32>) {head_dim = 8 : i64, layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64}
  return
}

// -----

func.func @kernel_attention_mixed(%q: memref<?x32xf32>, %k: memref<?x16xf32>, %kc: memref<2x?x16xf16>, %vc: memref<2x?x16xf32>, %p: index, %o: memref<?x32xf32>) {
  // expected-error@+1 {{'qopt.kernel_attention' op key cache element type 'f16' differs from value cache element type 'f32'}}
  qopt.kernel_attention ins(%q, %k, %k : memref<?x32xf32>, memref<?x16xf32>, memref<?x16xf32>) cache(%kc, %vc : memref<2x?x16xf16>, memref<2x?x16xf32>) at %p outs(%o : memref<?x32xf32>) {head_dim = 8 : i64, layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64}
  return
}

// -----

func.func @kernel_attention_i8(%q: memref<?x32xf32>, %k: memref<?x16xf32>, %kc: memref<2x?x16xi8>, %p: index, %o: memref<?x32xf32>) {
  // expected-error@+1 {{'qopt.kernel_attention' op operand #3 must be 3D memref of 32-bit float or 16-bit float or bfloat16 type values, but got 'memref<2x?x16xi8>'}}
  qopt.kernel_attention ins(%q, %k, %k : memref<?x32xf32>, memref<?x16xf32>, memref<?x16xf32>) cache(%kc, %kc : memref<2x?x16xi8>, memref<2x?x16xi8>) at %p outs(%o : memref<?x32xf32>) {head_dim = 8 : i64, layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64}
  return
}

// -----

func.func @kernel_attention_rows(%q: memref<?x32xf32>, %k: memref<?x16xf32>, %kc: memref<2x?x?xf32>, %p: index, %o: memref<?x32xf32>) {
  // expected-error@+1 {{'qopt.kernel_attention' op KV caches must have static layer and row dimensions [layers, seq, kv_dim] (seq may be dynamic)}}
  qopt.kernel_attention ins(%q, %k, %k : memref<?x32xf32>, memref<?x16xf32>, memref<?x16xf32>) cache(%kc, %kc : memref<2x?x?xf32>, memref<2x?x?xf32>) at %p outs(%o : memref<?x32xf32>) {head_dim = 8 : i64, layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64}
  return
}
