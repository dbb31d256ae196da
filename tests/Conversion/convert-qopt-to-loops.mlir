// RUN: qopt-opt %s -split-input-file --convert-qopt-to-loops -cse | FileCheck %s

// Lowering of the qopt model ops on tensors to loops on buffers. `-cse` only
// merges the many index constants the pass emits, so that the checks can
// name them.

// The ABI: tensor arguments become memrefs of the same shape, non-tensor
// arguments stay, the weight table follows the inputs, each result becomes a
// trailing out-parameter; buffers are copied out and freed before return.
// CHECK-LABEL: func.func @abi
// CHECK-SAME: (%[[X:[^:]*]]: memref<?x8xf32>, %[[P:[^:]*]]: index, %[[C:[^:]*]]: memref<2x4x8xf32>, %[[T:[^:]*]]: memref<?xi64>, %[[O0:[^:]*]]: memref<?x8xf32>, %[[O1:[^:]*]]: memref<?x8xf32>)
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK-NOT: tensor<
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[N:.*]] = memref.dim %[[X]], %[[C0]] : memref<?x8xf32>
// CHECK: %[[Y:.*]] = memref.alloc(%[[N]]) {alignment = 64 : i64} : memref<?x8xf32>
// CHECK: scf.for %[[I:.*]] = %[[C0]] to %[[N]]
// CHECK: scf.for %[[J:.*]] =
// CHECK: %[[A:.*]] = memref.load %[[X]][%[[I]], %[[J]]]
// CHECK: %[[S:.*]] = arith.addf %[[A]], %[[A]] fastmath<fast> : f32
// CHECK: memref.store %[[S]], %[[Y]][%[[I]], %[[J]]]
// CHECK: %[[Z:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x8xf32>
// CHECK: %[[YV:.*]] = memref.load %[[Y]]
// CHECK: %[[XV:.*]] = memref.load %[[X]]
// CHECK: %[[M:.*]] = arith.mulf %[[YV]], %[[XV]]
// CHECK: memref.store %[[M]], %[[Z]]
// CHECK: memref.copy %[[Y]], %[[O0]] : memref<?x8xf32> to memref<?x8xf32>
// CHECK: memref.copy %[[Z]], %[[O1]] : memref<?x8xf32> to memref<?x8xf32>
// CHECK: memref.dealloc %[[Y]]
// CHECK: memref.dealloc %[[Z]]
// CHECK-NEXT: return{{$}}
func.func @abi(%x: tensor<?x8xf32>, %pos: index, %c: memref<2x4x8xf32>)
    -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %y = arith.addf %x, %x : tensor<?x8xf32>
  %z = arith.mulf %y, %x : tensor<?x8xf32>
  return %y, %z : tensor<?x8xf32>, tensor<?x8xf32>
}

// Declarations are left alone.
// CHECK-LABEL: func.func private @external(tensor<4xf32>) -> tensor<4xf32>
func.func private @external(tensor<4xf32>) -> tensor<4xf32>

// A returned argument is copied out as is; nothing is allocated.
// CHECK-LABEL: func.func @identity
// CHECK-SAME: (%[[X:[^:]*]]: memref<4x8xf32>, %[[T:[^:]*]]: memref<?xi64>, %[[O:[^:]*]]: memref<4x8xf32>)
// CHECK-NOT: memref.alloc
// CHECK: memref.copy %[[X]], %[[O]]
// CHECK-NOT: memref.dealloc
// CHECK: return
func.func @identity(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  return %x : tensor<4x8xf32>
}

// -----

// Weights in dense_resource constants become weight_ref reads of the table,
// one entry per resource across the module (in order of first use); inline
// constants become private memref globals.
// CHECK: module attributes {qopt.weight_table = ["w_big", "w_small"]}
// CHECK: memref.global "private" constant @[[G:__qopt_constant_[0-9]+]] : memref<2x4xf32> = dense<{{\[}}[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00]]> {alignment = 64 : i64}

