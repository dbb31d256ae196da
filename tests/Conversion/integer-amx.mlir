// The packed GEMM of the integer path with AMX tiles (amx=true, vector
// width 16; IntegerAmx.cpp). The activations are copied once per call with
// the words of each superblock grouped by lane set, each set's bytes of 16
// tokens side by side (one contiguous tile), padded with zero tokens to a
// multiple of 16; each panel's codes are packed in the same set order. Per
// 16 tokens, two lane sets at a time: both operand tiles of each (the
// activations, 16 tokens x 4W signed bytes at stride 4W; the codes, W
// packed rows of 64 unsigned bytes), two zeroed i32 tiles and tdpbsud,
// then both stored into the sums (two slots of a tile per set: the sums
// of the previous superblock are scaled while these multiply). Symmetric
// weights are packed less their zero point, as signed bytes, multiplied
// by tdpbssd and need no zero-point terms.
// Without the option, or at vector width 8, the VNNI micro-kernel.
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16 int8-activations=true int-dot=vnni amx=true" | FileCheck %s
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16 int8-activations=true int-dot=vnni" | FileCheck %s --check-prefix=NOAMX
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=8 int8-activations=true int-dot=vnni amx=true" | FileCheck %s --check-prefix=NOAMX
// RUN: qopt-opt %s --qopt-to-llvm="vector-width=16 int8-activations=true int-dot=vnni amx=true" | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR

// 4 bits, groups of 32: a superblock of 128 codes is two parts of 16
// lanes; lane set s (elements 32s .. 32s + 31) is words {s*4 .. s*4+3} of
// each part, 8 words, so K = 32 bytes per tdpbssd; symmetric, so the
// codes are packed less 8 and multiplied as signed bytes.
// CHECK-LABEL: func.func @q4
// CHECK: memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x4096xi8>
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31] : vector<32xi32>, vector<32xi32>
// CHECK: %[[EIGHT:.*]] = arith.constant dense<8> : vector<64xi8>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<128x16xi32>
// CHECK: arith.subi %{{.*}}, %[[EIGHT]] : vector<64xi8>
// CHECK: %[[A0:.*]] = amx.tile_load %{{.*}}[%{{.*}}, %{{.*}}], %{{.*}} : memref<?x4096xi8> into !amx.tile<16x32xi8>
// CHECK: %[[B0:.*]] = amx.tile_load %{{.*}}[%{{.*}}, %{{.*}}] : memref<64x64xi8, strided<[64, 1], offset: ?>> into !amx.tile<8x64xi8>
// CHECK: %[[A1:.*]] = amx.tile_load %{{.*}} into !amx.tile<16x32xi8>
// CHECK: %[[B1:.*]] = amx.tile_load %{{.*}} into !amx.tile<8x64xi8>
// CHECK: %[[C0:.*]] = amx.tile_zero : !amx.tile<16x16xi32>
// CHECK: %[[D0:.*]] = amx.tile_muli %[[A0]], %[[B0]], %[[C0]] : !amx.tile<16x32xi8>, !amx.tile<8x64xi8>, !amx.tile<16x16xi32>
// CHECK: %[[C1:.*]] = amx.tile_zero : !amx.tile<16x16xi32>
// CHECK: %[[D1:.*]] = amx.tile_muli %[[A1]], %[[B1]], %[[C1]]
// CHECK: amx.tile_store %{{.*}}[%{{.*}}, %{{.*}}], %[[D0]] : memref<128x16xi32>, !amx.tile<16x16xi32>
// CHECK: amx.tile_store %{{.*}}[%{{.*}}, %{{.*}}], %[[D1]] : memref<128x16xi32>, !amx.tile<16x16xi32>
// CHECK: scf.for
// CHECK-COUNT-64: arith.sitofp %{{.*}} : vector<16xi32> to vector<16xf32>
// No loop over the groups' zero-point terms before the stores.
// CHECK-NOT: scf.for
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] : memref<?x16xf32>, vector<16xf32>
// NOAMX-LABEL: func.func @q4
// NOAMX-NOT: amx.
// NOAMX: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd
// LLVMIR-LABEL: define void @q4
// LLVMIR: call x86_amx @llvm.x86.tileloadd64.internal(i16 16, i16 32, ptr {{.*}}, i64 32)
// LLVMIR: call x86_amx @llvm.x86.tdpbssd.internal(i16 16, i16 64, i16 32,
func.func @q4(%x: memref<?x256xf32>, %c: memref<16x128xi8>, %s: memref<16x8xf32>, %y: memref<?x16xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x256xf32>) weight(%c, %s : memref<16x128xi8>, memref<16x8xf32>) outs(%y : memref<?x16xf32>) {weight_type = !qopt.qtensor<16x256xf32, bits = 4, group = 32, sym>}
  return
}

// 2 bits, asymmetric groups of 16 (Q2_K's sub-blocks): lane sets of 16
// elements, 4 words, so K = 16 bytes per tdpbsud; the zero-point factors
// are packed beside the scales. Asymmetric: unsigned codes, tdpbsud
// (`zext` on the codes), and the zero-point terms group by group.
// CHECK-LABEL: func.func @q2
// CHECK-NOT: arith.subi %{{.*}} : vector<64xi8>
// CHECK: amx.tile_load %{{.*}}[%{{.*}}, %{{.*}}], %{{.*}} : memref<?x4096xi8> into !amx.tile<16x16xi8>
// CHECK: amx.tile_load %{{.*}}[%{{.*}}, %{{.*}}] : memref<64x64xi8, strided<[64, 1], offset: ?>> into !amx.tile<4x64xi8>
// CHECK: amx.tile_muli %{{.*}}, %{{.*}} zext, %{{.*}} : !amx.tile<16x16xi8>, !amx.tile<4x64xi8>, !amx.tile<16x16xi32>
// CHECK: scf.for {{.*}} iter_args
// CHECK: vector.fma
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] : memref<?x16xf32>, vector<16xf32>
// NOAMX-LABEL: func.func @q2
// NOAMX-NOT: amx.
func.func @q2(%x: memref<?x256xf32>, %c: memref<16x64xi8>, %s: memref<16x16xf32>, %z: memref<16x16xf32>, %y: memref<?x16xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x256xf32>) weight(%c, %s, %z : memref<16x64xi8>, memref<16x16xf32>, memref<16x16xf32>) outs(%y : memref<?x16xf32>) {weight_type = !qopt.qtensor<16x256xf32, bits = 2, group = 16, asym>}
  return
}
