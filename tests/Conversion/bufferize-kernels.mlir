// RUN: qopt-opt %s --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" | FileCheck %s

// The kernel ops' BufferizableOpInterface models: inits alias results and
// are not read (a fresh init needs no copy), other tensor operands are only
// read, and the bufferized op has no results.
// CHECK-LABEL: func.func @matmul
// CHECK-SAME: %[[X:[^:]*]]: memref<?x64xf32>, %[[C:[^:]*]]: memref<32x64xi8>, %[[S:[^:]*]]: memref<32x1xf32>
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x32xf32>
// CHECK-NOT: memref.copy
// CHECK: qopt.kernel_matmul ins(%[[X]] : memref<?x64xf32>) weight(%[[C]], %[[S]] : memref<32x64xi8>, memref<32x1xf32>) outs(%[[OUT]] : memref<?x32xf32>)
// CHECK-NOT: ->
// CHECK: return %[[OUT]]
func.func @matmul(%x: tensor<?x64xf32>, %c: tensor<32x64xi8>, %s: tensor<32x1xf32>) -> tensor<?x32xf32> {
  %c0 = arith.constant 0 : index
  %t = tensor.dim %x, %c0 : tensor<?x64xf32>
  %e = tensor.empty(%t) : tensor<?x32xf32>
  %y = qopt.kernel_matmul ins(%x : tensor<?x64xf32>) weight(%c, %s : tensor<32x64xi8>, tensor<32x1xf32>) outs(%e : tensor<?x32xf32>) {weight_type = !qopt.qtensor<32x64xf32, bits = 8, per_channel, sym>} -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// Several inits (run-time quantization) each become a buffer.
// CHECK-LABEL: func.func @quantize
// CHECK-COUNT-3: memref.alloc
// CHECK: qopt.kernel_quantize ins(%{{.*}} : memref<4x16xf32>) outs(%{{.*}}, %{{.*}}, %{{.*}} : memref<4x8xi8>, memref<4x1xf32>, memref<4x1xf32>)
func.func @quantize(%x: tensor<4x16xf32>) -> (tensor<4x8xi8>, tensor<4x1xf32>, tensor<4x1xf32>) {
  %c = tensor.empty() : tensor<4x8xi8>
  %s = tensor.empty() : tensor<4x1xf32>
  %z = tensor.empty() : tensor<4x1xf32>
  %r:3 = qopt.kernel_quantize ins(%x : tensor<4x16xf32>) outs(%c, %s, %z : tensor<4x8xi8>, tensor<4x1xf32>, tensor<4x1xf32>) {qtype = !qopt.qtensor<4x16xf32, bits = 4, per_channel, asym>} -> tensor<4x8xi8>, tensor<4x1xf32>, tensor<4x1xf32>
  return %r#0, %r#1, %r#2 : tensor<4x8xi8>, tensor<4x1xf32>, tensor<4x1xf32>
}

// An init that is a function argument is written in place only if nothing
// else reads it afterwards; here the argument is read again, so the kernel
// writes a copy.
// CHECK-LABEL: func.func @init_reused
// CHECK: %[[A:.*]] = memref.alloc
// CHECK: qopt.kernel_dequantize {{.*}} outs(%[[A]] : memref<4x16xf32>)
func.func @init_reused(%c: tensor<4x8xi8>, %s: tensor<f32>, %init: tensor<4x16xf32>) -> (tensor<4x16xf32>, tensor<4x16xf32>) {
  %y = qopt.kernel_dequantize ins(%c, %s : tensor<4x8xi8>, tensor<f32>) outs(%init : tensor<4x16xf32>) {qtype = !qopt.qtensor<4x16xf32, bits = 4, per_tensor, sym>} -> tensor<4x16xf32>
  return %y, %init : tensor<4x16xf32>, tensor<4x16xf32>
}

// qopt.kernel_hadamard reads and writes its init: on a writable argument
// read by nothing else it works in place (no buffer, no copy); when the
// transformed value is still read afterwards it works on a copy, so the
// other reader sees the untransformed data.
// CHECK-LABEL: func.func @hadamard_in_place
// CHECK-SAME: %[[X:[^:]*]]: memref<4x16xf32>
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.copy
// CHECK: qopt.kernel_hadamard outs(%[[X]] : memref<4x16xf32>) {size = 16 : i64}
// CHECK: return %[[X]]
func.func @hadamard_in_place(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %h = qopt.kernel_hadamard outs(%x : tensor<4x16xf32>) {size = 16 : i64} -> tensor<4x16xf32>
  return %h : tensor<4x16xf32>
}

// CHECK-LABEL: func.func @hadamard_copied
// CHECK-SAME: %[[X:[^:]*]]: memref<4x16xf32>
// CHECK: %[[A:.*]] = memref.alloc
// CHECK: memref.copy %[[X]], %[[A]]
// CHECK: qopt.kernel_hadamard outs(%[[A]] : memref<4x16xf32>) {size = 16 : i64}
// CHECK: return %[[A]], %[[X]]
func.func @hadamard_copied(%x: tensor<4x16xf32>) -> (tensor<4x16xf32>, tensor<4x16xf32>) {
  %h = qopt.kernel_hadamard outs(%x : tensor<4x16xf32>) {size = 16 : i64} -> tensor<4x16xf32>
  return %h, %x : tensor<4x16xf32>, tensor<4x16xf32>
}

// A read-only argument (qopt-prepare-abi marks every model input so) is
// copied even when nothing else reads it.
// CHECK-LABEL: func.func @hadamard_read_only
// CHECK: memref.copy
// CHECK: qopt.kernel_hadamard
func.func @hadamard_read_only(%x: tensor<4x16xf32> {bufferization.writable = false}) -> tensor<4x16xf32> {
  %h = qopt.kernel_hadamard outs(%x : tensor<4x16xf32>) {size = 16 : i64} -> tensor<4x16xf32>
  return %h : tensor<4x16xf32>
}
