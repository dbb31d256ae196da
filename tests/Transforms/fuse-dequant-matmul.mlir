// RUN: qopt-opt %s -qopt-fuse-dequant-matmul -split-input-file | FileCheck %s
// RUN: qopt-opt %s -qopt-fuse-dequant-matmul=remarks=true -split-input-file -verify-diagnostics -o /dev/null

// Each fused form, then each refusal. Refusals leave the IR unchanged and,
// with remarks=true, say why on the consumer (Debian's LLVM is a release
// build: -debug-only=qopt-fuse-dequant-matmul does not exist there).

//===----------------------------------------------------------------------===//
// Fused: qopt.linear
//===----------------------------------------------------------------------===//

// The dequantize, its only user fused, is erased; the pack stays as the
// qmatmul's operand.
// CHECK-LABEL: func.func @linear_pack
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[C:.*]]: tensor<32x64xi8>, %[[S:.*]]: tensor<32x2xf32>, %[[Z:.*]]: tensor<32x2xf32>)
// CHECK: %[[Q:.*]] = qopt.pack %[[C]], %[[S]], %[[Z]]
// CHECK-NOT: qopt.dequantize
// CHECK: %[[Y:.*]] = qopt.qmatmul %[[X]], %[[Q]] : tensor<?x64xf32>, !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<?x32xf32>
// CHECK-NOT: qopt.linear
// CHECK: return %[[Y]]
func.func @linear_pack(%x: tensor<?x64xf32>, %c: tensor<32x64xi8>, %s: tensor<32x2xf32>,
                       %z: tensor<32x2xf32>) -> tensor<?x32xf32> {
  %q = qopt.pack %c, %s, %z : tensor<32x64xi8>, tensor<32x2xf32>, tensor<32x2xf32>
      -> !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<32x64xf32>
  %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// A Matryoshka slice of a function argument, nested layout, f16 scales and
// a shorter last group (172 = 5 * 32 + 12).
// CHECK-LABEL: func.func @linear_slice
// CHECK-SAME: (%[[X:.*]]: tensor<1x172xf32>, %[[Q:.*]]: !qopt.qtensor
// CHECK: %[[S:.*]] = qopt.slice %[[Q]] to 4
// CHECK-NEXT: %[[Y:.*]] = qopt.qmatmul %[[X]], %[[S]] : tensor<1x172xf32>, !qopt.qtensor<16x172xf16, bits = 4, parent = 8, group = 32, asym, layout = nested> -> tensor<1x16xf32>
// CHECK-NEXT: return %[[Y]]
func.func @linear_slice(%x: tensor<1x172xf32>,
                        %q: !qopt.qtensor<16x172xf16, bits = 8, group = 32, asym, layout = nested>)
    -> tensor<1x16xf32> {
  %s = qopt.slice %q to 4 : !qopt.qtensor<16x172xf16, bits = 8, group = 32, asym, layout = nested>
  %w = qopt.dequantize %s : !qopt.qtensor<16x172xf16, bits = 4, parent = 8, group = 32, asym, layout = nested>
      -> tensor<16x172xf16>
  %y = qopt.linear %x, %w : tensor<1x172xf32>, tensor<16x172xf16> -> tensor<1x16xf32>
  return %y : tensor<1x16xf32>
}

//===----------------------------------------------------------------------===//
// Fused: qopt.embedding, and a table tied to the classifier
//===----------------------------------------------------------------------===//

// -----

// CHECK-LABEL: func.func @embedding
// CHECK-SAME: (%[[Q:.*]]: !qopt.qtensor<512x64xf32, bits = 8, per_channel, sym>, %[[T:.*]]: tensor<?xi32>)
// CHECK-NEXT: %[[E:.*]] = qopt.embedding %[[Q]], %[[T]] : !qopt.qtensor<512x64xf32, bits = 8, per_channel, sym>, tensor<?xi32> -> tensor<?x64xf32>
// CHECK-NEXT: return %[[E]]
func.func @embedding(%q: !qopt.qtensor<512x64xf32, bits = 8, per_channel, sym>,
                     %tokens: tensor<?xi32>) -> tensor<?x64xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<512x64xf32, bits = 8, per_channel, sym> -> tensor<512x64xf32>
  %e = qopt.embedding %w, %tokens : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  return %e : tensor<?x64xf32>
}

