//===- Passes.td - qopt conversion passes ------------------*- tablegen -*-===//
//
// Lowering of the qopt dialect (docs/lowering.md): model ops to linalg, the
// 1:N decomposition of quantized tensors into kernel ops, the runtime ABI,
// kernels to vector loops after bufferization, then everything to LLVM.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CONVERSION_PASSES_TD
#define QOPT_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertQOptModelToLinalgPass
    : Pass<"convert-qopt-model-to-linalg", "func::FuncOp"> {
  let summary = "Lower the model ops upstream can express to linalg on tensors";
  let description = [{
    `qopt.rms_norm`, `qopt.rope` and `qopt.swiglu` become `linalg.generic`
    ops on tensors (a reduction and two elementwise generics for RMSNorm; one
    generic reading the partner element of each rotated pair for RoPE, in
    both conventions; one elementwise generic for SwiGLU). Matmuls, gathers
    and attention are left for `qopt-lower-quantized-types`.

    Before:
    ```mlir
    %y = qopt.swiglu %g, %u : tensor<?x172xf32>
    ```
    After:
    ```mlir
    %e = tensor.empty(%t) : tensor<?x172xf32>
    %y = linalg.generic {...} ins(%g, %u : ...) outs(%e : ...) {
      // g / (1 + exp(-g)) * u
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def LowerQuantizedTypesPass : Pass<"qopt-lower-quantized-types", "ModuleOp"> {
  let summary = "Decompose !qopt.qtensor values into their parts and form "
                "kernel ops";
  let description = [{
    A 1:N type conversion: each `!qopt.qtensor` value, block argument,
    function argument and result becomes its parts, the codes in the storage
    form of its layout (`QTensorType::getStorageType`), the scales and, for
    `asym`, the zero points. `qopt.pack` becomes its operands (codes given
    one per element are repacked by `qopt.kernel_repack`); `qopt.slice` of a
    nested tensor keeps the planes (its consumers read only the top r + 1),
    of a dense tensor repacks at r bits; `qopt.quantize`,
    `qopt.dequantize`, `qopt.qmatmul`, `qopt.linear`, `qopt.embedding` and
    `qopt.attention` become `qopt.kernel_*` ops in destination-passing style.
    A kernel reading an unsliced `nested` weight gets its width from
    `qopt.served_width`, a run-time parameter; the module attribute
    `qopt.width_table` lists those slots (name of the codes resource, parent
    width, and the `qopt.layer` / `qopt.role` of the reading op).

    Before:
    ```mlir
    %q = qopt.pack %c, %s, %z : tensor<32x64xi8>, tensor<32x2xf32>, tensor<32x2xf32>
        -> !qopt.qtensor<32x64xf32, bits = 8, group = 32, asym>
    %y = qopt.qmatmul %x, %q : tensor<?x64xf32>, !qopt.qtensor<...> -> tensor<?x32xf32>
    ```
    After:
    ```mlir
    %e = tensor.empty(%t) : tensor<?x32xf32>
    %y = qopt.kernel_matmul ins(%x : tensor<?x64xf32>)
        weight(%c, %s, %z : tensor<32x64xi8>, tensor<32x2xf32>, tensor<32x2xf32>)
        outs(%e : tensor<?x32xf32>) {weight_type = !qopt.qtensor<...>} -> tensor<?x32xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def PrepareABIPass : Pass<"qopt-prepare-abi", "ModuleOp"> {
  let summary = "Give model functions the runtime's calling convention";
  let description = [{
    Before bufferization, on tensors: appends a `memref<?xi64>` weight table
    and a `memref<?xi32>` width table to every function's arguments; turns
    each `dense_resource` weight constant into a read-only
    `bufferization.to_tensor` of `qopt.weight_ref %table[i]` (weights are
    used in place; module attribute `qopt.weight_table` names the entries in
    order) and each `qopt.served_width` into a load of its slot; turns
    results into trailing out-parameter buffers written by
    `bufferization.materialize_in_destination`; adds
    `llvm.emit_c_interface`.

    After:
    ```mlir
    func.func @decode(%tokens: tensor<1xi32>, ..., %table: memref<?xi64>,
                      %widths: memref<?xi32>, %logits: memref<1x512xf32>)
        attributes {llvm.emit_c_interface}
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::memref::MemRefDialect"
  ];
}

def DeallocAfterLastUsePass : Pass<"qopt-dealloc-after-last-use"> {
  let summary = "Move each buffer's free to just after its last use";
  let description = [{
    Ownership-based deallocation frees owned buffers at the end of their
    block; in a model function that is the end of the whole forward pass,
    so activation memory would grow with the number of layers. This pass
    moves every unconditional `memref.dealloc` to just after the last
    operation of its block that uses the buffer or a view of it (aliases
    from `BufferViewFlowAnalysis`; a use nested in a loop is a use by the
    loop). Run it after `convert-bufferization-to-memref`.

    Before:
    ```mlir
    %a = memref.alloc() : memref<4xf32>
    "use"(%a) : (memref<4xf32>) -> ()
    %b = memref.alloc() : memref<4xf32>
    "use"(%b) : (memref<4xf32>) -> ()
    memref.dealloc %a : memref<4xf32>
    memref.dealloc %b : memref<4xf32>
    ```
    After:
    ```mlir
    %a = memref.alloc() : memref<4xf32>
    "use"(%a) : (memref<4xf32>) -> ()
    memref.dealloc %a : memref<4xf32>
    %b = memref.alloc() : memref<4xf32>
    "use"(%b) : (memref<4xf32>) -> ()
    memref.dealloc %b : memref<4xf32>
    ```
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def ConvertQOptKernelsToLoopsPass
    : Pass<"convert-qopt-kernels-to-loops", "ModuleOp"> {
  let summary = "Lower bufferized qopt kernel ops to vectorized loops";
  let description = [{
    Each `qopt.kernel_*` op on buffers becomes `scf` loops with `vector`
    code, through one conversion pattern per kernel (Matmul.cpp, Gather.cpp,
    Attention.cpp, Codecs.cpp in lowering/lib/Kernels): the matmul streams
    weight rows once and reads quantized codes in their storage form (dense
    rows at c bits, or the top r + 1 bit planes of a nested tensor,
    unpacked in registers); attention uses the vector dot product and a
    max-subtracted softmax. `vector-width` sets the f32 lanes: 8 fills
    AVX2's 256-bit registers, 16 AVX-512's (qopt-run picks it from the host
    CPU).
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"8",
           "f32 lanes of the vector kernels (8: AVX2, 16: AVX-512)">,
    Option<"int8Activations", "int8-activations", "bool", /*default=*/"false",
           "Quantized-weight matmuls quantize activations to int8 per block "
           "of 32 and use integer dot products (IntegerMatmul.cpp)">,
    Option<"intDot", "int-dot", "std::string", /*default=*/"\"generic\"",
           "How int8 dot products are emitted: vnni or generic">,
    Option<"tokenTile", "token-tile", "int64_t", /*default=*/"4",
           "Tokens sharing each unpacked superblock of codes on the integer "
           "path (1 to 16)">,
    Option<"panelTokens", "panel-tokens", "int64_t", /*default=*/"8",
           "Integer-path calls with at least this many tokens take the "
           "packed GEMM over panels of rows (0: never)">,
    Option<"gfni", "gfni", "bool", /*default=*/"false",
           "On the integer path at vector width 16, assemble nested codes "
           "of 4 or more bit planes with a byte transpose and GFNI's "
           "vgf2p8affineqb (needs AVX-512 BW and VBMI and GFNI)">,
    Option<"amx", "amx", "bool", /*default=*/"false",
           "On the integer path at vector width 16, the prefill GEMM "
           "multiplies 16 tokens x 16 rows at a time with AMX tiles "
           "(tdpbsud; needs AMX-TILE and AMX-INT8)">,
    Option<"amxBf16", "amx-bf16", "bool", /*default=*/"false",
           "On the integer path at vector width 16, the prefill GEMM "
           "dequantizes each panel of 16 weight rows to bf16 once per call "
           "and multiplies it by the activations in bf16 with AMX tiles "
           "(tdpbf16ps, f32 sums; needs AMX-TILE and AMX-BF16)">,
    Option<"decodePrefetchBits", "decode-prefetch-bits", "int64_t",
           /*default=*/"8",
           "On the integer path, decode-sized calls prefetch the next "
           "row's superblock for rows of at most this many bits (0 to 8; "
           "0: never)">,
    Option<"f16Activations", "f16-activations", "bool", /*default=*/"false",
           "Matmuls of f16 weights round their activations to f16, with a "
           "power-of-two scale per token, and read those (approximate, as "
           "llama.cpp's f16 path); false: f32 activations, exact">
  ];
  let dependentDialects = [
    "::mlir::amx::AMXDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def OutlineParallelLoopsPass
    : Pass<"qopt-outline-parallel-loops", "ModuleOp"> {
  let summary = "Move each outermost scf.parallel into a function of its own";
  let description = [{
    Every `scf.parallel` that is not nested in another one becomes a call of
    a new private function (`<caller>_parallel_<N>`, internal linkage) whose
    body is the loop. Values the loop uses from above are its arguments,
    except constants, which are cloned into the function; the loop's
    results are the function's results.

    Why: the translation of `omp.parallel` to LLVM IR outlines each region
    with LLVM's CodeExtractor, which scans the whole enclosing function per
    region. A model's forward function holds every kernel, so that cost
    grows with (regions x function size): a nested (Matryoshka) stories260K
    took 50 s of a 55 s `ppl` run in it. Outlined, each kernel is its own
    small function and the cost is linear; LLVM inlines the call back
    where it pays off. Run it before `convert-scf-to-openmp`.

    Before:
    ```mlir
    func.func @forward(%a: memref<?xf32>, %n: index) {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      scf.parallel (%i) = (%c0) to (%n) step (%c1) { ... %a ... }
      return
    }
    ```
    After:
    ```mlir
    func.func @forward(%a: memref<?xf32>, %n: index) {
      call @forward_parallel_0(%n, %a) : (index, memref<?xf32>) -> ()
      return
    }
    func.func private @forward_parallel_0(%n: index, %a: memref<?xf32>)
        attributes {llvm.linkage = #llvm.linkage<internal>} {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      scf.parallel (%i) = (%c0) to (%n) step (%c1) { ... %a ... }
      return
    }
    ```
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::LLVM::LLVMDialect"];
}

def ParallelSchedulePass : Pass<"qopt-parallel-schedule", "ModuleOp"> {
  let summary = "Set the schedule of every omp.wsloop";
  let description = [{
    Gives each `omp.wsloop` (the kernels' parallel loops after
    `convert-scf-to-openmp`, which leaves the schedule unset: static) the
    schedule `schedule`: `static` (one contiguous share per thread),
    `guided` (chunks that shrink as the loop runs out, handed to whichever
    thread is free; OpenMP's minimum chunk, 1 iteration), `dynamic`
    (chunks of 1), or `auto` (the default): the schedule the loop's kernel
    asked for with the `qopt.schedule` attribute of the loop's function
    (qopt-outline-parallel-loops moves it there from the scf.parallel),
    static where it asked for none. A loop that already has a schedule
    keeps it.

    With a static share a decode matmul waits for its slowest thread; a
    guided one pays a dispatch per chunk. On the 2-core Zen 4 VM of stop
    34, where one core often ran slower than the other, an f16 7B-shaped
    decode on two threads measured 18.95-19.80 tok/s guided against
    10.9-18.9 static, but a q2_k one (rows of 1.3 KiB instead of 8 KiB)
    77.9-78.8 guided against 83.8-87.3 static (alternated, 6 rounds each;
    docs/lowering.md). So the matmuls' row loops ask for guided when a row
    is 4 KiB or more, and every other loop stays static under `auto`.
  }];
  let options = [
    Option<"schedule", "schedule", "std::string", /*default=*/"\"auto\"",
           "auto (the kernels' hints, else static), static, guided or dynamic">
  ];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::omp::OpenMPDialect"];
}

def ConvertQOptToLLVMPass : Pass<"convert-qopt-to-llvm", "ModuleOp"> {
  let summary = "Lower qopt buffers, loops and vectors to the LLVM dialect";
  let description = [{
    One full conversion of everything the kernel lowering produces
    (after strided metadata is expanded) to the LLVM dialect:
    `qopt.weight_ref` becomes a load of an address from the table and a
    static memref descriptor, together with the upstream scf-to-cf, arith,
    math, memref, vector, cf, index, func and OpenMP conversions (scf is
    lowered here rather than in a pass before, because the
    `memref.alloca_scope` that `convert-scf-to-openmp` wraps around each
    parallel body must stay a single block until it is inlined). The `omp`
    regions made of the kernels' parallel loops keep their structure, with
    LLVM types inside, for the translation to LLVM IR.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::cf::ControlFlowDialect"];
}

#endif // QOPT_CONVERSION_PASSES_TD
