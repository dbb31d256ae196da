// RUN: not qopt-opt %s -qopt-fold-rotations="kind=givens" 2>&1 | FileCheck %s --check-prefix=KIND
// RUN: not qopt-opt %s -qopt-fold-rotations="rotations=r1,r5" 2>&1 | FileCheck %s --check-prefix=ROT
// RUN: qopt-opt %s -split-input-file -qopt-fold-rotations="rotations=r1" -verify-diagnostics

// KIND: error: qopt-fold-rotations: unknown kind 'givens' (expected hadamard or random)
// ROT: error: qopt-fold-rotations: unknown rotation 'r5' in rotations (expected a comma list of r1, r2, r3, r4)

// Each case breaks the structure one rotation needs: the error names the op
// and the rule, and the pass changes nothing (fold-rotations-partial.mlir:
// the same as warnings with allow-partial=true).

// R1 needs weightless norms.
func.func @scaled_norm(%tok: tensor<?xi32>) -> tensor<?x2xf32> {
  %table = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %x = qopt.embedding %table, %tok : tensor<2x2xf32>, tensor<?xi32> -> tensor<?x2xf32>
  %g = arith.constant dense<[2.0, 0.5]> : tensor<2xf32>
  // expected-error @+1 {{qopt-fold-rotations: r1: the RMSNorm has a scale: R1 commutes with weightless norms only (run qopt-fuse-norms first)}}
  %n = qopt.rms_norm %x, %g {epsilon = 1.0e-05 : f32} : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
  %y = qopt.linear %n, %table : tensor<?x2xf32>, tensor<2x2xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// The residual stream may only be read by residual adds and norms.
func.func @residual_returned(%tok: tensor<?xi32>) -> tensor<?x2xf32> {
  %table = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %x = qopt.embedding %table, %tok : tensor<2x2xf32>, tensor<?xi32> -> tensor<?x2xf32>
  // expected-error @+1 {{qopt-fold-rotations: r1: reads the residual stream; only residual adds and RMSNorms may}}
  return %x : tensor<?x2xf32>
}

// -----

// A residual add of something that is not a linear's output.
func.func @residual_add(%tok: tensor<?xi32>, %bias: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %table = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %x = qopt.embedding %table, %tok : tensor<2x2xf32>, tensor<?xi32> -> tensor<?x2xf32>
  // expected-error @+1 {{qopt-fold-rotations: r1: a residual add whose other operand is not the output of a qopt.linear used only there}}
  %h = arith.addf %x, %bias : tensor<?x2xf32>
  %one = arith.constant dense<1.0> : tensor<2xf32>
  %n = qopt.rms_norm %h, %one {epsilon = 1.0e-05 : f32} : tensor<?x2xf32>, tensor<2xf32> -> tensor<?x2xf32>
  %y = qopt.linear %n, %table : tensor<?x2xf32>, tensor<2x2xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// A weight that is not known at compile time (a quantized argument).
func.func @quantized(%tok: tensor<?xi32>, %q: !qopt.qtensor<2x32xf32, bits = 8, group = 32, asym>) -> tensor<?x2xf32> {
  %table = arith.constant dense<0.5> : tensor<4x32xf32>
  %x = qopt.embedding %table, %tok : tensor<4x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
  %one = arith.constant dense<1.0> : tensor<32xf32>
  %n = qopt.rms_norm %x, %one {epsilon = 1.0e-05 : f32} : tensor<?x32xf32>, tensor<32xf32> -> tensor<?x32xf32>
  %w = qopt.dequantize %q : !qopt.qtensor<2x32xf32, bits = 8, group = 32, asym> -> tensor<2x32xf32>
  // expected-error @+1 {{qopt-fold-rotations: r1: the weight of qopt.linear is neither a static 2-D f32/f16/bf16 constant nor a quantized weight built from constants}}
  %y = qopt.linear %n, %w : tensor<?x32xf32>, tensor<2x32xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// A hidden size with no Hadamard matrix (6 = 3 * 2): kind=random would do.
func.func @hidden_size(%tok: tensor<?xi32>) -> tensor<?x4xf32> {
  %table = arith.constant dense<0.5> : tensor<4x6xf32>
  // expected-error @+1 {{qopt-fold-rotations: r1: qopt cannot construct a Hadamard matrix of order 6 (hidden size); supported: K * 2^m for K = 1 or a Paley / Williamson order, see docs/hadamard.md}}
  %x = qopt.embedding %table, %tok : tensor<4x6xf32>, tensor<?xi32> -> tensor<?x6xf32>
  %one = arith.constant dense<1.0> : tensor<6xf32>
  %n = qopt.rms_norm %x, %one {epsilon = 1.0e-05 : f32} : tensor<?x6xf32>, tensor<6xf32> -> tensor<?x6xf32>
  %y = qopt.linear %n, %table : tensor<?x6xf32>, tensor<4x6xf32> -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