// -----

// Tied embeddings: the table and the classifier share one dequantize. Both
// users fuse, so no second dequantization is needed and it disappears.
// CHECK-LABEL: func.func @tied_embedding
// CHECK-SAME: (%[[Q:.*]]: !qopt.qtensor<{{.*}}>, %[[T:.*]]: tensor<?xi32>)
// CHECK-NOT: qopt.dequantize
// CHECK: %[[E:.*]] = qopt.embedding %[[Q]], %[[T]]
// CHECK: %[[L:.*]] = qopt.qmatmul %[[E]], %[[Q]]
// CHECK: return %[[L]]
func.func @tied_embedding(%q: !qopt.qtensor<512x64xbf16, bits = 4, group = 32, sym>,
                          %tokens: tensor<?xi32>) -> tensor<?x512xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<512x64xbf16, bits = 4, group = 32, sym> -> tensor<512x64xbf16>
  %e = qopt.embedding %w, %tokens : tensor<512x64xbf16>, tensor<?xi32> -> tensor<?x64xf32>
  %l = qopt.linear %e, %w : tensor<?x64xf32>, tensor<512x64xbf16> -> tensor<?x512xf32>
  return %l : tensor<?x512xf32>
}

//===----------------------------------------------------------------------===//
// Fused: linalg.matmul
//===----------------------------------------------------------------------===//

// -----

