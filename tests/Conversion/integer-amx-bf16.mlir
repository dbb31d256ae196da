// The packed GEMM of the integer path on bf16 AMX tiles (amx-bf16=true,
// vector width 16; AmxBf16.cpp). Calls of panel-tokens tokens or more skip
// the int8 quantization of the activations (every row is in a whole panel)
// and copy them once to bf16 B tiles: per 16 tokens and superblock, the
// f32 values rounded to bf16, shuffled into the plan's order and
// transposed to pairs (row r of a 32-column chunk holds elements 2r, 2r + 1
// of the 16 tokens). Each panel of 16 weight rows is dequantized once per
// call to bf16 A tiles (scale * (code - zero) in f32, then rounded), chunk
// by chunk. The micro-kernel holds 2 x 2 f32 accumulator tiles (two panels
// x 32 tokens) across a block of 8 column chunks: two weight and two
// activation tile loads and four tdpbf16ps per chunk; the first block
// starts from zero, later ones load the block's sums back. The sums are
// transposed into y.
// Without the option, or at vector width 8, the int8 micro-kernels.
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16 int8-activations=true int-dot=vnni amx-bf16=true" | FileCheck %s
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16 int8-activations=true int-dot=vnni amx=true" | FileCheck %s --check-prefix=NOBF16
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=8 int8-activations=true int-dot=vnni amx-bf16=true" | FileCheck %s --check-prefix=NOBF16
// RUN: qopt-opt %s --qopt-to-llvm="vector-width=16 int8-activations=true int-dot=vnni amx-bf16=true" | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR

// 4 bits, groups of 32, 32 rows (two panels), 512 columns (16 chunks: two
// blocks of 8).
// CHECK-LABEL: func.func @q4
// CHECK: %[[MANY:.*]] = arith.cmpi uge, %{{.*}}, %c8
// CHECK: %[[QUANTIZED:.*]] = arith.select %[[MANY]], %c0{{.*}}, %{{.*}} : index
// CHECK: memref.alloc(%[[QUANTIZED]]) {alignment = 64 : i64} : memref<?x512xi8>
// CHECK: scf.if %[[MANY]] {
// CHECK: memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x8192xbf16>
// CHECK: arith.truncf %{{.*}} : vector<32xf32> to vector<32xbf16>
// CHECK: vector.bitcast %{{.*}} : vector<128xbf16> to vector<64xi32>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<512x32xbf16>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<512x16xf32>
// CHECK: arith.subf %{{.*}} : vector<64xf32>
// CHECK: arith.mulf %{{.*}} : vector<64xf32>
// CHECK: arith.truncf %{{.*}} : vector<64xf32> to vector<64xbf16>
// CHECK: amx.tile_zero : !amx.tile<16x16xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (!amx.tile<16x16xf32>, !amx.tile<16x16xf32>, !amx.tile<16x16xf32>, !amx.tile<16x16xf32>)
// CHECK: %[[A0:.*]] = amx.tile_load %{{.*}}[%{{.*}}, %{{.*}}], %c32{{.*}} : memref<?x8192xbf16> into !amx.tile<16x32xbf16>
// CHECK: %[[A1:.*]] = amx.tile_load %{{.*}}[%{{.*}}, %{{.*}}], %c32{{.*}} : memref<?x8192xbf16> into !amx.tile<16x32xbf16>
// CHECK: %[[W0:.*]] = amx.tile_load %{{.*}}[%{{.*}}, %{{.*}}] : memref<512x32xbf16> into !amx.tile<16x32xbf16>
// CHECK: %[[W1:.*]] = amx.tile_load %{{.*}}[%{{.*}}, %{{.*}}] : memref<512x32xbf16> into !amx.tile<16x32xbf16>
// CHECK: amx.tile_mulf %[[W0]], %[[A0]]
// CHECK: amx.tile_mulf %[[W1]], %[[A0]]
// CHECK: amx.tile_mulf %[[W0]], %[[A1]]
// CHECK: amx.tile_mulf %[[W1]], %[[A1]]
// CHECK: amx.tile_store %{{.*}} : memref<512x16xf32>, !amx.tile<16x16xf32>
// The second block of columns adds to the first's sums.
// CHECK: amx.tile_load %{{.*}} : memref<512x16xf32> into !amx.tile<16x16xf32>
// CHECK: amx.tile_mulf
// CHECK: vector.store %{{.*}}, %arg3[%{{.*}}, %{{.*}}] : memref<?x32xf32>, vector<16xf32>
// NOBF16-LABEL: func.func @q4
// NOBF16-NOT: bf16
// NOBF16-NOT: tile_mulf
// LLVMIR: call x86_amx @llvm.x86.tdpbf16ps.internal(i16 16, i16 64, i16 64,
func.func @q4(%x: memref<?x512xf32>, %c: memref<32x256xi8>, %s: memref<32x16xf32>, %y: memref<?x32xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x512xf32>) weight(%c, %s : memref<32x256xi8>, memref<32x16xf32>) outs(%y : memref<?x32xf32>) {weight_type = !qopt.qtensor<32x512xf32, bits = 4, group = 32, sym>}
  return
}

// Asymmetric weights are dequantized as the exact path does, a * (v - z)
// with the zero points read as the scales are. One panel (16 rows): no
// pairs of panels.
// CHECK-LABEL: func.func @q2
// CHECK: scf.if
// CHECK: vector.load %arg3{{.*}} : memref<16x16xf32>, vector<16xf32>
// CHECK: arith.subf %{{.*}} : vector<64xf32>
// CHECK: arith.mulf %{{.*}} : vector<64xf32>
// CHECK: arith.truncf %{{.*}} : vector<64xf32> to vector<64xbf16>
// CHECK-NOT: iter_args({{.*}}) -> (!amx.tile<16x16xf32>, !amx.tile<16x16xf32>, !amx.tile<16x16xf32>, !amx.tile<16x16xf32>)
// CHECK: amx.tile_mulf
// CHECK: return
func.func @q2(%x: memref<?x256xf32>, %c: memref<16x64xi8>, %s: memref<16x16xf32>, %z: memref<16x16xf32>, %y: memref<?x16xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x256xf32>) weight(%c, %s, %z : memref<16x64xi8>, memref<16x16xf32>, memref<16x16xf32>) outs(%y : memref<?x16xf32>) {weight_type = !qopt.qtensor<16x256xf32, bits = 2, group = 16, asym>}
  return
}
