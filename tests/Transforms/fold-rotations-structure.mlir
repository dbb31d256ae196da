// RUN: not qopt-opt %s -split-input-file -qopt-fold-rotations="rotations=r2" 2>&1 | FileCheck %s --check-prefix=R2
// RUN: not qopt-opt %s -split-input-file -qopt-fold-rotations="rotations=r3" 2>&1 | FileCheck %s --check-prefix=R3
// RUN: not qopt-opt %s -split-input-file -qopt-fold-rotations="rotations=r4" 2>&1 | FileCheck %s --check-prefix=R4

// The structure R2, R3 and R4 need, one rule broken per function; each run
// asks for one rotation and the error names the op and the rule.
// R2: fold-rotations-structure.mlir:15:8: error: qopt-fold-rotations: r2: R2 needs the attention's value to be the output of a qopt.linear (v_proj) used only there
// R3: fold-rotations-structure.mlir:24:8: error: qopt-fold-rotations: r3: qopt cannot construct a Hadamard matrix of order 6 (head_dim)
// R4: fold-rotations-structure.mlir:31:1: error: qopt-fold-rotations: r4: no qopt.linear reads a qopt.swiglu (the MLP's down projection)

// R2 needs v_proj's output to feed the attention only.
func.func @value_reused(%x: tensor<?x2xf32>, %pos: index, %kc: memref<1x?x2xf32>, %vc: memref<1x?x2xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>) {
  %w = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %v = qopt.linear %x, %w : tensor<?x2xf32>, tensor<2x2xf32> -> tensor<?x2xf32>
  %a = qopt.attention %x, %x, %v, %kc, %vc, %pos {head_dim = 2 : i64, layer = 0 : i64, num_heads = 1 : i64, num_kv_heads = 1 : i64} : tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>, memref<1x?x2xf32>, memref<1x?x2xf32> -> tensor<?x2xf32>
  %o = qopt.linear %a, %w : tensor<?x2xf32>, tensor<2x2xf32> -> tensor<?x2xf32>
  return %o, %v : tensor<?x2xf32>, tensor<?x2xf32>
}

// -----

// R3 on a head_dim with no Hadamard matrix.
func.func @head_dim(%x: tensor<?x6xf32>, %pos: index, %kc: memref<1x?x6xf32>, %vc: memref<1x?x6xf32>) -> tensor<?x6xf32> {
  %a = qopt.attention %x, %x, %x, %kc, %vc, %pos {head_dim = 6 : i64, layer = 0 : i64, num_heads = 1 : i64, num_kv_heads = 1 : i64} : tensor<?x6xf32>, tensor<?x6xf32>, tensor<?x6xf32>, memref<1x?x6xf32>, memref<1x?x6xf32> -> tensor<?x6xf32>
  return %a : tensor<?x6xf32>
}

// -----

// R4 needs an MLP down projection.
func.func @no_mlp(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x4xf32>
  %y = qopt.linear %x, %w : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