// CHECK-LABEL: func.func @weights
// CHECK-SAME: (%[[X:[^:]*]]: memref<2x4xf32>, %[[T:[^:]*]]: memref<?xi64>, %[[O:[^:]*]]: memref<2x4xf32>)
// CHECK-NOT: arith.constant dense_resource
// CHECK: %[[W:.*]] = qopt.weight_ref %[[T]][0] : memref<?xi64> -> memref<2x4xf32>
// CHECK: %[[V:.*]] = qopt.weight_ref %[[T]][1] : memref<?xi64> -> memref<2x4xf32>
// CHECK: %[[C:.*]] = memref.get_global @[[G]] : memref<2x4xf32>
// CHECK: memref.load %[[X]]
// CHECK: memref.load %[[W]]
// CHECK: arith.addf
// CHECK: memref.load %{{.*}}
// CHECK: memref.load %[[C]]
// CHECK: arith.subf
// CHECK: memref.load %[[V]]
// CHECK: arith.mulf
// CHECK: memref.copy
// CHECK-NOT: memref.dealloc %[[W]]
// CHECK-NOT: memref.dealloc %[[C]]
// CHECK: return
func.func @weights(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense_resource<w_big> : tensor<2x4xf32>
  %v = arith.constant dense_resource<w_small> : tensor<2x4xf32>
  %c = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %a = arith.addf %x, %w : tensor<2x4xf32>
  %b = arith.subf %a, %c : tensor<2x4xf32>
  %r = arith.mulf %b, %v : tensor<2x4xf32>
  return %r : tensor<2x4xf32>
}

// The same resource in a second function reuses its table entry (the
// entry names a resource; each use views it with its own type).
// CHECK-LABEL: func.func @shared_weight
// CHECK-SAME: (%{{[^:]*}}: memref<8xf32>, %[[T:[^:]*]]: memref<?xi64>, %{{[^:]*}}: memref<8xf32>)
// CHECK: qopt.weight_ref %[[T]][1] : memref<?xi64> -> memref<8xf32>
func.func @shared_weight(%x: tensor<8xf32>) -> tensor<8xf32> {
  %v = arith.constant dense_resource<w_small> : tensor<8xf32>
  %y = arith.mulf %x, %v : tensor<8xf32>
  return %y : tensor<8xf32>
}

