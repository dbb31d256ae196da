// RUN: not qopt-opt %s --qopt-parallel-schedule 2>&1 | FileCheck %s
// RUN: qopt-opt %s --qopt-parallel-schedule=schedule=static | FileCheck %s --check-prefix=STATIC

// A hint that names no schedule is an error under `auto`; a schedule given
// by name does not read the hints.
// CHECK: qopt-parallel-schedule: schedule hint must be static, guided or dynamic, got 'soon'
// STATIC: omp.wsloop schedule(static) {
func.func private @badHint(%a: memref<?xf32>, %n: index) attributes {qopt.schedule = "soon"} {
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
    omp.terminator
  }
  return
}
