// The integer matmul path of convert-qopt-kernels-to-loops (int8
// activations, IntegerMatmul.cpp).
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16 int8-activations=true int-dot=vnni" | FileCheck %s
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=8 int8-activations=true int-dot=vnni" | FileCheck %s --check-prefix=W8
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16 int8-activations=true" | FileCheck %s --check-prefix=GENERIC
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16" | FileCheck %s --check-prefix=EXACT
// RUN: not qopt-opt %s --convert-qopt-kernels-to-loops="int8-activations=true int-dot=amx" 2>&1 | FileCheck %s --check-prefix=BADDOT
// RUN: not qopt-opt %s --convert-qopt-kernels-to-loops="int8-activations=true token-tile=0" 2>&1 | FileCheck %s --check-prefix=BADTILE
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16 int8-activations=true int-dot=vnni panel-tokens=32" | FileCheck %s --check-prefix=PANEL
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16 int8-activations=true panel-tokens=0" | FileCheck %s --check-prefix=NOPANEL
// RUN: not qopt-opt %s --convert-qopt-kernels-to-loops="int8-activations=true panel-tokens=-1" 2>&1 | FileCheck %s --check-prefix=BADPANEL
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16 int8-activations=true int-dot=vnni panel-tokens=0 decode-prefetch-bits=3" | FileCheck %s --check-prefix=NOPF
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops="vector-width=16 int8-activations=true int-dot=vnni panel-tokens=0 decode-prefetch-bits=4" | FileCheck %s --check-prefix=PF4
// RUN: not qopt-opt %s --convert-qopt-kernels-to-loops="int8-activations=true decode-prefetch-bits=9" 2>&1 | FileCheck %s --check-prefix=BADPF
// RUN: qopt-opt %s --qopt-to-llvm="vector-width=16 int8-activations=true int-dot=vnni" | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR

// BADDOT: int-dot must be 'vnni' or 'generic', got 'amx'
// BADTILE: token-tile must be in [1, 16], got 0
// BADPANEL: panel-tokens must be >= 0, got -1
// BADPF: decode-prefetch-bits must be in [0, 8], got 9

// decode-prefetch-bits: the 4-bit rows of @q4 prefetch the next row in
// decode at 4 bits or more (8, the default: CHECK below), not at 3 (the
// choice for AMD Zen, decodePrefetchBitsFor): nothing between the decode
// loop's header (one accumulator) and its first vpdpbusd.
// NOPF-LABEL: func.func @q4
// NOPF: scf.for {{.*}} iter_args(%{{[a-z0-9_]+}} = %{{[a-z0-9_]+}}) -> (vector<16xf32>) {
// NOPF-NOT: memref.prefetch
// NOPF: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// PF4-LABEL: func.func @q4
// PF4: memref.prefetch %{{.*}} : memref<16x128xi8>

