// RUN: qopt-opt %s --qopt-lower-quantized-types -split-input-file -verify-diagnostics

// Slicing a nested slice again rounds twice; reading planes cannot do that.
func.func @nested_slice_of_slice(%q: !qopt.qtensor<32x64xf32, bits = 8, group = 32, asym, layout = nested>) -> !qopt.qtensor<32x64xf32, bits = 2, parent = 8, group = 32, asym, layout = nested> {
  %q4 = qopt.slice %q to 4 : !qopt.qtensor<32x64xf32, bits = 8, group = 32, asym, layout = nested>
  // expected-error@+1 {{slicing a nested slice again is not supported}}
  %q2 = qopt.slice %q4 to 2 : !qopt.qtensor<32x64xf32, bits = 4, parent = 8, group = 32, asym, layout = nested>
  return %q2 : !qopt.qtensor<32x64xf32, bits = 2, parent = 8, group = 32, asym, layout = nested>
}

// -----

// Run-time quantization packs rows: their length must be known.
func.func @quantize_dynamic_row(%w: tensor<4x?xf32>) -> !qopt.qtensor<4x?xf32, bits = 4, per_channel, asym> {
  // expected-error@+1 {{run-time quantization needs a static last dimension}}
  %q = qopt.quantize %w : tensor<4x?xf32> -> !qopt.qtensor<4x?xf32, bits = 4, per_channel, asym>
  return %q : !qopt.qtensor<4x?xf32, bits = 4, per_channel, asym>
}

// -----

// Sub-byte rows of unknown length cannot be laid out.
func.func @pack_dynamic_row(%c: tensor<4x?xi8>, %s: tensor<4x1xf32>) -> !qopt.qtensor<4x?xf32, bits = 4, per_channel, sym> {
  // expected-error@+1 {{codes of 4 bits in rows of dynamic length have no storage form}}
  %q = qopt.pack %c, %s : tensor<4x?xi8>, tensor<4x1xf32> -> !qopt.qtensor<4x?xf32, bits = 4, per_channel, sym>
  return %q : !qopt.qtensor<4x?xf32, bits = 4, per_channel, sym>
}
