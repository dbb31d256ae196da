// RUN: qopt-opt %s -qopt-import-quant -split-input-file -verify-diagnostics

// What qopt-import-quant cannot express gets a diagnostic naming the op and
// the reason, and the pass fails.

func.func @narrow_range(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{narrow storage range [-127, 127] is not supported}}
  %q = quant.qcast %x : tensor<4xf32> to tensor<4x!quant.uniform<i8<-127:127>:f32, 0.5>>
  %y = quant.dcast %q : tensor<4x!quant.uniform<i8<-127:127>:f32, 0.5>> to tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @wide_storage(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{storage width 16 is not supported (qopt codes are 1..8 bits)}}
  %q = quant.qcast %x : tensor<4xf32> to tensor<4x!quant.uniform<i16:f32, 0.5>>
  %y = quant.dcast %q : tensor<4x!quant.uniform<i16:f32, 0.5>> to tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @per_axis_rank3(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  // expected-error@+1 {{scales shared across more than one dimension (dims 0 and 2) cannot be expressed as qopt groups along a single axis}}
  %q = quant.qcast %x : tensor<2x3x4xf32> to tensor<2x3x4x!quant.uniform<i8:f32:1, {1.0, 2.0, 3.0}>>
  %y = quant.dcast %q : tensor<2x3x4x!quant.uniform<i8:f32:1, {1.0, 2.0, 3.0}>> to tensor<2x3x4xf32>
  return %y : tensor<2x3x4xf32>
}

// -----

func.func @scalar(%x: f32) -> f32 {
  // expected-error@+1 {{cannot import scalar quantized value}}
  %q = quant.qcast %x : f32 to !quant.uniform<i8:f32, 0.5>
  %y = quant.dcast %q : !quant.uniform<i8:f32, 0.5> to f32
  return %y : f32
}

// -----

func.func @unranked(%x: tensor<*xf32>) -> tensor<*xf32> {
  // expected-error@+1 {{quantized values must be ranked tensors}}
  %q = quant.qcast %x : tensor<*xf32> to tensor<*x!quant.uniform<i8:f32, 0.5>>
  %y = quant.dcast %q : tensor<*x!quant.uniform<i8:f32, 0.5>> to tensor<*xf32>
  return %y : tensor<*xf32>
}

// -----

func.func @other_user(%x: tensor<4xf32>) -> tensor<4x!quant.uniform<i8:f32, 0.5>> {
  %q = quant.qcast %x : tensor<4xf32> to tensor<4x!quant.uniform<i8:f32, 0.5>>
  // expected-error@+1 {{'tensor.extract_slice' uses a quantized value}}
  %s = tensor.extract_slice %q[0] [4] [1] : tensor<4x!quant.uniform<i8:f32, 0.5>> to tensor<4x!quant.uniform<i8:f32, 0.5>>
  return %s : tensor<4x!quant.uniform<i8:f32, 0.5>>
}

// -----

func.func @sub_channel_two_dims(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error@+1 {{cannot be expressed as qopt groups along a single axis}}
  %q = quant.qcast %x : tensor<4x8xf32> to tensor<4x8x!quant.uniform<i8:f32:{0:2, 1:4}, {{1.0, 2.0}, {3.0, 4.0}}>>
  %y = quant.dcast %q : tensor<4x8x!quant.uniform<i8:f32:{0:2, 1:4}, {{1.0, 2.0}, {3.0, 4.0}}>> to tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
