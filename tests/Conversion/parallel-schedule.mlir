// RUN: qopt-opt %s --split-input-file --qopt-parallel-schedule | FileCheck %s
// RUN: qopt-opt %s --split-input-file --qopt-parallel-schedule=schedule=auto | FileCheck %s
// RUN: qopt-opt %s --split-input-file --qopt-parallel-schedule=schedule=static | FileCheck %s --check-prefix=STATIC
// RUN: qopt-opt %s --split-input-file --qopt-parallel-schedule=schedule=guided | FileCheck %s --check-prefix=GUIDED
// RUN: not qopt-opt %s --split-input-file --qopt-parallel-schedule=schedule=fastest 2>&1 | FileCheck %s --check-prefix=BAD

// Under `auto` (the default) a loop whose function carries the kernel's
// qopt.schedule hint takes it, every other loop without a schedule gets
// static, and a loop that has a schedule keeps it. A schedule given by name
// applies to every loop without one, hint or not.
// CHECK-LABEL: func.func @plain
// CHECK: omp.wsloop schedule(static) {
// CHECK: omp.wsloop schedule(dynamic) {
// STATIC-LABEL: func.func @plain
// STATIC: omp.wsloop schedule(static) {
// STATIC: omp.wsloop schedule(dynamic) {
// GUIDED-LABEL: func.func @plain
// GUIDED: omp.wsloop schedule(guided) {
// GUIDED: omp.wsloop schedule(dynamic) {
// BAD: qopt-parallel-schedule: schedule must be auto, static, guided or dynamic, got 'fastest'
func.func @plain(%a: memref<?xf32>, %n: index) {
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

// -----

// CHECK-LABEL: func.func private @hinted
// CHECK: omp.wsloop schedule(guided) {
// CHECK: omp.wsloop schedule(static) {
// STATIC-LABEL: func.func private @hinted
// STATIC: omp.wsloop schedule(static) {
// STATIC: omp.wsloop schedule(static) {
// GUIDED-LABEL: func.func private @hinted
// GUIDED: omp.wsloop schedule(guided) {
// GUIDED: omp.wsloop schedule(static) {
func.func private @hinted(%a: memref<?xf32>, %n: index) attributes {qopt.schedule = "guided"} {
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
    omp.wsloop schedule(static) {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        memref.store %f, %a[%i] : memref<?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  return
}
