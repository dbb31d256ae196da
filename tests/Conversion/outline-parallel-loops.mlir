// RUN: qopt-opt %s --qopt-outline-parallel-loops --split-input-file | FileCheck %s

// Each outermost scf.parallel becomes a call of a private function with
// internal linkage; captured values are its arguments (operands first, in
// first-use order), constants are cloned into it; an inner parallel loop
// stays inside its outer one. The second loop is structurally equal to the
// first (another buffer, as another layer's kernel would be), so it calls
// the same function; the third differs (a multiply) and gets its own.
// CHECK-LABEL: func.func @forward(
// CHECK-SAME: %[[A:.*]]: memref<?xf32>, %[[B:.*]]: memref<?xf32>, %[[N:.*]]: index, %[[F:.*]]: f32)
// CHECK-NOT: scf.parallel
// CHECK: call @forward_parallel_0(%[[N]], %[[F]], %[[A]]) : (index, f32, memref<?xf32>) -> ()
// CHECK-NEXT: call @forward_parallel_0(%[[N]], %[[F]], %[[B]]) : (index, f32, memref<?xf32>) -> ()
// CHECK-NEXT: call @forward_parallel_2(%[[N]], %[[F]], %[[B]]) : (index, f32, memref<?xf32>) -> ()
// CHECK-NEXT: return

// CHECK: func.func private @forward_parallel_2(%[[N2:.*]]: index, %[[F2:.*]]: f32, %[[B2:.*]]: memref<?xf32>)
// CHECK-SAME: attributes {llvm.linkage = #llvm.linkage<internal>}
// CHECK: arith.mulf

// CHECK: func.func private @forward_parallel_0(%[[N0:.*]]: index, %[[F0:.*]]: f32, %[[A0:.*]]: memref<?xf32>)
// CHECK-SAME: attributes {llvm.linkage = #llvm.linkage<internal>}
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK: scf.parallel (%[[I:.*]]) = (%[[C0]]) to (%[[N0]]) step (%[[C1]])
// CHECK: scf.parallel
// CHECK: memref.store %[[F0]], %[[A0]]
// CHECK: return
// CHECK-NOT: func.func private @forward_parallel_1
func.func @forward(%a: memref<?xf32>, %b: memref<?xf32>, %n: index, %f: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    scf.parallel (%j) = (%c0) to (%c1) step (%c1) {
      memref.store %f, %a[%i] : memref<?xf32>
      scf.reduce
    }
    scf.reduce
  }
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    scf.parallel (%j) = (%c0) to (%c1) step (%c1) {
      memref.store %f, %b[%i] : memref<?xf32>
      scf.reduce
    }
    scf.reduce
  }
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    %g = arith.mulf %f, %f : f32
    memref.store %g, %b[%i] : memref<?xf32>
    scf.reduce
  }
  return
}

// -----

// A loop with a reduction: its result is the function's result. A loop
// nested in scf.for is outlined too, with the induction variable as an
// argument. A function already named like the outlined one keeps its name;
// the new one is renamed.
// CHECK-LABEL: func.func @sum(
// CHECK: %[[S:.*]] = call @sum_parallel_0{{.*}}(%{{.*}}, %{{.*}}) : (index, memref<?xf32>) -> f32
// CHECK: scf.for %[[K:.*]] =
// CHECK: call @sum_parallel_1(%[[K]], %{{.*}}) : (index, memref<?xf32>) -> ()
// CHECK: return %[[S]] : f32
// CHECK: func.func private @sum_parallel_1(
// CHECK: func.func private @sum_parallel_0{{.+}}(%{{.*}}: index, %{{.*}}: memref<?xf32>) -> f32
// CHECK: %[[R:.*]] = scf.parallel
// CHECK: scf.reduce
// CHECK: arith.addf
// CHECK: return %[[R]] : f32
// CHECK: func.func @sum_parallel_0() -> i32
func.func @sum(%a: memref<?xf32>, %n: index) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %s = scf.parallel (%i) = (%c0) to (%n) step (%c1) init (%zero) -> f32 {
    %x = memref.load %a[%i] : memref<?xf32>
    scf.reduce(%x : f32) {
    ^bb0(%l: f32, %r: f32):
      %t = arith.addf %l, %r : f32
      scf.reduce.return %t : f32
    }
  }
  scf.for %k = %c0 to %n step %c1 {
    scf.parallel (%i) = (%c0) to (%k) step (%c1) {
      memref.store %zero, %a[%i] : memref<?xf32>
      scf.reduce
    }
  }
  return %s : f32
}

func.func @sum_parallel_0() -> i32 {
  %c = arith.constant 0 : i32
  return %c : i32
}

// -----

// A kernel's schedule hint (qopt.schedule on the scf.parallel) moves onto
// the outlined function, where qopt-parallel-schedule reads it after the
// OpenMP conversion; a loop with another hint is not merged with it.
// CHECK-LABEL: func.func @hinted(
// CHECK: call @hinted_parallel_0(
// CHECK: call @hinted_parallel_1(
// CHECK: func.func private @hinted_parallel_1(
// CHECK-SAME: attributes {llvm.linkage = #llvm.linkage<internal>}
// CHECK-NOT: qopt.schedule
// CHECK: func.func private @hinted_parallel_0(
// CHECK-SAME: attributes {llvm.linkage = #llvm.linkage<internal>, qopt.schedule = "guided"}
// CHECK: scf.parallel
// CHECK: } {qopt.schedule = "guided"}
func.func @hinted(%a: memref<?xf32>, %n: index, %f: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    memref.store %f, %a[%i] : memref<?xf32>
    scf.reduce
  } {qopt.schedule = "guided"}
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    memref.store %f, %a[%i] : memref<?xf32>
    scf.reduce
  }
  return
}