// matmul(x, transpose(dequantize(q))) with a zero-filled init: the
// transpose, fill and empty tensors are erased with the dequantize.
// CHECK-LABEL: func.func @matmul_transpose
// CHECK-SAME: (%[[X:.*]]: tensor<4x64xf32>, %[[Q:.*]]: !qopt.qtensor
// CHECK-NEXT: %[[Y:.*]] = qopt.qmatmul %[[X]], %[[Q]] : tensor<4x64xf32>, !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<4x32xf32>
// CHECK-NEXT: return %[[Y]]
func.func @matmul_transpose(%x: tensor<4x64xf32>,
                            %q: !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>) -> tensor<4x32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<32x64xf32>
  %e = tensor.empty() : tensor<64x32xf32>
  %t = linalg.transpose ins(%w : tensor<32x64xf32>) outs(%e : tensor<64x32xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %i = tensor.empty() : tensor<4x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%i : tensor<4x32xf32>) -> tensor<4x32xf32>
  %y = linalg.matmul ins(%x, %t : tensor<4x64xf32>, tensor<64x32xf32>) outs(%f : tensor<4x32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// The transposed-B indexing map reads the [N, K] weight directly; the init
// is a zero constant. f16 scales: linalg widens the f16 weight to f32 as
// qmatmul does.
// CHECK-LABEL: func.func @matmul_transposed_map
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[Q:.*]]: !qopt.qtensor
// CHECK-NEXT: %[[Y:.*]] = qopt.qmatmul %[[X]], %[[Q]] : tensor<?x64xf32>, !qopt.qtensor<32x64xf16, bits = 3, per_tensor, sym> -> tensor<?x32xf32>
// CHECK-NEXT: return %[[Y]]
func.func @matmul_transposed_map(%x: tensor<?x64xf32>,
                                 %q: !qopt.qtensor<32x64xf16, bits = 3, per_tensor, sym>) -> tensor<?x32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf16, bits = 3, per_tensor, sym> -> tensor<32x64xf16>
  %c0 = arith.constant 0 : index
  %t = tensor.dim %x, %c0 : tensor<?x64xf32>
  %zero = arith.constant 0.0 : f32
  %i = tensor.empty(%t) : tensor<?x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%i : tensor<?x32xf32>) -> tensor<?x32xf32>
  %y = linalg.matmul
      indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                       affine_map<(m, n, k) -> (n, k)>,
                       affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<?x64xf32>, tensor<32x64xf16>) outs(%f : tensor<?x32xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Two matmuls share the transpose: both fuse.
// CHECK-LABEL: func.func @matmul_shared_transpose
// CHECK-NOT: linalg.
// CHECK: qopt.qmatmul
// CHECK: qopt.qmatmul
// CHECK-NOT: qopt.dequantize
func.func @matmul_shared_transpose(%x: tensor<4x64xf32>, %x2: tensor<4x64xf32>,
                                   %q: !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>)
    -> (tensor<4x32xf32>, tensor<4x32xf32>) {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<32x64xf32>
  %e = tensor.empty() : tensor<64x32xf32>
  %t = linalg.transpose ins(%w : tensor<32x64xf32>) outs(%e : tensor<64x32xf32>) permutation = [1, 0]
  %zero = arith.constant dense<0.0> : tensor<4x32xf32>
  %y = linalg.matmul ins(%x, %t : tensor<4x64xf32>, tensor<64x32xf32>) outs(%zero : tensor<4x32xf32>) -> tensor<4x32xf32>
  %y2 = linalg.matmul ins(%x2, %t : tensor<4x64xf32>, tensor<64x32xf32>) outs(%zero : tensor<4x32xf32>) -> tensor<4x32xf32>
  return %y, %y2 : tensor<4x32xf32>, tensor<4x32xf32>
}

// -----

// Decode: a 1-D activation given a unit token dimension by a
// tensor.expand_shape, and the unit dimension dropped from the result. The
// reshapes stay (they only add/remove unit dimensions); the product fuses.
// CHECK-LABEL: func.func @matmul_unit_activation
// CHECK-SAME: (%[[X:.*]]: tensor<64xf32>, %[[Q:.*]]: !qopt.qtensor
// CHECK: %[[X2:.*]] = tensor.expand_shape %[[X]] {{\[}}[0, 1]] output_shape [1, 64] : tensor<64xf32> into tensor<1x64xf32>
// CHECK: %[[Y:.*]] = qopt.qmatmul %[[X2]], %[[Q]] : tensor<1x64xf32>, !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<1x32xf32>
// CHECK: %[[R:.*]] = tensor.collapse_shape %[[Y]] {{\[}}[0, 1]] : tensor<1x32xf32> into tensor<32xf32>
// CHECK: return %[[R]]
func.func @matmul_unit_activation(%x: tensor<64xf32>,
                                  %q: !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>) -> tensor<32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<32x64xf32>
  %x2 = tensor.expand_shape %x [[0, 1]] output_shape [1, 64] : tensor<64xf32> into tensor<1x64xf32>
  %zero = arith.constant dense<0.0> : tensor<1x32xf32>
  %y = linalg.matmul
      indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                       affine_map<(m, n, k) -> (n, k)>,
                       affine_map<(m, n, k) -> (m, n)>]
      ins(%x2, %w : tensor<1x64xf32>, tensor<32x64xf32>) outs(%zero : tensor<1x32xf32>) -> tensor<1x32xf32>
  %r = tensor.collapse_shape %y [[0, 1]] : tensor<1x32xf32> into tensor<32xf32>
  return %r : tensor<32xf32>
}

//===----------------------------------------------------------------------===//
// Fused: linalg.batch_matmul with one weight shared by every batch
//===----------------------------------------------------------------------===//

// -----

// linalg.broadcast of transpose(dequantize(q)) along the batch dimension:
// the batches become tokens of one qmatmul.
// CHECK-LABEL: func.func @batch_matmul_broadcast
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x64xf32>, %[[Q:.*]]: !qopt.qtensor
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0, 1], [2]] : tensor<2x4x64xf32> into tensor<8x64xf32>
// CHECK: %[[Y:.*]] = qopt.qmatmul %[[FLAT]], %[[Q]] : tensor<8x64xf32>, !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<8x32xf32>
// CHECK: %[[R:.*]] = tensor.expand_shape %[[Y]] {{\[}}[0, 1], [2]] output_shape [2, 4, 32] : tensor<8x32xf32> into tensor<2x4x32xf32>
// CHECK-NOT: linalg.
// CHECK: return %[[R]]
func.func @batch_matmul_broadcast(%x: tensor<2x4x64xf32>,
                                  %q: !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>) -> tensor<2x4x32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<32x64xf32>
  %e = tensor.empty() : tensor<64x32xf32>
  %t = linalg.transpose ins(%w : tensor<32x64xf32>) outs(%e : tensor<64x32xf32>) permutation = [1, 0]
  %e3 = tensor.empty() : tensor<2x64x32xf32>
  %b = linalg.broadcast ins(%t : tensor<64x32xf32>) outs(%e3 : tensor<2x64x32xf32>) dimensions = [0]
  %zero = arith.constant 0.0 : f32
  %i = tensor.empty() : tensor<2x4x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%i : tensor<2x4x32xf32>) -> tensor<2x4x32xf32>
  %y = linalg.batch_matmul ins(%x, %b : tensor<2x4x64xf32>, tensor<2x64x32xf32>) outs(%f : tensor<2x4x32xf32>) -> tensor<2x4x32xf32>
  return %y : tensor<2x4x32xf32>
}

