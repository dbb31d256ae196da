//===- Passes.td - qopt conversion passes ------------------*- tablegen -*-===//
//
// Lowering of the qopt dialect: model ops to loops over buffers, then
// everything to the LLVM dialect.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CONVERSION_PASSES_TD
#define QOPT_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertQOptToLoopsPass : Pass<"convert-qopt-to-loops", "ModuleOp"> {
  let summary = "Lower qopt model ops on tensors to vectorized loops on buffers";
  let description = [{
    Rewrites every function made of qopt model ops (embedding, rms_norm,
    linear, rope, attention, swiglu) and elementwise `arith` ops on tensors
    into `scf` loops over `memref` buffers, with `vector` dot products
    (4 vector accumulators, FMA, scalar tail) for linear and attention. The function ABI becomes:

    - tensor arguments become memref arguments of the same shape;
    - tensor results become trailing out-parameter memrefs;
    - weights held in `dense_resource` constants become
      `qopt.weight_ref %table[i]` reads of a trailing `memref<?xi64>`
      address table, whose entries the module attribute
      `qopt.weight_table` names in order (other constants become
      `memref.global`s);
    - every function gets `llvm.emit_c_interface`.

    Intermediate buffers are allocated with `memref.alloc` and freed before
    the function returns. Ops it cannot lower are reported by name.
    `vector-width` sets the f32 lanes of the vectors: 8 fills AVX2's 256-bit
    registers, 16 AVX-512's (qopt-run picks it from the host CPU).

    Before:
    ```mlir
    func.func @f(%x: tensor<?x64xf32>) -> tensor<?x32xf32> {
      %w = arith.constant dense_resource<w> : tensor<32x64xf32>
      %y = qopt.linear %x, %w : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
      return %y : tensor<?x32xf32>
    }
    ```
    After (sketch):
    ```mlir
    func.func @f(%x: memref<?x64xf32>, %table: memref<?xi64>,
                 %out: memref<?x32xf32>) attributes {llvm.emit_c_interface} {
      %w = qopt.weight_ref %table[0] : memref<?xi64> -> memref<32x64xf32>
      %y = memref.alloc(%t) : memref<?x32xf32>
      scf.for ... { vector.fma ... }
      memref.copy %y, %out : memref<?x32xf32> to memref<?x32xf32>
      memref.dealloc %y : memref<?x32xf32>
      return
    }
    ```
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"8",
           "f32 lanes of the vector dot products (8: AVX2, 16: AVX-512)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
    "::mlir::qopt::QOptDialect"
  ];
}

def ConvertQOptToLLVMPass : Pass<"convert-qopt-to-llvm", "ModuleOp"> {
  let summary = "Lower qopt buffers, loops and vectors to the LLVM dialect";
  let description = [{
    One full conversion of everything `convert-qopt-to-loops` produces
    (after `scf` is lowered to `cf` and strided metadata is expanded) to the
    LLVM dialect: `qopt.weight_ref` becomes a load of an address from the
    table and a static memref descriptor, together with the upstream arith,
    math, memref, vector, cf, index and func conversions.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // QOPT_CONVERSION_PASSES_TD