// The packed GEMM (IntegerPanels.cpp) for calls of panel-tokens tokens or
// more: the 16 rows are one panel. Its codes are unpacked once per call,
// superblock by superblock, and interleaved by a 16 x 16 transposition of
// i32 words (four stages of two-source shuffles) into [superblock * 16 +
// chunk, 64] bytes; the weight scales are transposed to [group, 16] (with
// symmetric weights they are also the zero-point factors, the zero being
// in the activations' group sums). The micro-kernel keeps 8 tokens x
// 16 rows: each chunk of codes is loaded once and meets each token's four
// activation codes broadcast to every lane; the 8 chunks of one 32-block
// accumulate in i32 before one conversion and FMA per token. Remainder
// tokens take a tile of one; y is stored 16 rows at a time. Fewer tokens:
// the row-wise kernel.
// PANEL-LABEL: func.func @q4
// PANEL: %[[MANY:.*]] = arith.cmpi uge, %{{.*}}, %c32 : index
// PANEL: scf.if %[[MANY]] {
// PANEL: scf.parallel (%{{.*}}) = (%{{.*}}) to (%c1{{.*}})
// PANEL: %[[PC:.*]] = memref.alloc() {alignment = 64 : i64} : memref<64x64xi8>
// PANEL: %[[PS:.*]] = memref.alloc() {alignment = 64 : i64} : memref<8x16xf32>
// PANEL-NOT: memref.alloc
// First every panel of the thread's run is packed into its part of the
// run's buffers.
// PANEL: %[[SS:.*]] = memref.subview %[[PS]][%{{.*}}, 0] [8, 16] [1, 1]
// PANEL: %[[SC:.*]] = memref.subview %[[PC]][%{{.*}}, 0] [64, 64] [1, 1]
// PANEL: vector.bitcast %{{.*}} : vector<64xi8> to vector<16xi32>
// PANEL: vector.shuffle %{{.*}}, %{{.*}} [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23] : vector<16xi32>, vector<16xi32>
// PANEL: vector.shuffle %{{.*}}, %{{.*}} [0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30] : vector<16xi32>, vector<16xi32>
// PANEL-COUNT-16: vector.store %{{.*}}, %[[SC]][%{{.*}}, %{{.*}}] : memref<64x64xi8, strided<[64, 1], offset: ?>>, vector<64xi8>
// PANEL: memref.load %{{.*}} : memref<16x8xf32>
// PANEL: vector.from_elements
// PANEL: vector.store %{{.*}}, %[[SS]]
// Then the tokens, 128 at a time (a block), each block over the run's
// panels.
// PANEL: %[[BLOCKS:.*]] = arith.divui %{{.*}}, %c128{{.*}} : index
// PANEL: scf.for %{{.*}} = %{{.*}} to %[[BLOCKS]] step %c1
// PANEL: %[[TS:.*]] = memref.subview %[[PS]]
// PANEL: %[[TC:.*]] = memref.subview %[[PC]]
// PANEL: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c8
// PANEL: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// PANEL: %[[W:.*]] = vector.load %[[TC]][%{{.*}}, %{{.*}}] : memref<64x64xi8, strided<[64, 1], offset: ?>>, vector<64xi8>
// PANEL: %[[WORD:.*]] = vector.load %{{.*}}[%{{.*}}, %{{.*}}] : memref<?x256xi8>, vector<4xi8>
// PANEL: vector.broadcast %{{.*}} : i32 to vector<16xi32>
// PANEL: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%{{.*}}, %[[W]], %{{.*}})
// PANEL-COUNT-63: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// PANEL-NOT: vector.load %[[TC]]
// PANEL: vector.load %[[TS]]
// PANEL: arith.sitofp %{{.*}} : vector<16xi32> to vector<16xf32>
// PANEL: vector.fma
// PANEL: vector.load %[[TS]]
// PANEL: vector.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] : memref<?x16xf32>, vector<16xf32>
// PANEL: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c1
// PANEL: memref.dealloc %[[PC]]
// PANEL-NOT: } else {
// PANEL: %[[FIRST:.*]] = arith.select %[[MANY]], %c16, %c0{{.*}} : index
// PANEL: scf.parallel (%{{.*}}) = (%[[FIRST]]) to (%c16{{.*}})
// With 16 groups or more, the scales are transposed 16 groups at a time
// like the codes (the 8 groups of @q4 take the scalar loop).
// PANEL-LABEL: func.func @q4_wide
// PANEL: %[[WS:.*]] = memref.alloc() {alignment = 64 : i64} : memref<16x16xf32>
// PANEL: %[[WSV:.*]] = memref.subview %[[WS]]
// PANEL: vector.load %{{.*}} : memref<16x16xf32>, vector<16xf32>
// PANEL: vector.shuffle %{{.*}}, %{{.*}} [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23] : vector<16xf32>, vector<16xf32>
// PANEL: vector.store %{{.*}}, %[[WSV]]
// NOPANEL-LABEL: func.func @q4
// NOPANEL-NOT: scf.if
// NOPANEL: scf.parallel (%{{.*}}) = (%{{.*}}) to (%c16{{.*}})
// NOPANEL-LABEL: func.func @nested

