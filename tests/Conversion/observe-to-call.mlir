// RUN: qopt-opt %s --qopt-to-loops | FileCheck %s
// RUN: qopt-opt %s --qopt-to-llvm | FileCheck %s --check-prefix=LLVM

// qopt.observe bufferizes to a read of its operand's buffer and becomes a
// call of the runtime observer with a strided view of it; the conversion to
// LLVM expands the memref (docs/calibration.md): site, allocated and
// aligned pointers, offset, rows, cols and the two strides.
// CHECK: func.func private @qopt_observe(i64, memref<?x?xf32, strided<[?, ?], offset: ?>>)
// CHECK-LABEL: func.func @observe
// CHECK: %[[SITE:.*]] = arith.constant 3 : i64
// CHECK: %[[CAST:.*]] = memref.cast %{{.*}} : memref<?x8xf32> to memref<?x?xf32, strided<[?, ?], offset: ?>>
// CHECK: call @qopt_observe(%[[SITE]], %[[CAST]])
// LLVM: llvm.func @qopt_observe(i64, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64)
// LLVM: llvm.call @qopt_observe(
func.func @observe(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  qopt.observe %x {site = 3 : i64} : tensor<?x8xf32>
  return %x : tensor<?x8xf32>
}
