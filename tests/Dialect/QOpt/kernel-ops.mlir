// RUN: qopt-opt %s | qopt-opt | FileCheck %s
// RUN: qopt-opt %s --mlir-print-op-generic | qopt-opt | FileCheck %s

// The kernel-level ops round-trip in their tensor and buffer forms.

// CHECK-LABEL: func.func @tensor_form
// CHECK: %[[W:.*]] = qopt.served_width 3
// CHECK: qopt.kernel_matmul ins(%{{.*}} : tensor<?x64xf32>) weight(%{{.*}}, %{{.*}}, %{{.*}} : tensor<8x32x8xi8>, tensor<32x2xf32>, tensor<32x2xf32>) width(%[[W]]) outs(%{{.*}} : tensor<?x32xf32>) {weight_type = !qopt.qtensor<32x64xf32, bits = 8, group = 32, asym, layout = nested>} -> tensor<?x32xf32>
// CHECK: qopt.kernel_gather ins(%{{.*}} : tensor<?xi32>) table(%{{.*}} : tensor<32x64xf16>) outs(%{{.*}} : tensor<?x64xf32>) {table_type = tensor<32x64xf16>} -> tensor<?x64xf32>
func.func @tensor_form(%x: tensor<?x64xf32>, %c: tensor<8x32x8xi8>, %s: tensor<32x2xf32>, %z: tensor<32x2xf32>, %init: tensor<?x32xf32>, %t: tensor<?xi32>, %table: tensor<32x64xf16>, %e: tensor<?x64xf32>) -> (tensor<?x32xf32>, tensor<?x64xf32>) {
  %r = qopt.served_width 3
  %y = qopt.kernel_matmul ins(%x : tensor<?x64xf32>) weight(%c, %s, %z : tensor<8x32x8xi8>, tensor<32x2xf32>, tensor<32x2xf32>) width(%r) outs(%init : tensor<?x32xf32>) {weight_type = !qopt.qtensor<32x64xf32, bits = 8, group = 32, asym, layout = nested>} -> tensor<?x32xf32>
  %g = qopt.kernel_gather ins(%t : tensor<?xi32>) table(%table : tensor<32x64xf16>) outs(%e : tensor<?x64xf32>) {table_type = tensor<32x64xf16>} -> tensor<?x64xf32>
  return %y, %g : tensor<?x32xf32>, tensor<?x64xf32>
}

// CHECK-LABEL: func.func @buffer_form
// CHECK: qopt.kernel_dequantize ins(%{{.*}}, %{{.*}} : memref<4x8xi8>, memref<f32>) outs(%{{.*}} : memref<4x16xf32>) {qtype = !qopt.qtensor<4x16xf32, bits = 4, per_tensor, sym>}
// CHECK: qopt.kernel_quantize ins(%{{.*}} : memref<4x16xf32>, %{{.*}} : memref<f32>) outs(%{{.*}} : memref<4x8xi8>)
// CHECK: qopt.kernel_repack ins(%{{.*}} : memref<4x8xi8>) outs(%{{.*}} : memref<4x16xi8>) {result_type = !qopt.qtensor<4x16xf32, bits = 4, per_tensor, sym>, result_unpacked, source_type = !qopt.qtensor<4x16xf32, bits = 4, per_tensor, sym>}
// CHECK: qopt.kernel_attention ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x32xf32>, memref<?x16xf32>, memref<?x16xf32>) cache(%{{.*}}, %{{.*}} : memref<2x8x16xf16>, memref<2x8x16xf16>) at %{{.*}} outs(%{{.*}} : memref<?x32xf32>) {head_dim = 8 : i64, layer = 1 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64}
func.func @buffer_form(%c: memref<4x8xi8>, %s: memref<f32>, %y: memref<4x16xf32>, %u: memref<4x16xi8>, %q: memref<?x32xf32>, %k: memref<?x16xf32>, %v: memref<?x16xf32>, %kc: memref<2x8x16xf16>, %vc: memref<2x8x16xf16>, %pos: index, %o: memref<?x32xf32>) {
  qopt.kernel_dequantize ins(%c, %s : memref<4x8xi8>, memref<f32>) outs(%y : memref<4x16xf32>) {qtype = !qopt.qtensor<4x16xf32, bits = 4, per_tensor, sym>}
  qopt.kernel_quantize ins(%y : memref<4x16xf32>, %s : memref<f32>) outs(%c : memref<4x8xi8>) {qtype = !qopt.qtensor<4x16xf32, bits = 4, per_tensor, sym>}
  qopt.kernel_repack ins(%c : memref<4x8xi8>) outs(%u : memref<4x16xi8>) {source_type = !qopt.qtensor<4x16xf32, bits = 4, per_tensor, sym>, result_type = !qopt.qtensor<4x16xf32, bits = 4, per_tensor, sym>, result_unpacked}
  qopt.kernel_attention ins(%q, %k, %v : memref<?x32xf32>, memref<?x16xf32>, memref<?x16xf32>) cache(%kc, %vc : memref<2x8x16xf16>, memref<2x8x16xf16>) at %pos outs(%o : memref<?x32xf32>) {layer = 1 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 8 : i64}
  return
}

// CHECK-LABEL: func.func @hadamard
// CHECK:         qopt.kernel_hadamard outs(%{{.*}} : tensor<?x64xf32>) {size = 8 : i64} -> tensor<?x64xf32>
// CHECK:         qopt.kernel_hadamard outs(%{{.*}} : memref<?x172xf32>) {size = 172 : i64}
func.func @hadamard(%x: tensor<?x64xf32>, %m: memref<?x172xf32>) -> tensor<?x64xf32> {
  %0 = qopt.kernel_hadamard outs(%x : tensor<?x64xf32>) {size = 8 : i64} -> tensor<?x64xf32>
  qopt.kernel_hadamard outs(%m : memref<?x172xf32>) {size = 172 : i64}
  return %0 : tensor<?x64xf32>
}
