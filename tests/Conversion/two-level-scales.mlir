// Two-level scales (`super = 256`, GGUF K-quants as imported) in the
// matmul kernels of convert-qopt-kernels-to-loops: each record's f16
// super-scale is two bytes bitcast to f16, its sub-scales one vector load
// (Q2_K's nibbles split and interleaved, even groups first), and the
// asymmetric records hold minimums.
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16 int8-activations=true int-dot=vnni" | FileCheck %s
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16" | FileCheck %s --check-prefix=EXACT
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16" | FileCheck %s --check-prefix=SYM

// The integer path: the lane scales d * s of a 256-element superblock (16
// groups of 16, lane l in group l), and the minimum records dmin * m for
// the correction terms; decode prefetches the next row's records once per
// record.
// CHECK-LABEL: func.func @q2k
// CHECK: %[[SUBS:.*]] = vector.load %[[S:.*]][%{{.*}}, %{{.*}}, %{{.*}}] : memref<16x2x10xi8>, vector<8xi8>
// CHECK: %[[LOW:.*]] = arith.andi %[[SUBS]]
// CHECK: %[[HIGH:.*]] = arith.shrui %[[SUBS]]
// CHECK: %[[NIB:.*]] = vector.shuffle %[[LOW]], %[[HIGH]] [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15] : vector<8xi8>, vector<8xi8>
// CHECK: %[[SF:.*]] = arith.uitofp %[[NIB]] : vector<16xi8> to vector<16xf32>
// CHECK: %[[DB:.*]] = vector.load %[[S]][%{{.*}}, %{{.*}}, %c0{{.*}}] : memref<16x2x10xi8>, vector<2xi8>
// CHECK: %[[DH:.*]] = vector.bitcast %[[DB]] : vector<2xi8> to vector<1xf16>
// CHECK: %[[D:.*]] = vector.extract %[[DH]][0] : f16 from vector<1xf16>
// CHECK: %[[DF:.*]] = arith.extf %[[D]] : f16 to f32
// CHECK: %[[DV:.*]] = vector.broadcast %[[DF]] : f32 to vector<16xf32>
// CHECK: arith.mulf %[[DV]], %[[SF]] : vector<16xf32>
// CHECK: vector.load %[[Z:.*]][%{{.*}}, %{{.*}}, %{{.*}}] : memref<16x2x10xi8>, vector<8xi8>
// CHECK: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// CHECK: memref.prefetch %{{.*}} : memref<16x128xi8>
// CHECK: memref.prefetch %[[S]][%{{.*}}, %{{.*}}, %c0{{.*}}], read, locality<3>, data : memref<16x2x10xi8>
// CHECK: memref.prefetch %[[Z]][%{{.*}}, %{{.*}}, %c0{{.*}}], read, locality<3>, data : memref<16x2x10xi8>
// The exact path: each weight is d * s * q - dmin * m (qopt.dequantize's
// value), summed against x without a per-group scale.
// EXACT-LABEL: func.func @q2k
// EXACT: vector.bitcast %{{.*}} : vector<2xi8> to vector<1xf16>
// EXACT: %[[A:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// EXACT: vector.bitcast %{{.*}} : vector<2xi8> to vector<1xf16>
// EXACT: %[[M:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// EXACT: %[[AQ:.*]] = arith.mulf %{{.*}}, %{{.*}} : vector<16xf32>
// EXACT: %[[W:.*]] = arith.subf %[[AQ]], %{{.*}} : vector<16xf32>
// EXACT: vector.fma %{{.*}}, %[[W]], %{{.*}} : vector<16xf32>
func.func @q2k(%x: memref<?x512xf32>, %c: memref<16x128xi8>, %s: memref<16x2x10xi8>, %z: memref<16x2x10xi8>, %y: memref<?x16xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x512xf32>) weight(%c, %s, %z : memref<16x128xi8>, memref<16x2x10xi8>, memref<16x2x10xi8>) outs(%y : memref<?x16xf32>) {weight_type = !qopt.qtensor<16x512xf32, bits = 2, group = 16, asym, scale = f16, super = 256, sub = 4>}
  return
}

// Signed 8-bit sub-scales (Q6_K), symmetric: the exact kernel keeps the
// scale per group, d * s, and subtracts the fixed zero point.
// SYM-LABEL: func.func @q6k
// SYM: %[[SUB:.*]] = memref.load %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] : memref<16x1x18xi8>
// SYM: arith.sitofp %[[SUB]] : i8 to f32
// SYM: arith.subf %{{.*}}, %{{.*}} : vector<16xf32>
func.func @q6k(%x: memref<?x256xf32>, %c: memref<16x192xi8>, %s: memref<16x1x18xi8>, %y: memref<?x16xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x256xf32>) weight(%c, %s : memref<16x192xi8>, memref<16x1x18xi8>) outs(%y : memref<?x16xf32>) {weight_type = !qopt.qtensor<16x256xf32, bits = 6, group = 16, sym, scale = f16, super = 256>}
  return
}
