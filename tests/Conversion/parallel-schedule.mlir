// RUN: qopt-opt %s --qopt-parallel-schedule | FileCheck %s
// RUN: qopt-opt %s --qopt-parallel-schedule=schedule=static | FileCheck %s --check-prefix=STATIC
// RUN: not qopt-opt %s --qopt-parallel-schedule=schedule=auto 2>&1 | FileCheck %s --check-prefix=BAD

// Every omp.wsloop without a schedule gets the pass's (guided by default);
// one that has a schedule keeps it.
// CHECK-LABEL: func.func @rows
// CHECK: omp.wsloop schedule(guided) {
// CHECK: omp.wsloop schedule(dynamic) {
// STATIC-LABEL: func.func @rows
// STATIC: omp.wsloop schedule(static) {
// STATIC: omp.wsloop schedule(dynamic) {
// BAD: qopt-parallel-schedule: schedule must be static, guided or dynamic, got 'auto'
func.func @rows(%a: memref<?xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %f = arith.constant 1.0 : f32
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        memref.store %f, %a[%i] : memref<?xf32>
        omp.yield
      }
    }
    omp.wsloop schedule(dynamic) {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        memref.store %f, %a[%i] : memref<?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  return
}
