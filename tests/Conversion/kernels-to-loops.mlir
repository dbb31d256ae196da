// RUN: qopt-opt %s --convert-qopt-kernels-to-loops | FileCheck %s
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops=vector-width=16 | FileCheck %s --check-prefix=W16
// RUN: not qopt-opt %s --convert-qopt-kernels-to-loops=vector-width=12 2>&1 | FileCheck %s --check-prefix=BADWIDTH
// RUN: qopt-opt %s --convert-qopt-kernels-to-loops=f16-activations=true | FileCheck %s --check-prefix=HALF

// BADWIDTH: vector-width must be 8, 16, 32 or 64, got 12

// f16-activations leaves quantized weights alone (they keep f32 activations
// here; int8-activations decides theirs): no f16 copy before @matmul_f16.
// HALF-NOT: memref<?x64xf16>

// Dense 3-bit codes: 8 codes are 3 bytes; each lane joins its byte and the
// next into 16 bits, shifts by its bit offset and masks. Each group's lane
// sums are scaled into one vector accumulator, reduced once per output.
// The output rows are a parallel loop (threads split them).
// CHECK-LABEL: func.func @matmul_dense3
// CHECK: scf.parallel (%[[N:.*]]) = ({{.*}}) to (%c32)
// CHECK: scf.for %[[T:.*]] = {{.*}} to %{{.*}}
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8xf32>, f32)
// CHECK: %[[B:.*]] = vector.load %{{.*}}[%[[N]], %{{.*}}] : memref<32x24xi8>, vector<3xi8>
// CHECK: vector.shuffle %[[B]], %[[B]] [0, 0, 0, 1, 1, 1, 2, 2]
// CHECK: vector.shuffle %[[B]], %[[B]] [1, 1, 1, 2, 2, 2, 2, 2]
// CHECK: arith.shrui %{{.*}}, %{{.*}} : vector<8xi16>
// CHECK: arith.uitofp %{{.*}} : vector<8xi16> to vector<8xf32>
// CHECK: vector.fma
// CHECK: vector.reduction <add>, %{{.*}}, %{{.*}} fastmath<reassoc> : vector<8xf32> into f32
// Quantized rows keep the default (static) schedule.
// CHECK-NOT: qopt.schedule
// W16-LABEL: func.func @matmul_dense3
// W16: vector.load %{{.*}} : memref<32x24xi8>, vector<6xi8>
func.func @matmul_dense3(%x: memref<?x64xf32>, %c: memref<32x24xi8>, %s: memref<32x2xf32>, %z: memref<32x2xf32>, %y: memref<?x32xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x64xf32>) weight(%c, %s, %z : memref<32x24xi8>, memref<32x2xf32>, memref<32x2xf32>) outs(%y : memref<?x32xf32>) {weight_type = !qopt.qtensor<32x64xf32, bits = 3, group = 32, asym>}
  return
}

// 4-bit codes: low and high nibbles, interleaved back into element order.
// CHECK-LABEL: func.func @matmul_dense4
// CHECK: vector.load %{{.*}} : memref<32x32xi8>, vector<4xi8>
// CHECK: arith.shrui %{{.*}}, %{{.*}} : vector<4xi8>
// CHECK: vector.interleave %{{.*}}, %{{.*}} : vector<4xi8> -> vector<8xi8>
func.func @matmul_dense4(%x: memref<?x64xf32>, %c: memref<32x32xi8>, %s: memref<32x2xf32>, %y: memref<?x32xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x64xf32>) weight(%c, %s : memref<32x32xi8>, memref<32x2xf32>) outs(%y : memref<?x32xf32>) {weight_type = !qopt.qtensor<32x64xf32, bits = 4, group = 32, sym>}
  return
}

