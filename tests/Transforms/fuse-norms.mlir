// RUN: qopt-opt %s -qopt-fuse-norms | FileCheck %s
// RUN: qopt-opt %s -qopt-fuse-norms -qopt-fuse-norms | FileCheck %s

// Each norm's scale is multiplied into the columns of the linears reading
// it (W'[n, k] = W[n, k] * g[k]) and replaced by ones. The classifier shared
// the embedding table: it gets its own scaled copy, the embedding keeps the
// original, and the model is marked untied. Running the pass twice changes
// nothing more (the norms are weightless).
// CHECK:       module attributes {qopt.model = {dim = 2 : i64, tied_embeddings = false}}
// CHECK-LABEL: func.func @fuse
// CHECK:         %[[T:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>
// CHECK:         %[[X:.*]] = qopt.embedding %[[T]]
// CHECK:         %[[ONE:.*]] = arith.constant dense<1.000000e+00> : tensor<2xf32>
// CHECK:         %[[N:.*]] = qopt.rms_norm %[[X]], %[[ONE]]
// CHECK:         %[[W:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 5.000000e-01], [6.000000e+00, 2.000000e+00]]> : tensor<2x2xf32>
// CHECK:         qopt.linear %[[N]], %[[W]] {qopt.role = "q"}
// CHECK:         %[[WB:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 0.000000e+00], [0.000000e+00, 5.000000e-01]]> : tensor<2x2xbf16>
// CHECK:         qopt.linear %[[N]], %[[WB]] {qopt.role = "k"}
// CHECK:         %[[ONE2:.*]] = arith.constant dense<1.000000e+00> : tensor<2xf32>
// CHECK:         %[[N2:.*]] = qopt.rms_norm %{{.*}}, %[[ONE2]]
// CHECK:         %[[C:.*]] = arith.constant dense<{{\[}}[5.000000e-01, 4.000000e+00], [1.500000e+00, 8.000000e+00], [2.500000e+00, 1.200000e+01]]> : tensor<3x2xf32>
// CHECK:         qopt.linear %[[N2]], %[[C]] {qopt.role = "classifier"}
module attributes {qopt.model = {dim = 2 : i64, tied_embeddings = true}} {
func.func @fuse(%tok: tensor<?xi32>) -> (tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x3xf32>) {
  %table = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %x = qopt.embedding %table, %tok {qopt.role = "embedding"} : tensor<3x2xf32>, tensor<?xi32> -> tensor<?x2xf32>
  %g = arith.constant dense<[2.0, 0.5]> : tensor<2xf32>
  %n = qopt.rms_norm %x, %g {epsilon = 1.0e-05 : f32} : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
  %w = arith.constant dense<[[1.0, 1.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %q = qopt.linear %n, %w {qopt.role = "q"} : tensor<?x2xf32>, tensor<2x2xf32> -> tensor<?x2xf32>
  %wb = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xbf16>
  %k = qopt.linear %n, %wb {qopt.role = "k"} : tensor<?x2xf32>, tensor<2x2xbf16> -> tensor<?x2xf32>
  %g2 = arith.constant dense<[0.5, 2.0]> : tensor<2xf32>
  %n2 = qopt.rms_norm %x, %g2 {epsilon = 1.0e-05 : f32} : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
  %c = qopt.linear %n2, %table {qopt.role = "classifier"} : tensor<?x2xf32>, tensor<3x2xf32> -> tensor<?x3xf32>
  return %q, %k, %c : tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x3xf32>
}
}
