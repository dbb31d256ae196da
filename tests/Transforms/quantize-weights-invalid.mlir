// Invalid options of qopt-quantize-weights: each is reported once and the
// pass fails.
// RUN: not qopt-opt %s -qopt-quantize-weights="bits=0" 2>&1 | FileCheck %s --check-prefix=BITS0
// RUN: not qopt-opt %s -qopt-quantize-weights="bits=9" 2>&1 | FileCheck %s --check-prefix=BITS9
// RUN: not qopt-opt %s -qopt-quantize-weights="bits=1 scheme=sym" 2>&1 | FileCheck %s --check-prefix=SYM1
// RUN: not qopt-opt %s -qopt-quantize-weights="scheme=signed" 2>&1 | FileCheck %s --check-prefix=SCHEME
// RUN: not qopt-opt %s -qopt-quantize-weights="layout=planes" 2>&1 | FileCheck %s --check-prefix=LAYOUT
// RUN: not qopt-opt %s -qopt-quantize-weights="layers=q,attn" 2>&1 | FileCheck %s --check-prefix=ROLE
// RUN: not qopt-opt %s -qopt-quantize-weights="layers=," 2>&1 | FileCheck %s --check-prefix=EMPTY
// RUN: not qopt-opt %s -qopt-quantize-weights="group=-4" 2>&1 | FileCheck %s --check-prefix=GROUP

// BITS0: error: qopt-quantize-weights: bits must be in 1..8, got 0
// BITS9: error: qopt-quantize-weights: bits must be in 1..8, got 9
// SYM1: error: qopt-quantize-weights: the symmetric scheme needs at least 2 bits, got 1
// SCHEME: error: qopt-quantize-weights: unknown scheme 'signed' (expected asym or sym)
// LAYOUT: error: qopt-quantize-weights: unknown layout 'planes' (expected static, dense or nested)
// ROLE: error: qopt-quantize-weights: unknown role 'attn' in layers (expected a comma list of q, k, v, o, gate, up, down, embedding, classifier, or all)
// EMPTY: error: qopt-quantize-weights: unknown role '' in layers
// GROUP: error: qopt-quantize-weights: group must be positive, or 0 for per-channel scales, got -4

func.func @f(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x4xf32>
  %y = qopt.linear %x, %w {qopt.layer = 0 : i64, qopt.role = "q"} : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
