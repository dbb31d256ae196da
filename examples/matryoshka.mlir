// One int8 artifact, many precisions.
//
// @matryoshka quantizes a small fp32 weight once to int8 (asymmetric, groups
// of 8 along the reduction dimension) and serves it at 8, 4 and 2 bits with
// qopt.slice: the int4 and int2 codes are the most significant bits of the
// int8 codes (MatQuant). Run through -canonicalize, every quantize, slice and
// dequantize of the constant is evaluated, so the output shows the weight as
// each precision reconstructs it.
//
// @from_upstream is IR written against MLIR's upstream quant dialect;
// -qopt-import-quant brings it into qopt.
//
//   qopt-opt examples/matryoshka.mlir --qopt-import-quant --canonicalize

func.func @matryoshka() -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
  %w = arith.constant dense<[[-0.50, -0.31, -0.12, 0.00, 0.07, 0.26, 0.41, 0.75],
                             [ 1.20, -0.90, 0.33, -0.05, 0.61, -0.44, 0.02, -1.10]]>
      : tensor<2x8xf32>
  %q8 = qopt.quantize %w : tensor<2x8xf32>
      -> !qopt.qtensor<2x8xf32, bits = 8, group = 8, asym>
  %q4 = qopt.slice %q8 to 4 : !qopt.qtensor<2x8xf32, bits = 8, group = 8, asym>
  %q2 = qopt.slice %q8 to 2 : !qopt.qtensor<2x8xf32, bits = 8, group = 8, asym>
  %w8 = qopt.dequantize %q8 : !qopt.qtensor<2x8xf32, bits = 8, group = 8, asym>
      -> tensor<2x8xf32>
  %w4 = qopt.dequantize %q4
      : !qopt.qtensor<2x8xf32, bits = 4, parent = 8, group = 8, asym>
      -> tensor<2x8xf32>
  %w2 = qopt.dequantize %q2
      : !qopt.qtensor<2x8xf32, bits = 2, parent = 8, group = 8, asym>
      -> tensor<2x8xf32>
  return %w8, %w4, %w2 : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
}

// A runtime-switchable variant: the nested (bit-plane) layout keeps the
// slice as an op, since a kernel reads only the top r+1 planes at run time.
func.func @nested(%w: tensor<64x256xf32>) -> tensor<64x256xf32> {
  %q = qopt.quantize %w : tensor<64x256xf32>
      -> !qopt.qtensor<64x256xf32, bits = 8, group = 32, asym, layout = nested>
  %q3 = qopt.slice %q to 3
      : !qopt.qtensor<64x256xf32, bits = 8, group = 32, asym, layout = nested>
  %d = qopt.dequantize %q3
      : !qopt.qtensor<64x256xf32, bits = 3, parent = 8, group = 32, asym, layout = nested>
      -> tensor<64x256xf32>
  return %d : tensor<64x256xf32>
}

func.func @from_upstream(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %q = quant.qcast %x : tensor<4x16xf32>
      to tensor<4x16x!quant.uniform<i8:f32:0, {0.01, 0.02, 0.04, 0.08}>>
  %y = quant.dcast %q : tensor<4x16x!quant.uniform<i8:f32:0, {0.01, 0.02, 0.04, 0.08}>>
      to tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}
