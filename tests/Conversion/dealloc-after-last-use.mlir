// RUN: qopt-opt %s -allow-unregistered-dialect --pass-pipeline="builtin.module(func.func(qopt-dealloc-after-last-use))" | FileCheck %s

// Each free moves up to just after the last use of its buffer or a view of
// it; a use inside a loop is a use by the loop.
// CHECK-LABEL: func.func @straight_line
// CHECK: %[[A:.*]] = memref.alloc() : memref<4xf32>
// CHECK: memref.store %{{.*}}, %[[A]]
// CHECK: %[[V:.*]] = memref.subview %[[A]]
// CHECK: scf.for
// CHECK:   memref.load %[[V]]
// CHECK: }
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK: %[[B:.*]] = memref.alloc() : memref<4xf32>
// CHECK: memref.store %{{.*}}, %[[B]]
// CHECK-NEXT: memref.dealloc %[[B]]
// CHECK: return
func.func @straight_line(%f: f32, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %a = memref.alloc() : memref<4xf32>
  memref.store %f, %a[%c0] : memref<4xf32>
  %v = memref.subview %a[1] [2] [1] : memref<4xf32> to memref<2xf32, strided<[1], offset: 1>>
  scf.for %i = %c0 to %n step %c1 {
    %x = memref.load %v[%c0] : memref<2xf32, strided<[1], offset: 1>>
  }
  %b = memref.alloc() : memref<4xf32>
  memref.store %f, %b[%c0] : memref<4xf32>
  memref.dealloc %a : memref<4xf32>
  memref.dealloc %b : memref<4xf32>
  return
}

// Work after the last use no longer keeps the buffer alive.
// CHECK-LABEL: func.func @unrelated_work
// CHECK: memref.store
// CHECK-NEXT: memref.dealloc
// CHECK-NEXT: "test.use"
func.func @unrelated_work(%f: f32) {
  %c0 = arith.constant 0 : index
  %a = memref.alloc() : memref<4xf32>
  memref.store %f, %a[%c0] : memref<4xf32>
  "test.use"() : () -> ()
  memref.dealloc %a : memref<4xf32>
  return
}

// A buffer read by an op of an enclosing block's region is not moved past
// it, and one whose views are used outside the freeing block stays.
// CHECK-LABEL: func.func @other_block
// CHECK: scf.if
// CHECK:   memref.dealloc
// CHECK: }
// CHECK: memref.load
// CHECK-NEXT: return
func.func @other_block(%c: i1) -> f32 {
  %c0 = arith.constant 0 : index
  %a = memref.alloc() : memref<4xf32>
  scf.if %c {
    "test.use"() : () -> ()
    memref.dealloc %a : memref<4xf32>
  }
  %x = memref.load %a[%c0] : memref<4xf32>
  return %x : f32
}