// 4-bit symmetric groups of 32 (q4_0): the activations are quantized once
// per call into a buffer, codes in the weight's byte order: a superblock of
// 128 elements is 64 storage bytes, whose low nibbles (elements 0, 2, 4,
// ...) are the first part and high nibbles the second; i32 lane l of both
// parts holds elements 8l .. 8l + 7, one group and one block. Then each row
// unpacks a superblock with one mask and one shift and meets four tokens
// at a time with two chained vpdpbusd (the parts sum in i32) before one
// conversion and FMA; the four group scales of the superblock become a
// lane vector; the zero-point correction is an f32 dot product over the
// row's groups (8 here: scalar).
// CHECK-LABEL: func.func @q4
// CHECK: %[[QX:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x256xi8>
// CHECK: %[[SX:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x32xf32>
// CHECK: %[[GS:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x8xf32>
// CHECK: scf.parallel
// CHECK: vector.reduction <maximumf>
// CHECK: math.roundeven %{{.*}} : vector<32xf32>
// CHECK: arith.fptosi %{{.*}} : vector<32xf32> to vector<32xi32>
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [0, 2, 4, 6,
// CHECK-SAME: 126, 1, 3, 5,
// CHECK: vector.store %{{.*}}, %[[QX]]{{.*}} : memref<?x256xi8>, vector<128xi8>
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3] : vector<4xf32>, vector<4xf32>
// CHECK: vector.store %{{.*}}, %[[SX]]
// CHECK: %[[FIRST:.*]] = arith.select %{{.*}}, %c16, %c0{{.*}} : index
// CHECK: scf.parallel (%[[N:.*]]) = (%[[FIRST]]) to (%c16{{.*}})
// CHECK: scf.for %[[T0:.*]] = %{{.*}} to %{{.*}} step %c4
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-NOT: memref.prefetch
// CHECK: %[[B:.*]] = vector.load %{{.*}}[%[[N]], %{{.*}}] : memref<16x128xi8>, vector<64xi8>
// CHECK: %[[LO:.*]] = arith.andi %[[B]]
// CHECK: %[[HI:.*]] = arith.shrui %[[B]]
// CHECK: vector.load %{{.*}}[%[[N]], %{{.*}}] : memref<16x8xf32>, vector<4xf32>
// CHECK: %[[A0:.*]] = vector.load %[[QX]][%{{.*}}, %{{.*}}] : memref<?x256xi8>, vector<64xi8>
// CHECK: %[[D0:.*]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%{{.*}}, %[[LO]], %[[A0]]) : (vector<16xi32>, vector<64xi8>, vector<64xi8>) -> vector<16xi32>
// CHECK: %[[A1:.*]] = vector.load %[[QX]][%{{.*}}, %{{.*}}] : memref<?x256xi8>, vector<64xi8>
// CHECK: %[[D1:.*]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%[[D0]], %[[HI]], %[[A1]])
// CHECK: arith.sitofp %[[D1]] : vector<16xi32> to vector<16xf32>
// CHECK: vector.fma
// CHECK-COUNT-6: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// CHECK: scf.yield
// CHECK: memref.load %[[GS]]
// The remainder tokens, one at a time (all of a decode step): each
// superblock first prefetches the same superblock of the next row
// (clamped to the last), and at every 4th superblock (one 64-byte line of
// f32 scales) that row's scales.
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c1{{.*}} {
// CHECK: %[[NEXT:.*]] = arith.minui %{{.*}}, %c15 : index
// CHECK: scf.for %[[SB:.*]] = %{{.*}} to %{{.*}} step %c1{{.*}} iter_args({{.*}}) -> (vector<16xf32>)
// CHECK: memref.prefetch %{{.*}}[%[[NEXT]], %{{.*}}], read, locality<3>, data : memref<16x128xi8>
// CHECK: arith.remui %[[SB]], %c4{{.*}} : index
// CHECK: scf.if
// CHECK: memref.prefetch %{{.*}}[%[[NEXT]], %{{.*}}], read, locality<3>, data : memref<16x8xf32>
// CHECK: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// CHECK-NOT: qopt.schedule
// CHECK: memref.dealloc %[[QX]]
// W8-LABEL: func.func @q4
// W8: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"({{.*}}) : (vector<8xi32>, vector<32xi8>, vector<32xi8>) -> vector<8xi32>
// GENERIC-LABEL: func.func @q4
// GENERIC-NOT: llvm.call_intrinsic
// GENERIC: arith.extui %{{.*}} : vector<64xi8> to vector<64xi32>
// GENERIC: arith.extsi %{{.*}} : vector<64xi8> to vector<64xi32>
// GENERIC: arith.muli %{{.*}} : vector<64xi32>
// GENERIC-LABEL: func.func @nested
// EXACT-LABEL: func.func @q4
// EXACT-NOT: memref.alloc
// EXACT-NOT: llvm.call_intrinsic
// EXACT: arith.uitofp
// LLVMIR: call <16 x i32> @llvm.x86.avx512.vpdpbusd.512(<16 x i32> {{.*}}, <64 x i8> {{.*}}, <64 x i8> {{.*}})
func.func @q4(%x: memref<?x256xf32>, %c: memref<16x128xi8>, %s: memref<16x8xf32>, %y: memref<?x16xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x256xf32>) weight(%c, %s : memref<16x128xi8>, memref<16x8xf32>) outs(%y : memref<?x16xf32>) {weight_type = !qopt.qtensor<16x256xf32, bits = 4, group = 32, sym>}
  return
}