// -----

// The transposed weight broadcast by the indexing map ((b, m, n, k) -> (k,
// n); linalg accepts no other 2-D map for B), on an activation that only
// gained a unit batch dimension, with the unit dimension removed again from
// the result: the collapse of the activation's expand and the collapse of
// the result's expand fold, leaving one qmatmul on the 2-D tensors.
// CHECK-LABEL: func.func @batch_matmul_map_unit_batch
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[Q:.*]]: !qopt.qtensor
// CHECK-NOT: tensor.
// CHECK: %[[Y:.*]] = qopt.qmatmul %[[X]], %[[Q]] : tensor<?x64xf32>, !qopt.qtensor<32x64xf32, bits = 8, group = 64, asym> -> tensor<?x32xf32>
// CHECK-NOT: tensor.
// CHECK: return %[[Y]]
func.func @batch_matmul_map_unit_batch(%x: tensor<?x64xf32>,
                                       %q: !qopt.qtensor<32x64xf32, bits = 8, group = 64, asym>) -> tensor<?x32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf32, bits = 8, group = 64, asym> -> tensor<32x64xf32>
  %e = tensor.empty() : tensor<64x32xf32>
  %wt = linalg.transpose ins(%w : tensor<32x64xf32>) outs(%e : tensor<64x32xf32>) permutation = [1, 0]
  %c0 = arith.constant 0 : index
  %t = tensor.dim %x, %c0 : tensor<?x64xf32>
  %x3 = tensor.expand_shape %x [[0, 1], [2]] output_shape [1, %t, 64] : tensor<?x64xf32> into tensor<1x?x64xf32>
  %zero = arith.constant 0.0 : f32
  %i = tensor.empty(%t) : tensor<1x?x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%i : tensor<1x?x32xf32>) -> tensor<1x?x32xf32>
  %y = linalg.batch_matmul
      indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>,
                       affine_map<(b, m, n, k) -> (k, n)>,
                       affine_map<(b, m, n, k) -> (b, m, n)>]
      ins(%x3, %wt : tensor<1x?x64xf32>, tensor<64x32xf32>) outs(%f : tensor<1x?x32xf32>) -> tensor<1x?x32xf32>
  %y2 = tensor.collapse_shape %y [[0, 1], [2]] : tensor<1x?x32xf32> into tensor<?x32xf32>
  return %y2 : tensor<?x32xf32>
}

// -----

// A unit-batch tensor.expand_shape of the [N, K] weight, read through the
// transposed-B batch map ((b, m, n, k) -> (b, n, k)).
// CHECK-LABEL: func.func @batch_matmul_expanded_weight
// CHECK-SAME: (%[[X:.*]]: tensor<1x4x64xf32>, %[[Q:.*]]: !qopt.qtensor
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0, 1], [2]] : tensor<1x4x64xf32> into tensor<4x64xf32>
// CHECK: %[[Y:.*]] = qopt.qmatmul %[[FLAT]], %[[Q]]
// CHECK: tensor.expand_shape %[[Y]] {{\[}}[0, 1], [2]] output_shape [1, 4, 32] : tensor<4x32xf32> into tensor<1x4x32xf32>
// CHECK-NOT: qopt.dequantize
func.func @batch_matmul_expanded_weight(%x: tensor<1x4x64xf32>,
                                        %q: !qopt.qtensor<32x64xf32, bits = 2, per_channel, asym>) -> tensor<1x4x32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf32, bits = 2, per_channel, asym> -> tensor<32x64xf32>
  %w3 = tensor.expand_shape %w [[0, 1], [2]] output_shape [1, 32, 64] : tensor<32x64xf32> into tensor<1x32x64xf32>
  %zero = arith.constant dense<0.0> : tensor<1x4x32xf32>
  %y = linalg.batch_matmul
      indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>,
                       affine_map<(b, m, n, k) -> (b, n, k)>,
                       affine_map<(b, m, n, k) -> (b, m, n)>]
      ins(%x, %w3 : tensor<1x4x64xf32>, tensor<1x32x64xf32>) outs(%zero : tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
  return %y : tensor<1x4x32xf32>
}