// Nested bit planes served at a run-time width r (clamped to [1, 8]): one
// copy of the kernel per width, picked once per call by scf.index_switch.
// Each copy reads a static number of planes, the top min(r + 1, 8): one
// byte of each plane spread over 8 lanes, bits tested and OR-ed, then the
// Matryoshka rounding in parent units. Width 1 reads planes 0 and 1.
// CHECK-LABEL: func.func @matmul_nested_runtime
// CHECK-SAME: %[[R:[^:]*]]: index
// CHECK: %[[W:.*]] = arith.index_cast %[[R]] : index to i32
// CHECK: arith.maxsi %[[W]], %c1_i32
// CHECK: arith.minsi %{{.*}}, %c8_i32
// CHECK: scf.index_switch
// CHECK: case 1 {
// CHECK: %[[TOP:.*]] = arith.addi %c1_i32{{.*}}, %c1_i32
// CHECK: arith.minui %[[TOP]], %c8_i32
// CHECK: scf.for %[[P:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %{{.*}}) -> (vector<8xi32>)
// CHECK: vector.load %{{.*}}[%[[P]], %{{.*}}, %{{.*}}] : memref<8x32x8xi8>, vector<1xi8>
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [0, 0, 0, 0, 0, 0, 0, 0]
// CHECK: arith.cmpi ne
// CHECK: arith.select
// CHECK: arith.minui %{{.*}}, %{{.*}} : vector<8xi32>
// CHECK: arith.shli %{{.*}}, %{{.*}} : vector<8xi32>
// CHECK: case 7 {
// CHECK: default {
// CHECK: arith.addi %c8_i32{{.*}}, %c1_i32
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %{{.*}}) -> (vector<8xi32>)
func.func @matmul_nested_runtime(%x: memref<?x64xf32>, %c: memref<8x32x8xi8>, %s: memref<32x2xf16>, %z: memref<32x2xf16>, %r: index, %y: memref<?x32xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x64xf32>) weight(%c, %s, %z : memref<8x32x8xi8>, memref<32x2xf16>, memref<32x2xf16>) width(%r) outs(%y : memref<?x32xf32>) {weight_type = !qopt.qtensor<32x64xf16, bits = 8, group = 32, asym, layout = nested>}
  return
}

// A shorter last group (172 = 5 * 32 + 12): group bounds are clamped to the
// row, vectors cover what they can and a scalar loop does the rest.
// CHECK-LABEL: func.func @matmul_short_group
// CHECK: scf.for %{{.*}} = %{{.*}} to %c6 step
// CHECK: %[[K1:.*]] = arith.minui %{{.*}}, %c172
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c8{{.*}} iter_args
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[K1]] step %c1{{.*}} iter_args
func.func @matmul_short_group(%x: memref<?x172xf32>, %c: memref<16x172xi8>, %s: memref<16x6xf32>, %y: memref<?x16xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x172xf32>) weight(%c, %s : memref<16x172xi8>, memref<16x6xf32>) outs(%y : memref<?x16xf32>) {weight_type = !qopt.qtensor<16x172xf32, bits = 8, group = 32, sym>}
  return
}

