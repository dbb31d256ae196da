// RUN: qopt-opt %s -split-input-file --convert-qopt-to-loops -verify-diagnostics

// Every error of convert-qopt-to-loops.

// An op on tensors the pass has no lowering for is reported by name.
func.func @unsupported_op(%x: tensor<4x8xf32>) -> tensor<2x8xf32> {
  // expected-error@+1 {{convert-qopt-to-loops: cannot lower 'tensor.extract_slice'}}
  %y = tensor.extract_slice %x[0, 0] [2, 8] [1, 1] : tensor<4x8xf32> to tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// Scalar ops are kept, but not ones with regions.
func.func @op_with_region(%x: tensor<4x8xf32>, %c: i1) -> tensor<4x8xf32> {
  // expected-error@+1 {{convert-qopt-to-loops: cannot lower 'scf.if'}}
  %i = scf.if %c -> (index) {
    %a = arith.constant 0 : index
    scf.yield %a : index
  } else {
    %b = arith.constant 1 : index
    scf.yield %b : index
  }
  return %x : tensor<4x8xf32>
}

// -----

// A call producing a tensor has no buffer to lower to.
func.func private @callee(tensor<4xf32>) -> tensor<4xf32>
func.func @call(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{convert-qopt-to-loops: cannot lower 'func.call'}}
  %y = func.call @callee(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// expected-error@+1 {{convert-qopt-to-loops: unranked tensor arguments are not supported}}
func.func @unranked_arg(%x: tensor<*xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  return %y : tensor<4xf32>
}

// -----

// expected-error@+1 {{convert-qopt-to-loops: results must be ranked tensors}}
func.func @scalar_result(%x: tensor<4xf32>, %i: index) -> index {
  return %i : index
}

// -----

// expected-error@+1 {{convert-qopt-to-loops: only straight-line functions are supported}}
func.func @multi_block(%x: tensor<4xf32>) -> tensor<4xf32> {
  cf.br ^bb1
^bb1:
  return %x : tensor<4xf32>
}

// -----

func.func @f16_elementwise(%x: tensor<4xf16>) -> tensor<4xf16> {
  // expected-error@+1 {{convert-qopt-to-loops: 'arith.addf' is supported on f32 tensors of one type only}}
  %y = arith.addf %x, %x : tensor<4xf16>
  return %y : tensor<4xf16>
}

// -----

func.func @sparse_constant(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{convert-qopt-to-loops: unsupported constant value}}
  %c = arith.constant sparse<[[1]], [2.0]> : tensor<4xf32>
  %y = arith.mulf %x, %c : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// expected-error@+1 {{convert-qopt-to-loops: 'tensor<2x!qopt.qtensor<4xf32, bits = 8, per_tensor, sym>>' has no buffer form}}
func.func @no_buffer_form(%x: tensor<2x!qopt.qtensor<4xf32, bits = 8, per_tensor, sym>>) -> tensor<4xf32> {
  %c = arith.constant dense<1.0> : tensor<4xf32>
  return %c : tensor<4xf32>
}

// -----

func.func @dequantize_argument(%q: !qopt.qtensor<4xf32, bits = 8, per_tensor, sym>) -> tensor<4xf32> {
  // expected-error@+1 {{convert-qopt-to-loops: 'qopt.dequantize' of a value not built by qopt.pack in this function}}
  %w = qopt.dequantize %q : !qopt.qtensor<4xf32, bits = 8, per_tensor, sym> -> tensor<4xf32>
  return %w : tensor<4xf32>
}

// -----

// RUN: not qopt-opt %s --convert-qopt-to-loops=vector-width=6 2>&1 | FileCheck %s --check-prefix=WIDTH
// WIDTH: error: convert-qopt-to-loops: vector-width must be a power of two, got 6
func.func @any_function() {
  return
}