//===----------------------------------------------------------------------===//
// Dead code
//===----------------------------------------------------------------------===//

// -----

// A dequantize of a pack that nothing reads any more is erased with the pack.
// CHECK-LABEL: func.func @dead_dequantize
// CHECK-NOT: qopt.
// CHECK: return
func.func @dead_dequantize(%c: tensor<32x64xi8>, %s: tensor<32x2xf32>) {
  %q = qopt.pack %c, %s : tensor<32x64xi8>, tensor<32x2xf32> -> !qopt.qtensor<32x64xf32, bits = 4, group = 32, sym>
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf32, bits = 4, group = 32, sym> -> tensor<32x64xf32>
  return
}

//===----------------------------------------------------------------------===//
// Refusals
//===----------------------------------------------------------------------===//

// -----

// The dequantized weight is also returned: fusing would dequantize twice.
// CHECK-LABEL: func.func @refuse_other_user
// CHECK: %[[W:.*]] = qopt.dequantize
// CHECK: qopt.linear %{{.*}}, %[[W]]
// CHECK-NOT: qopt.qmatmul
func.func @refuse_other_user(%x: tensor<?x64xf32>, %q: !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>)
    -> (tensor<?x32xf32>, tensor<32x64xf32>) {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<32x64xf32>
  // expected-remark@+1 {{not fused into qopt.qmatmul: the dequantized weight has another user that is not fused ('func.return'): fusing would dequantize the weight a second time}}
  %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  return %y, %w : tensor<?x32xf32>, tensor<32x64xf32>
}

// -----

// The transposed weight has another user (an elementwise op): same refusal.
// CHECK-LABEL: func.func @refuse_transpose_other_user
// CHECK: linalg.transpose
// CHECK: linalg.matmul
// CHECK-NOT: qopt.qmatmul
func.func @refuse_transpose_other_user(%x: tensor<4x64xf32>,
                                       %q: !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>)
    -> (tensor<4x32xf32>, tensor<64x32xf32>) {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<32x64xf32>
  %e = tensor.empty() : tensor<64x32xf32>
  %t = linalg.transpose ins(%w : tensor<32x64xf32>) outs(%e : tensor<64x32xf32>) permutation = [1, 0]
  %zero = arith.constant dense<0.0> : tensor<4x32xf32>
  // expected-remark@+1 {{not fused into qopt.qmatmul: the dequantized weight has another user that is not fused ('arith.addf')}}
  %y = linalg.matmul ins(%x, %t : tensor<4x64xf32>, tensor<64x32xf32>) outs(%zero : tensor<4x32xf32>) -> tensor<4x32xf32>
  %twice = arith.addf %t, %t : tensor<64x32xf32>
  return %y, %twice : tensor<4x32xf32>, tensor<64x32xf32>
}

// -----

// Grouped along the output dimension: the scale would change along a dot
// product.
// CHECK-LABEL: func.func @refuse_axis0
// CHECK: qopt.dequantize
// CHECK: qopt.linear
func.func @refuse_axis0(%x: tensor<?x64xf32>, %q: !qopt.qtensor<32x64xf32, bits = 4, group = 16, axis = 0, asym>)
    -> tensor<?x32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf32, bits = 4, group = 16, axis = 0, asym> -> tensor<32x64xf32>
  // expected-remark@+1 {{not fused into qopt.qmatmul: the quantized matrix is grouped along its first (output) dimension, axis = 0: qopt.qmatmul and quantized embedding tables need groups along the second (axis = 1)}}
  %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// The same for an embedding table quantized per column.
