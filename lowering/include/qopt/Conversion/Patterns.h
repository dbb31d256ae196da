//===- Patterns.h - qopt lowering patterns and type converter ---*- C++ -*-===//
//
// What the lowering passes share and the tools do not need: the 1:N type
// converter of !qopt.qtensor, the pattern sets of the conversion passes and
// the options of the integer matmul path, with the dialects they build.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CONVERSION_PATTERNS_H
#define QOPT_CONVERSION_PATTERNS_H

#include "qopt/Conversion/Passes.h"
#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir {
class LLVMTypeConverter;
class RewritePatternSet;

namespace qopt {

/// Maps each !qopt.qtensor 1:N onto getQTensorPartTypes (codes in storage
/// form, scales, zero points); every other type to itself.
class QTensorTypeConverter : public TypeConverter {
public:
  QTensorTypeConverter();
};

/// Patterns of convert-qopt-model-to-linalg (rms_norm, rope, swiglu).
void populateQOptModelToLinalgPatterns(RewritePatternSet &patterns);

/// Patterns of qopt-lower-quantized-types: the qtensor ops, the compute ops
/// to kernels, and function signatures, calls and returns. `slots` collects
/// the run-time width slots of nested weights (null: widths are static).
void populateLowerQuantizedTypesPatterns(const TypeConverter &converter,
                                         RewritePatternSet &patterns,
                                         WidthSlots *slots);

/// The integer path of the quantized matmul (docs/lowering.md): off by
/// default (the exact f32 path), else activations quantized to int8 per
/// block of 32.
struct IntegerMatmulOptions {
  bool int8Activations = false;
  IntDot intDot = IntDot::Generic;
  /// Tokens that share each unpacked superblock of weight codes.
  int64_t tokenTile = 4;
  /// Calls with at least this many tokens take the packed GEMM
  /// (IntegerPanels.cpp); 0 keeps the row-wise kernel for every call.
  int64_t panelTokens = 8;
  /// Nested codes of 4 or more planes are transposed out of their planes
  /// with GFNI (vgf2p8affineqb) at vector width 16 (see gfniFor).
  bool gfni = false;
  /// The prefill GEMM multiplies with AMX tiles (tdpbsud) at vector width
  /// 16 (see amxFor); the caller must have the OS's permission to use them
  /// (requestAmxTiles).
  bool amx = false;
  /// The prefill GEMM multiplies bf16 weights (dequantized once per call)
  /// and bf16 activations with AMX tiles (tdpbf16ps) at vector width 16
  /// (see amxBf16For), instead of int8 codes; decode keeps the int8 path.
  /// The caller must have the OS's permission to use the tiles.
  bool amxBf16 = false;
  /// Decode-sized calls prefetch the next row's superblock ahead of the
  /// loads for rows of at most this many bits (0: never; 8: every width).
  /// What pays depends on the microarchitecture (decodePrefetchBitsFor).
  int64_t decodePrefetchBits = 8;
  /// Matmuls of f16 weights round their activations to f16 with a
  /// power-of-two scale per token (Matmul.cpp) instead of reading them in
  /// f32: approximate, as llama.cpp's f16 path; false keeps the exact one.
  bool f16Activations = false;
};

/// True if, with int8 activations at `vectorWidth` f32 lanes, the matmul of
/// a weight of `type` takes the integer path (a rank-2 weight with dense
/// rows of any width 1..8 or nested planes, columns a multiple of 32, and
/// groups a multiple of 16 that divide the columns and are compatible with
/// the superblock); otherwise it keeps the exact path.
bool integerMatmulApplies(QTensorType type, int64_t vectorWidth);

/// Patterns of convert-qopt-kernels-to-loops.
void populateQOptKernelsToLoopsPatterns(
    RewritePatternSet &patterns, int64_t vectorWidth,
    const IntegerMatmulOptions &integer = {});

/// The attribute (a string: static, guided or dynamic) by which a kernel
/// asks for the schedule of one of its parallel loops. It sits on the
/// scf.parallel, qopt-outline-parallel-loops moves it onto the loop's
/// function, and qopt-parallel-schedule honours it under its `auto`
/// schedule.
constexpr llvm::StringLiteral kScheduleHintAttrName = "qopt.schedule";

/// Patterns lowering the lowering-level qopt ops (qopt.weight_ref) to LLVM.
void populateQOptToLLVMConversionPatterns(LLVMTypeConverter &converter,
                                          RewritePatternSet &patterns);

} // namespace qopt
} // namespace mlir

#endif // QOPT_CONVERSION_PATTERNS_H