// A plain f16 weight. From a tile's tokens on (2 at 8 lanes, 6 at 16):
// tiles of 4 rows x those tokens, one vector accumulator per (row, token),
// each weight and activation vector loaded once per step (the rows first,
// then each token's vector followed by its 4 FMAs), one reduction per
// output; then the tokens after the last tile row by row. Decode (the
// else branch): one row at a time, four vector accumulators, widened loads.
// CHECK-LABEL: func.func @matmul_f16
// CHECK: scf.if
// CHECK: scf.parallel
// CHECK: scf.for %{{.*}} step %c2
// CHECK: scf.for %{{.*}} step %c8{{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK-COUNT-4: arith.extf %{{.*}} : vector<8xf16> to vector<8xf32>
// CHECK-COUNT-8: vector.fma
// CHECK-NOT: vector.fma
// CHECK-COUNT-8: vector.reduction <add>
// CHECK-NOT: qopt.schedule
// CHECK: } else {
// CHECK: scf.parallel
// CHECK: arith.extf %{{.*}} : vector<8xf16> to vector<8xf32>
// CHECK-COUNT-4: vector.fma
// CHECK: arith.addf %{{.*}}, %{{.*}} fastmath<reassoc> : vector<8xf32>
// Rows of 128 bytes ask for no schedule (static; below).
// CHECK-NOT: qopt.schedule
// W16-LABEL: func.func @matmul_f16
// W16: scf.for %{{.*}} step %c6
// W16: scf.for %{{.*}} step %c16
// W16-COUNT-4: arith.extf %{{.*}} : vector<16xf16> to vector<16xf32>
// W16-NEXT: arith.constant
// W16-NEXT: arith.addi
// W16-NEXT: vector.load %{{.*}} : memref<?x64xf32>, vector<16xf32>
// W16-COUNT-4: vector.fma
// W16-NEXT: arith.constant
// W16-NEXT: arith.addi
// W16-NEXT: vector.load %{{.*}} : memref<?x64xf32>, vector<16xf32>
// W16-COUNT-4: vector.fma
// W16-NEXT: arith.constant
// W16-NEXT: arith.addi
// W16-NEXT: vector.load %{{.*}} : memref<?x64xf32>, vector<16xf32>
// W16-COUNT-4: vector.fma
// W16-NEXT: arith.constant
// W16-NEXT: arith.addi
// W16-NEXT: vector.load %{{.*}} : memref<?x64xf32>, vector<16xf32>
// W16-COUNT-4: vector.fma
// W16-NEXT: arith.constant
// W16-NEXT: arith.addi
// W16-NEXT: vector.load %{{.*}} : memref<?x64xf32>, vector<16xf32>
// W16-COUNT-4: vector.fma
// W16-NEXT: arith.constant
// W16-NEXT: arith.addi
// W16-NEXT: vector.load %{{.*}} : memref<?x64xf32>, vector<16xf32>
// W16-COUNT-4: vector.fma
// W16-NOT: vector.fma
// W16-COUNT-24: vector.reduction <add>
// With f16-activations: each token's activations are scaled by a power of
// two (from the exponent of their max |x|), rounded to f16 once, and read
// in f16 by the row-wise dot and widened once into an f32 copy for the
// tiles; every sum is multiplied by the token's inverse scale.
// HALF-LABEL: func.func @matmul_f16
// HALF: %[[XH:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x64xf16>
// HALF: %[[INV:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?xf32>
// HALF: vector.reduction <maximumf>
// HALF: arith.shrui %{{.*}}, %c23_i32
// HALF: arith.subi %c268_i32
// HALF: memref.store %{{.*}}, %[[INV]]
// HALF: arith.truncf %{{.*}} : vector<8xf32> to vector<8xf16>
// HALF: vector.store %{{.*}}, %[[XH]]
// HALF: scf.if
// HALF: %[[XT:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x64xf32>
// HALF: vector.load %[[XH]]
// HALF: vector.store %{{.*}}, %[[XT]]
// HALF: vector.load %[[XT]]
// HALF: memref.load %[[INV]]
// HALF: memref.dealloc %[[XT]]
// HALF: } else {
// HALF: scf.parallel
// HALF: vector.load %[[XH]]{{.*}} : memref<?x64xf16>, vector<8xf16>
// HALF: memref.load %[[INV]]
// HALF: memref.dealloc %[[XH]]
// HALF: memref.dealloc %[[INV]]
// HALF: return
func.func @matmul_f16(%x: memref<?x64xf32>, %w: memref<32x64xf16>, %y: memref<?x32xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x64xf32>) weight(%w : memref<32x64xf16>) outs(%y : memref<?x32xf32>) {weight_type = tensor<32x64xf16>}
  return
}

// Rows of 4 KiB or more: the decode's row loop asks for a guided schedule
// (qopt.schedule, honoured by qopt-parallel-schedule), the prefill tiles'
// loop does not.
// CHECK-LABEL: func.func @matmul_wide_rows
// CHECK: scf.if
// CHECK: scf.parallel
// CHECK-NOT: qopt.schedule
// CHECK: } else {
// CHECK: scf.parallel
// CHECK: } {qopt.schedule = "guided"}
func.func @matmul_wide_rows(%x: memref<?x1024xf32>, %w: memref<8x1024xf32>, %y: memref<?x8xf32>) {
  qopt.kernel_matmul ins(%x : memref<?x1024xf32>) weight(%w : memref<8x1024xf32>) outs(%y : memref<?x8xf32>) {weight_type = tensor<8x1024xf32>}
  return
}

// A quantized gather dequantizes only the rows it reads; ids are clamped.
// CHECK-LABEL: func.func @gather
// CHECK: arith.maxsi %{{.*}}, %c0
// CHECK: arith.minsi %{{.*}}, %c511
// CHECK: scf.for {{.*}} to %c64
// CHECK: arith.uitofp %{{.*}} : i32 to f32
// CHECK: memref.store %{{.*}}, %{{.*}} : memref<?x64xf32>
func.func @gather(%t: memref<?xi32>, %c: memref<512x64xi8>, %s: memref<512x1xf32>, %y: memref<?x64xf32>) {
  qopt.kernel_gather ins(%t : memref<?xi32>) table(%c, %s : memref<512x64xi8>, memref<512x1xf32>) outs(%y : memref<?x64xf32>) {table_type = !qopt.qtensor<512x64xf32, bits = 8, per_channel, sym>}
  return
}

