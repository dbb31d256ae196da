// RUN: qopt-opt %s --convert-qopt-kernels-to-loops | FileCheck %s
// RUN: qopt-opt %s --qopt-lower-quantized-types | FileCheck %s --check-prefix=KERNEL

// The base matrices become constant globals, one per order.
// CHECK-DAG: memref.global "private" constant @__qopt_hadamard_12 : memref<12x12xf32> = dense<"0x0000803F
// CHECK-DAG: memref.global "private" constant @__qopt_hadamard_172 : memref<172x172xf32>

// qopt.hadamard becomes the in-place kernel on its own operand.
// KERNEL-LABEL: func.func @model_op
// KERNEL: %[[H:.*]] = qopt.kernel_hadamard outs(%{{.*}} : tensor<?x64xf32>) {size = 8 : i64} -> tensor<?x64xf32>
// KERNEL: return %[[H]]
func.func @model_op(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %h = qopt.hadamard %x {size = 8 : i64} : tensor<?x64xf32>
  return %h : tensor<?x64xf32>
}

// n = 32 = 2^5 at 8 lanes: the strides 1, 2, 4 in registers (three
// shuffle + FMA steps on each vector), the strides 8 and 16 as vector
// butterflies, then the 1/sqrt(32) scale.
// CHECK-LABEL: func.func @power_of_two
// CHECK: arith.constant 0.176776692 : f32
// CHECK: scf.for
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}}
// CHECK: %[[V:.*]] = vector.load
// CHECK: %[[P1:.*]] = vector.shuffle %[[V]], %[[V]] [1, 0, 3, 2, 5, 4, 7, 6]
// CHECK: %[[V1:.*]] = vector.fma %[[V]], %{{.*}}, %[[P1]]
// CHECK: %[[P2:.*]] = vector.shuffle %[[V1]], %[[V1]] [2, 3, 0, 1, 6, 7, 4, 5]
// CHECK: %[[V2:.*]] = vector.fma %[[V1]], %{{.*}}, %[[P2]]
// CHECK: %[[P4:.*]] = vector.shuffle %[[V2]], %[[V2]] [4, 5, 6, 7, 0, 1, 2, 3]
// CHECK: %[[V4:.*]] = vector.fma %[[V2]], %{{.*}}, %[[P4]]
// CHECK: vector.store %[[V4]]
// CHECK: arith.addf %{{.*}}, %{{.*}} : vector<8xf32>
// CHECK: arith.subf %{{.*}}, %{{.*}} : vector<8xf32>
// CHECK: arith.mulf %{{.*}}, %{{.*}} : vector<8xf32>
// CHECK-NOT: memref.alloc
func.func @power_of_two(%m: memref<?x64xf32>) {
  qopt.kernel_hadamard outs(%m : memref<?x64xf32>) {size = 32 : i64}
  return
}

// n = 96 = 12 * 2^3: butterflies within runs of 8, then the 12 x 12 mix
// from a constant global, vectorized along the run, into a scratch buffer
// that is copied back; the scale 1/sqrt(96) is folded into the mix.
// CHECK-LABEL: func.func @base_and_runs
// CHECK: memref.get_global @__qopt_hadamard_12
// CHECK: %[[S:.*]] = memref.alloc() : memref<96xf32>
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %{{.*}}) -> (vector<8xf32>)
// CHECK: vector.broadcast %{{.*}} : f32 to vector<8xf32>
// CHECK: vector.fma
// CHECK: arith.mulf %{{.*}}, %{{.*}} : vector<8xf32>
// CHECK: vector.store %{{.*}}, %[[S]]
// CHECK: memref.dealloc %[[S]]
func.func @base_and_runs(%m: memref<?x96xf32>) {
  qopt.kernel_hadamard outs(%m : memref<?x96xf32>) {size = 96 : i64}
  return
}

// n = 172 (a Williamson order, no power of two): the mix is one dot product
// per output along the row.
// CHECK-LABEL: func.func @base_only
// CHECK: memref.get_global @__qopt_hadamard_172 : memref<172x172xf32>
// CHECK: vector.reduction <add>
func.func @base_only(%m: memref<?x172xf32>) {
  qopt.kernel_hadamard outs(%m : memref<?x172xf32>) {size = 172 : i64}
  return
}
