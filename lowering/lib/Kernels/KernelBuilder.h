//===- KernelBuilder.h - Helpers of the kernel patterns ---------*- C++ -*-===//
//
// Private header of convert-qopt-kernels-to-loops: a small builder for loops
// and arithmetic at one insertion point, and the readers of quantized codes
// in their storage forms (dense rows at c bits, nested bit planes), scalar
// and vector, shared by the matmul, gather, dequantize, quantize and repack
// kernels.
//
// Floating-point flags: no nnan/ninf anywhere, so NaN and Inf in weights or
// activations propagate. Only the reductions of dot products carry
// `reassoc` (several vector accumulators, then a tree reduction), as
// docs/lowering.md documents.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LOWERING_KERNELS_KERNELBUILDER_H
#define QOPT_LOWERING_KERNELS_KERNELBUILDER_H

#include "qopt/Conversion/Patterns.h"
#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::qopt {

/// The buffers of a quantized operand of a kernel.
struct QuantBuffers {
  QTensorType type;
  /// Codes in the storage form of `type` (or one per element if `unpacked`).
  Value codes;
  /// Scales and zero points (null for `sym`) in the expressed type.
  Value scales, zeros;
  /// Index: the width served from an unsliced nested operand at run time,
  /// or null (the type's width).
  Value width;
  bool unpacked = false;
};

/// Builds loops and arithmetic at one insertion point.
class KernelBuilder {
public:
  KernelBuilder(OpBuilder &b, Location loc, int64_t width = 8)
      : b(b), loc(loc), width(width) {}

  OpBuilder &b;
  Location loc;
  /// f32 lanes of the vectors (8 for AVX2, 16 for AVX-512).
  int64_t width;

  Value index(int64_t v);
  Value i32(int64_t v);
  Value f32(float v);
  Value addi(Value x, Value y);
  Value subi(Value x, Value y);
  Value muli(Value x, Value y);
  Value divui(Value x, Value y);
  Value remui(Value x, Value y);
  Value minui(Value x, Value y);
  Value maxsi(Value x, Value y);
  Value addf(Value x, Value y,
             arith::FastMathFlags flags = arith::FastMathFlags::none);
  Value subf(Value x, Value y);
  Value mulf(Value x, Value y);
  Value divf(Value x, Value y);
  /// Loads one element, widened to f32 if it is a 16-bit float.
  Value load(Value memref, ValueRange indices);
  /// Loads `width` consecutive elements as a vector of f32.
  Value vectorLoad(Value memref, ValueRange indices);
  /// Extends an f16/bf16 scalar or vector to f32; other values unchanged.
  Value widen(Value v);
  /// Stores `value` (f32) into an element of `memref`, narrowing to the
  /// memref's float element type.
  void store(Value value, Value memref, ValueRange indices);
  /// Size of dimension `d` of a memref (a constant when static).
  Value dim(Value memref, int64_t d);
  /// A vector constant with `values` of integer type `element`.
  Value intVector(ArrayRef<int64_t> values, Type element);
  Value splat(VectorType type, Value scalar);

  /// for iv in [lb, ub) step s { body(iv) }.
  void forLoop(Value lb, Value ub, int64_t step,
               function_ref<void(Value)> body);
  void forLoop(int64_t lb, Value ub, function_ref<void(Value)> body);
  /// An `scf.parallel` over [lb, ub) step 1: iterations are independent
  /// (each writes its own outputs) and may run on different threads once
  /// the pipeline converts the loop to OpenMP; serial otherwise.
  /// `schedule`, when given, is the loop's schedule hint
  /// (kScheduleHintAttrName: static, guided or dynamic).
  void parallelLoop(int64_t lb, Value ub, function_ref<void(Value)> body,
                    StringRef schedule = {});
  void parallelLoop(Value lb, Value ub, function_ref<void(Value)> body,
                    StringRef schedule = {});
  /// The schedule hint of a matmul's row-wise loop (decode: each thread
  /// streams rows of `rowBytes` bytes once): guided from 4 KiB a row,
  /// none (static) below. A static share waits for a thread that ran
  /// slower; guided hands the rows left to whichever is free, at the cost of
  /// a dispatch per chunk, which short rows do not repay (docs/lowering.md:
  /// "Threads", and the measurements of stops 34 and 35).
  static StringRef rowLoopSchedule(int64_t rowBytes);
  /// A loop carrying `init`; `body` returns the next values.
  SmallVector<Value>
  forLoopCarried(Value lb, Value ub, int64_t step, ValueRange init,
                 function_ref<SmallVector<Value>(Value, ValueRange)> body);
  /// Nested loops over every index of `sizes`, innermost last.
  void forEachIndex(ArrayRef<Value> sizes, function_ref<void(ValueRange)> body);

  /// sum_k a[aPrefix..., aOffset + k] * c[cPrefix..., cOffset + k] for a
  /// static `length`: four vector accumulators (FMA), a vector remainder and
  /// a scalar tail; the accumulators are combined with `reassoc`.
  Value dot(Value a, ValueRange aPrefix, Value aOffset, Value c,
            ValueRange cPrefix, Value cOffset, int64_t length);
};

//===----------------------------------------------------------------------===//
// Quantized codes
//===----------------------------------------------------------------------===//

/// The run-time width of `q` clamped to [1, P], or the static served width
/// (the type's bits; P for an unsliced nested tensor), as an i32.
Value servedWidth(KernelBuilder &k, const QuantBuffers &q);

