// RUN: qopt-opt %s -qopt-instrument-calibration | FileCheck %s
// RUN: qopt-opt %s -qopt-instrument-calibration=layer=1 | FileCheck %s --check-prefix=ONE

// One observation per distinct linear input, numbered by (layer, roles):
// q/k/v share the normed input, o has its own, gate/up share theirs; the
// same sites in @decode reuse the numbers of @prefill; the classifier
// (no qopt.layer) is layer -1. Untagged linears are not observed.
// CHECK: module attributes {qopt.observe_sites = [
// CHECK-SAME: {cols = 4 : i64, layer = 0 : i64, roles = ["k", "q", "v"], site = 0 : i64},
// CHECK-SAME: {cols = 4 : i64, layer = 0 : i64, roles = ["o"], site = 1 : i64},
// CHECK-SAME: {cols = 4 : i64, layer = 1 : i64, roles = ["gate", "up"], site = 2 : i64},
// CHECK-SAME: {cols = 6 : i64, layer = 1 : i64, roles = ["down"], site = 3 : i64},
// CHECK-SAME: {cols = 4 : i64, layer = -1 : i64, roles = ["classifier"], site = 4 : i64}]}
// CHECK-LABEL: func.func @prefill
// CHECK:       qopt.observe %arg0 {site = 0 : i64} : tensor<?x4xf32>
// CHECK-NEXT:  qopt.linear %arg0, %{{.*}} {qopt.layer = 0 : i64, qopt.role = "q"}
// CHECK-NOT:   qopt.observe %arg0
// CHECK:       qopt.observe %[[A:.*]] {site = 1 : i64}
// CHECK-NEXT:  qopt.linear %[[A]], %{{.*}} {qopt.layer = 0 : i64, qopt.role = "o"}
// CHECK:       qopt.observe %{{.*}} {site = 2 : i64}
// CHECK:       qopt.observe %{{.*}} {site = 3 : i64} : tensor<?x6xf32>
// CHECK:       qopt.observe %{{.*}} {site = 4 : i64}
// CHECK-NEXT:  qopt.linear {{.*}}qopt.role = "classifier"
// CHECK-NOT:   qopt.observe
// CHECK-LABEL: func.func @decode
// CHECK:       qopt.observe %arg0 {site = 0 : i64}
// CHECK-NOT:   qopt.observe

// ONE: module attributes {qopt.observe_sites = [{cols = 4 : i64, layer = 1 : i64, roles = ["gate", "up"], site = 0 : i64}, {cols = 6 : i64, layer = 1 : i64, roles = ["down"], site = 1 : i64}]}
module {
  func.func @prefill(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
    %w4 = arith.constant dense<1.0> : tensor<4x4xf32>
    %w2 = arith.constant dense<1.0> : tensor<2x4xf32>
    %w6 = arith.constant dense<1.0> : tensor<6x4xf32>
    %wd = arith.constant dense<1.0> : tensor<4x6xf32>
    %q = qopt.linear %x, %w4 {qopt.layer = 0 : i64, qopt.role = "q"} : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %k = qopt.linear %x, %w2 {qopt.layer = 0 : i64, qopt.role = "k"} : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x2xf32>
    %v = qopt.linear %x, %w2 {qopt.layer = 0 : i64, qopt.role = "v"} : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x2xf32>
    %o = qopt.linear %q, %w4 {qopt.layer = 0 : i64, qopt.role = "o"} : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %g = qopt.linear %o, %w6 {qopt.layer = 1 : i64, qopt.role = "gate"} : tensor<?x4xf32>, tensor<6x4xf32> -> tensor<?x6xf32>
    %u = qopt.linear %o, %w6 {qopt.layer = 1 : i64, qopt.role = "up"} : tensor<?x4xf32>, tensor<6x4xf32> -> tensor<?x6xf32>
    %s = qopt.swiglu %g, %u : tensor<?x6xf32>
    %d = qopt.linear %s, %wd {qopt.layer = 1 : i64, qopt.role = "down"} : tensor<?x6xf32>, tensor<4x6xf32> -> tensor<?x4xf32>
    %c = qopt.linear %d, %w4 {qopt.role = "classifier"} : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %untagged = qopt.linear %c, %w4 : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    return %untagged : tensor<?x4xf32>
  }
  func.func @decode(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
    %w4 = arith.constant dense<1.0> : tensor<4x4xf32>
    %w2 = arith.constant dense<1.0> : tensor<2x4xf32>
    %v = qopt.linear %x, %w2 {qopt.layer = 0 : i64, qopt.role = "v"} : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x2xf32>
    %k = qopt.linear %x, %w2 {qopt.layer = 0 : i64, qopt.role = "k"} : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x2xf32>
    %q = qopt.linear %x, %w4 {qopt.layer = 0 : i64, qopt.role = "q"} : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    return %k : tensor<?x2xf32>
  }
}
