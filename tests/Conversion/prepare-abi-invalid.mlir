// RUN: qopt-opt %s --qopt-prepare-abi -split-input-file -verify-diagnostics

// A width slot must be an entry of the module's width table, which the
// runtime sizes the table argument from.
module attributes {qopt.width_table = [{name = "w", parent_bits = 8 : i64}]} {
  func.func @decode(%x: tensor<4xf32>) -> tensor<4xf32> {
    // expected-error@+1 {{qopt-prepare-abi: width slot 1 is not an entry of the module's qopt.width_table (1 entries)}}
    %r = qopt.served_width 1
    return %x : tensor<4xf32>
  }
}

// -----

func.func @no_table(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{qopt-prepare-abi: width slot 0 is not an entry of the module's qopt.width_table (0 entries)}}
  %r = qopt.served_width 0
  return %x : tensor<4xf32>
}

// -----

func.func @results_ranked(%x: tensor<*xf32>) -> tensor<*xf32> {
  // expected-error@-1 {{qopt-prepare-abi: results must be ranked tensors, got 'tensor<*xf32>'}}
  return %x : tensor<*xf32>
}