// CHECK-LABEL: func.func @refuse_embedding_axis0
// CHECK: %[[W:.*]] = qopt.dequantize
// CHECK: qopt.embedding %[[W]]
func.func @refuse_embedding_axis0(%q: !qopt.qtensor<512x64xf32, bits = 8, per_channel, axis = 0, asym>,
                                  %tokens: tensor<?xi32>) -> tensor<?x64xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<512x64xf32, bits = 8, per_channel, axis = 0, asym> -> tensor<512x64xf32>
  // expected-remark@+1 {{not fused into qopt.qmatmul: the quantized matrix is grouped along its first (output) dimension}}
  %e = qopt.embedding %w, %tokens : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  return %e : tensor<?x64xf32>
}

// -----

// CHECK-LABEL: func.func @refuse_dynamic_weight
// CHECK: qopt.linear
func.func @refuse_dynamic_weight(%x: tensor<?x64xf32>, %q: !qopt.qtensor<?x64xf32, bits = 4, group = 32, asym>)
    -> tensor<?x32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<?x64xf32, bits = 4, group = 32, asym> -> tensor<32x64xf32>
  // expected-remark@+1 {{not fused into qopt.qmatmul: the quantized weight has a dynamic shape: qopt.qmatmul needs a static [N, K]}}
  %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// CHECK-LABEL: func.func @refuse_f64_scales
// CHECK: linalg.matmul
func.func @refuse_f64_scales(%x: tensor<4x64xf32>, %q: !qopt.qtensor<32x64xf64, bits = 4, group = 32, asym>)
    -> tensor<4x32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf64, bits = 4, group = 32, asym> -> tensor<32x64xf64>
  %zero = arith.constant dense<0.0> : tensor<4x32xf32>
  // expected-remark@+1 {{not fused into qopt.qmatmul: the weight's expressed type f64 is not f32, f16 or bf16}}
  %y = linalg.matmul
      indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                       affine_map<(m, n, k) -> (n, k)>,
                       affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<4x64xf32>, tensor<32x64xf64>) outs(%zero : tensor<4x32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// qmatmul takes f32 activations.
// CHECK-LABEL: func.func @refuse_f16_activation
// CHECK: linalg.matmul
func.func @refuse_f16_activation(%x: tensor<4x64xf16>, %q: !qopt.qtensor<32x64xf16, bits = 4, group = 32, asym>)
    -> tensor<4x32xf16> {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf16, bits = 4, group = 32, asym> -> tensor<32x64xf16>
  %zero = arith.constant dense<0.0> : tensor<4x32xf16>
  // expected-remark@+1 {{not fused into qopt.qmatmul: qopt.qmatmul takes f32 activations and produces f32, got tensor<4x64xf16> -> tensor<4x32xf16>}}
  %y = linalg.matmul
      indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                       affine_map<(m, n, k) -> (n, k)>,
                       affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<4x64xf16>, tensor<32x64xf16>) outs(%zero : tensor<4x32xf16>) -> tensor<4x32xf16>
  return %y : tensor<4x32xf16>
}

// -----

