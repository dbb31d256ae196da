// RUN: qopt-opt %s -split-input-file -qopt-fuse-norms -verify-diagnostics | FileCheck %s

// A norm read by something other than a linear's input is left as it is,
// with a warning; the IR stays valid and exact.
// CHECK-LABEL: func.func @returned
// CHECK:         %[[G:.*]] = arith.constant dense<[2.000000e+00, 5.000000e-01]>
// CHECK:         qopt.rms_norm %{{.*}}, %[[G]]
func.func @returned(%x: tensor<?x2xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>) {
  %g = arith.constant dense<[2.0, 0.5]> : tensor<2xf32>
  // expected-warning @+1 {{qopt-fuse-norms: not fused: its output is read by func.return, not only as the input of qopt.linear ops}}
  %n = qopt.rms_norm %x, %g {epsilon = 1.0e-05 : f32} : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
  %w = arith.constant dense<1.0> : tensor<2x2xf32>
  %y = qopt.linear %n, %w : tensor<?x2xf32>, tensor<2x2xf32> -> tensor<?x2xf32>
  return %n, %y : tensor<?x2xf32>, tensor<?x2xf32>
}

// -----

// A linear whose weight is not known at compile time (a quantized argument).
// CHECK-LABEL: func.func @quantized
// CHECK:         qopt.rms_norm %{{.*}}, %{{.*}} {epsilon
func.func @quantized(%x: tensor<?x32xf32>, %q: !qopt.qtensor<2x32xf32, bits = 8, group = 32, asym>) -> tensor<?x2xf32> {
  %g = arith.constant dense<2.0> : tensor<32xf32>
  // expected-warning @+1 {{a linear reading it has a weight that is neither a static float constant nor a quantized weight built from constants}}
  %n = qopt.rms_norm %x, %g {epsilon = 1.0e-05 : f32} : tensor<?x32xf32>, tensor<32xf32> -> tensor<?x32xf32>
  %w = qopt.dequantize %q : !qopt.qtensor<2x32xf32, bits = 8, group = 32, asym> -> tensor<2x32xf32>
  %y = qopt.linear %n, %w : tensor<?x32xf32>, tensor<2x32xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// A scale that is not a constant.
func.func @dynamic_scale(%x: tensor<?x2xf32>, %g: tensor<2xf32>) -> tensor<?x2xf32> {
  // expected-warning @+1 {{qopt-fuse-norms: not fused: the scale is not a constant}}
  %n = qopt.rms_norm %x, %g {epsilon = 1.0e-05 : f32} : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
  %w = arith.constant dense<1.0> : tensor<2x2xf32>
  %y = qopt.linear %n, %w : tensor<?x2xf32>, tensor<2x2xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
