// RUN: qopt-opt %s -qopt-fold-rotations="allow-partial=true" 2>&1 | FileCheck %s
// RUN: not qopt-opt %s -qopt-fold-rotations 2>&1 | FileCheck %s --check-prefix=STRICT

// The model of fold-rotations.mlir with a scaled attention norm: R1 cannot
// be folded. By default that is an error and nothing changes; with
// allow-partial=true it is a warning, R1 is skipped and R2, R3, R4 are
// applied (each rotation is exact on its own).
// STRICT: error: qopt-fold-rotations: r1: the RMSNorm has a scale: R1 commutes with weightless norms only (run qopt-fuse-norms first)
// CHECK: warning: qopt-fold-rotations: r1 skipped: the RMSNorm has a scale: R1 commutes with weightless norms only (run qopt-fuse-norms first)
// CHECK-LABEL: func.func @model
// CHECK:         %[[T:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>
// CHECK:         qopt.embedding %[[T]]
// CHECK:         %[[V:.*]] = arith.constant dense<{{\[}}[0.707106769, 0.707106769], [0.707106769, -0.707106769]]> : tensor<2x2xf32>
// CHECK:         qopt.linear %{{.*}}, %[[V]] {qopt.layer = 0 : i64, qopt.role = "v"}
// CHECK:         qopt.hadamard %{{.*}} {size = 2 : i64}
// CHECK:         qopt.hadamard %{{.*}} {size = 2 : i64}
// CHECK:         qopt.hadamard %{{.*}} {size = 4 : i64}

func.func @model(%tok: tensor<?xi32>, %pos: index, %kc: memref<1x?x2xf32>, %vc: memref<1x?x2xf32>) -> tensor<?x3xf32> {
  %table = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %x = qopt.embedding %table, %tok {qopt.role = "embedding"} : tensor<3x2xf32>, tensor<?xi32> -> tensor<?x2xf32>
  %scale = arith.constant dense<[2.0, 0.5]> : tensor<2xf32>
  %one = arith.constant dense<1.0> : tensor<2xf32>
  %n = qopt.rms_norm %x, %scale {epsilon = 1.0e-05 : f32} : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
  %eye = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %q = qopt.linear %n, %eye {qopt.layer = 0 : i64, qopt.role = "q"} : tensor<?x2xf32>, tensor<2x2xf32> -> tensor<?x2xf32>
  %k = qopt.linear %n, %eye {qopt.layer = 0 : i64, qopt.role = "k"} : tensor<?x2xf32>, tensor<2x2xf32> -> tensor<?x2xf32>
  %v = qopt.linear %n, %eye {qopt.layer = 0 : i64, qopt.role = "v"} : tensor<?x2xf32>, tensor<2x2xf32> -> tensor<?x2xf32>
  %qr = qopt.rope %q, %pos {head_dim = 2 : i64, style = #qopt<rope_style interleaved>, theta = 1.0e+04 : f32} : tensor<?x2xf32> -> tensor<?x2xf32>
  %kr = qopt.rope %k, %pos {head_dim = 2 : i64, style = #qopt<rope_style interleaved>, theta = 1.0e+04 : f32} : tensor<?x2xf32> -> tensor<?x2xf32>
  %a = qopt.attention %qr, %kr, %v, %kc, %vc, %pos {head_dim = 2 : i64, layer = 0 : i64, num_heads = 1 : i64, num_kv_heads = 1 : i64} : tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>, memref<1x?x2xf32>, memref<1x?x2xf32> -> tensor<?x2xf32>
  %wo = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %o = qopt.linear %a, %wo {qopt.layer = 0 : i64, qopt.role = "o"} : tensor<?x2xf32>, tensor<2x2xf32> -> tensor<?x2xf32>
  %h = arith.addf %x, %o : tensor<?x2xf32>
  %n2 = qopt.rms_norm %h, %one {epsilon = 1.0e-05 : f32} : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
  %wg = arith.constant dense<[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0]]> : tensor<4x2xf32>
  %g = qopt.linear %n2, %wg {qopt.layer = 0 : i64, qopt.role = "gate"} : tensor<?x2xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  %u = qopt.linear %n2, %wg {qopt.layer = 0 : i64, qopt.role = "up"} : tensor<?x2xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  %s = qopt.swiglu %g, %u : tensor<?x4xf32>
  %wd = arith.constant dense<[[1.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]]> : tensor<2x4xf32>
  %d = qopt.linear %s, %wd {qopt.layer = 0 : i64, qopt.role = "down"} : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x2xf32>
  %h2 = arith.addf %h, %d : tensor<?x2xf32>
  %n3 = qopt.rms_norm %h2, %one {epsilon = 1.0e-05 : f32} : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
  %c = qopt.linear %n3, %table {qopt.role = "classifier"} : tensor<?x2xf32>, tensor<3x2xf32> -> tensor<?x3xf32>
  return %c : tensor<?x3xf32>
}
