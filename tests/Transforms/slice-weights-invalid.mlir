// RUN: not qopt-opt %s -qopt-slice-weights="bits=0" 2>&1 | FileCheck %s --check-prefix=BITS0
// RUN: not qopt-opt %s -qopt-slice-weights="bits=9" 2>&1 | FileCheck %s --check-prefix=BITS9
// RUN: not qopt-opt %s -qopt-slice-weights="bits=4 layers=q,wq" 2>&1 | FileCheck %s --check-prefix=ROLE

// BITS0: error: qopt-slice-weights: bits must be in 1..8, got 0
// BITS9: error: qopt-slice-weights: bits must be in 1..8, got 9
// ROLE: error: qopt-slice-weights: unknown role 'wq' in layers

func.func @f(%x: tensor<?x32xf32>, %q: !qopt.qtensor<2x32xf32, bits = 8, group = 32, asym>) -> tensor<?x2xf32> {
  %d = qopt.dequantize %q : !qopt.qtensor<2x32xf32, bits = 8, group = 32, asym> -> tensor<2x32xf32>
  %y = qopt.linear %x, %d {qopt.layer = 0 : i64, qopt.role = "q"} : tensor<?x32xf32>, tensor<2x32xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