// Standalone dequantize: every element; per-tensor scale, dense 2-bit codes.
// CHECK-LABEL: func.func @dequantize
// CHECK: scf.for {{.*}} to %c4
// CHECK: scf.for {{.*}} to %c16
// CHECK: memref.load %{{.*}}[] : memref<f32>
// CHECK: memref.store %{{.*}}, %{{.*}} : memref<4x16xf32>
func.func @dequantize(%c: memref<4x4xi8>, %s: memref<f32>, %y: memref<4x16xf32>) {
  qopt.kernel_dequantize ins(%c, %s : memref<4x4xi8>, memref<f32>) outs(%y : memref<4x16xf32>) {qtype = !qopt.qtensor<4x16xf32, bits = 2, per_tensor, sym>}
  return
}

// Run-time quantization: zero the codes, find each group's range, write
// scales and zero points, then OR each code into its bytes.
// CHECK-LABEL: func.func @quantize
// CHECK: linalg.fill ins(%{{.*}} : i8) outs(%{{.*}} : memref<4x6xi8>)
// CHECK: arith.minnumf
// CHECK: arith.maxnumf
// CHECK: math.roundeven
// CHECK: memref.store %{{.*}}, %{{.*}} : memref<4x1xf32>
// CHECK: arith.ori %{{.*}}, %{{.*}} : i8
func.func @quantize(%x: memref<4x16xf32>, %c: memref<4x6xi8>, %s: memref<4x1xf32>, %z: memref<4x1xf32>) {
  qopt.kernel_quantize ins(%x : memref<4x16xf32>) outs(%c, %s, %z : memref<4x6xi8>, memref<4x1xf32>, memref<4x1xf32>) {qtype = !qopt.qtensor<4x16xf32, bits = 3, per_channel, asym>}
  return
}

// Repack unpacked codes into nested planes: 8 planes, one bit each.
// CHECK-LABEL: func.func @repack_nested
// CHECK: linalg.fill ins(%{{.*}} : i8) outs(%{{.*}} : memref<8x4x2xi8>)
// CHECK-COUNT-8: arith.ori %{{.*}}, %{{.*}} : i8
func.func @repack_nested(%u: memref<4x16xi8>, %c: memref<8x4x2xi8>) {
  qopt.kernel_repack ins(%u : memref<4x16xi8>) outs(%c : memref<8x4x2xi8>) {source_type = !qopt.qtensor<4x16xf32, bits = 8, per_channel, sym, layout = nested>, source_unpacked, result_type = !qopt.qtensor<4x16xf32, bits = 8, per_channel, sym, layout = nested>}
  return
}

