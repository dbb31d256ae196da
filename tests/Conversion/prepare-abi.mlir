// RUN: qopt-opt %s --qopt-prepare-abi | FileCheck %s

// Every model function gets the runtime's calling convention: inputs, the
// weight table, the width table, then one out-parameter buffer per result.
// Resource weights are used in place through the weight table (read-only
// tensors); width slots are loads of the width table. Tensor inputs are
// marked read-only for one-shot bufferization, so an in-place kernel copies
// them rather than overwrite the caller's buffer.
// CHECK: module attributes {qopt.weight_table = ["wq", "wk"], qopt.width_table = [{name = "a", parent_bits = 8 : i64}, {name = "b", parent_bits = 8 : i64}, {name = "c", parent_bits = 4 : i64}]}
// CHECK-LABEL: func.func @decode(
// CHECK-SAME: %[[X:[^:]*]]: tensor<?x64xf32> {bufferization.writable = false}, %[[TABLE:[^:]*]]: memref<?xi64>, %[[WIDTHS:[^:]*]]: memref<?xi32>, %[[OUT:[^:]*]]: memref<?x32xf32>)
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK: %[[REF:.*]] = qopt.weight_ref %[[TABLE]][0] : memref<?xi64> -> memref<32x64xf32>
// CHECK: %[[W:.*]] = bufferization.to_tensor %[[REF]] restrict : memref<32x64xf32> to tensor<32x64xf32>
// CHECK: %[[SLOT:.*]] = memref.load %[[WIDTHS]][%{{.*}}] : memref<?xi32>
// CHECK: arith.index_cast %[[SLOT]] : i32 to index
// CHECK: %[[Y:.*]] = qopt.linear %[[X]], %[[W]]
// CHECK: bufferization.materialize_in_destination %[[Y]] in restrict writable %[[OUT]]
// CHECK-NEXT: return
// CHECK-NOT: arith.constant dense_resource
module attributes {qopt.width_table = [{name = "a", parent_bits = 8 : i64}, {name = "b", parent_bits = 8 : i64}, {name = "c", parent_bits = 4 : i64}]} {
func.func @decode(%x: tensor<?x64xf32>) -> tensor<?x32xf32> {
  %w = arith.constant dense_resource<wq> : tensor<32x64xf32>
  %r = qopt.served_width 2
  %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// A weight shared by two functions has one table entry; other constants
// stay.
// CHECK-LABEL: func.func @prefill(
// CHECK: qopt.weight_ref %{{.*}}[0] : memref<?xi64> -> memref<32x64xf32>
// CHECK: qopt.weight_ref %{{.*}}[1] : memref<?xi64> -> memref<32x64xf32>
// CHECK: arith.constant dense<1.000000e+00> : tensor<64xf32>
func.func @prefill(%x: tensor<?x64xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %w = arith.constant dense_resource<wq> : tensor<32x64xf32>
  %k = arith.constant dense_resource<wk> : tensor<32x64xf32>
  %one = arith.constant dense<1.0> : tensor<64xf32>
  %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  %z = qopt.linear %x, %k : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  return %y, %z : tensor<?x32xf32>, tensor<?x32xf32>
}
}
