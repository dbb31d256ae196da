// RUN: qopt-opt %s --qopt-lower-quantized-types | FileCheck %s

// Each unsliced nested weight a kernel reads gets a run-time width slot; the
// module attribute lists them with the reading op's tags (a weight that is
// a function argument has no resource name).
// CHECK: module attributes {qopt.width_table = [{layer = 3 : i64, name = "<value 0>", parent_bits = 8 : i64, role = "down"}, {name = "<value 1>", parent_bits = 8 : i64}]}

!d4 = !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>
!n8 = !qopt.qtensor<32x64xf32, bits = 8, group = 32, asym, layout = nested>
!n3 = !qopt.qtensor<32x64xf32, bits = 3, parent = 8, group = 32, asym, layout = nested>

// Codes already in storage form (4-bit rows: 32 bytes for 64 codes) are the
// codes part as is; qmatmul becomes a kernel on the three parts.
// CHECK-LABEL: func.func @pack_storage
// CHECK-SAME: %[[X:[^:]*]]: tensor<?x64xf32>, %[[C:[^:]*]]: tensor<32x32xi8>, %[[S:[^:]*]]: tensor<32x2xf32>, %[[Z:[^:]*]]: tensor<32x2xf32>
// CHECK: %[[E:.*]] = tensor.empty(%{{.*}}) : tensor<?x32xf32>
// CHECK: qopt.kernel_matmul ins(%[[X]] : tensor<?x64xf32>) weight(%[[C]], %[[S]], %[[Z]] : tensor<32x32xi8>, tensor<32x2xf32>, tensor<32x2xf32>) outs(%[[E]] : tensor<?x32xf32>) {weight_type = !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>}
// CHECK-NOT: qopt.qmatmul
func.func @pack_storage(%x: tensor<?x64xf32>, %c: tensor<32x32xi8>, %s: tensor<32x2xf32>, %z: tensor<32x2xf32>) -> tensor<?x32xf32> {
  %q = qopt.pack %c, %s, %z : tensor<32x32xi8>, tensor<32x2xf32>, tensor<32x2xf32> -> !d4
  %y = qopt.qmatmul %x, %q : tensor<?x64xf32>, !d4 -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// One code per element is repacked into the storage form at run time, and a
// qtensor result becomes three results.
// CHECK-LABEL: func.func @pack_unpacked
// CHECK-SAME: -> (tensor<32x32xi8>, tensor<32x2xf32>, tensor<32x2xf32>)
// CHECK: %[[R:.*]] = qopt.kernel_repack ins(%{{.*}} : tensor<32x64xi8>) outs(%{{.*}} : tensor<32x32xi8>) {{{.*}}source_unpacked}
// CHECK: return %[[R]], %{{.*}}, %{{.*}}
func.func @pack_unpacked(%c: tensor<32x64xi8>, %s: tensor<32x2xf32>, %z: tensor<32x2xf32>) -> !d4 {
  %q = qopt.pack %c, %s, %z : tensor<32x64xi8>, tensor<32x2xf32>, tensor<32x2xf32> -> !d4
  return %q : !d4
}

// An unsliced nested weight is served at a run-time width: slot 0 of the
// width table, whose module attribute records the reading op's tags.
// CHECK-LABEL: func.func @nested_runtime_width
// CHECK-SAME: tensor<8x32x8xi8>
// CHECK: %[[W:.*]] = qopt.served_width 0
// CHECK: qopt.kernel_matmul {{.*}} width(%[[W]])
func.func @nested_runtime_width(%x: tensor<?x64xf32>, %q: !n8) -> tensor<?x32xf32> {
  %y = qopt.qmatmul %x, %q {qopt.layer = 3 : i64, qopt.role = "down"} : tensor<?x64xf32>, !n8 -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// A static slice of a nested weight keeps the planes; the kernel's weight
// type says to read the top 4 of them.
// CHECK-LABEL: func.func @nested_slice
// CHECK-NOT: qopt.kernel_repack
// CHECK-NOT: qopt.served_width
// CHECK: qopt.kernel_matmul {{.*}} weight(%arg1, %arg2, %arg3 : tensor<8x32x8xi8>, {{.*}}) outs({{.*}}) {weight_type = !qopt.qtensor<32x64xf32, bits = 3, parent = 8, group = 32, asym, layout = nested>}
func.func @nested_slice(%x: tensor<?x64xf32>, %q: !n8) -> tensor<?x32xf32> {
  %q3 = qopt.slice %q to 3 : !n8
  %y = qopt.qmatmul %x, %q3 : tensor<?x64xf32>, !n3 -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// A dense slice is repacked at the new width (2 bits: 16 bytes a row).
// CHECK-LABEL: func.func @dense_slice
// CHECK: qopt.kernel_repack ins(%arg0 : tensor<32x32xi8>) outs(%{{.*}} : tensor<32x16xi8>) {result_type = !qopt.qtensor<32x64xf32, bits = 2, parent = 4, group = 32, asym>, source_type = !qopt.qtensor<32x64xf32, bits = 4, group = 32, asym>}
func.func @dense_slice(%q: !d4) -> !qopt.qtensor<32x64xf32, bits = 2, parent = 4, group = 32, asym> {
  %q2 = qopt.slice %q to 2 : !d4
  return %q2 : !qopt.qtensor<32x64xf32, bits = 2, parent = 4, group = 32, asym>
}

// get_codes reads one code per element back; scales and zeros are parts.
// CHECK-LABEL: func.func @accessors
// CHECK: %[[C:.*]] = qopt.kernel_repack ins(%arg0 : tensor<32x32xi8>) outs(%{{.*}} : tensor<32x64xi8>) {{{.*}}result_unpacked
// CHECK: return %[[C]], %arg1, %arg2
func.func @accessors(%q: !d4) -> (tensor<32x64xi8>, tensor<32x2xf32>, tensor<32x2xf32>) {
  %c = qopt.get_codes %q : !d4 -> tensor<32x64xi8>
  %s = qopt.get_scales %q : !d4 -> tensor<32x2xf32>
  %z = qopt.get_zeros %q : !d4 -> tensor<32x2xf32>
  return %c, %s, %z : tensor<32x64xi8>, tensor<32x2xf32>, tensor<32x2xf32>
}

// Run-time quantization writes codes, scales and zeros; dequantize reads them.
// CHECK-LABEL: func.func @quantize_dequantize
// CHECK: %[[Q:.*]]:3 = qopt.kernel_quantize ins(%arg0 : tensor<32x64xf32>) outs(%{{.*}}, %{{.*}}, %{{.*}} : tensor<32x32xi8>, tensor<32x2xf32>, tensor<32x2xf32>)
// CHECK: qopt.kernel_dequantize ins(%[[Q]]#0, %[[Q]]#1, %[[Q]]#2 : {{.*}}) outs(%{{.*}} : tensor<32x64xf32>)
func.func @quantize_dequantize(%w: tensor<32x64xf32>) -> tensor<32x64xf32> {
  %q = qopt.quantize %w : tensor<32x64xf32> -> !d4
  %d = qopt.dequantize %q : !d4 -> tensor<32x64xf32>
  return %d : tensor<32x64xf32>
}

// Signatures, calls and returns carry the parts.
// CHECK-LABEL: func.func @callee
// CHECK-SAME: (%{{.*}}: tensor<32x32xi8>, %{{.*}}: tensor<32x2xf32>, %{{.*}}: tensor<32x2xf32>) -> (tensor<32x32xi8>, tensor<32x2xf32>, tensor<32x2xf32>)
func.func @callee(%q: !d4) -> !d4 {
  return %q : !d4
}

// CHECK-LABEL: func.func @caller
// CHECK: %[[R:.*]]:3 = call @callee(%arg0, %arg1, %arg2)
// CHECK: return %[[R]]#0, %[[R]]#1, %[[R]]#2
func.func @caller(%q: !d4) -> !d4 {
  %r = func.call @callee(%q) : (!d4) -> !d4
  return %r : !d4
}

// A quantized embedding table becomes a gather kernel on its parts.
// CHECK-LABEL: func.func @embedding
// CHECK: %[[W:.*]] = qopt.served_width 1
// CHECK: qopt.kernel_gather ins(%arg0 : tensor<?xi32>) table(%arg1, %arg2, %arg3 : {{.*}}) width(%[[W]])
func.func @embedding(%t: tensor<?xi32>, %q: !n8) -> tensor<?x64xf32> {
  %e = qopt.embedding %q, %t : !n8, tensor<?xi32> -> tensor<?x64xf32>
  return %e : tensor<?x64xf32>
}