/// The code of element `indices` (logical indices of the qtensor) as an i32
/// in *parent units*: `S << (p - r)` where S is the served r-bit code (the
/// Matryoshka slice, DESIGN.md) and p the parent width. Reads only what the
/// storage form needs (the top r + 1 planes of a nested tensor).
Value loadCodeValue(KernelBuilder &k, const QuantBuffers &q,
                    ValueRange indices);

/// The served code itself (r bits, not shifted to parent units), as i32,
/// and the served width r.
std::pair<Value, Value> loadServedCode(KernelBuilder &k, const QuantBuffers &q,
                                       ValueRange indices);

/// The indices of the scale of element `indices`.
SmallVector<Value> scaleIndices(KernelBuilder &k, QTensorType type,
                                ValueRange indices);

/// The zero point for the group at `scaleIdx` as f32 (2^(p-1) for `sym`).
/// Not for asymmetric two-level scales, which hold minimums (groupOffset).
Value zeroValue(KernelBuilder &k, const QuantBuffers &q, ValueRange scaleIdx);

/// The scale of the group at `scaleIdx` (scaleIndices) as f32: the stored
/// scale widened, or d * s[g] from a two-level record.
Value groupScale(KernelBuilder &k, const QuantBuffers &q, ValueRange scaleIdx);

/// scale * zero of the group at `scaleIdx` (asymmetric `q`) as f32: what
/// the group subtracts per unit of code-weighted input; for two-level
/// scales the minimum dmin * m[g] itself. `scale` is groupScale's value.
Value groupOffset(KernelBuilder &k, const QuantBuffers &q, ValueRange scaleIdx,
                  Value scale);

/// groupScale (or, with `offsets`, groupOffset) of the `count` groups
/// [g0, g0 + count) of row `n` of a grouped rank-2 weight, as a vector of
/// f32. Two-level scales need g0 a multiple of `count` and `count` a
/// divisor or a multiple of the groups per super-group (twoLevelVectorOk).
Value groupVector(KernelBuilder &k, const QuantBuffers &q, bool offsets,
                  Value n, Value g0, int64_t count);

/// True if groupVector can read `count` consecutive groups of `type`.
bool groupVectorOk(QTensorType type, int64_t count);

/// concat(parts): one 1-D vector of all their lanes, in order (parts of
/// any lengths, one element type).
Value concatVectors(KernelBuilder &k, ArrayRef<Value> parts);

/// dequantize(q)[indices] as f32: scale * (code value - zero), or for
/// asymmetric two-level scales scale * code - minimum.
Value dequantizeElement(KernelBuilder &k, const QuantBuffers &q,
                        ValueRange indices);

/// True if the vector code readers can serve `q` along its last dimension
/// in chunks of `k.width` elements starting at multiples of `groupStep`.
bool canVectorizeCodes(const KernelBuilder &k, const QuantBuffers &q,
                       int64_t groupStep);

/// `k.width` consecutive codes of row `row` (the leading indices of a 2-D
/// tensor) starting at element `col`, as f32 values in parent units.
Value loadCodeVector(KernelBuilder &k, const QuantBuffers &q, Value row,
                     Value col);

/// Writes code `code` (i32, `bits` wide) of element `indices` into `storage`
/// (storage form of `type`, zero-initialized, bits are OR-ed in).
void storeCode(KernelBuilder &k, QTensorType type, Value storage,
               ValueRange indices, Value code);

/// The Matryoshka slice S(q, r) of an i32 code `q` of width `c` (both i32
/// values or constants): min((q + 2^(c-r-1)) >> (c-r), 2^r - 1), q if r >= c.
Value sliceCode(KernelBuilder &k, Value q, Value c, Value r);

//===----------------------------------------------------------------------===//
// The integer matmul path (IntegerMatmul.cpp)
//===----------------------------------------------------------------------===//

/// Lowers the matmul of `q` (a static-width quantized weight, rank 2) on
/// int8-quantized activations: x is quantized per block of 32 into a
/// temporary buffer, then every weight row meets it in u8 x s8 integer dot
/// products emitted as `options.intDot` says, `options.tokenTile` tokens at
/// a time; calls of `options.panelTokens` tokens or more (0: never) take the
/// packed GEMM over panels of rows. Returns false (and emits nothing) when
/// the weight type does not allow it (integerMatmulApplies).
bool lowerIntegerMatmul(KernelBuilder &k, const QuantBuffers &q, Value x,
                        Value out, Value numTokens,
                        const IntegerMatmulOptions &options);

//===----------------------------------------------------------------------===//
// Pattern population (one file per kernel)
//===----------------------------------------------------------------------===//

void populateMatmulKernelPatterns(RewritePatternSet &patterns, int64_t width,
                                  const IntegerMatmulOptions &integer);
void populateGatherKernelPatterns(RewritePatternSet &patterns, int64_t width);
void populateAttentionKernelPatterns(RewritePatternSet &patterns,
                                     int64_t width);
void populateCodecKernelPatterns(RewritePatternSet &patterns);
void populateHadamardKernelPatterns(RewritePatternSet &patterns, int64_t width);
void populateObserveKernelPatterns(RewritePatternSet &patterns);

} // namespace mlir::qopt

#endif // QOPT_LOWERING_KERNELS_KERNELBUILDER_H