func.func @q4_wide(%x: memref<?x512xf32>, %c: memref<16x256xi8>, %s: memref<16x16xf32>, %y: memref<?x16xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x512xf32>) weight(%c, %s : memref<16x256xi8>, memref<16x16xf32>) outs(%y : memref<?x16xf32>) {weight_type = !qopt.qtensor<16x512xf32, bits = 4, group = 32, sym>}
  return
}

// A nested int8 weight served at 2 bits: the top 3 planes are read as
// 64-lane masks; the code is 2 * b0 + b1 plus the rounding bit b2, clamped
// to 3. Asymmetric: the zero points join the group correction.
// CHECK-LABEL: func.func @nested
// CHECK-COUNT-3: vector.bitcast %{{.*}} : vector<8xi8> to vector<64xi1>
// CHECK-NOT: vector.bitcast
// CHECK: arith.minui %{{.*}}, %{{.*}} : vector<64xi8>
// CHECK: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
func.func @nested(%x: memref<?x128xf32>, %c: memref<8x8x16xi8>, %s: memref<8x1xf32>, %z: memref<8x1xf32>, %y: memref<?x8xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x128xf32>) weight(%c, %s, %z : memref<8x8x16xi8>, memref<8x1xf32>, memref<8x1xf32>) outs(%y : memref<?x8xf32>) {weight_type = !qopt.qtensor<8x128xf32, bits = 2, parent = 8, group = 128, asym, layout = nested>}
  return
}

// Widths that do not divide 8 (the K-quants' Q6_K: 6 bits, groups of 16).
// Units of 4 codes in 3 bytes: part i gathers byte i * 6 / 8 of every unit
// (a 48 -> 16 byte shuffle), shifts it, ORs in the next byte where the code
// straddles two (parts 1 and 2) and masks. Each 32-element activation block
// gives two int8 sums, one per group of 16 (two 16-lane shuffles).
// CHECK-LABEL: func.func @six_bits
// CHECK-DAG: vector.shuffle %{{.*}}, %{{.*}} [0, 3, 6, {{.*}}] : vector<48xi8>, vector<48xi8>
// CHECK-DAG: vector.shuffle %{{.*}}, %{{.*}} [16, 17, {{.*}}] : vector<32xi32>, vector<32xi32>
// CHECK-DAG: arith.shli %{{.*}}, %{{.*}} : vector<16xi8>
// CHECK: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
func.func @six_bits(%x: memref<?x64xf32>, %c: memref<4x48xi8>, %s: memref<4x4xf32>, %y: memref<?x4xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x64xf32>) weight(%c, %s : memref<4x48xi8>, memref<4x4xf32>) outs(%y : memref<?x4xf32>) {weight_type = !qopt.qtensor<4x64xf32, bits = 6, group = 16, sym>}
  return
}

// 3 bits (Q3_K): units of 8 codes in 3 bytes, and groups of 16: the part
// order would put two groups in one lane, so one more shuffle puts the 64
// codes in element order (element 1 is at byte 8 of the parts).
// CHECK-LABEL: func.func @three_bits
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [0, 8, 16, 24, 32, 40, 48, 56, 1, 9, {{.*}}] : vector<64xi8>, vector<64xi8>
// CHECK: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
func.func @three_bits(%x: memref<?x64xf32>, %c: memref<4x24xi8>, %s: memref<4x4xf32>, %y: memref<?x4xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x64xf32>) weight(%c, %s : memref<4x24xi8>, memref<4x4xf32>) outs(%y : memref<?x4xf32>) {weight_type = !qopt.qtensor<4x64xf32, bits = 3, group = 16, sym>}
  return
}

