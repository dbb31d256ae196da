// The GFNI reader of nested codes on the integer path (gfni=true, vector
// width 16): a superblock's 64 codes come from one byte transpose of the
// planes' 8-byte rows and one vgf2p8affineqb, instead of a masked select
// per plane. It serves 4 or more planes; fewer keep the select-based
// reader, and so does every width without the option.
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16 int8-activations=true int-dot=vnni gfni=true" | FileCheck %s
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16 int8-activations=true int-dot=vnni" | FileCheck %s --check-prefix=SELECT

// All 8 planes (served at 8 bits): the code is the transposed byte itself.
// CHECK-LABEL: func.func @nested8
// CHECK-COUNT-8: vector.load %{{.*}} : memref<8x8x128xi8>, vector<8xi8>
// CHECK: %[[T:.*]] = vector.shuffle %{{.*}}, %{{.*}} [0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 33, 41, 49, 57, 2, 10
// CHECK: %[[C:.*]] = llvm.call_intrinsic "llvm.x86.vgf2p8affineqb.512"(%{{.*}}, %[[T]], %{{.*}}) : (vector<64xi8>, vector<64xi8>, i8) -> vector<64xi8>
// CHECK-NOT: arith.shrui %[[C]]
// CHECK: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// SELECT-LABEL: func.func @nested8
// SELECT-NOT: vgf2p8affineqb
// SELECT: arith.select
func.func @nested8(%x: memref<?x1024xf32>, %c: memref<8x8x128xi8>, %s: memref<8x32xf32>, %z: memref<8x32xf32>, %y: memref<?x8xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x1024xf32>) weight(%c, %s, %z : memref<8x8x128xi8>, memref<8x32xf32>, memref<8x32xf32>) outs(%y : memref<?x8xf32>) {weight_type = !qopt.qtensor<8x1024xf32, bits = 8, group = 32, asym, layout = nested>}
  return
}

// Served at 3 bits: the top 4 planes (the unread ones are zero bytes),
// shifted down to v, then the rounding plane: (v >> 1) + (v & 1) clamped
// to 7.
// CHECK-LABEL: func.func @nested8_to3
// CHECK-COUNT-4: vector.load %{{.*}} : memref<8x8x128xi8>, vector<8xi8>
// CHECK: %[[C3:.*]] = llvm.call_intrinsic "llvm.x86.vgf2p8affineqb.512"
// CHECK: %[[V:.*]] = arith.shrui %[[C3]], %{{.*}} : vector<64xi8>
// CHECK: %[[H:.*]] = arith.shrui %[[V]], %{{.*}} : vector<64xi8>
// CHECK: %[[R:.*]] = arith.andi %[[V]], %{{.*}} : vector<64xi8>
// CHECK: %[[S:.*]] = arith.addi %[[H]], %[[R]] : vector<64xi8>
// CHECK: arith.minui %[[S]], %{{.*}} : vector<64xi8>
func.func @nested8_to3(%x: memref<?x1024xf32>, %c: memref<8x8x128xi8>, %s: memref<8x32xf32>, %z: memref<8x32xf32>, %y: memref<?x8xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x1024xf32>) weight(%c, %s, %z : memref<8x8x128xi8>, memref<8x32xf32>, memref<8x32xf32>) outs(%y : memref<?x8xf32>) {weight_type = !qopt.qtensor<8x1024xf32, bits = 3, parent = 8, group = 32, asym, layout = nested>}
  return
}

// Served at 2 bits (3 planes): the select-based reader.
// CHECK-LABEL: func.func @nested8_to2
// CHECK-NOT: vgf2p8affineqb
// CHECK: arith.select
// CHECK-LABEL: func.func @end
func.func @nested8_to2(%x: memref<?x1024xf32>, %c: memref<8x8x128xi8>, %s: memref<8x32xf32>, %z: memref<8x32xf32>, %y: memref<?x8xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x1024xf32>) weight(%c, %s, %z : memref<8x8x128xi8>, memref<8x32xf32>, memref<8x32xf32>) outs(%y : memref<?x8xf32>) {weight_type = !qopt.qtensor<8x1024xf32, bits = 2, parent = 8, group = 32, asym, layout = nested>}
  return
}

func.func @end() {
  return
}
