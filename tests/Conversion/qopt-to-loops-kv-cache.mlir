// RUN: qopt-opt %s --qopt-to-loops | FileCheck %s
// RUN: qopt-opt %s --qopt-to-llvm | FileCheck %s --check-prefix=LLVM

// The KV cache element type is a type parameter of qopt.attention, and the
// cache's sequence dimension may be dynamic: an f16 cache is stored rounded
// (arith.truncf) and read widened to f32 (arith.extf), the attention's
// buffers do not depend on the cache's dimension 1, and the arithmetic
// stays f32.

// CHECK-LABEL: func.func @attention_f16(
// CHECK-SAME: %[[KC:[^:]*]]: memref<2x?x16xf16>, %[[VC:[^:]*]]: memref<2x?x16xf16>
// The new keys and values are rounded to f16 as they are stored.
// CHECK: %[[KEY:.*]] = memref.load %{{.*}} : memref<?x16xf32>
// CHECK: %[[KEYH:.*]] = arith.truncf %[[KEY]] : f32 to f16
// CHECK: memref.store %[[KEYH]], %[[KC]]
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: memref.store %{{.*}}, %[[VC]]
// Cached keys are widened in vector registers for the dot product, cached
// values for the weighted sum.
// CHECK: vector.load %[[KC]]{{.*}} : memref<2x?x16xf16>, vector<8xf16>
// CHECK: arith.extf %{{.*}} : vector<8xf16> to vector<8xf32>
// CHECK: vector.load %[[VC]]{{.*}} : memref<2x?x16xf16>, vector<8xf16>
// CHECK: arith.extf %{{.*}} : vector<8xf16> to vector<8xf32>
// CHECK: vector.fma %{{.*}} : vector<8xf32>
// No f16 arithmetic.
// CHECK-NOT: arith.{{(add|mul|sub|div)}}f {{.*}} : f16
// CHECK-NOT: arith.{{(add|mul|sub|div)}}f {{.*}} : vector<8xf16>
func.func @attention_f16(%x: tensor<?x32xf32>, %k: tensor<?x16xf32>, %pos: index,
                         %kc: memref<2x?x16xf16>, %vc: memref<2x?x16xf16>) -> tensor<?x32xf32> {
  %o = qopt.attention %x, %k, %k, %kc, %vc, %pos {layer = 1 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 8 : i64}
      : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x16xf32>, memref<2x?x16xf16>, memref<2x?x16xf16> -> tensor<?x32xf32>
  return %o : tensor<?x32xf32>
}

// A cache with a run-time sequence extent: the buffers of an iteration do
// not depend on it (the scores of one block of 256 keys and the outputs of
// the tile's 4 tokens, or of one), and the key loop runs in blocks up to the
// last token's pos + t + 1.
// CHECK-LABEL: func.func @attention_dynamic_seq(
// CHECK-SAME: %[[POS:[^:]*]]: index, %{{[^:]*}}: memref<2x?x16xf32>
// CHECK: scf.parallel
// CHECK-COUNT-4: arith.minui
// CHECK-NEXT: %[[P:.*]] = arith.addi %[[POS]], %{{.*}} : index
// CHECK-NEXT: %[[END:.*]] = arith.addi %[[P]], %c1 : index
// CHECK-NEXT: memref.alloc() {alignment = 64 : i64} : memref<4x256xf32>
// CHECK-NEXT: memref.alloc() {alignment = 64 : i64} : memref<4x8xf32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[END]] step %c256
// CHECK: scf.parallel
// CHECK: arith.minui
// CHECK-NEXT: %[[P1:.*]] = arith.addi %[[POS]], %{{.*}} : index
// CHECK-NEXT: %[[END1:.*]] = arith.addi %[[P1]], %c1 : index
// CHECK-NEXT: memref.alloc() {alignment = 64 : i64} : memref<1x256xf32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[END1]] step %c256
// CHECK-NOT: arith.extf
// CHECK-NOT: arith.truncf
// CHECK: return
func.func @attention_dynamic_seq(%x: tensor<?x32xf32>, %k: tensor<?x16xf32>, %pos: index,
                                 %kc: memref<2x?x16xf32>, %vc: memref<2x?x16xf32>) -> tensor<?x32xf32> {
  %o = qopt.attention %x, %k, %k, %kc, %vc, %pos {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 8 : i64}
      : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x16xf32>, memref<2x?x16xf32>, memref<2x?x16xf32> -> tensor<?x32xf32>
  return %o : tensor<?x32xf32>
}

// bf16 takes the same path.
// CHECK-LABEL: func.func @attention_bf16(
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: arith.extf %{{.*}} : vector<8xbf16> to vector<8xf32>
func.func @attention_bf16(%x: tensor<?x32xf32>, %k: tensor<?x16xf32>, %pos: index,
                          %kc: memref<2x?x16xbf16>, %vc: memref<2x?x16xbf16>) -> tensor<?x32xf32> {
  %o = qopt.attention %x, %k, %k, %kc, %vc, %pos {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 8 : i64}
      : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x16xf32>, memref<2x?x16xbf16>, memref<2x?x16xbf16> -> tensor<?x32xf32>
  return %o : tensor<?x32xf32>
}

// Down to the LLVM dialect, the 16-bit loads and conversions survive.
// LLVM-LABEL: llvm.func @attention_f16(
// LLVM: llvm.fptrunc %{{.*}} : f32 to f16
// LLVM: llvm.load %{{.*}} : !llvm.ptr -> vector<8xf16>
// LLVM: llvm.fpext %{{.*}} : vector<8xf16> to vector<8xf32>
