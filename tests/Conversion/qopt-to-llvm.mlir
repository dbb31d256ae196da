// RUN: qopt-opt %s --qopt-to-llvm | FileCheck %s
// RUN: qopt-opt %s --qopt-to-llvm | FileCheck %s --check-prefix=ONLY
// RUN: qopt-opt %s --qopt-to-llvm | FileCheck %s --check-prefix=ALLOC
// RUN: qopt-opt %s --qopt-to-llvm | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR
// RUN: qopt-opt %s --qopt-to-llvm=openmp=false | FileCheck %s --check-prefix=SERIAL
// RUN: qopt-opt %s --qopt-to-llvm=parallel-schedule=guided | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=GUIDED
// RUN: qopt-opt %s --qopt-to-llvm | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=AUTO
// RUN: qopt-opt %s --qopt-to-llvm=parallel-schedule=static | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=STATIC

// With parallel-schedule=guided (kmp_sch_guided_chunked = 36,
// nonmonotonic): chunks handed out as threads become free.
// GUIDED: call void @__kmpc_dispatch_init_8u(ptr @{{[0-9]+}}, i32 %{{.*}}, i32 1073741860,

// By default (parallel-schedule=auto) the kernels' hints decide; only rows
// of 4 KiB or more ask for guided, so this small model's loops are all
// static (tests/Conversion/parallel-schedule.mlir and kernels-to-loops.mlir
// check the hints themselves).
// AUTO: call void @__kmpc_for_static_init_8u(ptr @{{[0-9]+}}, i32 %{{.*}}, i32 34,
// AUTO-NOT: __kmpc_dispatch_init
// STATIC-NOT: __kmpc_dispatch_init

// The parallel loops (matmul rows, attention (head, token) pairs, the
// parallel dimensions of linalg ops) become OpenMP work-shared loops, which the translation outlines into
// calls of the OpenMP runtime; with openmp=false they stay serial loops.
// SERIAL-NOT: omp.

// The qopt-to-llvm pipeline takes a model function on tensors all the way
// to the LLVM dialect, which mlir-translate accepts.

// Nothing but llvm.* ops is left (an op is printed at the start of a line,
// after its results if any).
// ONLY-NOT: {{^ *(%[^ ]+ = )?(builtin|func|scf|cf|memref|vector|arith|math|index|affine|ub|qopt)\.}}

// The weight table survives as a module attribute. The two weights are
// read from entries 0 and 1 of the table's aligned pointer: an address load
// and an inttoptr each.
// CHECK: module attributes {qopt.weight_table = ["emb", "wk"], qopt.width_table = []}
// CHECK-DAG: llvm.func @malloc(i64) -> !llvm.ptr
// CHECK-DAG: llvm.func @free(!llvm.ptr)
// CHECK-LABEL: llvm.func @decode(
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK: %[[A0:.*]] = llvm.load %[[TAB:arg[0-9]+]] : !llvm.ptr -> i64
// CHECK-NEXT: %{{.*}} = llvm.inttoptr %[[A0]] : i64 to !llvm.ptr
// CHECK-NEXT: %[[SLOT:.*]] = llvm.getelementptr %[[TAB]][1] : (!llvm.ptr) -> !llvm.ptr, i64
// CHECK-NEXT: %[[A1:.*]] = llvm.load %[[SLOT]] : !llvm.ptr -> i64
// CHECK-NEXT: %{{.*}} = llvm.inttoptr %[[A1]] : i64 to !llvm.ptr
// Each parallel loop is a call of an internal function of its own
// (qopt-outline-parallel-loops): the kernels' (the linear's matmul: its
// rows x tokens tiles of prefill, and its row-wise loop for decode, one
// branch each; the attention's tiles and its one-token loop) and the
// parallel dimensions of the linalg ops (the embedding's
// gather, rope's cos/sin table and its rotation, swiglu, the add), in
// program order.
// CHECK: llvm.call @decode_parallel_0(
// CHECK: llvm.call @decode_parallel_1(
// CHECK: llvm.call @decode_parallel_2(
// CHECK: llvm.call @decode_parallel_3(
// CHECK: llvm.call @decode_parallel_4(
// CHECK: llvm.call @decode_parallel_5(
// CHECK: llvm.call @decode_parallel_6(
// CHECK: llvm.call @decode_parallel_7(
// CHECK: llvm.call @decode_parallel_8(
// CHECK: llvm.return
// CHECK-NEXT: }
// One malloc per intermediate buffer (embedding, linear, rope's cos and
// sin tables, rope, attention): one-shot bufferization lets swiglu
// overwrite the attention output in place, and the final add writes
// straight into the result out-parameter. Each buffer is freed after its
// last use, not at the return: the tables after the rotation, the linear's
// before attention; the rope's, the attention output's and the embedding's
// after it. Each (token, head) iteration of the attention, an OpenMP
// work-shared loop, allocates and frees its own scores.
// ALLOC-LABEL: llvm.func @decode(
// ALLOC: llvm.call @malloc
// ALLOC: llvm.call @decode_parallel_0(
// ALLOC: llvm.call @malloc
// ALLOC: llvm.call @decode_parallel_1(
// ALLOC: llvm.call @decode_parallel_2(
// ALLOC-COUNT-2: llvm.call @malloc
// ALLOC: llvm.call @decode_parallel_3(
// ALLOC: llvm.call @malloc
// ALLOC: llvm.call @decode_parallel_4(
// ALLOC-COUNT-2: llvm.call @free
// ALLOC: llvm.call @malloc
// ALLOC-NOT: llvm.call @malloc
// ALLOC: llvm.call @free
// ALLOC: llvm.call @decode_parallel_5(
// ALLOC-NOT: llvm.call @malloc
// ALLOC-COUNT-3: llvm.call @free
// ALLOC-NEXT: llvm.return
// ALLOC-LABEL: llvm.func internal @decode_parallel_5(
// ALLOC: omp.parallel
// ALLOC: omp.wsloop schedule(static)
// ALLOC: llvm.call @malloc
// ALLOC: llvm.call @free
// ALLOC: omp.terminator