// Weights the integer path cannot serve keep the exact path: groups of 8,
// and columns that are not a multiple of 32.
// CHECK-LABEL: func.func @exact_fallback
// CHECK-NOT: llvm.call_intrinsic
// CHECK: arith.uitofp
// CHECK-NOT: llvm.call_intrinsic
// CHECK: return
func.func @exact_fallback(%x: memref<?x64xf32>, %c: memref<4x24xi8>, %s: memref<4x8xf32>, %x2: memref<?x40xf32>, %c2: memref<4x40xi8>, %s2: memref<4x1xf32>, %y: memref<?x4xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x64xf32>) weight(%c, %s : memref<4x24xi8>, memref<4x8xf32>) outs(%y : memref<?x4xf32>) {weight_type = !qopt.qtensor<4x64xf32, bits = 3, group = 8, sym>}
  qopt.kernel_matmul ins(%x2 : memref<?x40xf32>) weight(%c2, %s2 : memref<4x40xi8>, memref<4x1xf32>) outs(%y : memref<?x4xf32>) {weight_type = !qopt.qtensor<4x40xf32, bits = 8, per_channel, sym>}
  return
}

// Q2_K's shape (2 bits, asymmetric groups of 16) with 256 columns: one
// superblock of 256 elements, its 64 storage bytes unpacked by shifts and
// masks into four parts; lane l of every part is in group l, so the four
// vpdpbusd chain into one i32 accumulator and the 16 group scales load as
// one vector, in lane order.
// CHECK-LABEL: func.func @two_bits_wide
// CHECK: vector.load %{{.*}} : memref<4x64xi8>, vector<64xi8>
// CHECK-COUNT-3: arith.shrui %{{.*}} : vector<64xi8>
// CHECK: %[[S16:.*]] = vector.load %{{.*}} : memref<4x16xf32>, vector<16xf32>
// CHECK-NOT: vector.shuffle %[[S16]]
// CHECK: %[[C0:.*]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// CHECK: %[[C1:.*]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%[[C0]],
// CHECK: %[[C2:.*]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%[[C1]],
// CHECK: %[[C3:.*]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%[[C2]],
// CHECK: arith.sitofp %[[C3]]
func.func @two_bits_wide(%x: memref<?x256xf32>, %c: memref<4x64xi8>, %s: memref<4x16xf32>, %z: memref<4x16xf32>, %y: memref<?x4xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x256xf32>) weight(%c, %s, %z : memref<4x64xi8>, memref<4x16xf32>, memref<4x16xf32>) outs(%y : memref<?x4xf32>) {weight_type = !qopt.qtensor<4x256xf32, bits = 2, group = 16, asym>}
  return
}

// Q3_K's shape (3 bits, groups of 16) with 256 columns: a 3-byte unit of 8
// codes spans two groups, so the codes are gathered instead: per half part
// (32 codes), a shuffle of the superblock's 96 bytes into 16-bit windows,
// a shift by each code's bit offset, a mask and a truncation. Lane l of
// part p holds elements 16l + 4p .. + 3: the four parts chain as above.
// CHECK-LABEL: func.func @three_bits_wide
// CHECK: %[[B3:.*]] = vector.load %{{.*}} : memref<4x96xi8>, vector<96xi8>
// CHECK: vector.shuffle %[[B3]], %[[B3]] [0, 1, 0, 1, 0, 1, 1, 2, 6, 7, 6, 7, 6, 7, 7, 8,
// CHECK: arith.shrui %{{.*}}, %{{.*}} : vector<32xi16>
// CHECK: arith.andi %{{.*}}, %{{.*}} : vector<32xi16>
// CHECK: arith.trunci %{{.*}} : vector<32xi16> to vector<32xi8>
// CHECK: %[[G0:.*]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// CHECK-COUNT-3: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%{{.*}}
// CHECK: arith.sitofp
func.func @three_bits_wide(%x: memref<?x256xf32>, %c: memref<4x96xi8>, %s: memref<4x16xf32>, %y: memref<?x4xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x256xf32>) weight(%c, %s : memref<4x96xi8>, memref<4x16xf32>) outs(%y : memref<?x4xf32>) {weight_type = !qopt.qtensor<4x256xf32, bits = 3, group = 16, sym>}
  return
}

// Rows of 4 KiB of codes or more (here 8-bit rows of 4096): the row-wise
// loop asks for a guided schedule (qopt.schedule); @q4's 128-byte rows ask
// for none.
// CHECK-LABEL: func.func @q8_wide
// CHECK: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// CHECK: } {qopt.schedule = "guided"}
func.func @q8_wide(%x: memref<?x4096xf32>, %c: memref<16x4096xi8>, %s: memref<16x128xf32>, %y: memref<?x16xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x4096xf32>) weight(%c, %s : memref<16x4096xi8>, memref<16x128xf32>) outs(%y : memref<?x16xf32>) {weight_type = !qopt.qtensor<16x4096xf32, bits = 8, group = 32, sym>}
  return
}
