// RUN: qopt-opt %s -qopt-fold-rotations="rotations=r1" | FileCheck %s --check-prefix=R1
// RUN: qopt-opt %s -qopt-fold-rotations="rotations=r2" | FileCheck %s --check-prefix=R2
// RUN: qopt-opt %s -qopt-fold-rotations="rotations=r3" | FileCheck %s --check-prefix=R3
// RUN: qopt-opt %s -qopt-fold-rotations="rotations=r4" | FileCheck %s --check-prefix=R4
// RUN: qopt-opt %s -qopt-fold-rotations | FileCheck %s --check-prefix=ALL
// RUN: qopt-opt %s -qopt-fold-rotations="kind=random seed=7 rotations=r1,r2" | FileCheck %s --check-prefix=RANDOM
// RUN: qopt-opt %s -qopt-fold-rotations="kind=random seed=8 rotations=r1" | FileCheck %s --check-prefix=SEED8

// A one-layer decoder with D = 2, one head of head_dim 2 and an MLP of
// width 4, small enough to check every folded value by hand. With
// H2 / sqrt(2), every weight vector v becomes [v0 + v1, v0 - v1] / sqrt(2);
// with H4 / 2 (Sylvester), [1, 2, 3, 4] becomes [10, -2, -4, 0] / 2.
//
// Folding R1 -- the embedding table's rows [1, 2] -> [3, -1] / sqrt(2), the rows of
// the readers (q, k, v, gate, up, classifier), the columns of the writers
// (o: [1, 3] -> [4, -2] / sqrt(2); down). The tied classifier gets the same
// rotated table.
// R1-LABEL: func.func @model
// R1:         %[[T:.*]] = arith.constant dense<{{\[}}[2.12132025, -0.707106769], [4.94974756, -0.707106769], [7.7781744, -0.707106769]]> : tensor<3x2xf32>
// R1:         qopt.embedding %[[T]]
// R1:         %[[Q:.*]] = arith.constant dense<{{\[}}[0.707106769, 0.707106769], [0.707106769, -0.707106769]]> : tensor<2x2xf32>
// R1:         qopt.linear %{{.*}}, %[[Q]] {qopt.layer = 0 : i64, qopt.role = "q"}
// R1:         %[[O:.*]] = arith.constant dense<{{\[}}[2.82842708, 4.2426405], [-1.41421354, -1.41421354]]> : tensor<2x2xf32>
// R1:         qopt.linear %{{.*}}, %[[O]] {qopt.layer = 0 : i64, qopt.role = "o"}
// R1:         %[[G:.*]] = arith.constant dense<{{\[}}[0.707106769, 0.707106769], [0.707106769, -0.707106769], [1.41421354, 0.000000e+00], [0.000000e+00, 1.41421354]]> : tensor<4x2xf32>
// R1:         qopt.linear %{{.*}}, %[[G]] {qopt.layer = 0 : i64, qopt.role = "gate"}
// R1:         %[[D:.*]] = arith.constant dense<{{\[}}[1.41421354, 1.41421354, 2.12132025, 2.82842708], [0.000000e+00, -1.41421354, -2.12132025, -2.82842708]]> : tensor<2x4xf32>
// R1:         qopt.linear %{{.*}}, %[[D]] {qopt.layer = 0 : i64, qopt.role = "down"}
// R1:         %[[C:.*]] = arith.constant dense<{{\[}}[2.12132025, -0.707106769], [4.94974756, -0.707106769], [7.7781744, -0.707106769]]> : tensor<3x2xf32>
// R1:         qopt.linear %{{.*}}, %[[C]] {qopt.role = "classifier"}
// R1-NOT:     qopt.hadamard
//
// Folding R2 -- v_proj's columns per head (identity -> H2 / sqrt(2)) and o_proj's row
// segments per head ([1, 2] -> [3, -1] / sqrt(2)); nothing else changes.
// R2-LABEL: func.func @model
// R2:         %[[V:.*]] = arith.constant dense<{{\[}}[0.707106769, 0.707106769], [0.707106769, -0.707106769]]> : tensor<2x2xf32>
// R2:         qopt.linear %{{.*}}, %[[V]] {qopt.layer = 0 : i64, qopt.role = "v"}
// R2:         %[[O:.*]] = arith.constant dense<{{\[}}[2.12132025, -0.707106769], [4.94974756, -0.707106769]]> : tensor<2x2xf32>
// R2:         qopt.linear %{{.*}}, %[[O]] {qopt.layer = 0 : i64, qopt.role = "o"}
// R2:         arith.constant dense<{{\[}}[1.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]]> : tensor<2x4xf32>
// R2-NOT:     qopt.hadamard
//
// Folding R3 -- online Hadamards on the queries and keys after RoPE, per head.
// R3-LABEL: func.func @model
// R3:         %[[QR:.*]] = qopt.rope
// R3:         %[[KR:.*]] = qopt.rope
// R3:         %[[QH:.*]] = qopt.hadamard %[[QR]] {size = 2 : i64} : tensor<?x2xf32>
// R3:         %[[KH:.*]] = qopt.hadamard %[[KR]] {size = 2 : i64} : tensor<?x2xf32>
// R3:         qopt.attention %[[QH]], %[[KH]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}
// R3-NOT:     0.707106769
//
// Folding R4 -- an online H4 on down_proj's input; its inverse folded into the rows
// of down_proj: [1, 0, 0, 0] -> [0.5, 0.5, 0.5, 0.5], [1, 2, 3, 4] ->
// [5, -1, -2, 0].
// R4-LABEL: func.func @model
// R4:         %[[S:.*]] = qopt.swiglu
// R4:         %[[D:.*]] = arith.constant dense<{{\[}}[5.000000e-01, 5.000000e-01, 5.000000e-01, 5.000000e-01], [5.000000e+00, -1.000000e+00, -2.000000e+00, 0.000000e+00]]> : tensor<2x4xf32>
// R4:         %[[H:.*]] = qopt.hadamard %[[S]] {size = 4 : i64} : tensor<?x4xf32>
// R4:         qopt.linear %[[H]], %[[D]] {qopt.layer = 0 : i64, qopt.role = "down"}
//
// All four: v gets R1 on its rows and R2 on its columns, which cancel here
// (H2 H2 / 2 = I); o gets R1 on its columns and R2 on its rows.
// ALL-LABEL: func.func @model
// ALL:         %[[V:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00]]> : tensor<2x2xf32>
// ALL:         qopt.linear %{{.*}}, %[[V]] {qopt.layer = 0 : i64, qopt.role = "v"}
// ALL:         qopt.hadamard
// ALL:         qopt.hadamard
// ALL:         %[[O:.*]] = arith.constant dense<{{\[}}[5.000000e+00, -1.000000e+00], [-2.000000e+00, 0.000000e+00]]> : tensor<2x2xf32>
// ALL:         qopt.linear %{{.*}}, %[[O]] {qopt.layer = 0 : i64, qopt.role = "o"}
// ALL:         %[[D:.*]] = arith.constant dense<{{\[}}[3.8890872, -0.353553385, -1.06066012, 0.353553385], [-3.18198061, 1.06066012, 1.76776695, 0.353553385]]> : tensor<2x4xf32>
// ALL:         qopt.hadamard %{{.*}} {size = 4 : i64}
// ALL:         qopt.linear %{{.*}}, %[[D]] {qopt.layer = 0 : i64, qopt.role = "down"}
//
// Random rotations fold into weights only (no online op). The seeded
// generator is qopt's own (splitmix64, Box-Muller), so a seed gives the same
// matrix everywhere: here Q1 = [[0.9603, -0.2790], [-0.2790, -0.9603]]
// (orthogonal: the table's rows keep their norms, |[1, 2]|^2 = 5 =
// 0.4024^2 + 2.1996^2), and another seed gives another matrix.
// RANDOM-LABEL: func.func @model
// RANDOM:         arith.constant dense<{{\[}}[0.402375281, -2.19956684], [1.76505232, -4.67809677], [3.12772942, -7.1566267]]> : tensor<3x2xf32>
// RANDOM:         arith.constant dense<{{\[}}[0.960301756, -0.278963238], [-0.278963238, -0.960301756]]> : tensor<2x2xf32>
// RANDOM-NOT:     qopt.hadamard
// SEED8-LABEL: func.func @model
// SEED8-NOT:     0.402375281
// SEED8:         qopt.embedding

func.func @model(%tok: tensor<?xi32>, %pos: index, %kc: memref<1x?x2xf32>, %vc: memref<1x?x2xf32>) -> tensor<?x3xf32> {
  %table = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %x = qopt.embedding %table, %tok {qopt.role = "embedding"} : tensor<3x2xf32>, tensor<?xi32> -> tensor<?x2xf32>
  %one = arith.constant dense<1.0> : tensor<2xf32>
  %n = qopt.rms_norm %x, %one {epsilon = 1.0e-05 : f32} : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
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