// The C interface wrapper takes memref descriptors by pointer.
// CHECK-LABEL: llvm.func @_mlir_ciface_decode(
// CHECK: llvm.call @decode(
// The attention and the matmul stay vectorized in their functions.
// CHECK-LABEL: llvm.func internal @decode_parallel_4(
// CHECK: omp.parallel
// CHECK: llvm.intr.fmuladd({{.*}}) : (vector<8xf32>, vector<8xf32>, vector<8xf32>) -> vector<8xf32>
// CHECK: llvm.intr.vector.reduce.fadd
// CHECK-LABEL: llvm.func internal @decode_parallel_1(
// CHECK: omp.parallel
// CHECK: llvm.intr.fmuladd({{.*}}) : (vector<8xf32>, vector<8xf32>, vector<8xf32>) -> vector<8xf32>
// CHECK: llvm.intr.vector.reduce.fadd

// LLVMIR-DAG: declare ptr @malloc(i64)
// LLVMIR-DAG: declare void @free(ptr)
// LLVMIR: define void @decode(
// LLVMIR: call void @decode_parallel_0(
// LLVMIR: define void @_mlir_ciface_decode(
// LLVMIR: call void @decode(
// LLVMIR: define internal void @decode_parallel_1(
// LLVMIR: call void {{.*}}@__kmpc_fork_call(ptr @{{[0-9]+}}, i32 1, ptr @decode_parallel_1..omp_par
// Static (kmp_sch_static = 34): one share per thread.
// LLVMIR: call void @__kmpc_for_static_init_8u(ptr @{{[0-9]+}}, i32 %{{.*}}, i32 34,
// LLVMIR: call <8 x float> @llvm.fmuladd.v8f32(

func.func @decode(%tokens: tensor<?xi32>, %pos: index, %kc: memref<2x8x16xf32>, %vc: memref<2x8x16xf32>) -> tensor<?x32xf32> {
  %emb = arith.constant dense_resource<emb> : tensor<4x32xf32>
  %wk = arith.constant dense_resource<wk> : tensor<16x32xf32>
  %x = qopt.embedding %emb, %tokens : tensor<4x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
  %k = qopt.linear %x, %wk : tensor<?x32xf32>, tensor<16x32xf32> -> tensor<?x16xf32>
  %qr = qopt.rope %x, %pos {head_dim = 8 : i64, theta = 1.0e+04 : f32, style = #qopt<rope_style rotate_half>} : tensor<?x32xf32> -> tensor<?x32xf32>
  %o = qopt.attention %qr, %k, %k, %kc, %vc, %pos {layer = 1 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 8 : i64} : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x16xf32>, memref<2x8x16xf32>, memref<2x8x16xf32> -> tensor<?x32xf32>
  %s = qopt.swiglu %o, %x : tensor<?x32xf32>
  %r = arith.addf %s, %x : tensor<?x32xf32>
  return %r : tensor<?x32xf32>
}
// The weights' data is never read by the compiler (the runtime passes their
// addresses), so they are elided: resources with no blob, as
// `qopt-import --elide-weights` writes them. (An empty blob, "0x04000000",
// is refused by qopt-opt: MLIR cannot round-trip it through bytecode.)