// The matmul accumulates into a live tensor.
// CHECK-LABEL: func.func @refuse_accumulate
// CHECK: linalg.matmul
func.func @refuse_accumulate(%x: tensor<4x64xf32>, %acc: tensor<4x32xf32>,
                             %q: !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>) -> tensor<4x32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<32x64xf32>
  // expected-remark@+1 {{not fused into qopt.qmatmul: the init is not a zero tensor: the contraction accumulates into it, qopt.qmatmul does not}}
  %y = linalg.matmul
      indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                       affine_map<(m, n, k) -> (n, k)>,
                       affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<4x64xf32>, tensor<32x64xf32>) outs(%acc : tensor<4x32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// A [K, N] quantized weight used as is: qmatmul would need its transpose,
// and a quantized tensor cannot be transposed (its groups run along N).
// CHECK-LABEL: func.func @refuse_kn_weight
// CHECK: linalg.matmul
func.func @refuse_kn_weight(%x: tensor<4x64xf32>, %q: !qopt.qtensor<64x32xf32, bits = 4, group = 32, asym>)
    -> tensor<4x32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<64x32xf32, bits = 4, group = 32, asym> -> tensor<64x32xf32>
  %zero = arith.constant dense<0.0> : tensor<4x32xf32>
  // expected-remark@+1 {{not fused into qopt.qmatmul: the weight is used as [K, N] and is not a linalg.transpose (permutation [1, 0]) of a dequantized [N, K] weight: there is no transpose of a quantized tensor}}
  %y = linalg.matmul ins(%x, %w : tensor<4x64xf32>, tensor<64x32xf32>) outs(%zero : tensor<4x32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// A transposed activation is not a plain x * W^T.
// CHECK-LABEL: func.func @refuse_transposed_activation
// CHECK: linalg.matmul
func.func @refuse_transposed_activation(%xt: tensor<64x4xf32>, %q: !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>)
    -> tensor<4x32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym> -> tensor<32x64xf32>
  %zero = arith.constant dense<0.0> : tensor<4x32xf32>
  // expected-remark@+1 {{not fused into qopt.qmatmul: the activation or result indexing map is not that of a plain matmul}}
  %y = linalg.matmul
      indexing_maps = [affine_map<(m, n, k) -> (k, m)>,
                       affine_map<(m, n, k) -> (n, k)>,
                       affine_map<(m, n, k) -> (m, n)>]
      ins(%xt, %w : tensor<64x4xf32>, tensor<32x64xf32>) outs(%zero : tensor<4x32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// A vector weight broadcast over N by the map ((m, n, k) -> (k)) is not a
// quantized matrix.
// CHECK-LABEL: func.func @refuse_weight_map
// CHECK: linalg.matmul
func.func @refuse_weight_map(%x: tensor<4x64xf32>, %q: !qopt.qtensor<64xf32, bits = 4, per_tensor, sym>)
    -> tensor<4x32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<64xf32, bits = 4, per_tensor, sym> -> tensor<64xf32>
  %zero = arith.constant dense<0.0> : tensor<4x32xf32>
  // expected-remark@+1 {{not fused into qopt.qmatmul: the weight indexing map is neither [K, N] nor [N, K]}}
  %y = linalg.matmul
      indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                       affine_map<(m, n, k) -> (k)>,
                       affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<4x64xf32>, tensor<64xf32>) outs(%zero : tensor<4x32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// Each batch has its own weight: not one qmatmul.
// CHECK-LABEL: func.func @refuse_per_batch_weight
// CHECK: linalg.batch_matmul
func.func @refuse_per_batch_weight(%x: tensor<2x4x64xf32>, %q: !qopt.qtensor<2x32x64xf32, bits = 4, group = 32, asym>)
    -> tensor<2x4x32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<2x32x64xf32, bits = 4, group = 32, asym> -> tensor<2x32x64xf32>
  %zero = arith.constant dense<0.0> : tensor<2x4x32xf32>
  // expected-remark@+1 {{not fused into qopt.qmatmul: the batched weight is not one 2-D matrix broadcast to every batch}}
  %y = linalg.batch_matmul
      indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>,
                       affine_map<(b, m, n, k) -> (b, n, k)>,
                       affine_map<(b, m, n, k) -> (b, m, n)>]
      ins(%x, %w : tensor<2x4x64xf32>, tensor<2x32x64xf32>) outs(%zero : tensor<2x4x32xf32>) -> tensor<2x4x32xf32>
  return %y : tensor<2x4x32xf32>
}

// -----

// Without a dequantized weight there is nothing to fuse, and no remark.
// CHECK-LABEL: func.func @float_weight
// CHECK: qopt.linear
func.func @float_weight(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>) -> tensor<?x32xf32> {
  %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// The importer's tags on the linear carry over to the qmatmul (per-layer
// serving widths select weights by them).
// CHECK-LABEL: func.func @keeps_tags
// CHECK: qopt.qmatmul %{{.*}}, %{{.*}} {qopt.layer = 3 : i64, qopt.role = "down"}
func.func @keeps_tags(%x: tensor<?x64xf32>, %q: !qopt.qtensor<32x64xf32, bits = 4, group = 32, sym>) -> tensor<?x32xf32> {
  %w = qopt.dequantize %q : !qopt.qtensor<32x64xf32, bits = 4, group = 32, sym> -> tensor<32x64xf32>
  %y = qopt.linear %x, %w {qopt.layer = 3 : i64, qopt.role = "down"} : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