{-#
  dialect_resources: {
    builtin: {
      w_big: "0x040000000000803F0000004000004040000080400000A0400000C0400000E04000000041",
      w_small: "0x040000000000003F0000003F0000003F0000003F0000003F0000003F0000003F0000003F"
    }
  }
#-}

// -----

// With no weights the table is still an argument and the list is empty.
// CHECK: module attributes {qopt.weight_table = []}
// CHECK-LABEL: func.func @no_weights
// CHECK-SAME: (%{{[^:]*}}: memref<1x8xf32>, %{{[^:]*}}: memref<?xi64>, %{{[^:]*}}: memref<1x8xf32>)
func.func @no_weights(%x: tensor<1x8xf32>) -> tensor<1x8xf32> {
  %y = arith.addf %x, %x : tensor<1x8xf32>
  return %y : tensor<1x8xf32>
}

// -----

// linear, K = 72: a main loop over 64 with four vector<8xf32> FMA
// accumulators, one more vector step at 64, then a horizontal reduction and
// no scalar tail. Weight rows are the outer loop, tokens the inner one.
// CHECK-LABEL: func.func @linear_k72
// CHECK-SAME: (%[[X:[^:]*]]: memref<2x72xf32>, %[[W:[^:]*]]: memref<4x72xf32>, %{{[^:]*}}: memref<?xi64>, %[[O:[^:]*]]: memref<2x4xf32>)
// CHECK: %[[Y:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x4xf32>
// CHECK: %[[C2:.*]] = arith.constant 2 : index
// CHECK: %[[C4:.*]] = arith.constant 4 : index
// CHECK: scf.for %[[N:.*]] = %{{.*}} to %[[C4]]
// CHECK: scf.for %[[T:.*]] = %{{.*}} to %[[C2]]
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<8xf32>
// CHECK: %[[C64:.*]] = arith.constant 64 : index
// CHECK: %[[C32:.*]] = arith.constant 32 : index
// CHECK: %[[ACC:.*]]:4 = scf.for %{{.*}} = %{{.*}} to %[[C64]] step %[[C32]] iter_args(%[[A0:.*]] = %[[ZERO]], %[[A1:.*]] = %[[ZERO]], %[[A2:.*]] = %[[ZERO]], %[[A3:.*]] = %[[ZERO]]) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: vector.load %[[X]][%[[T]], %{{.*}}] : memref<2x72xf32>, vector<8xf32>
// CHECK: vector.load %[[W]][%[[N]], %{{.*}}] : memref<4x72xf32>, vector<8xf32>
// CHECK-DAG: %[[F0:.*]] = vector.fma %{{.*}}, %{{.*}}, %[[A0]] : vector<8xf32>
// CHECK-DAG: %[[F1:.*]] = vector.fma %{{.*}}, %{{.*}}, %[[A1]] : vector<8xf32>
// CHECK-DAG: %[[F2:.*]] = vector.fma %{{.*}}, %{{.*}}, %[[A2]] : vector<8xf32>
// CHECK-DAG: %[[F3:.*]] = vector.fma %{{.*}}, %{{.*}}, %[[A3]] : vector<8xf32>
// CHECK: scf.yield %[[F0]], %[[F1]], %[[F2]], %[[F3]]
// CHECK: %[[K64:.*]] = arith.addi %{{.*}}, %[[C64]] : index
// CHECK-DAG: vector.load %[[W]][%[[N]], %[[K64]]]
// CHECK-DAG: vector.load %[[X]][%[[T]], %[[K64]]]
// CHECK: %[[R0:.*]] = vector.fma %{{.*}}, %{{.*}}, %[[ACC]]#0
// CHECK: %[[S1:.*]] = arith.addf %[[R0]], %[[ACC]]#1 fastmath<fast> : vector<8xf32>
// CHECK: %[[S2:.*]] = arith.addf %[[S1]], %[[ACC]]#2
// CHECK: %[[S3:.*]] = arith.addf %[[S2]], %[[ACC]]#3
// CHECK: %[[DOT:.*]] = vector.reduction <add>, %[[S3]] fastmath<fast> : vector<8xf32> into f32
// CHECK-NOT: memref.load
// CHECK: memref.store %[[DOT]], %[[Y]][%[[T]], %[[N]]] : memref<2x4xf32>
// CHECK: memref.copy %[[Y]], %[[O]]
// CHECK: memref.dealloc %[[Y]]
func.func @linear_k72(%x: tensor<2x72xf32>, %w: tensor<4x72xf32>) -> tensor<2x4xf32> {
  %y = qopt.linear %x, %w : tensor<2x72xf32>, tensor<4x72xf32> -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// linear, K = 36: main loop over 32, no extra vector step, then a scalar
// tail over k = 32..35.
// CHECK-LABEL: func.func @linear_k36
// CHECK-SAME: (%[[X:[^:]*]]: memref<3x36xf32>, %[[W:[^:]*]]: memref<4x36xf32>
// CHECK: %[[ACC:.*]]:4 = scf.for
// CHECK-COUNT-4: vector.fma
// CHECK: scf.yield
// CHECK-NOT: vector.fma
// CHECK: %[[DOT:.*]] = vector.reduction <add>
// CHECK: %[[W32:.*]] = memref.load %[[W]]
// CHECK: %[[X32:.*]] = memref.load %[[X]]
// CHECK: %[[P32:.*]] = arith.mulf %[[X32]], %[[W32]]
// CHECK: %[[S32:.*]] = arith.addf %[[DOT]], %[[P32]]
// CHECK-COUNT-3: arith.addf %{{.*}}, %{{.*}} fastmath<fast> : f32
// CHECK-NOT: memref.load
// CHECK: memref.store
func.func @linear_k36(%x: tensor<3x36xf32>, %w: tensor<4x36xf32>) -> tensor<3x4xf32> {
  %y = qopt.linear %x, %w : tensor<3x36xf32>, tensor<4x36xf32> -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// linear, K = 12 < 32: no main loop, one vector step and a scalar tail of 4,
// on a dynamic number of tokens.
// CHECK-LABEL: func.func @linear_k12
// CHECK-SAME: (%[[X:[^:]*]]: memref<?x12xf32>, %[[W:[^:]*]]: memref<8x12xf32>, %{{[^:]*}}: memref<?xi64>, %[[O:[^:]*]]: memref<?x8xf32>)
// CHECK: %[[NT:.*]] = memref.dim %[[X]]
// CHECK: %[[Y:.*]] = memref.alloc(%[[NT]]) {alignment = 64 : i64} : memref<?x8xf32>
// CHECK-NOT: iter_args
// CHECK: vector.fma
// CHECK-NOT: vector.fma
// CHECK: vector.reduction <add>
// CHECK-COUNT-4: arith.mulf
// CHECK: memref.store
// CHECK: memref.copy %[[Y]], %[[O]]
// CHECK: memref.dealloc %[[Y]]
func.func @linear_k12(%x: tensor<?x12xf32>, %w: tensor<8x12xf32>) -> tensor<?x8xf32> {
  %y = qopt.linear %x, %w : tensor<?x12xf32>, tensor<8x12xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// embedding clamps the token id into [0, vocab - 1]; rms_norm takes
// 1 / sqrt(mean square + epsilon); swiglu is g / (1 + exp(-g)) * u. All on a
// dynamic number of tokens, sized from the token buffer.
// CHECK-LABEL: func.func @embed_norm_swiglu
// CHECK-SAME: (%[[TAB:[^:]*]]: memref<16x8xf32>, %[[TOK:[^:]*]]: memref<?xi32>, %[[NW:[^:]*]]: memref<8xf32>, %{{[^:]*}}: memref<?xi64>, %[[O:[^:]*]]: memref<?x8xf32>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[NT:.*]] = memref.dim %[[TOK]], %[[C0]] : memref<?xi32>
// CHECK: %[[E:.*]] = memref.alloc(%[[NT]]) {alignment = 64 : i64} : memref<?x8xf32>
// CHECK: scf.for %[[T:.*]] = %[[C0]] to %[[NT]]
// CHECK: %[[ID:.*]] = memref.load %[[TOK]][%[[T]]] : memref<?xi32>
// CHECK: %[[ROW:.*]] = arith.index_cast %[[ID]] : i32 to index
// CHECK: %[[LO:.*]] = arith.maxsi %[[ROW]], %[[C0]] : index
// CHECK: %[[C15:.*]] = arith.constant 15 : index
// CHECK: %[[HI:.*]] = arith.minsi %[[LO]], %[[C15]] : index
// CHECK: %[[V:.*]] = memref.load %[[TAB]][%[[HI]], %[[D:.*]]] : memref<16x8xf32>
// CHECK: memref.store %[[V]], %[[E]][%[[T]], %[[D]]]

// CHECK: %[[N:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x8xf32>
// CHECK-DAG: %[[EPS:.*]] = arith.constant 9.99999974E-6 : f32
// CHECK-DAG: %[[INVW:.*]] = arith.constant 1.250000e-01 : f32
// CHECK: vector.load %[[E]]
// CHECK: %[[SS:.*]] = vector.reduction <add>
// CHECK: %[[MEAN:.*]] = arith.mulf %[[SS]], %[[INVW]]
// CHECK: %[[ME:.*]] = arith.addf %[[MEAN]], %[[EPS]]
// CHECK: %[[RMS:.*]] = math.sqrt %[[ME]] : f32
// CHECK: %[[INV:.*]] = arith.divf %{{.*}}, %[[RMS]]
// CHECK: memref.load %[[NW]]
// CHECK: memref.store %{{.*}}, %[[N]]

// CHECK: %[[G:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x8xf32>
// CHECK: %[[GV:.*]] = memref.load %[[E]]
// CHECK: %[[NEG:.*]] = arith.negf %[[GV]]
// CHECK: %[[EX:.*]] = math.exp %[[NEG]] : f32
// CHECK: %[[DEN:.*]] = arith.addf %{{.*}}, %[[EX]]
// CHECK: %[[SILU:.*]] = arith.divf %[[GV]], %[[DEN]]
// CHECK: %[[UP:.*]] = memref.load %[[N]]
// CHECK: %[[PROD:.*]] = arith.mulf %[[SILU]], %[[UP]]
// CHECK: memref.store %[[PROD]], %[[G]]
// CHECK: memref.copy %[[G]], %[[O]]
// CHECK-DAG: memref.dealloc %[[E]]
// CHECK-DAG: memref.dealloc %[[N]]
// CHECK-DAG: memref.dealloc %[[G]]
// CHECK: return
func.func @embed_norm_swiglu(%t: tensor<16x8xf32>, %tok: tensor<?xi32>, %w: tensor<8xf32>) -> tensor<?x8xf32> {
  %x = qopt.embedding %t, %tok : tensor<16x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
  %y = qopt.rms_norm %x, %w {epsilon = 1.0e-05 : f32} : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  %s = qopt.swiglu %x, %y : tensor<?x8xf32>
  return %s : tensor<?x8xf32>
}

// -----

// rope: angle = (position + t) / theta^(2j / head_dim), then the pair is
// (base + 2j, base + 2j + 1) when interleaved ...
// CHECK-LABEL: func.func @rope_interleaved
// CHECK-SAME: (%[[X:[^:]*]]: memref<1x16xf32>, %[[P:[^:]*]]: index
// CHECK: %[[Y:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x16xf32>
// CHECK: %[[THETA:.*]] = arith.constant 1.000000e+04 : f32
// CHECK: %[[C1:.*]] = arith.constant 1 : index
// CHECK: scf.for %[[T:.*]] =
// CHECK: %[[POS:.*]] = arith.addi %[[P]], %[[T]] : index
// CHECK: scf.for %[[J:.*]] =
// CHECK: %[[TWOJ:.*]] = arith.muli %[[J]], %[[C2:.*]] : index
// CHECK: %[[POW:.*]] = math.powf %[[THETA]], %{{.*}} : f32
// CHECK: %[[FREQ:.*]] = arith.divf %{{.*}}, %[[POW]]
// CHECK: %[[ANGLE:.*]] = arith.mulf %{{.*}}, %[[FREQ]]
// CHECK: %[[COS:.*]] = math.cos %[[ANGLE]] : f32
// CHECK: %[[SIN:.*]] = math.sin %[[ANGLE]] : f32
// CHECK: scf.for %[[H:.*]] =
// CHECK: %[[BASE:.*]] = arith.muli %[[H]], %{{.*}} : index
// CHECK: %[[I0:.*]] = arith.addi %[[BASE]], %[[TWOJ]] : index
// CHECK: %[[I1:.*]] = arith.addi %[[I0]], %[[C1]] : index
// CHECK: %[[A:.*]] = memref.load %[[X]][%[[T]], %[[I0]]]
// CHECK: %[[B:.*]] = memref.load %[[X]][%[[T]], %[[I1]]]
// CHECK: memref.store %{{.*}}, %[[Y]][%[[T]], %[[I0]]]
// CHECK: memref.store %{{.*}}, %[[Y]][%[[T]], %[[I1]]]
func.func @rope_interleaved(%x: tensor<1x16xf32>, %pos: index) -> tensor<1x16xf32> {
  %y = qopt.rope %x, %pos {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style interleaved>} : tensor<1x16xf32> -> tensor<1x16xf32>
  return %y : tensor<1x16xf32>
}

// ... and (base + j, base + j + head_dim / 2) with rotate_half.
// CHECK-LABEL: func.func @rope_rotate_half
// CHECK-SAME: (%[[X:[^:]*]]: memref<1x16xf32>, %[[P:[^:]*]]: index
// CHECK: %[[Y:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x16xf32>
// CHECK: %[[THETA:.*]] = arith.constant 5.000000e+05 : f32
// CHECK: %[[HALF:.*]] = arith.constant 4 : index
// CHECK: scf.for %[[T:.*]] =
// CHECK: scf.for %[[J:.*]] = %{{.*}} to %[[HALF]]
// CHECK: math.powf %[[THETA]]
// CHECK: math.cos
// CHECK: math.sin
// CHECK: scf.for %[[H:.*]] =
// CHECK: %[[BASE:.*]] = arith.muli %[[H]], %{{.*}} : index
// CHECK: %[[I0:.*]] = arith.addi %[[BASE]], %[[J]] : index
// CHECK: %[[I1:.*]] = arith.addi %[[I0]], %[[HALF]] : index
// CHECK: memref.load %[[X]][%[[T]], %[[I0]]]
// CHECK: memref.load %[[X]][%[[T]], %[[I1]]]
// CHECK: memref.store %{{.*}}, %[[Y]][%[[T]], %[[I0]]]
// CHECK: memref.store %{{.*}}, %[[Y]][%[[T]], %[[I1]]]
func.func @rope_rotate_half(%x: tensor<1x16xf32>, %pos: index) -> tensor<1x16xf32> {
  %y = qopt.rope %x, %pos {head_dim = 8 : i64, theta = 5.0e+05 : f32, style = #qopt<rope_style rotate_half>} : tensor<1x16xf32> -> tensor<1x16xf32>
  return %y : tensor<1x16xf32>
}

// -----

// attention, head_dim 8 (vector path), 2 heads over 1 KV head, layer 1: the
// token's key and value go to row position + t of layer 1 of the caches,
// then scores, max, exp and a vector weighted sum of the values.
// CHECK-LABEL: func.func @attention_vector
// CHECK-SAME: (%[[Q:[^:]*]]: memref<1x16xf32>, %[[K:[^:]*]]: memref<1x8xf32>, %[[V:[^:]*]]: memref<1x8xf32>, %[[KC:[^:]*]]: memref<2x4x8xf32>, %[[VC:[^:]*]]: memref<2x4x8xf32>, %[[P:[^:]*]]: index, %{{[^:]*}}: memref<?xi64>, %[[O:[^:]*]]: memref<1x16xf32>)
// CHECK: %[[C1:.*]] = arith.constant 1 : index
// CHECK: %[[Y:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x16xf32>
// CHECK: %[[SC:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
// CHECK: %[[SCALE:.*]] = arith.constant 0.353553385 : f32
// CHECK: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: scf.for %[[T:.*]] =
// CHECK: %[[ROW:.*]] = arith.addi %[[P]], %[[T]] : index
// CHECK: %[[END:.*]] = arith.addi %[[ROW]], %[[C1]] : index
// CHECK: scf.for %[[I:.*]] =
// CHECK: %[[KV:.*]] = memref.load %[[K]][%[[T]], %[[I]]]
// CHECK: memref.store %[[KV]], %[[KC]][%[[C1]], %[[ROW]], %[[I]]] : memref<2x4x8xf32>
// CHECK: %[[VV:.*]] = memref.load %[[V]][%[[T]], %[[I]]]
// CHECK: memref.store %[[VV]], %[[VC]][%[[C1]], %[[ROW]], %[[I]]] : memref<2x4x8xf32>
// CHECK: %[[MAX:.*]] = scf.for %[[S:.*]] = %{{.*}} to %[[END]] step %{{.*}} iter_args(%[[M:.*]] = %[[NEGINF]]) -> (f32)
// CHECK: vector.load %[[KC]][%[[C1]], %[[S]], %{{.*}}]
// CHECK: %[[DOT:.*]] = vector.reduction <add>
// CHECK: %[[SCORE:.*]] = arith.mulf %[[DOT]], %[[SCALE]]
// CHECK: memref.store %[[SCORE]], %[[SC]][%[[S]]]
// CHECK: arith.maximumf %[[M]], %[[SCORE]] : f32
// CHECK: %[[SUM:.*]] = scf.for %{{.*}} to %[[END]]
// CHECK: %[[DIFF:.*]] = arith.subf %{{.*}}, %[[MAX]]
// CHECK: math.exp %[[DIFF]] : f32
// CHECK: %[[INV:.*]] = arith.divf %{{.*}}, %[[SUM]]
// CHECK: scf.for
// CHECK: scf.for %[[S2:.*]] = %{{.*}} to %[[END]]
// CHECK: vector.broadcast
// CHECK: vector.load %[[VC]][%[[C1]], %[[S2]], %{{.*}}] : memref<2x4x8xf32>, vector<8xf32>
// CHECK: vector.fma
// CHECK: vector.broadcast %[[INV]] : f32 to vector<8xf32>
// CHECK: vector.store %{{.*}}, %[[Y]][%[[T]], %{{.*}}] : memref<1x16xf32>, vector<8xf32>
// CHECK: memref.copy %[[Y]], %[[O]]
// CHECK-DAG: memref.dealloc %[[Y]]
// CHECK-DAG: memref.dealloc %[[SC]]
// CHECK: return
func.func @attention_vector(%q: tensor<1x16xf32>, %k: tensor<1x8xf32>, %v: tensor<1x8xf32>,
                            %kc: memref<2x4x8xf32>, %vc: memref<2x4x8xf32>, %pos: index) -> tensor<1x16xf32> {
  %o = qopt.attention %q, %k, %v, %kc, %vc, %pos {layer = 1 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 8 : i64}
      : tensor<1x16xf32>, tensor<1x8xf32>, tensor<1x8xf32>, memref<2x4x8xf32>, memref<2x4x8xf32> -> tensor<1x16xf32>
  return %o : tensor<1x16xf32>
}

// head_dim 4 (not a multiple of 8): a scalar weighted sum.
// CHECK-LABEL: func.func @attention_scalar
// CHECK-SAME: (%{{[^:]*}}: memref<2x8xf32>, %{{[^:]*}}: memref<2x4xf32>, %{{[^:]*}}: memref<2x4xf32>, %[[KC:[^:]*]]: memref<2x4x4xf32>, %[[VC:[^:]*]]: memref<2x4x4xf32>
// CHECK: memref.store %{{.*}}, %[[KC]]
// CHECK: memref.store %{{.*}}, %[[VC]]
// CHECK: math.exp
// CHECK-NOT: vector.store
// CHECK: %[[W:.*]] = memref.load %[[VC]]
// CHECK: arith.mulf %{{.*}}, %[[W]]
// CHECK: return
func.func @attention_scalar(%q: tensor<2x8xf32>, %k: tensor<2x4xf32>, %v: tensor<2x4xf32>,
                            %kc: memref<2x4x4xf32>, %vc: memref<2x4x4xf32>, %pos: index) -> tensor<2x8xf32> {
  %o = qopt.attention %q, %k, %v, %kc, %vc, %pos {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 4 : i64}
      : tensor<2x8xf32>, tensor<2x4xf32>, tensor<2x4xf32>, memref<2x4x4xf32>, memref<2x4x4xf32> -> tensor<2x8xf32>
  return %o : tensor<2x8xf32>
}

// -----

// A whole layer on a dynamic number of tokens: nine buffers (one per op
// plus the attention scores), all freed after the copy-out, nothing left on
// tensors.
// CHECK-LABEL: func.func @layer
// CHECK-SAME: %{{[^:]*}}: memref<?xi64>, %[[O:[^:]*]]: memref<?x64xf32>) attributes {llvm.emit_c_interface}
// CHECK-NOT: qopt.embedding
// CHECK-NOT: qopt.linear
// CHECK-NOT: qopt.attention
// CHECK-NOT: tensor<
// CHECK-COUNT-9: memref.alloc
// CHECK-NOT: memref.alloc
// CHECK: memref.copy %{{.*}}, %[[O]] : memref<?x64xf32> to memref<?x64xf32>
// CHECK-COUNT-9: memref.dealloc
// CHECK-NEXT: return
// CHECK-NEXT: }
func.func @layer(%tokens: tensor<?xi32>, %pos: index, %kc: memref<5x512x32xf32>, %vc: memref<5x512x32xf32>,
                 %emb: tensor<512x64xf32>, %nw: tensor<64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<32x64xf32>) -> tensor<?x64xf32> {
  %x = qopt.embedding %emb, %tokens : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %h = qopt.rms_norm %x, %nw {epsilon = 1.0e-05 : f32} : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  %q = qopt.linear %h, %wq : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  %k = qopt.linear %h, %wk : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  %qr = qopt.rope %q, %pos {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style interleaved>} : tensor<?x64xf32> -> tensor<?x64xf32>
  %o = qopt.attention %qr, %k, %k, %kc, %vc, %pos {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, memref<5x512x32xf32>, memref<5x512x32xf32> -> tensor<?x64xf32>
  %s = qopt.swiglu %o, %qr : tensor<?x64xf32>
  %r = arith.addf %s, %x : tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

// -----

// Scalar arithmetic is kept as is (only tensor arith is lowered to loops),
// and a dot product shorter than one vector is a plain scalar sum.
// CHECK-LABEL: func.func @scalar_and_short
// CHECK: arith.addf %{{.*}}, %{{.*}} : f32
// CHECK-NOT: vector.
// CHECK: return
func.func @scalar_and_short(%x: tensor<1x4xf32>, %w: tensor<2x4xf32>, %s: f32) -> tensor<1x2xf32> {
  %t = arith.addf %s, %s : f32
  %y = qopt.linear %x, %w : tensor<1x4xf32>, tensor<2x4xf32> -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

// 16-bit weights are loaded as 16-bit vectors and widened to f32 in
// registers; the arithmetic stays f32.
// CHECK-LABEL: func.func @half_weights
// CHECK-SAME: %{{.*}}: memref<1x32xf32>, %[[W:.*]]: memref<4x32xf16>, %[[E:.*]]: memref<16x32xbf16>
// CHECK: %[[V:.*]] = vector.load %[[W]][{{.*}}] : memref<4x32xf16>, vector<8xf16>
// CHECK: arith.extf %[[V]] : vector<8xf16> to vector<8xf32>
// CHECK: %[[S:.*]] = memref.load %[[E]][{{.*}}] : memref<16x32xbf16>
// CHECK: arith.extf %[[S]] : bf16 to f32
func.func @half_weights(%x: tensor<1x32xf32>, %w: tensor<4x32xf16>, %e: tensor<16x32xbf16>,
                        %tok: tensor<1xi32>) -> (tensor<1x4xf32>, tensor<1x32xf32>) {
  %y = qopt.linear %x, %w : tensor<1x32xf32>, tensor<4x32xf16> -> tensor<1x4xf32>
  %r = qopt.embedding %e, %tok : tensor<16x32xbf16>, tensor<1xi32> -> tensor<1x32xf32>
  return %y, %r : tensor<1x4xf32>, tensor<1x32xf32>
}

// -----

// linear(dequantize(pack(codes, scales))) is fused: the i8 codes are loaded
// as vectors, converted and scaled per group of 32 inside the dot product;
// no f32 weight buffer is allocated. The same packed table feeds the
// embedding, which dequantizes only the row it reads.
// CHECK-LABEL: func.func @fused_dequant_matmul
// CHECK-SAME: (%[[X:.*]]: memref<1x64xf32>, %[[C:.*]]: memref<4x64xi8>, %[[S:.*]]: memref<4x2xf32>, %[[TOK:.*]]: memref<1xi32>
// CHECK-NOT: memref.alloc() {{.*}} : memref<4x64xf32>
// CHECK: scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args
// CHECK: %[[G:.*]] = arith.divui %[[K]], %{{.*}} : index
// CHECK: %[[CV:.*]] = vector.load %[[C]][%{{.*}}, %{{.*}}] : memref<4x64xi8>, vector<8xi8>
// CHECK: arith.uitofp %[[CV]] : vector<8xi8> to vector<8xf32>
// CHECK: vector.fma
// CHECK: memref.load %[[S]][%{{.*}}, %[[G]]] : memref<4x2xf32>
// CHECK-NOT: memref.alloc() {{.*}} : memref<4x64xf32>
// CHECK: memref.load %[[C]]
// CHECK: return
func.func @fused_dequant_matmul(%x: tensor<1x64xf32>, %codes: tensor<4x64xi8>, %scales: tensor<4x2xf32>,
                                %tok: tensor<1xi32>) -> (tensor<1x4xf32>, tensor<1x64xf32>) {
  %q = qopt.pack %codes, %scales : tensor<4x64xi8>, tensor<4x2xf32> -> !qopt.qtensor<4x64xf32, bits = 8, group = 32, sym>
  %w = qopt.dequantize %q : !qopt.qtensor<4x64xf32, bits = 8, group = 32, sym> -> tensor<4x64xf32>
  %y = qopt.linear %x, %w : tensor<1x64xf32>, tensor<4x64xf32> -> tensor<1x4xf32>
  %e = qopt.embedding %w, %tok : tensor<4x64xf32>, tensor<1xi32> -> tensor<1x64xf32>
  return %y, %e : tensor<1x4xf32>, tensor<1x64xf32>
}

// -----

// A dequantized value used by anything else is materialized once, where it
// is first needed: scale * (code - zero) per element (asym, per channel).
// CHECK-LABEL: func.func @materialized_dequantize
// CHECK: %[[W:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x8xf32>
// CHECK: arith.uitofp
// CHECK: arith.subf
// CHECK: arith.mulf
// CHECK: memref.store %{{.*}}, %[[W]]
// CHECK: memref.dealloc %[[W]]
func.func @materialized_dequantize(%codes: tensor<2x8xi8>, %scales: tensor<2x1xf32>, %zeros: tensor<2x1xf32>) -> tensor<2x8xf32> {
  %q = qopt.pack %codes, %scales, %zeros : tensor<2x8xi8>, tensor<2x1xf32>, tensor<2x1xf32> -> !qopt.qtensor<2x8xf32, bits = 4, per_channel, asym>
  %w = qopt.dequantize %q : !qopt.qtensor<2x8xf32, bits = 4, per_channel, asym> -> tensor<2x8xf32>
  %r = arith.addf %w, %w : tensor<2x8xf32>
  return %r : tensor<2x8xf32>
}

// -----

// RUN: qopt-opt %s -split-input-file --convert-qopt-to-loops=vector-width=16 | FileCheck %s --check-prefix=W16
// With vector-width=16 (AVX-512) the four accumulators are vector<16xf32>
// and one main-loop step covers 64 elements.
// CHECK-LABEL: func.func @width16
// W16-LABEL: func.func @width16
// W16: scf.for {{.*}} step %{{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// W16: vector.load {{.*}} : memref<2x64xf32>, vector<16xf32>
func.func @width16(%x: tensor<1x64xf32>, %w: tensor<2x64xf32>) -> tensor<1x2xf32> {
  %y = qopt.linear %x, %w : tensor<1x64xf32>, tensor<2x64xf32> -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

// Packed 4-bit codes (two per byte): the fused dot product loads 4 bytes
// for 8 codes and splits them into low (even) and high (odd) nibbles; the
// embedding unpacks the nibble of each element it reads.
// CHECK-LABEL: func.func @fused_packed_int4
// CHECK-SAME: (%[[X:.*]]: memref<1x64xf32>, %[[C:.*]]: memref<4x32xi8>
// CHECK-NOT: memref.alloc() {{.*}} : memref<4x64xf32>
// CHECK: %[[B:.*]] = vector.load %[[C]][%{{.*}}, %{{.*}}] : memref<4x32xi8>, vector<4xi8>
// CHECK-DAG: %[[LO:.*]] = arith.andi %[[B]], %{{.*}} : vector<4xi8>
// CHECK-DAG: %[[HI:.*]] = arith.shrui %[[B]], %{{.*}} : vector<4xi8>
// CHECK: %[[CODES:.*]] = vector.interleave %[[LO]], %[[HI]] : vector<4xi8> -> vector<8xi8>
// CHECK: arith.uitofp %[[CODES]] : vector<8xi8> to vector<8xf32>
// CHECK: arith.remui
// CHECK: arith.shrui %{{.*}}, %{{.*}} : i8
// CHECK: arith.andi %{{.*}}, %{{.*}} : i8
// CHECK: return
func.func @fused_packed_int4(%x: tensor<1x64xf32>, %codes: tensor<4x32xi8>, %scales: tensor<4x2xf32>,
                             %tok: tensor<1xi32>) -> (tensor<1x4xf32>, tensor<1x64xf32>) {
  %q = qopt.pack %codes, %scales : tensor<4x32xi8>, tensor<4x2xf32> -> !qopt.qtensor<4x64xf32, bits = 4, group = 32, sym>
  %w = qopt.dequantize %q : !qopt.qtensor<4x64xf32, bits = 4, group = 32, sym> -> tensor<4x64xf32>
  %y = qopt.linear %x, %w : tensor<1x64xf32>, tensor<4x64xf32> -> tensor<1x4xf32>
  %e = qopt.embedding %w, %tok : tensor<4x64xf32>, tensor<1xi32> -> tensor<1x64xf32>
  return %y, %e : tensor<1x4xf32>, tensor<1x64xf32>
}