// Attention: the new keys and values of every token go into the cache
// first. From 4 tokens on (scf.if), one parallel iteration per (head, tile
// of 4 tokens), head-major (a thread's share is whole heads: the causal work
// is split evenly); the last tile repeats the last token (minui). A tile
// keeps fixed buffers, the scores of one block of 256 keys and its 4 tokens'
// outputs, and walks the keys in blocks (step 256) with an online softmax:
// the block's scores (each key vector loaded once for 4 dots), the new
// maximum (-inf -> subtract 0), the rescaling exp(m - m'), exp(score - m')
// and the weighted values with 4 accumulators (one per token) in registers,
// loaded from and stored to the outputs. The positions every token attends
// to take loops without masks; the last ones keep a token's accumulator
// where it does not attend (select). Fewer tokens (decode): tiles of one,
// no masks.
// CHECK-LABEL: func.func @attention
// CHECK: %[[NT:.*]] = memref.dim %arg0, %c0
// CHECK: scf.for
// CHECK: memref.store %{{.*}}, %{{.*}} : memref<2x8x16xf32>
// CHECK: %[[TILED:.*]] = arith.cmpi uge, %{{.*}}, %c4
// CHECK: scf.if %[[TILED]] {
// CHECK: scf.parallel (%[[IT:.*]]) = (%{{.*}}) to (%{{.*}}) step
// CHECK: arith.divui %[[IT]]
// CHECK: arith.remui %[[IT]]
// CHECK-COUNT-4: arith.minui
// CHECK: %[[SCORES:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4x256xf32>
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4x8xf32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c256
// CHECK: scf.for
// CHECK: %[[KEY:.*]] = vector.load %arg3
// CHECK-COUNT-4: vector.fma %{{.*}}, %[[KEY]], %{{.*}} : vector<8xf32>
// CHECK-COUNT-4: vector.reduction <add>
// CHECK-NOT: arith.select
// CHECK: arith.maximumf
// CHECK: scf.yield
// CHECK: %[[MAX:.*]] = arith.maximumf
// CHECK: %[[NONE:.*]] = arith.cmpf oeq, %[[MAX]]
// CHECK: %[[SHIFT:.*]] = arith.select %[[NONE]], %{{.*}}, %[[MAX]] : f32
// CHECK: %[[D:.*]] = arith.subf %{{.*}}, %[[SHIFT]]
// CHECK: math.exp %[[D]]
// CHECK: scf.for
// CHECK-COUNT-4: math.exp
// CHECK: vector.load %[[OUT]]
// CHECK: scf.for
// CHECK: %[[VAL:.*]] = vector.load %arg4
// CHECK-NOT: arith.select
// CHECK-COUNT-4: vector.fma %{{.*}}, %[[VAL]], %{{.*}} : vector<8xf32>
// CHECK: scf.yield
// CHECK-COUNT-4: vector.store %{{.*}}, %[[OUT]]
// CHECK: scf.for %{{.*}} step %c256
// CHECK: %[[LIVE:.*]] = arith.cmpi ult
// CHECK: arith.select %[[LIVE]], %{{.*}}, %cst{{.*}} : f32
// CHECK: vector.fma
// CHECK-NEXT: arith.select %{{.*}} : vector<8xf32>
// CHECK: arith.divf
// CHECK: vector.store %{{.*}}, %arg6
// CHECK: memref.dealloc %[[SCORES]]
// CHECK-NEXT: memref.dealloc %[[OUT]]
// CHECK-NEXT: scf.reduce
// CHECK: } else {
// CHECK: scf.parallel
// CHECK: %[[ONE:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x256xf32>
// CHECK-NOT: arith.cmpi ult
// CHECK: math.exp
// CHECK-NOT: arith.cmpi ult
// CHECK: memref.dealloc %[[ONE]]
func.func @attention(%q: memref<?x32xf32>, %k: memref<?x16xf32>, %v: memref<?x16xf32>, %kc: memref<2x8x16xf32>, %vc: memref<2x8x16xf32>, %pos: index, %o: memref<?x32xf32>) {
  qopt.kernel_attention ins(%q, %k, %v : memref<?x32xf32>, memref<?x16xf32>, memref<?x16xf32>) cache(%kc, %vc : memref<2x8x16xf32>, memref<2x8x16xf32>) at %pos outs(%o : memref<?x32xf32>) {layer = 1 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 8 : i64}
  return
}

// A sliding window W = 4 moves token i's first attended position to
// max(0, p_i + 1 - W): the tile's positions run from the first token's start
// to the last token's end; a later token masks the positions before its own
// start (cmpi uge) in the first, masked, loop over key blocks.
// CHECK-LABEL: func.func @attention_sliding_window
// CHECK: scf.parallel
// CHECK: %[[END:.*]] = arith.addi %{{.*}}, %c1
// CHECK: %[[PAST:.*]] = arith.cmpi ugt, %[[END]], %c4
// CHECK: %[[FROM:.*]] = arith.subi %[[END]], %c4
// CHECK: %[[START:.*]] = arith.select %[[PAST]], %[[FROM]], %c0
// CHECK: memref.alloc
// CHECK: scf.for %{{.*}} = %[[START]] to %{{.*}} step %c256
// CHECK: arith.cmpi uge
func.func @attention_sliding_window(%q: memref<?x32xf32>, %k: memref<?x16xf32>, %v: memref<?x16xf32>, %kc: memref<2x8x16xf32>, %vc: memref<2x8x16xf32>, %pos: index, %o: memref<?x32xf32>) {
  qopt.kernel_attention ins(%q, %k, %v : memref<?x32xf32>, memref<?x16xf32>, memref<?x16xf32>) cache(%kc, %vc : memref<2x8x16xf32>, memref<2x8x16xf32>) at %pos outs(%o : memref<?x32xf32>) {layer = 1 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 8 : i64, sliding_window = 4 : i64}
  return
}
